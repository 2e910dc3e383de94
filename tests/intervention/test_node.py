"""The intervention node on the in-process backend: Joy and Twist devices by message, the timer, episode keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robot_rl.action_space import actions_to_trajectory, trajectory_to_actions
from robot_rl.errors import InterventionError, SimError
from robot_rl.intervention.node import InterventionNode
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.safety.node import SafetyNode

POLICY = np.array([0.2, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
WORKSPACE = Path(__file__).resolve().parents[2] / "calibration" / "workspace.yaml"


class Harness(Node):
    """Drives sim time, publishes policy actions and device messages; records what the node sends."""

    def __init__(self, context: InprocContext) -> None:
        super().__init__("harness", context=context)
        self.context = context
        self.time_ns = 1_000_000_000
        self.commands: list[np.ndarray] = []
        self.teleop: list[np.ndarray] = []
        self.flags: list[bool] = []
        self.events: list[dict] = []
        self.clock = self.create_publisher(msg.Clock, "/clock", 10)
        self.policy = self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
        self.joy = self.create_publisher(msg.Joy, "/joy", 10)
        self.twist = self.create_publisher(msg.Twist, "/spacenav/twist", 10)
        self.spacenav_joy = self.create_publisher(msg.Joy, "/spacenav/joy", 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        record = self.create_subscription
        record(msg.JointTrajectory, "/robot_rl/command", lambda m: self.commands.append(_first(m)), 10)
        record(msg.JointTrajectory, "/robot_rl/teleop_action", lambda m: self.teleop.append(_first(m)), 10)
        record(msg.Bool, "/robot_rl/intervention", lambda m: self.flags.append(m.data), 10)
        record(msg.String, "/robot_rl/episode", lambda m: self.events.append(json.loads(m.data)), 10)

    def tick(self, policy: np.ndarray | None = POLICY) -> None:
        """Advance sim time one control period, publish the policy's action, run until quiet."""
        self.time_ns += 50_000_000
        sec, nanosec = divmod(self.time_ns, 1_000_000_000)
        self.clock.publish(msg.Clock(clock=msg.Time(sec=sec, nanosec=nanosec)))
        if policy is not None:
            self.policy.publish(actions_to_trajectory(policy, 0.05))
        self.context.spin_until_quiet()

    def send_joy(self, axes: list[float], pressed: list[int]) -> None:
        buttons = [0] * 11
        for index in pressed:
            buttons[index] = 1
        self.joy.publish(msg.Joy(axes=axes, buttons=buttons))


def _first(trajectory: object) -> np.ndarray:
    return trajectory_to_actions(trajectory)[0]


def _joy_takeover(harness: Harness) -> None:
    """Four ticks: the policy's, two with the joy's deadman held and the stick forward, the policy's again."""
    harness.tick()
    harness.send_joy([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], pressed=[5])  # left stick forward, right bumper held
    harness.tick()
    harness.tick()
    harness.send_joy([0.0] * 6, pressed=[])
    harness.tick()


def _graph(*params: str) -> tuple[InterventionNode, Harness]:
    context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true"]
    for param in params:
        args += ["-p", param]
    node = InterventionNode(context=context, cli_args=args)
    return node, Harness(context)


def test_without_a_device_the_policy_passes_through() -> None:
    _node, harness = _graph()
    for _ in range(3):
        harness.tick()
    assert harness.flags == [False, False, False]
    np.testing.assert_allclose(harness.commands, [POLICY] * 3)
    assert harness.teleop == []


def test_joy_deadman_takes_over_and_hands_back() -> None:
    node, harness = _graph("device:=joy")
    _joy_takeover(harness)
    assert harness.flags == [False, True, True, False]
    np.testing.assert_allclose(harness.commands[1], [0.5, 0, 0, 0, 0, 0, -1])
    np.testing.assert_allclose(harness.commands[3], POLICY)
    assert len(harness.teleop) == 2
    assert node.interventions == 1
    assert node.intervention_ticks == 2


