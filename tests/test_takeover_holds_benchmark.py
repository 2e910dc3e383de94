"""The per-episode count of benchmarks/takeover_holds.py (pure; no dataset)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "takeover_holds.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("takeover_holds")


def test_counts_the_holds_and_the_ticks_the_arm_did_not_follow_from_the_first_takeover_on(bench: ModuleType) -> None:
    intervention = np.array([False, False, True, True, False, True, True])
    clipped = np.array([True, False, True, True, True, False, False])
    moving, still = [0.5, 0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0, 1.0]
    actions = np.array([still, moving, still, moving, still, moving, moving])
    tcp_m = np.array([[0.5, 0, 0], [0.5, 0, 0], [0.5, 0, 0], [0.5, 0, 0], [0.51, 0, 0], [0.51, 0, 0], [0.5105, 0, 0]])
    # ticks 2..6: tick 2 held (clipped, still), tick 3 clipped but moving (a speed limit) and followed (1 cm), tick 4
    # held, tick 5 moving and not followed (0.5 mm), tick 6 moving but the last frame (no next one to tell)
    assert bench.after_takeover(intervention, clipped, actions, tcp_m) == (5, 2, 1)
    assert bench.after_takeover(np.zeros(7, dtype=bool), clipped, actions, tcp_m) is None


def test_a_directory_that_is_not_a_dataset_is_one_error_line(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing")], capture_output=True, text=True)
    assert run.returncode == 1
    assert (
        run.stderr.strip().splitlines()[-1]
        == f"error: {tmp_path / 'missing'} is not a LeRobot dataset: no meta/info.json"
    )
