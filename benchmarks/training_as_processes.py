"""Residual training as separate processes against the in-process lockstep graph: the same launch file, arguments
and seeds.

Runs ``launch/train.launch.yaml`` twice for ``--steps`` env steps with the sim slot source (no rendering):
``robot-rl launch --backend inproc`` (every node in one process, in lockstep under sim time: what ``robot-rl
train-residual`` runs) and ``robot-rl launch --backend rclpy`` (one process per node, as ``ros2 launch`` starts
them, every message over Fast DDS on loopback; the sim ticks on its 20 Hz wall timer and waits up to
``command_wait_s`` for each command). Reports both learning curves (the driver's evaluations of the deterministic
residual on the same unseen seeds, with Wilson intervals; the 0-step point is the base alone through each graph),
training env steps/s and learner updates/s (from each run's metrics.csv), the ticks the learner dropped and why (the
driver's closing line), and a plot. Each run is a stage (``<backend>.json``): after an interruption the same
command resumes the unfinished run from its checkpoint and skips the finished one. Two cores: run nothing else
meanwhile. The rclpy run needs ``make setup-ros`` (``--ros-venv``).

    MUJOCO_GL=egl .venv/bin/python benchmarks/training_as_processes.py --task Stack --base models/stack_act \\
        --demos DIR --workdir /tmp/processes --steps 10000 --eval-every 5000 --eval-episodes 20
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from residual_rl import add_base_arguments, curve_points, curve_rows, find_base, plot_curves, rate, training_speeds
from stages import stage

from robot_rl.policies.learning_curve import CURVE_FILE, read_curve
from robot_rl.rl.trainer import METRICS_FILE
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS

REPO = Path(__file__).resolve().parents[1]
BACKENDS = {"inproc": "in-process, lockstep", "rclpy": "separate processes, rclpy + Fast DDS"}
# The driver's closing line: the budget's env steps and the ticks the learner lost to a missing or late message,
# with their reasons ("45 ticks dropped by the learner: 30 no command, 15 no reward"; none after 0).
CLOSING = re.compile(
    r"shutdown requested: trained (\d+) env steps \((\d+) ticks dropped by the learner(?:: ([^)]*))?\)"
)


def launch_command(
    executable: Path, backend: str, out: Path, args: argparse.Namespace, base: Path, demos: Path
) -> list[str]:
    """``robot-rl launch`` of train.launch.yaml with this run's arguments (the same for both backends)."""
    horizon = args.horizon or RECOMMENDED_HORIZON_STEPS.get(args.task, 200)
    arguments = {
        "task": args.task,
        "base": base.resolve(),
        "demos": demos.resolve(),
        "out": out / "run",
        "steps": args.steps,
        "eval_every_steps": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "seed": args.seed,
        "horizon_steps": horizon,
        "slot_source": "sim",
        "device": args.device,
        "calibration_dir": out / "calibration",
    }
    for name in ("learner_params", "safety_params", "intervention_params"):
        path = getattr(args, name)
        if path is not None:
            arguments[name] = path.resolve()
    launch = [str(executable), "launch", "--backend", backend, "launch/train.launch.yaml"]
    return launch + [f"{name}:={value}" for name, value in arguments.items()]


def run(backend: str, executable: Path, out: Path, args: argparse.Namespace, base: Path, demos: Path) -> dict:
    """One training run (resumed from its checkpoint if an earlier one was cut); its curve, speeds and drops."""
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "launch.log"
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(args.domain_id)}
    command = launch_command(executable, backend, out, args, base, demos)
    start = time.perf_counter()
    with open(log_path, "a") as log:
        returncode = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    wall_s = time.perf_counter() - start
    text = log_path.read_text()
    closing = CLOSING.findall(text)
    if returncode != 0 or not closing:
        sys.exit(f"error: the {backend} run did not end at its budget (exit {returncode}); see {log_path}")
    env_steps, dropped, reasons = int(closing[-1][0]), int(closing[-1][1]), closing[-1][2]
    points = read_curve(out / "run" / CURVE_FILE, env_steps)
    return {
        "backend": backend,
        "command": " ".join(command),
        "last_leg_wall_s": wall_s,
        "env_steps": env_steps,
        "dropped_ticks": dropped,
        "drop_reasons": reasons,
        "curve": curve_rows(points),
        "speeds": training_speeds(out / "run" / METRICS_FILE),
    }


