"""``robot-rl train-residual``: sim-in-the-loop training of the residual corrector, with its learning curve.

The graph is ``launch/train.launch.yaml`` on the in-process backend, in lockstep under sim time: sim (no rendering)
-> sim slot source (or, with ``slot_source`` perception, the rendering sim -> real perception) -> frozen base ->
residual actor (exploring) -> intervention arbiter -> safety gate -> sim, plus the learner. A
:class:`TrainingDriver` requests every episode through the graph (``{"event": "reset", "seed": s, "mode": "train" |
"eval"}`` on ``/robot_rl/episode``): training episodes on seeds ``train_seed + i``, and every
``eval_every_steps`` env steps an evaluation of the deterministic residual on the same ``eval_episodes`` unseen
seeds (``eval_seed + j``), and once more when the budget is spent (at the end of the episode that reached it).
The first evaluation, at 0 steps, runs before any update: the residual is zero, so it measures the base alone
through the same graph. The curve goes to ``curve.csv`` and ``curve.png`` (success vs env
steps and vs wall time, with the base's rate as a line). A run resumes from ``OUT/training_state`` after an
interruption (the learner restores its networks, buffers and counters; the driver its schedule from curve.csv).
"""

from __future__ import annotations

import csv
import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_rl.errors import LearnerError
from robot_rl.policies.evaluate import EpisodeMonitor, EpisodeResult
from robot_rl.policies.learner_node import LearnerNode
from robot_rl.rl.td3 import TD3Config
from robot_rl.rl.trainer import discard_evaluation_rows
from robot_rl.runtime import msg
from robot_rl.runtime.backend import select_backend
from robot_rl.safety.filter import SafetyConfig
from robot_rl.safety.node import SafetyNode
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.stats import wilson_interval

CURVE_FILE = "curve.csv"
PLOT_FILE = "curve.png"
CURVE_FIELDS = ("env_steps", "wall_s", "episodes", "successes", "success_rate", "ci_low", "ci_high", "updates")


@dataclass(frozen=True)
class TrainResidualConfig:
    """What ``robot-rl train-residual`` runs."""

    task: str  # robosuite task
    base: Path  # the frozen base checkpoint (LeRobot pretrained_model directory)
    demos: Path  # LeRobot dataset of demonstrations (relabelled with the base for the offline half)
    out: Path  # output directory (residual/, training_state/, metrics.csv, curve.csv, curve.png)
    steps: int  # training env steps
    eval_every_steps: int = 10_000  # env steps between evaluations, >= 1
    eval_episodes: int = 50  # episodes per evaluation (the same unseen seeds every time), >= 1
    eval_seed: int = 100_000  # seed of evaluation episode 0 (far from the demonstrations' and training seeds)
    # seed of training episode 0 (episode i uses train_seed + i); away from the demonstrations' seeds (0, 1, ...),
    # on which the base is at its best, and from the evaluation seeds
    train_seed: int = 300_000
    seed: int = 0  # learner and exploration seed
    horizon_steps: int | None = None  # control steps per episode; None = the task's recommended horizon
    # where the slots come from while training and evaluating: sim (the sim slot source, no rendering) or perception
    # (the rendered camera and the real perception node: what the residual meets after training)
    slot_source: str = "sim"
    slot_noise: str = "perception_v1"  # noise model of the sim slot source (slot_source sim)
    # params file of the learner, applied after the package's config/learner.yaml; None = that file alone
    learner_params: Path | None = None
    # params file of the safety gate, applied after config/safety.yaml (e.g. a gripper residual bound to match
    # the learner's gripper_residual_scale); None = that file alone
    safety_params: Path | None = None
    device: str = "none"  # teleop device of a person correcting in training episodes (simulated: the expert)
    intervention_params: Path | None = None  # params file of the intervention node; None = config/intervention.yaml
    # LeRobot dataset of a teleop correction session (teleop_correction.launch.yaml): the ticks a person drove
    # join the offline half; None = none
    corrections: Path | None = None
    progress: bool = True  # show a progress bar

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every_steps", "eval_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LearnerError(f"--{name.replace('_', '-')} must be an int >= 1, got {value!r}")
        if self.slot_source not in ("sim", "perception"):
            raise LearnerError(f"--slot-source must be sim or perception, got {self.slot_source!r}")
        if self.device not in ("none", "keyboard", "joy", "spacemouse", "simulated"):
            raise LearnerError(f"--device must be none, keyboard, joy, spacemouse or simulated, got {self.device!r}")
        for name in ("eval_seed", "train_seed", "seed"):
            if getattr(self, name) < 0:
                raise LearnerError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation of the deterministic residual."""

    env_steps: int  # training env steps before it
    wall_s: float  # training wall time before it, s
    successes: int  # successful episodes
    episodes: int  # evaluated episodes
    updates: int  # learner critic updates before it

    @property
    def success_rate(self) -> float:
        """Fraction of successful episodes."""
        return self.successes / self.episodes

    def row(self) -> dict[str, Any]:
        """The point as a curve.csv row."""
        low, high = wilson_interval(self.successes, self.episodes)
        return {
            "env_steps": self.env_steps,
            "wall_s": f"{self.wall_s:.1f}",
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": f"{self.success_rate:.4f}",
            "ci_low": f"{low:.4f}",
            "ci_high": f"{high:.4f}",
            "updates": self.updates,
        }


def read_curve(path: Path, up_to_steps: int) -> list[CurvePoint]:
    """The evaluations in curve.csv made at or before ``up_to_steps`` (a resumed run redoes the later ones)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        CurvePoint(int(r["env_steps"]), float(r["wall_s"]), int(r["successes"]), int(r["episodes"]), int(r["updates"]))
        for r in rows
        if int(r["env_steps"]) <= up_to_steps
    ]


