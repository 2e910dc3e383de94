"""Property tests of the safety filter: random limits, random inputs (NaN, Inf, 1e300, stale stamps), every limit.

Each property draws a random valid :class:`SafetyConfig` and a short sequence of ticks with random commands, base
actions, intervention flags, e-stop events, end-effector positions and joint states, and checks what the filter
promises in its module docstring, exactly as ``filter.py`` defines it: :class:`Model` says for every tick whether the
filter must hold and which limits the applied action must meet. Hypothesis runs derandomized (a fixed seed, no
example database), so CI sees the same examples on every run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import SafetyError
from robot_rl.safety.filter import (
    _AT_REST_RAD_S,
    _PREDICTED_AT_REST_RAD_S,
    PANDA_JOINT_LIMITS_RAD,
    RobotState,
    SafetyConfig,
    SafetyFilter,
    SafetyResult,
    input_age_s,
)
from robot_rl.safety.kinematics import joint_velocities_for_twist

# derandomized (fixed seed), no example database: CI sees the same examples on every run; each property sets
# max_examples (9,000 + 4,000 + 2,000 + 4,000 + 3,000 + 2,000 = 24,000 random inputs, most of them sequences of ticks)
PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REL = 1e-9  # relative tolerance of the limit checks (the filter converts action -> velocity -> action)
ABS = 1e-12  # absolute tolerance of the limit checks
JOINTS = list(PANDA_JOINT_LIMITS_RAD)

# -- strategies --------------------------------------------------------------------------------------------------
# Hypothesis spends about the same time on every choice it makes, whatever its type, so the bulk of the continuous
# values (limits, plausible actions, joint positions) comes from one byte string per group, read as fractions in
# [0, 1] (all-zero and all-one bytes give the ends exactly); discrete choices (which kind of value, which axis, which
# special value) stay separate choices. Strategies are built once at import: building one per draw costs more.

SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, 1.0, -1.0, 5e-324])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
UNIT = st.floats(0.0, 1.0)
PLAUSIBLE = st.floats(-1.5, 1.5)
HUGE = st.floats(-1e300, 1e300)
# mostly plausible values, sometimes special or arbitrary ones
VALUE = st.one_of(PLAUSIBLE, SPECIAL, ANY_FLOAT)
KIND = st.integers(0, 9)
AXIS = st.integers(0, ACTION_DIM - 1)
AT_REST = [0.0, _AT_REST_RAD_S, -_AT_REST_RAD_S, math.nextafter(_AT_REST_RAD_S, 1.0), -2 * _AT_REST_RAD_S]


def fractions(count: int) -> st.SearchStrategy[np.ndarray]:
    """``count`` numbers in [0, 1] from one byte string (one choice for Hypothesis, shrinking toward 0)."""
    return st.binary(min_size=4 * count, max_size=4 * count).map(lambda raw: np.frombuffer(raw, "<u4") / 4294967295.0)


def log_between(fraction: float | np.ndarray, low: float, high: float) -> np.ndarray:
    """Map fractions in [0, 1] to [low, high], log-uniformly (tiny and large values alike)."""
    return low * (high / low) ** np.asarray(fraction)


def vectors(element: st.SearchStrategy[float], length: int = ACTION_DIM) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``length`` float64 values drawn from ``element``, one choice each."""
    return st.lists(element, min_size=length, max_size=length).map(lambda values: np.array(values, dtype=np.float64))


FRACTIONS3, FRACTIONS7, CONFIG_FRACTIONS = fractions(3), fractions(ACTION_DIM), fractions(30)
HUGE7, ANY7, VALUE3 = vectors(HUGE), vectors(ANY_FLOAT), vectors(VALUE, 3)
PLAUSIBLE7 = FRACTIONS7.map(lambda u: 3.0 * u - 1.5)
MOVED_JOINTS = st.lists(st.sampled_from(JOINTS), unique=True, max_size=3)
STATE_JOINTS = st.one_of(
    st.permutations(JOINTS),  # every limited joint, in any order
    st.permutations([*JOINTS, "finger_joint1"]),  # and one without limits
    st.lists(st.sampled_from([*JOINTS, "finger_joint1"]), unique=True, max_size=5),  # partial: must hold
)
JOINT_FRACTIONS = [fractions(4 * count) for count in range(len(JOINTS) + 2)]  # by the number of joints in a state


