"""The base policy node: a frozen LeRobot policy turns each observation into an action chunk.

Subscribes ``/robot_rl/ee_pose`` (PoseStamped, base_link), ``/joint_states`` (the finger joints),
``/robot_rl/slots`` (PointCloud2 from perception), optionally ``/camera/color/image_raw`` (rgb8), and
``/robot_rl/episode`` (JSON events). It acts once per slots message, the last input of a control tick:
the observation is assembled as the recorder assembles it (:class:`ObservationAssembler`), checked, and
:class:`FrozenBasePolicy` predicts through its chunker. At start-up, a checkpoint with a
``robot_rl_checkpoint.json`` must match its recorded weights hash, the ``task`` parameter (unless
``allow_task_mismatch``: a WARN) and the named dimensions the assembler feeds; without one, a WARN says so.

Publishes ``/robot_rl/base_action`` (JointTrajectory, joint_names = the action dims, one point per planned
tick, point 0 = this tick's action), ``/robot_rl/policy_action`` (this tick's action, one point; off when a
residual node publishes it) and ``/diagnostics`` (inference latency; every skipped tick says why).

Everything published lies in the action space [-1, 1] per axis: the policy's de-normalized output (LeRobot
policies regress in normalized units and unnormalize with the dataset's mean/std, so nothing bounds it) is
saturated, the whole planned chunk as this tick's action. The periodic diagnostic counts the actions that
were saturated, per axis, and the largest overshoot, so a policy that really leaves the action space is visible.

A tick is skipped, with nothing published, when an input is missing (WARN), inputs are further apart than
``max_input_spread_s`` (WARN) or the observation is not finite (ERROR); the plan is then dropped, so the
next tick predicts afresh. The weights hash is verified at every episode start and end: a mismatch is an
ERROR and the node never publishes an action again (``frozen_violation``).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

from robot_rl.action_space import ACTION_NAMES, actions_to_trajectory, saturate_actions
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import MessageError, PolicyError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import ChunkingConfig, load_base_policy
from robot_rl.policies.checkpoint_info import layouts_from_features
from robot_rl.policies.features import (
    ENVIRONMENT_STATE_KEY,
    IMAGE_KEY,
    STATE_KEY,
    STATE_NAMES,
    ObservationAssembler,
    dataset_features,
)
from robot_rl.runtime import SENSOR_DATA, Node, NodeMain, diagnostics, msg

END_EVENTS = ("success", "timeout", "failure")  # episode events after which the weights are verified


class BasePolicyNode(Node):
    """Thin ROS wrapper around :class:`FrozenBasePolicy` and :class:`ObservationAssembler`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("base_policy", **kwargs)
        declare = self.declare_parameter
        path = declare("pretrained_path", "", "LeRobot pretrained_model directory (required; local only)").value
        device = declare("device", "cpu", "torch device of the policy: cpu, cuda, cuda:1, ...").value
        num_slots = declare("num_slots", 6, "K, object slots in /robot_rl/slots (as perception's num_slots)").value
        embedding_size = declare("embedding_size", 0, "learned-embedding size per slot (as perception's)").value
        use_image = declare("use_image", False, "subscribe /camera/color/image_raw and feed the RGB image").value
        mode = declare("chunk_mode", "queue", "queue: run n_action_steps of each chunk; ensemble: ACT ensembling").value
        n_steps = declare("n_action_steps", 0, "queue mode: actions run per chunk; 0 = the policy config's").value
        coeff = declare("ensemble_coeff", 0.01, "ensemble mode: weight exp(-coeff * i), i = 0 the oldest").value
        instruction = declare("task_instruction", "", "language instruction passed as 'task' to VLA policies").value
        task = declare("task", "", "task the checkpoint must be trained on (robot_rl_checkpoint.json); '' = any").value
        allow_task_mismatch = declare(
            "allow_task_mismatch", False, "run a checkpoint trained on another task (with a warning)"
        ).value
        self.period_s = declare("control_period_s", 0.05, "control period: time_from_start step of a chunk, s").value
        self.max_spread_s = declare("max_input_spread_s", 0.1, "skip a tick whose inputs are further apart, s").value
        self.report_period_s = declare(
            "report_period_s", 1.0, "period of the latency diagnostic, s; 0 = every tick"
        ).value
        self.base_frame = declare("base_frame", "base_link", "frame_id of the published actions").value
        publish_policy_action = declare(
            "publish_policy_action", True, "publish this tick's action on /robot_rl/policy_action (no residual node)"
        ).value
        if not path:
            raise PolicyError("parameter pretrained_path is empty: set it to a LeRobot pretrained_model directory")
        if not self.period_s > 0 or not self.max_spread_s >= 0 or num_slots < 1 or embedding_size < 0:
            raise PolicyError(
                "need control_period_s > 0, max_input_spread_s >= 0, num_slots >= 1, embedding_size >= 0; got"
                f" {self.period_s}, {self.max_spread_s}, {num_slots}, {embedding_size}"
            )
        chunking = ChunkingConfig(mode, n_steps, coeff)
        self.policy = load_base_policy(Path(path), device, instruction, chunking, task, allow_task_mismatch)
        for warning in self.policy.warnings:
            self.get_logger().warning(warning)
        available: dict[str, tuple[int, ...] | None] = {
            STATE_KEY: (len(STATE_NAMES),),
            ENVIRONMENT_STATE_KEY: (num_slots * (len(SLOT_FIELDS) + embedding_size),),
        }
        if use_image:
            available[IMAGE_KEY] = None  # the size is checked on every frame
        # the named dimensions that the assembler feeds and the action space downstream expects
        layout = layouts_from_features(dataset_features(num_slots, len(SLOT_FIELDS) + embedding_size))
        try:
            self.policy.check_inputs(available, layout=layout)
        except PolicyError as error:
            hint = f"num_slots={num_slots}, embedding_size={embedding_size}, use_image={str(use_image).lower()}"
            raise PolicyError(f"{error} ({hint})") from error
        if use_image and IMAGE_KEY not in self.policy.input_features:
            self.get_logger().warning(f"use_image is true but the policy takes no {IMAGE_KEY}")
        self.assembler = ObservationAssembler(num_slots, use_image)
        self.frozen_violation = False  # latched: the weights changed, no action is ever published again
        self.ticks = self.actions = 0
        self.saturated_actions = 0  # published actions (point 0) that the policy put outside [-1, 1]
        self.saturated_axes: Counter[str] = Counter()  # axis -> saturated actions
        self.max_overshoot = 0.0  # largest |value| - 1 of an action before saturation
        self.max_overshoot_axis = ""
        self.latencies_s: list[float] = []  # act() durations since the last report
        self.last_report_s = -math.inf
        self.base_action_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.policy_action_pub = (
            self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10) if publish_policy_action else None
        )
        self.report = diagnostics.Reporter(self)
        # the slots that trigger an action last, an episode's start first: rclpy's executor runs callbacks that are
        # ready together in subscription order (the in-process backend in publish order, which is the same here)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.report.guard(self.assembler.on_ee_pose), 10)
        self.create_subscription(msg.JointState, "/joint_states", self.report.guard(self.assembler.on_joint_states), 10)
        if use_image:
            self.create_subscription(
                msg.Image, "/camera/color/image_raw", self.report.guard(self.assembler.on_image), SENSOR_DATA
            )
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.on_slots, 10)
        self.get_logger().info(
            f"{self.policy.policy_type} policy from {path}: chunk {self.policy.chunk_size}, {mode} mode"
            f" ({self.policy.chunker.config.n_action_steps} steps), weights sha256 {self.policy.loaded_hash[:16]}"
        )

    # -- episodes ----------------------------------------------------------------------------------

    def on_episode(self, event: Any) -> None:
        """Reset on ``start``; verify the weights hash on start and at the episode's end."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode event {event.data!r}")
            return
        kind = payload["event"]
        if kind == "start":
            self.policy.reset()
            self.assembler.clear()
        if kind == "start" or kind in END_EVENTS:
            self.verify(f"episode {kind}")

    def verify(self, when: str) -> None:
        """Check the weights hash; a mismatch latches ``frozen_violation``."""
        try:
            self.policy.verify_frozen()
        except PolicyError as error:
            self.frozen_violation = True
            self.get_logger().error(f"{when}: {error}; no action will be published again")
            self.report(diagnostics.ERROR, f"{error}; no action will be published again", checked_at=when)

    # -- the tick ------------------------------------------------------------------------------------

    def on_slots(self, cloud: Any) -> None:
        """Slots close the tick: assemble, check, predict, publish."""
        try:
            self.assembler.on_slots(cloud)
        except MessageError as error:
            self.skip(diagnostics.ERROR, f"ignored slots: {error}")
            return
        if self.frozen_violation:
            return
        self.ticks += 1
        missing = self.assembler.missing()
        if missing:
            self.skip(diagnostics.WARN, f"no action: waiting for {', '.join(missing)}")
            return
        spread_s = self.assembler.input_spread_s()
        if spread_s > self.max_spread_s:
            self.skip(diagnostics.WARN, f"no action: inputs {spread_s:.3f} s apart (> {self.max_spread_s} s)")
            return
        frame = self.assembler.frame()
        if not frame.is_finite():
            self.skip(diagnostics.ERROR, "no action: non-finite observation")
            return
        start = time.perf_counter()
        try:
            action, plan = self.policy.act(frame.features())
        except PolicyError as error:
            self.skip(diagnostics.ERROR, f"no action: {error}")
            return
        self.latencies_s.append(time.perf_counter() - start)
        plan, _ = saturate_actions(plan)
        action, overshoot = saturate_actions(action)
        self.count_saturation(overshoot)
        header = msg.Header(stamp=cloud.header.stamp, frame_id=self.base_frame)
        self.base_action_pub.publish(actions_to_trajectory(plan, self.period_s, header))
        if self.policy_action_pub is not None:
            self.policy_action_pub.publish(actions_to_trajectory(action, self.period_s, header))
        self.actions += 1
        self.maybe_report()

    def count_saturation(self, overshoot: Any) -> None:
        """Count this tick's action if the policy put an axis outside the action space."""
        if not overshoot.any():
            return
        self.saturated_actions += 1
        self.saturated_axes.update(ACTION_NAMES[i] for i in overshoot.nonzero()[0])
        if overshoot.max() > self.max_overshoot:
            self.max_overshoot = float(overshoot.max())
            self.max_overshoot_axis = ACTION_NAMES[int(overshoot.argmax())]

    def skip(self, level: int, message: str) -> None:
        """Publish nothing this tick; drop the plan, which assumed consecutive ticks."""
        self.policy.chunker.reset()
        self.report(level, message)

    def maybe_report(self) -> None:
        """The latency diagnostic, at most every report_period_s of node time."""
        now_s = self.get_clock().now().nanoseconds * 1e-9
        if self.report_period_s > 0 and now_s - self.last_report_s < self.report_period_s:
            return
        self.last_report_s = now_s
        latencies_ms = [1e3 * latency for latency in self.latencies_s]
        self.latencies_s = []
        saturated = f", {self.saturated_actions} saturated to [-1, 1]" if self.saturated_actions else ""
        self.report(
            diagnostics.OK,
            f"acting: {self.actions} actions in {self.ticks} ticks{saturated}",
            tick_ms=f"{latencies_ms[-1]:.2f}",
            mean_tick_ms=f"{sum(latencies_ms) / len(latencies_ms):.2f}",
            max_tick_ms=f"{max(latencies_ms):.2f}",
            inference_ms=f"{1e3 * self.policy.last_inference_s:.2f}",
            predictions=self.policy.chunker.predictions,
            weights_sha256=self.policy.loaded_hash[:16],
            saturated_actions=self.saturated_actions,
            saturated_axes=", ".join(f"{axis} {n}" for axis, n in self.saturated_axes.most_common()) or "none",
            max_overshoot=f"{self.max_overshoot:.4g}",
            max_overshoot_axis=self.max_overshoot_axis or "none",
        )


main = NodeMain(BasePolicyNode)