def test_a_persons_command_goes_out_twice_with_one_stamp_copy_first() -> None:
    """The safety gate knows a person's command by its teleop copy: the copy must come first, with the command's
    header, on every tick the person drives, and the policy's commands must have no copy."""
    _node, harness = _graph("device:=joy")
    sent: list[tuple[str, int]] = []  # (topic, header stamp in ns) in arrival order

    def record(topic: str) -> Callable[[msg.JointTrajectory], None]:
        return lambda m: sent.append((topic, m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec))

    harness.create_subscription(msg.JointTrajectory, "/robot_rl/teleop_action", record("teleop"), 10)
    harness.create_subscription(msg.JointTrajectory, "/robot_rl/command", record("command"), 10)
    _joy_takeover(harness)
    topics = [topic for topic, _ in sent]
    assert topics == ["command", "teleop", "command", "teleop", "command", "command"]
    stamps = [stamp for _, stamp in sent]
    assert stamps[1] == stamps[2] != 0
    assert stamps[3] == stamps[4] != 0
    assert len(set(stamps[::2] + stamps[5:])) == 4  # each tick its own stamp


def test_the_gate_lifts_the_residual_bound_on_exactly_the_persons_ticks() -> None:
    """The arbiter and the real safety gate in one graph: the gate's view of who drives follows the person."""
    _node, harness = _graph("device:=joy")
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"workspace_file:={WORKSPACE}"]
    gate = SafetyNode(context=harness.context, cli_args=args)
    seen: list[bool] = []
    harness.create_subscription(msg.JointTrajectory, "/robot_rl/command", lambda _: seen.append(gate.intervening), 10)
    _joy_takeover(harness)
    assert seen == harness.flags == [False, True, True, False]


def test_nobody_takes_over_in_an_evaluation_episode() -> None:
    _node, harness = _graph("device:=joy")
    harness.episode.publish(msg.String(data=json.dumps({"event": "start", "mode": "eval"})))
    harness.send_joy([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], pressed=[5])  # the deadman is held all episode
    harness.tick()
    harness.tick()
    harness.episode.publish(msg.String(data=json.dumps({"event": "start", "mode": "train"})))
    harness.send_joy([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], pressed=[5])
    harness.tick()
    assert harness.flags == [False, False, True]
    np.testing.assert_allclose(harness.commands[:2], [POLICY] * 2)
    np.testing.assert_allclose(harness.commands[2], [0.5, 0, 0, 0, 0, 0, -1])


def test_toggle_mode_keeps_control_after_release() -> None:
    _node, harness = _graph("device:=joy", "mode:=toggle")
    harness.send_joy([0.0] * 6, pressed=[5])
    harness.tick()
    harness.send_joy([0.0] * 6, pressed=[])
    harness.tick()
    harness.episode.publish(msg.String(data=json.dumps({"event": "start", "episode": 1})))
    harness.tick()
    assert harness.flags == [True, True, False]  # released by the button's toggle only, or an episode start


def test_spacemouse_twist_drives_while_its_button_is_held() -> None:
    _node, harness = _graph("device:=spacemouse")
    twist = msg.Twist(linear=msg.Vector3(x=0.0, y=0.0, z=1.0), angular=msg.Vector3())
    harness.twist.publish(twist)
    harness.spacenav_joy.publish(msg.Joy(axes=[0.0] * 6, buttons=[1, 0]))
    harness.tick()
    assert harness.flags == [True]
    np.testing.assert_allclose(harness.commands[0], [0, 0, 0.5, 0, 0, 0, -1])


