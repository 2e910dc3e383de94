"""The driver node on the in-process backend: twists, gripper widths, watchdog and robot state, by message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.action_space import ACTION_DIM, actions_to_trajectory
from robot_rl.errors import CalibrationError, ParameterError
from robot_rl.hardware.driver_node import TWIST_TOPIC, DriverNode, Float64MultiArray
from robot_rl.runtime import Node, diagnostics, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state
from robot_rl.safety.filter import SafetyConfig
from robot_rl.safety.node import SafetyNode

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "calibration" / "workspace.yaml"
PARAMS_FILE = REPO / "config" / "real_driver.yaml"
ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")
JOINTS = [f"fr3_joint{i}" for i in range(1, 8)]
HOME_RAD = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
ROBOT_JOINTS_TOPIC = "/franka/joint_states"
ROBOT_POSE_TOPIC = "/franka_robot_state_broadcaster/current_pose"


class Harness(Node):
    """Plays robot_rl upstream and the robot: publishes /clock, safe commands and the robot state; records outputs."""

    def __init__(self, context: InprocContext) -> None:
        super().__init__("harness", context=context)
        self.context = context
        self.time_ns = 1_000_000_000
        self.twists: list[Any] = []
        self.gripper: list[float] = []
        self.joint_states: list[Any] = []
        self.ee_poses: list[Any] = []
        self.diagnostics: list[Any] = []
        self.clock = self.create_publisher(msg.Clock, "/clock", 10)
        self.safe = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        self.robot_joints = self.create_publisher(msg.JointState, ROBOT_JOINTS_TOPIC, 10)
        self.robot_pose = self.create_publisher(msg.PoseStamped, ROBOT_POSE_TOPIC, 10)
        self.create_subscription(msg.TwistStamped, TWIST_TOPIC, self.twists.append, 10)
        self.create_subscription(
            Float64MultiArray, "/gripper_controller/commands", lambda m: self.gripper.append(float(m.data[0])), 10
        )
        self.create_subscription(msg.JointState, "/joint_states", self.joint_states.append, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.ee_poses.append, 10)
        self.create_subscription(
            msg.DiagnosticArray, "/diagnostics", lambda m: self.diagnostics.append(m.status[0]), 10
        )

    def tick(self, command: np.ndarray | None, dt_s: float = 0.05, twist: np.ndarray | None = None) -> None:
        """Advance sim time by dt_s, publish a safe command (if any) as the safety gate does (stamped now, in
        base_link, with its twist: ``twist``, else the default gate's ``command * action_scale / period``), run the
        graph until quiet."""
        self.time_ns += round(dt_s * 1e9)
        sec, nanosec = divmod(self.time_ns, 1_000_000_000)
        stamp = msg.Time(sec=sec, nanosec=nanosec)
        self.clock.publish(msg.Clock(clock=stamp))
        if command is not None:
            velocities = gate_twist(command) if twist is None else twist
            header = msg.Header(stamp=stamp, frame_id="base_link")
            self.safe.publish(actions_to_trajectory(command, 0.05, header, velocities))
        self.context.spin_until_quiet()

    def messages(self, level: int) -> list[str]:
        """The diagnostic messages reported at ``level``."""
        return [status.message for status in self.diagnostics if diagnostics.level_of(status) == level]


def gate_twist(command: np.ndarray) -> np.ndarray:
    """The velocities a default safety gate publishes with ``command``: m/s, rad/s, 0 for the gripper."""
    config = SafetyConfig()
    return np.append(np.asarray(command)[:6] * np.array(config.action_scale) / config.control_period_s, 0.0)


def _make(*params: str) -> tuple[DriverNode, Harness]:
    context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    for param in params:
        args += ["-p", param]
    driver = DriverNode(context=context, cli_args=args)
    harness = Harness(context)
    harness.tick(None)  # sim time starts
    return driver, harness


@pytest.fixture
def graph() -> tuple[DriverNode, Harness]:
    return _make()


def _action(*values: float, gripper: float = -1.0) -> np.ndarray:
    action = np.zeros(ACTION_DIM)
    action[: len(values)] = values
    action[6] = gripper
    return action


def _vector(v: Any) -> list[float]:
    return [v.x, v.y, v.z]


def _pose(frame_id: str, q: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0), sec: int = 7) -> Any:
    pose = msg.Pose(position=msg.Point(x=0.5, y=0.1, z=0.2), orientation=msg.Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]))
    return msg.PoseStamped(header=msg.Header(stamp=msg.Time(sec=sec, nanosec=5), frame_id=frame_id), pose=pose)


# -- commands -------------------------------------------------------------------------


def test_safe_command_becomes_the_gates_twist_in_base_link(graph: tuple[DriverNode, Harness]) -> None:
    _, harness = graph
    harness.tick(_action(0.2, -0.1, 0.05, 0.0, 0.1, -0.2))
    twist = harness.twists[-1]
    # the default gate: action * 0.05 m per tick / 0.05 s, 1 m/s per unit; rotation 0.5 rad per tick, 10 rad/s
    np.testing.assert_allclose(_vector(twist.twist.linear), [0.2, -0.1, 0.05])
    np.testing.assert_allclose(_vector(twist.twist.angular), [0.0, 1.0, -2.0])
    assert twist.header.frame_id == "base_link"
    assert (twist.header.stamp.sec, twist.header.stamp.nanosec) == divmod(harness.time_ns, 1_000_000_000)


def test_period_and_frame_come_from_parameters() -> None:
    _, harness = _make("control_period_s:=0.1", "command_frame:=fr3_link0")
    harness.tick(_action(1.0), dt_s=0.1, twist=np.array([0.1, 0.2, 0.3, 1.0, 2.0, 3.0, 0.0]))
    twist = harness.twists[-1]
    np.testing.assert_allclose(_vector(twist.twist.linear), [0.1, 0.2, 0.3])
    np.testing.assert_allclose(_vector(twist.twist.angular), [1.0, 2.0, 3.0])
    assert twist.header.frame_id == "fr3_link0"


def test_the_arm_moves_at_the_speed_the_gate_allowed_whatever_its_action_scale() -> None:
    """The gate and the driver chained, the gate with a quarter of the default action_scale (the sim's 0.0125 m per
    tick): the twist is the gate's, not a second conversion with another scale (which would move 4x faster)."""
    context = InprocContext()
    common = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    quarter = "action_scale:=[0.0125, 0.0125, 0.0125, 0.125, 0.125, 0.125]"
    SafetyNode(context=context, cli_args=[*common, "-p", quarter, "-p", "robot_model:=fr3"])
    DriverNode(context=context, cli_args=common)
    harness = Harness(context)
    command = harness.create_publisher(msg.JointTrajectory, "/robot_rl/command", 10)
    for _ in range(30):  # the robot's state through the driver, a full-scale dx request, under the speed limit
        harness.time_ns += 50_000_000
        sec, nanosec = divmod(harness.time_ns, 1_000_000_000)
        header = msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")
        harness.clock.publish(msg.Clock(clock=header.stamp))
        harness.robot_joints.publish(numpy_to_joint_state(JOINTS, np.array(HOME_RAD), np.zeros(7), header=header))
        pose = _pose("base_link")
        pose.header = header
        harness.robot_pose.publish(pose)
        command.publish(actions_to_trajectory(_action(1.0), 0.05, header))
        harness.context.spin_until_quiet()
    # dx = 1 is 0.25 m/s at this scale, exactly the gate's speed limit; the old driver sent 1.0 m/s
    assert harness.twists[-1].twist.linear.x == pytest.approx(0.25)


def test_gripper_is_a_width_sent_only_when_it_changes(graph: tuple[DriverNode, Harness]) -> None:
    _, harness = graph
    for gripper in (-1.0, -1.0, -0.99, 1.0, 1.0, 0.0):
        harness.tick(_action(0.1, gripper=gripper))
    # -1 -> 0.08 m (open); repeated and a 0.0004 m change stay in the 0.001 m deadband;
    # +1 -> 0.0 m (closed); 0 -> 0.04 m
    assert harness.gripper == pytest.approx([0.08, 0.0, 0.04])


def test_malformed_safe_command_stops_the_arm(graph: tuple[DriverNode, Harness]) -> None:
    driver, harness = graph
    harness.tick(_action(0.3))
    bad = msg.JointTrajectory(joint_names=["x"], points=[msg.JointTrajectoryPoint(positions=[1.0])])
    harness.safe.publish(bad)
    harness.context.spin_until_quiet()
    assert _vector(harness.twists[-1].twist.linear) == [0.0, 0.0, 0.0]
    assert any("rejected safe command" in m for m in harness.messages(diagnostics.ERROR))
    assert driver.core.stale(harness.time_ns)


def test_non_finite_command_is_a_zero_twist(graph: tuple[DriverNode, Harness]) -> None:
    _, harness = graph
    harness.tick(_action(0.3, gripper=-1.0))
    harness.tick(_action(np.nan, gripper=1.0))
    assert _vector(harness.twists[-1].twist.linear) == [0.0, 0.0, 0.0]
    assert harness.gripper == [0.08]  # the garbage command did not close the gripper
    assert "non-finite twist in the safe command: zero twist" in harness.messages(diagnostics.ERROR)


@pytest.mark.parametrize(
    ("stamp_sec", "with_velocities", "problem"),
    [
        (None, False, "carries 0 velocities"),  # another publisher, or a bag recorded before the gate sent them
        (0.5, True, "beyond timeout_s"),  # ``ros2 bag play`` of a recorded /robot_rl/safe_command: seconds old
    ],
)
def test_a_safe_command_the_gate_did_not_just_send_stops_the_arm(
    graph: tuple[DriverNode, Harness], stamp_sec: float | None, with_velocities: bool, problem: str
) -> None:
    driver, harness = graph
    harness.tick(_action(0.3))
    sec, nanosec = divmod(harness.time_ns if stamp_sec is None else round(stamp_sec * 1e9), 1_000_000_000)
    header = msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")
    velocities = gate_twist(_action(0.3)) if with_velocities else None
    harness.safe.publish(actions_to_trajectory(_action(0.3), 0.05, header, velocities))
    harness.context.spin_until_quiet()
    assert _vector(harness.twists[-1].twist.linear) == [0.0, 0.0, 0.0]
    assert any(problem in m for m in harness.messages(diagnostics.ERROR))
    assert driver.core.stale(harness.time_ns)


def test_watchdog_sends_zero_twists_when_commands_stop(graph: tuple[DriverNode, Harness]) -> None:
    _, harness = graph
    harness.tick(_action(0.5))
    published = len(harness.twists)
    assert harness.twists[-1].twist.linear.x == pytest.approx(0.5)
    harness.tick(None)  # 0.05 s old: fresh, the watchdog stays quiet
    harness.tick(None)  # 0.10 s old: still not older than timeout_s = 0.1 s
    assert len(harness.twists) == published
    harness.tick(None)  # 0.15 s old
    assert len(harness.twists) == published + 1
    assert _vector(harness.twists[-1].twist.linear) == [0.0, 0.0, 0.0]
    assert _vector(harness.twists[-1].twist.angular) == [0.0, 0.0, 0.0]
    assert harness.messages(diagnostics.WARN)[-1] == "no safe command within timeout_s = 0.1 s: sending zero twists"
    harness.tick(None)  # zero twists keep coming while stale
    assert len(harness.twists) == published + 2
    harness.tick(_action(0.2))
    assert harness.twists[-1].twist.linear.x == pytest.approx(0.2)
    assert harness.messages(diagnostics.OK)[-1] == "safe commands arriving: executing them"


def test_watchdog_stops_the_arm_before_any_command(graph: tuple[DriverNode, Harness]) -> None:
    _, harness = graph
    harness.tick(None)
    assert harness.twists
    assert all(_vector(t.twist.linear) == [0.0, 0.0, 0.0] for t in harness.twists)


# -- robot state ----------------------------------------------------------------------


def test_joint_states_are_republished_unchanged(graph: tuple[DriverNode, Harness]) -> None:
    driver, harness = graph
    state = numpy_to_joint_state(JOINTS, np.array(HOME_RAD), np.zeros(7), np.ones(7))
    harness.robot_joints.publish(state)
    harness.context.spin_until_quiet()
    assert harness.joint_states == [state]
    assert driver.joint_states == 1


def test_non_finite_joint_state_is_dropped_with_an_error(graph: tuple[DriverNode, Harness]) -> None:
    driver, harness = graph
    position = np.array(HOME_RAD)
    position[3] = np.nan
    harness.robot_joints.publish(numpy_to_joint_state(JOINTS, position, np.zeros(7)))
    harness.context.spin_until_quiet()
    assert harness.joint_states == []
    assert "dropped joint state: non-finite joint position for fr3_joint4" in harness.messages(diagnostics.ERROR)
    assert driver.dropped_joint_states == 1


def test_pose_in_the_robot_base_frame_is_relabelled_base_link() -> None:
    _, harness = _make("robot_base_frame:=fr3_link0")
    harness.robot_pose.publish(_pose("fr3_link0", (0.0, 1.0, 0.0, 0.0005)))
    harness.context.spin_until_quiet()
    (pose,) = harness.ee_poses
    assert pose.header.frame_id == "base_link"
    assert (pose.header.stamp.sec, pose.header.stamp.nanosec) == (7, 5)  # the robot's measurement time
    assert _vector(pose.pose.position) == [0.5, 0.1, 0.2]
    q = pose.pose.orientation
    assert np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0, abs=1e-12)
    harness.robot_pose.publish(_pose("base_link"))
    harness.context.spin_until_quiet()
    assert len(harness.ee_poses) == 2


