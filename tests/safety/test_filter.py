"""The safety filter, check by check, with expected values worked out by hand."""

import numpy as np
import pytest

from robot_rl.errors import SafetyError
from robot_rl.safety.filter import PANDA_JOINT_LIMITS_RAD, RobotState, SafetyConfig, SafetyFilter, input_age_s

# One tick is 0.05 s and |action| = 1 moves 0.05 m or 0.5 rad, so action 1.0 = 1 m/s.
NAMES = [f"panda_joint{i}" for i in range(1, 8)]
HOME = np.array([0.0, 0.2, 0.0, -2.0, 0.0, 2.2, 0.8])


def state(ee: tuple[float, float, float] | None = (0.5, 0.0, 0.2), positions: np.ndarray = HOME, velocities=None):
    velocities = np.zeros(7) if velocities is None else np.asarray(velocities, dtype=float)
    return RobotState(np.array(ee) if ee is not None else None, NAMES, positions, velocities, 0.0, 0.0)


def unlimited(**overrides: object) -> SafetyFilter:
    """A filter whose speed and acceleration limits do not bind unless a test sets them."""
    values = {"max_lin_vel_mps": 100.0, "max_ang_vel_radps": 100.0, "max_lin_acc_mps2": 1e6, "max_ang_acc_radps2": 1e6}
    values.update(overrides)
    return SafetyFilter(SafetyConfig(**values))  # type: ignore[arg-type]


def command(*values: float) -> np.ndarray:
    """A (7,) action; missing trailing axes are zero."""
    action = np.zeros(7)
    action[: len(values)] = values
    return action


def test_a_safe_command_passes_unchanged() -> None:
    result = unlimited().apply(command(0.1, 0, 0, 0, 0, 0, 1), 0.0, state())
    np.testing.assert_allclose(result.action, [0.1, 0, 0, 0, 0, 0, 1])
    assert result.reasons == []
    assert not result.held


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_command_holds_and_keeps_the_gripper(bad: float) -> None:
    safety = unlimited()
    safety.apply(command(0, 0, 0, 0, 0, 0, 1), 0.0, state())  # gripper closed
    result = safety.apply(command(bad, 0, 0, 0, 0, 0, -1), 0.0, state())
    np.testing.assert_array_equal(result.action, [0, 0, 0, 0, 0, 0, 1])
    assert result.held
    assert result.reasons == ["non-finite or malformed command"]


def test_per_axis_clamp() -> None:
    safety = unlimited(max_action=(0.5,) * 7)
    result = safety.apply(command(0.9, -0.9, 0.2, 0, 0, 0, 1), 0.0, state())
    np.testing.assert_allclose(result.action, [0.5, -0.5, 0.2, 0, 0, 0, 0.5])
    assert "per-axis clamp" in result.reasons
    assert result.clipped["dx"] == 0.9


def test_residual_bound_unless_a_human_intervenes() -> None:
    base = command(0.1, 0, 0, 0, 0, 0, 1)
    result = unlimited(residual_scale=0.2).apply(command(0.6, -0.3, 0, 0, 0, 0, 1), 0.0, state(), base_action=base)
    np.testing.assert_allclose(result.action, [0.3, -0.2, 0, 0, 0, 0, 1])
    assert result.reasons == ["residual bound"]
    human = unlimited(residual_scale=0.2).apply(
        command(0.6, -0.3, 0, 0, 0, 0, 1), 0.0, state(), base_action=base, intervening=True
    )
    np.testing.assert_allclose(human.action, [0.6, -0.3, 0, 0, 0, 0, 1])


