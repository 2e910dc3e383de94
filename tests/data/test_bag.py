"""rosbag2 recording: what BagRecorder and the recorder node write reads back with rosbags' Reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from robot_rl.action_space import actions_to_trajectory
from robot_rl.data.bag import BagRecorder
from robot_rl.errors import DatasetError
from robot_rl.runtime import msg
from tests.data.recorder_harness import make_graph

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)


def _read(path: Path) -> list[tuple[str, str, int, bytes]]:
    with Reader(path) as reader:
        return [(c.topic, c.msgtype, t, bytes(raw)) for c, t, raw in reader.messages()]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_messages_round_trip_through_a_bag(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "bag"
    bag = BagRecorder(path, storage)
    trajectory = actions_to_trajectory(np.array([[0.1, -0.2, 0.3, 0.0, 0.0, 0.0, 1.0]] * 2), 0.05)
    sent: list[tuple[str, str, Any, int]] = [
        ("/robot_rl/command", "trajectory_msgs/msg/JointTrajectory", trajectory, 100),
        ("/robot_rl/intervention", "std_msgs/msg/Bool", msg.Bool(data=True), 150),
        ("/robot_rl/episode", "std_msgs/msg/String", msg.String(data=json.dumps({"event": "start"})), 200),
        ("/robot_rl/intervention", "std_msgs/msg/Bool", msg.Bool(data=False), 250),
    ]
    for topic, type_name in dict.fromkeys((topic, type_name) for topic, type_name, _, _ in sent):
        bag.add_topic(topic, type_name)
    for topic, _, message, stamp in sent:
        bag.write(topic, message, stamp)
    bag.close()
    bag.close()  # idempotent
    assert bag.counts == {"/robot_rl/command": 1, "/robot_rl/intervention": 2, "/robot_rl/episode": 1}
    if storage == "mcap":
        assert sorted(p.suffix for p in path.iterdir()) == [".mcap", ".yaml"]
    received = _read(path)
    assert [(topic, type_name, stamp) for topic, type_name, _, stamp in sent] == [r[:3] for r in received]
    for (_, type_name, message, _), (_, _, _, raw) in zip(sent, received, strict=True):
        assert raw == TYPESTORE.serialize_cdr(message, type_name)  # byte-identical CDR
    decoded = TYPESTORE.deserialize_cdr(received[0][3], "trajectory_msgs/msg/JointTrajectory")
    assert decoded.joint_names == ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"]
    np.testing.assert_allclose(decoded.points[1].positions, [0.1, -0.2, 0.3, 0.0, 0.0, 0.0, 1.0])
    assert [TYPESTORE.deserialize_cdr(r[3], "std_msgs/msg/Bool").data for r in received if "Bool" in r[1]] == [
        True,
        False,
    ]


def test_bag_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="storage must be one of"):
        BagRecorder(tmp_path / "b", "rosbag1")
    with pytest.raises(DatasetError, match="already exists"):
        BagRecorder(tmp_path)
    bag = BagRecorder(tmp_path / "b")
    bag.add_topic("/x", "std_msgs/msg/Bool")
    with pytest.raises(DatasetError, match="already declared"):
        bag.add_topic("/x", "std_msgs/msg/Bool")
    bag.close()


def test_recorder_node_bags_every_subscribed_topic(tmp_path: Path) -> None:
    bag_path = tmp_path / "raw"
    recorder, harness = make_graph(tmp_path / "dataset", "-p", f"bag_path:={bag_path}")
    harness.tick(0, np.zeros(7), intervention=False)  # before any episode: bagged all the same
    harness.event("start")
    flags = [True, False, True]
    for step, flag in enumerate(flags):
        action = np.full(7, 0.1 * step)
        harness.tick(1 + step, action, base=action, policy=action, command=action, intervention=flag, reward=0.5)
    harness.event("success")
    recorder.destroy_node()

    received = _read(bag_path)
    with Reader(bag_path) as reader:
        topics = {connection.topic: connection.msgtype for connection in reader.connections}
    assert topics == {
        "/robot_rl/ee_pose": "geometry_msgs/msg/PoseStamped",
        "/joint_states": "sensor_msgs/msg/JointState",
        "/robot_rl/slots": "sensor_msgs/msg/PointCloud2",
        "/robot_rl/base_action": "trajectory_msgs/msg/JointTrajectory",
        "/robot_rl/policy_action": "trajectory_msgs/msg/JointTrajectory",
        "/robot_rl/command": "trajectory_msgs/msg/JointTrajectory",
        "/robot_rl/intervention": "std_msgs/msg/Bool",
        "/robot_rl/safe_command": "trajectory_msgs/msg/JointTrajectory",
        "/robot_rl/reward": "std_msgs/msg/Float32",
        "/robot_rl/episode": "std_msgs/msg/String",
    }
    counts: dict[str, int] = {}
    for topic, _, _, _ in received:
        counts[topic] = counts.get(topic, 0) + 1
    assert counts["/robot_rl/safe_command"] == 4
    assert counts["/robot_rl/episode"] == 2
    assert counts["/robot_rl/reward"] == 3
    bagged_flags = [
        TYPESTORE.deserialize_cdr(raw, "std_msgs/msg/Bool").data
        for t, _, _, raw in received
        if t.endswith("intervention")
    ]
    assert bagged_flags == [False, *flags]
    stamps = [stamp for topic, _, stamp, _ in received if topic == "/robot_rl/safe_command"]
    assert stamps == [1_050_000_000 + 50_000_000 * i for i in range(4)]  # receive time on the sim clock
    pose = TYPESTORE.deserialize_cdr(
        next(r[3] for r in received if r[0] == "/robot_rl/ee_pose"), "geometry_msgs/msg/PoseStamped"
    )
    assert pose.header.frame_id == "base_link"
