"""The rclpy tier: the same robot_rl node code on real rclpy (ROS2 Jazzy) and in-process.

Every check runs the node code on both backends and compares the results with each
other and with hand-written values that follow the ROS2 rules (rcl's name expansion
and remapping, rcl's parameter-override precedence, the .msg defaults), so a backend
that drifts from ROS2 fails here even when the other agrees with it.

Run with ``make test-rclpy`` (``.venv-ros``). Without rclpy the module is skipped,
unless ``ROBOT_RL_REQUIRE_RCLPY=1`` is set, in which case collection fails loudly.
"""

from __future__ import annotations

import array
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.rclpy_tier import skip_without_rclpy

try:
    import rclpy.node  # loads rclpy's C extension, not just the package
except ImportError as _error:
    skip_without_rclpy(_error)

# Imported after the rclpy check: robot_rl.runtime.msg validates ROBOT_RL_BACKEND at import.
from robot_rl.action_space import actions_to_trajectory, trajectory_to_actions
from robot_rl.errors import (
    InvalidNameError,
    ParameterError,
    ParameterTypeError,
    RobotRLError,
    RosArgsError,
)
from robot_rl.runtime import LATCHED, Node, NodeMain, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import joint_state_to_numpy, numpy_to_joint_state
from robot_rl.runtime.node import Context
from robot_rl.runtime.params import ParameterType, ParameterValue
from robot_rl.runtime.rclpy_backend import RclpyContext
from robot_rl.safety.node import SafetyNode
from tests.runtime.test_params import FILE_1, FILE_2, FILE_NS

pytestmark = pytest.mark.rclpy

BACKENDS = ("rclpy", "inproc")


def make_context(backend: str) -> Context:
    """Return a fresh context of ``backend`` (a new rclpy context each time for rclpy)."""
    return RclpyContext([]) if backend == "rclpy" else InprocContext()


@pytest.fixture
def contexts() -> Iterator[dict[str, Context]]:
    """One rclpy and one in-process context, shut down after the test."""
    made: dict[str, Context] = {}
    try:
        for backend in BACKENDS:
            made[backend] = make_context(backend)
        yield made
    finally:
        for context in made.values():
            context.shutdown("test done")


