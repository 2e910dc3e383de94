"""The safety node on the in-process backend: what reaches /robot_rl/safe_command, and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_rl.action_space import ACTION_DIM, actions_to_trajectory, trajectory_to_actions, trajectory_to_velocities
from robot_rl.errors import CalibrationError, RobotRLError, SafetyError
from robot_rl.runtime import LATCHED, Node, QoSProfile, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state
from robot_rl.runtime.qos import DurabilityPolicy, ReliabilityPolicy
from robot_rl.safety.node import SafetyNode

WORKSPACE = Path(__file__).resolve().parents[2] / "calibration" / "workspace.yaml"
JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
HOME_RAD = [0.0, 0.2, 0.0, -2.4, 0.0, 2.6, 0.8]  # well inside every Panda limit


class Harness(Node):
    """Publishes the robot state, commands and sim time; records the safe commands and diagnostics."""

    def __init__(self, context: InprocContext) -> None:
        super().__init__("harness", context=context)
        self.context = context
        self.time_ns = 1_000_000_000
        self.safe: list[np.ndarray] = []
        self.safe_velocities: list[np.ndarray] = []  # the twist each safe command carries, m/s and rad/s
        self.diagnostics: list = []
        self.joint_names, self.joint_positions_rad = JOINTS, np.array(HOME_RAD)  # what /joint_states reports
        self.clock = self.create_publisher(msg.Clock, "/clock", 10)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.command = self.create_publisher(msg.JointTrajectory, "/robot_rl/command", 10)
        self.base = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.flag = self.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
        self.teleop = self.create_publisher(msg.JointTrajectory, "/robot_rl/teleop_action", 10)
        self.estop = self.create_publisher(msg.Bool, "/robot_rl/estop", LATCHED)
        self.estop_reset = self.create_publisher(msg.Empty, "/robot_rl/estop_reset", 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/safe_command", self.on_safe, 10)
        self.create_subscription(
            msg.DiagnosticArray, "/diagnostics", lambda m: self.diagnostics.append(m.status[0]), 10
        )

    def on_safe(self, trajectory: msg.JointTrajectory) -> None:
        self.safe.append(trajectory_to_actions(trajectory)[0])
        self.safe_velocities.append(trajectory_to_velocities(trajectory))

    def stamp(self) -> msg.Header:
        """A header stamped now (sim time), in base_link."""
        sec, nanosec = divmod(self.time_ns, 1_000_000_000)
        return msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")

    def tick(
        self,
        command: np.ndarray | None,
        dt_s: float = 0.05,
        pose: bool = True,
        ee_x_m: float = 0.5,
        teleop: msg.Header | None = None,
    ) -> None:
        """Advance sim time by dt_s, publish the state (and a command), run the graph until quiet.

        ``teleop``: publish the command's copy on /robot_rl/teleop_action first, with this header (the arbiter's
        own copy of a person's command carries the command's header).
        """
        self.time_ns += round(dt_s * 1e9)
        header = self.stamp()
        self.clock.publish(msg.Clock(clock=header.stamp))
        positions = self.joint_positions_rad
        self.joints.publish(numpy_to_joint_state(self.joint_names, positions, np.zeros(len(positions)), header=header))
        if pose:
            ee = msg.Pose(position=msg.Point(x=ee_x_m, y=0.0, z=0.1), orientation=msg.Quaternion(w=1.0))
            self.ee.publish(msg.PoseStamped(header=header, pose=ee))
        if command is not None:
            if teleop is not None:
                self.teleop.publish(actions_to_trajectory(command, 0.05, teleop))
            self.command.publish(actions_to_trajectory(command, 0.05, header))
        self.context.spin_until_quiet()


@pytest.fixture
def graph() -> tuple[SafetyNode, Harness]:
    context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    safety = SafetyNode(context=context, cli_args=args)
    return safety, Harness(context)


def _action(*values: float) -> np.ndarray:
    action = np.zeros(ACTION_DIM)
    action[: len(values)] = values
    return action


def test_a_command_within_limits_passes_unchanged(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    command = _action(0.1, -0.05, 0.02, 0, 0, 0, 1.0)
    harness.tick(command)
    np.testing.assert_allclose(harness.safe[-1], command, atol=1e-6)
    assert harness.diagnostics[-1].message == "command passed unchanged"
    assert harness.diagnostics[-1].name == "/safety"


def test_speed_limit_scales_and_reports(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    for _ in range(20):  # ramp up under the acceleration limit
        harness.tick(_action(1.0))
    # 0.25 m/s at 0.05 m per tick per unit and 20 Hz is 0.25 normalized
    np.testing.assert_allclose(harness.safe[-1][0], 0.25, atol=1e-6)
    status = harness.diagnostics[-1]
    assert "speed limit" in status.message
    assert {kv.key: kv.value for kv in status.values}["requested_dx"] == "1.0"


def test_each_safe_command_carries_the_twist_it_allowed(graph: tuple[SafetyNode, Harness]) -> None:
    """What a robot driver executes: the speed-limited twist in m/s and rad/s, 0 for the gripper."""
    _, harness = graph
    for _ in range(20):  # up to the 0.25 m/s speed limit
        harness.tick(_action(1.0, 0, 0, 0, 0, 0.1, 1.0))
    # 0.25 normalized * 0.05 m per tick / 0.05 s = 0.25 m/s; 0.1 * 0.5 rad per tick / 0.05 s = 1.0 rad/s
    np.testing.assert_allclose(harness.safe_velocities[-1], [0.25, 0, 0, 0, 0, 1.0, 0], atol=1e-9)
    harness.tick(_action(np.nan))  # a hold: zero twist
    np.testing.assert_array_equal(harness.safe_velocities[-1], 0.0)


def test_a_joint_state_without_positions_is_dropped_and_held(graph: tuple[SafetyNode, Harness]) -> None:
    """A valid JointState (names, no positions) cannot be checked against the joint limits: no crash, a hold."""
    safety, harness = graph
    harness.tick(_action(0.1))
    harness.joint_positions_rad = np.array([])
    harness.joints.publish(numpy_to_joint_state(JOINTS, np.array([]), header=harness.stamp()))
    harness.context.spin_until_quiet()
    assert any("7 names but no positions" in status.message for status in harness.diagnostics)
    for _ in range(4):  # past timeout_s without a usable joint state
        harness.time_ns += 50_000_000
        harness.clock.publish(msg.Clock(clock=harness.stamp().stamp))
        harness.command.publish(actions_to_trajectory(_action(0.1), 0.05, harness.stamp()))
        harness.context.spin_until_quiet()
    assert safety.last_result is not None
    assert safety.last_result.held
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)


def test_non_finite_command_is_held(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    harness.tick(_action(0.1, 0, 0, 0, 0, 0, 1.0))
    harness.tick(_action(np.nan))
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert harness.safe[-1][6] == 1.0  # the gripper keeps its last command
    assert harness.diagnostics[-1].message == "non-finite or malformed command"


def test_malformed_trajectory_is_rejected_and_held(graph: tuple[SafetyNode, Harness]) -> None:
    safety, harness = graph
    bad = msg.JointTrajectory(joint_names=["x"], points=[msg.JointTrajectoryPoint(positions=[1.0])])
    harness.command.publish(bad)
    harness.context.spin_until_quiet()
    assert any("rejected command" in status.message for status in harness.diagnostics)
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert safety.last_result is not None
    assert safety.last_result.held


def test_estop_latches_until_released(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    command = _action(0.1)
    harness.estop.publish(msg.Bool(data=True))
    harness.tick(command)
    assert harness.safe[-1][0] == 0.0
    assert harness.diagnostics[-1].message == "e-stop latched"
    harness.estop_reset.publish(msg.Empty())
    harness.tick(command)
    assert any("reset refused" in status.message for status in harness.diagnostics)
    assert harness.safe[-1][0] == 0.0
    harness.estop.publish(msg.Bool(data=False))
    harness.tick(command)
    assert harness.safe[-1][0] == 0.0  # still latched: releasing the input is not a reset
    harness.estop_reset.publish(msg.Empty())
    harness.tick(command)
    np.testing.assert_allclose(harness.safe[-1][0], 0.1, atol=1e-6)


@pytest.mark.parametrize(
    ("qos", "why"),
    [
        (QoSProfile(depth=10), "a TRANSIENT_LOCAL subscription does not receive from a VOLATILE publisher"),
        (
            QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.TRANSIENT_LOCAL),
            "a RELIABLE subscription does not receive from a BEST_EFFORT publisher",
        ),
    ],
)
def test_unreachable_estop_publisher_latches_until_it_is_gone(
    graph: tuple[SafetyNode, Harness], qos: QoSProfile, why: str
) -> None:
    """Under DDS a volatile or best-effort publisher never reaches the latched e-stop subscription: the gate holds,
    every hold says why, and a reset is refused while that publisher is there (its e-stop would still be lost)."""
    safety, harness = graph
    command = _action(0.1)
    harness.tick(command)
    np.testing.assert_allclose(harness.safe[-1][0], 0.1, atol=1e-6)
    dashboard = Node("dashboard", context=harness.context)
    dashboard.create_publisher(msg.Bool, "/robot_rl/estop", qos)
    harness.tick(command)
    assert safety.filter.estop_latched
    assert harness.safe[-1][0] == 0.0
    cause = f"e-stop latched: /dashboard on /robot_rl/estop: {why}; its e-stop would never arrive"
    assert harness.diagnostics[-1].message.startswith(cause)  # the latest status, every hold
    assert "reliable and transient_local" in harness.diagnostics[-1].message
    harness.estop_reset.publish(msg.Empty())
    harness.tick(command)
    assert harness.safe[-1][0] == 0.0
    refused = f"e-stop reset refused: /dashboard: {why} on /robot_rl/estop"
    assert any(status.message.startswith(refused) for status in harness.diagnostics)
    dashboard.destroy_node()  # the publisher is gone (or fixed): a person may release the latch
    harness.estop_reset.publish(msg.Empty())
    harness.tick(command)
    np.testing.assert_allclose(harness.safe[-1][0], 0.1, atol=1e-6)
    assert harness.diagnostics[-1].message == "command passed unchanged"


def test_latched_estop_publisher_does_not_latch(graph: tuple[SafetyNode, Harness]) -> None:
    safety, harness = graph
    Node("dashboard", context=harness.context).create_publisher(msg.Bool, "/robot_rl/estop", LATCHED)
    harness.tick(_action(0.1))
    assert not safety.filter.estop_latched
    np.testing.assert_allclose(harness.safe[-1][0], 0.1, atol=1e-6)


def test_watchdog_holds_when_commands_stop(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    harness.tick(_action(0.1))
    published = len(harness.safe)
    harness.tick(None)  # 0.05 s old: still fresh, the watchdog stays quiet
    assert len(harness.safe) == published
    harness.tick(None)
    harness.tick(None)  # 0.15 s > timeout_s = 0.1 s
    assert len(harness.safe) > published
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert harness.diagnostics[-1].message == "watchdog: no fresh command"


def test_residual_bound_keeps_command_near_base(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    harness.base.publish(actions_to_trajectory(_action(0.0, 0.0, 0.0), 0.05, harness.stamp()))
    harness.tick(_action(0.0, 0.5, 0.0))
    # bounded to base + residual_scale = 0.2, then from rest the acceleration limit allows
    # 2.5 m/s^2 * 0.05 s = 0.125 m/s, which is 0.125 normalized at 0.05 m per tick and 20 Hz
    np.testing.assert_allclose(harness.safe[-1][1], 0.125, atol=1e-6)
    assert harness.diagnostics[-1].message == "residual bound; acceleration limit"


def _next_stamp(harness: Harness) -> msg.Header:
    """The header Harness.tick stamps its next tick's messages with (dt 0.05 s)."""
    sec, nanosec = divmod(harness.time_ns + 50_000_000, 1_000_000_000)
    return msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")


