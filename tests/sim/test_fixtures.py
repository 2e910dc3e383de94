"""The sim tasks' fixture boxes against robosuite's models, and the committed calibration files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.calibration import load_scene_fixtures
from robot_rl.sim import TASK_OBJECTS, RobosuiteAdapter, SimConfig
from robot_rl.sim.fixtures import main, sim_fixtures_name, task_fixtures

CALIBRATION_DIR = Path(__file__).resolve().parents[2] / "calibration"
PADDING_M = 0.01  # the perception node's default fixture_padding_m


@pytest.mark.parametrize("task", list(TASK_OBJECTS))
def test_the_committed_files_are_what_the_models_give(task: str) -> None:
    committed = load_scene_fixtures(CALIBRATION_DIR / sim_fixtures_name(task))
    generated = task_fixtures(task)
    assert committed.frame_id == generated.frame_id == "base_link"
    assert [box.name for box in committed.boxes] == [box.name for box in generated.boxes]
    for mine, theirs in zip(committed.boxes, generated.boxes, strict=True):
        np.testing.assert_allclose(mine.center_m, theirs.center_m, atol=1e-9)
        np.testing.assert_allclose(mine.half_extents_m, theirs.half_extents_m, atol=1e-9)


def test_pickplacecan_walls_stand_around_the_can_without_touching_it() -> None:
    fixtures = task_fixtures("PickPlaceCan")
    assert len(fixtures.boxes) == 10  # bin1's four walls; bin2's four and its two dividers
    with RobosuiteAdapter(SimConfig(task="PickPlaceCan", render_camera=False)) as sim:
        for seed in range(5):
            can = sim.reset(seed=seed).object_poses["Can"].position_m
            for box in fixtures.boxes:
                gap = np.abs(can - box.center_m) - box.half_extents_m - PADDING_M
                assert gap.max() > 0, f"seed {seed}: the can's origin is inside padded {box.name}"
            # floors are support surfaces, not fixtures: every box is a wall standing above bin1's floor
            assert all(box.half_extents_m[2] > min(box.half_extents_m[:2]) for box in fixtures.boxes)


def test_main_writes_one_file_per_task(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(sim_fixtures_name(t) for t in TASK_OBJECTS)
    assert load_scene_fixtures(tmp_path / sim_fixtures_name("Lift")).boxes == ()
