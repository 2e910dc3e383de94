"""The ROS-free core of the robot driver: safe actions -> MoveIt Servo twists and gripper widths.

:class:`DriverCore` turns one normalized action ``[dx, dy, dz, droll, dpitch, dyaw, gripper]``
(``robot_rl.action_space``, each in [-1, 1]) into what a real arm under MoveIt Servo and
ros2_control executes:

- the motion part is the end-effector twist the safety gate allowed, which the safe command carries as its
  point's ``velocities`` (m/s for dx dy dz, rad/s for droll dpitch dyaw: the gate's
  ``action * action_scale / control_period_s``, the units its limits apply in). The driver has no
  ``action_scale`` of its own: a second copy could disagree with the gate's and move the arm faster than the gate
  allowed. A command without those velocities (not from the safety node), non-finite ones, one stamped older than
  ``timeout_s`` (or further in the future) or in another frame than ``base_link`` is not executed;
- the gripper axis becomes an opening width in metres, robosuite's convention (the one the sim and
  the scripted experts use): ``+1`` closes (``gripper_closed_m``), ``-1`` opens (``gripper_open_m``),
  linear in between. A width goes out only when it differs from the last one sent by more than
  ``gripper_deadband_m`` (or reaches fully open / closed), so a constant gripper command does not
  flood the controller.

A watchdog (:meth:`DriverCore.stale`) tells the node to send a zero twist whenever the last valid
command is older than ``timeout_s`` (or none arrived yet, or the clock ran back), so the arm stops even if
everything upstream dies. A command that is not executed yields a zero twist and does not count as a fresh
command.

It also checks the robot's state before the node republishes it: :func:`joint_state_problem`
(every position, velocity and effort finite, array lengths consistent) and
:func:`check_ee_pose` (the frame is ``base_link`` or the robot's base frame, which the driver
relabels ``base_link`` because the two are the same frame; the position is finite; the quaternion
is unit-norm within ``quaternion_tolerance``).

Times are integer nanoseconds of the node clock (sim time in tests). Invalid configuration raises
:class:`~robot_rl.errors.ParameterError` with one line naming the parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.calibration.files import QUATERNION_NORM_TOLERANCE
from robot_rl.errors import ParameterError
from robot_rl.safety.filter import SafetyConfig

NS_PER_S = 1_000_000_000
BASE_FRAME = "base_link"  # REP-103 robot base frame of the whole stack


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _non_negative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ParameterError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _frame(name: str, value: str) -> str:
    if not isinstance(value, str) or not value or value.startswith("/"):
        raise ParameterError(f"{name} must be a non-empty tf2 frame id without a leading '/', got {value!r}")
    return value


@dataclass(frozen=True)
class DriverConfig:
    """Settings of the driver core (units in the names; see config/real_driver.yaml)."""

    control_period_s: float = SafetyConfig.control_period_s  # the watchdog's period, s (the safety gate's tick)
    timeout_s: float = 0.1  # a command received or stamped longer ago than this is stale: zero twist, s
    command_frame: str = BASE_FRAME  # frame_id of the outgoing twist
    gripper_open_m: float = 0.08  # opening width sent for gripper = -1, m
    gripper_closed_m: float = 0.0  # opening width sent for gripper = +1, m
    gripper_deadband_m: float = 0.001  # send a new width only when it moves more than this, m
    robot_base_frame: str = BASE_FRAME  # the robot's name for base_link (e.g. fr3_link0), relabelled base_link
    quaternion_tolerance: float = QUATERNION_NORM_TOLERANCE  # max | |q| - 1 | of an incoming pose

    def __post_init__(self) -> None:
        _positive("control_period_s", self.control_period_s)
        _positive("timeout_s", self.timeout_s)
        if self.timeout_s < self.control_period_s:
            raise ParameterError(
                f"timeout_s ({self.timeout_s}) must be >= control_period_s ({self.control_period_s}):"
                " otherwise every command goes stale before the next one arrives"
            )
        open_m = _non_negative("gripper_open_m", self.gripper_open_m)
        closed_m = _non_negative("gripper_closed_m", self.gripper_closed_m)
        if open_m == closed_m:
            raise ParameterError(f"gripper_open_m and gripper_closed_m must differ, both are {open_m}")
        deadband = _non_negative("gripper_deadband_m", self.gripper_deadband_m)
        if deadband >= abs(open_m - closed_m):
            raise ParameterError(
                f"gripper_deadband_m ({deadband}) must be below the gripper stroke |open - closed|"
                f" ({abs(open_m - closed_m)})"
            )
        tolerance = _positive("quaternion_tolerance", self.quaternion_tolerance)
        if tolerance >= 1.0:
            raise ParameterError(f"quaternion_tolerance must be < 1, got {tolerance}")
        _frame("command_frame", self.command_frame)
        _frame("robot_base_frame", self.robot_base_frame)


@dataclass(frozen=True)
class DriverCommand:
    """What one action turns into."""

    linear_mps: np.ndarray  # (3,) end-effector linear velocity in command_frame, m/s
    angular_radps: np.ndarray  # (3,) end-effector angular velocity in command_frame, rad/s
    gripper_width_m: float | None  # width to send now; None = send nothing (unchanged, in the deadband, or invalid)
    executed: bool  # False when the motion part was rejected and a zero twist goes out instead
    problems: tuple[str, ...]  # why the output differs from the request (empty when it does not)


class DriverCore:
    """Converts safe actions, remembers when the last valid one arrived and what the gripper was sent."""

    def __init__(self, config: DriverConfig) -> None:
        """Start with no command (stale) and no gripper width sent."""
        self.config = config
        self.last_command_ns: int | None = None  # node-clock time of the last valid command
        self.gripper_sent_m: float | None = None  # the last width sent to the gripper controller

    # -- commands --------------------------------------------------------------------

    def gripper_width(self, gripper: float) -> float:
        """Opening width in m for a gripper action in [-1, 1] (+1 closed, -1 open; clipped)."""
        open_m, closed_m = self.config.gripper_open_m, self.config.gripper_closed_m
        if gripper >= 1.0:
            return closed_m  # exact ends, so "fully closed / open" is recognized without rounding
        if gripper <= -1.0:
            return open_m
        return open_m + (closed_m - open_m) * (float(gripper) + 1.0) / 2.0

    def command(
        self, action: np.ndarray, twist: np.ndarray, now_ns: int, stamp_ns: int, frame_id: str
    ) -> DriverCommand:
        """Convert one safe command received at ``now_ns``: ``action`` (7,) normalized (the gripper value is used)
        and ``twist`` (7,), the safety gate's velocities (m/s for dx dy dz, rad/s for droll dpitch dyaw; the
        gripper's 7th is unused), stamped ``stamp_ns`` in ``frame_id``.

        Not executed (a zero twist, no gripper width, and stale until a valid command arrives): a wrongly sized
        action or twist, a frame other than base_link, a stamp more than ``timeout_s`` before or after
        ``now_ns`` (a replayed or delayed command), a non-finite twist. A non-finite gripper value alone only
        skips the gripper; one outside [-1, 1] is clipped (and reported).
        """
        values = np.asarray(action, dtype=np.float64).reshape(-1)
        rates = np.asarray(twist, dtype=np.float64).reshape(-1)
        age_s = (now_ns - stamp_ns) / NS_PER_S
        problem = None
        if values.shape != (ACTION_DIM,):
            problem = f"action must have {ACTION_DIM} values, got {values.size}"
        elif rates.shape != (ACTION_DIM,):
            problem = f"the safe command carries {rates.size} velocities, not the safety gate's {ACTION_DIM}"
        elif frame_id != BASE_FRAME:
            problem = f"safe command in frame {frame_id!r}, not {BASE_FRAME!r}"
        elif abs(age_s) > self.config.timeout_s:
            problem = f"safe command stamped {age_s:+.3f} s from now (beyond timeout_s = {self.config.timeout_s} s)"
        elif not np.all(np.isfinite(rates[:6])):
            problem = "non-finite twist in the safe command"  # partly garbage: not acted on at all
        if problem is not None:
            self.reject()
            zero = np.zeros(3)
            return DriverCommand(zero, zero, None, False, (f"{problem}: zero twist",))
        self.last_command_ns = now_ns
        problems: list[str] = []
        gripper = float(values[6])
        width: float | None = None
        if not math.isfinite(gripper):
            problems.append("non-finite gripper command ignored: the gripper keeps its last width")
        else:
            if abs(gripper) > 1.0:
                problems.append("gripper outside [-1, 1] clipped")
            width = self._gripper_to_send(self.gripper_width(gripper))
        return DriverCommand(rates[:3].copy(), rates[3:6].copy(), width, True, tuple(problems))

    def _gripper_to_send(self, width_m: float) -> float | None:
        """Return ``width_m`` if it should go out now (and remember it), else None."""
        last = self.gripper_sent_m
        at_end = width_m in (self.config.gripper_open_m, self.config.gripper_closed_m)
        if last is None or abs(width_m - last) > self.config.gripper_deadband_m or (at_end and width_m != last):
            self.gripper_sent_m = width_m
            return width_m
        return None

    def reject(self) -> None:
        """Forget the last valid command (a malformed one arrived): the driver is stale until the next."""
        self.last_command_ns = None

    def stale(self, now_ns: int) -> bool:
        """True when no valid command arrived within ``timeout_s`` before ``now_ns`` (or none ever did, or the clock
        ran back past the last one)."""
        if self.last_command_ns is None:
            return True
        age_ns = now_ns - self.last_command_ns
        return age_ns < 0 or age_ns > round(self.config.timeout_s * NS_PER_S)


# -- robot state checks ----------------------------------------------------------------


def joint_state_problem(names: list[str], position: object, velocity: object, effort: object) -> str | None:
    """Return why a joint state must not be republished, or None when it is fine.

    Every array must be empty or have one value per name, and every value must be finite.
    """
    for key, values in (("position", position), ("velocity", velocity), ("effort", effort)):
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if array.size not in (0, len(names)):
            return f"joint state has {len(names)} names but {array.size} {key} values"
        bad = [names[i] for i in np.flatnonzero(~np.isfinite(array))] if array.size else []
        if bad:
            return f"non-finite joint {key} for {', '.join(bad)}"
    return None


@dataclass(frozen=True)
class PoseCheck:
    """The outcome of :func:`check_ee_pose`."""

    problem: str | None  # why the pose is dropped; None = republish it
    quaternion_xyzw: np.ndarray | None = None  # the orientation normalized to unit norm (when accepted)
    relabelled: bool = False  # True when the incoming frame was robot_base_frame


def check_ee_pose(frame_id: str, position: object, quaternion_xyzw: object, config: DriverConfig) -> PoseCheck:
    """Check an end-effector pose of the robot before it is republished in ``base_link``.

    The frame must be ``base_link`` or ``config.robot_base_frame`` (the same frame under the robot's
    name); the position must be finite; the quaternion finite with ``| |q| - 1 | <=
    quaternion_tolerance`` (it is then normalized exactly).
    """
    if frame_id not in (BASE_FRAME, config.robot_base_frame):
        expected = BASE_FRAME if config.robot_base_frame == BASE_FRAME else f"{BASE_FRAME} or {config.robot_base_frame}"
        return PoseCheck(
            f"ee pose in frame {frame_id!r}, expected {expected} (set robot_base_frame to the robot's base frame)"
        )
    p = np.asarray(position, dtype=np.float64)
    if not np.all(np.isfinite(p)):
        return PoseCheck(f"non-finite ee position {p.tolist()}")
    q = np.asarray(quaternion_xyzw, dtype=np.float64)
    if not np.all(np.isfinite(q)):
        return PoseCheck(f"non-finite ee orientation {q.tolist()}")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > config.quaternion_tolerance:
        return PoseCheck(f"ee orientation quaternion has norm {norm:.6g}, expected 1 +- {config.quaternion_tolerance}")
    return PoseCheck(None, q / norm, frame_id != BASE_FRAME)
