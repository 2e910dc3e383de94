"""The recorder node on the in-process backend: what the graph published is what the dataset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.action_space import actions_to_trajectory
from robot_rl.data.recorder import (
    BASE_ACTION_KEY,
    DONE_KEY,
    INTERVENTION_KEY,
    RESIDUAL_KEY,
    REWARD_KEY,
    SAFETY_CLIPPED_KEY,
    SUCCESS_KEY,
    TRUNCATED_KEY,
)
from robot_rl.errors import DatasetError
from robot_rl.policies.features import ACTION_KEY, STATE_KEY
from robot_rl.runtime import msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_pointcloud2
from robot_rl.torch_env import prepare_torchvision
from tests.data.recorder_harness import NUM_SLOTS, PERIOD_S, make_graph


def _load(root: Path) -> Any:
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("local/robot_rl", root=root)


def _action(value: float) -> np.ndarray:
    return np.full(7, value)


def _column(dataset: Any, key: str) -> list[bool]:
    return [bool(dataset[i][key]) for i in range(dataset.num_frames)]


def test_intervention_residual_and_clip_flags_match_what_was_published(tmp_path: Path) -> None:
    root = tmp_path / "corrections"
    recorder, harness = make_graph(root)
    harness.tick(0, _action(0.0))  # before any start event: not recorded
    harness.event("start", episode=0)
    published_flags = [False, True, True, None, False]  # None: the arbiter skipped a tick, the latest stays
    recorded_flags = [False, True, True, True, False]
    for step, flag in enumerate(published_flags):
        base = _action(0.1 * step)
        policy = base + 0.05
        command = _action(0.9) if flag else policy  # the person's command wins while they intervene
        safe = _action(0.5) if step == 2 else command  # the gate clips step 2
        harness.tick(
            10 + step,
            safe,
            base=base,
            policy=policy,
            command=None if step == 4 else command,  # step 4: no command came, the gate held
            intervention=flag,
            reward=None if step == 0 else float(step - 1),
        )
    harness.reward.publish(msg.Float32(data=4.0))  # the sim: the last step's reward, then the end event
    harness.event("success", episode=0)
    assert recorder.recorder.saved_episodes == 1
    harness.tick(20, _action(0.0))  # after the end, before the next start: not recorded
    recorder.destroy_node()

    dataset = _load(root)
    assert (dataset.num_episodes, dataset.num_frames) == (1, 5)
    assert _column(dataset, INTERVENTION_KEY) == recorded_flags
    assert _column(dataset, SAFETY_CLIPPED_KEY) == [False, False, True, False, True]
    for step in range(5):
        frame = dataset[step]
        assert float(frame[STATE_KEY][0]) == 10 + step
        np.testing.assert_allclose(frame[BASE_ACTION_KEY].numpy(), _action(0.1 * step), atol=1e-6)
        np.testing.assert_allclose(frame[RESIDUAL_KEY].numpy(), _action(0.05), atol=1e-6)
        assert float(frame[REWARD_KEY]) == step
    np.testing.assert_allclose(dataset[2][ACTION_KEY].numpy(), _action(0.5), atol=1e-6)  # the executed action
    assert _column(dataset, DONE_KEY) == [False] * 4 + [True]
    assert _column(dataset, SUCCESS_KEY) == [False] * 4 + [True]


def test_a_graph_without_arbiter_or_residual_records_no_intervention(tmp_path: Path) -> None:
    """collect-demos: the expert publishes base_action and (remapped) command; nobody publishes the rest."""
    root = tmp_path / "demos"
    recorder, harness = make_graph(root, "-p", "success_only:=false")
    harness.event("start", episode=0)
    for step in range(3):
        action = _action(0.2 + step)
        harness.tick(step, action, base=action, command=action)
    harness.event("timeout", episode=0)
    recorder.destroy_node()
    dataset = _load(root)
    assert dataset.num_frames == 3
    assert _column(dataset, INTERVENTION_KEY) == [False] * 3
    assert _column(dataset, SAFETY_CLIPPED_KEY) == [False] * 3
    assert _column(dataset, TRUNCATED_KEY) == [False, False, True]
    assert _column(dataset, SUCCESS_KEY) == [False] * 3
    np.testing.assert_allclose(dataset[1][BASE_ACTION_KEY].numpy(), _action(1.2), atol=1e-6)
    np.testing.assert_array_equal(dataset[1][RESIDUAL_KEY].numpy(), np.zeros(7))


def test_human_episode_events(tmp_path: Path) -> None:
    root = tmp_path / "corrections"
    recorder, harness = make_graph(root)  # success_only: failures are dropped
    ended: list[tuple[bool, bool]] = []
    recorder.on_episode_end = lambda success, saved: ended.append((success, saved))

    def episode(first: int, end: str, steps: int = 2) -> None:
        harness.event("start")
        for step in range(steps):
            harness.tick(first + step, _action(0.1), command=_action(0.1), intervention=True)
        harness.event(end, source="human")

    episode(0, "success")  # saved
    harness.event("success")  # the sim's own end after the person's: ignored
    episode(10, "failure")  # dropped (success_only)
    episode(20, "rerecord")  # dropped, not an end
    harness.event("rerecord", source="human")  # nothing in progress: harmless
    episode(30, "success")  # saved
    harness.event("start")
    harness.tick(40, _action(0.1), command=_action(0.1))
    assert harness.context.ok()
    harness.event("stop", source="human")  # drops the episode in progress, finalizes, shuts down
    assert not harness.context.ok()
    assert "stop requested (human)" in (harness.context.shutdown_reason or "")
    assert recorder.recorder.closed
    assert ended == [(True, True), (False, False), (True, True)]
    messages = [status.message for status in harness.diagnostics]
    assert any("failure (human), dropped" in message for message in messages)
    assert any("rerecord (human): episode in progress dropped" in message for message in messages)
    recorder.destroy_node()  # after the stop: nothing left to do

    dataset = _load(root)  # finalized by the stop itself
    assert (dataset.num_episodes, dataset.num_frames) == (2, 4)
    assert [float(dataset[i][STATE_KEY][0]) for i in range(4)] == [0, 1, 30, 31]
    assert _column(dataset, INTERVENTION_KEY) == [True] * 4
    assert _column(dataset, SUCCESS_KEY) == [False, True, False, True]


def test_malformed_inputs_are_reported_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "d"
    recorder, harness = make_graph(root)
    harness.event("start")
    harness.base.publish(msg.JointTrajectory(joint_names=["x"], points=[msg.JointTrajectoryPoint(positions=[1.0])]))
    harness.tick(0, _action(0.1), command=_action(0.1))
    assert any("dropped input: action joint_names" in status.message for status in harness.diagnostics)
    harness.episode.publish(msg.String(data="not json"))
    harness.context.spin_until_quiet()
    assert any("ignored malformed episode event" in status.message for status in harness.diagnostics)
    assert recorder.recorder.pending is not None  # the frame was still recorded (without a base action)
    np.testing.assert_array_equal(recorder.recorder.pending[BASE_ACTION_KEY], np.zeros(7))
    recorder.destroy_node()


def test_a_cloud_that_is_not_a_slot_message_is_dropped(tmp_path: Path) -> None:
    recorder, harness = make_graph(tmp_path / "d")
    harness.event("start")
    harness.tick(0, _action(0.1))
    harness.slots.publish(numpy_to_pointcloud2(np.zeros(NUM_SLOTS, dtype=[("x", np.float32)])))
    harness.tick(1, _action(0.1))
    assert any("dropped input: PointCloud2 is not a slot message" in s.message for s in harness.diagnostics)
    assert float(recorder.recorder.pending[STATE_KEY][0]) == 1  # the next tick is recorded
    recorder.destroy_node()


def test_a_non_finite_observation_is_not_recorded(tmp_path: Path) -> None:
    recorder, harness = make_graph(tmp_path / "d")
    harness.event("start")
    harness.tick(0, _action(0.1))
    harness.time_ns += int(PERIOD_S * 1e9)  # the next tick, whose ee pose is NaN
    nan_pose = msg.Pose(position=msg.Point(x=np.nan, y=0.0, z=0.0), orientation=msg.Quaternion(w=1.0))
    harness.ee.publish(msg.PoseStamped(header=harness.header(), pose=nan_pose))
    harness.safe.publish(actions_to_trajectory(_action(0.2), PERIOD_S, harness.header()))
    harness.context.spin_until_quiet()
    assert [s.message for s in harness.diagnostics][-1] == "non-finite observation; frame not recorded"
    assert float(recorder.recorder.pending[STATE_KEY][0]) == 0  # tick 0 is still the newest frame
    harness.tick(2, _action(0.1))
    assert float(recorder.recorder.pending[STATE_KEY][0]) == 2
    recorder.destroy_node()


def test_root_is_required() -> None:
    from robot_rl.data.recorder_node import RecorderNode

    with pytest.raises(DatasetError, match="parameter root is empty"):
        RecorderNode(context=InprocContext(), cli_args=[])