class Talker(Node):
    """A minimal node named 'talker' in code."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("talker", **kwargs)


class Declarer(Node):
    """A node named 'talker' in code that declares the given parameters."""

    def __init__(self, defaults: dict[str, ParameterValue], **kwargs: Any) -> None:
        super().__init__("talker", **kwargs)
        self.values = {name: self.declare_parameter(name, value).value for name, value in defaults.items()}


# ---------------------------------------------------------------- name resolution

TOPICS = ("chatter", "~/priv", "/abs", "foo/bar", "{node}/x")

# (id, namespace in code, cli_args, expected fully qualified name, expected resolution of TOPICS)
NAME_CASES = [
    (
        "no-args",
        "",
        [],
        "/talker",
        ["/chatter", "/talker/priv", "/abs", "/foo/bar", "/talker/x"],
    ),
    (
        "namespace-in-code",
        "ns",
        [],
        "/ns/talker",
        ["/ns/chatter", "/ns/talker/priv", "/abs", "/ns/foo/bar", "/ns/talker/x"],
    ),
    (
        "remap-ns-and-node",
        "",
        ["--ros-args", "-r", "__ns:=/ns", "-r", "__node:=renamed"],
        "/ns/renamed",
        ["/ns/chatter", "/ns/renamed/priv", "/abs", "/ns/foo/bar", "/ns/renamed/x"],
    ),
    (
        "remap-topic-to-absolute",
        "/ns",
        ["--ros-args", "-r", "chatter:=/other"],
        "/ns/talker",
        ["/other", "/ns/talker/priv", "/abs", "/ns/foo/bar", "/ns/talker/x"],
    ),
    (
        # Node-specific rules match the node's remapped name: 'talker:' no longer applies.
        "node-specific-remap",
        "",
        ["--ros-args", "-r", "talker:chatter:=hit", "-r", "renamed:chatter:=hit2", "-r", "__node:=renamed"],
        "/renamed",
        ["/hit2", "/renamed/priv", "/abs", "/foo/bar", "/renamed/x"],
    ),
    (
        "first-rule-wins",
        "",
        ["--ros-args", "-r", "chatter:=first", "-r", "chatter:=second"],
        "/talker",
        ["/first", "/talker/priv", "/abs", "/foo/bar", "/talker/x"],
    ),
]


@pytest.mark.parametrize(
    ("namespace", "cli_args", "expected_fqn", "expected_topics"),
    [case[1:] for case in NAME_CASES],
    ids=[case[0] for case in NAME_CASES],
)
def test_name_resolution_matches_rcl(
    contexts: dict[str, Context],
    namespace: str,
    cli_args: list[str],
    expected_fqn: str,
    expected_topics: list[str],
) -> None:
    expected = {"fqn": expected_fqn, **dict(zip(TOPICS, expected_topics, strict=True))}
    results = {}
    for backend, context in contexts.items():
        node = Talker(context=context, namespace=namespace, cli_args=list(cli_args))
        results[backend] = {"fqn": node.get_fully_qualified_name()} | {
            topic: node.resolve_topic_name(topic) for topic in TOPICS
        }
        if backend == "rclpy":
            # robot_rl composes the FQN itself; it must agree with rcl's own.
            assert node._impl.node.get_fully_qualified_name() == results[backend]["fqn"]  # type: ignore[attr-defined]
    assert results["rclpy"] == results["inproc"], "the backends resolve names differently"
    assert results["rclpy"] == expected, "rclpy disagrees with the hand-written ROS2 expectation"
    assert results["inproc"] == expected, "inproc disagrees with the hand-written ROS2 expectation"


# ---------------------------------------------------------------- parameter precedence

# The same params files as test_params.py, whose expectations are written from rcl's rules.
FILE_TALKER_AFTER_ALL = FILE_1
FILE_TALKER_THEN_ALL = FILE_2
FILE_NAMESPACE_PATTERNS = FILE_NS

# (id, namespace, args with {f1}/{f2} standing for params files, files, expected values)
PARAM_CASES = [
    (
        "later-pattern-wins",
        "",
        ["--params-file", "{f1}"],
        {"f1": FILE_TALKER_AFTER_ALL},
        {"a": 2, "b": 1, "c": 1},
    ),
    (
        "p-after-file-wins",
        "",
        ["--params-file", "{f1}", "-p", "b:=5"],
        {"f1": FILE_TALKER_AFTER_ALL},
        {"a": 2, "b": 5, "c": 1},
    ),
    (
        "p-before-file-loses",
        "",
        ["-p", "b:=5", "--params-file", "{f1}"],
        {"f1": FILE_TALKER_AFTER_ALL},
        {"a": 2, "b": 1, "c": 1},
    ),
    (
        # '-p a:=5' joins the '/**' pattern, which sits before '/talker' in the table.
        "p-after-file-loses-to-later-node-pattern",
        "",
        ["--params-file", "{f1}", "-p", "a:=5"],
        {"f1": FILE_TALKER_AFTER_ALL},
        {"a": 2, "b": 1, "c": 1},
    ),
    (
        # The second file's 'talker' and '/**' merge into the patterns of the first file.
        "patterns-keep-first-position",
        "",
        ["--params-file", "{f1}", "--params-file", "{f2}"],
        {"f1": FILE_TALKER_AFTER_ALL, "f2": FILE_TALKER_THEN_ALL},
        {"a": 2, "b": 3, "c": 4},
    ),
    (
        "wildcards-in-namespace",
        "/ns",
        ["--params-file", "{f1}"],
        {"f1": FILE_NAMESPACE_PATTERNS},
        {"e": 2, "g": 4},
    ),
]


@pytest.mark.parametrize(
    ("namespace", "args", "files", "expected"),
    [case[1:] for case in PARAM_CASES],
    ids=[case[0] for case in PARAM_CASES],
)
def test_parameter_precedence_matches_rcl(
    contexts: dict[str, Context],
    tmp_path: Path,
    namespace: str,
    args: list[str],
    files: dict[str, str],
    expected: dict[str, int],
) -> None:
    paths = {}
    for key, text in files.items():
        paths[key] = tmp_path / f"{key}.yaml"
        paths[key].write_text(text)
    cli_args = ["--ros-args", *(arg.format(**{k: str(p) for k, p in paths.items()}) for arg in args)]
    defaults: dict[str, ParameterValue] = dict.fromkeys(expected, 0)
    results = {
        backend: Declarer(defaults, context=context, namespace=namespace, cli_args=cli_args).values
        for backend, context in contexts.items()
    }
    assert results["rclpy"] == results["inproc"], "the backends apply parameter overrides differently"
    assert results["rclpy"] == expected, "rclpy disagrees with the precedence measured on ROS2 Jazzy"
    assert results["inproc"] == expected, "inproc disagrees with the precedence measured on ROS2 Jazzy"


TYPED_DEFAULTS: dict[str, ParameterValue] = {
    "flag": True,
    "count": 3,
    "rate": 2.5,
    "label": "x",
    "flags": [True, False],
    "counts": [1, 2],
    "gains": [0.5, 1.5],
    "labels": ["a", "b"],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_declared_parameters_keep_values_and_types(backend: str) -> None:
    context = make_context(backend)
    try:
        node = Declarer(TYPED_DEFAULTS, context=context)
        assert node.values == TYPED_DEFAULTS
        for name, value in TYPED_DEFAULTS.items():
            parameter = node.get_parameter(name)
            assert parameter.value == value
            assert type(parameter.value) is type(value), name
            assert (
                parameter.type_
                == {
                    "flag": ParameterType.BOOL,
                    "count": ParameterType.INTEGER,
                    "rate": ParameterType.DOUBLE,
                    "label": ParameterType.STRING,
                    "flags": ParameterType.BOOL_ARRAY,
                    "counts": ParameterType.INTEGER_ARRAY,
                    "gains": ParameterType.DOUBLE_ARRAY,
                    "labels": ParameterType.STRING_ARRAY,
                }[name]
            )
        with pytest.raises(ParameterError):
            node.declare_parameter("count", 4)
        with pytest.raises(ParameterError):
            node.get_parameter("never_declared")
    finally:
        context.shutdown("test done")


@pytest.mark.parametrize("backend", BACKENDS)
def test_declared_parameter_keeps_description_and_read_only(backend: str) -> None:
    context = make_context(backend)
    try:
        node = Talker(context=context)
        declared = node.declare_parameter("gain", 2.0, "controller gain, 1/s", read_only=True)
        fetched = node.get_parameter("gain")
        for parameter in (declared, fetched):
            assert (parameter.value, parameter.description, parameter.read_only) == (2.0, "controller gain, 1/s", True)
    finally:
        context.shutdown("test done")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("default", [[], [1, "a"]], ids=["empty-list", "mixed-list"])
def test_untyped_parameter_default_raises_parameter_error(backend: str, default: Any) -> None:
    context = make_context(backend)
    try:
        node = Talker(context=context)
        with pytest.raises(ParameterError, match="gains"):
            node.declare_parameter("gains", default)
    finally:
        context.shutdown("test done")


# ---------------------------------------------------------------- type mismatch


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source", ["-p", "params-file", "parameter_overrides"])
def test_int_override_of_double_parameter_raises(backend: str, source: str, tmp_path: Path) -> None:
    cli_args: list[str] = []
    overrides: dict[str, ParameterValue] = {}
    if source == "-p":
        cli_args = ["--ros-args", "-p", "rate_hz:=5"]
    elif source == "params-file":
        path = tmp_path / "params.yaml"
        path.write_text("/**:\n  ros__parameters:\n    rate_hz: 5\n")
        cli_args = ["--ros-args", "--params-file", str(path)]
    else:
        overrides = {"rate_hz": 5}
    context = make_context(backend)
    try:
        node = Talker(context=context, cli_args=cli_args, parameter_overrides=overrides)
        with pytest.raises(ParameterTypeError, match="rate_hz"):
            node.declare_parameter("rate_hz", 10.0, "publish rate, Hz")
    finally:
        context.shutdown("test done")


# ---------------------------------------------------------------- undeclared overrides


class Gate(Node):
    """A node with strict parameters, like the safety gate and the robot driver."""

    strict_parameters = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("gate", **kwargs)
        self.declare_parameter("rate_hz", 10.0, "publish rate, Hz")


@pytest.mark.parametrize("backend", BACKENDS)
def test_undeclared_overrides_refused_by_a_strict_node_warned_by_others(
    backend: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """rcl ignores an undeclared override; robot_rl refuses it for a strict node and warns for the others."""
    shared = tmp_path / "shared.yaml"
    shared.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n    gain: 2.0\n")
    context = make_context(backend)
    try:
        with pytest.raises(ParameterError) as info:
            Gate(context=context, cli_args=["--ros-args", "--params-file", str(shared), "-p", "rate_hzz:=5.0"])
        assert str(info.value) == (
            "/gate: unknown parameter 'rate_hzz' (from -p rate_hzz:=...; did you mean 'rate_hz'?):"
            " this node accepts only the parameters it declares"
        )
        gate = Gate(context=context, cli_args=["--ros-args", "--params-file", str(shared)])  # '/**' gain: a warning
        assert gate.get_parameter("use_sim_time").value is True
        Talker(context=context, cli_args=["--ros-args", "-p", "rate_hzz:=5.0"])
        warnings = sorted(line for line in capfd.readouterr().err.splitlines() if "never declared" in line)
        assert len(warnings) == 2, warnings
        assert warnings[0].endswith("[gate]: parameters set but never declared by this node: gain")
        assert warnings[1].endswith("[talker]: parameters set but never declared by this node: rate_hzz")
    finally:
        context.shutdown("test done")


# ---------------------------------------------------------------- user errors

# (id, what the node code does in a context, the robot_rl error every backend must raise)
USER_ERRORS = [
    ("bad-node-name", lambda c: Node("bad-name", context=c), InvalidNameError),
    ("bad-namespace", lambda c: Node("n", namespace="/1ns", context=c), InvalidNameError),
    ("bad-remap-rule", lambda c: Node("n", context=c, cli_args=["--ros-args", "-r", "nocolon"]), RosArgsError),
    (
        "missing-params-file",
        lambda c: Node("n", context=c, cli_args=["--ros-args", "--params-file", "/nonexistent/params.yaml"]),
        ParameterError,
    ),
    ("bad-topic-resolve", lambda c: Node("n", context=c).resolve_topic_name("foo//bar"), InvalidNameError),
    ("bad-topic-publisher", lambda c: Node("n", context=c).create_publisher(msg.String, "1abc", 10), InvalidNameError),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("action", "error"), [case[1:] for case in USER_ERRORS], ids=[case[0] for case in USER_ERRORS])
def test_user_errors_raise_robot_rl_errors(backend: str, action: Any, error: type[RobotRLError]) -> None:
    """errors.py: every error a user can cause is a RobotRLError (NodeMain prints it as one line)."""
    context = make_context(backend)
    try:
        with pytest.raises(error):
            action(context)
    finally:
        context.shutdown("test done")


# ---------------------------------------------------------------- message defaults


def _assert_same_default(ros_value: Any, generated: Any, path: str) -> None:
    """Compare a real rclpy value with a generated one, recursively."""
    if hasattr(ros_value, "get_fields_and_field_types"):
        ros_fields = list(ros_value.get_fields_and_field_types())
        generated_fields = [field.name for field in dataclasses.fields(generated)]
        assert ros_fields == generated_fields, f"{path}: fields differ"
        for name in ros_fields:
            _assert_same_default(getattr(ros_value, name), getattr(generated, name), f"{path}.{name}")
    elif isinstance(ros_value, bytes):  # rclpy 'byte' fields
        ros_numbers = np.frombuffer(ros_value, dtype=np.uint8)
        assert np.array_equal(ros_numbers, np.atleast_1d(np.asarray(generated))), (
            f"{path}: {ros_value!r} != {generated!r}"
        )
    elif isinstance(ros_value, (np.ndarray, array.array)):
        assert isinstance(generated, np.ndarray), f"{path}: generated {type(generated).__name__}, not a numpy array"
        ros_array = np.asarray(ros_value)
        assert ros_array.shape == generated.shape, f"{path}: shape {ros_array.shape} != {generated.shape}"
        assert np.array_equal(ros_array, generated), f"{path}: {ros_array!r} != {generated!r}"
        assert ros_array.dtype == generated.dtype, f"{path}: dtype {ros_array.dtype} != {generated.dtype}"
    elif isinstance(ros_value, list):
        assert isinstance(generated, list), f"{path}: generated {type(generated).__name__}, not a list"
        assert len(ros_value) == len(generated), f"{path}: length {len(ros_value)} != {len(generated)}"
        for index, (ros_item, generated_item) in enumerate(zip(ros_value, generated, strict=True)):
            _assert_same_default(ros_item, generated_item, f"{path}[{index}]")
    else:
        assert type(ros_value) is type(generated), f"{path}: {ros_value!r} != {generated!r}"
        assert ros_value == generated, f"{path}: {ros_value!r} != {generated!r}"


@pytest.mark.parametrize("type_name", msg.TOPIC_TABLE_TYPES)
def test_generated_defaults_match_rclpy(type_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ros_class = msg._ros_class(type_name)
    generated_class = msg._generated_class(type_name)
    generated = generated_class()  # nested fields are generated classes too, whatever the backend
    _assert_same_default(ros_class(), generated, type_name)
    constants = [name for name in vars(generated_class) if name.isupper()]
    for name in constants:
        _assert_same_default(getattr(ros_class, name), getattr(generated_class, name), f"{type_name}.{name}")


# ---------------------------------------------------------------- pub/sub on rclpy


class Publisher(Node):
    """Publishes 'hello N' on 'chatter' from a timer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("talker", **kwargs)
        self.count = 0
        self.pub = self.create_publisher(msg.String, "chatter", 10)
        self.create_timer(0.05, self.tick)

    def tick(self) -> None:
        self.pub.publish(msg.String(data=f"hello {self.count}"))
        self.count += 1