def test_gripper_residual_has_its_own_bound() -> None:
    base = command(0.1, 0, 0, 0, 0, 0, 1)
    opening = command(0.6, 0, 0, 0, 0, 0, -1)  # the policy opens the gripper the base keeps closed
    default = unlimited(residual_scale=0.2).apply(opening, 0.0, state(), base_action=base)
    np.testing.assert_allclose(default.action, [0.3, 0, 0, 0, 0, 0, 0.8])  # both bounds 0.2: still closing
    wide = unlimited(residual_scale=0.2, gripper_residual_scale=2.0).apply(opening, 0.0, state(), base_action=base)
    np.testing.assert_allclose(wide.action, [0.3, 0, 0, 0, 0, 0, -1])  # motion bounded, the gripper opens
    assert wide.reasons == ["residual bound"]


def test_linear_speed_limit_scales_the_motion() -> None:
    # 0.6 and 0.8 -> 1.0 m/s; the limit 0.25 m/s scales both by 0.25
    result = unlimited(max_lin_vel_mps=0.25).apply(command(0.6, 0.8, 0, 0, 0, 0, 0), 0.0, state())
    np.testing.assert_allclose(result.action[:3], [0.15, 0.2, 0])
    assert result.reasons == ["speed limit"]


def test_angular_speed_limit() -> None:
    # droll 1.0 -> 10 rad/s; the limit 2 rad/s gives 0.2
    result = unlimited(max_ang_vel_radps=2.0).apply(command(0, 0, 0, 1.0, 0, 0, 0), 0.0, state())
    np.testing.assert_allclose(result.action[3], 0.2)


def test_acceleration_limit_ramps_up_from_rest() -> None:
    # 2 m/s^2 over 0.05 s allows 0.1 m/s more per tick: actions 0.1, 0.2, 0.3 ...
    safety = unlimited(max_lin_acc_mps2=2.0)
    applied = [safety.apply(command(1.0, 0, 0, 0, 0, 0, 0), 0.0, state()).action[0] for _ in range(4)]
    np.testing.assert_allclose(applied, [0.1, 0.2, 0.3, 0.4])


def test_workspace_box_stops_at_the_face_and_lets_the_arm_back_in() -> None:
    safety = unlimited(workspace_max_m=(0.9, 0.35, 0.4))
    # 0.88 m + 0.05 m would leave the box at 0.9: only 0.02 m (action 0.4) is allowed
    result = safety.apply(command(1.0, 0, 0, 0, 0, 0, 0), 0.0, state(ee=(0.88, 0, 0.2)))
    np.testing.assert_allclose(result.action[0], 0.4)
    assert result.reasons == ["workspace box"]
    # already outside (0.95 m): moving further out is stopped, moving back in is allowed
    outward = safety.apply(command(0.5, 0, 0, 0, 0, 0, 0), 0.0, state(ee=(0.95, 0, 0.2)))
    assert outward.action[0] == 0.0
    inward = safety.apply(command(-0.5, 0, 0, 0, 0, 0, 0), 0.0, state(ee=(0.95, 0, 0.2)))
    np.testing.assert_allclose(inward.action[0], -0.5)


# The elbow stretched near joint 4's upper limit (-0.0698 rad): past the elbow's longest reach (about -0.25 rad,
# Franka's 0.0825 m elbow offsets), so pulling the hand back toward the base pushes joint 4 into its limit and
# reaching further out moves it away (tests/safety/test_kinematics.py checks the Jacobian against MuJoCo's)
STRETCHED = np.array([0.0, 1.2, 0.0, -0.1, 0.0, 1.3, 0.785])


def test_joint_limit_margin_holds_a_command_that_moves_a_joint_into_its_limit() -> None:
    retract, reach = command(-0.3, 0, 0, 0, 0, 0, 1), command(0.3, 0, 0, 0, 0, 0, 1)
    result = unlimited().apply(retract, 0.0, state(positions=STRETCHED))
    assert result.held
    assert result.reasons[0].startswith("joint limit margin: panda_joint4 at -0.100 rad, upper limit -0.070")
    assert result.action[-1] == -1.0  # a hold keeps the gripper as applied last (open: nothing applied yet)
    assert not unlimited().apply(reach, 0.0, state(positions=STRETCHED)).held  # moves joint 4 away from the limit
    away_from_it = STRETCHED.copy()
    away_from_it[3] = -0.2  # outside the 0.05 rad margin: any motion goes
    assert not unlimited().apply(retract, 0.0, state(positions=away_from_it)).held


