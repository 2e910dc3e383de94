"""The safety filter: the last check before any command reaches the robot.

:meth:`SafetyFilter.apply` takes the command that wants to go out (policy or human) and
returns the action it actually allows, plus every reason it changed it. Checks, in
order (a later check never undoes an earlier hold):

1. e-stop latched -> hold;
2. watchdog: no fresh command, joint state or end-effector pose -> hold. An age is fresh when it
   is known, finite and in ``[0, timeout_s]``: unknown (never received), NaN and negative ages
   (a clock that jumped back) are stale. :func:`input_age_s` turns an arrival time and a
   ``header.stamp`` into that age;
3. a non-finite value in the command -> hold;
4. per-axis clamp (normalized units);
5. residual bound: without a human intervening, the applied command stays within
   ``residual_scale`` of the base action on every motion axis and ``gripper_residual_scale`` on the
   gripper (where the base lies beyond the per-axis clamp, the clamp wins: the command goes as close
   to the base as the clamp allows);
6. end-effector linear / angular speed limits (scale the motion down);
7. acceleration limits: a rate limiter on the change of commanded velocity over the real time
   (``now_s``) since the velocity in force was commanded. Commands faster than the control
   period get a proportionally smaller change; several outputs at one instant are all limited
   against the velocity in force before that instant (the last one wins downstream), so a burst
   cannot add up. The time counted is at most one control period;
8. workspace box: the predicted next end-effector position stays inside the box (a
   non-finite end-effector position -> hold);
9. joint-limit margins: a joint inside its margin, on or past its limit, that the command would move
   toward the limit (predicted from the arm's Jacobian, :mod:`robot_rl.safety.kinematics`), or that
   is still moving toward it and the command does not pull back; a joint with a non-finite position
   or velocity, or missing from the joint state (every joint of ``joint_limits_rad`` must be there:
   another robot's joint names never skip the check) -> hold.

"Hold" means zero motion with the gripper command unchanged (the gripper applied last; open
before any command). Actions are the
normalized end-effector deltas of ``robot_rl.action_space``; ``action_scale`` turns them
into metres / radians per control step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import SafetyError
from robot_rl.safety.kinematics import ARM_DOF, FRANKA_HAND_TCP_M, joint_velocities_for_twist

# Franka Panda joint limits, rad (franka_description / the robosuite model)
PANDA_JOINT_LIMITS_RAD: dict[str, tuple[float, float]] = {
    "panda_joint1": (-2.8973, 2.8973),
    "panda_joint2": (-1.7628, 1.7628),
    "panda_joint3": (-2.8973, 2.8973),
    "panda_joint4": (-3.0718, -0.0698),
    "panda_joint5": (-2.8973, 2.8973),
    "panda_joint6": (-0.0175, 3.7525),
    "panda_joint7": (-2.8973, 2.8973),
}

# Franka Research 3 joint limits, rad (franka_description's fr3 URDF; joint 6 differs most from the Panda's)
FR3_JOINT_LIMITS_RAD: dict[str, tuple[float, float]] = {
    "fr3_joint1": (-2.7437, 2.7437),
    "fr3_joint2": (-1.7837, 1.7837),
    "fr3_joint3": (-2.9007, 2.9007),
    "fr3_joint4": (-3.0421, -0.1518),
    "fr3_joint5": (-2.8065, 2.8065),
    "fr3_joint6": (0.5445, 4.5169),
    "fr3_joint7": (-3.0159, 3.0159),
}

# The arm's motion per control tick at |action| = 1 on each end-effector axis, m (dx, dy, dz) and rad (droll, dpitch,
# dyaw): robosuite OSC_POSE's output_max, which the sim runs, and the default of the gate and the hardware driver
ACTION_SCALE: tuple[float, ...] = (0.05, 0.05, 0.05, 0.5, 0.5, 0.5)

# The joint-limit tables by robot model (the safety node's ``robot_model`` parameter)
ROBOT_JOINT_LIMITS_RAD: dict[str, dict[str, tuple[float, float]]] = {
    "panda": PANDA_JOINT_LIMITS_RAD,
    "fr3": FR3_JOINT_LIMITS_RAD,
}


def _vector(name: str, value: object, length: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (length,) or not np.all(np.isfinite(array)):
        raise SafetyError(f"SafetyConfig.{name} must be {length} finite numbers, got {value!r}")
    return array


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the safety filter (units in the names; see config/safety.yaml)."""

    control_period_s: float = 0.05  # one control tick, s
    action_scale: tuple[float, ...] = ACTION_SCALE  # m or rad per tick at |action| = 1
    max_action: tuple[float, ...] = (1.0,) * ACTION_DIM  # per-axis clamp, normalized units
    residual_scale: float = 0.2  # max |applied - base| per motion axis, normalized, while no human intervenes
    gripper_residual_scale: float = 0.2  # max |applied - base| on the gripper, normalized, while no human intervenes
    max_lin_vel_mps: float = 0.25  # end-effector linear speed limit, m/s
    max_ang_vel_radps: float = 1.0  # end-effector angular speed limit, rad/s
    max_lin_acc_mps2: float = 2.5  # end-effector linear acceleration limit, m/s^2
    max_ang_acc_radps2: float = 10.0  # end-effector angular acceleration limit, rad/s^2
    workspace_min_m: tuple[float, float, float] = (0.3, -0.35, -0.1)  # end-effector box lower corner, base_link, m
    workspace_max_m: tuple[float, float, float] = (0.9, 0.35, 0.4)  # end-effector box upper corner, base_link, m
    joint_limits_rad: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PANDA_JOINT_LIMITS_RAD))
    joint_margin_rad: float = 0.05  # hold when a joint is this close to a limit and moving toward it, rad
    # the arm's joints in chain order (joint 1 first), for the Jacobian that predicts each joint's motion
    arm_joint_names: tuple[str, ...] = tuple(PANDA_JOINT_LIMITS_RAD)
    tcp_offset_m: float = FRANKA_HAND_TCP_M  # the commanded point's distance from the flange along its z axis, m
    timeout_s: float = 0.1  # watchdog: command, joint state and end-effector pose must be younger than this, s
    max_clock_skew_s: float = 0.05  # a header.stamp up to this far ahead of our clock still counts as fresh, s

    def __post_init__(self) -> None:
        if np.any(_vector("action_scale", self.action_scale, 6) <= 0):
            raise SafetyError(f"SafetyConfig.action_scale must be positive on every axis, got {self.action_scale!r}")
        _vector("max_action", self.max_action, ACTION_DIM)
        low = _vector("workspace_min_m", self.workspace_min_m, 3)
        high = _vector("workspace_max_m", self.workspace_max_m, 3)
        if not np.all(low < high):
            raise SafetyError("SafetyConfig.workspace_min_m must be below workspace_max_m on every axis")
        positive = (
            "control_period_s",
            "max_lin_vel_mps",
            "max_ang_vel_radps",
            "max_lin_acc_mps2",
            "max_ang_acc_radps2",
            "timeout_s",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise SafetyError(f"SafetyConfig.{name} must be a positive number, got {value!r}")
        for name in ("residual_scale", "gripper_residual_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 <= value <= 2):
                raise SafetyError(f"SafetyConfig.{name} must lie in [0, 2], got {value!r}")
        if not (isinstance(self.max_clock_skew_s, (int, float)) and 0 <= self.max_clock_skew_s < np.inf):
            raise SafetyError(
                f"SafetyConfig.max_clock_skew_s must be a finite number >= 0, got {self.max_clock_skew_s!r}"
            )
        if not (isinstance(self.joint_margin_rad, (int, float)) and 0 <= self.joint_margin_rad < np.inf):
            raise SafetyError(
                f"SafetyConfig.joint_margin_rad must be a finite number >= 0, got {self.joint_margin_rad!r}"
            )
        if np.any(np.asarray(self.max_action) < 0) or np.any(np.asarray(self.max_action) > 1):
            raise SafetyError("SafetyConfig.max_action must lie in [0, 1] on every axis")
        for joint, (lower, upper) in self.joint_limits_rad.items():
            if not lower < upper:
                raise SafetyError(f"SafetyConfig.joint_limits_rad[{joint!r}]: lower must be below upper")
        names = self.arm_joint_names
        if len(names) != ARM_DOF or len(set(names)) != ARM_DOF or not set(names) <= set(self.joint_limits_rad):
            raise SafetyError(
                f"SafetyConfig.arm_joint_names must be {ARM_DOF} distinct joints of joint_limits_rad, got {names!r}"
            )
        if not (isinstance(self.tcp_offset_m, (int, float)) and 0 <= self.tcp_offset_m <= 0.5):
            raise SafetyError(f"SafetyConfig.tcp_offset_m must lie in [0, 0.5] m, got {self.tcp_offset_m!r}")

    def residual_bound_excess(self, residual_scale: float, gripper_residual_scale: float) -> str | None:
        """A one-line description of the first residual bound (normalized action units) above this gate's, or None.

        A residual allowed beyond the gate's bound is clipped by the gate on every such tick: a learner would learn
        from actions its actor did not choose, and an evaluation would not measure the residual it names. Compared
        in float32, the precision an actor stores its bounds in (0.2 is 0.2000000030 there).
        """
        for name, value in (("residual_scale", residual_scale), ("gripper_residual_scale", gripper_residual_scale)):
            allowed = getattr(self, name)
            if np.float32(value) > np.float32(allowed):
                return f"{name} {round(float(value), 6)} exceeds the safety gate's {allowed}"
        return None


@dataclass
class RobotState:
    """What the filter knows about the robot at this tick."""

    ee_position_m: np.ndarray | None  # (3,) end effector in base_link, m; None if never received
    joint_names: list[str]  # names of ``joint_positions_rad``
    joint_positions_rad: np.ndarray  # joint positions, rad (or m for fingers)
    joint_velocities_rad_s: np.ndarray  # joint velocities (may be empty)
    joint_state_age_s: float | None  # age of the joint state (:func:`input_age_s`), s; None if never received
    ee_pose_age_s: float | None  # age of the end-effector pose (:func:`input_age_s`), s; None if never received


@dataclass
class SafetyResult:
    """The action that may go out, and why it differs from the request."""

    action: np.ndarray  # (7,) the applied action
    reasons: list[str]  # short reasons, empty if the command passed unchanged
    held: bool  # True if the motion was replaced by a hold
    clipped: dict[str, float] = field(default_factory=dict)  # axis name -> requested value, for changed axes


AXES = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
_AT_REST_RAD_S = 1e-3  # joint speeds below this count as at rest
# predicted joint speeds below this count as no motion (rounding in the Jacobian's inverse is ~1e-15 rad/s)
_PREDICTED_AT_REST_RAD_S = 1e-9


def input_age_s(now_s: float, arrival_s: float | None, stamp_s: float, max_clock_skew_s: float) -> float | None:
    """The age of an input for the watchdog, s: the older of its arrival time and its ``header.stamp``.

    The stamp says when the data was measured, the arrival when it reached the gate, so transport
    delay counts against ``timeout_s``. A stamp more than ``max_clock_skew_s`` ahead of ``now_s``
    (a clock that jumped back, a replayed bag, a publisher with another clock), an arrival after
    ``now_s`` (our own clock jumped back) or a NaN time give ``-inf``: stale.

    Args:
        now_s: The gate's clock now, s.
        arrival_s: When the message arrived on the gate's clock, s; None if none arrived.
        stamp_s: The message's ``header.stamp``, s.
        max_clock_skew_s: How far ahead of ``now_s`` a stamp may be, s.
    """
    if arrival_s is None:
        return None
    arrival_age, stamp_age = now_s - arrival_s, now_s - stamp_s
    if not (arrival_age >= 0.0 and stamp_age >= -max_clock_skew_s):  # also False for NaN
        return -np.inf
    return max(arrival_age, stamp_age)


def _fresh(age_s: float | None, timeout_s: float) -> bool:
    # "0 <= age <= timeout" is False for NaN, and a negative age means the clock jumped back
    return age_s is not None and 0.0 <= age_s <= timeout_s


class SafetyFilter:
    """Stateful filter: it remembers the e-stop latch, the last velocity and the last gripper command."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self._scale = np.asarray(config.action_scale, dtype=np.float64)
        # max |applied - base| per axis without a human: the motion axes' bound, then the gripper's
        self._residual_bounds = np.array([config.residual_scale] * (ACTION_DIM - 1) + [config.gripper_residual_scale])
        self._last_velocity = np.zeros(6)  # last applied end-effector velocity (m/s, rad/s)
        self._last_time_s: float | None = None  # when it was applied (None: unknown or never)
        # the velocity in force before the current instant and since when: what the rate limiter limits against
        self._reference: tuple[np.ndarray, float | None] = (np.zeros(6), None)
        self._now_s: float | None = None  # the time of the current call
        self._gripper = -float(config.max_action[-1])  # last applied gripper command (open, within the clamp)
        self.estop_latched = False
        self.estop_input = False
        self.estop_cause: str | None = None  # why the e-stop latched without its input (latch_estop), for the reasons

    # -- e-stop --------------------------------------------------------------------

    def set_estop(self, active: bool) -> None:
        """Feed the e-stop input; True latches until :meth:`reset_estop`."""
        self.estop_input = bool(active)
        if active:
            self.estop_latched = True

    def latch_estop(self, cause: str) -> None:
        """Latch the e-stop without an e-stop input, for a fault that would keep the e-stop from arriving; ``cause``
        goes into every hold's reason until :meth:`reset_estop` releases it."""
        self.estop_latched = True
        self.estop_cause = cause

    def reset_estop(self) -> bool:
        """Release the latch; refused (returns False) while the e-stop input is still true."""
        if self.estop_input:
            return False
        self.estop_latched = False
        self.estop_cause = None
        return True

    def forget_motion(self) -> None:
        """Forget the applied velocity and gripper command, as a new filter would; the e-stop latch stays.

        For a sim that has just put the arm back in its initial pose, at rest, gripper open: limiting the next
        episode's first commands against the last one's velocity, or holding its gripper command, would couple each
        episode to the one before (a resumed or split run would not replay a continuous one). Never on a robot: the
        arm does not teleport, and the velocity in force is what the acceleration limit must start from.
        """
        self._last_velocity = np.zeros(6)
        self._last_time_s = None
        self._reference = (np.zeros(6), None)
        self._now_s = None
        self._gripper = -float(self.config.max_action[-1])

    # -- the filter ----------------------------------------------------------------

    def twist(self, action: np.ndarray) -> np.ndarray:
        """The end-effector twist (6,) a normalized action commands: ``action[:6] * action_scale / control_period_s``,
        m/s (dx dy dz) and rad/s (droll dpitch dyaw), the units every limit here is in."""
        return np.asarray(action, dtype=np.float64)[:6] * self._scale / self.config.control_period_s

    def hold(self) -> np.ndarray:
        """Zero motion, gripper unchanged."""
        action = np.zeros(ACTION_DIM)
        action[-1] = self._gripper
        return action

    def _start(self, now_s: float | None) -> None:
        # a new instant: the velocity applied last has been in force since it was applied; at the same instant
        # as the previous output, that output is superseded, so keep limiting against what was in force before it
        if now_s is None or self._last_time_s is None or now_s != self._last_time_s:
            self._reference = (self._last_velocity, self._last_time_s)
        self._now_s = now_s

    def _rate_window_s(self) -> float:
        """The time the acceleration limits may use: since the reference velocity, at most one period, >= 0."""
        period = self.config.control_period_s
        since = self._reference[1]
        if self._now_s is None or since is None:
            return period
        elapsed = self._now_s - since
        return min(elapsed, period) if elapsed > 0 else 0.0  # NaN or a clock that ran back: no change

    def _applied(self, velocity: np.ndarray) -> None:
        self._last_velocity = velocity
        self._last_time_s = self._now_s

    def _held(self, reason: str) -> SafetyResult:
        self._applied(np.zeros(6))
        return SafetyResult(self.hold(), [reason], held=True)

    def hold_for(self, reason: str, now_s: float | None = None) -> SafetyResult:
        """A hold decided outside the filter (e.g. the node saw its clock jump back), at ``now_s``, s."""
        self._start(now_s)
        return self._held(reason)

    def apply(
        self,
        command: np.ndarray | None,
        command_age_s: float | None,
        state: RobotState,
        base_action: np.ndarray | None = None,
        intervening: bool = False,
        now_s: float | None = None,
    ) -> SafetyResult:
        """Return the action allowed for this tick.

        Args:
            command: The requested (7,) normalized action, or None if none was received.
            command_age_s: Age of the command (:func:`input_age_s`), s; None if never received.
            state: The robot's end-effector position and joint state, with their ages.
            base_action: The frozen base policy's action, for the residual bound (None: no bound).
            intervening: True while a human drives; the residual bound does not apply then.
            now_s: The gate's clock, s, for the acceleration limits. None: every call is one control
                period after the previous one. Time that ran back or NaN allows no change of velocity;
                more than one control period counts as one (after a longer gap the robot may already
                have stopped, so the velocity ramps up again no faster than from rest).
        """
        config = self.config
        self._start(now_s)
        if self.estop_latched:
            return self._held("e-stop latched" + (f": {self.estop_cause}" if self.estop_cause else ""))
        if command is None or not _fresh(command_age_s, config.timeout_s):
            return self._held("watchdog: no fresh command")
        if not _fresh(state.joint_state_age_s, config.timeout_s):
            return self._held("watchdog: no fresh joint state")
        if state.ee_position_m is None or not _fresh(state.ee_pose_age_s, config.timeout_s):
            return self._held("watchdog: no fresh end-effector pose")
        requested = np.asarray(command, dtype=np.float64)
        if requested.shape != (ACTION_DIM,) or not np.all(np.isfinite(requested)):
            return self._held("non-finite or malformed command")
        action = requested.copy()
        reasons: list[str] = []

        limit = np.asarray(config.max_action)
        if np.any(np.abs(action) > limit):
            action = np.clip(action, -limit, limit)
            reasons.append("per-axis clamp")

        if base_action is not None and not intervening:
            base = np.asarray(base_action, dtype=np.float64)
            if base.shape == (ACTION_DIM,) and np.all(np.isfinite(base)):
                bounded = np.clip(action, base - self._residual_bounds, base + self._residual_bounds)
                # the clamp wins over a base beyond it: as close to the base as the clamp allows
                bounded = np.clip(bounded, -limit, limit)
                if not np.array_equal(bounded, action):
                    action = bounded
                    reasons.append("residual bound")
            else:
                return self._held("non-finite or malformed base action")

        velocity = self.twist(action)
        velocity, limited = self._limit_speed(velocity)
        if limited:
            reasons.append("speed limit")
        velocity, limited = self._limit_acceleration(velocity)
        if limited:
            reasons.append("acceleration limit")
        if not np.all(np.isfinite(state.ee_position_m)):
            return self._held("non-finite end-effector position")
        velocity, limited = self._keep_in_workspace(velocity, state.ee_position_m)
        if limited:
            reasons.append("workspace box")
        action[:6] = velocity * config.control_period_s / self._scale
        action = np.clip(action, -1.0, 1.0)
        joint = self._joint_near_limit(state, self.twist(action))
        if joint is not None:
            return self._held(f"joint limit margin: {joint}")
        self._applied(velocity)
        self._gripper = float(action[-1])
        changed = {axis: float(requested[i]) for i, axis in enumerate(AXES) if not np.isclose(requested[i], action[i])}
        return SafetyResult(action, reasons, held=False, clipped=changed)

    def _limit_speed(self, velocity: np.ndarray) -> tuple[np.ndarray, bool]:
        velocity = velocity.copy()
        limited = False
        for part, maximum in ((slice(0, 3), self.config.max_lin_vel_mps), (slice(3, 6), self.config.max_ang_vel_radps)):
            speed = np.linalg.norm(velocity[part])
            if speed > maximum:
                velocity[part] *= maximum / speed
                limited = True
        return velocity, limited

    def _limit_acceleration(self, velocity: np.ndarray) -> tuple[np.ndarray, bool]:
        velocity = velocity.copy()
        limited = False
        reference, window = self._reference[0], self._rate_window_s()
        limits = ((slice(0, 3), self.config.max_lin_acc_mps2), (slice(3, 6), self.config.max_ang_acc_radps2))
        for part, maximum in limits:
            change = velocity[part] - reference[part]
            size = np.linalg.norm(change)
            if size > maximum * window:
                velocity[part] = reference[part] + change * (maximum * window / size)
                limited = True
        return velocity, limited

    def _keep_in_workspace(self, velocity: np.ndarray, ee_position: np.ndarray) -> tuple[np.ndarray, bool]:
        period = self.config.control_period_s
        low, high = np.asarray(self.config.workspace_min_m), np.asarray(self.config.workspace_max_m)
        position = np.asarray(ee_position, dtype=np.float64)
        predicted = position + velocity[:3] * period
        # inside, an axis may go up to the face; outside, it may only move back toward the box
        target = np.clip(predicted, np.minimum(low, position), np.maximum(high, position))
        if np.array_equal(target, predicted):  # exact: clip returns an inside value unchanged
            return velocity, False
        velocity = velocity.copy()
        velocity[:3] = (target - position) / period
        return velocity, True

    def _joint_near_limit(self, state: RobotState, twist: np.ndarray) -> str | None:
        """Why ``twist`` (the command's end-effector velocity, m/s and rad/s) must not go out; None if it may."""
        config = self.config
        margin = config.joint_margin_rad
        velocities = state.joint_velocities_rad_s
        # A limited joint missing from the state (another robot's names, a partial message) cannot be
        # checked: hold rather than skip it.
        missing = [name for name in config.joint_limits_rad if name not in state.joint_names]
        if missing:
            return f"no state for {', '.join(missing)} (is robot_model right?)"
        if len(state.joint_positions_rad) != len(state.joint_names):  # JointState allows an empty position array
            return f"{len(state.joint_names)} joint names but {len(state.joint_positions_rad)} positions"
        index_of = {name: index for index, name in enumerate(state.joint_names)}
        with_velocities = len(velocities) == len(state.joint_names)
        joints: dict[str, tuple[float, float]] = {}  # name -> (position rad, measured velocity rad/s)
        for name in config.joint_limits_rad:
            position = state.joint_positions_rad[index_of[name]]
            moving = velocities[index_of[name]] if with_velocities else 0.0
            if not (np.isfinite(position) and np.isfinite(moving)):
                return f"{name} state is not finite (position {position}, velocity {moving})"
            joints[name] = (position, moving)
        near: list[tuple[str, str, float, float]] = []  # (joint, side, limit, +1 upper / -1 lower) in a margin
        for name, (lower, upper) in config.joint_limits_rad.items():
            position = joints[name][0]
            if position >= upper or position > upper - margin:
                near.append((name, "upper", upper, 1.0))
            if position <= lower or position < lower + margin:
                near.append((name, "lower", lower, -1.0))
        if not near:
            return None  # the usual tick: no Jacobian needed
        arm = np.array([joints[name][0] for name in config.arm_joint_names])
        commanded = dict(
            zip(config.arm_joint_names, joint_velocities_for_twist(arm, twist, config.tcp_offset_m), strict=True)
        )
        for name, side, limit, toward in near:
            position, moving = joints[name]
            # The command's own motion of the joint (the Jacobian's inverse, as MoveIt Servo computes it) decides;
            # a joint still moving toward its limit holds too unless the command pulls it back.
            speed = commanded.get(name, 0.0)
            pushes = toward * speed > _PREDICTED_AT_REST_RAD_S
            pulls = toward * speed < -_PREDICTED_AT_REST_RAD_S
            if pushes or (toward * moving > _AT_REST_RAD_S and not pulls):
                return f"{name} at {position:.3f} rad, {side} limit {limit:.3f}, commanded {speed:+.3f} rad/s"
        return None
