"""benchmarks/compare_finals.py through its command line, on two small evaluation JSON files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_finals.py"


def _write(path: Path, successes: dict[int, bool]) -> Path:
    path.write_text(json.dumps({"per_episode": [{"seed": s, "success": ok} for s, ok in successes.items()]}))
    return path


def test_prints_both_rates_and_the_paired_test(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", {1: True, 2: True, 3: False, 4: True})
    second = _write(tmp_path / "b.json", {1: False, 2: True, 3: False, 4: False})
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(second), "--names", "A", "B"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "| A | 3/4 = 75% (30%-95%) | 0 / 0 / 0 / 1 |" in run.stdout  # no heights recorded: unknown
    assert "| B | 1/4 = 25% (5%-70%) | 0 / 0 / 0 / 3 |" in run.stdout
    assert "only A succeeded on 2, only B on 0 (exact McNemar p = 0.500)" in run.stdout


def test_refuses_evaluations_of_different_seeds(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", {1: True})
    second = _write(tmp_path / "b.json", {2: True})
    run = subprocess.run([sys.executable, str(SCRIPT), str(first), str(second)], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip() == "error: the two evaluations ran different seeds"


def test_common_seeds_compares_on_the_seeds_both_ran(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", {1: True, 2: False, 3: True, 4: True})
    second = _write(tmp_path / "b.json", {1: True, 2: True})
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(second), "--names", "A", "B", "--common-seeds"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "On the 2 seeds both evaluations ran (--common-seeds)" in run.stdout
    assert "| A | 1/2 = 50%" in run.stdout
    assert "only A succeeded on 0, only B on 1 (exact McNemar p = 1.000)" in run.stdout
    disjoint = _write(tmp_path / "c.json", {9: True})
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(disjoint), "--common-seeds"], capture_output=True, text=True
    )
    assert (run.returncode, run.stderr.strip()) == (1, "error: the two evaluations share no seed")


def test_a_missing_or_malformed_file_is_one_error_line(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.json", {1: True})
    (tmp_path / "bad.json").write_text('{"successes": 3}')
    for other, message in ((tmp_path / "none.json", "cannot read"), (tmp_path / "bad.json", "not an evaluation")):
        run = subprocess.run([sys.executable, str(SCRIPT), str(good), str(other)], capture_output=True, text=True)
        assert run.returncode == 1
        assert len(run.stderr.strip().splitlines()) == 1
        assert run.stderr.startswith(f"error: {message}")


def test_failures_are_told_apart_by_the_objects_height(tmp_path: Path) -> None:
    episodes = [
        {"seed": 1, "success": False, "max_rise_m": 0.005, "final_rise_m": 0.0},  # never lifted
        {"seed": 2, "success": False, "max_rise_m": 0.12, "final_rise_m": 0.001},  # dropped
        {"seed": 3, "success": False, "max_rise_m": 0.12, "final_rise_m": 0.05},  # up at the end
        {"seed": 4, "success": True, "max_rise_m": 0.12, "final_rise_m": 0.05},
    ]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"per_episode": episodes}))
    run = subprocess.run([sys.executable, str(SCRIPT), str(path), str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "failed: never lifted / dropped / up at the end / unknown |" in run.stdout
    assert f"| {path} | 1/4 = 25% (5%-70%) | 1 / 1 / 1 / 0 |" in run.stdout


def test_prints_the_gripper_counts_where_recorded(tmp_path: Path) -> None:
    episodes = [
        {"seed": s, "success": ok, "gripper_overrides": n, "residual_gripper_flips": f}
        for s, ok, n, f in ((1, True, 0, 2), (2, False, 5, 3))
    ]
    first = tmp_path / "a.json"
    first.write_text(json.dumps({"per_episode": episodes}))
    second = _write(tmp_path / "b.json", {1: True, 2: False})  # an older evaluation: not recorded
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(second), "--names", "A", "B"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert (
        "| A | 1/2 = 50% (9%-91%) | 0 / 0 / 0 / 1 | 5 in 1 episodes (5 in 1 of the 1 failures)"
        " | 5 in 2 episodes (3 in 1 of the 1 failures) |"
    ) in run.stdout
    assert "| B | 1/2 = 50% (9%-91%) | 0 / 0 / 0 / 1 | - | - |" in run.stdout


def test_prints_the_tcp_offset_at_the_first_close_by_outcome(tmp_path: Path) -> None:
    offsets = {1: (0.0, 0.01, 0.002), 2: (0.0, 0.01, 0.004), 3: (0.01, -0.02, 0.03), 4: None}
    episodes = [{"seed": s, "success": s <= 2, "first_close_offset_m": offset} for s, offset in offsets.items()]
    first = tmp_path / "a.json"
    first.write_text(json.dumps({"per_episode": episodes}))
    second = _write(tmp_path / "b.json", {1: True, 2: True, 3: False, 4: False})  # an older evaluation
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(first), str(second), "--names", "A", "B"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "| A | (+0.0, +1.0, +0.3) in 2 | (+1.0, -2.0, +3.0) in 1 | 1 |" in run.stdout
    assert "| B | - | - | - |" in run.stdout
    single = tmp_path / "c.json"
    single.write_text(json.dumps({"per_episode": [*episodes[:2], episodes[3], {**episodes[3], "seed": 3}]}))
    run = subprocess.run([sys.executable, str(SCRIPT), str(single), str(single)], capture_output=True, text=True)
    assert "| none closed | 2 |" in run.stdout  # no failed episode closed the gripper
