"""The report helpers of benchmarks/residual_rl.py (pure; no sim, no graph)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark

REPO = Path(__file__).resolve().parents[1]


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


def test_takeover_penalty_reads_the_shipped_file_then_the_overrides(bench: ModuleType, tmp_path: Path) -> None:
    assert bench.takeover_penalty(None) == 0.0  # config/learner.yaml
    assert bench.takeover_penalty(REPO / "benchmarks/params/learner_gripper_takeover_penalty.yaml") == 1.0
    other = tmp_path / "learner.yaml"
    other.write_text("learner:\n  ros__parameters:\n    td3:\n      actor_lr: 0.0001\n")
    assert bench.takeover_penalty(other) == 0.0  # a file that does not set it leaves the shipped value


def _base_final(tmp_path: Path, **fields: object) -> Path:
    record: dict[str, object] = {
        "task": "Stack",
        "base": str(tmp_path / "base"),
        "residual": "",
        "per_episode": [{"seed": seed, "success": True} for seed in (200000, 200001, 200002)],
    }
    record.update(fields)
    path = tmp_path / "final_base_sim.json"
    path.write_text(json.dumps(record))
    return path


def test_reused_base_final_must_be_the_same_task_base_and_seeds(bench: ModuleType, tmp_path: Path) -> None:
    base = tmp_path / "base"
    path = _base_final(tmp_path)
    assert bench.reused_base_final(path, "Stack", base, 3, 200000)["task"] == "Stack"
    with pytest.raises(ValueError, match=r"seeds are not 200000\.\.200003"):
        bench.reused_base_final(path, "Stack", base, 4, 200000)
    with pytest.raises(ValueError, match="this run needs Lift"):
        bench.reused_base_final(path, "Lift", base, 3, 200000)
    with pytest.raises(ValueError, match="alone"):
        bench.reused_base_final(path, "Stack", tmp_path / "other", 3, 200000)
    with pytest.raises(ValueError, match="alone"):
        bench.reused_base_final(_base_final(tmp_path, residual="some/residual"), "Stack", base, 3, 200000)
    with pytest.raises(ValueError, match="not a final evaluation"):
        bench.reused_base_final(_base_final(tmp_path, per_episode=None), "Stack", base, 3, 200000)
    path.write_text("{truncated")
    with pytest.raises(ValueError, match="not a final evaluation"):
        bench.reused_base_final(path, "Stack", base, 3, 200000)
