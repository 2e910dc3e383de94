"""Shared fixtures: a tiny scripted-demo dataset and an early ACT checkpoint trained on it (through the CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robot_rl.cli import main


@pytest.fixture(scope="session")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipeline") / "demos"
    assert main(["collect-demos", "--task", "Lift", "--episodes", "2", "--out", str(out), "--seed", "7"]) == 0
    return out


@pytest.fixture(scope="session")
def checkpoint(demos: Path) -> Path:
    out = demos.parent / "act"
    args = ["train-base", "--dataset", str(demos), "--policy", "act", "--out", str(out), "--steps", "20"]
    assert main([*args, "--batch-size", "8"]) == 0
    return out
