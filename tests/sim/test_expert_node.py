"""The expert node on the in-process backend, fed the sim's state messages by a test node."""

from __future__ import annotations

import numpy as np

from robot_rl.policies.features import FINGER_JOINTS
from robot_rl.runtime import Node, msg
from robot_rl.runtime.diagnostics import ERROR, level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state
from robot_rl.sim.expert_node import ExpertInputAssembler, ExpertNode


def _pose(x: float) -> object:
    return msg.Pose(position=msg.Point(x=x, y=0.0, z=0.1), orientation=msg.Quaternion(x=1.0, w=0.0))


def test_malformed_state_is_dropped_with_a_diagnostic_and_the_expert_keeps_acting() -> None:
    context = InprocContext()
    node = ExpertNode(context=context, cli_args=["--ros-args", "-p", "task:=Lift"])
    sim = Node("sim", context=context)
    ee = sim.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
    joints = sim.create_publisher(msg.JointState, "/joint_states", 10)
    objects = sim.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)
    errors: list[str] = []
    sim.create_subscription(
        msg.DiagnosticArray,
        "/diagnostics",
        lambda m: errors.extend(s.message for s in m.status if level_of(s) == ERROR),
        10,
    )
    ee.publish(msg.PoseStamped(pose=_pose(np.nan)))
    joints.publish(msg.JointState(name=[f"panda_joint{i}" for i in range(1, 8)], position=[0.0, 0.1, 0.2]))
    context.spin_until_quiet()
    ee.publish(msg.PoseStamped(pose=_pose(0.5)))
    joints.publish(numpy_to_joint_state(list(FINGER_JOINTS), np.full(2, 0.04)))
    objects.publish(msg.PoseArray(poses=[_pose(np.nan)]))
    context.spin_until_quiet()
    assert node.actions == 0
    assert errors[0].startswith("dropped input: non-finite pose: position [nan, 0.0, 0.1]")
    assert errors[1] == "dropped input: JointState has 7 names but 3 position values"
    assert errors[2].startswith("non-finite pose: position [nan, 0.0, 0.1]")
    objects.publish(msg.PoseArray(poses=[_pose(0.6)]))  # the next good object poses: the expert acts
    context.spin_until_quiet()
    assert node.actions == 1


def test_the_inputs_carry_the_arm_joints_in_chain_order_when_the_state_has_them() -> None:
    inputs = ExpertInputAssembler("Lift")
    inputs.on_ee_pose(msg.PoseStamped(pose=_pose(0.5)))
    inputs.on_joint_states(numpy_to_joint_state(list(FINGER_JOINTS), np.full(2, 0.04)))  # fingers only
    state = inputs.on_object_poses(msg.PoseArray(poses=[_pose(0.6)]))
    assert state is not None
    assert state.arm_joint_positions_rad is None  # no arm joints: the expert does without joint-limit recovery
    names = [*FINGER_JOINTS, *(f"panda_joint{i}" for i in range(7, 0, -1))]  # any order
    inputs.on_joint_states(numpy_to_joint_state(names, np.array([0.04, -0.04, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])))
    state = inputs.on_object_poses(msg.PoseArray(poses=[_pose(0.6)]))
    assert state is not None
    np.testing.assert_array_equal(state.arm_joint_positions_rad, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
