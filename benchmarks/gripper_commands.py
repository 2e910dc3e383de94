"""How far a bounded residual can change a base policy's gripper: the base's gripper commands along its demonstrations.

    .venv/bin/python benchmarks/gripper_commands.py --base CHECKPOINT --demos DATASET [--num-slots 6]

robosuite's Panda gripper moves by the sign of its command (``PandaGripper.format_action``), so a residual bounded
at ``b`` on the gripper changes what the gripper does only on ticks where ``|base gripper command| < b``. The script
runs the frozen base along every recorded demonstration in order, exactly as the residual learner relabels them
(``robot_rl.rl.demos.relabel_demonstrations``: same frames, same chunk phase), and prints, per tick, the share of
base gripper commands within each bound, and how often the base's sign differs from the demonstrator's executed one
(a tick where the base would open or close at another moment than the demonstration did).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from robot_rl.errors import RobotRLError
from robot_rl.policies.base import load_base_policy
from robot_rl.rl.demos import relabel_demonstrations
from robot_rl.rl.td3 import TD3Config

BOUNDS = (0.2, 0.5, 1.0, 2.0)  # gripper residual bounds to report, normalized action units


def gripper_columns(base: Path, demos: Path, num_slots: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(base gripper command, executed gripper command) per demonstration frame, and the number of episodes."""
    relabelled = relabel_demonstrations(demos, load_base_policy(base), num_slots, TD3Config())
    state = relabelled.buffer.state_dict()
    return state["base_action"][:, -1], state["action"][:, -1], relabelled.episodes


def report(base: Path, demos: Path, base_gripper: np.ndarray, executed: np.ndarray, episodes: int) -> str:
    """The Markdown table of the measurement."""
    magnitude = np.abs(base_gripper)
    lines = [
        f"Base `{base}` along the {episodes} demonstrations of `{demos}` ({len(magnitude)} ticks).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| median \\|base gripper command\\| | {np.median(magnitude):.3f} |",
        f"| 1st percentile of it | {np.percentile(magnitude, 1):.3f} |",
    ]
    for bound in BOUNDS:
        share = float(np.mean(magnitude < bound))
        lines.append(f"| ticks a gripper residual bound of {bound} can flip (\\|base\\| < {bound}) | {share:.1%} |")
    disagree = float(np.mean(np.sign(base_gripper) != np.sign(executed)))
    lines.append(f"| ticks where the base's sign differs from the demonstration's | {disagree:.1%} |")
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, measure, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="frozen base checkpoint (LeRobot pretrained_model)")
    parser.add_argument("--demos", type=Path, required=True, help="its demonstrations (LeRobot dataset)")
    parser.add_argument("--num-slots", type=int, default=6, help="object slots per observation (as the base's)")
    args = parser.parse_args()
    try:
        base_gripper, executed, episodes = gripper_columns(args.base, args.demos, args.num_slots)
    except RobotRLError as error:
        sys.exit(f"error: {error}")
    print(report(args.base, args.demos, base_gripper, executed, episodes))


if __name__ == "__main__":
    main()
