"""The takeover report of benchmarks/correction_session.py (pure; no sim, no graph)."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

import pytest

from robot_rl.policies.evaluate import EpisodeResult
from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("correction_session")


def _taken(seed: int, success: bool, rise_m: float | None, tilt_deg: float | None, phase: str) -> EpisodeResult:
    reason = f"not done by step 150; the expert's phase: {phase}"
    return EpisodeResult(seed, seed, success, 300, 150, 0, None, None, 0, 0, 150, reason, rise_m, tilt_deg)


def test_the_object_state_at_takeover(bench: ModuleType) -> None:
    assert bench.object_state(_taken(1, True, 0.05, 80.0, "lift")) == "lifted"  # lifted wins over tilt
    assert bench.object_state(_taken(1, True, 0.0, 90.0, "approach")) == "tipped over"
    assert bench.object_state(_taken(1, True, 0.0, 10.0, "approach")) == "standing"
    assert bench.object_state(_taken(1, True, None, None, "approach")) == "unknown"


def test_the_expert_phase_comes_from_the_reason(bench: ModuleType) -> None:
    assert bench.expert_phase("the policy drifted 0.2 m; the expert's phase: descend") == "descend"
    assert bench.expert_phase("button") == "?"


def test_takeover_table_groups_by_object_and_phase_and_counts_completions(bench: ModuleType) -> None:
    results = [
        _taken(1, False, 0.0, 90.0, "approach"),
        _taken(2, True, 0.0, 2.0, "approach"),
        _taken(3, False, 0.0, 95.0, "approach"),
        _taken(4, True, 0.0, 1.0, "approach"),
        _taken(5, True, 0.0, 80.0, "approach"),
        EpisodeResult(6, 6, True, 90),  # nobody took over: not in the table
    ]
    assert bench.takeover_table(results) == [
        "| object at takeover | expert's phase | episodes | completed |",
        "|---|---|---|---|",
        "| tipped over | approach | 3 | 1 |",
        "| standing | approach | 2 | 2 |",
    ]
    lines = bench.takeover_lines(results)
    assert len(lines) == 5
    assert lines[0] == (
        "- seed 1: step 150 (not done by step 150; the expert's phase: approach); object up 0.0 cm, tilted 90 deg;"
        " joints within 0.1 rad of a limit: ?, at the end ?; not completed in 300 steps"
    )


def test_the_joints_near_a_limit_at_takeover_and_at_the_end(bench: ModuleType) -> None:
    inside = {f"panda_joint{i}": 0.0 for i in range(1, 8)}
    inside["panda_joint4"], inside["panda_joint6"] = -1.5, 1.5
    assert bench.joints_near_limits(inside) == "none"
    stretched = {**inside, "panda_joint4": -0.0698, "panda_joint6": -0.05}  # on one limit, past the other
    assert bench.joints_near_limits(stretched) == (
        "panda_joint4 -0.070 rad (upper -0.070), panda_joint6 -0.050 rad (lower -0.018)"
    )
    taken = _taken(1, False, 0.0, 0.0, "approach")
    result = replace(taken, takeover_joint_positions_rad=stretched, final_joint_positions_rad=inside)
    assert (
        "joints within 0.1 rad of a limit: panda_joint4 -0.070 rad (upper -0.070), panda_joint6"
        in (bench.takeover_lines([result])[0])
    )
    assert bench.takeover_lines([result])[0].endswith("at the end none; not completed in 300 steps")
