"""What the safety gate clamps when a frozen base policy drives the simulated graph, per axis.

    MUJOCO_GL=egl .venv/bin/python benchmarks/safety_events.py [--task Lift] [--base models/lift_act]
        [--episodes 10] [--seed 1000] [--chunk-mode queue]

Runs ``launch/sim.launch.yaml`` in-process exactly as ``robot-rl eval`` does (sim -> perception -> base ->
residual pass-through -> arbiter, no device -> safety -> sim; episode i on seed ``seed + i``) with one more
node listening to:

- the safety gate's ``/diagnostics``: every tick's reasons, and for a ``per-axis clamp`` the axes whose
  ``requested_<axis>`` lies beyond the gate's ``max_action`` and by how much (the overshoot);
- ``/robot_rl/base_action``: how many published points (point 0 and the whole planned chunk) lie outside
  the action space [-1, 1];
- the base node's saturation counters at the end of the run, the figures of its periodic ``/diagnostics``
  (``saturated_actions``, ``saturated_axes``, ``max_overshoot``; absent before the base node saturated its
  output).

Prints a markdown report: the command, date, machine, seeds, the success rate, the safety events by reason
and the per-axis clamp table (axis, ticks clamped, max overshoot, median overshoot).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import platform
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_NAMES, trajectory_to_actions
from robot_rl.policies.evaluate import SAFETY_NODE, EpisodeMonitor
from robot_rl.runtime import Node, diagnostics, msg
from robot_rl.runtime.backend import select_backend
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS

BASE_NODE = "/base_policy"  # the base node's diagnostic status name
CLAMP = "per-axis clamp"


class SafetyProbe(Node):
    """Collect the safety gate's per-axis clamps, the base action's range and the base node's saturation report."""

    def __init__(self, max_action: np.ndarray, **kwargs: Any) -> None:
        super().__init__("safety_probe", **kwargs)
        self.max_action = max_action
        self.gate_ticks = 0  # safety reports (one per published safe command)
        self.reasons: Counter[str] = Counter()  # reason -> ticks
        self.overshoot: dict[str, list[float]] = defaultdict(list)  # axis -> |requested| - max_action per clamp
        self.clamp_ticks = 0
        self.base_points = self.base_points_out = 0  # all points of /robot_rl/base_action, those outside [-1, 1]
        self.base_ticks = self.base_ticks_out = 0  # point 0 only
        self.base_max_out = 0.0  # largest |value| - 1 over all published points
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.on_base_action, 10)

    def on_diagnostics(self, array: Any) -> None:
        for status in array.status:
            if status.name != SAFETY_NODE:
                continue
            values = {kv.key: kv.value for kv in status.values}
            self.gate_ticks += 1
            if diagnostics.level_of(status) == diagnostics.OK:
                continue
            reasons = {reason.split(":")[0] for reason in status.message.split("; ")}
            self.reasons.update(reasons)
            if CLAMP not in reasons:
                continue
            self.clamp_ticks += 1
            for index, axis in enumerate(ACTION_NAMES):
                requested = values.get(f"requested_{axis}")
                if requested is not None and abs(float(requested)) > self.max_action[index]:
                    self.overshoot[axis].append(abs(float(requested)) - float(self.max_action[index]))

    def on_base_action(self, trajectory: Any) -> None:
        actions = trajectory_to_actions(trajectory)
        beyond = np.abs(actions).max(axis=1) - 1.0
        self.base_points += len(actions)
        self.base_points_out += int(np.sum(beyond > 0))
        self.base_ticks += 1
        self.base_ticks_out += int(beyond[0] > 0)
        self.base_max_out = max(self.base_max_out, float(beyond.max()))


def run(args: argparse.Namespace) -> tuple[EpisodeMonitor, SafetyProbe, Any, float]:
    """Run the graph with the monitor and the probe attached; return both, the base node and the wall time."""
    select_backend("inproc")
    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    arguments = {
        "task": args.task,
        "base": str(args.base),
        "episodes": str(args.episodes),
        "seed": str(args.seed),
        "horizon_steps": str(RECOMMENDED_HORIZON_STEPS.get(args.task, 200)),
        "chunk_mode": args.chunk_mode,
    }
    plan = read_launch_file(resolve_launch_path("robot_rl", "sim.launch.yaml"), arguments)
    context, nodes = build_inproc(plan)
    gate = next(node for node in nodes if node.get_fully_qualified_name() == SAFETY_NODE)
    base = next(node for node in nodes if node.get_fully_qualified_name() == BASE_NODE)
    cli = ["--ros-args", "-p", "use_sim_time:=true"]
    monitor = EpisodeMonitor(context=context, cli_args=cli)
    probe = SafetyProbe(np.asarray(gate.filter.config.max_action, dtype=float), context=context, cli_args=cli)
    start = time.perf_counter()
    try:
        spin_inproc(context, nodes)
        for node in (monitor, probe):
            context.deliver_pending(node.get_fully_qualified_name())
    finally:
        monitor.destroy_node()
        probe.destroy_node()
    return monitor, probe, base, time.perf_counter() - start


def main() -> None:
    """Run the episodes and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="Lift")
    parser.add_argument("--base", type=Path, default=Path("models/lift_act"), help="LeRobot pretrained directory")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000, help="seed of episode 0 (episode i: seed + i)")
    parser.add_argument("--chunk-mode", default="queue", choices=("queue", "ensemble"))
    args = parser.parse_args()
    monitor, probe, base, wall_s = run(args)

    successes = sum(result.success for result in monitor.results)
    command = " ".join(["benchmarks/safety_events.py", *sys.argv[1:]])
    print(f"### Safety events: {args.task}, {args.base}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    last_seed = args.seed + args.episodes - 1
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}; seeds {args.seed}..{last_seed},")
    print(f"chunk mode {args.chunk_mode}, wall time {wall_s:.0f} s.\n")
    print(f"- episodes: {len(monitor.results)}, successes {successes}, ticks gated {probe.gate_ticks}")
    reasons = ", ".join(f"{reason} {count}" for reason, count in probe.reasons.most_common()) or "none"
    print(f"- safety events by reason (ticks): {reasons}")
    print(
        f"- `/robot_rl/base_action` outside [-1, 1]: point 0 in {probe.base_ticks_out}/{probe.base_ticks} ticks,"
        f" {probe.base_points_out}/{probe.base_points} points of the planned chunks, largest excess"
        f" {max(probe.base_max_out, 0.0):.2e}"
    )
    if hasattr(base, "saturated_actions"):
        axes = ", ".join(f"{axis} {n}" for axis, n in base.saturated_axes.most_common()) or "none"
        print(
            f"- base node's saturation: {base.saturated_actions} of {base.actions} actions saturated to [-1, 1]"
            f" ({axes}), max overshoot {base.max_overshoot:.3g} ({base.max_overshoot_axis or 'none'})"
        )
    else:
        print("- base node's saturation: not reported (this base node does not saturate its output)")
    print(f"\n`{CLAMP}` ticks: {probe.clamp_ticks}\n")
    print("| axis | ticks clamped | max overshoot | median overshoot |")
    print("|---|---|---|---|")
    for axis in ACTION_NAMES:
        values = probe.overshoot.get(axis, [])
        if values:
            print(f"| {axis} | {len(values)} | {max(values):.2e} | {float(np.median(values)):.2e} |")
        else:
            print(f"| {axis} | 0 | - | - |")


if __name__ == "__main__":
    main()
