"""benchmarks/more_finals.py through its command line: a real one-episode evaluation of the base, reuse, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "more_finals.py"
ROOT = SCRIPT.parents[1]


def _final(path: Path, seeds: dict[int, bool], **policy: object) -> Path:
    evaluation = {"task": "Stack", "base": "models/stack_act", "residual": None, "slot_source": "sim"}
    evaluation |= {"slot_noise": "none", "safety_params": None} | policy
    evaluation["per_episode"] = [{"seed": seed, "success": ok} for seed, ok in seeds.items()]
    path.write_text(json.dumps(evaluation))
    return path


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    command = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)


def test_evaluates_the_next_seeds_and_pools_them(tmp_path: Path) -> None:
    final = _final(tmp_path / "final.json", {5: True, 6: False})
    out = tmp_path / "more.json"
    run = _run(final, "--episodes", 1, "--out", out, "--horizon-steps", 5)
    assert run.returncode == 0, run.stderr
    more = json.loads(out.read_text())
    assert [episode["seed"] for episode in more["per_episode"]] == [7]
    assert more["episodes"] == 1
    assert more["horizon_steps"] == 5
    assert more["per_episode"][0]["steps"] == 5  # five ticks cannot stack a cube: the base failed
    assert "| 5..6 | 1/2 = 50.0% (9.5%-90.5%) |" in run.stdout
    assert "| 7..7 | 0/1 = 0.0% (0.0%-79.3%) |" in run.stdout
    assert "| pooled 5..7 | 1/3 = 33.3% (6.1%-79.2%) |" in run.stdout
    assert "base_policy" in run.stderr  # the graph's base node logged
    again = _run(final, "--episodes", 1, "--out", out, "--horizon-steps", 5)  # reused: no graph, the same table
    assert again.returncode == 0, again.stderr
    assert again.stdout == run.stdout
    assert "base_policy" not in again.stderr
    other_horizon = _run(final, "--episodes", 1, "--out", out)  # the task's default horizon, not 5
    assert other_horizon.returncode == 1
    assert "holds another policy's, horizon's or seeds' evaluation" in other_horizon.stderr


def test_refuses_an_out_of_another_policy_or_seeds(tmp_path: Path) -> None:
    out = _final(tmp_path / "more.json", {7: True}, horizon_steps=200)
    other_policy = _final(tmp_path / "final.json", {5: True, 6: True}, residual="models/other")
    run = _run(other_policy, "--episodes", 1, "--out", out)
    assert (run.returncode, run.stderr.strip()) == (
        1,
        f"error: {out} holds another policy's, horizon's or seeds' evaluation: move it away to rerun",
    )
    more_seeds = _final(tmp_path / "final.json", {5: True, 6: True})
    assert _run(more_seeds, "--episodes", 2, "--out", out).returncode == 1


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    gaps = _final(tmp_path / "gaps.json", {5: True, 7: True})
    run = _run(gaps, "--episodes", 1, "--out", tmp_path / "x.json")
    assert (run.returncode, run.stderr.strip()) == (1, "error: its seeds are not one consecutive run")
    (tmp_path / "bare.json").write_text('{"per_episode": []}')
    run = _run(tmp_path / "bare.json", "--episodes", 1, "--out", tmp_path / "x.json")
    assert run.returncode == 1
    assert run.stderr.strip().startswith("error: ")
    assert "not an evaluation's JSON" in run.stderr
    run = _run(tmp_path / "none.json", "--episodes", 1, "--out", tmp_path / "x.json")
    assert run.returncode == 1
    assert run.stderr.strip().startswith("error: ")
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()