@st.composite
def configs(draw: st.DrawFn) -> SafetyConfig:
    """A random SafetyConfig anywhere in the ranges its validation accepts (Panda joint limits, a few moved)."""
    u = draw(CONFIG_FRACTIONS)
    kind = draw(KIND)
    joint_limits = dict(PANDA_JOINT_LIMITS_RAD)
    for index, name in enumerate(draw(MOVED_JOINTS)):
        lower = 8.0 * u[24 + 2 * index] - 4.0
        joint_limits[name] = (lower, lower + log_between(u[25 + 2 * index], 1e-3, 6.0))
    low = 4.0 * u[0:3] - 2.0
    return SafetyConfig(
        control_period_s=float(log_between(u[3], 1e-3, 0.5)),
        action_scale=tuple(log_between(u[4:10], 1e-4, 2.0)),
        max_action=(1.0,) * ACTION_DIM if kind < 2 else tuple(u[10:17]),  # the default clamp, or random per axis
        residual_scale=float(2.0 * u[17]) if kind != 3 else 0.0,
        gripper_residual_scale=float(2.0 * draw(UNIT)) if kind != 3 else 0.0,
        max_lin_vel_mps=float(log_between(u[18], 1e-3, 10.0)),
        max_ang_vel_radps=float(log_between(u[19], 1e-3, 20.0)),
        max_lin_acc_mps2=float(log_between(u[20], 1e-2, 100.0)),
        max_ang_acc_radps2=float(log_between(u[21], 1e-2, 500.0)),
        workspace_min_m=tuple(low),
        workspace_max_m=tuple(low + log_between(draw(FRACTIONS3), 1e-3, 2.0)),
        joint_limits_rad=joint_limits,
        joint_margin_rad=float(0.5 * u[22]) if kind != 4 else 0.0,
        timeout_s=float(log_between(u[23], 1e-3, 1.0)),
    )


CONFIGS = configs()


@st.composite
def actions(draw: st.DrawFn, finite: bool = False) -> np.ndarray | None:
    """A (7,) action: mostly plausible, sometimes round, huge, with a special (NaN, Inf, 1e300, ...) axis, or None.

    With ``finite``, every value is finite and an action is always returned.
    """
    kind = draw(KIND)
    if kind == 0 and not finite:
        return None
    if kind == 1:
        return draw(HUGE7)
    if kind == 2 and not finite:
        return draw(ANY7)
    action = draw(PLAUSIBLE7)
    if kind in (3, 4):
        action[draw(AXIS)] = draw(HUGE if finite else SPECIAL)
    elif kind == 5:
        action = np.round(action, 1)  # exact zeros, +-1, +-0.5 ...
    return action


ACTIONS = actions()
FINITE_ACTIONS = actions(finite=True)


def draw_age(draw: st.DrawFn, timeout_s: float) -> float | None:
    """Ages of an input: fresh, exactly at or just past the timeout, stale, negative (a clock that jumped back, a
    stamp from the future), None, NaN, any float."""
    kind = draw(KIND)
    if kind < 5:
        return timeout_s * draw(UNIT)
    if kind < 7:
        specials = [
            0.0,
            timeout_s,
            math.nextafter(timeout_s, math.inf),
            None,
            math.nan,
            math.inf,
            1e300,
            -5e-324,
            -timeout_s,
            -9.2,
            -math.inf,
        ]
        return specials[draw(st.integers(0, len(specials) - 1))]
    if kind < 9:
        return timeout_s * (1.0 + 10.0 * draw(UNIT))
    return draw(ANY_FLOAT)


def draw_ee_position(draw: st.DrawFn, config: SafetyConfig) -> np.ndarray | None:
    """None, a point inside the box (often on a face), outside it, or any (non-finite, huge) point."""
    low, high = np.asarray(config.workspace_min_m), np.asarray(config.workspace_max_m)
    kind = draw(KIND)
    if kind == 0:
        return None
    if kind == 1:
        return draw(VALUE3)
    fraction = draw(FRACTIONS3)
    if kind < 5:  # snap some axes onto a face
        snap = draw(FRACTIONS3)
        fraction = np.where(snap < 0.3, 0.0, np.where(snap > 0.7, 1.0, fraction))
    position = low + fraction * (high - low)
    if kind < 8:
        return np.clip(position, low, high)
    return position + 2.0 * draw(FRACTIONS3) - 1.0  # often outside