def test_a_persons_command_is_not_held_to_the_residual_bound(graph: tuple[SafetyNode, Harness]) -> None:
    """The command whose teleop copy carries its stamp is the person's: no residual bound, the other limits stay."""
    safety, harness = graph
    harness.base.publish(actions_to_trajectory(_action(0.0, 0.0, 0.0), 0.05, harness.stamp()))
    harness.tick(_action(0.0, 0.5, 0.0), teleop=_next_stamp(harness))
    assert safety.intervening
    np.testing.assert_allclose(harness.safe[-1][1], 0.125, atol=1e-6)  # the acceleration limit from rest
    assert harness.diagnostics[-1].message == "speed limit; acceleration limit"  # no residual bound


def test_the_policys_command_after_a_takeover_is_bounded_whatever_the_flag_says(
    graph: tuple[SafetyNode, Harness],
) -> None:
    """DDS does not order topics: the policy's first command after the person let go can arrive before the flag
    that says so. The gate goes by the command's own stamp, so a stale intervention flag lifts nothing."""
    safety, harness = graph
    harness.base.publish(actions_to_trajectory(_action(0.0, 0.0, 0.0), 0.05, harness.stamp()))
    harness.flag.publish(msg.Bool(data=True))  # the person's tick, as the arbiter publishes it
    harness.tick(_action(0.0, 0.1, 0.0), teleop=_next_stamp(harness))
    assert safety.intervening
    harness.tick(_action(0.0, 0.5, 0.0))  # the policy's command; its flag (false) has not arrived
    assert not safety.intervening
    assert harness.diagnostics[-1].message.startswith("residual bound")
    assert harness.safe[-1][1] <= 0.2 + 1e-9  # base 0 + residual_scale 0.2


