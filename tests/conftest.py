"""Shared fixtures: a tiny scripted-demo dataset and an early ACT checkpoint trained on it (through the CLI), and
a loader for the scripts under benchmarks/."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

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


@pytest.fixture(scope="session")
def mujoco_panda() -> Iterator[Any]:
    """robosuite's compiled Lift scene (Panda + gripper + mount), the MuJoCo model the sim runs."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import robosuite

    env = robosuite.make("Lift", robots="Panda", has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False)
    yield env.sim.model._model
    env.close()


@pytest.fixture
def rclpy_context() -> Iterator[Any]:
    """A real rclpy context (an ``RclpyContext``; the rclpy tier only), shut down after the test."""
    from robot_rl.runtime.rclpy_backend import RclpyContext  # imports rclpy: only where the tier runs

    context = RclpyContext([])
    try:
        yield context
    finally:
        context.shutdown("test done")


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py imported as a module (benchmarks/ is not a package), to test its pure functions."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module