def draw_robot_state(draw: st.DrawFn, config: SafetyConfig) -> RobotState:
    """A robot state with joints near (inside, on, past) their limits, moving or at rest, and a random age."""
    names = draw(STATE_JOINTS)
    count = len(names)
    u = draw(JOINT_FRACTIONS[count]).reshape(4, count)
    margin = config.joint_margin_rad
    positions, velocities = [], []
    for index, name in enumerate(names):
        lower, upper = config.joint_limits_rad.get(name, (-1.0, 1.0))
        kind, fraction = int(10 * u[0, index]) % 10, u[1, index]
        if kind == 0:
            position = draw(VALUE)
        elif kind < 7:  # within two margins of a limit, inside or past it
            offset = (2.0 * margin + 1e-3) * (2.0 * fraction - 1.0)
            position = lower + offset if kind % 2 else upper - offset
        elif kind < 9:  # exactly on a limit or on the edge of its margin
            position = [lower, upper, lower + margin, upper - margin][int(4 * fraction) % 4]
        else:
            position = lower + (upper - lower) * fraction
        positions.append(position)
        speed_kind, speed = u[2, index], 2.0 * u[3, index] - 1.0
        if speed_kind < 0.6:
            velocities.append(speed)
        elif speed_kind < 0.9:
            velocities.append(AT_REST[int(len(AT_REST) * (speed + 1.0) / 2.0) % len(AT_REST)] * np.sign(speed))
        else:
            velocities.append(draw(VALUE))
    if draw(KIND) == 0:
        velocities = []  # a joint state without velocities
    return RobotState(
        ee_position_m=draw_ee_position(draw, config),
        joint_names=names,
        joint_positions_rad=np.array(positions, dtype=np.float64),
        joint_velocities_rad_s=np.array(velocities, dtype=np.float64),
        joint_state_age_s=draw_age(draw, config.timeout_s),
        ee_pose_age_s=draw_age(draw, config.timeout_s),
    )


@dataclass
class Tick:
    """The inputs of one call of :meth:`SafetyFilter.apply`, and an e-stop event just before it."""

    command: np.ndarray | None
    command_age_s: float | None
    state: RobotState
    base_action: np.ndarray | None
    intervening: bool
    estop: str | None = None  # "press", "release" (the input goes false), "reset" (try to release the latch), None
    now_s: float | None = None  # the gate's clock, s (None: one control period after the previous tick)


ESTOP_EVENTS = ["press", "release", "reset"]


def draw_time_step(draw: st.DrawFn, period_s: float) -> float | None:
    """How far the gate's clock moves before a tick: unknown (None), one period, a fraction of it (faster commands),
    nothing (a burst at one instant), longer gaps, and nonsense (back in time, NaN, inf)."""
    kind = draw(KIND)
    if kind < 2:
        return None
    if kind < 5:
        return period_s * draw(UNIT)
    if kind < 7:
        return period_s * (1.0 + 10.0 * draw(UNIT))
    specials = [0.0, 0.0, period_s, -period_s, math.nan, math.inf]
    return specials[draw(st.integers(0, len(specials) - 1))]


def draw_tick(draw: st.DrawFn, config: SafetyConfig) -> Tick:
    """Random inputs for one tick: any command (or none), stamps, base action (or none), intervention, e-stop."""
    command, base = draw(ACTIONS), draw(ACTIONS)
    age, state, intervening = draw_age(draw, config.timeout_s), draw_robot_state(draw, config), draw(st.booleans())
    event = draw(KIND)
    step = draw_time_step(draw, config.control_period_s)
    return Tick(command, age, state, base, intervening, ESTOP_EVENTS[event] if event < 3 else None, step)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[SafetyConfig, list[Tick]]:
    """A random config and one to three ticks on the same filter."""
    config = draw(CONFIGS)
    ticks_ = [draw_tick(draw, config) for _ in range(draw(st.integers(1, 3)))]
    now = 100.0 * draw(UNIT)
    for tick in ticks_:  # the drawn time steps become the gate's clock
        if tick.now_s is not None:
            now = tick.now_s = now + tick.now_s
    return config, ticks_


# -- what the filter promises ----------------------------------------------------------------------------------


def velocity_of(action: np.ndarray, config: SafetyConfig) -> np.ndarray:
    """The end-effector twist (m/s, rad/s) an applied action commands."""
    return action[:6] * np.asarray(config.action_scale) / config.control_period_s


def within(value: float, limit: float) -> bool:
    """``value <= limit`` up to the rounding of the filter's unit conversions."""
    return value <= limit * (1 + REL) + ABS