def test_a_joint_still_moving_into_its_limit_holds_unless_the_command_pulls_it_back() -> None:
    toward = np.zeros(7)
    toward[3] = 0.2  # joint 4 still moving up toward its limit
    still = unlimited().apply(command(0, 0, 0, 0, 0, 0, 1), 0.0, state(positions=STRETCHED, velocities=toward))
    assert still.held
    reach = unlimited().apply(command(0.3, 0, 0, 0, 0, 0, 1), 0.0, state(positions=STRETCHED, velocities=toward))
    assert not reach.held


def test_a_joint_on_its_limit_may_be_pulled_off_it_and_the_gripper_may_act() -> None:
    on_limit = STRETCHED.copy()
    on_limit[3] = PANDA_JOINT_LIMITS_RAD["panda_joint4"][1]
    safety = unlimited()
    gripper_only = safety.apply(command(0, 0, 0, 0, 0, 0, 1), 0.0, state(positions=on_limit))
    np.testing.assert_array_equal(gripper_only.action, [0, 0, 0, 0, 0, 0, 1])  # no motion: nothing pushes
    assert safety.apply(command(-0.3, 0, 0, 0, 0, 0, 1), 0.0, state(positions=on_limit)).held
    past = on_limit.copy()
    past[3] += 0.01
    assert not safety.apply(command(0.3, 0, 0, 0, 0, 0, 1), 0.0, state(positions=past)).held  # back toward range


def test_watchdog() -> None:
    safety = unlimited(timeout_s=0.1)
    assert safety.apply(None, None, state()).reasons == ["watchdog: no fresh command"]
    assert safety.apply(command(0.1, 0, 0, 0, 0, 0, 0), 0.2, state()).reasons == ["watchdog: no fresh command"]
    stale = state()
    stale.joint_state_age_s = 0.5
    assert safety.apply(command(0.1, 0, 0, 0, 0, 0, 0), 0.0, stale).reasons == ["watchdog: no fresh joint state"]
    never = state()
    never.joint_state_age_s = None
    assert safety.apply(command(0.1, 0, 0, 0, 0, 0, 0), 0.0, never).held


def test_estop_latches_and_reset_is_refused_while_active() -> None:
    safety = unlimited()
    safety.set_estop(True)
    assert safety.apply(command(0.1, 0, 0, 0, 0, 0, 0), 0.0, state()).reasons == ["e-stop latched"]
    assert not safety.reset_estop()  # the input is still true
    safety.set_estop(False)
    assert safety.apply(command(0.1, 0, 0, 0, 0, 0, 0), 0.0, state()).held  # still latched
    assert safety.reset_estop()
    assert not safety.apply(command(0.1, 0, 0, 0, 0, 0, 0), 0.0, state()).held


def test_hold_resets_the_rate_limiter() -> None:
    safety = unlimited(max_lin_acc_mps2=2.0)
    for _ in range(3):
        safety.apply(command(1.0, 0, 0, 0, 0, 0, 0), 0.0, state())
    safety.apply(command(np.nan, 0, 0, 0, 0, 0, 0), 0.0, state())  # hold: the arm stops
    assert safety.apply(command(1.0, 0, 0, 0, 0, 0, 0), 0.0, state()).action[0] == pytest.approx(0.1)


