"""Training throughput of the residual learner: the trainer in its own process against the same trainer in the
graph's process, and raw robosuite as the ceiling.

Runs ``robot-rl train-residual``'s training graph (sim without rendering, sim slot source, base, residual actor,
arbiter, safety gate, learner) for ``--steps`` env steps twice, with ``trainer.own_process`` true (the trainer in
a child process: its updates on the second core, without the graph's GIL) and false (the updates in ``add``, in
the graph's thread: the sim waits for them), from the same seeds and learner parameters (config/learner.yaml, with
``learning_starts_steps`` and ``critic_warmup_updates`` lowered so that actor updates are in the measurement).
Reports env steps/s and learner updates/s over the training episodes (metrics.csv), and raw robosuite steps/s
(state only, random actions) measured in the same run. One evaluation episode at 0 steps and at the end (they are
not counted). Two cores: run nothing else meanwhile.

    MUJOCO_GL=egl .venv/bin/python benchmarks/learner_throughput.py --base-workdir DIR --workdir /tmp/throughput
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import date
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from residual_rl import add_base_arguments, find_base, raw_sim_speed, training_speeds

from robot_rl.policies.train_residual import TrainResidualConfig, train_residual
from robot_rl.rl.trainer import METRICS_FILE
from robot_rl.runtime.substitutions import package_share
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS


def learner_params(path: Path, own_process: bool, learning_starts: int) -> Path:
    """config/learner.yaml with the trainer's placement and an early start of the updates."""
    params = yaml.safe_load((package_share("robot_rl") / "config" / "learner.yaml").read_text())
    values = params["learner"]["ros__parameters"]
    values["trainer"]["own_process"] = own_process
    values["trainer"]["learning_starts_steps"] = learning_starts
    values["td3"]["critic_warmup_updates"] = 0
    path.write_text(yaml.safe_dump(params))
    return path


def main() -> None:
    """Run both placements (fresh output directories) and print the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="Stack")
    parser.add_argument("--workdir", type=Path, required=True, help="output directories of both runs (replaced)")
    add_base_arguments(parser)
    parser.add_argument("--steps", type=int, default=3000, help="training env steps per run")
    parser.add_argument("--learning-starts", type=int, default=200, help="env steps before the first update")
    parser.add_argument("--raw-steps", type=int, default=2000, help="steps of the raw robosuite measurement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    base, demos = find_base(args)
    horizon = RECOMMENDED_HORIZON_STEPS.get(args.task, 200)
    raw = raw_sim_speed(args.task, args.raw_steps, horizon, args.seed)
    results = {}
    for own_process in (True, False):
        name = "own_process" if own_process else "graph_process"
        out = args.workdir / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        config = TrainResidualConfig(
            task=args.task,
            base=base,
            demos=demos,
            out=out / "run",
            steps=args.steps,
            eval_every_steps=args.steps + 1,
            eval_episodes=1,
            seed=args.seed,
            horizon_steps=horizon,
            learner_params=learner_params(out / "learner.yaml", own_process, args.learning_starts),
            progress=False,
        )
        train_residual(config)
        results[name] = training_speeds(config.out / METRICS_FILE)
    (args.workdir / "results.json").write_text(json.dumps({"raw": raw, **results}, indent=2))

    command = " ".join(["benchmarks/learner_throughput.py", *sys.argv[1:]])
    print(f"### Residual learner throughput: {args.task}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}. Base `{base}`; {args.steps} env steps per")
    print(f"run, updates from step {args.learning_starts} (config/learner.yaml otherwise, actor updates from the")
    print("first); rates over the training episodes.\n")
    print("| trainer | env steps/s | learner updates/s |")
    print("|---|---|---|")
    labels = {"own_process": "own process (default)", "graph_process": "in the graph's process (inline)"}
    for name, label in labels.items():
        speeds = results[name]
        print(f"| {label} | {speeds['env_steps_per_s']:.1f} | {speeds['updates_per_s']:.1f} |")
    print(f"| raw robosuite, state only, no learner | {raw['steps_per_s']:.1f} | - |")


if __name__ == "__main__":
    main()