def main() -> None:
    """Run (or resume) both trainings and print the Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="Stack")
    parser.add_argument("--workdir", type=Path, required=True, help="one directory per backend, and the plot")
    add_base_arguments(parser)
    parser.add_argument("--steps", type=int, default=10_000, help="training env steps per run (the budget)")
    parser.add_argument("--eval-every", type=int, default=5_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes per evaluation (the same seeds)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the learner and the exploration noise")
    parser.add_argument("--horizon", type=int, default=0, help="control steps per episode (0: the task's default)")
    parser.add_argument("--device", default="simulated", help="teleop device of the person correcting (none: nobody)")
    params = REPO / "benchmarks" / "params"
    parser.add_argument("--learner-params", type=Path, default=params / "learner_gripper_residual.yaml")
    parser.add_argument("--safety-params", type=Path, default=params / "safety_gripper_residual.yaml")
    parser.add_argument("--intervention-params", type=Path, default=params / "intervention_stack_corrections.yaml")
    parser.add_argument("--ros-venv", type=Path, default=REPO / ".venv-ros", help="the venv with rclpy (setup-ros)")
    parser.add_argument(
        "--domain-id",
        type=int,
        default=int(os.environ.get("ROS_DOMAIN_ID", "77")),
        help="ROS_DOMAIN_ID of the rclpy run (default: $ROS_DOMAIN_ID, else 77; the rclpy tier's is 42)",
    )
    args = parser.parse_args()
    base, demos = find_base(args)
    executables = {"inproc": Path(sys.executable).parent / "robot-rl", "rclpy": args.ros_venv / "bin" / "robot-rl"}
    if not executables["rclpy"].exists():
        sys.exit(f"error: {executables['rclpy']} does not exist: run `make setup-ros` first (or pass --ros-venv)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for backend in BACKENDS:
        out = args.workdir / backend
        results[backend] = stage(
            args.workdir / f"{backend}.json", partial(run, backend, executables[backend], out, args, base, demos)
        )
    curves = {BACKENDS[name]: curve_points(result["curve"]) for name, result in results.items()}
    plot_curves(args.workdir / "curves.png", curves, None, f"residual training on {args.task}: in-process vs processes")
    report(args, base, demos, results)


def report(args: argparse.Namespace, base: Path, demos: Path, results: dict[str, dict[str, Any]]) -> None:
    """The Markdown section: the command, both curves side by side, speeds and dropped ticks."""
    command = " ".join(["benchmarks/training_as_processes.py", *sys.argv[1:]])
    print(f"### Residual training as separate processes against in-process: {args.task}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}. Base `{base}`, demos `{demos}`; budget")
    print(f"{args.steps} env steps per run, learner and exploration seed {args.seed}, the sim slot source with")
    print("train.launch.yaml's noise model (perception_v1) in training and in the curve's evaluations, device")
    print(f"`{args.device}`; evaluations of the deterministic residual every")
    print(f"{args.eval_every} env steps on the same {args.eval_episodes} unseen seeds. Launch commands in")
    print(f"`{args.workdir}/<backend>.json`.\n")
    curves = {name: curve_points(result["curve"]) for name, result in results.items()}
    marks = sorted({round(point.env_steps / args.eval_every) for points in curves.values() for point in points})
    print("| env steps | " + " | ".join(BACKENDS.values()) + " |")
    print("|---|" + "---|" * len(BACKENDS))
    for mark in marks:
        cells = []
        for name in BACKENDS:
            point = next((p for p in curves[name] if round(p.env_steps / args.eval_every) == mark), None)
            if point is None:
                cells.append("-")
                continue
            at = "" if point.env_steps == mark * args.eval_every else f" at {point.env_steps}"
            cells.append(rate(point.successes, point.episodes) + at)
        print(f"| {mark * args.eval_every} | " + " | ".join(cells) + " |")
    print("\n| figure | " + " | ".join(BACKENDS.values()) + " |")
    print("|---|" + "---|" * len(BACKENDS))
    rows = {
        "training env steps/s (training episodes)": lambda r: f"{r['speeds']['env_steps_per_s']:.1f}",
        "learner updates/s (training episodes)": lambda r: f"{r['speeds']['updates_per_s']:.1f}",
        "env steps, updates, wall s (whole run)": lambda r: (
            f"{r['speeds']['env_steps']}, {r['speeds']['updates']}, {r['speeds']['wall_s']:.0f}"
        ),
        "ticks the learner dropped": lambda r: (
            str(r["dropped_ticks"]) + (f" ({r['drop_reasons']})" if r.get("drop_reasons") else "")
        ),
    }
    for label, cell in rows.items():
        print(f"| {label} | " + " | ".join(cell(results[name]) for name in BACKENDS) + " |")
    print(f"\nPlot: `{args.workdir}/curves.png`.")


if __name__ == "__main__":
    main()