def residual_bounds(config: SafetyConfig) -> np.ndarray:
    """Max |applied - base| per axis without a human: residual_scale on the motion axes, gripper_residual_scale last."""
    return np.array([config.residual_scale] * (ACTION_DIM - 1) + [config.gripper_residual_scale])


def residual_slack(base: np.ndarray, config: SafetyConfig) -> np.ndarray:
    """Allowed |applied - base| per axis: the residual bound (motion axes: residual_scale, gripper:
    gripper_residual_scale), or more where the base lies beyond the per-axis clamp."""
    limit = np.asarray(config.max_action)
    out_of_clamp = np.maximum(np.abs(base) - limit, 0.0)
    return np.maximum(residual_bounds(config), out_of_clamp)


def joint_state_unusable(config: SafetyConfig, state: RobotState) -> bool:
    """True if a joint with limits is missing from the state or its position or velocity is not finite."""
    if any(name not in state.joint_names for name in config.joint_limits_rad):
        return True  # a joint without a state cannot be checked
    with_velocities = len(state.joint_velocities_rad_s) == len(state.joint_names)
    for index, name in enumerate(state.joint_names):
        moving = state.joint_velocities_rad_s[index] if with_velocities else 0.0
        if name in config.joint_limits_rad and not (
            math.isfinite(state.joint_positions_rad[index]) and math.isfinite(moving)
        ):
            return True  # a joint whose state is unknown may be anywhere
    return False


def joints_near_limits(config: SafetyConfig, state: RobotState) -> list[tuple[str, float, float, float]]:
    """(name, position, measured velocity, +1 upper / -1 lower) of each limited joint in its margin, on or past it."""
    with_velocities = len(state.joint_velocities_rad_s) == len(state.joint_names)
    near = []
    for index, name in enumerate(state.joint_names):
        if name not in config.joint_limits_rad:
            continue
        position = float(state.joint_positions_rad[index])
        moving = float(state.joint_velocities_rad_s[index]) if with_velocities else 0.0
        lower, upper = config.joint_limits_rad[name]
        if position >= upper or position > upper - config.joint_margin_rad:
            near.append((name, position, moving, 1.0))
        if position <= lower or position < lower + config.joint_margin_rad:
            near.append((name, position, moving, -1.0))
    return near


def joint_must_hold(config: SafetyConfig, state: RobotState, twist: np.ndarray) -> bool:
    """True if the state is unusable, or a joint in its margin (on or past its limit) would move toward the limit:
    the command's motion of it (the Jacobian's inverse) goes that way, or it is still moving that way and the command
    does not pull it back."""
    if joint_state_unusable(config, state):
        return True
    arm = np.array([state.joint_positions_rad[state.joint_names.index(name)] for name in config.arm_joint_names])
    predicted = joint_velocities_for_twist(arm, twist, config.tcp_offset_m)
    commanded = dict(zip(config.arm_joint_names, predicted, strict=True))
    for name, _position, moving, toward in joints_near_limits(config, state):
        speed = toward * commanded.get(name, 0.0)  # > 0: toward the limit
        pulled_back = speed < -_PREDICTED_AT_REST_RAD_S
        if speed > _PREDICTED_AT_REST_RAD_S or (toward * moving > _AT_REST_RAD_S and not pulled_back):
            return True
    return False


def fresh(age: float | None, timeout_s: float) -> bool:
    """The filter's watchdog: an age is fresh when it is known and in [0, timeout_s] (NaN and negative are not)."""
    return age is not None and 0.0 <= age <= timeout_s


def bounded_gripper(config: SafetyConfig, tick: Tick) -> float:
    """The gripper command after the per-axis clamp and the residual bound (no later check touches it)."""
    assert tick.command is not None
    limit = config.max_action[-1]
    gripper = np.clip(tick.command[-1], -limit, limit)
    if tick.base_action is not None and not tick.intervening:
        base = tick.base_action[-1]
        bound = config.gripper_residual_scale
        gripper = np.clip(np.clip(gripper, base - bound, base + bound), -limit, limit)
    return float(gripper)