class Listener(Node):
    """Records what arrives on 'chatter'."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("listener", **kwargs)
        self.received: list[str] = []
        self.create_subscription(msg.String, "chatter", lambda m: self.received.append(m.data), 10)


def test_pub_sub_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    assert msg.String is msg._ros_class("std_msgs/msg/String"), (
        "msg.String is not rclpy's class: run this tier with ROBOT_RL_BACKEND=rclpy"
    )
    talker = Publisher(context=rclpy_context)
    listener = Listener(context=rclpy_context)
    deadline = time.monotonic() + 5.0
    while len(listener.received) < 3 and time.monotonic() < deadline:
        rclpy_context.spin_once(timeout_s=0.1)
    assert len(listener.received) >= 3, f"got {listener.received} after 5 s ({talker.count} published)"
    first = int(listener.received[0].split()[1])
    assert listener.received[:3] == [f"hello {first + i}" for i in range(3)]
    assert rclpy_context.ok()
    rclpy_context.shutdown("done")
    assert not rclpy_context.ok()


def test_latched_message_reaches_late_subscriber_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    talker = Talker(context=rclpy_context)
    talker.create_publisher(msg.String, "latched", LATCHED).publish(msg.String(data="kept"))
    listener = Node("late", context=rclpy_context)
    received: list[str] = []
    listener.create_subscription(msg.String, "latched", lambda m: received.append(m.data), LATCHED)
    deadline = time.monotonic() + 5.0
    while not received and time.monotonic() < deadline:
        rclpy_context.spin_once(timeout_s=0.1)
    assert received == ["kept"]


def test_incompatible_qos_is_reported_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    """A volatile publisher never reaches a latched subscription under DDS; rclpy's event reaches the callback."""
    node = Node("gate", context=rclpy_context)
    reasons: list[str] = []
    node.create_subscription(msg.Bool, "estop", lambda m: None, LATCHED, on_incompatible_qos=reasons.append)
    Node("dashboard", context=rclpy_context).create_publisher(msg.Bool, "estop", 10)
    deadline = time.monotonic() + 5.0
    while not reasons and time.monotonic() < deadline:
        rclpy_context.spin_once(timeout_s=0.1)
    assert reasons == ["a publisher offers a DURABILITY QoS this subscription cannot receive from"]