def test_pose_in_another_frame_is_dropped_with_an_error(graph: tuple[DriverNode, Harness]) -> None:
    driver, harness = graph
    harness.robot_pose.publish(_pose("fr3_link0"))  # robot_base_frame is still the default base_link
    harness.context.spin_until_quiet()
    assert harness.ee_poses == []
    errors = harness.messages(diagnostics.ERROR)
    assert errors[-1].startswith("dropped ee pose: ee pose in frame 'fr3_link0', expected base_link")
    assert driver.dropped_poses == 1


def test_pose_with_a_non_unit_quaternion_is_dropped(graph: tuple[DriverNode, Harness]) -> None:
    _, harness = graph
    harness.robot_pose.publish(_pose("base_link", (0.0, 0.0, 0.0, 0.9)))
    harness.robot_pose.publish(_pose("base_link", (0.0, 0.0, np.nan, 1.0)))
    harness.context.spin_until_quiet()
    assert harness.ee_poses == []
    errors = harness.messages(diagnostics.ERROR)
    assert any("quaternion has norm 0.9" in m for m in errors)
    assert any("non-finite ee orientation" in m for m in errors)


def test_repeated_problems_are_reported_once_per_period_and_summarized(graph: tuple[DriverNode, Harness]) -> None:
    driver, harness = graph
    for _ in range(5):
        harness.robot_pose.publish(_pose("world"))
    harness.context.spin_until_quiet()
    assert len([m for m in harness.messages(diagnostics.ERROR) if "frame 'world'" in m]) == 1
    for _ in range(20):  # one diagnostics period of 1 s
        harness.tick(None)
    summary = [m for m in harness.messages(diagnostics.ERROR) if m.startswith("5 problem(s) since the last report")]
    assert summary
    assert driver.dropped_poses == 5


