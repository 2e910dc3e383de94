"""robot_rl's robot state publisher (robot_rl/state_publisher_node.py) on the in-process backend, and how
launch/stack.launch.yaml chooses between it and ROS2's robot_state_publisher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.errors import ParameterError, RobotModelError
from robot_rl.perception.geometry import quaternion_xyzw
from robot_rl.robot_model import RobotModel, default_urdf_path
from robot_rl.runtime import LATCHED, Node, msg
from robot_rl.runtime.diagnostics import ERROR, level_of
from robot_rl.runtime.executables import node_class
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.launch_file import read_launch_file
from robot_rl.runtime.ros_args import node_parameter_overrides, parse_ros_args
from robot_rl.state_publisher_node import StatePublisherNode

REPO = Path(__file__).resolve().parents[1]
TF = msg.message_class("tf2_msgs/msg/TFMessage")
TWO_LINKS = """<robot name="two"><link name="base_link"/><link name="a"/><link name="b"/>
<joint name="j" type="prismatic"><parent link="base_link"/><child link="a"/><axis xyz="0 0 1"/>
<limit lower="-1" upper="1" effort="1" velocity="1"/></joint>
<joint name="f" type="fixed"><parent link="a"/><child link="b"/><origin xyz="0.1 0 0"/></joint></robot>"""


@pytest.fixture(scope="module")
def model() -> RobotModel:
    return RobotModel(default_urdf_path())


class Robot(Node):
    """Publishes /joint_states; collects /tf, /tf_static and the ERROR diagnostics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("robot", **kwargs)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.tf: list = []
        self.tf_static: list = []
        self.errors: list[str] = []
        self.create_subscription(TF, "/tf", self.tf.append, 100)
        self.create_subscription(TF, "/tf_static", self.tf_static.append, LATCHED)
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)

    def on_diagnostics(self, array: Any) -> None:
        self.errors.extend(status.message for status in array.status if level_of(status) == ERROR)

    def publish(self, positions: dict[str, float], sec: int, nanosec: int = 0) -> None:
        header = msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec))
        state = msg.JointState(header=header, name=list(positions), position=np.array(list(positions.values())))
        self.joints.publish(state)


def graph(*params: str, **overrides: Any) -> tuple[InprocContext, Robot, StatePublisherNode]:
    context = InprocContext()
    args = ["--ros-args", *(arg for p in params for arg in ("-p", p))]
    node = StatePublisherNode(context=context, cli_args=args, parameter_overrides=overrides)
    robot = Robot(context=context)
    context.spin_until_quiet()
    return context, robot, node


