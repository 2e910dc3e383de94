"""StageTimer, and the per-stage times the perception pipeline reports with each frame."""

import time

import pytest

from robot_rl.perception.pipeline import PerceptionConfig, PerceptionPipeline
from robot_rl.perception.segmenters import Frame
from robot_rl.perception.timing import StageTimer
from tests.perception.scene import render
from tests.perception.test_segmenters import BOXES

TABLETOP_STAGES = ["back_projection", "self_filter", "region", "plane", "cluster", "color_split", "labels"]


def test_laps_charge_the_time_since_the_previous_lap(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([10.0, 10.02, 10.025, 10.035])  # s: creation, then one reading per lap
    monkeypatch.setattr("robot_rl.perception.timing.perf_counter", lambda: next(clock))
    timer = StageTimer()
    timer.lap("slow")
    timer.lap("fast")
    timer.lap("slow")  # a stage lapped twice adds up
    assert list(timer.times_ms) == ["slow", "fast"]
    assert timer.times_ms["slow"] == pytest.approx(30.0)
    assert timer.times_ms["fast"] == pytest.approx(5.0)


def test_the_pipeline_reports_each_stage_of_a_frame() -> None:
    pipeline = PerceptionPipeline(PerceptionConfig())
    frame, _ = render(BOXES)
    start = time.perf_counter()
    result = pipeline.process(frame)
    total_ms = (time.perf_counter() - start) * 1000.0
    assert list(result.stage_times_ms) == [*TABLETOP_STAGES, "encode", "track"]
    assert all(value >= 0.0 for value in result.stage_times_ms.values())
    assert sum(result.stage_times_ms.values()) <= total_ms  # laps within the call, none counted twice


def test_a_segmenter_without_stages_is_timed_as_one() -> None:
    pipeline = PerceptionPipeline(PerceptionConfig(segmenter="sim_gt"))
    frame, truth = render(BOXES)
    frame = Frame(frame.color, frame.depth_m, frame.k, frame.t_base_camera, instance_ids=truth)
    assert list(pipeline.process(frame).stage_times_ms) == ["segment", "encode", "track"]
