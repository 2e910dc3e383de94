"""``robot-rl train-residual``: sim-in-the-loop training of the residual corrector, with its learning curve.

The graph is ``launch/train.launch.yaml`` on the in-process backend, in lockstep under sim time: sim (no rendering)
-> sim slot source (or, with ``slot_source`` perception, the rendering sim -> real perception) -> frozen base ->
residual actor (exploring) -> intervention arbiter -> safety gate -> sim, plus the learner and the training driver
(:mod:`robot_rl.policies.training_driver`), which requests every episode and writes ``curve.csv`` and
``curve.png``. A run resumes from ``OUT/training_state`` after an interruption (the learner restores its networks,
buffers and counters; the driver its schedule from curve.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robot_rl.errors import LearnerError
from robot_rl.policies.learner_node import LearnerNode
from robot_rl.policies.learning_curve import CurvePoint
from robot_rl.policies.training_driver import TrainingDriver, TrainingSchedule
from robot_rl.rl.td3 import TD3Config
from robot_rl.runtime.backend import select_backend
from robot_rl.safety.filter import SafetyConfig
from robot_rl.safety.node import SafetyNode
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS


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
        try:
            self.schedule()
        except LearnerError as error:  # name the command-line flag where there is one, not the driver's parameter
            name, rest = str(error).split(" ", 1)
            flags = {"steps": "--steps", "eval_every_steps": "--eval-every", "eval_episodes": "--eval-episodes"}
            raise LearnerError(f"{flags.get(name, name)} {rest}") from None
        if self.slot_source not in ("sim", "perception"):
            raise LearnerError(f"--slot-source must be sim or perception, got {self.slot_source!r}")
        if self.device not in ("none", "keyboard", "joy", "spacemouse", "simulated"):
            raise LearnerError(f"--device must be none, keyboard, joy, spacemouse or simulated, got {self.device!r}")
        if self.seed < 0:
            raise LearnerError(f"--seed must be >= 0, got {self.seed}")

    def schedule(self) -> TrainingSchedule:
        """The episodes the training driver asks for."""
        return TrainingSchedule(self.steps, self.eval_every_steps, self.eval_episodes, self.eval_seed, self.train_seed)


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
        "steps": str(config.steps),
        "eval_every_steps": str(config.eval_every_steps),
        "eval_episodes": str(config.eval_episodes),
        "eval_seed": str(config.eval_seed),
        "train_seed": str(config.train_seed),
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
    driver = next(node for node in nodes if isinstance(node, TrainingDriver))
    with tqdm(
        total=config.steps, desc=f"train residual {config.task}", unit="step", disable=not config.progress
    ) as bar:
        bar.n = min(learner.trainer.env_steps, config.steps)
        driver.bar = bar
        spin_inproc(context, nodes)
    if not driver.completed:  # Ctrl-C, or a node ended the graph: a partial curve is not the run's result
        raise LearnerError(
            f"training stopped at {learner.trainer.env_steps} of {config.steps} env steps"
            f" ({context.shutdown_reason}); the same command resumes from {config.out / 'training_state'}"
        )
    return driver.curve
