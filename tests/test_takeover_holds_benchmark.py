"""The per-episode count of benchmarks/takeover_holds.py (pure; no dataset)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("takeover_holds")


def test_counts_the_holds_from_the_first_takeover_on(bench: ModuleType) -> None:
    intervention = np.array([False, False, True, True, False, True])
    clipped = np.array([True, False, True, True, True, False])
    moving, still = [0.1, 0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0, 1.0]
    actions = np.array([still, moving, still, moving, still, still])
    # ticks 2..5: tick 2 held (clipped, still), tick 3 clipped but moving (a speed limit), tick 4 held, tick 5 still
    # but not clipped (the person asked for no motion)
    assert bench.held_after_takeover(intervention, clipped, actions) == (4, 2)
    assert bench.held_after_takeover(np.zeros(6, dtype=bool), clipped, actions) is None
