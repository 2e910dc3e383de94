"""The sim slot source node on the in-process backend, fed the sim's messages by a test node."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from robot_rl.errors import SimError
from robot_rl.perception.slot_msgs import pointcloud2_to_slots, slot_dtype
from robot_rl.runtime import Node, msg
from robot_rl.runtime.diagnostics import ERROR, level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import pointcloud2_to_numpy
from robot_rl.sim.slot_source import load_slot_table
from robot_rl.sim.slot_source_node import SimSlotSourceNode, default_table_path


class Sim(Node):
    """Publishes what the sim bridge publishes (state only) and collects what the source node publishes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("sim", **kwargs)  # type: ignore[arg-type]
        self.objects = self.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.slots: list = []
        self.errors: list[str] = []
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.slots.append, 10)
        self.create_subscription(
            msg.DiagnosticArray,
            "/diagnostics",
            lambda m: self.errors.extend(s.message for s in m.status if level_of(s) == ERROR),
            10,
        )

    def tick(
        self,
        positions: list[tuple[float, float, float]],
        sec: int,
        frame: str = "base_link",
        orientations: list | None = None,
    ) -> None:
        header = msg.Header(stamp=msg.Time(sec=sec, nanosec=5), frame_id=frame)
        position = msg.Point(x=0.5, y=0.0, z=0.2)
        self.ee.publish(msg.PoseStamped(header=header, pose=msg.Pose(position=position)))
        orientations = orientations or [msg.Quaternion(w=1.0)] * len(positions)
        poses = [
            msg.Pose(position=msg.Point(x=x, y=y, z=z), orientation=orientation)
            for (x, y, z), orientation in zip(positions, orientations, strict=True)
        ]
        self.objects.publish(msg.PoseArray(header=header, poses=poses))


STACK = [(0.55, 0.05, -0.09), (0.62, -0.05, -0.085)]  # cubeA, cubeB resting on the table (z -0.1117)


def _graph(*params: str) -> tuple[InprocContext, Sim, SimSlotSourceNode]:
    context = InprocContext()
    args = ["--ros-args", "-p", "task:=Stack", *(arg for p in params for arg in ("-p", p))]
    node = SimSlotSourceNode(context=context, cli_args=args)
    return context, Sim(context=context), node


def test_poses_in_slots_out_with_the_same_stamp_and_perceptions_fields() -> None:
    context, sim, node = _graph()
    sim.tick(STACK, sec=3)
    context.spin_until_quiet()
    (cloud,) = sim.slots
    assert (cloud.header.stamp.sec, cloud.header.stamp.nanosec, cloud.header.frame_id) == (3, 5, "base_link")
    assert pointcloud2_to_numpy(cloud).dtype == slot_dtype(0)  # the perception node's PointCloud2 layout
    slots = pointcloud2_to_slots(cloud)
    assert slots.shape == (6, 11)
    assert list(slots[:, 0]) == [1, 1, 0, 0, 0, 0]
    offsets = {spec.name: spec.features["offset_x"].mean for spec in node.source.task_slots.slots}
    assert slots[0, 1] == pytest.approx(0.62 + offsets["cubeB"])  # cubeB (the larger cube) takes slot 0
    assert slots[1, 1] == pytest.approx(0.55 + offsets["cubeA"])


def test_a_malformed_pose_array_is_dropped_with_a_diagnostic() -> None:
    context, sim, node = _graph()
    sim.tick(STACK[:1], sec=1)  # one pose for a two-object task
    sim.tick(STACK, sec=2, frame="world")
    sim.tick([(0.55, np.nan, -0.09), STACK[1]], sec=3)
    context.spin_until_quiet()
    assert sim.slots == []
    assert sim.errors == [
        "dropped object_poses: expected 2 finite object positions (cubeA, cubeB), got shape (1, 3)",
        "dropped object_poses: object_poses are in frame 'world', expected 'base_link'",
        "dropped object_poses: object_poses hold a non-finite position: [[0.55, nan, -0.09], [0.62, -0.05, -0.085]]",
    ]
    sim.tick(STACK, sec=4)  # the next good poses are published
    context.spin_until_quiet()
    assert [cloud.header.stamp.sec for cloud in sim.slots] == [4]
    assert node.published == 1


def test_noise_is_reseeded_by_the_episode_seed() -> None:
    runs = []
    for _ in range(2):
        context, sim, _node = _graph("noise_model:=perception_v1", "seed:=4")
        for seed in (7, 8, 7):
            sim.episode.publish(msg.String(data=json.dumps({"event": "start", "episode": 0, "seed": seed})))
            sim.tick(STACK, sec=seed)
            context.spin_until_quiet()
        runs.append([pointcloud2_to_slots(cloud) for cloud in sim.slots])
    np.testing.assert_array_equal(np.stack(runs[0]), np.stack(runs[1]))  # reproducible
    first, second, again = runs[0]
    np.testing.assert_array_equal(first, again)  # the same episode seed draws the same noise
    assert not np.array_equal(first, second)
    assert np.abs(first[:2, 1:4] - second[:2, 1:4]).max() < 0.02


def test_the_orientations_set_the_extents_and_a_bad_one_is_dropped() -> None:
    context, sim, node = _graph()
    sim.tick(STACK, sec=1)  # both cubes aligned with the axes (w = 1)
    turned = msg.Quaternion(z=math.sin(math.pi / 8), w=math.cos(math.pi / 8))  # 45 degrees about z
    sim.tick(STACK, sec=2, orientations=[turned, msg.Quaternion(w=1.0)])
    sim.tick(STACK, sec=3, orientations=[msg.Quaternion(w=0.0), msg.Quaternion(w=1.0)])  # not a rotation
    context.spin_until_quiet()
    aligned, diagonal = (pointcloud2_to_slots(cloud) for cloud in sim.slots)
    spec = node.source.task_slots.slots[1]  # cubeA
    slope = spec.features["extent_x_yaw_slope"].mean
    assert aligned[1, 4] == pytest.approx(spec.features["extent_x"].mean, abs=1e-6)
    assert diagonal[1, 4] == pytest.approx(spec.features["extent_x"].mean + slope * (math.sqrt(2) - 1), abs=1e-6)
    np.testing.assert_array_equal(diagonal[0], aligned[0])  # cubeB did not turn
    assert sim.errors == [
        "dropped object_poses: object_poses hold an invalid orientation: [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]"
    ]


def test_bad_parameters_stop_the_node_with_one_line(tmp_path: object) -> None:
    with pytest.raises(SimError, match="unknown noise_model 'gauss'; choose one of none, perception_v1, perception_v2"):
        _graph("noise_model:=gauss")
    with pytest.raises(SimError, match=r"^sim slot table /nonexistent/sim_slots\.yaml: No such file or directory$"):
        _graph("table_file:=/nonexistent/sim_slots.yaml")
    with pytest.raises(SimError, match="the sim slot table has no task 'NutAssemblySquare'"):
        SimSlotSourceNode(context=InprocContext(), cli_args=["--ros-args", "-p", "task:=NutAssemblySquare"])


def test_the_default_table_is_the_packages() -> None:
    assert default_table_path().endswith("config/sim_slots.yaml")
    assert "Stack" in load_slot_table(default_table_path()).tasks
