"""The sim tasks' calibration (fixture boxes, workspace boxes, camera hand-eye poses) against robosuite's models,
the committed calibration files, and the sim's check of the files the graph reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.calibration import load_scene_fixtures
from robot_rl.calibration.files import (
    HandEyeCalibration,
    load_hand_eye,
    load_workspace_limits,
    save_hand_eye,
    save_workspace_limits,
)
from robot_rl.errors import CalibrationError
from robot_rl.runtime.inproc import InprocContext
from robot_rl.sim import TASK_OBJECTS, RobosuiteAdapter, SimConfig
from robot_rl.sim.fixtures import (
    check_calibration,
    main,
    sim_fixtures_name,
    sim_hand_eye_name,
    sim_workspace_name,
    task_fixtures,
    task_hand_eye,
    task_workspace,
)
from robot_rl.sim.node import SimNode

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


@pytest.mark.parametrize("task", list(TASK_OBJECTS))
def test_the_committed_workspace_and_hand_eye_files_are_the_sims(task: str) -> None:
    workspace = load_workspace_limits(CALIBRATION_DIR / sim_workspace_name(task))
    np.testing.assert_array_equal(workspace.min_m, task_workspace(task).min_m)
    np.testing.assert_array_equal(workspace.max_m, task_workspace(task).max_m)
    committed, generated = load_hand_eye(CALIBRATION_DIR / sim_hand_eye_name(task)), task_hand_eye(task)
    assert (committed.parent_frame, committed.child_frame) == ("base_link", "camera_color_optical_frame")
    np.testing.assert_allclose(committed.translation_m, generated.translation_m, atol=1e-12)
    np.testing.assert_allclose(committed.quaternion_xyzw, generated.quaternion_xyzw, atol=1e-12)


def test_the_sim_checks_the_files_the_graph_reads(tmp_path: Path) -> None:
    """The safety gate and perception read the shipped files, not the sim: a file for another task or camera must stop
    the sim with one line, not put the gate's box or perception's camera somewhere else."""
    shipped = {
        "workspace_file": CALIBRATION_DIR / sim_workspace_name("Lift"),
        "hand_eye_file": CALIBRATION_DIR / sim_hand_eye_name("Lift"),
    }
    shifted = tmp_path / "hand_eye.yaml"
    pose = load_hand_eye(shipped["hand_eye_file"])
    save_hand_eye(
        HandEyeCalibration(
            pose.parent_frame, pose.child_frame, pose.translation_m + np.array([0.0, 0.0, 0.01]), pose.quaternion_xyzw
        ),
        shifted,
    )
    wide = tmp_path / "workspace.yaml"
    save_workspace_limits(task_workspace("PickPlaceCan"), wide)
    flipped = tmp_path / "flipped.yaml"  # -q is the same rotation: accepted
    save_hand_eye(
        HandEyeCalibration(pose.parent_frame, pose.child_frame, pose.translation_m, -pose.quaternion_xyzw), flipped
    )

    def start(**files: Path) -> None:
        args = ["--ros-args", "-p", "render_camera:=false"]
        for name, path in files.items():
            args += ["-p", f"{name}:={path}"]
        SimNode(context=InprocContext(), cli_args=args).destroy_node()

    start(**shipped)
    start(workspace_file=shipped["workspace_file"], hand_eye_file=flipped)
    with pytest.raises(CalibrationError, match=r"hand_eye.yaml: camera pose is not the sim's agentview camera in Lift"):
        start(workspace_file=shipped["workspace_file"], hand_eye_file=shifted)
    with pytest.raises(CalibrationError, match=r"workspace.yaml: workspace box .* is not the sim's for Lift"):
        start(workspace_file=wide, hand_eye_file=shipped["hand_eye_file"])
    with RobosuiteAdapter(SimConfig(task="Lift", render_camera=False)) as sim:
        check_calibration("Lift", sim, None, None)  # nothing given, nothing checked


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


def test_main_writes_three_files_per_task(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    names = [name(task) for task in TASK_OBJECTS for name in (sim_fixtures_name, sim_workspace_name, sim_hand_eye_name)]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)
    assert load_scene_fixtures(tmp_path / sim_fixtures_name("Lift")).boxes == ()