# -- startup --------------------------------------------------------------------------


def test_params_file_loads() -> None:
    context = InprocContext()
    args = ["--ros-args", "--params-file", str(PARAMS_FILE), "-p", f"workspace_file:={WORKSPACE}"]
    driver = DriverNode(context=context, cli_args=args)
    config = driver.core.config
    assert config.robot_base_frame == "fr3_link0"
    assert config.control_period_s == 0.05
    assert config.timeout_s == 0.1


def _no_motion_publisher(context: InprocContext) -> bool:
    return not any(p.topic_name in (TWIST_TOPIC, "/gripper_controller/commands") for p in context.graph.publishers)


def test_missing_workspace_calibration_is_a_clear_error() -> None:
    context = InprocContext()
    with pytest.raises(CalibrationError, match="parameter workspace_file is empty"):
        DriverNode(context=context, cli_args=[])
    assert _no_motion_publisher(context)
    with pytest.raises(CalibrationError, match=r"no/such/workspace\.yaml: file not found"):
        DriverNode(context=context, cli_args=["--ros-args", "-p", "workspace_file:=/no/such/workspace.yaml"])
    assert _no_motion_publisher(context)


def test_workspace_in_another_frame_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text("frame_id: world\nmin_m: [0, 0, 0]\nmax_m: [1, 1, 1]\n")
    with pytest.raises(CalibrationError, match="expected 'base_link'"):
        DriverNode(context=InprocContext(), cli_args=["--ros-args", "-p", f"workspace_file:={path}"])


@pytest.mark.parametrize(
    ("param", "match"),
    [
        ("control_period_s:=0.0", "control_period_s must be a finite number > 0"),
        ("control_period_s:=-0.05", "control_period_s must be a finite number > 0"),
        ("timeout_s:=1", "expects double, got integer"),
        ("joint_states_input_topic:=/joint_states", "resolves to /joint_states, the driver's output"),
    ],
)
def test_malformed_parameters_are_typed_errors(param: str, match: str) -> None:
    context = InprocContext()
    args = ["--ros-args", "-p", f"workspace_file:={WORKSPACE}", "-p", param]
    with pytest.raises(ParameterError, match=match):
        DriverNode(context=context, cli_args=args)
    assert _no_motion_publisher(context)


def test_cli_without_calibration_exits_with_one_error_line() -> None:
    env = {**os.environ, "ROBOT_RL_BACKEND": "inproc"}
    result = subprocess.run(
        [ROBOT_RL, "node", "driver_node", "--ros-args", "-p", "timeout_s:=0.2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: parameter workspace_file is empty: the driver needs the workspace calibration"
        " (calibration/workspace.yaml)"
    ]
