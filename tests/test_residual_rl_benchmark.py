"""The report helpers of benchmarks/residual_rl.py (pure; no sim, no graph)."""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("residual_rl")


def _final(successes: dict[int, bool]) -> dict[str, object]:
    return {"per_episode": [{"seed": seed, "success": success} for seed, success in successes.items()]}


def test_paired_counts_the_discordant_seeds(bench: ModuleType) -> None:
    base = _final({1: True, 2: False, 3: False, 4: True, 5: False})
    residual = _final({1: True, 2: True, 3: True, 4: False, 5: False})
    only_residual, only_base, p_value = bench.paired(base, residual)
    assert (only_residual, only_base) == (2, 1)
    assert p_value == pytest.approx(1.0)  # 2 * (C(3,0) + C(3,1)) / 8 = 1
    with pytest.raises(ValueError, match="different seeds"):
        bench.paired(base, _final({1: True}))


def test_corrections_summary_counts_episodes_with_a_takeover(bench: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    rows = [("train", 0), ("train", 40), ("eval", 40), ("train", 40), ("train", 95)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["env_steps", "mode", "corrections"])
        writer.writerows((index, mode, corrections) for index, (mode, corrections) in enumerate(rows))
    assert bench.corrections_summary(path) == (95, 2, 4)