def test_a_teleop_copy_of_another_tick_lifts_nothing(graph: tuple[SafetyNode, Harness]) -> None:
    """A teleop copy that does not carry the command's stamp (a late one, or an unstamped one) is not a match."""
    safety, harness = graph
    harness.base.publish(actions_to_trajectory(_action(0.0, 0.0, 0.0), 0.05, harness.stamp()))
    harness.tick(_action(0.0, 0.1, 0.0), teleop=harness.stamp())  # the previous tick's stamp
    assert not safety.intervening
    harness.teleop.publish(actions_to_trajectory(_action(0.0, 0.1, 0.0), 0.05, msg.Header(frame_id="base_link")))
    harness.command.publish(actions_to_trajectory(_action(0.0, 0.1, 0.0), 0.05, msg.Header(frame_id="base_link")))
    harness.context.spin_until_quiet()
    assert not safety.intervening  # both unstamped: stale anyway, and never a person's


def test_a_teleop_copy_is_used_once_and_never_after_its_command(graph: tuple[SafetyNode, Harness]) -> None:
    """Under sim time two ticks can share a stamp. A copy matches one command only; a copy that arrives after its
    command (DDS reordered them) is ignored, so the policy's next command at that stamp is still bounded."""
    safety, harness = graph
    harness.base.publish(actions_to_trajectory(_action(0.0, 0.0, 0.0), 0.05, harness.stamp()))
    header = _next_stamp(harness)
    harness.tick(_action(0.0, 0.1, 0.0), teleop=header)
    assert safety.intervening
    harness.command.publish(actions_to_trajectory(_action(0.0, 0.5, 0.0), 0.05, header))  # same stamp, no copy
    harness.context.spin_until_quiet()
    assert not safety.intervening
    header = _next_stamp(harness)
    harness.tick(_action(0.0, 0.1, 0.0))  # a person's command whose copy is late: checked as the policy's
    harness.teleop.publish(actions_to_trajectory(_action(0.0, 0.1, 0.0), 0.05, header))
    harness.command.publish(actions_to_trajectory(_action(0.0, 0.5, 0.0), 0.05, header))  # the policy's, same stamp
    harness.context.spin_until_quiet()
    assert not safety.intervening
    assert harness.diagnostics[-1].message.startswith("residual bound")


