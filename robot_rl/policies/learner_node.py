"""The learner node: trains the residual from what the graph carries and sends its weights to the actor.

Subscribes the observation inputs the base and the residual read (``/robot_rl/ee_pose``, ``/joint_states``,
``/robot_rl/slots``), ``/robot_rl/base_action`` (the base action of each observation), ``/robot_rl/safe_command``
(the command the safety gate applied: clamps, holds and a person's takeovers are what it learns from),
``/robot_rl/reward``, ``/robot_rl/intervention`` (a person drove the tick: the step is kept as a correction
too, for the offline half of every batch) and ``/robot_rl/episode``. :class:`~robot_rl.rl.transitions.StepBuilder`
pairs them into steps, :class:`~robot_rl.rl.trainer.ResidualTrainer` stores and learns from them (in a child
process by default: :mod:`robot_rl.rl.trainer_process`).

At startup it relabels the demonstrations (``demos``) with the frozen base (``base_path``), run along each episode
in order, for the offline half of every batch and the observation statistics. After every training episode it
publishes the actor on ``/robot_rl/residual/weights`` (latched; the residual node swaps it in at the next
episode start), logs the episode to ``metrics.csv`` and writes checkpoints when due; episodes whose start event
says ``"mode": "eval"`` are logged but not learned from. After every logged episode, and once at startup, it
reports its counters on ``/robot_rl/learner/progress`` (latched), which the training driver
(:mod:`robot_rl.policies.training_driver`) waits for before it requests the next episode. After each executed
command it publishes :data:`TICK_TOPIC` (std_msgs/Header, stamped with the tick's observation), which a sim with
``wait_for_learner`` waits for before its next tick. An existing ``training_state/`` in ``out_dir`` is resumed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from robot_rl.action_space import trajectory_to_actions
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import LearnerError, MessageError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import ChunkingConfig, load_base_policy
from robot_rl.policies.checkpoint_info import checkpoint_fingerprint
from robot_rl.policies.features import ObservationAssembler, residual_observation_names
from robot_rl.policies.residual_node import WEIGHTS_TOPIC, UInt8MultiArray
from robot_rl.policies.training_driver import PROGRESS_TOPIC, LearnerProgress
from robot_rl.rl.checkpoint import ResidualMetadata
from robot_rl.rl.demos import relabel_demonstrations
from robot_rl.rl.replay import concatenate
from robot_rl.rl.td3 import TD3Config
from robot_rl.rl.trainer import TrainerConfig
from robot_rl.rl.trainer_process import LearnerSpec, make_trainer
from robot_rl.rl.transitions import TERMINAL_EVENTS, TRUNCATING_EVENTS, Step, StepBuilder
from robot_rl.runtime import LATCHED, Node, NodeMain, diagnostics, msg

# ROS parameters for the hyperparameters: td3.<field> and trainer.<field>, with the dataclasses' defaults
_TD3_SKIP = ("num_threads", "device", "seed")  # runtime settings, or the node's own seed
_DESCRIPTION = "see docs/rl.md (TD3Config / TrainerConfig)"

# std_msgs/Header after each executed command, stamped with its tick's observation: the sim waits for it when
# wait_for_learner is set (training as processes), so the learner never gets two ticks' messages at once
TICK_TOPIC = "/robot_rl/learner/tick"


class LearnerNode(Node):
    """Thin ROS wrapper around the trainer (:func:`~robot_rl.rl.trainer_process.make_trainer`) and
    :class:`StepBuilder`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("learner", **kwargs)
        declare = self.declare_parameter
        out_dir = declare("out_dir", "", "output directory: residual/, training_state/, metrics.csv (required)").value
        base_path = declare("base_path", "", "the frozen base checkpoint the residual sits on (required)").value
        demos = declare("demos", "", "LeRobot dataset of demonstrations for the offline half of each batch").value
        corrections = declare(
            "corrections", "", "LeRobot dataset of a teleop correction session: its takeovers join the offline half"
        ).value
        task = declare("task", "", "the task, recorded in the residual checkpoint (required)").value
        num_slots = declare("num_slots", 6, "K, object slots in /robot_rl/slots (as the base policy's)").value
        embedding_size = declare("embedding_size", 0, "learned-embedding size per slot (as perception's)").value
        seed = declare("seed", 0, "seeds the networks, the learner's noise and the batch sampling").value
        torch_threads = declare(
            "torch_threads", 1, "torch threads of the learner (1: the other core runs the sim)"
        ).value
        td3 = self._declare_dataclass("td3", TD3Config, _TD3_SKIP)
        trainer = self._declare_dataclass("trainer", TrainerConfig, ())
        for name, value in (("out_dir", out_dir), ("base_path", base_path), ("task", task), ("demos", demos)):
            if not value:
                raise LearnerError(f"parameter {name} is empty: the learner needs it")
        td3_config = TD3Config(**td3, seed=seed, num_threads=torch_threads)
        self.td3_config = td3_config  # what train-residual checks against the safety gate's residual bounds
        slot_size = len(SLOT_FIELDS) + embedding_size  # values per slot in /robot_rl/slots and the datasets
        self.features = residual_observation_names(num_slots, slot_size)
        base = load_base_policy(Path(base_path), "cpu", "", ChunkingConfig(), task)
        demonstrations = relabel_demonstrations(Path(demos), base, num_slots, td3_config, slot_size=slot_size)
        offline = demonstrations.buffer
        if corrections:  # a past session's takeovers: offline data like the demonstrations, reloaded at each start
            recorded = relabel_demonstrations(
                Path(corrections),
                base,
                num_slots,
                td3_config,
                slot_size=slot_size,
                corrections_only=True,
                role="--corrections",
            )
            offline = concatenate(offline, recorded.buffer)
            self.get_logger().info(
                f"learner: {len(recorded.buffer)} corrected ticks from {recorded.episodes} episodes of {corrections}"
            )
        del base  # the actor node and the base node run their own copies
        spec = LearnerSpec(td3_config, len(self.features), demonstrations.obs_mean, demonstrations.obs_std)
        metadata = ResidualMetadata(tuple(self.features), task, checkpoint_fingerprint(Path(base_path)))
        self.trainer = make_trainer(spec, metadata, Path(out_dir), offline, TrainerConfig(**trainer), seed)
        self.get_logger().info(
            f"learner: {demonstrations.episodes} demonstrations ({len(demonstrations.buffer)} transitions) from"
            f" {demos}; resuming at {self.trainer.env_steps} env steps"
            if self.trainer.env_steps
            else f"learner: {demonstrations.episodes} demonstrations ({len(demonstrations.buffer)} transitions)"
        )
        self.assembler = ObservationAssembler(num_slots)
        self.steps = StepBuilder()
        self.mode = "train"
        self.intervening = False  # the intervention flag of this tick (published before its command)
        self.episode_return = 0.0
        self.episode_length = 0
        self.ending: str | None = None  # the end event of an episode not logged yet (a time-out's last step due)
        self.episode: tuple[int, str] | None = None  # (seed, mode) of the running episode, from its start event
        self.weights_pub = self.create_publisher(UInt8MultiArray, WEIGHTS_TOPIC, LATCHED)
        self.progress_pub = self.create_publisher(msg.String, PROGRESS_TOPIC, LATCHED)
        # after each executed command: the stamp of its tick's observation, which a sim with wait_for_learner waits for
        self.tick_pub = self.create_publisher(msg.Header, TICK_TOPIC, 10)
        self.tick_stamp = msg.Time()  # header.stamp of the latest base action (its observation's)
        self.report = diagnostics.Reporter(self)
        take = self.report.guard
        # in the order a transition needs them (the reward and end event of the last tick before the base action that
        # closes it; this tick's flag before its executed command): the in-process backend delivers in publish order,
        # which keeps that order, rclpy's executor runs callbacks that are ready together in subscription order
        self.create_subscription(msg.Float32, "/robot_rl/reward", self.on_reward, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", take(self.assembler.on_ee_pose), 10)
        self.create_subscription(msg.JointState, "/joint_states", take(self.assembler.on_joint_states), 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", take(self.assembler.on_slots), 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", take(self.on_base_action), 10)
        self.create_subscription(msg.Bool, "/robot_rl/intervention", self.on_intervention, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/safe_command", take(self.on_safe_command), 10)
        if self.trainer.actor_updates:
            self.publish_weights()  # a resumed run: the actor continues from its checkpointed weights
        self.publish_progress(self.trainer.summary(), None)  # where a resumed run stands; 0 steps for a new one

    def _declare_dataclass(self, prefix: str, cls: type, skip: tuple[str, ...]) -> dict[str, Any]:
        values = {}
        for field in dataclasses.fields(cls):
            if field.name in skip:
                continue
            default = field.default
            value = self.declare_parameter(
                f"{prefix}.{field.name}", list(default) if isinstance(default, tuple) else default, _DESCRIPTION
            ).value
            values[field.name] = tuple(value) if isinstance(default, tuple) else value
        return values

    # -- the tick --------------------------------------------------------------------------------------

    def on_base_action(self, trajectory: Any) -> None:
        """A base action closes the previous tick's step (with this observation as its next one)."""
        base = trajectory_to_actions(trajectory)[0]
        frame = self.assembler.frame()
        if not frame.is_finite():
            raise MessageError("non-finite observation")
        self.tick_stamp = trajectory.header.stamp
        self._store(self.steps.observe(frame.vector(), base))
        if self.ending is not None:  # that was a time-out's last step: the episode is complete now
            self._finish()

    def on_intervention(self, flag: Any) -> None:
        """Whether a person drives this tick (the arbiter publishes it before the tick's command)."""
        self.intervening = bool(flag.data)

    def on_safe_command(self, trajectory: Any) -> None:
        """The executed action of the current tick; then say the tick is in (the sim may wait for that)."""
        self._store(self.steps.executed(trajectory_to_actions(trajectory)[0], self.intervening))
        self.tick_pub.publish(msg.Header(stamp=self.tick_stamp))

    def on_reward(self, reward: Any) -> None:
        """The reward of the previous tick's executed action."""
        self.steps.reward(float(reward.data))
        if self.steps.running:
            self.episode_return += float(reward.data)
            self.episode_length += 1

    def _store(self, step: Step | None) -> None:
        if step is not None and self.mode == "train":
            self.trainer.add(step)

    # -- episodes --------------------------------------------------------------------------------------

    def on_episode(self, event: Any) -> None:
        """Start and end episodes; after a training episode publish the actor and checkpoint when due."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode event {event.data!r}")
            return
        kind = payload["event"]
        if kind == "start":
            if self.ending is not None:
                self._finish()  # the time-out's final base action never came: finish without its last step
            self.trainer.abort_episode()  # n-step leftovers of an episode that never ended
            self.mode = "eval" if payload.get("mode") == "eval" else "train"
            seed = payload.get("seed")
            self.episode = (seed, self.mode) if isinstance(seed, int) else None
            self.intervening = False
            self.episode_return, self.episode_length = 0.0, 0
            self.steps.start()
        elif kind in TERMINAL_EVENTS or kind in TRUNCATING_EVENTS:
            if not self.steps.running:
                return  # the sim's outcome after a person's (or vice versa): the episode already ended
            self._store(self.steps.end(kind))
            self.ending = kind
            if self.mode == "eval" or not self.steps.awaiting_final_base_action:
                self._finish()  # an evaluation stores no step: nothing to wait for (the run may end right after it)
            # else a training time-out: its last step closes on the final observation's base action, and the
            # episode's log, weights and checkpoint wait for it (a checkpoint now would lose the episode's last steps)

    def _finish(self) -> None:
        """Log the ended episode, checkpoint when due, publish the actor after a training episode."""
        kind, self.ending = self.ending, None
        self.trainer.episode_finished(self.mode, kind == "success", self.episode_return, self.episode_length)
        # summary() waits for every step sent, so its actor_updates is current (a child trainer's counters are
        # otherwise up to max_lag_steps steps behind, and a first actor update in them would publish nothing)
        counters = self.trainer.summary()
        if self.mode == "train" and counters["actor_updates"]:
            self.publish_weights()
        # ticks lost to a missing base action or command so far: in lockstep none; on a robot, a late input
        drops = {f"dropped_{reason.replace(' ', '_')}": count for reason, count in self.steps.drops.items()}
        summary = {**counters, "dropped_ticks": self.steps.dropped, **drops}
        self.report(diagnostics.OK, f"{self.mode} episode {kind}", **summary)
        self.publish_progress(counters, self.episode)

    def publish_progress(self, counters: dict[str, Any], finished: tuple[int, str] | None) -> None:
        """Report the counters after the episode ``finished`` was logged (None: at startup)."""
        progress = LearnerProgress(
            counters["env_steps"],
            counters["episodes"],
            counters["updates"],
            self.trainer.wall_s(),
            finished,
            dict(self.steps.drops),
        )
        self.progress_pub.publish(progress.to_message())

    def publish_weights(self) -> None:
        """Send the current actor to the residual node (it takes it at the next episode start)."""
        blob, version = self.trainer.weights()
        self.weights_pub.publish(UInt8MultiArray(data=list(blob)))
        self.report(diagnostics.OK, f"published residual weights v{version}", version=version)

    def destroy_node(self) -> None:
        """Write a last checkpoint (after every step sent) and end the trainer's process; after a failure of the
        trainer (a diverged critic, a checkpoint that could not be written) no checkpoint, the last good one stands.

        A training episode still running (a stop in the middle of it) ends at its last complete step, as a time-out
        would, and is logged: the checkpoint keeps its steps, and a resumed run starts the next episode instead of
        replaying this one's seed.
        """
        try:
            if self.trainer.failed:  # its last good checkpoint stands; the failure was raised already
                return
            if self.mode == "train" and (self.steps.running or self.ending is not None):
                self._store(self.steps.cut())
                self.trainer.cut_episode()
                self.trainer.episode_finished("train", False, self.episode_return, self.episode_length)
                self.ending = None
            self.trainer.checkpoint()
        finally:
            self.discard_node()

    def discard_node(self) -> None:
        """End the trainer's process and destroy the node without a checkpoint: for a run refused before its
        first step, whose checkpoint would hold the refused config and block a corrected rerun's resume."""
        try:
            self.trainer.close()
        finally:
            super().destroy_node()


main = NodeMain(LearnerNode)