class Model:
    """What the filter must do, tick by tick: which ticks hold, and the limits on every applied action."""

    def __init__(self, config: SafetyConfig, safety: SafetyFilter) -> None:
        self.config = config
        self.safety = safety
        self.last_velocity = np.zeros(6)  # the twist applied at the tick before (zero after a hold)
        self.last_time: float | None = None  # when it was applied
        # the twist in force before the current instant, and since when: outputs at one instant all answer to it
        self.reference: tuple[np.ndarray, float | None] = (np.zeros(6), None)
        self.gripper = float(safety.hold()[-1])  # the gripper applied last (before any tick: open)
        assert abs(self.gripper) <= config.max_action[-1]
        self.latched = False
        self.estop_input = False

    def estop(self, event: str | None) -> None:
        """Feed an e-stop event to the filter and the model; a reset is refused while the input is true."""
        if event == "press":
            self.safety.set_estop(True)
            self.estop_input = self.latched = True
        elif event == "release":
            self.safety.set_estop(False)
            self.estop_input = False
        elif event == "reset":
            assert self.safety.reset_estop() == (not self.estop_input)
            self.latched = self.latched and self.estop_input

    def expected_hold(self, tick: Tick) -> str | None:
        """The reason the filter must hold at this tick (its first words), or None if it must not hold."""
        config = self.config
        if self.latched:
            return "e-stop latched"
        if tick.command is None or not fresh(tick.command_age_s, config.timeout_s):
            return "watchdog: no fresh command"
        if not fresh(tick.state.joint_state_age_s, config.timeout_s):
            return "watchdog: no fresh joint state"
        if tick.state.ee_position_m is None or not fresh(tick.state.ee_pose_age_s, config.timeout_s):
            return "watchdog: no fresh end-effector pose"
        if not np.all(np.isfinite(tick.command)):
            return "non-finite or malformed command"
        if tick.base_action is not None and not tick.intervening and not np.all(np.isfinite(tick.base_action)):
            return "non-finite or malformed base action"
        if not np.all(np.isfinite(tick.state.ee_position_m)):
            return "non-finite end-effector position"
        if joint_state_unusable(config, tick.state):
            return "joint limit margin: "
        return None  # the joint limits may still hold: that depends on the command after every limit (check)

    def step(self, tick: Tick) -> SafetyResult:
        """Run one tick on the filter and check the result."""
        self.estop(tick.estop)
        if tick.now_s is None or self.last_time is None or tick.now_s != self.last_time:
            self.reference = (self.last_velocity, self.last_time)
        result = self.safety.apply(
            tick.command, tick.command_age_s, tick.state, tick.base_action, tick.intervening, tick.now_s
        )
        self.check(tick, result)
        self.last_velocity = velocity_of(result.action, self.config)
        self.last_time = tick.now_s
        self.gripper = float(result.action[-1])
        return result

    def check(self, tick: Tick, result: SafetyResult) -> None:
        """Assert the hold decision and every limit on one applied action."""
        config, action = self.config, result.action
        assert action.shape == (ACTION_DIM,)
        assert np.all(np.isfinite(action)), action
        # per-axis clamp on every axis, the gripper of a hold included
        assert np.all(np.abs(action) <= np.asarray(config.max_action) + ABS), (action, config.max_action)
        velocity = velocity_of(action, config)
        assert within(float(np.linalg.norm(velocity[:3])), config.max_lin_vel_mps)
        assert within(float(np.linalg.norm(velocity[3:])), config.max_ang_vel_radps)
        hold = self.expected_hold(tick)
        if hold is None and result.held:  # a joint in its margin, on or past its limit, may hold the command
            assert joints_near_limits(config, tick.state), result.reasons
            hold = "joint limit margin: "
        assert result.held == (hold is not None), (hold, result.reasons)
        if not result.held:  # no joint in its margin may move toward its limit
            assert not joint_must_hold(config, tick.state, velocity), (result.reasons, tick.state)
        if hold is not None:  # zero motion, the gripper unchanged
            assert len(result.reasons) == 1
            assert result.reasons[0].startswith(hold), (hold, result.reasons)
            assert np.all(action[:6] == 0.0)
            assert action[-1] == self.gripper
            return
        assert action[-1] == bounded_gripper(config, tick)
        # the residual bound on the gripper (every axis: the loose-limits property below)
        if tick.base_action is not None and not tick.intervening:
            slack = residual_slack(tick.base_action, config)[-1]
            assert abs(action[-1] - tick.base_action[-1]) <= slack * (1 + REL) + ABS
        period = config.control_period_s
        truncated = "workspace box" in result.reasons
        position = tick.state.ee_position_m
        assert position is not None  # a missing pose holds
        low, high = np.asarray(config.workspace_min_m), np.asarray(config.workspace_max_m)
        predicted = position + velocity[:3] * period
        tolerance = REL * (np.abs(position) + np.abs(high - low)) + ABS
        # the workspace box, for the predicted next position when the end effector is inside it now
        if np.all((low <= position) & (position <= high)):
            assert np.all(predicted >= low - tolerance), (predicted, low)
            assert np.all(predicted <= high + tolerance), (predicted, high)
        if truncated:  # the box cut the motion: some axis now ends on a face, or stops where it is (outside)
            ends = np.minimum.reduce([np.abs(predicted - low), np.abs(predicted - high), np.abs(predicted - position)])
            assert np.any(ends <= tolerance), (predicted, position, low, high)
        # acceleration limits against the twist in force before this instant, over the time since it was commanded
        # (at most one period; none when time ran back); the box is a hard position limit checked after the rate
        # limiter, so where it cuts the motion the linear deceleration may exceed max_lin_acc_mps2
        reference, since = self.reference
        window = period
        if tick.now_s is not None and since is not None:
            elapsed = tick.now_s - since
            window = min(elapsed, period) if elapsed > 0 else 0.0
        change = velocity - reference
        if not truncated:
            assert within(float(np.linalg.norm(change[:3])), config.max_lin_acc_mps2 * window)
        assert within(float(np.linalg.norm(change[3:])), config.max_ang_acc_radps2 * window)