# -- regressions of the outside review (issue 9) ------------------------------------------------------------------


def test_a_frozen_pose_holds_once_it_is_older_than_the_timeout(graph: tuple[SafetyNode, Harness]) -> None:
    """The review's case: the pose froze at x = 0.88 m (box max 0.9 m); 40 ticks of +x moved the arm 0.49 m out."""
    _, harness = graph
    harness.tick(_action(0.0), ee_x_m=0.88)
    for _ in range(40):
        harness.tick(_action(1.0), pose=False)
    moved = [float(action[0]) * 0.05 for action in harness.safe]
    assert sum(moved) <= 3 * 0.02 + 1e-9  # to the face at most while the pose was fresh (0.05 and 0.1 s old)
    assert harness.safe[-1][0] == 0.0
    assert harness.diagnostics[-1].message == "watchdog: no fresh end-effector pose"


@pytest.mark.parametrize("frame", ["", "world", "panda_link0"])
def test_a_pose_in_another_frame_is_dropped_and_the_gate_holds(graph: tuple[SafetyNode, Harness], frame: str) -> None:
    _, harness = graph
    harness.tick(_action(0.1), pose=False)
    assert harness.diagnostics[-1].message == "watchdog: no fresh end-effector pose"  # never received
    pose = msg.Pose(position=msg.Point(x=0.5, y=0.0, z=0.1), orientation=msg.Quaternion(w=1.0))
    header = harness.stamp()
    header.frame_id = frame
    harness.ee.publish(msg.PoseStamped(header=header, pose=pose))
    harness.tick(_action(0.1), pose=False)
    assert any(f"dropped ee_pose in frame {frame!r}" in status.message for status in harness.diagnostics)
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert harness.diagnostics[-1].message == "watchdog: no fresh end-effector pose"


