"""The declared node interfaces (robot_rl/runtime/node_interfaces.py) against what each node really creates.

``robot-rl topics`` lists a graph from the declarations alone; here every node executable is built in-process
with parameter sets that switch each conditional endpoint, and its publishers and subscriptions must be
exactly the declared ones (names expanded and remapped, types). The heavy nodes (the simulator, the policies
and the learner, which load robosuite or torch) are marked slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robot_rl.runtime import msg
from robot_rl.runtime.executables import node_class, node_executables
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.interfaces import PUBLISHER, SUBSCRIPTION
from robot_rl.runtime.launch_file import LaunchPlan, NodeSpec
from robot_rl.runtime.launcher import describe_node
from robot_rl.runtime.node_interfaces import INTERFACES

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = str(REPO / "calibration" / "workspace.yaml")
BASE = str(REPO / "models" / "lift_act")

Endpoints = set[tuple[str, str, str]]


def declared(executable: str, cli_args: list[str]) -> Endpoints:
    spec = NodeSpec("robot_rl", executable, None, None, cli_args, "screen", "test")
    description = describe_node(spec, LaunchPlan())
    return {endpoint for endpoint in description.endpoints if endpoint[1] != "/clock" or endpoint[0] == PUBLISHER}


def created(context: InprocContext) -> Endpoints:
    graph = context.graph
    publishers = {(PUBLISHER, p.topic_name, msg.message_type_name(p.msg_type)) for p in graph.publishers}
    subscriptions = {(SUBSCRIPTION, s.topic_name, msg.message_type_name(s.msg_type)) for s in graph.all_subscriptions()}
    return publishers | subscriptions


def check(executable: str, *params: str, remaps: tuple[str, ...] = (), **kwargs: Any) -> None:
    cli_args = ["--ros-args"]
    for param in params:
        cli_args += ["-p", param]
    for remap in remaps:
        cli_args += ["-r", remap]
    context = InprocContext()
    node = node_class("robot_rl", executable)(context=context, cli_args=cli_args, **kwargs)
    try:
        assert created(context) == declared(executable, cli_args)
    finally:
        node.destroy_node()


def test_every_executable_has_a_declaration() -> None:
    assert set(INTERFACES) == set(node_executables())


@pytest.mark.parametrize(
    ("executable", "params", "remaps"),
    [
        ("demo_clock", (), ()),
        ("demo_joint_publisher", (), ("joint_states:=/joint_states", "__ns:=/robot")),
        ("demo_monitor", (), ("__node:=watcher",)),
        ("safety_node", (f"workspace_file:={WORKSPACE}",), ()),
        ("safety_node", (f"workspace_file:={WORKSPACE}", "sim_episode_resets:=true"), ()),
        ("driver_node", (f"workspace_file:={WORKSPACE}",), ()),
        ("driver_node", (f"workspace_file:={WORKSPACE}", "gripper_command_topic:=/hand/cmd"), ()),
        ("intervention_node", (), ()),
        ("intervention_node", ("device:=joy",), ()),
        ("intervention_node", ("device:=spacemouse",), ("/spacenav/twist:=/mouse/twist",)),
        ("intervention_node", ("device:=simulated",), ()),
        ("expert_node", (), ()),
        ("sim_slots_node", (), ()),
        ("perception_node", ("load_calibration_at_start:=false",), ()),
        ("perception_node", ("load_calibration_at_start:=false", "segmenter:=sim_gt", "publish_debug_image:=true"), ()),
        ("perception_node", ("load_calibration_at_start:=false", "robot_description_file:=''"), ()),
        ("state_publisher_node", (), ()),
        ("state_publisher_node", ("use_sim_time:=true",), ("__ns:=/left", "joint_states:=/left/arm/joint_states")),
    ],
)
def test_declaration_matches_the_node(executable: str, params: tuple[str, ...], remaps: tuple[str, ...]) -> None:
    check(executable, *params, remaps=remaps)


@pytest.mark.parametrize("use_image", ["false", "true"])
def test_recorder_declaration_matches_the_node(tmp_path: Path, use_image: str) -> None:
    check("recorder_node", f"root:={tmp_path / 'dataset'}", "task:=Lift", f"use_image:={use_image}")


@pytest.mark.parametrize("align_depth", ["true", "false"])
def test_camera_declaration_matches_the_node(align_depth: str) -> None:
    from robot_rl.hardware.realsense import SoftwareSource, rs_intrinsics

    source = SoftwareSource(rs_intrinsics(640, 480, 600.0, 600.0, 320.0, 240.0))
    check("realsense_node", f"align_depth:={align_depth}", frame_source=source)


def test_a_parameter_of_the_wrong_type_fails_as_in_the_node() -> None:
    from robot_rl.errors import ParameterTypeError

    with pytest.raises(ParameterTypeError, match="expects bool, got string"):
        declared("perception_node", ["--ros-args", "-p", "publish_debug_image:=yes please"])


def test_sim_time_adds_the_clock_subscription() -> None:
    spec = NodeSpec("robot_rl", "demo_monitor", None, None, ["--ros-args", "-p", "use_sim_time:=true"], "log", "t")
    assert (SUBSCRIPTION, "/clock", "rosgraph_msgs/msg/Clock") in describe_node(spec, LaunchPlan()).endpoints


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executable", "params"),
    [
        ("residual_node", (f"base_path:={BASE}",)),
        ("base_policy_node", (f"pretrained_path:={BASE}", "task:=Lift")),
        ("base_policy_node", (f"pretrained_path:={BASE}", "task:=Lift", "publish_policy_action:=false")),
    ],
)
def test_policy_declarations_match_the_nodes(executable: str, params: tuple[str, ...]) -> None:
    check(executable, *params)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executable", "params", "order"),
    [
        (
            "base_policy_node",
            (f"pretrained_path:={BASE}", "task:=Lift", "use_image:=true"),
            ["/robot_rl/episode", "/robot_rl/ee_pose", "/joint_states", "/camera/color/image_raw", "/robot_rl/slots"],
        ),
        (
            "residual_node",
            (f"base_path:={BASE}",),
            [
                "/robot_rl/residual/weights",
                "/robot_rl/episode",
                "/robot_rl/ee_pose",
                "/joint_states",
                "/robot_rl/slots",
                "/robot_rl/base_action",
            ],
        ),
        (
            "safety_node",
            (f"workspace_file:={WORKSPACE}",),
            [
                "/robot_rl/estop",
                "/robot_rl/estop_reset",
                "/joint_states",
                "/robot_rl/ee_pose",
                "/robot_rl/base_action",
                "/robot_rl/teleop_action",
                "/robot_rl/command",
            ],
        ),
    ],
)
def test_a_ticks_trigger_is_subscribed_last(executable: str, params: tuple[str, ...], order: list[str]) -> None:
    """rclpy runs callbacks that are ready together in subscription order: what a tick's output needs (an episode's
    start, this tick's observation, base action, flag or teleop copy) must be subscribed before the message that
    triggers it."""
    cli_args = ["--ros-args"] + [arg for param in params for arg in ("-p", param)]
    context = InprocContext()
    node = node_class("robot_rl", executable)(context=context, cli_args=cli_args)
    try:
        assert [subscription.topic_name for subscription in context.graph.all_subscriptions()] == order
    finally:
        node.destroy_node()


@pytest.mark.slow
@pytest.mark.parametrize("render_camera", ["true", "false"])
def test_sim_declaration_matches_the_node(tmp_path: Path, render_camera: str) -> None:
    check("sim_node", f"render_camera:={render_camera}", f"calibration_dir:={tmp_path}")


@pytest.mark.slow
def test_learner_declaration_matches_the_node(tmp_path: Path, demos: Path) -> None:
    params = (f"out_dir:={tmp_path / 'run'}", f"base_path:={BASE}", f"demos:={demos}", "task:=Lift")
    check("learner_node", *params)


def test_robot_state_publisher_is_described_by_its_robot_rl_equivalent() -> None:
    """ROS2's robot_state_publisher has no declaration of its own: robot-rl topics describes (and the in-process
    backend runs) robot_rl's state_publisher_node, which has its node name, parameters and topics."""
    spec = NodeSpec("robot_state_publisher", "robot_state_publisher", None, None, ["--ros-args"], "log", "test")
    description = describe_node(spec, LaunchPlan())
    assert description.fqn == "/robot_state_publisher"
    assert description.executable == "robot_state_publisher/robot_state_publisher"
    assert set(description.endpoints) == declared("state_publisher_node", ["--ros-args"])