def pose_of(transform: Any) -> np.ndarray:
    """The 4x4 T_parent_child of a geometry_msgs/TransformStamped."""
    t, r = transform.transform.translation, transform.transform.rotation
    x, y, z, w = r.x, r.y, r.z, r.w
    pose = np.eye(4)
    pose[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    pose[:3, 3] = [t.x, t.y, t.z]
    return pose


def compose(transforms: list[Any], root: str = "base_link") -> dict[str, np.ndarray]:
    """Each frame's pose in ``root``, by walking the published parent -> child transforms (as tf2 does)."""
    edges = {t.child_frame_id: (t.header.frame_id, pose_of(t)) for t in transforms}
    poses = {root: np.eye(4)}

    def pose(frame: str) -> np.ndarray:
        if frame not in poses:
            parent, relative = edges[frame]
            poses[frame] = pose(parent) @ relative
        return poses[frame]

    return {frame: pose(frame) for frame in [root, *edges]}


def random_configuration(model: RobotModel, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {name: float(rng.uniform(max(lo, -3.0), min(hi, 3.0))) for name, (lo, hi) in model.joint_limits.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tf_composes_to_the_robot_models_link_poses(model: RobotModel, seed: int) -> None:
    context, robot, node = graph()
    joints = random_configuration(model, seed)
    robot.publish(joints, sec=2, nanosec=500)
    context.spin_until_quiet()
    ((tf_message,), (static,)) = robot.tf, robot.tf_static
    moving = {(t.header.frame_id, t.child_frame_id) for t in tf_message.transforms}
    assert len(tf_message.transforms) == len(model.joint_names) == 9
    assert {(p, c) for p, c, _ in model.joint_transforms(joints).values()} == moving
    assert all((t.header.stamp.sec, t.header.stamp.nanosec) == (2, 500) for t in tf_message.transforms)
    expected = model.link_poses(joints)
    composed = compose([*static.transforms, *tf_message.transforms])
    assert set(composed) == set(model.link_names)
    for link in model.link_names:
        np.testing.assert_allclose(composed[link], expected[link], atol=1e-6, err_msg=link)
    np.testing.assert_allclose(composed["panda_hand_tcp"], expected["panda_hand_tcp"], atol=1e-9)
    assert node.published == 1


def test_robot_description_and_tf_static_are_latched(model: RobotModel) -> None:
    context, robot, _ = graph()
    descriptions: list = []
    late = Node("late", context=context)
    late.create_subscription(msg.String, "/robot_description", descriptions.append, LATCHED)
    context.spin_until_quiet()
    assert [d.data for d in descriptions] == [default_urdf_path().read_text()]
    (static,) = robot.tf_static  # robot subscribed after the node started: latched as well
    fixed = {(t.header.frame_id, t.child_frame_id) for t in static.transforms}
    assert fixed == {
        ("base_link", "mount"),
        ("base_link", "panda_link0"),
        ("panda_link7", "panda_link8"),
        ("panda_link8", "panda_hand"),
        ("panda_hand", "panda_hand_tcp"),
    }
    assert fixed == {(p, c) for p, c, _ in model.fixed_joint_transforms().values()}


def test_a_partial_joint_state_publishes_the_joints_it_has(model: RobotModel) -> None:
    context, robot, _ = graph()
    robot.publish({"panda_joint2": 0.3, "panda_finger_joint1": 0.02, "not_a_urdf_joint": 1.0}, sec=1)
    context.spin_until_quiet()
    (tf_message,) = robot.tf
    assert [(t.header.frame_id, t.child_frame_id) for t in tf_message.transforms] == [
        ("panda_hand", "panda_leftfinger"),  # panda_finger_joint1 (sorted by joint name, as std::map)
        ("panda_link1", "panda_link2"),  # panda_joint2
    ]
    expected = model.joint_transforms({"panda_joint2": 0.3})["panda_joint2"][2]
    np.testing.assert_allclose(pose_of(tf_message.transforms[1]), expected, atol=1e-12)
    assert robot.errors == []


def test_a_malformed_joint_state_is_dropped_with_a_diagnostic(model: RobotModel) -> None:
    context, robot, node = graph()
    bad = msg.JointState(name=["panda_joint1", "panda_joint2"], position=np.array([0.1]))
    bad.header.stamp.sec = 1
    robot.joints.publish(bad)
    robot.publish({"panda_joint1": 0.1, "panda_joint2": float("nan")}, sec=2)
    context.spin_until_quiet()
    assert robot.tf == []
    assert robot.errors == [
        "dropped a JointState: JointState has 2 names but 1 position values",
        "dropped a JointState: joint state(s) panda_joint2 are not finite",
    ]
    robot.publish(random_configuration(model, 0), sec=3)  # the next good one is published
    context.spin_until_quiet()
    assert [m.transforms[0].header.stamp.sec for m in robot.tf] == [3]
    assert node.published == 1


def test_publish_frequency_throttles_as_robot_state_publisher(model: RobotModel) -> None:
    """A stamp is published if it is at least 1/publish_frequency (whole ms) after the joints' last published one;
    a joint never published counts as published at time 0, so a first stamp of 0 is not."""
    stamps_ns = [0, 50_000_000, 70_000_000, 99_000_000, 100_000_000]
    for params, expected in [((), [50_000_000, 100_000_000]), (("ignore_timestamp:=true",), stamps_ns)]:
        context, robot, _ = graph(*params)
        for stamp_ns in stamps_ns:
            robot.publish(random_configuration(model, 0), *divmod(stamp_ns, 1_000_000_000))
            context.spin_until_quiet()
        stamps = [m.transforms[0].header.stamp for m in robot.tf]
        assert [s.sec * 1_000_000_000 + s.nanosec for s in stamps] == expected


def test_robot_description_parameter_wins_and_frame_prefix() -> None:
    context, robot, node = graph("frame_prefix:=left/", robot_description=TWO_LINKS)
    assert node.model.name == "two"
    robot.publish({"j": 0.25}, sec=1)
    context.spin_until_quiet()
    ((tf_message,), (static,)) = robot.tf, robot.tf_static
    (moving,) = tf_message.transforms
    assert (moving.header.frame_id, moving.child_frame_id) == ("left/base_link", "left/a")
    assert moving.transform.translation.z == pytest.approx(0.25)
    (fixed,) = static.transforms
    assert (fixed.header.frame_id, fixed.child_frame_id, fixed.transform.translation.x) == ("left/a", "left/b", 0.1)


def test_bad_parameters_stop_the_node(tmp_path: Path) -> None:
    with pytest.raises(RobotModelError, match=r"nowhere\.urdf: cannot read the robot description"):
        graph(f"robot_description_file:={tmp_path / 'nowhere.urdf'}")
    with pytest.raises(RobotModelError, match="robot_description: not a URDF"):
        graph(robot_description="<mujoco/>")
    with pytest.raises(ParameterError, match="publish_frequency must be in"):
        graph("publish_frequency:=0.0")


def test_quaternion_of_a_half_turn_about_each_axis() -> None:
    for axis in range(3):
        rotation = -np.eye(3)
        rotation[axis, axis] = 1.0
        quaternion = quaternion_xyzw(rotation)
        assert quaternion == pytest.approx((*(float(i == axis) for i in range(3)), 0.0))


# -- launch/stack.launch.yaml: robot_state_publisher under ROS2, state_publisher_node without --------------------

STACK_ARGS = {"base": "/models/none", "hand_eye_file": "/none/he.yaml", "workspace_file": "/none/ws.yaml"}


def state_publishers(**arguments: str) -> list[tuple[str, str, dict[str, Any]]]:
    plan = read_launch_file(REPO / "launch" / "stack.launch.yaml", {**STACK_ARGS, **arguments})
    found = []
    for spec in plan.nodes:
        if spec.name == "robot_state_publisher":
            args = parse_ros_args(spec.argv)
            overrides = node_parameter_overrides(args.parameter_sources, "/robot_state_publisher", {}, plan.load_params)
            found.append((spec.package, spec.executable, {k: o.value for k, o in overrides.items()}))
    return found


def test_stack_runs_robot_rls_state_publisher_without_ros2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROS_DISTRO", raising=False)
    ((package, executable, parameters),) = state_publishers()
    assert (package, executable) == ("robot_rl", "state_publisher_node")
    assert parameters["robot_description_file"] == str(default_urdf_path())
    assert state_publishers(publish_robot_state="false") == []


def test_stack_runs_ros2s_robot_state_publisher_under_ros2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under ROS2, robot_state_publisher gets the URDF text ($(command 'cat ...'), type str: the text as it is,
    where YAML typing would fail on panda.urdf's comments). In-process, robot_rl's node stands in for it."""
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    ((package, executable, parameters),) = state_publishers()
    assert (package, executable) == ("robot_state_publisher", "robot_state_publisher")
    assert parameters["robot_description"] == default_urdf_path().read_text()
    urdf = tmp_path / "two.urdf"
    urdf.write_text(TWO_LINKS)
    plan = read_launch_file(REPO / "launch" / "stack.launch.yaml", {**STACK_ARGS, "robot_description_file": str(urdf)})
    (spec,) = [spec for spec in plan.nodes if spec.name == "robot_state_publisher"]
    plan.write_params_files()
    context = InprocContext()
    node = node_class(spec.package, spec.executable)(context=context, cli_args=spec.argv)
    assert isinstance(node, StatePublisherNode)
    assert node.get_fully_qualified_name() == "/robot_state_publisher"
    assert node.model.name == "two"
    node.destroy_node()
