"""The base policy node on the in-process backend, fed by a test node publishing what sim + perception publish."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.action_space import ACTION_NAMES, trajectory_to_actions
from robot_rl.errors import PolicyError
from robot_rl.perception.slot_msgs import slots_to_pointcloud2
from robot_rl.policies.base import load_base_policy
from robot_rl.policies.base_node import BasePolicyNode
from robot_rl.policies.features import ObservationAssembler
from robot_rl.runtime import Node, msg
from robot_rl.runtime.diagnostics import ERROR, OK, WARN, level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_image, numpy_to_joint_state
from tests.policies.conftest import SLOT_SIZE


class Robot(Node):
    """Publishes the inputs of one control tick and collects what the base policy publishes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("robot", **kwargs)  # type: ignore[arg-type]
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.slots = self.create_publisher(msg.PointCloud2, "/robot_rl/slots", 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.chunks: list = []
        self.actions: list = []
        self.diagnostics: list = []
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.chunks.append, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/policy_action", self.actions.append, 10)
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def messages(self, tick: int, num_slots: int = 4, nan: bool = False, slots_delay_s: float = 0.0) -> list:
        """The ee pose, joint states and slots of tick ``tick`` (stamped tick * 50 ms)."""
        rng = np.random.default_rng(tick)
        stamp = msg.Time(sec=tick // 20, nanosec=(tick % 20) * 50_000_000)
        header = msg.Header(stamp=stamp, frame_id="base_link")
        x, y, z = rng.uniform(0.3, 0.6, 3)
        pose = msg.Pose(position=msg.Point(x=np.nan if nan else x, y=y, z=z), orientation=msg.Quaternion(w=1.0))
        names = [*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2"]
        joints = numpy_to_joint_state(names, rng.uniform(0, 0.04, 9), header=msg.Header(stamp=stamp))
        slots = rng.uniform(0, 1, (num_slots, SLOT_SIZE)).astype(np.float32)
        slots_stamp = msg.Time(sec=stamp.sec, nanosec=stamp.nanosec + round(slots_delay_s * 1e9))
        cloud = slots_to_pointcloud2(slots, msg.Header(stamp=slots_stamp, frame_id="base_link"))
        return [msg.PoseStamped(header=header, pose=pose), joints, cloud]

    def tick(self, tick: int, **kwargs: object) -> None:
        pose, joints, cloud = self.messages(tick, **kwargs)  # type: ignore[arg-type]
        self.ee.publish(pose)
        self.joints.publish(joints)
        self.slots.publish(cloud)

    def event(self, kind: str, **fields: object) -> None:
        self.episode.publish(msg.String(data=json.dumps({"event": kind, "episode": 0, **fields})))

    def statuses(self, level: int) -> list[str]:
        return [s.message for array in self.diagnostics for s in array.status if level_of(s) == level]


def graph(checkpoint: Path, *params: str) -> tuple[InprocContext, Robot, BasePolicyNode]:
    context = InprocContext()
    robot = Robot(context=context)
    args = ["--ros-args", "-p", f"pretrained_path:={checkpoint}", "-p", "num_slots:=4", "-p", "report_period_s:=0.0"]
    for param in params:
        args += ["-p", param]
    node = BasePolicyNode(context=context, cli_args=args)
    return context, robot, node


def run(context: InprocContext, robot: Robot, ticks: range, **kwargs: object) -> None:
    for tick in ticks:
        robot.tick(tick, **kwargs)
        context.spin_until_quiet()


def test_publishes_the_planned_chunk_and_this_ticks_action(act_checkpoint: Path) -> None:
    context, robot, node = graph(act_checkpoint)
    robot.event("start")
    run(context, robot, range(3))
    assert [len(chunk.points) for chunk in robot.chunks] == [5, 4, 3]  # queue mode, n_action_steps 5
    assert node.policy.chunker.predictions == 1
    first = robot.chunks[0]
    assert list(first.joint_names) == list(ACTION_NAMES)
    assert (first.header.stamp.sec, first.header.stamp.nanosec, first.header.frame_id) == (0, 0, "base_link")
    assert [p.time_from_start.nanosec for p in first.points] == [0, 50_000_000, 100_000_000, 150_000_000, 200_000_000]
    # the chunk is the core's prediction for the assembled observation; policy_action is its point 0
    assembler = ObservationAssembler(4)
    pose, joints, cloud = robot.messages(0)
    assembler.on_ee_pose(pose)
    assembler.on_joint_states(joints)
    assembler.on_slots(cloud)
    expected = load_base_policy(act_checkpoint).predict_chunk(assembler.frame().features())[:5]
    np.testing.assert_allclose(trajectory_to_actions(first), expected, rtol=1e-5, atol=1e-6)
    for chunk, action in zip(robot.chunks, robot.actions, strict=True):
        assert len(action.points) == 1
        np.testing.assert_array_equal(trajectory_to_actions(action)[0], trajectory_to_actions(chunk)[0])
    np.testing.assert_allclose(trajectory_to_actions(robot.chunks[1]), expected[1:], rtol=1e-5, atol=1e-6)
    (report, *_) = robot.statuses(OK)
    assert report.startswith("acting: 1 actions in 1 ticks")
    values = {kv.key: kv.value for kv in robot.diagnostics[0].status[0].values}
    assert float(values["inference_ms"]) > 0
    assert float(values["tick_ms"]) > 0


def test_ensemble_predicts_every_tick(act_checkpoint: Path) -> None:
    context, robot, node = graph(act_checkpoint, "chunk_mode:=ensemble", "ensemble_coeff:=0.01")
    robot.event("start")
    run(context, robot, range(3))
    assert [len(chunk.points) for chunk in robot.chunks] == [10, 10, 10]
    assert node.policy.chunker.predictions == 3


def test_episode_start_resets_the_plan(act_checkpoint: Path) -> None:
    context, robot, node = graph(act_checkpoint, "n_action_steps:=3")
    robot.event("start")
    run(context, robot, range(2))
    robot.event("success")
    robot.event("start", episode=1)
    run(context, robot, range(2, 3))
    assert [len(chunk.points) for chunk in robot.chunks] == [3, 2, 3]
    assert node.policy.chunker.predictions == 2
    assert robot.statuses(ERROR) == []


def test_changed_weights_are_caught_at_the_next_episode_boundary(act_checkpoint: Path) -> None:
    context, robot, node = graph(act_checkpoint)
    robot.event("start")
    run(context, robot, range(2))
    with torch.no_grad():
        next(node.policy.policy.parameters()).view(-1)[0] += 0.5
    run(context, robot, range(2, 3))  # not checked mid-episode
    assert len(robot.chunks) == 3
    robot.event("timeout")
    context.spin_until_quiet()
    (error,) = robot.statuses(ERROR)
    assert error.startswith("base policy weights changed since load (hash ")
    assert node.frozen_violation
    robot.event("start", episode=1)  # latched: a new episode does not clear it
    run(context, robot, range(3, 6))
    assert len(robot.chunks) == len(robot.actions) == 3


def test_non_finite_observation_publishes_nothing(act_checkpoint: Path) -> None:
    context, robot, _ = graph(act_checkpoint)
    robot.event("start")
    run(context, robot, range(1), nan=True)
    assert robot.chunks == []
    assert robot.actions == []
    assert robot.statuses(ERROR) == ["no action: non-finite observation"]
    run(context, robot, range(1, 2))  # keeps running
    assert len(robot.chunks) == 1


def test_malformed_slots_are_dropped_and_the_next_tick_acts(act_checkpoint: Path) -> None:
    context, robot, _ = graph(act_checkpoint)
    robot.event("start")
    _, _, cloud = robot.messages(0)
    cloud.fields[1].name = cloud.fields[0].name  # two fields named slot_id: no point layout fits
    robot.slots.publish(cloud)
    context.spin_until_quiet()
    assert robot.chunks == []
    (error,) = robot.statuses(ERROR)
    assert error.startswith("ignored slots: PointCloud2 fields ['slot_id', 'slot_id', 'x'")
    run(context, robot, range(1, 2))
    assert len(robot.chunks) == 1


def test_inputs_too_far_apart_publish_nothing(act_checkpoint: Path) -> None:
    context, robot, _ = graph(act_checkpoint, "max_input_spread_s:=0.02")
    robot.event("start")
    run(context, robot, range(1), slots_delay_s=0.03)
    assert robot.chunks == []
    (warning,) = robot.statuses(WARN)
    assert warning.startswith("no action: inputs 0.030 s apart (> 0.02 s)")


def test_waits_for_every_input_and_warns_on_bad_events(act_checkpoint: Path) -> None:
    context, robot, _ = graph(act_checkpoint)
    _, _, cloud = robot.messages(0)
    robot.slots.publish(cloud)
    robot.episode.publish(msg.String(data="not json"))
    context.spin_until_quiet()
    assert robot.chunks == []
    assert robot.statuses(WARN) == [
        "no action: waiting for ee_pose, joint_states",
        "ignored malformed episode event 'not json'",
    ]


def test_slot_count_mismatch_is_a_one_line_error_at_construction(act_checkpoint: Path) -> None:
    with pytest.raises(PolicyError) as error:
        graph(act_checkpoint, "num_slots:=3")
    message = str(error.value)
    assert "\n" not in message
    assert "observation.environment_state has shape (33,), the policy expects (44,)" in message
    assert message.endswith("(num_slots=3, embedding_size=0, use_image=false)")


def test_pretrained_path_is_required() -> None:
    with pytest.raises(PolicyError, match="parameter pretrained_path is empty"):
        BasePolicyNode(context=InprocContext(), cli_args=[])
    with pytest.raises(PolicyError, match="/nonexistent/model does not exist"):
        BasePolicyNode(context=InprocContext(), cli_args=["--ros-args", "-p", "pretrained_path:=/nonexistent/model"])


def test_image_policy(act_image_checkpoint: Path) -> None:
    with pytest.raises(PolicyError, match=r"missing observation.images.color \(24, 32, 3\)"):
        graph(act_image_checkpoint)
    context, robot, _ = graph(act_image_checkpoint, "use_image:=true")
    camera = robot.create_publisher(msg.Image, "/camera/color/image_raw", 5)
    robot.event("start")
    for tick, (height, width) in enumerate([(24, 32), (48, 64)]):
        pose, joints, cloud = robot.messages(tick)
        image = np.full((height, width, 3), 100, dtype=np.uint8)
        camera.publish(numpy_to_image(image, "rgb8", msg.Header(stamp=pose.header.stamp)))
        for message, publisher in zip((pose, joints, cloud), (robot.ee, robot.joints, robot.slots), strict=True):
            publisher.publish(message)
        context.spin_until_quiet()
    assert len(robot.chunks) == 1
    (error,) = robot.statuses(ERROR)
    assert error == "no action: observation.images.color has shape (48, 64, 3), the policy expects (24, 32, 3)"


def test_without_policy_action(act_checkpoint: Path) -> None:
    context, robot, _ = graph(act_checkpoint, "publish_policy_action:=false")
    robot.event("start")
    run(context, robot, range(1))
    assert len(robot.chunks) == 1
    assert robot.actions == []