def test_a_clock_jump_back_holds_until_fresh_inputs_arrive(graph: tuple[SafetyNode, Harness]) -> None:
    """Sim time jumps back from 10.2 s to 1.0 s with /joint_states dead: no command may move the arm."""
    _, harness = graph
    harness.time_ns = 10_150_000_000
    harness.tick(_action(0.1))  # 10.2 s: everything fresh, the command goes out
    np.testing.assert_allclose(harness.safe[-1][0], 0.1, atol=1e-6)
    harness.time_ns = 1_000_000_000  # the clock jumps back; /joint_states stops
    harness.clock.publish(msg.Clock(clock=harness.stamp().stamp))
    harness.context.spin_until_quiet()
    moving = 0
    for _ in range(21):
        harness.time_ns += 50_000_000
        harness.clock.publish(msg.Clock(clock=harness.stamp().stamp))
        harness.command.publish(actions_to_trajectory(_action(0.1), 0.05, harness.stamp()))
        harness.context.spin_until_quiet()
        moving += int(harness.safe[-1][0] != 0.0)
    assert moving == 0
    # seen at the first callback after the jump (the command at 1.05 s)
    assert any("clock jumped back by 9.150 s" in status.message for status in harness.diagnostics)
    harness.tick(_action(0.1))  # fresh joint state and pose after the jump: motion again
    assert harness.safe[-1][0] > 0.0


def test_a_stamp_from_the_future_is_stale(graph: tuple[SafetyNode, Harness]) -> None:
    """A joint state stamped 1 s ahead of the gate's clock (another clock, a replayed bag) does not count."""
    _, harness = graph
    harness.tick(_action(0.1))
    harness.time_ns += 50_000_000
    harness.clock.publish(msg.Clock(clock=harness.stamp().stamp))
    ahead = harness.stamp()
    ahead.stamp.sec += 1
    joints = numpy_to_joint_state(JOINTS, np.array(HOME_RAD), np.zeros(7), header=ahead)
    harness.joints.publish(joints)
    pose = msg.Pose(position=msg.Point(x=0.5, y=0.0, z=0.1), orientation=msg.Quaternion(w=1.0))
    harness.ee.publish(msg.PoseStamped(header=harness.stamp(), pose=pose))
    harness.command.publish(actions_to_trajectory(_action(0.1), 0.05, harness.stamp()))
    harness.context.spin_until_quiet()
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert harness.diagnostics[-1].message == "watchdog: no fresh joint state"


