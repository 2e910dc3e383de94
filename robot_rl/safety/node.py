"""The safety node: the only publisher of ``/robot_rl/safe_command`` in every launch file (two in-process tools,
``robot_rl.sim.slot_calibration`` and ``benchmarks/perception_throughput.py``, publish it directly to a sim of their
own; neither runs with a robot driver).

Subscribes ``/robot_rl/command`` (JointTrajectory, the first point is the requested action),
``/robot_rl/base_action`` (for the residual bound), ``/robot_rl/teleop_action`` (the arbiter's copy of a person's
command: a command with the same ``header.stamp`` is the person's, and the residual bound is lifted for it alone),
``/joint_states``, ``/robot_rl/ee_pose`` (base_link),
``/robot_rl/estop`` (Bool, latched QoS: true latches the e-stop; a volatile or best-effort publisher, whose
messages DDS would never deliver, latches it too) and ``/robot_rl/estop_reset`` (std_msgs/Empty: releases the latch
once the e-stop input is false and every e-stop publisher can reach the gate). With ``sim_episode_resets`` (sim
launch files only) it also subscribes ``/robot_rl/episode`` and starts each episode as a new gate would.

Every command is filtered by :class:`SafetyFilter` and published at once on
``/robot_rl/safe_command``, with the end-effector twist it allowed (m/s, rad/s) as the point's ``velocities``;
the acceleration limits use the real time since the previous output.
A watchdog timer at the control period publishes a hold when no fresh command arrived within
``timeout_s``, so the robot never keeps executing an old command. Every input with a watchdog
(command, joint state, end-effector pose) is fresh only while both its arrival and its
``header.stamp`` are younger than ``timeout_s`` (:func:`input_age_s`). A malformed message, or a
pose in another frame than ``base_link``, is dropped with a diagnostic and refreshes nothing. When
the node's clock jumps back (sim time reset, bag replay), every input is forgotten and the gate
holds until fresh ones arrive. Each applied action and every reason it differs from the request
go to ``/diagnostics``.
The workspace box comes from the calibration file ``workspace_file``; without it the node
does not start.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, actions_to_trajectory, trajectory_to_actions
from robot_rl.calibration.files import load_workspace_limits
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import CalibrationError, MessageError, SafetyError
from robot_rl.runtime import LATCHED, Node, NodeMain, diagnostics, msg
from robot_rl.runtime.msg_numpy import header_stamp_ns, joint_state_to_numpy
from robot_rl.safety.filter import (
    ROBOT_JOINT_LIMITS_RAD,
    RobotState,
    SafetyConfig,
    SafetyFilter,
    SafetyResult,
    input_age_s,
)

NS_PER_S = 1e9
ESTOP_TOPIC = "/robot_rl/estop"
ESTOP_QOS_ADVICE = "publish the e-stop reliable and transient_local (latched)"


class SafetyNode(Node):
    """Thin ROS wrapper around :class:`SafetyFilter`."""

    strict_parameters = True  # a misspelled limit (max_lin_vel) must not run the gate on its default

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
            residual_scale=param("residual_scale", defaults.residual_scale, "max |command - base|, motion axes").value,
            gripper_residual_scale=param(
                "gripper_residual_scale", defaults.gripper_residual_scale, "max |command - base| on the gripper"
            ).value,
            max_lin_vel_mps=param("max_lin_vel_mps", defaults.max_lin_vel_mps, "linear speed limit, m/s").value,
            max_ang_vel_radps=param("max_ang_vel_radps", defaults.max_ang_vel_radps, "angular speed, rad/s").value,
            max_lin_acc_mps2=param("max_lin_acc_mps2", defaults.max_lin_acc_mps2, "linear accel., m/s^2").value,
            max_ang_acc_radps2=param("max_ang_acc_radps2", defaults.max_ang_acc_radps2, "angular accel.").value,
            workspace_min_m=tuple(float(v) for v in workspace.min_m),
            workspace_max_m=tuple(float(v) for v in workspace.max_m),
            joint_limits_rad=dict(ROBOT_JOINT_LIMITS_RAD[robot_model]),
            joint_margin_rad=param("joint_margin_rad", defaults.joint_margin_rad, "joint-limit margin, rad").value,
            arm_joint_names=tuple(ROBOT_JOINT_LIMITS_RAD[robot_model]),  # the tables list joints 1..7 in order
            tcp_offset_m=param("tcp_offset_m", defaults.tcp_offset_m, "commanded point from the flange, m").value,
            timeout_s=param("timeout_s", defaults.timeout_s, "max age of command, joint state and ee pose, s").value,
            max_clock_skew_s=param(
                "max_clock_skew_s", defaults.max_clock_skew_s, "how far a header.stamp may be ahead of our clock, s"
            ).value,
        )
        sim_episode_resets = param(
            "sim_episode_resets",
            False,
            "sim only: forget the applied velocity and gripper command at each episode start on /robot_rl/episode"
            " (the sim puts the arm back at rest); never on a robot, whose arm does not teleport",
        ).value
        self.filter = SafetyFilter(config)
        self.command: np.ndarray | None = None
        self.base_action: np.ndarray | None = None
        # header.stamp (ns) of the last /robot_rl/teleop_action not yet matched by a command: the command carrying
        # the same stamp is the person's. A stamp, not the /robot_rl/intervention flag: DDS does not order messages
        # across topics, so a flag can arrive after its command and lift the residual bound for the policy's.
        self.teleop_stamp_ns: int | None = None
        self.intervening = False  # the current command is a person's
        self.ee_position: np.ndarray | None = None
        self.joints: tuple[list[str], np.ndarray, np.ndarray] = ([], np.zeros(0), np.zeros(0))
        # (arrival, header.stamp) of the last accepted message of each watched input, ns on our clock
        self.command_times: tuple[int, int] | None = None
        self.joint_times: tuple[int, int] | None = None
        self.ee_pose_times: tuple[int, int] | None = None
        self.last_now_ns: int | None = None  # the latest clock reading, to see the clock jump back
        self.last_result: SafetyResult | None = None
        self.published = 0
        self.safe_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        self.report = diagnostics.Reporter(self)
        # the command last: when a tick's messages wait together, rclpy's executor runs callbacks in subscription
        # order, so the command is checked against this tick's state, base action and teleop action, not the
        # previous tick's
        self.create_subscription(
            msg.Bool, ESTOP_TOPIC, self.on_estop, LATCHED, on_incompatible_qos=self.on_estop_qos_incompatible
        )
        self.create_subscription(msg.Empty, "/robot_rl/estop_reset", self.on_estop_reset, 10)
        self.create_subscription(msg.JointState, "/joint_states", self.on_joint_states, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.on_ee_pose, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.on_base_action, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/teleop_action", self.on_teleop_action, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/command", self.on_command, 10)
        if sim_episode_resets:
            self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_timer(config.control_period_s, self.watchdog)

    def _now_ns(self) -> int:
        """The clock now; a jump back forgets every input (they were measured on the old time line) and holds."""
        now = self.get_clock().now().nanoseconds
        if self.last_now_ns is not None and now < self.last_now_ns:
            jump_s = (self.last_now_ns - now) / NS_PER_S
            self.command = None
            self.command_times = self.joint_times = self.ee_pose_times = None
            self.teleop_stamp_ns = None
            self.last_now_ns = now
            reason = f"clock jumped back by {jump_s:.3f} s: holding until fresh inputs arrive"
            result = self.filter.hold_for(reason, now / NS_PER_S)
            self._publish(result, now)
        self.last_now_ns = now
        return now

    def _age_s(self, times: tuple[int, int] | None, now_ns: int) -> float | None:
        if times is None:
            return None
        arrival_ns, stamp_ns = times
        return input_age_s(
            now_ns / NS_PER_S, arrival_ns / NS_PER_S, stamp_ns / NS_PER_S, self.filter.config.max_clock_skew_s
        )

    # -- inputs ----------------------------------------------------------------------

    def on_command(self, trajectory: Any) -> None:
        """Filter and publish a requested action at once."""
        now = self._now_ns()
        try:
            self.command = _first_action(trajectory, "/robot_rl/command")
        except MessageError as error:
            self.command = None  # a malformed command never stays current
            self.report(diagnostics.ERROR, f"rejected command: {error}")
        stamp_ns = header_stamp_ns(trajectory.header)
        self.command_times = (now, stamp_ns)
        # a person's command only with its own teleop copy (an unstamped one never matches); the copy is used once
        self.intervening = stamp_ns != 0 and stamp_ns == self.teleop_stamp_ns
        self.teleop_stamp_ns = None
        self.publish_safe()

    def on_base_action(self, trajectory: Any) -> None:
        """Remember the base policy's action of this tick for the residual bound."""
        try:
            self.base_action = _first_action(trajectory, "/robot_rl/base_action")
        except MessageError as error:
            self.base_action = np.full(ACTION_DIM, np.nan)  # the filter holds on a malformed base action
            self.report(diagnostics.ERROR, f"malformed base action: {error}")

    def on_teleop_action(self, trajectory: Any) -> None:
        """Remember the stamp of a person's command: the next command with that stamp is theirs.

        A copy no newer than the last command is ignored: its command came first (and was checked as the
        policy's), and under sim time a later tick can carry the same stamp, which must not match it.
        """
        stamp_ns = header_stamp_ns(trajectory.header)
        if self.command_times is None or stamp_ns > self.command_times[1]:
            self.teleop_stamp_ns = stamp_ns

    def on_joint_states(self, joint_state: Any) -> None:
        """Keep the latest joint state and when it arrived; a malformed one is dropped (the watchdog then holds)."""
        now = self._now_ns()
        try:
            names, positions, velocities, _ = joint_state_to_numpy(joint_state)
        except MessageError as error:
            self.report(diagnostics.ERROR, f"dropped /joint_states: {error}")
            return
        if positions.size != len(names):  # valid for JointState (no positions), useless to the joint-limit check
            self.report(diagnostics.ERROR, f"dropped /joint_states: {len(names)} names but no positions")
            return
        self.joints = (names, positions, velocities)
        self.joint_times = (now, header_stamp_ns(joint_state.header))

    def on_ee_pose(self, pose_stamped: Any) -> None:
        """Keep the end-effector position for the workspace box; a pose in another frame is dropped."""
        now = self._now_ns()
        if pose_stamped.header.frame_id != "base_link":
            self.report(
                diagnostics.ERROR, f"dropped ee_pose in frame {pose_stamped.header.frame_id!r}, expected 'base_link'"
            )
            return
        p = pose_stamped.pose.position
        self.ee_position = np.array([p.x, p.y, p.z], dtype=np.float64)  # non-finite values hold in the filter
        self.ee_pose_times = (now, header_stamp_ns(pose_stamped.header))

    def on_estop(self, flag: Any) -> None:
        """Feed the e-stop input; true latches it and holds immediately."""
        self.filter.set_estop(bool(flag.data))
        if flag.data:
            self.publish_safe()

    def on_estop_qos_incompatible(self, reason: str) -> None:
        """An e-stop publisher whose messages cannot reach the gate (volatile or best effort): latch the e-stop and
        say why; the reason stays in every hold's diagnostic until a reset, refused while such a publisher remains."""
        cause = f"{reason}; its e-stop would never arrive ({ESTOP_QOS_ADVICE})"
        self.filter.latch_estop(cause)
        self.get_logger().error(f"e-stop latched: {cause}")
        self.publish_safe()

    def on_estop_reset(self, _: Any) -> None:
        """Release the e-stop latch, unless the e-stop input is still true or an e-stop publisher cannot reach us."""
        unreachable = self.incompatible_publishers(ESTOP_TOPIC, LATCHED)
        if unreachable:
            self.report(
                diagnostics.ERROR,
                f"e-stop reset refused: {'; '.join(unreachable)} on {ESTOP_TOPIC} ({ESTOP_QOS_ADVICE})",
            )
        elif self.filter.reset_estop():
            self.report(diagnostics.OK, "e-stop released")
        else:
            self.report(diagnostics.ERROR, "e-stop reset refused: the e-stop input is still true")

    def on_episode(self, event: Any) -> None:
        """With ``sim_episode_resets``: at an episode start, forget the motion and the last command, as a new gate
        would (the e-stop latch stays)."""
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start":
            self.filter.forget_motion()
            self.command = None  # the last episode's command never applies to the new one
            self.command_times = self.teleop_stamp_ns = None

    def watchdog(self) -> None:
        """Publish a hold when the last command is too old (the filter decides; a fresh one is not repeated)."""
        now = self._now_ns()
        age = self._age_s(self.command_times, now)
        if age is None or not 0.0 <= age <= self.filter.config.timeout_s:
            self.publish_safe()

    # -- output ----------------------------------------------------------------------

    def publish_safe(self) -> None:
        """Run the filter on the current inputs and publish the applied action."""
        now = self._now_ns()
        names, positions, velocities = self.joints
        state = RobotState(
            ee_position_m=self.ee_position,
            joint_names=names,
            joint_positions_rad=positions,
            joint_velocities_rad_s=velocities,
            joint_state_age_s=self._age_s(self.joint_times, now),
            ee_pose_age_s=self._age_s(self.ee_pose_times, now),
        )
        result = self.filter.apply(
            self.command,
            self._age_s(self.command_times, now),
            state,
            base_action=self.base_action,
            intervening=self.intervening,
            now_s=now / NS_PER_S,
        )
        self._publish(result, now)

    def _publish(self, result: SafetyResult, now_ns: int) -> None:
        sec, nanosec = divmod(now_ns, 1_000_000_000)
        header = msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")
        # the twist it allowed rides along as the point's velocities (the gripper has none): a robot driver executes
        # exactly that, so no second copy of action_scale and control_period_s can disagree with the gate's
        velocities = np.append(self.filter.twist(result.action), 0.0)
        period = self.filter.config.control_period_s
        self.safe_pub.publish(actions_to_trajectory(result.action, period, header, velocities))
        self.published += 1
        self.last_result = result
        level = (
            diagnostics.ERROR if self.filter.estop_latched else diagnostics.WARN if result.reasons else diagnostics.OK
        )
        message = "; ".join(result.reasons) if result.reasons else "command passed unchanged"
        values = {"applied": np.array2string(result.action, precision=4), "held": result.held}
        values.update({f"requested_{axis}": value for axis, value in result.clipped.items()})
        self.report(level, message, **values)


def _first_action(trajectory: Any, topic: str) -> np.ndarray:
    try:
        return trajectory_to_actions(trajectory)[0].astype(np.float64)
    except MessageError as error:
        raise MessageError(f"{topic}: {error}") from None


main = NodeMain(SafetyNode)
