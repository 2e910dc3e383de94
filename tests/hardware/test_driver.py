"""The ROS-free driver core: the gate's twist, rejected commands, gripper mapping and deadband, watchdog, state
checks."""

from __future__ import annotations

import re

import numpy as np
import pytest

from robot_rl.errors import ParameterError
from robot_rl.hardware.driver import DriverCommand, DriverConfig, DriverCore, check_ee_pose, joint_state_problem
from robot_rl.safety.filter import SafetyConfig

S = 1_000_000_000  # ns per s


def _action(*values: float, gripper: float = -1.0) -> np.ndarray:
    action = np.zeros(7)
    action[: len(values)] = values
    action[6] = gripper
    return action


def _send(
    core: DriverCore,
    action: np.ndarray,
    twist: np.ndarray | None = None,
    now_ns: int = S,
    stamp_ns: int | None = None,
    frame_id: str = "base_link",
) -> DriverCommand:
    """A safe command as the gate publishes it: its twist (here ``action`` itself unless given), stamped now."""
    rates = np.asarray(action, dtype=np.float64) if twist is None else twist
    return core.command(action, rates, now_ns, now_ns if stamp_ns is None else stamp_ns, frame_id)


def test_the_watchdog_period_is_the_safety_gates_tick() -> None:
    assert DriverConfig().control_period_s == SafetyConfig().control_period_s


def test_the_twist_is_the_gates_velocities_whatever_the_normalized_action() -> None:
    core = DriverCore(DriverConfig())
    twist = np.array([0.25, -0.1, 0.05, 0.0, 0.3, -0.5, 0.0])  # m/s, rad/s: what the gate allowed
    result = _send(core, _action(1.0, -1.0, 0.2, 0.1, 0.0, -1.0), twist)
    np.testing.assert_array_equal(result.linear_mps, [0.25, -0.1, 0.05])
    np.testing.assert_array_equal(result.angular_radps, [0.0, 0.3, -0.5])
    assert result.executed
    assert result.problems == ()


