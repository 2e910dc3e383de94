"""Residual RL against its base and a from-scratch peer (issue 10): learning curves, final success, speeds.

    MUJOCO_GL=egl .venv/bin/python benchmarks/residual_rl.py --workdir DIR [--task Stack]
        (--base-workdir BASE_DIR | --base CHECKPOINT --demos DATASET) [--steps 200000] [--eval-every 10000]
        [--eval-episodes 50] [--final-episodes 100] [--perception-episodes N] [--final-jobs 1] [--seed 0] [--skip-peer]
        [--skip-perception-eval] [--device simulated --intervention-params FILE] [--learner-params FILE]
        [--safety-params FILE] [--base-finals DIR]
    MUJOCO_GL=egl .venv/bin/python benchmarks/residual_rl.py --workdir DIR --peer-beside RESULTS_DIR [--task ...]
        [--steps N] [--eval-every N] [--eval-episodes N] [--final-episodes N] [--seed S]

``--base-workdir`` is the ``--workdir`` of ``benchmarks/base_policy.py`` (its ``act/`` or ``diffusion/``
checkpoint and its ``demos/`` dataset). Every stage writes its result under ``--workdir`` and is skipped when
that result exists, so an interrupted run resumes (the two trainings also resume from their own checkpoints):

1. ``raw_sim.json``: raw robosuite state-only steps/s (``RobosuiteAdapter``, no rendering, uniform random actions).
2. ``residual/``, ``residual.json``: ``train_residual`` (frozen base + residual TD3, sim slot source with the
   ``perception_v1`` noise, safety gate) for ``--steps`` env steps, the deterministic residual evaluated every
   ``--eval-every`` steps on seeds 100000.. (its 0-step point is the base alone through the same graph); env
   steps/s and learner updates/s from ``metrics.csv``.
3. ``final_<method>_<slot source>.json``: the base alone and base + residual on ``--final-episodes`` unseen
   seeds 200000.., in the full rendered graph with real perception (``--perception-episodes`` of them, default
   the same number; rendering costs ~20-40 s per Stack episode here) and with the exact sim slot source;
   ``--final-jobs 2`` runs the base's and the residual's at once, one process each (or, when one of them exists
   already, the other's seeds split over two processes). ``--base-finals DIR`` reuses an earlier run's
   ``final_base_<slot source>.json`` instead of evaluating the base again (checked: the same task, base path and
   seeds; the base alone is deterministic on a seed, so the rows are the ones a rerun gives).
4. ``peer/``, ``peer.json``, ``final_sac_sim.json``: Stable-Baselines3 SAC from scratch (``benchmarks/sb3_peer.py``)
   on the same observation vector, sparse reward, horizon, slot noise, env-step budget and evaluation seeds; no
   base and no safety gate. Its final evaluation uses the exact sim slot source only (it is not a graph node).

``--peer-beside RESULTS_DIR`` runs stages 1 and 4 only and reports the SAC peer beside an earlier run's residual:
RESULTS_DIR is that run's ``benchmarks/results/`` directory (``residual.json``, ``final_<method>_<source>.json``),
checked to hold the same task, budget and curve seeds (SAC does not need the base or the demos).

Prints a Markdown section (command, date, machine, seeds, budget; learning curves side by side; final success
with 95 % Wilson intervals; speeds; wall time to each success level) and writes ``curves.png`` in the workdir.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import csv
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sb3_peer import PeerConfig, final_success, train_sac
from stages import stage

from robot_rl.action_space import ACTION_DIM
from robot_rl.policies.evaluate import FAILURE_MODES, evaluate, failure_modes, per_seed, side_by_side
from robot_rl.policies.learning_curve import CurvePoint
from robot_rl.policies.train_residual import TrainResidualConfig, train_residual
from robot_rl.rl.trainer import METRICS_FILE
from robot_rl.runtime.params import load_params_file
from robot_rl.runtime.substitutions import package_share
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.sim.robosuite_adapter import RobosuiteAdapter, SimConfig
from robot_rl.sim.slot_source import NOISE_MODELS
from robot_rl.stats import paired_comparison, wilson_interval

EVAL_SEED = 100_000  # the learning curves' evaluation seeds (TrainResidualConfig's default)
FINAL_SEED = 200_000  # the final evaluation's seeds, unseen by training and by the curves
LEVELS = (0.5, 0.8, 0.9, 0.95)  # success levels whose wall time to reach is reported
SLOT_SOURCES = ("perception", "sim")
# options of the residual's training and finals: --peer-beside refuses them rather than ignore them
RESIDUAL_OPTIONS = (
    "base_workdir",
    "base",
    "demos",
    "base_finals",
    "skip_peer",
    "skip_perception_eval",
    "perception_episodes",
    "learner_params",
    "safety_params",
    "intervention_params",
)


def raw_sim_speed(task: str, steps: int, horizon_steps: int, seed: int) -> dict[str, Any]:
    """Raw robosuite state-only control steps/s with uniform random actions (resets included, not the build)."""
    rng = np.random.default_rng(seed)
    with RobosuiteAdapter(SimConfig(task=task, horizon_steps=horizon_steps, render_camera=False, seed=seed)) as sim:
        start = time.perf_counter()
        sim.reset(seed=seed)
        for _ in range(steps):
            _, _, flags = sim.step(rng.uniform(-1.0, 1.0, ACTION_DIM))
            if flags.timeout:
                sim.reset()
        wall_s = time.perf_counter() - start
    return {"steps": steps, "wall_s": wall_s, "steps_per_s": steps / wall_s}


def training_speeds(metrics_path: Path) -> dict[str, float]:
    """Env steps/s and learner updates/s from metrics.csv (one row per episode, cumulative counters).

    ``train_*`` counts only the wall time of training episodes (a row's wall-time delta since the previous row
    belongs to that row's episode); ``overall_*`` divides by the whole run, evaluations included.
    """
    with open(metrics_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps = wall = updates = 0.0
    previous = {"env_steps": "0", "wall_s": "0", "updates": "0"}
    for row in rows:
        if row["mode"] == "train":
            steps += int(row["env_steps"]) - int(previous["env_steps"])
            wall += float(row["wall_s"]) - float(previous["wall_s"])
            updates += int(row["updates"]) - int(previous["updates"])
        previous = row
    last = rows[-1]
    return {
        "env_steps": int(last["env_steps"]),
        "updates": int(last["updates"]),
        "wall_s": float(last["wall_s"]),
        "train_wall_s": wall,
        "env_steps_per_s": steps / wall if wall else float("nan"),
        "updates_per_s": updates / wall if wall else float("nan"),
        "overall_env_steps_per_s": int(last["env_steps"]) / float(last["wall_s"]),
        "overall_updates_per_s": int(last["updates"]) / float(last["wall_s"]),
    }


def corrections_summary(metrics_path: Path) -> tuple[int, int, int]:
    """(transitions in the corrections buffer, training episodes with a takeover, training episodes).

    The metrics' ``corrections`` column is the corrections buffer's size after each episode (cumulative, capped at
    ``corrections_capacity``), so an episode in which a person took over raises it.
    """
    with open(metrics_path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["mode"] == "train"]
    corrected = previous = 0
    for row in rows:
        corrected += int(row["corrections"]) > previous
        previous = int(row["corrections"])
    return previous, corrected, len(rows)


def paired(base: dict[str, Any], residual: dict[str, Any]) -> tuple[int, int, float]:
    """Seeds where only base + residual / only the base succeeded in two final evaluations, and the McNemar p."""
    return paired_comparison(per_seed(residual), per_seed(base))


def curve_rows(points: list[CurvePoint]) -> list[dict[str, Any]]:
    """A learning curve as JSON rows."""
    return [point.row() for point in points]


def curve_points(rows: list[dict[str, Any]]) -> list[CurvePoint]:
    """JSON rows back to a learning curve."""
    return [
        CurvePoint(int(r["env_steps"]), float(r["wall_s"]), int(r["successes"]), int(r["episodes"]), int(r["updates"]))
        for r in rows
    ]


def time_to_levels(points: list[CurvePoint]) -> dict[str, list[float] | None]:
    """For each success level, (env steps, wall s) of the first evaluation reaching it; None if none did."""
    reached: dict[str, list[float] | None] = {}
    for level in LEVELS:
        first = next((p for p in points if p.success_rate >= level), None)
        reached[str(level)] = None if first is None else [first.env_steps, first.wall_s]
    return reached


def rate(successes: int, episodes: int) -> str:
    """``k/n = p (low-high)`` with the 95 % Wilson interval."""
    low, high = wilson_interval(successes, episodes)
    return f"{successes}/{episodes} = {successes / episodes:.0%} ({low:.0%}-{high:.0%})"


def plot_curves(path: Path, curves: dict[str, list[CurvePoint]], base: CurvePoint | None, title: str) -> None:
    """Success vs env steps and vs wall time of each method, 95 % Wilson bars, the base alone as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for label, points in curves.items():
        rates = np.array([p.success_rate for p in points])
        bounds = np.array([wilson_interval(p.successes, p.episodes) for p in points]).reshape(-1, 2)
        errors = [rates - bounds[:, 0], bounds[:, 1] - rates]
        axes[0].errorbar([p.env_steps for p in points], rates, yerr=errors, marker="o", capsize=3, label=label)
        axes[1].errorbar([p.wall_s / 60 for p in points], rates, yerr=errors, marker="o", capsize=3, label=label)
    for axis, xlabel in zip(axes, ("env steps", "wall time, min"), strict=True):
        if base is not None:
            axis.axhline(base.success_rate, color="grey", linestyle="--", label="base alone")
        axis.set_xlabel(xlabel)
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    episodes = next((points[0].episodes for points in curves.values() if points), 0)
    axes[0].set_ylabel(f"success ({episodes} unseen seeds, 95 % Wilson)")
    axes[0].legend(loc="best")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def reused_base_final(path: Path, task: str, base: Path, episodes: int, first_seed: int) -> dict[str, Any]:
    """An earlier run's final of the base alone (``--base-finals``), if it is one of this run's: else ValueError."""
    try:
        record = json.loads(path.read_text())
        seeds = [episode["seed"] for episode in record["per_episode"]]
        recorded = (record["task"], Path(record["base"]).resolve(), record["residual"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a final evaluation of robot-rl eval --json ({error})") from error
    wanted = (task, base.resolve(), "")
    if recorded != wanted:
        raise ValueError(
            f"{path}: evaluated {recorded[0]} with base {recorded[1]} and residual {recorded[2]!r},"
            f" this run needs {task} with base {wanted[1]} alone"
        )
    if seeds != list(range(first_seed, first_seed + episodes)):
        raise ValueError(f"{path}: its seeds are not {first_seed}..{first_seed + episodes - 1}")
    return record


def run_peer_stages(
    args: argparse.Namespace, workdir: Path, horizon: int, train_seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stage 4: SAC from scratch (``peer.json``) and its final evaluation (``final_sac_sim.json``)."""
    peer_config = PeerConfig(
        task=args.task,
        out=workdir / "peer",
        steps=args.steps,
        eval_every_steps=args.eval_every,
        eval_episodes=args.eval_episodes,
        eval_seed=EVAL_SEED,
        train_seed=train_seed,
        seed=args.seed,
        horizon_steps=horizon,
        slot_noise=args.slot_noise,
    )

    def run_peer() -> dict[str, Any]:
        result = train_sac(peer_config)
        return {
            "curve": curve_rows(result.curve),
            "env_steps": result.env_steps,
            "updates": result.updates,
            "train_wall_s": result.train_wall_s,
            "wall_s": result.curve[-1].wall_s,
            "model": str(result.model_path),
            "time_to_level": time_to_levels(result.curve),
        }

    peer = stage(workdir / "peer.json", run_peer)

    def run_peer_final() -> dict[str, Any]:
        start = time.perf_counter()
        successes, episodes = final_success(peer_config, Path(peer["model"]), args.final_episodes, FINAL_SEED)
        return {"successes": successes, "episodes": episodes, "wall_time_s": time.perf_counter() - start}

    return peer, stage(workdir / "final_sac_sim.json", run_peer_final)


def earlier_residual(
    results: Path, task: str, steps: int, eval_every: int, eval_episodes: int, final_episodes: int
) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any] | None]]:
    """``--peer-beside``: an earlier run's residual stage and finals, if they match this run: else ValueError.

    The same task and final seeds (the sim finals of the base and the residual must be there: they record the
    task), a curve evaluated every ``eval_every`` env steps on ``eval_episodes`` seeds that ends at the budget (an
    evaluation runs at the end of the episode crossing its mark, so up to one horizon later). The slot noise and
    the horizon are not recorded there: they are this command line's.
    """
    try:
        residual = json.loads((results / "residual.json").read_text())
        curve = curve_points(residual["curve"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{results}: no residual stage of benchmarks/residual_rl.py ({error})") from error
    if not curve or any(point.episodes != eval_episodes for point in curve):
        raise ValueError(f"{results}: its curve was not evaluated on {eval_episodes} episodes per point")
    if not steps <= curve[-1].env_steps < steps + max(RECOMMENDED_HORIZON_STEPS.values()):
        raise ValueError(f"{results}: its training ended at {curve[-1].env_steps} env steps, not at {steps}")
    marks = [point.env_steps // eval_every for point in curve[:-1]]  # the last one is the budget's (above)
    if marks != list(range(len(marks))) or len(curve) != -(-steps // eval_every) + 1:
        raise ValueError(f"{results}: its curve was not evaluated every {eval_every} env steps")
    finals: dict[tuple[str, str], dict[str, Any] | None] = {}
    for method in ("base", "residual"):
        for source in SLOT_SOURCES:
            path = results / f"final_{method}_{source}.json"
            if not path.exists() and source == "sim":
                raise ValueError(f"{path}: missing (the sim finals record the task this run is checked against)")
            if not path.exists():
                finals[method, source] = None
                continue
            try:
                record = json.loads(path.read_text())
                seeds = [episode["seed"] for episode in record["per_episode"]]
                recorded_task = record["task"]
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}: not a final evaluation of robot-rl eval --json ({error})") from error
            if recorded_task != task:
                raise ValueError(f"{path}: evaluated {recorded_task}, this run is {task}")
            count = final_episodes if source == "sim" else len(seeds)  # --perception-episodes may differ
            if seeds != list(range(FINAL_SEED, FINAL_SEED + count)):
                raise ValueError(f"{path}: its seeds are not {FINAL_SEED}..{FINAL_SEED + count - 1}")
            finals[method, source] = record
    return residual, finals


def add_base_arguments(parser: argparse.ArgumentParser) -> None:
    """--base-workdir, --base and --demos (read back by :func:`find_base`)."""
    parser.add_argument("--base-workdir", type=Path, help="benchmarks/base_policy.py's --workdir (act/, demos/)")
    parser.add_argument("--base", type=Path, help="frozen base checkpoint (default: BASE_WORKDIR/act)")
    parser.add_argument("--demos", type=Path, help="its demonstrations dataset (default: BASE_WORKDIR/demos)")


def find_base(args: argparse.Namespace) -> tuple[Path, Path]:
    """The base checkpoint and demos: explicit flags, else benchmarks/base_policy.py's workdir layout."""
    base, demos = args.base, args.demos
    if args.base_workdir is not None:
        base = base or next(
            (args.base_workdir / p for p in ("act", "diffusion") if (args.base_workdir / p).is_dir()), None
        )
        demos = demos or args.base_workdir / "demos"
    if base is None or demos is None:
        sys.exit("need --base and --demos, or --base-workdir (benchmarks/base_policy.py's --workdir)")
    return base, demos


def main() -> None:
    """Run (or resume) every stage and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="Stack")
    parser.add_argument("--workdir", type=Path, required=True, help="stage results and both trainings (resumable)")
    add_base_arguments(parser)
    parser.add_argument("--steps", type=int, default=200_000, help="training env steps, each method")
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between curve evaluations")
    parser.add_argument("--eval-episodes", type=int, default=50, help="episodes per curve evaluation")
    parser.add_argument("--final-episodes", type=int, default=100, help="episodes per final evaluation")
    parser.add_argument(
        "--perception-episodes", type=int, help="episodes per final evaluation with perception (default: as final)"
    )
    parser.add_argument(
        "--final-jobs",
        type=int,
        default=1,
        choices=(1, 2),
        help="2: the base's and the residual's final evaluations at once, or one's seeds split, one process each",
    )
    parser.add_argument("--raw-steps", type=int, default=2000, help="steps of the raw robosuite measurement")
    parser.add_argument("--horizon-steps", type=int, help="default: the task's RECOMMENDED_HORIZON_STEPS")
    parser.add_argument("--seed", type=int, default=0, help="learner, SAC and slot-noise seed")
    parser.add_argument("--learner-params", type=Path, help="learner params file, applied after config/learner.yaml")
    parser.add_argument(
        "--safety-params",
        type=Path,
        help="safety gate params file applied after config/safety.yaml, in training and in the finals",
    )
    parser.add_argument(
        "--device", default="none", choices=("none", "simulated"), help="simulated: the scripted expert corrects"
    )
    parser.add_argument(
        "--intervention-params", type=Path, help="the simulated human's rules (default config/intervention.yaml)"
    )
    parser.add_argument(
        "--slot-noise",
        default="perception_v1",
        choices=tuple(NOISE_MODELS),
        help="noise model of the sim slot source while training and in the curve's evaluations",
    )
    parser.add_argument(
        "--train-slot-source",
        default="sim",
        choices=("sim", "perception"),
        help="slots of the residual's training graph and curve: the sim slot source (default) or real perception",
    )
    parser.add_argument(
        "--base-finals",
        type=Path,
        help="an earlier run's --workdir: reuse its final_base_*.json (same task, base and seeds) instead of rerunning",
    )
    parser.add_argument("--skip-peer", action="store_true", help="no SAC peer")
    parser.add_argument(
        "--peer-beside",
        type=Path,
        help="only the SAC peer, reported beside an earlier run's residual (its benchmarks/results/ directory)",
    )
    parser.add_argument("--skip-perception-eval", action="store_true", help="no final evaluation with perception")
    args = parser.parse_args()
    workdir: Path = args.workdir
    horizon = args.horizon_steps or RECOMMENDED_HORIZON_STEPS.get(args.task, 200)
    if args.peer_beside is not None:
        peer_beside(args, workdir, horizon)
        return
    base, demos = find_base(args)
    workdir.mkdir(parents=True, exist_ok=True)
    final_episodes = {"sim": args.final_episodes, "perception": args.perception_episodes or args.final_episodes}
    reused: dict[str, dict[str, Any]] = {}  # --base-finals, checked before anything runs
    for source in SLOT_SOURCES if args.base_finals else ():
        earlier = args.base_finals / f"final_base_{source}.json"
        if earlier.exists():
            try:
                reused[source] = reused_base_final(earlier, args.task, base, final_episodes[source], FINAL_SEED)
            except ValueError as error:
                sys.exit(f"error: --base-finals: {error}")
    if args.base_finals and not reused:
        sys.exit(f"error: --base-finals: no final_base_<sim|perception>.json in {args.base_finals}")

    raw = stage(workdir / "raw_sim.json", lambda: raw_sim_speed(args.task, args.raw_steps, horizon, args.seed))

    residual_out = workdir / "residual"
    residual_config = TrainResidualConfig(
        task=args.task,
        base=base,
        demos=demos,
        out=residual_out,
        steps=args.steps,
        eval_every_steps=args.eval_every,
        eval_episodes=args.eval_episodes,
        eval_seed=EVAL_SEED,
        seed=args.seed,
        horizon_steps=horizon,
        learner_params=args.learner_params,
        safety_params=args.safety_params,
        device=args.device,
        intervention_params=args.intervention_params,
        slot_source=args.train_slot_source,
        slot_noise=args.slot_noise,
    )

    def run_residual() -> dict[str, Any]:
        points = train_residual(residual_config)
        speeds = training_speeds(residual_out / METRICS_FILE)
        return {"curve": curve_rows(points), "speeds": speeds, "time_to_level": time_to_levels(points)}

    residual = stage(workdir / "residual.json", run_residual)
    residual_curve = curve_points(residual["curve"])

    finals: dict[tuple[str, str], dict[str, Any] | None] = {}
    actors = {"base": None, "residual": residual_out / "residual"}
    for source in SLOT_SOURCES:
        if source == "perception" and args.skip_perception_eval:
            finals["base", source] = finals["residual", source] = None
            continue
        paths = {method: workdir / f"final_{method}_{source}.json" for method in actors}
        if source in reused and not paths["base"].exists():
            paths["base"].write_text(json.dumps(reused[source]))
        options = {
            "horizon_steps": horizon,
            "progress": False,
            "slot_source": source,
            "safety_params": args.safety_params,
        }
        if args.final_jobs == 2 and not any(path.exists() for path in paths.values()):
            pair = side_by_side(
                args.task, base, actors["residual"], final_episodes[source], FINAL_SEED, jobs=2, **options
            )
            for path, result in zip(paths.values(), pair, strict=True):
                path.write_text(result.to_json())
        for method, actor in actors.items():
            finals[method, source] = stage(
                paths[method],
                lambda actor=actor, source=source, options=options: json.loads(
                    evaluate(
                        args.task,
                        base,
                        final_episodes[source],
                        seed=FINAL_SEED,
                        residual=actor,
                        jobs=args.final_jobs,
                        **options,
                    ).to_json()
                ),
            )

    peer: dict[str, Any] | None = None
    if not args.skip_peer:
        peer, finals["sac", "sim"] = run_peer_stages(args, workdir, horizon, residual_config.train_seed)
    curves = {"base + residual": residual_curve}
    if peer is not None:
        curves["SAC from scratch"] = curve_points(peer["curve"])
    base_point = residual_curve[0] if residual_curve and residual_curve[0].env_steps == 0 else None
    title = f"{args.task}: residual" + (" vs SAC from scratch" if peer is not None else f" (learner seed {args.seed})")
    plot_curves(workdir / "curves.png", curves, base_point, title)
    report(args, residual_config, base, demos, raw, residual, peer, curves, base_point, finals)


def peer_beside(args: argparse.Namespace, workdir: Path, horizon: int) -> None:
    """``--peer-beside``: stages 1 and 4 (raw sim speed, SAC) and a report beside an earlier run's residual."""
    ignored = [f"--{name.replace('_', '-')}" for name in RESIDUAL_OPTIONS if getattr(args, name)]
    ignored += ["--device"] if args.device != "none" else []
    ignored += ["--train-slot-source"] if args.train_slot_source != "sim" else []
    ignored += ["--final-jobs"] if args.final_jobs != 1 else []
    if ignored:
        sys.exit(f"error: --peer-beside trains only the SAC peer; {', '.join(ignored)} would be ignored")
    try:
        residual, finals = earlier_residual(
            args.peer_beside, args.task, args.steps, args.eval_every, args.eval_episodes, args.final_episodes
        )
    except ValueError as error:
        sys.exit(f"error: --peer-beside: {error}")
    workdir.mkdir(parents=True, exist_ok=True)
    raw = stage(workdir / "raw_sim.json", lambda: raw_sim_speed(args.task, args.raw_steps, horizon, args.seed))
    peer, finals["sac", "sim"] = run_peer_stages(args, workdir, horizon, PeerConfig.train_seed)
    residual_curve = curve_points(residual["curve"])
    curves = {"base + residual": residual_curve, "SAC from scratch": curve_points(peer["curve"])}
    base_point = residual_curve[0] if residual_curve[0].env_steps == 0 else None
    plot_curves(workdir / "curves.png", curves, base_point, f"{args.task}: residual vs SAC from scratch")

    command = " ".join(["benchmarks/residual_rl.py", *sys.argv[1:]])
    print(f"### SAC from scratch beside an earlier residual: {args.task}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}. Budget {args.steps} env steps, horizon")
    print(f"{horizon} steps; training seeds {PeerConfig.train_seed}..; SAC/slot noise seed {args.seed}; curve:")
    last_eval = EVAL_SEED + args.eval_episodes - 1
    print(f"deterministic policy every {args.eval_every} steps on seeds {EVAL_SEED}..{last_eval};")
    print(f"final: seeds {FINAL_SEED}... SAC (Stable-Baselines3 defaults, replay buffer sized to the budget) sees the")
    print(f"residual's observation vector and sparse reward, with `{args.slot_noise}` slot noise, but has no base and")
    print("no safety gate (clipped [-1, 1] actions); its final uses the exact sim slot source. The base's and the")
    print(f"residual's rows (curve, finals, residual speeds) are the earlier run's, read from `{args.peer_beside}`")
    print("(checked: the same task, budget, curve marks and seeds, final seeds; not recorded there, so taken from")
    print("this command line: the slot noise and the horizon); the raw robosuite row is this run's.\n")
    report_tables(args, raw, residual, peer, curves, base_point, finals, missing=f"not in `{args.peer_beside}`")


def takeover_penalty(learner_params: Path | None) -> float:
    """The learner's ``trainer.takeover_penalty`` as the launch sets it: config/learner.yaml, then the overrides.

    The actor checkpoint records the TD3 hyperparameters only, so the report reads the loop's from the files.
    """
    value: Any = 0.0
    for path in (package_share("robot_rl") / "config" / "learner.yaml", learner_params):
        if path is not None:
            value = load_params_file(path).get("/learner", {}).get("trainer.takeover_penalty", value)
    return float(value)


def report(
    args: argparse.Namespace,
    config: TrainResidualConfig,
    base: Path,
    demos: Path,
    raw: dict[str, Any],
    residual: dict[str, Any],
    peer: dict[str, Any] | None,
    curves: dict[str, list[CurvePoint]],
    base_point: CurvePoint | None,
    finals: dict[tuple[str, str], dict[str, Any] | None],
) -> None:
    """Print the Markdown section."""
    command = " ".join(["benchmarks/residual_rl.py", *sys.argv[1:]])
    last_eval = EVAL_SEED + args.eval_episodes - 1
    print(f"### Residual RL against its base and SAC from scratch: {args.task}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}. Base `{base}`, demos `{demos}`.")
    horizon = config.horizon_steps
    print(f"Budget {args.steps} env steps per method, horizon {horizon} steps; training seeds {config.train_seed}..;")
    print(f"learner/SAC/slot noise seed {args.seed}; curve: deterministic policy every {args.eval_every} steps on")
    trained_on = (
        "rendered camera + real perception"
        if config.slot_source == "perception"
        else f"sim slot source with `{config.slot_noise}` noise"
    )
    print(f"seeds {EVAL_SEED}..{last_eval}; final: seeds {FINAL_SEED}.. (each row's count). Training slots:")
    print(f"{trained_on}; final `sim` rows: the exact sim slot source; `perception` rows:")
    print("rendered camera + real perception.", end=" " if peer is not None else "\n\n")
    if peer is not None:
        print("SAC (Stable-Baselines3 defaults, replay buffer sized to the budget) sees the residual's observation")
        print("vector, sparse reward and slot noise but has no base and no safety gate (clipped [-1, 1] actions).\n")
    learner_params = config.learner_params or "config/learner.yaml"
    hyper = json.loads((config.out / "residual" / "config.json").read_text())["td3_config"]
    hyper.setdefault("gripper_residual_scale", hyper.get("residual_scale"))  # format 1: one bound on every axis
    shown = ", ".join(
        f"{k} {hyper.get(k, 0.0)}"
        for k in (
            "actor_lr",
            "critic_lr",
            "residual_penalty",
            "offline_imitation",
            "critic_warmup_updates",
            "residual_scale",
            "gripper_residual_scale",
        )
    )
    shown += f", takeover_penalty {takeover_penalty(config.learner_params)}"
    rules = f" with `{config.intervention_params}`" if config.device != "none" and config.intervention_params else ""
    gate = f"; safety gate overrides `{config.safety_params}`" if config.safety_params is not None else ""
    print(f"Learner params `{learner_params}` ({shown}); corrections device: {config.device}{rules}{gate}.\n")
    if config.device != "none":
        driven, corrected, episodes = corrections_summary(config.out / METRICS_FILE)
        print(
            f"The {config.device} device drove {driven} training transitions (takeovers in {corrected} of"
            f" {episodes} training episodes); nobody drives in an evaluation.\n"
        )
    report_tables(args, raw, residual, peer, curves, base_point, finals)


def report_tables(
    args: argparse.Namespace,
    raw: dict[str, Any],
    residual: dict[str, Any],
    peer: dict[str, Any] | None,
    curves: dict[str, list[CurvePoint]],
    base_point: CurvePoint | None,
    finals: dict[tuple[str, str], dict[str, Any] | None],
    missing: str = "skipped (--skip-perception-eval)",
) -> None:
    """Print the curves, finals, paired comparisons, speeds and time to each level; ``missing``: why a residual's
    or a base's final has no row."""

    print("Learning curves (success, 95 % Wilson interval; an evaluation runs at the end of the episode that")
    print("crosses its mark, so its actual env steps follow the rate when they differ from the row's):\n")
    names = list(curves)
    print(f"| env steps | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    cells: dict[int, dict[str, list[str]]] = {}
    for name, points in curves.items():
        for point in points:
            mark = min(point.env_steps // args.eval_every * args.eval_every, args.steps)
            actual = f" at {point.env_steps}" if point.env_steps != mark else ""
            cells.setdefault(mark, {}).setdefault(name, []).append(rate(point.successes, point.episodes) + actual)
    for mark in sorted(cells):
        print(f"| {mark} | {' | '.join('; '.join(cells[mark].get(name, [])) for name in names)} |")
    if base_point is not None:
        base_rate = rate(base_point.successes, base_point.episodes)
        print(f"\nThe 0-step residual point is the base alone through the training graph: {base_rate}.")

    print(f"\nFinal success (unseen seeds from {FINAL_SEED}, 95 % Wilson interval):\n")
    print(f"| method | slot source | success | mean episode length | failed: {' / '.join(FAILURE_MODES)} | wall time |")
    print("|---|---|---|---|---|---|")
    labels = {"base": "base alone", "residual": "base + residual", "sac": "SAC from scratch"}
    for method in ("base", "residual", "sac"):
        for source in SLOT_SOURCES:
            if method == "sac" and peer is None:
                continue
            result = finals.get((method, source))
            if result is None:
                why = "not a graph node: sim slot source only" if method == "sac" else missing
                print(f"| {labels[method]} | {source} | {why} | | | |")
                continue
            length = f"{result['mean_steps']:.1f}" if "mean_steps" in result else ""
            wall = f"{result['wall_time_s']:.0f} s" if "wall_time_s" in result else ""
            failed = failure_modes(result["per_episode"]) if "per_episode" in result else None
            modes = " / ".join(str(failed[mode]) for mode in FAILURE_MODES) if failed else ""
            success = rate(result["successes"], result["episodes"])
            print(f"| {labels[method]} | {source} | {success} | {length} | {modes} | {wall} |")
    if args.base_finals is not None:
        print(
            f"\nThe base's rows come from `{args.base_finals}` where it held them (--base-finals): their wall"
            " times are that run's."
        )

    for source in SLOT_SOURCES:
        base_final, residual_final = finals.get(("base", source)), finals.get(("residual", source))
        if base_final is not None and residual_final is not None:
            only_residual, only_base, p_value = paired(base_final, residual_final)
            print(
                f"\nPaired on the same {source} seeds: base + residual alone succeeded on {only_residual}, the base"
                f" alone on {only_base} (exact McNemar p = {p_value:.3f})."
            )

    speeds = residual["speeds"]
    print("\nSpeeds (rates over training episodes only, evaluations excluded; whole-run rows include them):\n")
    print("| figure | value |")
    print("|---|---|")
    raw_rate = raw["steps_per_s"]
    print(f"| raw robosuite, state only, random actions | {raw_rate:.0f} steps/s ({raw['steps']} steps) |")
    residual_rate = speeds["env_steps_per_s"]
    print(
        f"| residual training (graph + learner) | {residual_rate:.1f} env steps/s"
        f" ({residual_rate / raw_rate:.0%} of raw),"
        f" {speeds['updates_per_s']:.1f} updates/s |"
    )
    print(
        f"| residual training, whole run | {speeds['env_steps']} env steps, {speeds['updates']} updates in"
        f" {speeds['wall_s']:.0f} s |"
    )
    if peer is not None:
        peer_rate = peer["env_steps"] / peer["train_wall_s"]
        print(
            f"| SAC training | {peer_rate:.1f} env steps/s ({peer_rate / raw_rate:.0%} of raw),"
            f" {peer['updates'] / peer['train_wall_s']:.1f} updates/s |"
        )
        print(
            f"| SAC training, whole run | {peer['env_steps']} env steps, {peer['updates']} updates"
            f" in {peer['wall_s']:.0f} s |"
        )

    print("\nFirst curve evaluation reaching each success level (env steps, wall time incl. evaluations):\n")
    methods = [("base + residual", residual), *([("SAC from scratch", peer)] if peer is not None else [])]
    print(f"| method | {' | '.join(f'>= {level:.0%}' for level in LEVELS)} |")
    print(f"|---|{'---|' * len(LEVELS)}")
    for name, result in methods:
        cells = []
        for level in LEVELS:
            reached = result["time_to_level"][str(level)]
            cells.append("not reached" if reached is None else f"{int(reached[0])} steps, {reached[1] / 60:.1f} min")
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"\nArtifacts (curves.png, stage JSON, trainings) in {args.workdir}.")


if __name__ == "__main__":
    main()
