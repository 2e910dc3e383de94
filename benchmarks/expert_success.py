"""Measure the scripted experts' success rate in the robosuite tasks (state-only simulation).

    MUJOCO_GL=egl .venv/bin/python benchmarks/expert_success.py [--tasks Lift Stack PickPlaceCan]
        [--episodes 50] [--seed 0] [--horizon-steps N]

Episode i of a task runs in a fresh adapter with seed ``--seed + i`` (object placement and arm
noise; Lift's cube size comes from ``SimConfig.model_seed``, the same in every adapter). The expert
acts on ExpertInput.from_observation each control step (20 Hz) until the task's success check first
holds (the episode ends there, as StepFlags.done says) or the horizon runs out (each task's
RECOMMENDED_HORIZON_STEPS unless ``--horizon-steps``). Prints a Markdown table (paste into
docs/benchmarks.md): successes, the success rate with its 95 % Wilson interval, mean and longest
control steps to success (what the horizon must cover) and wall time (including building each
episode's adapter, ~0.3 s)."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import date

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np

from robot_rl.sim import RobosuiteAdapter, SimConfig
from robot_rl.sim.experts import EXPERTS, RECOMMENDED_HORIZON_STEPS, ExpertInput, make_expert
from robot_rl.stats import wilson_interval


def run_episode(task: str, seed: int, horizon_steps: int) -> int | None:
    """Control steps until success in one seeded episode, or None if it timed out."""
    expert = make_expert(task)
    config = SimConfig(task=task, horizon_steps=horizon_steps, render_camera=False, seed=seed)
    with RobosuiteAdapter(config) as adapter:
        observation = adapter.reset(seed=seed)
        for step in range(1, horizon_steps + 1):
            observation, _, flags = adapter.step(expert.act(ExpertInput.from_observation(observation)))
            if flags.success:
                return step
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(EXPERTS), default=list(EXPERTS), help="tasks to run")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per task")
    parser.add_argument("--seed", type=int, default=0, help="base seed; episode i uses seed + i")
    parser.add_argument("--horizon-steps", type=int, help="control steps per episode (default: per task)")
    args = parser.parse_args()
    if args.episodes < 1 or args.seed < 0 or (args.horizon_steps is not None and args.horizon_steps < 1):
        parser.error("--episodes and --horizon-steps must be >= 1, --seed >= 0")
    command = shlex.join(["benchmarks/expert_success.py", *sys.argv[1:]])
    print(f"`{command}`")
    print(
        f"Date {date.today().isoformat()}; {platform.platform()}, {os.cpu_count()} CPUs, Python"
        f" {platform.python_version()}; seeds {args.seed}-{args.seed + args.episodes - 1} per task,"
        " state-only robosuite at 20 Hz.\n"
    )
    print(
        "| task | horizon | episodes | successes | success rate (95% Wilson CI) | steps to success, mean / max"
        " | wall time |"
    )
    print("|---|---|---|---|---|---|---|")
    failures = []
    for task in args.tasks:
        horizon = args.horizon_steps or RECOMMENDED_HORIZON_STEPS[task]
        start = time.perf_counter()
        steps = [run_episode(task, args.seed + i, horizon) for i in range(args.episodes)]
        wall_s = time.perf_counter() - start
        done = [s for s in steps if s is not None]
        low, high = wilson_interval(len(done), args.episodes)
        mean_steps = f"{np.mean(done):.1f} / {max(done)}" if done else "-"
        print(
            f"| {task} | {horizon} | {args.episodes} | {len(done)} | {len(done) / args.episodes:.0%}"
            f" ({low:.0%}-{high:.0%}) | {mean_steps} | {wall_s:.1f} s |"
        )
        failed = [str(args.seed + i) for i, s in enumerate(steps) if s is None]
        if failed:
            failures.append(f"{task}: {', '.join(failed)}")
    print(f"\nFailed seeds: {'; '.join(failures) if failures else 'none'}.")


if __name__ == "__main__":
    main()
