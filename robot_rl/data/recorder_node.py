"""The recorder node: episodes of the running graph into a LeRobotDataset (and, optionally, a rosbag2).

Subscribes the policy inputs (``/robot_rl/ee_pose``, ``/joint_states``, ``/robot_rl/slots`` and, with
``use_image``, ``/camera/color/image_raw``), the executed command ``/robot_rl/safe_command``, what led to it
on the tick (``/robot_rl/base_action``, ``/robot_rl/policy_action``, ``/robot_rl/command``: JointTrajectory,
first point; ``/robot_rl/intervention``: std_msgs/Bool), ``/robot_rl/reward`` and ``/robot_rl/episode``.

Each safe command becomes one frame: the latest observation paired with the action the robot executes
from it (a second command for the same observation replaces the first, as the robot executes only the
newest). The base, policy and requested actions that arrived since the previous safe command belong to
this frame; a topic nobody publishes (collect-demos has no arbiter or residual) leaves them absent, which
:func:`~robot_rl.data.recorder.step_labels` records as zeros (and a missing request as a safety hold).
The intervention flag is the latest Bool received (False before the first).

Episode events (:meth:`EpisodeRecorder.handle_event`): ``start``, ``success``, ``timeout`` from the sim;
``success``, ``failure``, ``rerecord`` and ``stop`` (which finalizes the dataset and shuts the graph down)
from a person. The dataset is finalized when the node is destroyed (end of launch or Ctrl-C); every saved
episode is on disk, complete, as soon as it is saved.

With ``bag_path`` set, every message of the subscribed topics is also written to a rosbag2 (MCAP unless
``bag_storage`` says sqlite3), recording or not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import trajectory_to_actions
from robot_rl.data.bag import BagRecorder
from robot_rl.data.recorder import EpisodeRecorder, RecorderConfig, StepInfo
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import DatasetError
from robot_rl.policies.features import ObservationAssembler
from robot_rl.runtime import SENSOR_DATA, Node, NodeMain, QoSProfile, diagnostics, msg


class RecorderNode(Node):
    """Thin ROS wrapper around :class:`EpisodeRecorder` (and :class:`BagRecorder`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder", **kwargs)
        param = self.declare_parameter
        root = param("root", "", "dataset directory to create (must not exist); required").value
        task = param("task", "", "task description stored with every frame; required").value
        num_slots = param("num_slots", 6, "slots per observation (perception's num_slots)").value
        use_image = param("use_image", False, "also record /camera/color/image_raw").value
        height = param("image_height_px", 480, "recorded image height, px (with use_image)").value
        width = param("image_width_px", 640, "recorded image width, px (with use_image)").value
        fps = param("fps", 20, "control rate of the graph, Hz").value
        success_only = param("success_only", True, "keep only episodes that end in success").value
        bag_path = param("bag_path", "", "also write every subscribed message to this new rosbag2 ('' = off)").value
        bag_storage = param("bag_storage", "mcap", "rosbag2 storage of bag_path: mcap or sqlite3").value
        self.max_saved = param("max_saved_episodes", 0, "shut down after this many saved episodes (0 = never)").value
        self.max_spread_s = param("max_input_spread_s", 0.1, "max time between the inputs of one frame, s").value
        if not root:
            raise DatasetError("parameter root is empty: name the dataset directory to create")
        self.recorder = EpisodeRecorder(
            RecorderConfig(
                root=Path(root),
                task=task,
                num_slots=num_slots,
                fps=fps,
                image_shape_hw=(height, width) if use_image else None,
                success_only=success_only,
            )
        )
        self.bag = BagRecorder(Path(bag_path), bag_storage) if bag_path else None
        self.assembler = ObservationAssembler(num_slots, use_image)
        self.last_stamp_s: float | None = None
        # this tick's inputs (since the previous safe command); None = none came
        self.requested_action: np.ndarray | None = None
        self.base_action: np.ndarray | None = None
        self.policy_action: np.ndarray | None = None
        self.intervening = False  # the latest /robot_rl/intervention
        self.on_episode_end: Callable[[bool, bool], None] | None = None  # (success, saved), e.g. a progress bar
        self.report = diagnostics.Reporter(self)
        subscribe = self._subscribe
        subscribe(msg.PoseStamped, "/robot_rl/ee_pose", self._guard(self.assembler.on_ee_pose), 10)
        subscribe(msg.JointState, "/joint_states", self._guard(self.assembler.on_joint_states), 10)
        subscribe(msg.PointCloud2, "/robot_rl/slots", self._guard(self.assembler.on_slots), 10)
        if use_image:
            subscribe(msg.Image, "/camera/color/image_raw", self._guard(self.assembler.on_image), SENSOR_DATA)
        subscribe(msg.JointTrajectory, "/robot_rl/base_action", self._guard(self.on_base_action), 10)
        subscribe(msg.JointTrajectory, "/robot_rl/policy_action", self._guard(self.on_policy_action), 10)
        subscribe(msg.JointTrajectory, "/robot_rl/command", self._guard(self.on_requested_command), 10)
        subscribe(msg.Bool, "/robot_rl/intervention", self.on_intervention, 10)
        subscribe(msg.JointTrajectory, "/robot_rl/safe_command", self._guard(self.on_command), 10)
        subscribe(msg.Float32, "/robot_rl/reward", lambda m: self.recorder.add_reward(m.data), 10)
        subscribe(msg.String, "/robot_rl/episode", self.on_episode, 10)

    def _subscribe(self, msg_type: type, topic: str, callback: Callable[[Any], None], qos: QoSProfile | int) -> None:
        """Subscribe ``topic``; with a bag, write each message to it before ``callback`` runs."""
        if self.bag is None:
            self.create_subscription(msg_type, topic, callback, qos)
            return
        bag, resolved = self.bag, self.resolve_topic_name(topic)
        bag.add_topic(resolved, msg.message_type_name(msg_type))

        def record(message: Any) -> None:
            bag.write(resolved, message, self.get_clock().now().nanoseconds)
            callback(message)

        self.create_subscription(msg_type, topic, record, qos)

    def _guard(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """Turn a malformed input into an ERROR diagnostic instead of a crash."""

        return self.report.guard(callback)

    # -- this tick's actions -----------------------------------------------------------

    def on_base_action(self, trajectory: Any) -> None:
        """The base policy's chunk: its first point is this tick's base action."""
        self.base_action = None
        self.base_action = trajectory_to_actions(trajectory)[0]

    def on_policy_action(self, trajectory: Any) -> None:
        """Base + residual for this tick (first point)."""
        self.policy_action = None
        self.policy_action = trajectory_to_actions(trajectory)[0]

    def on_requested_command(self, trajectory: Any) -> None:
        """The command asked of the safety gate this tick (first point); malformed counts as none."""
        self.requested_action = None
        self.requested_action = trajectory_to_actions(trajectory)[0]

    def on_intervention(self, flag: Any) -> None:
        """Track whether a human drives (the arbiter publishes it every tick)."""
        self.intervening = bool(flag.data)

    def _take_tick_info(self) -> StepInfo:
        info = StepInfo(
            requested_action=self.requested_action,
            base_action=self.base_action,
            policy_action=self.policy_action,
            intervention=self.intervening,
        )
        self.requested_action = self.base_action = self.policy_action = None
        return info

    def on_command(self, trajectory: Any) -> None:
        """Record one frame: the latest observation, the action executed from it and this tick's labels."""
        info = self._take_tick_info()  # consumed by every safe command, recorded or not
        action = trajectory_to_actions(trajectory)[0]
        if not self.recorder.recording or self.assembler.missing():
            return
        if self.assembler.input_spread_s() > self.max_spread_s:
            self.report(diagnostics.WARN, "inputs too far apart; frame not recorded")
            return
        frame = self.assembler.frame()
        if not frame.is_finite():  # a NaN pose or slot must not reach the dataset a policy is trained on
            self.report(diagnostics.ERROR, "non-finite observation; frame not recorded")
            return
        if frame.stamp_s == self.last_stamp_s:
            self.recorder.replace_last_action(action, info)
            return
        self.last_stamp_s = frame.stamp_s
        self.recorder.add_step(frame, action, info)

    # -- episodes ----------------------------------------------------------------------

    def on_episode(self, event: Any) -> None:
        """Start, keep, drop or stop on the episode events."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode event {event.data!r}")
            return
        try:
            outcome = self.recorder.handle_event(payload)
        except DatasetError as error:
            self.report(diagnostics.ERROR, f"episode event {payload['event']!r} failed: {error}")
            return
        if outcome.ignored:
            return
        kind, source = outcome.event, payload.get("source", "sim")
        counts = {"saved_episodes": self.recorder.saved_episodes, "dropped_episodes": self.recorder.discarded_episodes}
        if kind == "start":
            self.assembler.clear()
            self.last_stamp_s = None
            self._take_tick_info()
            if outcome.dropped:
                self.report(diagnostics.WARN, "an episode that never ended was dropped", **counts)
        elif outcome.ended:
            self.report(
                diagnostics.OK,
                f"episode {payload.get('episode')}: {kind} ({source}), {'saved' if outcome.saved else 'dropped'}",
                **counts,
            )
            if self.on_episode_end is not None:
                self.on_episode_end(outcome.success, outcome.saved)
            if self.max_saved and self.recorder.saved_episodes >= self.max_saved:
                self.request_shutdown(f"recorded {self.recorder.saved_episodes} episode(s)")
        elif kind == "rerecord":
            dropped = "episode in progress dropped" if outcome.dropped else "no episode in progress"
            self.report(diagnostics.OK, f"rerecord ({source}): {dropped}", **counts)
        if outcome.stop:
            self.report(diagnostics.OK, f"stop ({source}): dataset finalized", **counts)
            self.request_shutdown(f"stop requested ({source}); {self.recorder.saved_episodes} episode(s) saved")

    def destroy_node(self) -> None:
        """Finalize the dataset files (and the bag) before the node goes."""
        try:
            self.recorder.close()
        finally:
            if self.bag is not None:
                self.bag.close()
            super().destroy_node()


main = NodeMain(RecorderNode)
