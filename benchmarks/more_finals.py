"""More unseen seeds for a final evaluation: the same policy and graph on the seeds after the ones it ran, pooled.

    MUJOCO_GL=egl .venv/bin/python benchmarks/more_finals.py FINAL.json --episodes 200 --out MORE.json [--jobs 2]
        [--horizon-steps N]

``FINAL.json`` is an evaluation's JSON (a ``final_<method>_<source>.json`` stage of benchmarks/residual_rl.py or
``robot-rl eval --json``). It names the task, the base, the residual (or none), the slot source and noise and the
safety params file; this script evaluates exactly that on ``--episodes`` seeds starting right after the last seed
``FINAL.json`` ran (so none is shared), writes that evaluation to ``--out`` (an existing ``--out`` for the same
policy, horizon and seeds is reused, not rerun), and prints both and their pool with 95 % Wilson intervals, as
Markdown. ``FINAL.json`` does not record its horizon: ``--horizon-steps`` must match the earlier run's (default: the
task's recommended horizon, which benchmarks/residual_rl.py also uses by default); ``--out`` records it. A file that
is not an evaluation, seeds that are not one consecutive run, or an ``--out`` of another policy, horizon or seeds is
one ``error:`` line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robot_rl.errors import RobotRLError
from robot_rl.policies.evaluate import evaluate, per_seed
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.stats import wilson_interval

POLICY_KEYS = ("task", "base", "residual", "slot_source", "slot_noise", "safety_params")  # what makes two the same


def next_seeds(final: dict[str, Any]) -> int:
    """The first seed after an evaluation's seeds. Raises ValueError unless they are one consecutive run."""
    seeds = sorted(per_seed(final))
    if not seeds or seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError("its seeds are not one consecutive run")
    return seeds[-1] + 1


def rate(successes: int, episodes: int) -> str:
    """``s/n = p (low-high)`` with the 95 % Wilson interval."""
    low, high = wilson_interval(successes, episodes)
    return f"{successes}/{episodes} = {successes / episodes:.1%} ({low:.1%}-{high:.1%})"


def read_evaluation(path: Path) -> tuple[dict[str, Any], dict[int, bool]]:
    """An evaluation's JSON and its {seed: success}. Raises ValueError when it is not one."""
    evaluation = json.loads(path.read_text())
    if not isinstance(evaluation, dict):
        raise ValueError(f"{path}: not an evaluation's JSON")
    missing = [key for key in POLICY_KEYS if key not in evaluation]
    if missing:
        raise ValueError(f"{path}: not an evaluation's JSON (no {', '.join(missing)})")
    try:
        return evaluation, per_seed(evaluation)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: not an evaluation's JSON (needs per_episode with seed and success): {error!r}"
        ) from None


def run(final_path: Path, episodes: int, out: Path, jobs: int, horizon_steps: int | None) -> None:
    """Evaluate the policy of ``final_path`` on the next ``episodes`` seeds (or reuse ``out``); print the pool."""
    final, earlier = read_evaluation(final_path)
    first_seed = next_seeds(final)
    wanted = set(range(first_seed, first_seed + episodes))
    horizon = horizon_steps or RECOMMENDED_HORIZON_STEPS.get(final["task"], 200)  # as evaluate() resolves it
    if out.exists():
        more, later = read_evaluation(out)
        same = all((more.get(key) or None) == (final[key] or None) for key in POLICY_KEYS)  # '' or null: none
        if not same or more.get("horizon_steps") != horizon or set(later) != wanted:
            raise ValueError(f"{out} holds another policy's, horizon's or seeds' evaluation: move it away to rerun")
    else:
        result = evaluate(
            final["task"],
            Path(final["base"]),
            episodes,
            seed=first_seed,
            horizon_steps=horizon,
            progress=False,
            residual=Path(final["residual"]) if final["residual"] else None,
            slot_source=final["slot_source"],
            slot_noise=final["slot_noise"],
            jobs=jobs,
            safety_params=Path(final["safety_params"]) if final["safety_params"] else None,
        )
        out.write_text(json.dumps(json.loads(result.to_json()) | {"horizon_steps": horizon}))
        more, later = read_evaluation(out)
    policy = f"base + residual `{final['residual']}`" if final["residual"] else "the base alone"
    print(f"{final['task']}, {policy} on `{final['base']}`, slot source {final['slot_source']}:\n")
    print("| seeds | success (95 % Wilson) |")
    print("|---|---|")
    for seeds in (earlier, later):
        print(f"| {min(seeds)}..{max(seeds)} | {rate(sum(seeds.values()), len(seeds))} |")
    pooled = earlier | later
    print(f"| pooled {min(pooled)}..{max(pooled)} | {rate(sum(pooled.values()), len(pooled))} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("final", type=Path, help="an evaluation's JSON (final_<method>_<source>.json)")
    parser.add_argument("--episodes", type=int, required=True, help="how many more seeds")
    parser.add_argument("--out", type=Path, required=True, help="where the new evaluation's JSON goes")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=1, help="2: split the seeds over two processes")
    parser.add_argument("--horizon-steps", type=int, help="must match the earlier run's (default: the task's)")
    args = parser.parse_args()
    try:
        run(args.final, args.episodes, args.out, args.jobs, args.horizon_steps)
    except (OSError, json.JSONDecodeError, ValueError, RobotRLError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
