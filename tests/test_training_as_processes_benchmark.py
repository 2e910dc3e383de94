"""benchmarks/training_as_processes.py end to end on a tiny Lift budget: the same launch file trained in-process and
as separate processes on real rclpy, both curves and speeds in its report (the rclpy tier: it needs .venv-ros)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.rclpy_tier import skip_without_rclpy

try:
    import rclpy.node  # noqa: F401  (loads rclpy's C extension, not just the package)
except ImportError as _error:
    skip_without_rclpy(_error)

# Imported after the rclpy check: robot_rl.runtime.msg picks rclpy's message classes at import.
from tests.test_train_residual import LEARNER_PARAMS

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.rclpy


def test_both_backends_train_to_the_budget_and_the_report_sets_them_side_by_side(
    demos: Path, checkpoint: Path, tmp_path: Path
) -> None:
    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    workdir = tmp_path / "bench"
    command = [sys.executable, str(REPO / "benchmarks" / "training_as_processes.py"), "--task", "Lift"]
    command += ["--base", str(checkpoint), "--demos", str(demos), "--workdir", str(workdir), "--steps", "40"]
    command += ["--eval-every", "40", "--eval-episodes", "1", "--horizon", "20", "--device", "none"]
    command += ["--learner-params", str(params), "--ros-venv", str(Path(sys.executable).parents[1])]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    for backend in ("inproc", "rclpy"):
        stage = json.loads((workdir / f"{backend}.json").read_text())
        assert stage["curve"][0]["env_steps"] == 0  # the base alone, before any update
        assert stage["curve"][-1]["env_steps"] >= 40  # the final evaluation, at the budget
        assert stage["speeds"]["updates"] > 0
        assert f"--backend {backend}" in stage["command"]
    # lockstep drops none; as processes any drop comes with its reasons
    assert re.search(
        r"^\| ticks the learner dropped \| 0 \| (0|\d+ \(\d+ [a-z ]+(, \d+ [a-z ]+)*\)) \|$", result.stdout, re.M
    )
    assert re.search(r"^\| 0 \| \d/1 = .* \| \d/1 = .* \|$", result.stdout, re.M)  # both curves start at 0 steps
    assert (workdir / "curves.png").stat().st_size > 0
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert rerun.stdout == result.stdout  # the same report, from the stage files
    for backend in ("inproc", "rclpy"):  # neither training ran again
        assert (workdir / backend / "launch.log").read_text().count("shutdown requested: trained") == 1
