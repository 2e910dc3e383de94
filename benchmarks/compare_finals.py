"""Paired comparison of two evaluations run on the same seeds (e.g. two residuals of benchmarks/residual_rl.py).

    .venv/bin/python benchmarks/compare_finals.py FIRST.json SECOND.json [--names A B]

Each file is an evaluation's JSON (``robot-rl eval``'s result, or a ``final_<method>_<source>.json`` stage of
benchmarks/residual_rl.py). Prints both success rates with 95 % Wilson intervals, the seeds only one of them
solved, and the exact McNemar p-value; how each one's failures failed (``failure_modes``, where the
evaluation recorded the object's height); and the ticks whose applied gripper command had the other sign than the
base's (``gripper_overrides``: the residual's, a person's or a safety hold's doing, which keeps the last applied
gripper command) and the ticks whose policy action had (``residual_gripper_flips``: the residual's own, whether
applied or not); '-' for an evaluation that did not record them. Then, where recorded
(``first_close_offset_m``), where each one's TCP was against the object at the first closing command, median over
the episodes that succeeded and over those that failed: a grasp closed too high or off to the side shows there.
A missing or malformed file, or two files that ran different seeds, is one ``error:`` line and exit 1; with
``--common-seeds`` both are cut to the seeds both ran (e.g. a 100-seed final against an earlier 60-seed one), and
the output says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from robot_rl.policies.evaluate import FAILURE_MODES, failure_modes, per_seed
from robot_rl.stats import paired_comparison, wilson_interval


def main() -> None:
    """Print the comparison as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--names", nargs=2, default=None, help="labels of the two (default: the file paths)")
    parser.add_argument("--common-seeds", action="store_true", help="compare on the seeds both ran, not all of each")
    args = parser.parse_args()
    names = args.names or [str(args.first), str(args.second)]
    try:
        evaluations = [json.loads(path.read_text()) for path in (args.first, args.second)]
        if args.common_seeds:
            evaluations = common_seeds(*evaluations)
        results = [per_seed(evaluation) for evaluation in evaluations]
        only_first, only_second, p_value = paired_comparison(*results)
        failures = [failure_modes(evaluation["per_episode"]) for evaluation in evaluations]
    except (OSError, json.JSONDecodeError) as error:
        sys.exit(f"error: cannot read an evaluation: {error}")
    except (KeyError, TypeError) as error:
        sys.exit(f"error: not an evaluation's JSON (needs per_episode with seed and success): {error!r}")
    except ValueError as error:
        sys.exit(f"error: {error}")
    if args.common_seeds:
        print(f"On the {len(results[0])} seeds both evaluations ran (--common-seeds):\n")
    print(
        f"| policy | success (95 % Wilson) | failed: {' / '.join(FAILURE_MODES)} | gripper overrides (ticks)"
        " | residual gripper flips (ticks) |"
    )
    print("|---|---|---|---|---|")
    for name, result, failed, evaluation in zip(names, results, failures, evaluations, strict=True):
        successes, episodes = sum(result.values()), len(result)
        low, high = wilson_interval(successes, episodes)
        modes = " / ".join(str(failed[mode]) for mode in FAILURE_MODES)
        rate = f"{successes}/{episodes} = {successes / episodes:.0%} ({low:.0%}-{high:.0%})"
        overrides, flips = (gripper_ticks(evaluation["per_episode"], key) for key in GRIPPER_COUNTS)
        print(f"| {name} | {rate} | {modes} | {overrides} | {flips} |")
    print(
        f"\nPaired on the same {len(results[0])} seeds: only {names[0]} succeeded on {only_first}, only {names[1]}"
        f" on {only_second} (exact McNemar p = {p_value:.3f})."
    )
    rows = [
        (name, close_offsets(evaluation["per_episode"])) for name, evaluation in zip(names, evaluations, strict=True)
    ]
    if any(row is not None for _, row in rows):
        print("\nTCP - object at the first closing command (x, y, z, cm; median; episodes that closed), by outcome:\n")
        print("| policy | succeeded | failed | failed without closing |")
        print("|---|---|---|---|")
        for name, row in rows:
            print(f"| {name} | {' | '.join(row) if row is not None else '- | - | -'} |")


def common_seeds(first: dict, second: dict) -> tuple[dict, dict]:
    """Both evaluations with ``per_episode`` cut to the seeds both ran, in each one's order.

    Raises:
        ValueError: If they share no seed.
    """
    shared = per_seed(first).keys() & per_seed(second).keys()
    if not shared:
        raise ValueError("the two evaluations share no seed")

    def cut(evaluation: dict) -> dict:
        return evaluation | {"per_episode": [e for e in evaluation["per_episode"] if int(e["seed"]) in shared]}

    return cut(first), cut(second)


GRIPPER_COUNTS = ("gripper_overrides", "residual_gripper_flips")  # per-episode tick counts, EpisodeResult fields


def gripper_ticks(per_episode: list[dict], key: str) -> str:
    """The ticks of the per-episode count ``key`` (one of ``GRIPPER_COUNTS``), in how many episodes, and how many
    of them in the failed episodes; '-' if not recorded."""
    counts = [episode.get(key) for episode in per_episode]
    if any(count is None for count in counts):
        return "-"
    failed = [count for count, episode in zip(counts, per_episode, strict=True) if not episode["success"]]
    return (
        f"{sum(counts)} in {sum(count > 0 for count in counts)} episodes"
        f" ({sum(failed)} in {sum(count > 0 for count in failed)} of the {len(failed)} failures)"
    )


def close_offsets(per_episode: list[dict]) -> tuple[str, str, str] | None:
    """Median TCP - object offset (cm) at the first closing command over the succeeded and the failed episodes that
    closed, and how many failed episodes never closed; None if the evaluation did not record it."""
    if any("first_close_offset_m" not in episode for episode in per_episode):
        return None
    cells = []
    for success in (True, False):
        offsets = [
            e["first_close_offset_m"] for e in per_episode if e["success"] is success and e["first_close_offset_m"]
        ]
        if not offsets:
            cells.append("none closed")
            continue
        median = np.median(np.asarray(offsets, dtype=np.float64), axis=0) * 100.0
        cells.append(f"({median[0]:+.1f}, {median[1]:+.1f}, {median[2]:+.1f}) in {len(offsets)}")
    never = sum(1 for e in per_episode if not e["success"] and e["first_close_offset_m"] is None)
    return cells[0], cells[1], str(never)


if __name__ == "__main__":
    main()