def test_commands_at_30_hz_stay_within_the_acceleration_limit(graph: tuple[SafetyNode, Harness]) -> None:
    """The RealSense default rate drives commands at 30 Hz against a 20 Hz control period: 2.5 m/s^2, not 3.75."""
    safety, harness = graph
    harness.tick(_action(0.0), dt_s=1 / 30)  # at rest
    for _ in range(6):
        harness.tick(_action(1.0), dt_s=1 / 30)
    scale, period = safety.filter.config.action_scale[0], safety.filter.config.control_period_s
    speeds = np.array([float(action[0]) * scale / period for action in harness.safe[-7:]])  # m/s
    accelerations = np.diff(speeds) * 30
    assert np.max(accelerations) <= 2.5 + 1e-6, accelerations
    np.testing.assert_allclose(accelerations[:3], 2.5, rtol=1e-3)  # ramping at the full rate up to 0.25 m/s


def test_a_burst_of_commands_at_one_instant_does_not_add_up(graph: tuple[SafetyNode, Harness]) -> None:
    _, harness = graph
    harness.tick(_action(0.0))
    harness.tick(_action(1.0))
    first = float(harness.safe[-1][0])
    for _ in range(10):  # same instant: each is limited against the velocity in force before it
        harness.command.publish(actions_to_trajectory(_action(1.0), 0.05, harness.stamp()))
    harness.context.spin_until_quiet()
    np.testing.assert_allclose([action[0] for action in harness.safe[-10:]], first)


@pytest.mark.parametrize("sim_episode_resets", [True, False])
def test_a_sim_episode_start_forgets_the_motion_only_where_configured(sim_episode_resets: bool) -> None:
    """In sim (config/sim_stack.yaml) an episode starts as with a new gate; on a robot the ramp continues."""
    context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    args += ["-p", f"sim_episode_resets:={str(sim_episode_resets).lower()}"]
    SafetyNode(context=context, cli_args=args)
    harness = Harness(context)
    episode = harness.create_publisher(msg.String, "/robot_rl/episode", 10)
    harness.tick(_action(0.0))
    for _ in range(3):
        harness.tick(_action(-1.0))  # ramping down toward -0.25 m/s
    episode.publish(msg.String(data=json.dumps({"event": "start", "episode": 1, "seed": 7})))
    harness.tick(_action(1.0))
    # action 1 = 1 m/s; 2.5 m/s^2 allows 0.125 m/s more per 0.05 s tick; the speed limit is 0.25 m/s
    np.testing.assert_allclose([action[0] for action in harness.safe[1:4]], [-0.125, -0.25, -0.25])
    expected = 0.125 if sim_episode_resets else -0.25 + 0.125  # from rest, or from the last episode's twist
    np.testing.assert_allclose(harness.safe[-1][0], expected)


def test_a_malformed_joint_state_is_dropped_and_the_gate_keeps_running(graph: tuple[SafetyNode, Harness]) -> None:
    """7 names and 3 positions used to raise out of the callback and end the whole graph."""
    _, harness = graph
    harness.tick(_action(0.1))
    bad = msg.JointState(header=harness.stamp(), name=list(JOINTS), position=[0.0, 0.1, 0.2])
    for _ in range(3):  # joint states keep coming, all malformed: the last good one goes stale
        harness.time_ns += 50_000_000
        harness.clock.publish(msg.Clock(clock=harness.stamp().stamp))
        harness.joints.publish(bad)
        harness.command.publish(actions_to_trajectory(_action(0.1), 0.05, harness.stamp()))
        harness.context.spin_until_quiet()
    assert any("dropped /joint_states: JointState has 7 names but 3 position" in s.message for s in harness.diagnostics)
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert harness.diagnostics[-1].message == "watchdog: no fresh joint state"
    harness.tick(_action(0.1))  # a good joint state again: the gate moves
    assert harness.safe[-1][0] > 0.0