def _state(position: tuple[float, float, float] | None = (0.5, 0.0, 0.2)) -> RobotState:
    """A fresh state at home, joints at rest."""
    home = np.array([0.0, 0.2, 0.0, -2.0, 0.0, 2.2, 0.8])
    ee = None if position is None else np.array(position, dtype=np.float64)
    return RobotState(ee, JOINTS, home, np.zeros(7), 0.0, 0.0)


def _command(*values: float) -> np.ndarray:
    action = np.zeros(ACTION_DIM)
    action[: len(values)] = values
    return action


FAST = {"max_lin_vel_mps": 100.0, "max_ang_vel_radps": 100.0, "max_lin_acc_mps2": 1e6, "max_ang_acc_radps2": 1e6}


# -- properties --------------------------------------------------------------------------------------------------


@pytest.mark.slow  # 5-30 s each
@settings(PROPERTY, max_examples=9_000)
@given(scenarios())
# the predicted position 0.850005 + 0.05 lands 5 um past the face at 0.9 (within np.allclose's tolerance)
@example((SafetyConfig(**FAST), [Tick(_command(1.0), 0.0, _state((0.850005, 0.0, 0.2)), None, False)]))
# a base action beyond the per-axis clamp must not pull the command past the clamp
@example((SafetyConfig(**FAST, max_action=(0.5,) * 7), [Tick(_command(0.5), 0.0, _state(), _command(0.9), False)]))
# a NaN end-effector position; a NaN command age
@example((SafetyConfig(), [Tick(_command(0.1), 0.0, _state((math.nan, 0.0, 0.2)), None, False)]))
@example((SafetyConfig(), [Tick(_command(0.1), math.nan, _state(), None, False)]))
# the first hold with a gripper clamp below 1
@example((SafetyConfig(max_action=(1.0,) * 6 + (0.5,)), [Tick(None, None, _state(), None, False)]))
def test_every_tick_holds_when_it_must_and_stays_within_every_limit(scenario: tuple[SafetyConfig, list[Tick]]) -> None:
    """Whatever comes in, what goes out is finite and within the limits, and it holds exactly when it must.

    Holds (zero motion, gripper unchanged): e-stop latched (it always wins), stale or missing command or joint
    state, non-finite command, base action or end-effector position, a joint in its margin that the applied
    command (its Jacobian) or its own motion moves toward the limit.
    Otherwise: the per-axis clamp, speed and acceleration limits, the workspace box and the residual bound hold.
    """
    config, ticks_ = scenario
    model = Model(config, SafetyFilter(config))
    for tick in ticks_:
        model.step(tick)