def test_safety_gate_latches_on_a_volatile_estop_publisher_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    """The e-stop a volatile publisher sends never arrives under DDS: the gate latches the e-stop instead."""
    workspace = Path(__file__).resolve().parents[2] / "calibration" / "workspace.yaml"
    gate = SafetyNode(context=rclpy_context, cli_args=["--ros-args", "-p", f"workspace_file:={workspace}"])
    Node("dashboard", context=rclpy_context).create_publisher(msg.Bool, "/robot_rl/estop", 10)
    deadline = time.monotonic() + 5.0
    while not gate.filter.estop_latched and time.monotonic() < deadline:
        rclpy_context.spin_once(timeout_s=0.1)
    assert gate.filter.estop_latched
    assert gate.last_result is not None
    (reason,) = gate.last_result.reasons
    assert reason.startswith("e-stop latched: a publisher offers a DURABILITY QoS this subscription cannot receive")
    assert gate.incompatible_publishers("/robot_rl/estop", LATCHED) == [
        "/dashboard: a TRANSIENT_LOCAL subscription does not receive from a VOLATILE publisher"
    ]


class GateHarness(Node):
    """Publishes one tick of robot state, base action, a person's teleop copy and the command."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("gate_harness", **kwargs)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.base = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.teleop = self.create_publisher(msg.JointTrajectory, "/robot_rl/teleop_action", 10)
        self.command = self.create_publisher(msg.JointTrajectory, "/robot_rl/command", 10)

    def tick(self, base_gripper: float, command_gripper: float, intervening: bool) -> None:
        """Publish in the arbiter's order: state, base action, a person's teleop copy, then the command."""
        sec, nanosec = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)
        header = msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")
        home = np.array([0.0, 0.2, 0.0, -2.4, 0.0, 2.6, 0.8])
        names = [f"panda_joint{i}" for i in range(1, 8)]
        self.joints.publish(numpy_to_joint_state(names, home, np.zeros(7), header=header))
        pose = msg.Pose(position=msg.Point(x=0.5, y=0.0, z=0.1), orientation=msg.Quaternion(w=1.0))
        self.ee.publish(msg.PoseStamped(header=header, pose=pose))
        action = np.zeros(7)
        action[-1] = base_gripper
        self.base.publish(actions_to_trajectory(action, 0.05, header))
        action[-1] = command_gripper
        if intervening:
            self.teleop.publish(actions_to_trajectory(action, 0.05, header))
        self.command.publish(actions_to_trajectory(action, 0.05, header))


def test_safety_gate_reads_base_and_teleop_copy_before_the_command_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    """When a tick's messages wait together, rclpy runs callbacks in subscription order: the gate must check the
    command against this tick's base action and teleop copy, not the previous tick's."""
    workspace = Path(__file__).resolve().parents[2] / "calibration" / "workspace.yaml"
    # inputs stay fresh for 1 s, so a loaded machine's slow delivery cannot make the gate hold for stale ones
    args = ["--ros-args", "-p", f"workspace_file:={workspace}", "-p", "timeout_s:=1.0"]
    gate = SafetyNode(context=rclpy_context, cli_args=args)
    harness = GateHarness(context=rclpy_context)
    publishers = (harness.joints, harness.ee, harness.base, harness.teleop, harness.command)
    deadline = time.monotonic() + 10.0
    while min(pub.get_subscription_count() for pub in publishers) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # discovery
    applied = []  # (gripper command the gate allowed, its reasons) for each tick's command
    # (base gripper, commanded gripper, intervening): the policy inside the bound of this tick's base, then a
    # person closing the gripper against the base
    for tick in [(-1.0, -1.0, False), (1.0, 1.0, False), (1.0, -1.0, True)]:
        commands_before = gate.command_times
        harness.tick(*tick)
        time.sleep(0.2)  # every message of the tick waits in the gate's queues before it spins
        deadline = time.monotonic() + 5.0
        while gate.command_times == commands_before and time.monotonic() < deadline:
            rclpy_context.spin_once(timeout_s=0.01)
        assert gate.command_times != commands_before, "the command never reached the gate"
        assert gate.last_result is not None
        applied.append((float(gate.last_result.action[-1]), gate.last_result.reasons))
    assert applied == [(-1.0, []), (1.0, []), (-1.0, [])]


def test_malformed_message_is_dropped_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    """Node.create_subscription's net wraps the callback rclpy calls: a MessageError drops the message, spin goes on."""
    node = Node("gate", context=rclpy_context)
    arrived: list[int] = []  # names per message, malformed ones included
    converted: list[list[float]] = []

    def on_state(state: Any) -> None:
        arrived.append(len(state.name))
        converted.append(joint_state_to_numpy(state)[1].tolist())

    node.create_subscription(msg.JointState, "joint_states", on_state, 10)
    publisher = node.create_publisher(msg.JointState, "joint_states", 10)
    bad, good = msg.JointState(name=["a", "b", "c"], position=[0.1]), msg.JointState(name=["a"], position=[0.3])
    node.create_timer(0.05, lambda: (publisher.publish(bad), publisher.publish(good)))
    deadline = time.monotonic() + 5.0
    while not (3 in arrived and converted) and time.monotonic() < deadline:  # a malformed one and a good one
        rclpy_context.spin_once(timeout_s=0.1)
    assert 3 in arrived, f"no malformed message arrived in 5 s: {arrived}"
    assert converted
    assert all(positions == [0.3] for positions in converted)


