"""The base-policy pipeline end to end: collect demos, train a LeRobot policy, evaluate it in the graph.

    MUJOCO_GL=egl .venv/bin/python benchmarks/base_policy.py [--task Lift] [--demos 50] [--steps 2000]
        [--episodes 100] [--eval-seed 1000] [--policy act] [--workdir DIR] [--slot-source perception|sim]
        [--slot-noise none|perception_v1] [--jobs 1|2]

1. ``collect-demos``: the scripted expert through sim -> perception -> expert -> safety (seeds 0, 1, ...);
   every attempt counts toward the expert's success rate. ``--slot-source sim`` replaces the camera and
   perception by the sim slot source (with the ``--slot-noise`` model): a base for the residual's training graph.
2. ``train-base``: LeRobot ACT (or Diffusion) on the CPU with robot_rl's defaults.
3. ``eval``: the frozen base in sim -> perception -> base -> safety, seeds 1000, 1001, ... (unseen; ``--eval-seed``
   moves them; ``--jobs 2`` splits them over two processes), with the same slot source as the demonstrations (the
   sim slot source without noise). The result is also written to ``WORKDIR/evaluation.json`` (``robot-rl eval
   --json``'s format, per-episode results included), so ``benchmarks/compare_finals.py`` can pair it with another
   evaluation on the same seeds.
4. Per-tick latency of the base policy on one core (one torch thread): the node's per-tick call
   (observation features -> chunker -> action) on the recorded observations of the dataset.

With ``--workdir`` the run resumes: each of stages 1-3 writes its result there (``collect.json`` next to the
``demos/`` dataset, ``train_<policy>.json`` next to the checkpoint, ``evaluation.json``) and is skipped when that file
exists; a ``demos/`` left by an interrupted collection is refused with one ``error:`` line (remove it to collect
again), and an interrupted training starts over.

Prints a markdown report: the command, machine, date, seeds and every figure with its source.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stages import stage

from robot_rl.data.collect import collect_demos
from robot_rl.policies.base import load_base_policy
from robot_rl.policies.evaluate import FAILURE_MODES, evaluate
from robot_rl.policies.features import ENVIRONMENT_STATE_KEY, STATE_KEY
from robot_rl.policies.train_base import TrainConfig, train_base
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.stats import wilson_interval
from robot_rl.torch_env import prepare_torchvision


def tick_latency_ms(checkpoint: Path, dataset_dir: Path, ticks: int) -> tuple[float, float]:
    """Median and p99 per-tick time of the frozen policy on recorded observations, one torch thread, ms."""
    import torch

    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    torch.set_num_threads(1)
    dataset = LeRobotDataset("local/robot_rl", root=dataset_dir)
    policy = load_base_policy(checkpoint)
    times = []
    for index in range(min(ticks, dataset.num_frames)):
        frame = dataset[index]
        if index == 0 or frame["frame_index"] == 0:
            policy.reset()
        features = {key: frame[key].numpy() for key in (STATE_KEY, ENVIRONMENT_STATE_KEY)}
        start = time.perf_counter()
        policy.act(features)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3), float(np.percentile(times, 99) * 1e3)


def main() -> None:
    """Run the pipeline and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="Lift")
    parser.add_argument("--demos", type=int, default=50, help="demonstrations to collect")
    parser.add_argument("--policy", default="act", help="act or diffusion")
    parser.add_argument("--steps", type=int, default=TrainConfig().steps, help="training updates")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes")
    parser.add_argument("--eval-seed", type=int, default=1000, help="first evaluation seed (unseen by the demos)")
    parser.add_argument("--horizon-steps", type=int, help="default: the task's RECOMMENDED_HORIZON_STEPS")
    parser.add_argument("--seed", type=int, default=0, help="demo seed base and training seed")
    parser.add_argument("--workdir", type=Path, help="keep the dataset and checkpoint here (default: a temp dir)")
    parser.add_argument("--slot-source", default="perception", choices=("perception", "sim"), help="demos and eval")
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2), help="evaluation processes (seeds split)")
    parser.add_argument("--slot-noise", default="none", choices=("none", "perception_v1"), help="demos' sim slot noise")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="robot_rl_base_"))
    dataset_dir, checkpoint = workdir / "demos", workdir / args.policy
    if dataset_dir.exists() and not (workdir / "collect.json").exists():
        sys.exit(f"error: {dataset_dir} is left from an interrupted collection (no collect.json): remove it")

    def collect() -> dict[str, Any]:
        start = time.perf_counter()
        result = collect_demos(
            args.task,
            args.demos,
            dataset_dir,
            seed=args.seed,
            horizon_steps=args.horizon_steps,
            progress=False,
            slot_source=args.slot_source,
            slot_noise=args.slot_noise,
        )
        fields = ("saved_episodes", "attempted_episodes", "successes", "frames")
        return {**{name: getattr(result, name) for name in fields}, "wall_time_s": time.perf_counter() - start}

    def train() -> dict[str, Any]:
        config = TrainConfig(policy=args.policy, steps=args.steps, seed=args.seed)
        result = train_base(dataset_dir, checkpoint, config, overwrite=True)  # a training cut short starts over
        fields = ("steps", "wall_time_s", "final_loss", "checkpoint_size_bytes", "num_parameters")
        return {name: getattr(result, name) for name in fields}

    def evaluation_stage() -> dict[str, Any]:
        result = evaluate(
            args.task,
            checkpoint,
            args.episodes,
            seed=args.eval_seed,
            horizon_steps=args.horizon_steps,
            progress=False,
            slot_source=args.slot_source,
            jobs=args.jobs,
        )
        return json.loads(result.to_json())

    demos = stage(workdir / "collect.json", collect)
    result = stage(workdir / f"train_{args.policy}.json", train)
    evaluation = stage(workdir / "evaluation.json", evaluation_stage)
    median_ms, p99_ms = tick_latency_ms(checkpoint, dataset_dir, ticks=2000)

    expert_low, expert_high = wilson_interval(demos["successes"], demos["attempted_episodes"])
    base_low, base_high = evaluation["ci95"]
    command = " ".join(["benchmarks/base_policy.py", *sys.argv[1:]])
    print(f"### Base policy pipeline: {args.task}, {args.policy}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}; demo seeds {args.seed}..,")
    last_eval_seed = args.eval_seed + args.episodes - 1
    print(f"training seed {args.seed}, evaluation seeds {args.eval_seed}..{last_eval_seed}; slot source")
    print(f"{args.slot_source} (demonstrations' slot noise {args.slot_noise}, evaluation without noise).\n")
    print("| figure | value |")
    print("|---|---|")
    attempted, kept = demos["attempted_episodes"], demos["saved_episodes"]
    print(
        f"| expert success (all collection attempts) | {demos['successes']}/{attempted}"
        f" = {demos['successes'] / attempted:.1%} (95% CI {expert_low:.1%}-{expert_high:.1%}) |"
    )
    print(f"| demonstrations kept | {kept} episodes, {demos['frames']} frames ({demos['wall_time_s']:.0f} s) |")
    print(
        f"| training | {result['steps']} updates in {result['wall_time_s']:.0f} s, final loss"
        f" {result['final_loss']:.4f}, {result['num_parameters']:,} parameters |"
    )
    print(f"| checkpoint size | {result['checkpoint_size_bytes'] / 1e6:.2f} MB |")
    print(
        f"| base success | {evaluation['successes']}/{evaluation['episodes']} = {evaluation['success_rate']:.1%}"
        f" (95% Wilson CI {base_low:.1%}-{base_high:.1%}) |"
    )
    failed = evaluation["failure_modes"]
    print(f"| base failures: {' / '.join(FAILURE_MODES)} | {' / '.join(str(failed[m]) for m in FAILURE_MODES)} |")
    horizon = args.horizon_steps or RECOMMENDED_HORIZON_STEPS.get(args.task, 200)
    print(f"| base mean episode length | {evaluation['mean_steps']:.1f} steps (horizon {horizon}) |")
    print(f"| evaluation wall time | {evaluation['wall_time_s']:.0f} s |")
    print(f"| base per-tick latency, one thread | median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms |")
    print(f"\nArtifacts in {workdir}.")


if __name__ == "__main__":
    main()
