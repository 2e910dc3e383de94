"""The evaluation monitor node, fed episode events by a test node on the in-process backend."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from robot_rl.action_space import actions_to_trajectory
from robot_rl.policies.evaluate import EpisodeMonitor, failure_modes
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext


def test_monitor_drops_episode_events_with_non_integer_fields(capsys: pytest.CaptureFixture[str]) -> None:
    context = InprocContext()
    monitor = EpisodeMonitor(context=context)
    episode = Node("sim", context=context).create_publisher(msg.String, "/robot_rl/episode", 10)
    events = [
        {"event": "start", "seed": "x"},  # dropped: the success after it belongs to no episode
        {"event": "success", "steps": 3},
        {"event": "start", "seed": 7},
        {"event": "success", "steps": "y"},  # dropped
        {"event": "timeout", "steps": 4},
    ]
    for event in events:
        episode.publish(msg.String(data=json.dumps(event)))
    context.spin_until_quiet()
    assert [(result.seed, result.success, result.steps) for result in monitor.results] == [(7, False, 4)]
    err = capsys.readouterr().err
    assert "dropped a message on /robot_rl/episode: episode event 'start' has a non-integer seed 'x'" in err


def _monitored() -> tuple[InprocContext, EpisodeMonitor, Node, Any]:
    """A monitor on a fresh in-process context, a node to publish from, and its /robot_rl/episode publisher."""
    context = InprocContext()
    monitor = EpisodeMonitor(context=context)
    graph = Node("graph", context=context)
    return context, monitor, graph, graph.create_publisher(msg.String, "/robot_rl/episode", 10)


def test_monitor_follows_the_first_objects_height_per_episode() -> None:
    context, monitor, sim, episode = _monitored()
    poses = sim.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)

    def tick(*heights: float) -> None:
        objects = [msg.Pose(position=msg.Point(x=0.5, y=0.0, z=z)) for z in heights]
        poses.publish(msg.PoseArray(header=msg.Header(frame_id="base_link"), poses=objects))
        context.spin_until_quiet()

    for seed, heights in ((1, (0.02, 0.10, 0.03)), (2, (0.02, 0.021))):
        episode.publish(msg.String(data=json.dumps({"event": "start", "seed": seed})))
        for z in heights:
            tick(z, 0.5)  # the second object's height is not followed
            tick(float("nan"), 0.5)  # a non-finite height is skipped, not followed
        episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": len(heights)})))
        context.spin_until_quiet()
    first, second = monitor.results
    assert first.max_rise_m == pytest.approx(0.08)
    assert first.final_rise_m == pytest.approx(0.01)
    assert second.max_rise_m == pytest.approx(0.001)
    assert second.final_rise_m == pytest.approx(0.001)
    assert failure_modes([asdict(result) for result in monitor.results]) == {
        "never lifted": 1,
        "dropped": 1,
        "up at the end": 0,
        "unknown": 0,
    }


def test_monitor_counts_ticks_that_apply_the_other_gripper_sign_than_the_base() -> None:
    context, monitor, graph, episode = _monitored()
    base = graph.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
    safe = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def tick(base_gripper: float, applied_gripper: float) -> None:
        base.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, base_gripper]] * 2), 0.05))
        safe.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, applied_gripper]]), 0.05))
        context.spin_until_quiet()

    tick(1.0, -1.0)  # before any episode: not counted
    for seed, ticks in ((1, ((1.0, 0.8), (1.0, -0.9), (-1.0, 0.5), (-1.0, -1.0))), (2, ((1.0, 1.0),))):
        episode.publish(msg.String(data=json.dumps({"event": "start", "seed": seed})))
        for pair in ticks:
            tick(*pair)
        episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": len(ticks)})))
        context.spin_until_quiet()
    assert [result.gripper_overrides for result in monitor.results] == [2, 0]


def test_monitor_counts_the_policy_actions_own_gripper_flips_apart_from_the_applied_commands() -> None:
    context, monitor, graph, episode = _monitored()
    base = graph.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
    policy = graph.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
    safe = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def tick(base_gripper: float, policy_gripper: float, applied_gripper: float) -> None:
        base.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, base_gripper]] * 2), 0.05))
        policy.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, policy_gripper]]), 0.05))
        safe.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, applied_gripper]]), 0.05))
        context.spin_until_quiet()

    episode.publish(msg.String(data=json.dumps({"event": "start", "seed": 3})))
    tick(1.0, -0.5, -0.5)  # the residual flipped it, and it was applied: both counts
    tick(-1.0, -1.0, 1.0)  # a safety hold kept the last applied sign: an override, not the residual's flip
    tick(-1.0, 0.4, -1.0)  # the residual flipped it, a person (or the gate) did not apply it
    tick(1.0, 0.0, 1.0)  # a zero gripper command has no sign: not a flip
    episode.publish(msg.String(data=json.dumps({"event": "success", "steps": 4})))
    context.spin_until_quiet()
    (result,) = monitor.results
    assert (result.residual_gripper_flips, result.gripper_overrides) == (2, 2)