def test_a_person_can_drive_when_the_policy_is_silent() -> None:
    node, harness = _graph("device:=joy")
    harness.send_joy([0.0, 0.0, 0.0, 0.0, 0.5, 0.0], pressed=[5])  # right stick: up
    for _ in range(4):
        harness.tick(policy=None)
    assert harness.commands
    assert all(c[2] == pytest.approx(0.25) for c in harness.commands)
    node.device.on_joy([0.0] * 6, [0] * 11, node._now_s())  # released: nothing is sent, the safety gate holds
    sent = len(harness.commands)
    harness.tick(policy=None)
    harness.tick(policy=None)
    assert len(harness.commands) == sent
    assert harness.flags[-1] is False


def test_episode_keys_are_published_as_human_events() -> None:
    _node, harness = _graph("device:=joy")
    harness.send_joy([0.0] * 6, pressed=[7])  # start button: success
    harness.tick()
    assert {"event": "success", "source": "human"} in harness.events


def test_a_persons_key_echoes_the_reset_request_of_its_episode() -> None:
    """A training driver that missed the episode's start knows its episode by the key's request id."""
    _node, harness = _graph("device:=joy")
    harness.episode.publish(msg.String(data=json.dumps({"event": "start", "seed": 3, "mode": "train", "request": 5})))
    harness.send_joy([0.0] * 6, pressed=[7])  # start button: success
    harness.tick()
    assert {"event": "success", "source": "human", "request": 5} in harness.events


def test_simulated_human_needs_a_known_task() -> None:
    with pytest.raises(SimError, match="no scripted expert for task 'Door'"):
        _graph("device:=simulated", "task:=Door")


def test_simulated_human_drops_a_malformed_robot_state_with_a_diagnostic() -> None:
    _node, harness = _graph("device:=simulated")
    statuses: list[str] = []
    harness.create_subscription(
        msg.DiagnosticArray, "/diagnostics", lambda m: statuses.extend(s.message for s in m.status), 10
    )
    joints = harness.create_publisher(msg.JointState, "/joint_states", 10)
    ee = harness.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
    joints.publish(msg.JointState(name=[f"panda_joint{i}" for i in range(1, 8)], position=[0.0, 0.1, 0.2]))
    ee.publish(msg.PoseStamped(pose=msg.Pose(position=msg.Point(x=np.nan), orientation=msg.Quaternion(w=1.0))))
    harness.tick()
    assert statuses[0] == "dropped input: JointState has 7 names but 3 position values"
    assert statuses[1].startswith("dropped input: non-finite pose: position [nan, 0.0, 0.0]")
    np.testing.assert_allclose(harness.commands, [POLICY])  # the node keeps running the tick


def test_unknown_device_and_mode_are_clear_errors() -> None:
    with pytest.raises(InterventionError, match="unknown teleop device 'wiimote'"):
        _graph("device:=wiimote")
    with pytest.raises(InterventionError, match="'hold' or 'toggle'"):
        _graph("mode:=sometimes")


def test_on_a_real_robot_the_node_starts_episodes() -> None:
    _node, harness = _graph("device:=joy", "publish_episode_starts:=true")
    harness.tick()
    harness.send_joy([0.0] * 6, pressed=[7])  # start button: success, then the next episode starts
    harness.tick()
    assert harness.events == [
        {"event": "start", "source": "human", "episode": 0},
        {"event": "success", "source": "human"},
        {"event": "start", "source": "human", "episode": 1},
    ]


@pytest.mark.parametrize(
    ("params_file", "task", "takeover_step"),
    [
        ("intervention_stack_corrections.yaml", "Stack", 100),
        ("intervention_pickplacecan_corrections.yaml", "PickPlaceCan", 150),
    ],
)
def test_the_benchmarks_simulated_people_start_the_node(params_file: str, task: str, takeover_step: int) -> None:
    # what benchmarks/residual_rl.py --device simulated --intervention-params FILE starts
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "params" / params_file
    node = InterventionNode(
        context=InprocContext(),
        cli_args=["--ros-args", "--params-file", str(path), "-p", "device:=simulated", "-p", f"task:={task}"],
    )
    assert node.get_parameter("takeover_at_step").value == takeover_step
    assert node.get_parameter("take_over_on_regrasp").value is True
