"""Write the sim tasks' calibration files from robosuite's models (``calibration/sim_*_<task>.yaml``).

    MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.fixtures --out calibration

Per task, three files: the scene fixtures (``sim_fixtures_<task>.yaml``: perception removes the depth points
inside these boxes, as it removes the robot's), the end-effector workspace box (``sim_workspace_<task>.yaml``: the
safety gate's) and the hand-eye pose of the default camera (``sim_hand_eye_<task>.yaml``: perception's). On a real
robot the same files are measured (calibration/README.md). The sim launch files pass them as
``$(find-pkg-share robot_rl)/calibration/sim_<kind>_$(var task).yaml``, so no node waits for a file another
process writes at its start; the sim checks at start that the workspace and hand-eye files it is given hold its own
values (:func:`check_calibration`), and a test checks that the committed files are what this module writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from robot_rl.calibration.files import (
    HandEyeCalibration,
    SceneFixtures,
    WorkspaceLimits,
    load_hand_eye,
    load_workspace_limits,
    save_hand_eye,
    save_scene_fixtures,
    save_workspace_limits,
)
from robot_rl.errors import CalibrationError
from robot_rl.perception.geometry import quaternion_xyzw
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS, RobosuiteAdapter, SimConfig

CAMERA_FRAME = "camera_color_optical_frame"
BASE_FRAME = "base_link"
# The end-effector box of each task scene, base_link, m: (min, max). Lift, Stack and NutAssemblySquare share
# robosuite's table (surface at z = -0.112 m in base_link, see calibration/workspace.yaml); PickPlaceCan's
# bins sit left and right of the robot's front and need a wider box.
TASK_WORKSPACES_M: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "Lift": ((0.3, -0.35, -0.1), (0.9, 0.35, 0.4)),
    "Stack": ((0.3, -0.35, -0.1), (0.9, 0.35, 0.4)),
    "NutAssemblySquare": ((0.3, -0.35, -0.1), (0.9, 0.35, 0.4)),
    "PickPlaceCan": ((0.3, -0.6, -0.1), (0.9, 0.6, 0.4)),
}
# how far a given file may be from the sim's own values: the YAML round trip of a float64 is exact, so this only
# absorbs the last bits of the camera pose's matrix-to-quaternion conversion
POSITION_TOLERANCE_M = 1e-6
QUATERNION_TOLERANCE = 1e-6


def sim_fixtures_name(task: str) -> str:
    """The file name of ``task``'s fixtures under calibration/."""
    return f"sim_fixtures_{task}.yaml"


def sim_workspace_name(task: str) -> str:
    """The file name of ``task``'s workspace box under calibration/."""
    return f"sim_workspace_{task}.yaml"


def sim_hand_eye_name(task: str) -> str:
    """The file name of ``task``'s camera hand-eye pose under calibration/."""
    return f"sim_hand_eye_{task}.yaml"


def task_fixtures(task: str) -> SceneFixtures:
    """The fixture boxes of ``task``'s scene in base_link (state only, no rendering)."""
    with RobosuiteAdapter(SimConfig(task=task, render_camera=False, seed=0)) as sim:
        sim.reset(seed=0)
        return sim.fixture_boxes()


def task_workspace(task: str) -> WorkspaceLimits:
    """The end-effector box of ``task``'s scene in base_link."""
    low, high = TASK_WORKSPACES_M[task]
    return WorkspaceLimits(np.array(low), np.array(high), BASE_FRAME)


def camera_hand_eye(sim: RobosuiteAdapter) -> HandEyeCalibration:
    """The pose of ``sim``'s camera optical frame in base_link (the camera is fixed in the scene)."""
    pose = sim.camera_pose_in_base()
    return HandEyeCalibration(
        parent_frame=BASE_FRAME,
        child_frame=CAMERA_FRAME,
        translation_m=pose[:3, 3],
        quaternion_xyzw=quaternion_xyzw(pose[:3, :3]),
    )


def task_hand_eye(task: str) -> HandEyeCalibration:
    """The hand-eye pose of ``task``'s default camera (SimConfig's ``camera_name``), state only."""
    with RobosuiteAdapter(SimConfig(task=task, render_camera=False, seed=0)) as sim:
        sim.reset(seed=0)
        return camera_hand_eye(sim)


def check_calibration(
    task: str, sim: RobosuiteAdapter, workspace_file: str | Path | None, hand_eye_file: str | Path | None
) -> None:
    """Raise CalibrationError unless the given files hold ``sim``'s own workspace box and camera pose.

    The graph's nodes read these files, not the sim: a file for another task or camera would put the safety gate's
    box or perception's camera somewhere else than the sim's, silently. None skips a file.
    """
    regenerate = "regenerate the files with `python -m robot_rl.sim.fixtures --out calibration` or pass the right one"
    if workspace_file:
        given, own = load_workspace_limits(workspace_file), task_workspace(task)
        if given.frame_id != own.frame_id or not (
            np.allclose(given.min_m, own.min_m, atol=POSITION_TOLERANCE_M, rtol=0)
            and np.allclose(given.max_m, own.max_m, atol=POSITION_TOLERANCE_M, rtol=0)
        ):
            raise CalibrationError(
                f"{workspace_file}: workspace box {given.min_m.tolist()}..{given.max_m.tolist()} m in"
                f" {given.frame_id!r} is not the sim's for {task} ({own.min_m.tolist()}..{own.max_m.tolist()} m in"
                f" {own.frame_id!r}); {regenerate}"
            )
    if hand_eye_file:
        given_pose, own_pose = load_hand_eye(hand_eye_file), camera_hand_eye(sim)
        same_frames = (given_pose.parent_frame, given_pose.child_frame) == (own_pose.parent_frame, own_pose.child_frame)
        # q and -q are the same rotation
        turn = min(
            np.abs(given_pose.quaternion_xyzw - own_pose.quaternion_xyzw).max(),
            np.abs(given_pose.quaternion_xyzw + own_pose.quaternion_xyzw).max(),
        )
        shift = np.abs(given_pose.translation_m - own_pose.translation_m).max()
        if not same_frames or shift > POSITION_TOLERANCE_M or turn > QUATERNION_TOLERANCE:
            raise CalibrationError(
                f"{hand_eye_file}: camera pose is not the sim's {sim.config.camera_name} camera in {task}"
                f" (position off by {shift:.3g} m, quaternion by {turn:.3g}, frames {given_pose.parent_frame} ->"
                f" {given_pose.child_frame}); {regenerate}"
            )


def main(argv: list[str] | None = None) -> int:
    """Write the three calibration files of every sim task into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for task in TASK_OBJECTS:
        fixtures = task_fixtures(task)
        save_scene_fixtures(fixtures, args.out / sim_fixtures_name(task))
        save_workspace_limits(task_workspace(task), args.out / sim_workspace_name(task))
        save_hand_eye(task_hand_eye(task), args.out / sim_hand_eye_name(task))
        print(f"{task}: {len(fixtures.boxes)} fixture box(es), workspace box, camera hand-eye pose")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
