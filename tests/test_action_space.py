"""The action space and its JointTrajectory form."""

import numpy as np
import pytest

from robot_rl.action_space import ACTION_NAMES, actions_to_trajectory, trajectory_to_actions
from robot_rl.errors import MessageError
from robot_rl.runtime import msg


def test_round_trip_chunk() -> None:
    chunk = np.linspace(-1, 1, 21).reshape(3, 7)
    trajectory = actions_to_trajectory(chunk, 0.05)
    assert trajectory.joint_names == list(ACTION_NAMES)
    assert [p.time_from_start.nanosec for p in trajectory.points] == [0, 50_000_000, 100_000_000]
    np.testing.assert_array_equal(trajectory_to_actions(trajectory), chunk)


def test_reordered_names_are_put_back_in_order() -> None:
    names = list(reversed(ACTION_NAMES))
    point = msg.JointTrajectoryPoint(positions=np.arange(7, dtype=np.float64))
    actions = trajectory_to_actions(msg.JointTrajectory(joint_names=names, points=[point]))
    np.testing.assert_array_equal(actions[0], np.arange(7)[::-1])


def test_errors() -> None:
    with pytest.raises(MessageError, match="7 columns"):
        actions_to_trajectory(np.zeros(6), 0.05)
    point = msg.JointTrajectoryPoint(positions=[1.0])
    with pytest.raises(MessageError, match="joint_names must be"):
        trajectory_to_actions(msg.JointTrajectory(joint_names=["a"], points=[point]))
    with pytest.raises(MessageError, match="no points"):
        trajectory_to_actions(msg.JointTrajectory(joint_names=list(ACTION_NAMES)))