def write_curve(path: Path, points: list[CurvePoint]) -> None:
    """Write curve.csv from scratch (small: one row per evaluation)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(point.row() for point in points)


def plot_curve(
    path: Path,
    points: list[CurvePoint],
    title: str,
    label: str = "base + residual (deterministic)",
    base_line: bool = True,
) -> None:
    """Success vs env steps and vs wall time, with 95 % Wilson bars and, with ``base_line``, the base's rate (the
    0-step point of a residual is the base alone)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    rates = [point.success_rate for point in points]
    intervals = [wilson_interval(point.successes, point.episodes) for point in points]
    errors = [
        [rate - low for rate, (low, _) in zip(rates, intervals, strict=True)],
        [high - rate for rate, (_, high) in zip(rates, intervals, strict=True)],
    ]
    for axis, xs, label in (
        (axes[0], [point.env_steps for point in points], "env steps"),
        (axes[1], [point.wall_s / 60.0 for point in points], "wall time, min"),
    ):
        axis.errorbar(xs, rates, yerr=errors, marker="o", capsize=3, label=label)
        if base_line and points and points[0].env_steps == 0:
            axis.axhline(points[0].success_rate, color="grey", linestyle="--", label="base alone (0 steps)")
        axis.set_xlabel(label)
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"success ({points[0].episodes if points else 0} unseen seeds, 95 % Wilson)")
    axes[0].legend(loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


class TrainingDriver(EpisodeMonitor):
    """Requests every episode (training seeds, then evaluations when due) and records the learning curve."""

    def __init__(self, config: TrainResidualConfig, learner: LearnerNode, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.learner = learner
        trainer = learner.trainer
        self.curve = read_curve(config.out / CURVE_FILE, trainer.env_steps)
        if not self.curve or self.curve[-1].env_steps != trainer.env_steps:
            # an evaluation at the checkpoint's step that a stop cut short is redone in full: its rows go
            discard_evaluation_rows(config.out, trainer.env_steps)
        self.next_eval_at = self.curve[-1].env_steps + config.eval_every_steps if self.curve else 0
        self.train_episodes = trainer.episodes
        self.evaluating: list[EpisodeResult] | None = None  # results of the running evaluation
        self.recent: deque[bool] = deque(maxlen=20)  # successes of the last training episodes
        self.bar: Any = None
        self.completed = False  # the budget is spent and its final evaluation done
        self.reset_pub = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.on_result = self.on_episode_result
        self.request_next()

    def request_next(self) -> None:
        """Start an evaluation when due, else the next training episode; end the run when the budget is spent."""
        # a training time-out's last step is stored on the final observation's base action, after this event
        pending = self.learner.mode == "train" and self.learner.steps.awaiting_final_base_action
        steps = self.learner.trainer.env_steps + int(pending)
        finished = steps >= self.config.steps
        evaluated_now = bool(self.curve) and self.curve[-1].env_steps == steps
        if self.evaluating is None and (steps >= self.next_eval_at or finished) and not evaluated_now:
            self.evaluating = []  # due, or the final evaluation after the budget
        if self.evaluating is not None:
            index = len(self.evaluating)
            self._reset(self.config.eval_seed + index, "eval")
            return
        if finished:
            self.completed = True
            self.request_shutdown(f"trained {steps} env steps")
            return
        self._reset(self.config.train_seed + self.train_episodes, "train")

    def _reset(self, seed: int, mode: str) -> None:
        self.reset_pub.publish(msg.String(data=json.dumps({"event": "reset", "seed": seed, "mode": mode})))

    def on_episode_result(self, result: EpisodeResult) -> None:
        """An episode ended: record it and request the next one."""
        trainer = self.learner.trainer
        if self.evaluating is not None:
            self.evaluating.append(result)
            if len(self.evaluating) == self.config.eval_episodes:
                self._finish_evaluation()
        else:
            self.train_episodes += 1
            self.recent.append(result.success)
        if self.bar is not None:
            self.bar.n = min(trainer.env_steps, self.config.steps)
            last = self.curve[-1].success_rate if self.curve else float("nan")
            self.bar.set_postfix(
                recent=f"{sum(self.recent)}/{len(self.recent)}",
                eval=f"{last:.2f}",
                upd_s=f"{trainer.updates_per_s():.0f}",
                mode="eval" if self.evaluating is not None else "train",
            )
            self.bar.refresh()
        self.request_next()

    def _finish_evaluation(self) -> None:
        trainer = self.learner.trainer
        results = self.evaluating or []
        point = CurvePoint(
            trainer.env_steps,
            trainer.wall_s(),
            sum(result.success for result in results),
            len(results),
            trainer.critic_updates,
        )
        self.curve.append(point)
        self.evaluating = None
        self.next_eval_at = point.env_steps + self.config.eval_every_steps
        write_curve(self.config.out / CURVE_FILE, self.curve)
        plot_curve(self.config.out / PLOT_FILE, self.curve, f"residual TD3 on {self.config.task}")


def check_residual_bounds(td3: TD3Config, gate: SafetyConfig) -> None:
    """LearnerError when the learner's residual may go beyond the safety gate's residual bound on some axis
    (:meth:`SafetyConfig.residual_bound_excess`)."""
    excess = gate.residual_bound_excess(td3.residual_scale, td3.gripper_residual_scale)
    if excess is not None:
        raise LearnerError(
            f"the learner's {excess}: give train-residual a --safety-params file that raises the gate's"
            f" (benchmarks/params/safety_gripper_residual.yaml) or lower the learner's"
        )


def train_residual(config: TrainResidualConfig) -> list[CurvePoint]:
    """Run (or resume) a training run; returns the learning curve.

    Raises:
        LearnerError: If the learner's residual bound exceeds the safety gate's, or the run stopped before its
            budget and final evaluation (Ctrl-C, a node that ended the graph): its checkpoint is written, and
            the same call resumes from it.
    """
    select_backend("inproc")
    from tqdm import tqdm

    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    arguments = {
        "task": config.task,
        "base": str(config.base),
        "demos": str(config.demos),
        "out": str(config.out),
        "seed": str(config.seed),
        "horizon_steps": str(config.horizon_steps or RECOMMENDED_HORIZON_STEPS.get(config.task, 200)),
        "slot_source": config.slot_source,
        "slot_noise": config.slot_noise,
        "device": config.device,
    }
    if config.learner_params is not None:
        arguments["learner_params"] = str(config.learner_params)
    if config.intervention_params is not None:
        arguments["intervention_params"] = str(config.intervention_params)
    if config.safety_params is not None:
        arguments["safety_params"] = str(config.safety_params)
    if config.corrections is not None:
        arguments["corrections"] = str(config.corrections)
    plan = read_launch_file(resolve_launch_path("robot_rl", "train.launch.yaml"), arguments)
    context, nodes = build_inproc(plan)
    learner = next(node for node in nodes if isinstance(node, LearnerNode))
    gate = next(node for node in nodes if isinstance(node, SafetyNode))
    try:
        check_residual_bounds(learner.td3_config, gate.filter.config)
    except LearnerError:
        for node in nodes:
            if node is learner:
                learner.discard_node()  # no checkpoint: it would record the refused bound
            else:
                node.destroy_node()
        raise
    args = ["--ros-args", "-p", "use_sim_time:=true"]
    driver = TrainingDriver(config, learner, context=context, cli_args=args)
    with tqdm(
        total=config.steps, desc=f"train residual {config.task}", unit="step", disable=not config.progress
    ) as bar:
        bar.n = min(learner.trainer.env_steps, config.steps)
        driver.bar = bar
        try:
            spin_inproc(context, nodes)
        finally:
            driver.destroy_node()
    if not driver.completed:  # Ctrl-C, or a node ended the graph: a partial curve is not the run's result
        raise LearnerError(
            f"training stopped at {learner.trainer.env_steps} of {config.steps} env steps"
            f" ({context.shutdown_reason}); the same command resumes from {config.out / 'training_state'}"
        )
    return driver.curve
