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


def _earlier_run(tmp_path: Path, last_steps: int = 60_150, episodes: int = 20) -> Path:
    """A results directory as benchmarks/results/ holds it: residual.json and two finals."""
    results = tmp_path / "results"
    results.mkdir()
    curve = [
        {"env_steps": steps, "wall_s": "1.0", "episodes": episodes, "successes": 1, "updates": 0}
        for steps in (0, 30_020, last_steps)
    ]
    (results / "residual.json").write_text(json.dumps({"curve": curve, "speeds": {}}))
    for method in ("base", "residual"):
        record = {"task": "PickPlaceCan", "per_episode": [{"seed": 200000 + i, "success": True} for i in range(3)]}
        (results / f"final_{method}_sim.json").write_text(json.dumps(record))
    return results


def test_earlier_residual_reads_a_matching_run(bench: ModuleType, tmp_path: Path) -> None:
    residual, finals = bench.earlier_residual(_earlier_run(tmp_path), "PickPlaceCan", 60_000, 30_000, 20, 3)
    assert [point["env_steps"] for point in residual["curve"]] == [0, 30_020, 60_150]
    assert finals["base", "sim"]["task"] == "PickPlaceCan"
    assert finals["base", "perception"] is None  # a final the earlier run did not make


@pytest.mark.parametrize(
    ("wanted", "match"),
    [
        ({"task": "Stack"}, "evaluated PickPlaceCan, this run is Stack"),
        ({"steps": 100_000}, "ended at 60150 env steps, not at 100000"),
        ({"eval_episodes": 50}, "not evaluated on 50 episodes"),
        ({"eval_every": 20_000}, "not evaluated every 20000 env steps"),
        ({"final_episodes": 4}, r"seeds are not 200000\.\.200003"),
    ],
)
def test_earlier_residual_refuses_another_run(
    bench: ModuleType, tmp_path: Path, wanted: dict[str, object], match: str
) -> None:
    arguments: dict[str, object] = {
        "task": "PickPlaceCan",
        "steps": 60_000,
        "eval_every": 30_000,
        "eval_episodes": 20,
        "final_episodes": 3,
    }
    arguments.update(wanted)
    with pytest.raises(ValueError, match=match):
        bench.earlier_residual(_earlier_run(tmp_path), *arguments.values())


def test_earlier_residual_refuses_a_directory_without_a_residual_stage(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no residual stage"):
        bench.earlier_residual(tmp_path, "PickPlaceCan", 60_000, 30_000, 20, 3)


def test_earlier_residual_needs_the_sim_finals_that_record_the_task(bench: ModuleType, tmp_path: Path) -> None:
    results = _earlier_run(tmp_path)
    (results / "final_base_sim.json").unlink()
    with pytest.raises(ValueError, match="missing"):
        bench.earlier_residual(results, "PickPlaceCan", 60_000, 30_000, 20, 3)


@pytest.mark.parametrize(
    ("results", "task", "steps"), [("pickplacecan_run2", "PickPlaceCan", 60_000), ("stack_run23", "Stack", 200_000)]
)
def test_the_committed_results_a_peer_was_run_beside_pass_the_checks(
    bench: ModuleType, results: str, task: str, steps: int
) -> None:
    residual, finals = bench.earlier_residual(REPO / "benchmarks/results" / results, task, steps, 10_000, 20, 100)
    assert len(residual["curve"]) == steps // 10_000 + 1
    assert all(
        finals[method, source] is not None for method in ("base", "residual") for source in ("sim", "perception")
    )


def test_peer_beside_refuses_the_residuals_options(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["residual_rl.py", "--workdir", str(tmp_path / "work"), "--peer-beside", str(_earlier_run(tmp_path))]
    monkeypatch.setattr("sys.argv", [*argv, "--skip-peer", "--device", "simulated"])
    with pytest.raises(SystemExit, match="--skip-peer, --device would be ignored"):
        bench.main()
    assert not (tmp_path / "work").exists()  # refused before anything ran
