"""How a recorded correction session's takeovers went at the safety gate, from the dataset alone.

    .venv/bin/python benchmarks/takeover_holds.py DATASET [DATASET ...]

For each LeRobotDataset written by the recorder (e.g. ``benchmarks/correction_session.py``'s ``corrections``), read
with LeRobot's own loader: per episode in which a person took over (``complementary_info.intervention``), the
ticks from the first takeover to the end, how many of them the safety gate held (``complementary_info
.safety_clipped`` with zero executed motion: a hold replaces the command by zero motion), how many the arm did not
follow (an executed translation of at least ``STUCK_ACTION`` and the TCP moved less than ``STUCK_M`` by the next
frame), and whether the episode succeeded. A directory without ``meta/info.json`` or a dataset that cannot be
read is one ``error:`` line and exit 1 (nothing is looked up on the hub).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from robot_rl.data.recorder import INFO_FILE, SAFETY_CLIPPED_KEY
from robot_rl.torch_env import prepare_torchvision

INTERVENTION_KEY = "complementary_info.intervention"
STUCK_ACTION = 0.2  # executed translation command (norm of dx, dy, dz) that should move the TCP, normalized (1 cm)
STUCK_M = 0.001  # a TCP that moved less than this by the next frame did not follow it, m


def after_takeover(
    intervention: np.ndarray, clipped: np.ndarray, actions: np.ndarray, tcp_m: np.ndarray
) -> tuple[int, int, int] | None:
    """(ticks from the first takeover on, of them held by the gate, of them not followed by the arm) of one episode;
    None if nobody took over.

    ``intervention`` and ``clipped`` are per-frame flags, ``actions`` the executed (T, 7) commands, ``tcp_m`` the
    (T, 3) TCP positions, m. The last frame has no next one, so it is never counted as not followed.
    """
    taken = np.flatnonzero(intervention)
    if taken.size == 0:
        return None
    first = int(taken[0])
    held = clipped[first:] & np.all(actions[first:, :6] == 0.0, axis=1)
    moved = np.linalg.norm(np.diff(tcp_m[first:], axis=0), axis=1)
    commanded = np.linalg.norm(actions[first:-1, :3], axis=1) >= STUCK_ACTION
    return len(clipped) - first, int(held.sum()), int(np.sum(commanded & (moved < STUCK_M)))


def main() -> None:
    """Print one Markdown table per dataset."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("datasets", type=Path, nargs="+")
    args = parser.parse_args()
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    for root in args.datasets:
        if not (root / INFO_FILE).is_file():  # never let LeRobot look for it on the hub
            sys.exit(f"error: {root} is not a LeRobot dataset: no {INFO_FILE}")
        try:
            table = LeRobotDataset("local/robot_rl", root=root).hf_dataset.with_format("numpy")
            episodes = np.asarray(table["episode_index"])
            flags = np.asarray(table[INTERVENTION_KEY]).reshape(-1).astype(bool)
            clipped = np.asarray(table[SAFETY_CLIPPED_KEY]).reshape(-1).astype(bool)
            actions = np.asarray(table["action"], dtype=np.float64).reshape(len(episodes), -1)
            tcp_m = np.asarray(table["observation.state"], dtype=np.float64).reshape(len(episodes), -1)[:, :3]
            success = np.asarray(table["next.success"]).reshape(-1).astype(bool)
        except (OSError, KeyError, ValueError) as error:
            sys.exit(f"error: cannot read the dataset {root}: {error}")
        print(f"\n{root}:\n")
        print("| episode | ticks after the takeover | held by the gate | not followed by the arm | succeeded |")
        print("|---|---|---|---|---|")
        totals = [0, 0, 0, 0, 0]  # episodes, ticks, held, not followed, successes
        for episode in np.unique(episodes):
            rows = episodes == episode
            counts = after_takeover(flags[rows], clipped[rows], actions[rows], tcp_m[rows])
            if counts is None:
                continue
            ok = bool(success[rows][-1])
            print(f"| {episode} | {counts[0]} | {counts[1]} | {counts[2]} | {'yes' if ok else 'no'} |")
            totals = [
                totals[0] + 1,
                *(total + count for total, count in zip(totals[1:4], counts, strict=True)),
                totals[4] + ok,
            ]
        if totals[0]:
            ticks = max(totals[1], 1)
            print(
                f"| all {totals[0]} | {totals[1]} | {totals[2]} ({totals[2] / ticks:.0%}) |"
                f" {totals[3]} ({totals[3] / ticks:.0%}) | {totals[4]}/{totals[0]} |"
            )


if __name__ == "__main__":
    main()