class Stopper(Node):
    """Asks the context to shut down on its third timer tick (like a sim node that is done)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("stopper", **kwargs)
        self.ticks = 0
        self.create_timer(0.02, self.tick)

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks == 3:
            self.request_shutdown("done")
        if self.ticks > 100:  # spin() ignored the request: fail instead of hanging
            raise RuntimeError("spin() kept running after request_shutdown")


def test_request_shutdown_stops_spin_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    node = Stopper(context=rclpy_context)
    rclpy_context.spin()
    assert node.ticks == 3
    assert not rclpy_context.ok()


@pytest.mark.parametrize("backend", BACKENDS)
def test_node_main_exit_codes(backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("ROBOT_RL_BACKEND", backend)
    main = NodeMain(Stopper)
    assert main(["--ros-args", "-r", "__node:=renamed", "-p", "use_sim_time:=false"]) == 0
    assert main(["--ros-args", "-r", "nocolon"]) == 1, "a bad command line must exit 1, not raise"
    assert "error:" in capsys.readouterr().err


def test_launch_with_rclpy_backend_runs_one_process_per_node() -> None:
    """`robot-rl launch --backend rclpy` starts each node's console script, as ros2 launch would; the clock's
    ``on_exit: shutdown`` ends the whole launch when the clock ends (ros2 launch's Shutdown action)."""
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    robot_rl = str(Path(sys.executable).parent / "robot-rl")
    # 8 s of sim time (real time here): every node's process starts and discovers the others over DDS in that time
    # even on a loaded 2-core machine (at 3 s, one run under load saw the clock but no joint state yet).
    command = [robot_rl, "launch", "--backend", "rclpy", "launch/demo.launch.yaml", "duration_s:=8.0"]
    launcher = subprocess.Popen(command, cwd=repo, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        output = launcher.communicate(timeout=60)[1]  # no Ctrl-C: the launch ends by itself
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)  # the launcher and every node it started
    assert "[demo_clock]: shutdown requested: sim time reached 8.00 s" in output, output
    reports = [line for line in output.splitlines() if "[demo_monitor]: t=" in line]
    assert reports, output  # the monitor's sim-time timer fired: /clock crossed processes over DDS
    assert " 0 joint states" not in reports[-1], output
    assert launcher.returncode == 0, output


def test_launch_finds_another_packages_executable_through_the_ament_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ros2 launch runs ``<prefix>/lib/<package>/<executable>``, the prefix from the ament index (launch_ros
    substitutions/executable_in_package.py); so does `robot-rl launch --backend rclpy` (robot_state_publisher of the
    stack on a ROS2 install). Without the index (AMENT_PREFIX_PATH unset) the error is one line, not a traceback."""
    from robot_rl.errors import ExecutableNotFoundError
    from robot_rl.runtime.launcher import _find_script

    marker = tmp_path / "share" / "ament_index" / "resource_index" / "packages" / "robot_state_publisher"
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    script = tmp_path / "lib" / "robot_state_publisher" / "robot_state_publisher"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert _find_script("robot_state_publisher", "robot_state_publisher") == script
    monkeypatch.delenv("AMENT_PREFIX_PATH")
    with pytest.raises(ExecutableNotFoundError, match="robot_state_publisher/robot_state_publisher not found"):
        _find_script("robot_state_publisher", "robot_state_publisher")


# ---------------------------------------------------------------- parameter typing: rcl's, on both backends

RCL_SCALARS = [
    "1e-3", "y", "n", "on", "Off", "TRUE", "tRue", "0x10", "010", "08", "1_000", "inf", ".NaN", "-.Inf", "1.", ".5",
    "+5", "null", "~", "0x1p3", "1e999", "1e-310", "'off'", '"5"', "!!str 5", "!!float 5", "0b101",
    "9223372036854775808", "[1e-3, 2.0]", "[y, n]", "[0x10, 5]",
]  # fmt: skip


def _same(ours: object, theirs: object) -> bool:
    if isinstance(theirs, (list, tuple)) or type(theirs).__module__ in ("array", "numpy"):
        return isinstance(ours, list) and len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(theirs, float) and theirs != theirs:
        return isinstance(ours, float) and ours != ours
    return type(ours) is type(theirs) and ours == theirs


@pytest.mark.parametrize("scalar", RCL_SCALARS)
def test_params_file_typing_matches_rcl(scalar: str, tmp_path: Path) -> None:
    """Our params-file reader types every scalar as rcl's parser does (rcl_yaml_param_parser get_value)."""
    from robot_rl.runtime.params import load_params_file

    path = tmp_path / "p.yaml"
    path.write_text(f"/**:\n  ros__parameters:\n    p: {scalar}\n")
    context = rclpy.context.Context()
    rclpy.init(args=["probe", "--ros-args", "--params-file", str(path)], context=context)
    try:
        node = rclpy.node.Node("probe", context=context, automatically_declare_parameters_from_overrides=True)
        theirs = node.get_parameter("p").value
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    ours = load_params_file(path)["/**"]["p"]
    assert _same(ours, theirs), f"{scalar!r}: rcl gives {theirs!r}, we give {ours!r}"


@pytest.mark.parametrize(("given", "expected"), [("1e-3", 0.001), ("0.5", 0.5), ("2", "refused")])
def test_launch_values_reach_both_backends_alike(tmp_path: Path, given: str, expected: object) -> None:
    """Issue 12: with noise:=1e-3 the in-process backend got the string '1e-3', rclpy the double 0.001. An
    integer for a double parameter is refused by both (rclpy's rule)."""
    from robot_rl.runtime.launch_file import read_launch_file

    launch_file = tmp_path / "t.launch.yaml"
    launch_file.write_text(
        "launch:\n- arg: {name: x}\n- node:\n    pkg: robot_rl\n    exec: demo_monitor\n    name: t\n"
        "    param:\n    - {name: value, value: $(var x)}\n"
    )
    plan = read_launch_file(launch_file, {"x": given})
    plan.write_params_files()
    values: dict[str, object] = {}
    for backend in BACKENDS:
        context = make_context(backend)
        try:
            values[backend] = Declarer({"value": 1.5}, context=context, cli_args=plan.nodes[0].argv).values["value"]
        except ParameterTypeError:
            values[backend] = "refused"
        finally:
            context.shutdown("test done")
    assert values == {"rclpy": expected, "inproc": expected}


# ---------------------------------------------------------------- the intervention node on rclpy


class JoyTeleopHarness(Node):
    """Publishes the policy's action and a sensor_msgs/Joy with the deadman held; records the arbiter's output."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("joy_harness", **kwargs)
        self.commands: list[np.ndarray] = []
        self.flags: list[bool] = []
        self.policy = self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
        self.joy = self.create_publisher(msg.Joy, "/joy", 10)
        self.create_subscription(
            msg.JointTrajectory, "/robot_rl/command", lambda m: self.commands.append(trajectory_to_actions(m)[0]), 10
        )
        self.create_subscription(msg.Bool, "/robot_rl/intervention", lambda m: self.flags.append(m.data), 10)
        self.policy_action = actions_to_trajectory(np.array([0.2, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]), 0.05)
        self.create_timer(0.05, self.tick)

    def tick(self) -> None:
        buttons = [0] * 11
        buttons[5] = 1  # the right bumper: xpad's default deadman
        self.joy.publish(msg.Joy(axes=[0.0, 1.0, 0.0, 0.0, 0.0, 0.0], buttons=buttons))
        self.policy.publish(self.policy_action)


def test_intervention_node_takes_over_from_joy_on_real_rclpy(rclpy_context: RclpyContext) -> None:
    """The node a person drives on the robot, on rclpy over DDS: Joy deadman -> the person's command, flag true."""
    from robot_rl.intervention.node import InterventionNode

    node = InterventionNode(context=rclpy_context, cli_args=["--ros-args", "-p", "device:=joy"])
    harness = JoyTeleopHarness(context=rclpy_context)
    person = np.array([0.5, 0, 0, 0, 0, 0, -1])  # the left stick forward at the default scale
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        rclpy_context.spin_once(timeout_s=0.05)
        if True in harness.flags and any(np.allclose(command, person) for command in harness.commands):
            break
    # discovery may drop the first messages on either topic, so only the takeover itself is checked
    assert True in harness.flags, f"no takeover after 10 s: flags {harness.flags}"
    assert any(np.allclose(command, person) for command in harness.commands), harness.commands[-3:]
    assert node.interventions == 1
