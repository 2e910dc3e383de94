"""The ``driver`` node: the only bridge between robot_rl's command path and a real arm.

The arm is run by MoveIt Servo and ros2_control (e.g. franka_ros2 for a Panda / FR3); docs/hardware.md
says what to start on the robot side.

| direction | topic | type | what |
|---|---|---|---|
| in | ``/robot_rl/safe_command`` | trajectory_msgs/JointTrajectory | gate's twist (first point's velocities), gripper |
| out | ``/servo_node/delta_twist_cmds`` (``-r`` remaps) | geometry_msgs/TwistStamped | m/s, rad/s, ``command_frame`` |
| out | ``gripper_command_topic`` | std_msgs/Float64MultiArray | ``[width_m]`` for a forward command controller |
| in | ``joint_states_input_topic`` | sensor_msgs/JointState | the robot's joint states |
| out | ``/joint_states`` | sensor_msgs/JointState | the same message, if every value is finite |
| in | ``ee_pose_input_topic`` | geometry_msgs/PoseStamped | the robot's end-effector pose in its base frame |
| out | ``/robot_rl/ee_pose`` | geometry_msgs/PoseStamped | the same pose labelled ``base_link`` |
| out | ``/diagnostics`` | diagnostic_msgs/DiagnosticArray | problems at once, a summary each ``diagnostics_period_s`` |

Each safe command is converted by :class:`~robot_rl.hardware.driver.DriverCore` and published at
once, stamped with the node clock. A watchdog timer at ``control_period_s`` publishes a zero twist
while the last valid command is older than ``timeout_s`` (or none arrived yet), so MoveIt Servo
stops even if robot_rl dies upstream; the gripper keeps its last width. State inputs are
subscribed best-effort (franka_robot_state_broadcaster publishes best-effort; a best-effort
subscription also receives from reliable publishers). Dropped inputs are reported on
``/diagnostics`` as ERROR (at most once per ``diagnostics_period_s`` for a repeated problem) and
counted in the periodic summary.

Startup needs the workspace calibration the real graph runs with (``workspace_file``, a
``base_link`` box): without it, or with malformed parameters, construction raises
:class:`~robot_rl.errors.CalibrationError` / :class:`~robot_rl.errors.ParameterError` before any
publisher exists, and the executable prints one ``error: ...`` line and exits 1. The box is
also used to warn (in the summary) when the measured end-effector is outside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.action_space import trajectory_to_actions, trajectory_to_velocities
from robot_rl.calibration.files import WorkspaceLimits, load_workspace_limits
from robot_rl.errors import CalibrationError, MessageError, ParameterError
from robot_rl.hardware.driver import (
    BASE_FRAME,
    NS_PER_S,
    DriverCommand,
    DriverConfig,
    DriverCore,
    check_ee_pose,
    joint_state_problem,
)
from robot_rl.runtime import SENSOR_DATA, Node, NodeMain, diagnostics, msg

SAFE_COMMAND_TOPIC = "/robot_rl/safe_command"
TWIST_TOPIC = "/servo_node/delta_twist_cmds"  # MoveIt Servo's default cartesian_command_in_topic (~/delta_twist_cmds)
JOINT_STATES_TOPIC = "/joint_states"
EE_POSE_TOPIC = "/robot_rl/ee_pose"
Float64MultiArray = msg.message_class("std_msgs/msg/Float64MultiArray")


class DriverNode(Node):
    """Thin ROS wrapper around :class:`~robot_rl.hardware.driver.DriverCore`."""

    strict_parameters = True  # a misspelled parameter must not run the arm on its default

    def __init__(self, **kwargs: Any) -> None:
        """Read and check the parameters and the workspace calibration, then start bridging.

        Raises:
            ParameterError: A malformed parameter (a non-positive period, a frame id with a leading '/', ...).
            CalibrationError: ``workspace_file`` empty, missing, malformed or not in base_link.
        """
        super().__init__("driver", **kwargs)
        defaults = DriverConfig()
        param = self.declare_parameter
        workspace_file = param(
            "workspace_file", "", "end-effector workspace box (calibration YAML, base_link); required"
        ).value
        control_period_s = param("control_period_s", defaults.control_period_s, "the watchdog's period, s").value
        command_frame = param("command_frame", defaults.command_frame, "frame_id of the outgoing twist").value
        timeout_s = param(
            "timeout_s", defaults.timeout_s, "a safe command received or stamped longer ago is stale: zero twist, s"
        ).value
        gripper_topic = param(
            "gripper_command_topic",
            "/gripper_controller/commands",
            "Float64MultiArray topic of the gripper's forward command controller",
        ).value
        gripper_open_m = param("gripper_open_m", defaults.gripper_open_m, "width sent for gripper = -1 (open), m").value
        gripper_closed_m = param(
            "gripper_closed_m", defaults.gripper_closed_m, "width sent for gripper = +1 (closed), m"
        ).value
        gripper_deadband_m = param(
            "gripper_deadband_m", defaults.gripper_deadband_m, "send a width only if it moves more than this, m"
        ).value
        joint_states_input = param(
            "joint_states_input_topic", "/franka/joint_states", "the robot's sensor_msgs/JointState topic"
        ).value
        ee_pose_input = param(
            "ee_pose_input_topic",
            "/franka_robot_state_broadcaster/current_pose",
            "the robot's end-effector geometry_msgs/PoseStamped topic",
        ).value
        robot_base_frame = param(
            "robot_base_frame",
            defaults.robot_base_frame,
            "the robot's name for base_link (e.g. fr3_link0); poses in it are relabelled base_link",
        ).value
        quaternion_tolerance = param(
            "quaternion_tolerance", defaults.quaternion_tolerance, "max | |q| - 1 | of an incoming ee pose"
        ).value
        self.diagnostics_period_s = param(
            "diagnostics_period_s", 1.0, "period of the /diagnostics summary (and repeat limit of a problem), s"
        ).value
        for name, topic in (
            ("gripper_command_topic", gripper_topic),
            ("joint_states_input_topic", joint_states_input),
            ("ee_pose_input_topic", ee_pose_input),
        ):
            if not topic:
                raise ParameterError(f"parameter {name} is empty")
        if not self.diagnostics_period_s > 0:
            raise ParameterError(f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")
        if self.resolve_topic_name(joint_states_input) == self.resolve_topic_name(JOINT_STATES_TOPIC):
            raise ParameterError(
                f"joint_states_input_topic resolves to {JOINT_STATES_TOPIC}, the driver's output:"
                " remap the robot's joint states elsewhere (e.g. /franka/joint_states)"
            )
        if self.resolve_topic_name(ee_pose_input) == self.resolve_topic_name(EE_POSE_TOPIC):
            raise ParameterError(f"ee_pose_input_topic resolves to {EE_POSE_TOPIC}, the driver's output")
        config = DriverConfig(
            control_period_s=control_period_s,
            timeout_s=timeout_s,
            command_frame=command_frame,
            gripper_open_m=gripper_open_m,
            gripper_closed_m=gripper_closed_m,
            gripper_deadband_m=gripper_deadband_m,
            robot_base_frame=robot_base_frame,
            quaternion_tolerance=quaternion_tolerance,
        )
        self.workspace = _load_workspace(workspace_file)
        self.core = DriverCore(config)

        # counters and state for diagnostics (and tests)
        self.commands = 0  # safe commands received
        self.rejected_commands = 0  # safe commands not executed (malformed, non-finite)
        self.zero_twists = 0  # zero twists sent by the watchdog
        self.gripper_commands = 0  # gripper widths sent
        self.joint_states = 0  # joint states republished
        self.dropped_joint_states = 0
        self.poses = 0  # ee poses republished
        self.dropped_poses = 0
        self.ee_position_m: np.ndarray | None = None  # last republished ee position, base_link
        self._window_errors: list[str] = []  # problems since the last summary
        self._last_problem: tuple[str, int] | None = None  # (message, time ns) of the last immediate report
        self._was_stale: bool | None = None

        self.twist_pub = self.create_publisher(msg.TwistStamped, TWIST_TOPIC, 10)
        self.gripper_pub = self.create_publisher(Float64MultiArray, gripper_topic, 10)
        self.joint_states_pub = self.create_publisher(msg.JointState, JOINT_STATES_TOPIC, 10)
        self.ee_pose_pub = self.create_publisher(msg.PoseStamped, EE_POSE_TOPIC, 10)
        self.diagnostics_pub = self.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msg.JointTrajectory, SAFE_COMMAND_TOPIC, self.on_safe_command, 10)
        self.create_subscription(msg.JointState, joint_states_input, self.on_joint_states, SENSOR_DATA)
        self.create_subscription(msg.PoseStamped, ee_pose_input, self.on_ee_pose, SENSOR_DATA)
        self.create_timer(config.control_period_s, self.watchdog)
        self.create_timer(self.diagnostics_period_s, self.summary)
        self.get_logger().info(
            f"bridging {SAFE_COMMAND_TOPIC} -> {self.resolve_topic_name(TWIST_TOPIC)} (frame {command_frame})"
            f" and {self.resolve_topic_name(gripper_topic)}; state from {self.resolve_topic_name(joint_states_input)}"
            f" and {self.resolve_topic_name(ee_pose_input)}"
        )

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # -- commands --------------------------------------------------------------------

    def on_safe_command(self, trajectory: Any) -> None:
        """Execute the first point of a safe command (the gate's twist, the gripper value) at once."""
        self.commands += 1
        now = self._now_ns()
        try:
            action = trajectory_to_actions(trajectory)[0]
            twist = trajectory_to_velocities(trajectory)
        except MessageError as error:
            self.core.reject()  # a malformed command never stays current
            self.rejected_commands += 1
            self.publish_twist(np.zeros(3), np.zeros(3))
            self.problem(diagnostics.ERROR, f"rejected safe command: {error}: zero twist")
            return
        header = trajectory.header
        stamp = header.stamp.sec * NS_PER_S + header.stamp.nanosec
        result = self.core.command(action, twist, now, stamp, header.frame_id)
        self.publish_command(result)
        if not result.executed:
            self.rejected_commands += 1
            self.problem(diagnostics.ERROR, "; ".join(result.problems))
        elif result.problems:
            self.problem(diagnostics.WARN, "; ".join(result.problems))

    def publish_command(self, result: DriverCommand) -> None:
        """Publish one converted command: the twist always, the gripper width when there is one."""
        self.publish_twist(result.linear_mps, result.angular_radps)
        if result.gripper_width_m is not None:
            self.gripper_pub.publish(Float64MultiArray(data=np.array([result.gripper_width_m], dtype=np.float64)))
            self.gripper_commands += 1

    def publish_twist(self, linear_mps: np.ndarray, angular_radps: np.ndarray) -> None:
        """Publish a TwistStamped in command_frame, stamped with the node clock."""
        header = msg.Header(stamp=self.get_clock().now().to_msg(), frame_id=self.core.config.command_frame)
        twist = msg.Twist(
            linear=msg.Vector3(x=float(linear_mps[0]), y=float(linear_mps[1]), z=float(linear_mps[2])),
            angular=msg.Vector3(x=float(angular_radps[0]), y=float(angular_radps[1]), z=float(angular_radps[2])),
        )
        self.twist_pub.publish(msg.TwistStamped(header=header, twist=twist))

    def watchdog(self) -> None:
        """Send a zero twist while the last valid safe command is older than timeout_s."""
        stale = self.core.stale(self._now_ns())
        if stale:
            self.publish_twist(np.zeros(3), np.zeros(3))
            self.zero_twists += 1
        if stale != self._was_stale:  # report transitions once, not at the control rate
            if stale:
                timeout = self.core.config.timeout_s
                self.report(diagnostics.WARN, f"no safe command within timeout_s = {timeout} s: sending zero twists")
            else:
                self.report(diagnostics.OK, "safe commands arriving: executing them")
            self._was_stale = stale

    # -- robot state -----------------------------------------------------------------

    def on_joint_states(self, joint_state: Any) -> None:
        """Republish the robot's joint state on /joint_states unchanged, if every value is finite."""
        problem = joint_state_problem(
            list(joint_state.name), joint_state.position, joint_state.velocity, joint_state.effort
        )
        if problem is not None:
            self.dropped_joint_states += 1
            self.problem(diagnostics.ERROR, f"dropped joint state: {problem}")
            return
        self.joint_states_pub.publish(joint_state)
        self.joint_states += 1

    def on_ee_pose(self, pose_stamped: Any) -> None:
        """Republish the robot's end-effector pose on /robot_rl/ee_pose in base_link (stamp unchanged)."""
        p, q = pose_stamped.pose.position, pose_stamped.pose.orientation
        check = check_ee_pose(pose_stamped.header.frame_id, [p.x, p.y, p.z], [q.x, q.y, q.z, q.w], self.core.config)
        if check.problem is not None or check.quaternion_xyzw is None:
            self.dropped_poses += 1
            self.problem(diagnostics.ERROR, f"dropped ee pose: {check.problem}")
            return
        qx, qy, qz, qw = (float(v) for v in check.quaternion_xyzw)
        pose = msg.Pose(
            position=msg.Point(x=float(p.x), y=float(p.y), z=float(p.z)),
            orientation=msg.Quaternion(x=qx, y=qy, z=qz, w=qw),
        )
        header = msg.Header(stamp=pose_stamped.header.stamp, frame_id=BASE_FRAME)
        self.ee_pose_pub.publish(msg.PoseStamped(header=header, pose=pose))
        self.ee_position_m = np.array([p.x, p.y, p.z], dtype=np.float64)
        self.poses += 1

    # -- diagnostics -----------------------------------------------------------------

    def problem(self, level: int, message: str) -> None:
        """Report a problem at once, unless the same one was reported within diagnostics_period_s."""
        self._window_errors.append(message)
        now = self._now_ns()
        last = self._last_problem
        if last is not None and last[0] == message and now - last[1] < self.diagnostics_period_s * NS_PER_S:
            return
        self._last_problem = (message, now)
        (self.get_logger().error if level == diagnostics.ERROR else self.get_logger().warning)(message)
        self.report(level, message)

    def summary(self) -> None:
        """Publish the periodic health summary: counters, the gripper width, the ee inside the workspace."""
        errors, self._window_errors = self._window_errors, []
        outside = self.ee_position_m is not None and not _inside(self.workspace, self.ee_position_m)
        if errors:
            level, message = diagnostics.ERROR, f"{len(errors)} problem(s) since the last report; last: {errors[-1]}"
        elif self.core.stale(self._now_ns()):
            level, message = diagnostics.WARN, "no fresh safe command: sending zero twists"
        elif outside:
            level, message = diagnostics.WARN, "end effector outside the workspace box"
        else:
            level, message = diagnostics.OK, "executing safe commands"
        self.report(level, message)

    def report(self, level: int, message: str) -> None:
        """Publish one diagnostic status for this node, with the counters as values."""
        ee = self.ee_position_m
        values = {
            "safe_commands": self.commands,
            "rejected_commands": self.rejected_commands,
            "watchdog_zero_twists": self.zero_twists,
            "gripper_commands": self.gripper_commands,
            "gripper_width_m": self.core.gripper_sent_m if self.core.gripper_sent_m is not None else "none sent",
            "joint_states": self.joint_states,
            "dropped_joint_states": self.dropped_joint_states,
            "ee_poses": self.poses,
            "dropped_ee_poses": self.dropped_poses,
            "ee_in_workspace": "unknown" if ee is None else _inside(self.workspace, ee),
        }
        stamp = self.get_clock().now().to_msg()
        diagnostics.publish(self.diagnostics_pub, stamp, self.get_fully_qualified_name(), level, message, values)


def _load_workspace(workspace_file: str) -> WorkspaceLimits:
    """Load the workspace box the real graph runs with; it must exist and be in base_link."""
    if not workspace_file:
        raise CalibrationError(
            "parameter workspace_file is empty: the driver needs the workspace calibration (calibration/workspace.yaml)"
        )
    workspace = load_workspace_limits(workspace_file)
    if workspace.frame_id != BASE_FRAME:
        raise CalibrationError(f"{workspace_file}: workspace frame is {workspace.frame_id!r}, expected 'base_link'")
    return workspace


def _inside(workspace: WorkspaceLimits, position_m: np.ndarray) -> bool:
    return bool(np.all(position_m >= workspace.min_m) and np.all(position_m <= workspace.max_m))


main = NodeMain(DriverNode)