def _graph_for(robot_model: str) -> tuple[SafetyNode, Harness]:
    context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    safety = SafetyNode(context=context, cli_args=[*args, "-p", f"robot_model:={robot_model}"])
    return safety, Harness(context)


FR3_JOINTS = [f"fr3_joint{i}" for i in range(1, 8)]


def test_another_robots_joint_names_hold_instead_of_skipping_the_margins() -> None:
    _safety, harness = _graph_for("fr3")  # but the robot reports Panda names
    harness.tick(_action(0.1))
    np.testing.assert_array_equal(harness.safe[-1][:6], np.zeros(6))
    assert "joint limit margin: no state for fr3_joint1" in harness.diagnostics[-1].message


def test_robot_model_selects_the_joint_limits() -> None:
    fr3_only = np.array(HOME_RAD)
    fr3_only[5] = 4.0  # joint 6 at 4.0 rad: inside the FR3's (0.54, 4.52), past the Panda's (-0.02, 3.75)
    for model, names, moves in (("fr3", FR3_JOINTS, True), ("panda", JOINTS, False)):
        _safety, harness = _graph_for(model)
        harness.joint_names, harness.joint_positions_rad = names, fr3_only
        harness.tick(_action(-0.1))  # pulling the hand back turns joint 6 further up here (its Jacobian)
        assert bool(harness.safe[-1][0] < -0.09) is moves, (model, harness.diagnostics[-1].message)


def test_unknown_robot_model_is_a_clear_error() -> None:
    with pytest.raises(SafetyError, match="unknown robot_model 'ur5'; choose one of panda, fr3"):
        _graph_for("ur5")


def test_missing_workspace_calibration_is_a_clear_error() -> None:
    with pytest.raises(CalibrationError, match="workspace_file is empty"):
        SafetyNode(context=InprocContext(), cli_args=[])


def test_workspace_in_another_frame_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text("frame_id: world\nmin_m: [0, 0, 0]\nmax_m: [1, 1, 1]\n")
    with pytest.raises(CalibrationError, match="expected 'base_link'"):
        SafetyNode(context=InprocContext(), cli_args=["--ros-args", "-p", f"workspace_file:={path}"])


# -- watchdog timing under sim time ----------------------------------------------------------------------------

STEP_NS = 10_000_000  # sim time advances in 10 ms steps, finer than the 50 ms control period


@pytest.mark.parametrize("timeout_s", [0.1, 0.13])
@pytest.mark.parametrize("phase_ms", [0, 10, 20, 30, 40])
def test_watchdog_hold_starts_within_one_control_period_after_the_timeout(timeout_s: float, phase_ms: int) -> None:
    """After the last command, the first hold comes after timeout_s and at most one control period later.

    The command arrives at every phase of the 50 ms watchdog timer (in 10 ms steps of sim time), so the bound is
    checked where it is tight; with timeout_s = 0.13 s the timeout is no multiple of the period.
    """
    context = InprocContext()
    args = [
        "--ros-args",
        "-p",
        "use_sim_time:=true",
        "-p",
        f"workspace_file:={WORKSPACE}",
        "-p",
        f"timeout_s:={timeout_s}",
    ]
    safety = SafetyNode(context=context, cli_args=args)
    harness = Harness(context)
    period_ns = int(safety.filter.config.control_period_s * 1e9)
    while (harness.time_ns + STEP_NS) % period_ns != phase_ms * 1_000_000:  # fresh joint states, no command yet
        harness.tick(None, dt_s=STEP_NS / 1e9)
    # small enough for the acceleration limit 10 ms after a watchdog hold (2.5 m/s^2 * 0.01 s = 0.025 m/s)
    harness.tick(_action(0.02, 0, 0, 0, 0, 0, 1.0), dt_s=STEP_NS / 1e9)
    command_ns, published = harness.time_ns, len(harness.safe)
    np.testing.assert_allclose(harness.safe[-1][0], 0.02, atol=1e-6)  # the command went out at once
    hold_ns = None
    while hold_ns is None and harness.time_ns < command_ns + 1_000_000_000:
        harness.tick(None, dt_s=STEP_NS / 1e9)  # joint states stay fresh; no more commands
        if len(harness.safe) > published:
            hold_ns = harness.time_ns
    assert hold_ns is not None, "no hold within 1 s after the last command"
    delay_s = (hold_ns - command_ns) / 1e9
    assert delay_s > timeout_s, f"hold after {delay_s:.3f} s, before the timeout {timeout_s} s"
    assert delay_s <= timeout_s + period_ns / 1e9 + 1e-9, f"hold after {delay_s:.3f} s, later than timeout + period"
    np.testing.assert_array_equal(harness.safe[-1][:6], 0.0)
    assert harness.safe[-1][6] == 1.0  # the gripper keeps its last command
    assert harness.diagnostics[-1].message == "watchdog: no fresh command"


