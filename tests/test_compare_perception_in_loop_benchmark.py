"""benchmarks/compare_perception_in_loop.py through its command line, on small report JSON files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_perception_in_loop.py"


def _row(missed: float, median_cm: float, p95_cm: float, changes: float) -> dict[str, float]:
    return {
        "missed_visible_rate": missed,
        "error_median_cm": median_cm,
        "error_p95_cm": p95_cm,
        "identity_changes_per_episode": changes,
    }


def _write(path: Path, task: str, lifted_missed: float) -> Path:
    phases = {phase: _row(0.0, 0.4, 0.5, 0.0) for phase in ("approach", "contact")}
    phases["lifted"] = _row(lifted_missed, 2.3, 2.8, 0.7)
    report = {"task": task, "seeds": [1000, 1001], "episodes": 2, "phases": phases, "all": _row(0.5, 2.1, 2.7, 0.8)}
    path.write_text(json.dumps(report))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_prints_one_row_per_phase_with_a_column_per_run(tmp_path: Path) -> None:
    before, after = _write(tmp_path / "a.json", "Stack", 0.87), _write(tmp_path / "b.json", "Stack", 0.0)
    run = _run(f"before={before}", f"after={after}")
    assert run.returncode == 0, run.stderr
    assert "| task | phase | before | after |" in run.stdout
    assert "| Stack | lifted | 87 %, 2.3 / 2.8 cm, 0.70 | 0 %, 2.3 / 2.8 cm, 0.70 |" in run.stdout
    assert "| Stack | all | 50 %, 2.1 / 2.7 cm, 0.80 | 50 %, 2.1 / 2.7 cm, 0.80 |" in run.stdout


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    stack, lift = _write(tmp_path / "a.json", "Stack", 0.1), _write(tmp_path / "b.json", "Lift", 0.1)
    (tmp_path / "bad.json").write_text('{"task": "Stack", "seeds": [1000, 1001], "episodes": 2}')
    cases = (
        ((f"a={stack}", f"b={lift}"), "error: the runs differ in task, seeds or episodes"),
        ((str(stack),), "error: expected LABEL=RUN.json"),
        ((f"a={tmp_path / 'none.json'}",), "error: cannot read"),
        ((f"a={stack}", f"b={tmp_path / 'bad.json'}"), "error: not a perception_in_loop.py report"),
    )
    for args, message in cases:
        run = _run(*args)
        assert run.returncode == 1
        assert len(run.stderr.strip().splitlines()) == 1
        assert run.stderr.startswith(message), run.stderr


def test_the_kept_slot_rate_shows_in_brackets_where_measured(tmp_path: Path) -> None:
    old, new = _write(tmp_path / "a.json", "Stack", 0.1), _write(tmp_path / "b.json", "Stack", 0.1)
    report = json.loads(new.read_text())
    report["phases"]["lifted"]["lost_visible_rate"] = 0.0
    new.write_text(json.dumps(report))
    run = _run(f"old={old}", f"new={new}")
    assert run.returncode == 0, run.stderr
    assert "| Stack | lifted | 10 %, 2.3 / 2.8 cm, 0.70 | 10 % (0 %), 2.3 / 2.8 cm, 0.70 |" in run.stdout
