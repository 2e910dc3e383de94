"""The safety node: the only publisher of ``/robot_rl/safe_command``.

Subscribes ``/robot_rl/command`` (JointTrajectory, the first point is the requested action),
``/robot_rl/base_action`` (for the residual bound), ``/robot_rl/intervention`` (Bool: a human
drives, the residual bound is lifted), ``/joint_states``, ``/robot_rl/ee_pose`` (base_link),
``/robot_rl/estop`` (Bool, latched QoS: true latches the e-stop) and ``/robot_rl/estop_reset``
(std_msgs/Empty: releases the latch once the e-stop input is false).

Every command is filtered by :class:`SafetyFilter` and published at once on
``/robot_rl/safe_command``. A watchdog timer at the control period publishes a hold when no
fresh command arrived within ``timeout_s``, so the robot never keeps executing an old command.
Each applied action and every reason it differs from the request go to ``/diagnostics``.
The workspace box comes from the calibration file ``workspace_file``; without it the node
does not start.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, actions_to_trajectory, trajectory_to_actions
from robot_rl.calibration.files import load_workspace_limits
from robot_rl.errors import CalibrationError, MessageError, SafetyError
from robot_rl.runtime import LATCHED, Node, NodeMain, diagnostics, msg
from robot_rl.runtime.msg_numpy import joint_state_to_numpy
from robot_rl.safety.filter import ROBOT_JOINT_LIMITS_RAD, RobotState, SafetyConfig, SafetyFilter, SafetyResult

NS_PER_S = 1e9


class SafetyNode(Node):
    """Thin ROS wrapper around :class:`SafetyFilter`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("safety", **kwargs)
        defaults = SafetyConfig()
        param = self.declare_parameter
        workspace_file = param("workspace_file", "", "end-effector workspace box (calibration YAML); required").value
        if not workspace_file:
            raise CalibrationError("parameter workspace_file is empty: the safety gate needs the workspace limits")
        workspace = load_workspace_limits(workspace_file)
        if workspace.frame_id != "base_link":
            raise CalibrationError(f"{workspace_file}: workspace frame is {workspace.frame_id!r}, expected 'base_link'")
        robot_model = param("robot_model", "panda", f"joint-limit table: {', '.join(ROBOT_JOINT_LIMITS_RAD)}").value
        if robot_model not in ROBOT_JOINT_LIMITS_RAD:
            raise SafetyError(f"unknown robot_model {robot_model!r}; choose one of {', '.join(ROBOT_JOINT_LIMITS_RAD)}")
        config = SafetyConfig(
            control_period_s=param("control_period_s", defaults.control_period_s, "one control tick, s").value,
            action_scale=tuple(
                param("action_scale", list(defaults.action_scale), "m or rad per tick at |action| = 1").value
            ),
            max_action=tuple(param("max_action", list(defaults.max_action), "per-axis clamp, normalized").value),
            residual_scale=param("residual_scale", defaults.residual_scale, "max |command - base| per axis").value,
            max_lin_vel_mps=param("max_lin_vel_mps", defaults.max_lin_vel_mps, "linear speed limit, m/s").value,
            max_ang_vel_radps=param("max_ang_vel_radps", defaults.max_ang_vel_radps, "angular speed, rad/s").value,
            max_lin_acc_mps2=param("max_lin_acc_mps2", defaults.max_lin_acc_mps2, "linear accel., m/s^2").value,
            max_ang_acc_radps2=param("max_ang_acc_radps2", defaults.max_ang_acc_radps2, "angular accel.").value,
            workspace_min_m=tuple(float(v) for v in workspace.min_m),
            workspace_max_m=tuple(float(v) for v in workspace.max_m),
            joint_limits_rad=dict(ROBOT_JOINT_LIMITS_RAD[robot_model]),
            joint_margin_rad=param("joint_margin_rad", defaults.joint_margin_rad, "joint-limit margin, rad").value,
            timeout_s=param("timeout_s", defaults.timeout_s, "max age of command and joint state, s").value,
        )
        self.filter = SafetyFilter(config)
        self.command: np.ndarray | None = None
        self.command_time_ns: int | None = None
        self.base_action: np.ndarray | None = None
        self.intervening = False
        self.ee_position: np.ndarray | None = None
        self.joints: tuple[list[str], np.ndarray, np.ndarray] = ([], np.zeros(0), np.zeros(0))
        self.joint_time_ns: int | None = None
        self.last_result: SafetyResult | None = None
        self.published = 0
        self.safe_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        self.diagnostics_pub = self.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/command", self.on_command, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.on_base_action, 10)
        self.create_subscription(msg.Bool, "/robot_rl/intervention", self.on_intervention, 10)
        self.create_subscription(msg.JointState, "/joint_states", self.on_joint_states, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.on_ee_pose, 10)
        self.create_subscription(msg.Bool, "/robot_rl/estop", self.on_estop, LATCHED)
        self.create_subscription(msg.Empty, "/robot_rl/estop_reset", self.on_estop_reset, 10)
        self.create_timer(config.control_period_s, self.watchdog)

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _age_s(self, stamp_ns: int | None) -> float | None:
        return None if stamp_ns is None else (self._now_ns() - stamp_ns) / NS_PER_S

    # -- inputs ----------------------------------------------------------------------

    def on_command(self, trajectory: Any) -> None:
        """Filter and publish a requested action at once."""
        try:
            self.command = _first_action(trajectory, "/robot_rl/command")
        except MessageError as error:
            self.command = None  # a malformed command never stays current
            self.report(diagnostics.ERROR, f"rejected command: {error}")
        self.command_time_ns = self._now_ns()
        self.publish_safe()

    def on_base_action(self, trajectory: Any) -> None:
        """Remember the base policy's action of this tick for the residual bound."""
        try:
            self.base_action = _first_action(trajectory, "/robot_rl/base_action")
        except MessageError as error:
            self.base_action = np.full(ACTION_DIM, np.nan)  # the filter holds on a malformed base action
            self.report(diagnostics.ERROR, f"malformed base action: {error}")

    def on_intervention(self, flag: Any) -> None:
        """Track whether a human is driving."""
        self.intervening = bool(flag.data)

    def on_joint_states(self, joint_state: Any) -> None:
        """Keep the latest joint state and when it arrived."""
        names, positions, velocities, _ = joint_state_to_numpy(joint_state)
        self.joints = (names, positions, velocities)
        self.joint_time_ns = self._now_ns()

    def on_ee_pose(self, pose_stamped: Any) -> None:
        """Keep the end-effector position (base_link) for the workspace box."""
        if pose_stamped.header.frame_id not in ("base_link", ""):
            self.report(diagnostics.ERROR, f"ee_pose in frame {pose_stamped.header.frame_id!r}, expected base_link")
            return
        p = pose_stamped.pose.position
        self.ee_position = np.array([p.x, p.y, p.z])

    def on_estop(self, flag: Any) -> None:
        """Feed the e-stop input; true latches it and holds immediately."""
        self.filter.set_estop(bool(flag.data))
        if flag.data:
            self.publish_safe()

    def on_estop_reset(self, _: Any) -> None:
        """Release the e-stop latch, unless the e-stop input is still true."""
        if self.filter.reset_estop():
            self.report(diagnostics.OK, "e-stop released")
        else:
            self.report(diagnostics.ERROR, "e-stop reset refused: the e-stop input is still true")

    def watchdog(self) -> None:
        """Publish a hold when the last command is too old (the filter decides; a fresh one is not repeated)."""
        age = self._age_s(self.command_time_ns)
        if age is None or age > self.filter.config.timeout_s:
            self.publish_safe()

    # -- output ----------------------------------------------------------------------

    def publish_safe(self) -> None:
        """Run the filter on the current inputs and publish the applied action."""
        names, positions, velocities = self.joints
        state = RobotState(
            ee_position_m=self.ee_position,
            joint_names=names,
            joint_positions_rad=positions,
            joint_velocities_rad_s=velocities,
            joint_state_age_s=self._age_s(self.joint_time_ns),
        )
        result = self.filter.apply(
            self.command,
            self._age_s(self.command_time_ns),
            state,
            base_action=self.base_action,
            intervening=self.intervening,
        )
        header = msg.Header(stamp=self.get_clock().now().to_msg(), frame_id="base_link")
        self.safe_pub.publish(actions_to_trajectory(result.action, self.filter.config.control_period_s, header))
        self.published += 1
        self.last_result = result
        level = (
            diagnostics.ERROR if self.filter.estop_latched else diagnostics.WARN if result.reasons else diagnostics.OK
        )
        message = "; ".join(result.reasons) if result.reasons else "command passed unchanged"
        values = {"applied": np.array2string(result.action, precision=4), "held": result.held}
        values.update({f"requested_{axis}": value for axis, value in result.clipped.items()})
        self.report(level, message, **values)

    def report(self, level: int, message: str, **values: Any) -> None:
        """Publish one diagnostic status for this node."""
        stamp = self.get_clock().now().to_msg()
        diagnostics.publish(self.diagnostics_pub, stamp, self.get_fully_qualified_name(), level, message, values)


def _first_action(trajectory: Any, topic: str) -> np.ndarray:
    try:
        return trajectory_to_actions(trajectory)[0].astype(np.float64)
    except MessageError as error:
        raise MessageError(f"{topic}: {error}") from None


main = NodeMain(SafetyNode)
