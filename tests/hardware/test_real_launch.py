"""real.launch.yaml refuses to start without its calibration: one error line, before anything can move."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")


def _launch(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROBOT_RL_BACKEND": "inproc"}
    command = [ROBOT_RL, "launch", "robot_rl", "real.launch.yaml", f"base:={REPO / 'models' / 'lift_act'}", *arguments]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("argument", "names"),
    [
        ("workspace_file:=/nonexistent/workspace.yaml", "/nonexistent/workspace.yaml"),
        ("hand_eye_file:=/nonexistent/hand_eye.yaml", "/nonexistent/hand_eye.yaml"),
    ],
)
def test_missing_calibration_stops_the_launch_with_one_line(argument: str, names: str) -> None:
    result = _launch(argument)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert names in errors[0]
    assert "[camera]" not in result.stderr + result.stdout  # the hardware was never opened
