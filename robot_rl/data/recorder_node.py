"""The recorder node: episodes of the running graph into a LeRobotDataset.

Subscribes the policy inputs (``/robot_rl/ee_pose``, ``/joint_states``, ``/robot_rl/slots`` and,
with ``use_image``, ``/camera/color/image_raw``), the executed command ``/robot_rl/safe_command``,
``/robot_rl/reward`` and ``/robot_rl/episode``. Each safe command becomes one frame: the latest
observation paired with the action the robot executes from it (a second command for the same
observation replaces the first, as the robot executes only the newest). Episode events decide
what is kept (``success_only``). The dataset is finalized when the node is destroyed (end of
launch or Ctrl-C).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from robot_rl.action_space import trajectory_to_actions
from robot_rl.data.recorder import EpisodeRecorder, RecorderConfig
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import DatasetError, MessageError
from robot_rl.policies.features import ObservationAssembler
from robot_rl.runtime import SENSOR_DATA, Node, NodeMain, diagnostics, msg


class RecorderNode(Node):
    """Thin ROS wrapper around :class:`EpisodeRecorder`."""

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
        self.assembler = ObservationAssembler(num_slots, use_image)
        self.recording = False
        self.last_stamp_s: float | None = None
        self.on_episode_end: Callable[[bool, bool], None] | None = None  # (success, saved), e.g. a progress bar
        self.diagnostics_pub = self.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self._guard(self.assembler.on_ee_pose), 10)
        self.create_subscription(msg.JointState, "/joint_states", self._guard(self.assembler.on_joint_states), 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self._guard(self.assembler.on_slots), 10)
        if use_image:
            self.create_subscription(
                msg.Image, "/camera/color/image_raw", self._guard(self.assembler.on_image), SENSOR_DATA
            )
        self.create_subscription(msg.JointTrajectory, "/robot_rl/safe_command", self._guard(self.on_command), 10)
        self.create_subscription(msg.Float32, "/robot_rl/reward", lambda m: self.recorder.add_reward(m.data), 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)

    def _guard(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """Turn a malformed input into an ERROR diagnostic instead of a crash."""

        def guarded(message: Any) -> None:
            try:
                callback(message)
            except MessageError as error:
                self.report(diagnostics.ERROR, f"dropped input: {error}")

        return guarded

    def on_command(self, trajectory: Any) -> None:
        """Record one frame: the latest observation and the action executed from it."""
        if not self.recording or self.assembler.missing():
            return
        if self.assembler.input_spread_s() > self.max_spread_s:
            self.report(diagnostics.WARN, "inputs too far apart; frame not recorded")
            return
        action = trajectory_to_actions(trajectory)[0]
        frame = self.assembler.frame()
        if frame.stamp_s == self.last_stamp_s:
            self.recorder.replace_last_action(action)
            return
        self.last_stamp_s = frame.stamp_s
        self.recorder.add_step(frame, action)

    def on_episode(self, event: Any) -> None:
        """Start, keep or drop episodes on the episode events."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode event {event.data!r}")
            return
        kind = payload["event"]
        if kind == "start":
            self.recorder.abort_episode()  # an episode that never ended is not trustworthy
            self.assembler.clear()
            self.last_stamp_s = None
            self.recording = True
        elif kind in ("success", "timeout") and self.recording:
            self.recording = False
            success = kind == "success"
            saved = self.recorder.end_episode(success)
            self.report(
                diagnostics.OK,
                f"episode {payload.get('episode')}: {kind}, {'saved' if saved else 'dropped'}",
                saved_episodes=self.recorder.saved_episodes,
                dropped_episodes=self.recorder.discarded_episodes,
            )
            if self.on_episode_end is not None:
                self.on_episode_end(success, saved)
            if self.max_saved and self.recorder.saved_episodes >= self.max_saved:
                self.request_shutdown(f"recorded {self.recorder.saved_episodes} episode(s)")

    def report(self, level: int, message: str, **values: Any) -> None:
        """Publish one diagnostic status for this node."""
        stamp = self.get_clock().now().to_msg()
        diagnostics.publish(self.diagnostics_pub, stamp, self.get_fully_qualified_name(), level, message, values)

    def destroy_node(self) -> None:
        """Finalize the dataset files before the node goes."""
        self.recorder.close()
        super().destroy_node()


main = NodeMain(RecorderNode)