@st.composite
def loose_scenarios(draw: st.DrawFn) -> tuple[SafetyConfig, list[Tick]]:
    """A config whose speed, acceleration and box limits cannot bind, and fresh ticks with finite commands and bases.

    Only the per-axis clamp and the residual bound can change a command here, so the residual bound is visible on
    every axis of the applied action.
    """
    config = draw(CONFIGS)
    scale = np.asarray(config.action_scale)
    period = config.control_period_s
    lin = 2.0 * float(np.linalg.norm(scale[:3])) / period  # twice the fastest command
    ang = 2.0 * float(np.linalg.norm(scale[3:])) / period
    reach = 2.0 * float(np.max(scale[:3]))  # farther than one tick can go
    config = dataclasses.replace(
        config,
        max_lin_vel_mps=lin,
        max_ang_vel_radps=ang,
        max_lin_acc_mps2=2.0 * lin / period,
        max_ang_acc_radps2=2.0 * ang / period,
        workspace_min_m=tuple(np.asarray(config.workspace_min_m) - reach),
        workspace_max_m=tuple(np.asarray(config.workspace_max_m) + reach),
        joint_margin_rad=0.0,  # the joints sit mid-range: no margin may reach them, so no joint limit holds
    )
    centre = (np.asarray(config.workspace_min_m) + np.asarray(config.workspace_max_m)) / 2.0
    ticks_ = []
    for _ in range(draw(st.integers(1, 3))):
        middle = np.array([sum(config.joint_limits_rad[name]) / 2.0 for name in JOINTS])  # at rest, inside
        ages = config.timeout_s * draw(FRACTIONS3)
        state = RobotState(centre, JOINTS, middle, np.zeros(len(JOINTS)), float(ages[0]), float(ages[1]))
        base = draw(FINITE_ACTIONS) if draw(st.booleans()) else None
        ticks_.append(Tick(draw(FINITE_ACTIONS), config.timeout_s * draw(UNIT), state, base, draw(st.booleans())))
    return config, ticks_


@pytest.mark.slow  # 5-30 s each
@settings(PROPERTY, max_examples=4_000)
@given(loose_scenarios())
def test_residual_bound_holds_without_intervention_and_lifts_with_it(
    scenario: tuple[SafetyConfig, list[Tick]],
) -> None:
    """|applied - base| <= the residual bound on every axis unless a human intervenes (then only the clamp applies).

    Where the base itself lies beyond the per-axis clamp the clamp wins: the applied action is then the clamp value
    nearest the base, so the slack grows by the distance from the base to the clamp.
    """
    config, ticks_ = scenario
    safety = SafetyFilter(config)
    limit = np.asarray(config.max_action)
    for tick in ticks_:
        result = safety.apply(tick.command, tick.command_age_s, tick.state, tick.base_action, tick.intervening)
        assert not result.held, result.reasons
        assert tick.command is not None
        clamped = np.clip(tick.command, -limit, limit)
        if tick.base_action is None or tick.intervening:
            np.testing.assert_allclose(result.action, clamped, rtol=REL, atol=ABS)
            assert "residual bound" not in result.reasons
        else:
            slack = residual_slack(tick.base_action, config)
            assert np.all(np.abs(result.action - tick.base_action) <= slack * (1 + REL) + ABS)
            assert np.all(np.abs(result.action) <= limit + ABS)
            if np.all(np.abs(clamped - tick.base_action) <= residual_bounds(config)):
                np.testing.assert_allclose(result.action, clamped, rtol=REL, atol=ABS)  # within the bound: as is


@pytest.mark.slow  # 5-30 s each
@settings(PROPERTY, max_examples=2_000)
@given(scenarios(), st.data())
def test_estop_always_wins(scenario: tuple[SafetyConfig, list[Tick]], data: st.DataObject) -> None:
    """Once the e-stop latched, every tick holds: zero motion, the gripper as last applied, until a reset."""
    config, ticks_ = scenario
    safety = SafetyFilter(config)
    split = data.draw(st.integers(0, len(ticks_)))
    gripper = float(safety.hold()[-1])
    for tick in ticks_[:split]:
        gripper = float(safety.apply(tick.command, tick.command_age_s, tick.state, tick.base_action).action[-1])
    safety.set_estop(True)
    if data.draw(st.booleans()):
        safety.set_estop(False)  # releasing the input does not release the latch
    else:
        assert not safety.reset_estop()  # refused while the input is still true
    for tick in ticks_[split:] or ticks_:
        result = safety.apply(tick.command, tick.command_age_s, tick.state, tick.base_action, tick.intervening)
        assert result.held
        assert result.reasons == ["e-stop latched"]
        assert np.all(result.action[:6] == 0.0)
        assert result.action[-1] == gripper