def test_forgetting_the_motion_starts_like_a_new_filter_and_keeps_the_estop() -> None:
    """A sim episode start: the arm is back at rest with the gripper open, whatever the last episode did."""
    safety = unlimited(max_lin_acc_mps2=2.0)
    for _ in range(4):
        safety.apply(command(-1.0, 0, 0, 0, 0, 0, 1.0), 0.0, state())  # moving at -0.4 m/s, gripper closed
    safety.forget_motion()
    assert safety.hold()[-1] == -1.0  # a hold keeps the open gripper of the reset, not the closed one
    new = unlimited(max_lin_acc_mps2=2.0)
    for _ in range(3):  # ramps up from rest: 0.1, 0.2, 0.3, not from -0.4 m/s
        forgot = safety.apply(command(1.0, 0, 0, 0, 0, 0, 0), 0.0, state())
        np.testing.assert_array_equal(forgot.action, new.apply(command(1.0, 0, 0, 0, 0, 0, 0), 0.0, state()).action)
    safety.set_estop(True)
    safety.set_estop(False)
    safety.forget_motion()
    assert safety.estop_latched  # only a reset releases it


def test_residual_bound_never_undoes_the_per_axis_clamp() -> None:
    # the band around the base 0.9 is [0.7, 1.1]; the clamp 0.5 wins: as close to the base as it allows
    result = unlimited(max_action=(0.5,) * 7).apply(command(0.5, 0, 0, 0, 0, 0, 0.5), 0.0, state(), command(0.9))
    np.testing.assert_allclose(result.action, [0.5, 0, 0, 0, 0, 0, 0.2])


def test_a_nan_age_is_not_fresh() -> None:
    assert unlimited().apply(command(0.1), np.nan, state()).reasons == ["watchdog: no fresh command"]
    stale = state()
    stale.joint_state_age_s = np.nan
    assert unlimited().apply(command(0.1), 0.0, stale).reasons == ["watchdog: no fresh joint state"]


def test_non_finite_end_effector_position_or_joint_state_holds() -> None:
    result = unlimited().apply(command(0.1), 0.0, state(ee=(np.nan, 0.0, 0.2)))
    assert result.reasons == ["non-finite end-effector position"]
    np.testing.assert_array_equal(result.action[:6], 0.0)
    unknown = HOME.copy()
    unknown[2] = np.nan
    assert (
        unlimited()
        .apply(command(0.1), 0.0, state(positions=unknown))
        .reasons[0]
        .startswith("joint limit margin: panda_joint3 state is not finite")
    )


def test_workspace_face_is_exact() -> None:
    # 0.850005 m + 0.05 m would end 5 um past the face at 0.9 m: only 0.049995 m (action 0.9999) is allowed
    result = unlimited().apply(command(1.0), 0.0, state(ee=(0.850005, 0, 0.2)))
    np.testing.assert_allclose(result.action[0], 0.9999, rtol=1e-12)
    assert 0.850005 + result.action[0] * 0.05 <= 0.9


def test_the_first_hold_keeps_the_gripper_within_its_clamp() -> None:
    # nothing applied yet: the gripper is open, as far as the per-axis clamp allows
    assert unlimited(max_action=(1.0,) * 6 + (0.5,)).apply(None, None, state()).action[-1] == -0.5


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"control_period_s": 0}, "control_period_s"),
        ({"max_lin_vel_mps": -1}, "max_lin_vel_mps"),
        ({"action_scale": (0.05,) * 5}, "action_scale"),
        ({"workspace_min_m": (1, 0, 0)}, "below workspace_max_m"),
        ({"max_action": (1.5,) * 7}, "max_action"),
        ({"residual_scale": -0.1}, "residual_scale"),
        ({"gripper_residual_scale": 2.5}, "gripper_residual_scale"),
        ({"gripper_residual_scale": True}, "gripper_residual_scale"),
        ({"joint_limits_rad": {"j": (1.0, -1.0)}}, "lower must be below upper"),
        ({"timeout_s": float("nan")}, "timeout_s"),
        ({"action_scale": (0.05, 0.05, 0.0, 0.5, 0.5, 0.5)}, "action_scale must be positive"),
        ({"joint_margin_rad": float("nan")}, "joint_margin_rad"),
        ({"arm_joint_names": ("panda_joint1",) * 7}, "arm_joint_names must be 7 distinct joints"),
        ({"arm_joint_names": tuple(f"fr3_joint{i}" for i in range(1, 8))}, "arm_joint_names must be 7 distinct"),
        ({"tcp_offset_m": -0.1}, "tcp_offset_m must lie in"),
        ({"tcp_offset_m": float("nan")}, "tcp_offset_m must lie in"),
        ({"max_clock_skew_s": -0.01}, "max_clock_skew_s"),
    ],
)
def test_config_validation(overrides: dict, fragment: str) -> None:
    with pytest.raises(SafetyError, match=fragment):
        SafetyConfig(**overrides)


