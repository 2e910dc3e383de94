"""benchmarks/gripper_commands.py: the base's gripper commands along its demonstrations, and the report's shares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from robot_rl.policies.base import load_base_policy
from robot_rl.rl.demos import relabel_demonstrations
from robot_rl.rl.td3 import TD3Config
from tests.conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gripper_commands.py"


def test_columns_are_the_relabelled_gripper_commands(demos: Path, checkpoint: Path) -> None:
    gripper_commands = load_benchmark("gripper_commands")
    base_gripper, executed, episodes = gripper_commands.gripper_columns(checkpoint, demos, 6)
    relabelled = relabel_demonstrations(demos, load_base_policy(checkpoint), 6, TD3Config())
    state = relabelled.buffer.state_dict()
    assert episodes == 2
    np.testing.assert_array_equal(base_gripper, state["base_action"][:, 6])
    np.testing.assert_array_equal(executed, state["action"][:, 6])
    assert set(np.unique(executed)) <= {-1.0, 1.0}  # the scripted expert opens or closes fully


def test_report_counts_the_ticks_each_bound_can_flip() -> None:
    gripper_commands = load_benchmark("gripper_commands")
    base = np.array([1.0, -1.0, 0.1, -0.4, 0.9])
    executed = np.array([1.0, -1.0, -1.0, -1.0, 1.0])
    text = gripper_commands.report(Path("b"), Path("d"), base, executed, 1)
    assert "| ticks a gripper residual bound of 0.2 can flip (\\|base\\| < 0.2) | 20.0% |" in text
    assert "| ticks a gripper residual bound of 0.5 can flip (\\|base\\| < 0.5) | 40.0% |" in text
    assert "| ticks a gripper residual bound of 1.0 can flip (\\|base\\| < 1.0) | 60.0% |" in text
    assert "| ticks where the base's sign differs from the demonstration's | 20.0% |" in text


def test_a_directory_that_is_not_a_dataset_is_one_error_line(tmp_path: Path, checkpoint: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--base", str(checkpoint), "--demos", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("error: ")