@pytest.mark.parametrize(
    ("twist", "stamp_ns", "frame_id", "problem"),
    [
        (np.array([np.nan, 0, 0, 0, 0, 0, 0]), S, "base_link", "non-finite twist in the safe command"),
        (np.zeros(6), S, "base_link", "carries 6 velocities, not the safety gate's 7"),
        (np.zeros(7), S, "world", "safe command in frame 'world', not 'base_link'"),
        (np.zeros(7), S - S // 5, "base_link", r"stamped \+0.200 s from now \(beyond timeout_s = 0.1 s\)"),
        (np.zeros(7), S + S // 5, "base_link", r"stamped -0.200 s from now"),  # from the future: not trusted either
    ],
)
def test_a_command_the_gate_cannot_have_sent_now_is_a_zero_twist_and_stays_stale(
    twist: np.ndarray, stamp_ns: int, frame_id: str, problem: str
) -> None:
    core = DriverCore(DriverConfig(timeout_s=0.1))
    _send(core, _action(0.5), now_ns=S - 1)
    result = _send(core, _action(0.5, gripper=1.0), twist, now_ns=S, stamp_ns=stamp_ns, frame_id=frame_id)
    np.testing.assert_array_equal(result.linear_mps, 0.0)
    np.testing.assert_array_equal(result.angular_radps, 0.0)
    assert result.gripper_width_m is None  # a rejected command does not move the gripper either
    assert not result.executed
    assert len(result.problems) == 1
    assert re.search(problem, result.problems[0]), result.problems
    assert core.stale(S + 1)


def test_gripper_mapping_follows_robosuite_sign() -> None:
    core = DriverCore(DriverConfig(gripper_open_m=0.08, gripper_closed_m=0.0))
    assert core.gripper_width(-1.0) == 0.08  # -1 opens
    assert core.gripper_width(1.0) == 0.0  # +1 closes
    assert core.gripper_width(0.0) == pytest.approx(0.04)
    assert core.gripper_width(5.0) == 0.0


def test_gripper_deadband_sends_only_changes() -> None:
    core = DriverCore(DriverConfig(gripper_deadband_m=0.002))
    sent = [_send(core, _action(gripper=g)).gripper_width_m for g in (-1.0, -1.0, -0.98, -0.9, -0.9)]
    # -1 -> 0.08 (first, sent); again 0.08 (no); -0.98 -> 0.0792 (moved 0.0008 < 0.002, no);
    # -0.9 -> 0.076 (moved 0.004 from the last sent 0.08, sent); again (no)
    assert sent[0] == 0.08
    assert sent[1] is None
    assert sent[2] is None
    assert sent[3] == pytest.approx(0.076)
    assert sent[4] is None


def test_gripper_end_stops_are_always_reached() -> None:
    core = DriverCore(DriverConfig(gripper_deadband_m=0.01))
    assert _send(core, _action(gripper=0.8)).gripper_width_m == pytest.approx(0.008)
    assert _send(core, _action(gripper=1.0)).gripper_width_m == 0.0  # 0.008 < deadband, but fully closed


def test_watchdog_goes_stale_after_timeout() -> None:
    core = DriverCore(DriverConfig(timeout_s=0.1))
    assert core.stale(0)  # nothing received yet
    _send(core, _action(0.1))
    assert not core.stale(S + S // 10)  # exactly timeout_s old: still fresh
    assert core.stale(S + S // 10 + 1)
    assert core.stale(S - 1)  # the clock ran back past the last command


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"control_period_s": 0.0}, "control_period_s must be a finite number > 0"),
        ({"control_period_s": -0.05}, "control_period_s must be a finite number > 0"),
        ({"timeout_s": 0.01}, r"timeout_s \(0.01\) must be >= control_period_s"),
        ({"gripper_open_m": 0.0, "gripper_closed_m": 0.0}, "must differ"),
        ({"gripper_deadband_m": 0.1}, "must be below the gripper stroke"),
        ({"command_frame": ""}, "command_frame must be a non-empty tf2 frame id"),
        ({"robot_base_frame": "/fr3_link0"}, "robot_base_frame must be a non-empty tf2 frame id"),
    ],
)
def test_malformed_configuration_is_a_parameter_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        DriverConfig(**kwargs)


def test_joint_state_checks() -> None:
    names = ["j1", "j2"]
    assert joint_state_problem(names, [0.1, 0.2], [0.0, 0.0], []) is None
    assert joint_state_problem(names, [0.1, np.nan], [], []) == "non-finite joint position for j2"
    assert joint_state_problem(names, [0.1, 0.2], [np.inf, 0.0], []) == "non-finite joint velocity for j1"
    assert joint_state_problem(names, [0.1], [], []) == "joint state has 2 names but 1 position values"


def test_pose_checks_frame_and_quaternion() -> None:
    config = DriverConfig(robot_base_frame="fr3_link0")
    ok = check_ee_pose("fr3_link0", [0.5, 0.0, 0.3], [1.0, 0.0, 0.0, 0.0005], config)
    assert ok.problem is None
    assert ok.relabelled
    assert ok.quaternion_xyzw is not None
    assert np.linalg.norm(ok.quaternion_xyzw) == pytest.approx(1.0, abs=1e-15)
    assert check_ee_pose("base_link", [0.5, 0.0, 0.3], [0, 0, 0, 1], config).relabelled is False
    wrong = check_ee_pose("world", [0.5, 0.0, 0.3], [0, 0, 0, 1], config)
    assert wrong.problem is not None
    assert "expected base_link or fr3_link0" in wrong.problem
    assert "norm 1.1" in str(check_ee_pose("base_link", [0, 0, 0], [0, 0, 0, 1.1], config).problem)
    assert "non-finite ee position" in str(check_ee_pose("base_link", [np.nan, 0, 0], [0, 0, 0, 1], config).problem)