# -- regressions of the outside review (issue 9) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ee", "age", "reason"),
    [
        (None, None, "watchdog: no fresh end-effector pose"),  # never received (or only in another frame)
        ((0.88, 0.0, 0.2), 0.5, "watchdog: no fresh end-effector pose"),  # frozen: older than timeout_s
        ((0.88, 0.0, 0.2), -0.01, "watchdog: no fresh end-effector pose"),  # from after a clock jump back
        ((0.88, 0.0, 0.2), np.nan, "watchdog: no fresh end-effector pose"),
        ((np.nan, 0.0, 0.2), 0.0, "non-finite end-effector position"),
    ],
)
def test_the_workspace_box_holds_without_a_fresh_end_effector_pose(
    ee: tuple[float, float, float] | None, age: float | None, reason: str
) -> None:
    moving = state(ee=ee)
    moving.ee_pose_age_s = age
    result = unlimited().apply(command(1.0), 0.0, moving)
    assert result.held
    assert result.reasons == [reason]
    np.testing.assert_array_equal(result.action[:6], 0.0)


def test_a_frozen_pose_cannot_walk_the_arm_out_of_the_box() -> None:
    # the review's case: the pose froze at x = 0.88 m (box max 0.9 m) and 40 ticks of +x moved the arm 0.49 m out
    safety = unlimited(timeout_s=0.1)
    frozen = state(ee=(0.88, 0.0, 0.2))
    travelled = 0.0
    for tick in range(40):
        frozen.ee_pose_age_s = tick * 0.05  # the pose stops arriving; commands and joint states stay fresh
        travelled += safety.apply(command(1.0), 0.0, frozen).action[0] * 0.05
    # up to the face (0.02 m) while the pose is still fresh (ages 0, 0.05, 0.1 s), then holds
    assert travelled == pytest.approx(3 * 0.02)


@pytest.mark.parametrize("age", [-1e-9, -0.5, -9.2])
def test_a_negative_age_is_not_fresh(age: float) -> None:
    safety = unlimited()
    assert safety.apply(command(0.1), age, state()).reasons == ["watchdog: no fresh command"]
    joint = state()
    joint.joint_state_age_s = age
    assert safety.apply(command(0.1), 0.0, joint).reasons == ["watchdog: no fresh joint state"]


def test_input_age_is_the_older_of_arrival_and_stamp_and_a_future_stamp_is_stale() -> None:
    assert input_age_s(10.0, None, 9.9, 0.05) is None
    assert input_age_s(10.0, 9.99, 9.9, 0.05) == pytest.approx(0.1)  # measured 0.1 s ago, arrived 0.01 s ago
    assert input_age_s(10.0, 9.9, 9.99, 0.05) == pytest.approx(0.1)  # arrived 0.1 s ago
    assert input_age_s(10.0, 10.0, 10.04, 0.05) == pytest.approx(0.0)  # 40 ms ahead: within the skew
    assert input_age_s(10.0, 10.0, 10.06, 0.05) == -np.inf  # 60 ms ahead: stale
    assert input_age_s(1.0, 10.2, 10.2, 0.05) == -np.inf  # the clock jumped back from 10.2 s to 1.0 s
    assert input_age_s(0.0, 1.0, 0.0, 0.0) == -np.inf  # arrived "after now", stamped now (found by Hypothesis)
    assert input_age_s(10.0, np.nan, 10.0, 0.05) == -np.inf


