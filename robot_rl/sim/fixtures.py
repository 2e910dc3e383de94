"""Write the scene fixture files of the sim tasks from robosuite's models (``calibration/sim_fixtures_<task>.yaml``).

    MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.fixtures --out calibration

Perception removes the depth points inside these boxes (``fixtures_file``), as it removes the robot's: on a
real robot the same file is measured by hand (calibration/README.md). The sim launch files pass
``$(find-pkg-share robot_rl)/calibration/sim_fixtures_$(var task).yaml``; a test checks that the committed
files are what this module writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robot_rl.calibration.files import SceneFixtures, save_scene_fixtures
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS, RobosuiteAdapter, SimConfig


def sim_fixtures_name(task: str) -> str:
    """The file name of ``task``'s fixtures under calibration/."""
    return f"sim_fixtures_{task}.yaml"


def task_fixtures(task: str) -> SceneFixtures:
    """The fixture boxes of ``task``'s scene in base_link (state only, no rendering)."""
    with RobosuiteAdapter(SimConfig(task=task, render_camera=False, seed=0)) as sim:
        sim.reset(seed=0)
        return sim.fixture_boxes()


def main(argv: list[str] | None = None) -> int:
    """Write one fixtures file per sim task into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for task in TASK_OBJECTS:
        fixtures = task_fixtures(task)
        save_scene_fixtures(fixtures, args.out / sim_fixtures_name(task))
        print(f"{task}: {len(fixtures.boxes)} fixture box(es)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