# -- bad input at startup: a one-line error, no motion ---------------------------------------------------------

ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")
BAD_PARAMS = {
    "negative speed": ("max_lin_vel_mps: -0.25", "max_lin_vel_mps"),
    "string speed": ("max_lin_vel_mps: fast", "max_lin_vel_mps"),
    "short action_scale": ("action_scale: [0.05, 0.05, 0.05]", "action_scale"),
    "zero action_scale": ("action_scale: [0.05, 0.05, 0.0, 0.5, 0.5, 0.5]", "action_scale"),
    "NaN margin": ("joint_margin_rad: .nan", "joint_margin_rad"),
}
INVERTED_BOX = "frame_id: base_link\nmin_m: [0.9, -0.35, -0.1]\nmax_m: [0.3, 0.35, 0.4]\n"  # x: min above max


def _bad_startup_files(tmp_path: Path, case: str) -> tuple[Path, Path, str]:
    """Write a params file and a workspace file for one bad case; return them and a word the error must name."""
    params, workspace = tmp_path / "safety.yaml", tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE.read_text())
    line, word = BAD_PARAMS.get(case, ("timeout_s: 0.1", "min_m"))
    if case == "inverted box":
        workspace.write_text(INVERTED_BOX)
    params.write_text(f"safety:\n  ros__parameters:\n    {line}\n")
    return params, workspace, word


@pytest.mark.parametrize("case", [*BAD_PARAMS, "inverted box"])
def test_bad_startup_input_is_one_error_line_from_the_cli(tmp_path: Path, case: str) -> None:
    """robot-rl node safety_node with bad limits or an inverted workspace box exits 1 with one 'error:' line."""
    params, workspace, word = _bad_startup_files(tmp_path, case)
    command = [ROBOT_RL, "node", "safety_node", "--ros-args", "--params-file", str(params)]
    command += ["-p", f"workspace_file:={workspace}"]
    env = {**os.environ, "ROBOT_RL_BACKEND": "inproc"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert word in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("case", [*BAD_PARAMS, "inverted box"])
def test_bad_startup_input_publishes_nothing(tmp_path: Path, case: str) -> None:
    """The same bad input in one process with a listener: the node is refused before anything is published."""
    params, workspace, word = _bad_startup_files(tmp_path, case)
    context = InprocContext()
    harness = Harness(context)  # subscribed to /robot_rl/safe_command and /diagnostics before the node starts
    args = ["--ros-args", "--params-file", str(params), "-p", f"workspace_file:={workspace}"]
    with pytest.raises(RobotRLError, match=word):
        SafetyNode(context=context, cli_args=args)
    for _ in range(5):
        harness.tick(_action(0.5))  # time passes, commands arrive: no watchdog, no filter, no output
    assert harness.safe == []
    assert harness.diagnostics == []
    assert [p.topic_name for p in context.graph.publishers if p.topic_name == "/robot_rl/safe_command"] == []