@st.composite
def joint_scenarios(draw: st.DrawFn) -> tuple[SafetyConfig, RobotState, np.ndarray]:
    """A config whose speed, acceleration and box limits cannot bind, a fresh state with joints near their limits,
    and a finite command: the twist the joint check sees is the clamped command's, known exactly."""
    config = draw(CONFIGS)
    config = dataclasses.replace(
        config,
        max_lin_vel_mps=1e12,
        max_ang_vel_radps=1e12,
        max_lin_acc_mps2=1e15,
        max_ang_acc_radps2=1e15,
        workspace_min_m=(-1e9,) * 3,
        workspace_max_m=(1e9,) * 3,
    )
    state = draw_robot_state(draw, config)
    state.joint_state_age_s, state.ee_pose_age_s = config.timeout_s * draw(UNIT), config.timeout_s * draw(UNIT)
    state.ee_position_m = np.zeros(3)
    return config, state, draw(PLAUSIBLE7)


@pytest.mark.slow  # 5-30 s each
@settings(PROPERTY, max_examples=4_000)
@given(joint_scenarios())
def test_joint_margin_holds_exactly_when_a_joint_would_move_into_its_limit(
    scenario: tuple[SafetyConfig, RobotState, np.ndarray],
) -> None:
    """Hold (zero motion, the gripper unchanged) iff a joint in its margin would move toward its limit."""
    config, state, command = scenario
    safety = SafetyFilter(config)
    gripper = float(safety.hold()[-1])
    result = safety.apply(command, 0.0, state)
    limit = np.asarray(config.max_action)
    twist = velocity_of(np.clip(np.clip(command, -limit, limit), -1.0, 1.0), config)
    must_hold = joint_must_hold(config, state, twist)
    assert result.held == must_hold, (result.reasons, state)
    if must_hold:
        assert len(result.reasons) == 1
        assert result.reasons[0].startswith("joint limit margin: ")
        assert np.all(result.action[:6] == 0.0)
        assert result.action[-1] == gripper


TIMES = st.floats(-100.0, 100.0)


@pytest.mark.slow  # a few seconds
@settings(PROPERTY, max_examples=3_000)
@given(TIMES, st.one_of(st.none(), TIMES), TIMES, st.floats(0.0, 1.0), st.floats(1e-3, 1.0), st.data())
def test_an_input_is_fresh_only_when_it_arrived_and_was_measured_within_the_timeout(
    now: float, arrival: float | None, stamp: float, skew: float, timeout: float, data: st.DataObject
) -> None:
    """Clock jumps: an arrival after now (our clock jumped back) or a stamp beyond the skew ahead of now (a replayed
    bag, another clock) is stale; so is an arrival or a stamp older than the timeout. A stale age holds the filter."""
    if data.draw(st.booleans()):  # near the edges, where rounding could let an input through
        stamp = now + data.draw(st.sampled_from([-timeout, skew, -skew, 0.0, timeout])) * data.draw(UNIT)
    age = input_age_s(now, arrival, stamp, skew)
    expected = arrival is not None and 0.0 <= now - arrival <= timeout and -skew <= now - stamp <= timeout
    assert fresh(age, timeout) == expected, age
    config = SafetyConfig(timeout_s=timeout, max_clock_skew_s=skew)
    state = _state()
    state.ee_pose_age_s = age
    assert SafetyFilter(config).apply(_command(0.1), 0.0, state).held != expected


POSITIVE = ("control_period_s", "max_lin_vel_mps", "max_ang_vel_radps", "max_lin_acc_mps2", "max_ang_acc_radps2")


@settings(PROPERTY, max_examples=2_000)
@given(st.sampled_from([*POSITIVE, "timeout_s", "action_scale"]), st.one_of(st.floats(max_value=0.0), SPECIAL), AXIS)
def test_config_rejects_values_outside_the_valid_ranges(name: str, bad: float, axis: int) -> None:
    """A non-positive or non-finite action_scale, rate, period or timeout is refused at construction."""
    value: object = bad
    if name == "action_scale":
        scale = list(SafetyConfig().action_scale)
        scale[axis % 6] = bad
        value = tuple(scale)
    if math.isfinite(bad) and bad > 0:
        SafetyConfig(**{name: value})  # type: ignore[arg-type]  # SPECIAL's positive values are valid
        return
    with pytest.raises(SafetyError, match=name):
        SafetyConfig(**{name: value})  # type: ignore[arg-type]