def test_acceleration_is_limited_per_second_not_per_message() -> None:
    # 2.5 m/s^2; the period is 0.05 s but commands come at 30 Hz: 2.5 / 30 = 0.0833 m/s more per command
    safety = unlimited(max_lin_acc_mps2=2.5)
    safety.apply(command(0.0), 0.0, state(), now_s=0.0)  # at rest
    velocities = [safety.apply(command(1.0), 0.0, state(), now_s=k / 30).action[0] for k in range(1, 4)]
    np.testing.assert_allclose(np.diff([0.0, *velocities]), 2.5 / 30, rtol=1e-9)  # in m/s (action 1 = 1 m/s)


def test_a_burst_of_commands_at_one_instant_cannot_add_up() -> None:
    safety = unlimited(max_lin_acc_mps2=2.0)
    safety.apply(command(0.0), 0.0, state(), now_s=1.0)
    # ten commands at 1.05 s: each is limited against the velocity in force since 1.0 s (0 m/s), not the one before
    burst = [safety.apply(command(1.0), 0.0, state(), now_s=1.05).action[0] for _ in range(10)]
    np.testing.assert_allclose(burst, 0.1)
    assert safety.apply(command(1.0), 0.0, state(), now_s=1.10).action[0] == pytest.approx(0.2)


def test_time_that_runs_back_allows_no_change_and_a_long_gap_counts_as_one_period() -> None:
    safety = unlimited(max_lin_acc_mps2=2.0)
    safety.apply(command(0.5), 0.0, state(), now_s=10.0)  # 0.1 m/s from rest
    assert safety.apply(command(1.0), 0.0, state(), now_s=9.0).action[0] == pytest.approx(0.1)
    assert safety.apply(command(1.0), 0.0, state(), now_s=9.05).action[0] == pytest.approx(0.2)
    assert safety.apply(command(1.0), 0.0, state(), now_s=100.0).action[0] == pytest.approx(0.3)
    assert safety.apply(command(1.0), 0.0, state(), now_s=np.nan).action[0] == pytest.approx(0.3)


def test_a_joint_limit_hold_keeps_the_gripper_as_applied_last() -> None:
    safety = unlimited()
    safety.apply(command(0.1, 0, 0, 0, 0, 0, 1.0), 0.0, state())  # gripper closed
    result = safety.apply(command(-0.3, 0, 0, 0, 0, 0, -1.0), 0.0, state(positions=STRETCHED))  # into the limit
    assert result.held
    np.testing.assert_array_equal(result.action, [0, 0, 0, 0, 0, 0, 1.0])


def test_residual_bound_excess_names_the_first_bound_above_the_gates_in_float32() -> None:
    gate = SafetyConfig()  # 0.2 on both
    assert gate.residual_bound_excess(float(np.float32(0.2)), 0.2) is None  # an actor's float32 copy of 0.2
    assert gate.residual_bound_excess(0.1, 0.0) is None
    assert gate.residual_bound_excess(0.3, 2.0) == "residual_scale 0.3 exceeds the safety gate's 0.2"
    assert gate.residual_bound_excess(0.2, 2.0) == "gripper_residual_scale 2.0 exceeds the safety gate's 0.2"
    assert SafetyConfig(gripper_residual_scale=2.0).residual_bound_excess(0.2, 2.0) is None


def test_a_joint_state_without_positions_holds_instead_of_raising() -> None:
    """sensor_msgs/JointState allows names with an empty position array; the joint-limit check cannot run on it."""
    result = unlimited().apply(command(0.1), 0.0, state(positions=np.array([])))
    assert result.held
    assert result.reasons == ["joint limit margin: 7 joint names but 0 positions"]


def test_twist_is_action_times_scale_over_period() -> None:
    twist = unlimited().twist(command(1.0, -0.5, 0.2, 0.1, 0.0, -1.0, 1.0))
    # 0.05 m per tick at 20 Hz is 1 m/s at |action| = 1; 0.5 rad per tick is 10 rad/s; the gripper has none
    np.testing.assert_allclose(twist, [1.0, -0.5, 0.2, 1.0, 0.0, -10.0])
