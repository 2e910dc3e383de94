"""EpisodeRecorder: what it writes loads with LeRobot's own LeRobotDataset, frame for frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.data.recorder import DONE_KEY, REWARD_KEY, EpisodeRecorder, RecorderConfig
from robot_rl.errors import DatasetError
from robot_rl.policies.features import ACTION_KEY, ENVIRONMENT_STATE_KEY, IMAGE_KEY, STATE_KEY, ObservationFrame
from robot_rl.torch_env import prepare_torchvision

NUM_SLOTS = 2


def _frame(step: int, image: bool = False) -> ObservationFrame:
    return ObservationFrame(
        stamp_s=0.05 * step,
        state=np.full(9, step, dtype=np.float32),
        environment_state=np.arange(NUM_SLOTS * 11, dtype=np.float32) + step,
        image=np.full((8, 12, 3), step, dtype=np.uint8) if image else None,
    )


def _record(recorder: EpisodeRecorder, steps: int, success: bool, offset: int = 0) -> bool:
    for step in range(steps):
        recorder.add_step(_frame(offset + step, recorder.config.image_shape_hw is not None), np.full(7, 0.1 * step))
        recorder.add_reward(float(offset + step))
    return recorder.end_episode(success)


def _load(root: Path) -> Any:
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("local/robot_rl", root=root)


def test_success_only_keeps_successful_episodes_and_lerobot_loads_them(tmp_path: Path) -> None:
    root = tmp_path / "demos"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS))
    assert _record(recorder, 4, success=False) is False
    assert _record(recorder, 5, success=True, offset=100) is True
    recorder.close()
    assert (recorder.saved_episodes, recorder.discarded_episodes) == (1, 1)
    dataset = _load(root)
    assert dataset.num_episodes == 1
    assert dataset.num_frames == 5
    assert dataset.fps == 20
    last = dataset[4]
    np.testing.assert_allclose(last[STATE_KEY].numpy(), np.full(9, 104.0))
    np.testing.assert_allclose(last[ENVIRONMENT_STATE_KEY].numpy(), np.arange(22) + 104.0)
    np.testing.assert_allclose(last[ACTION_KEY].numpy(), np.full(7, 0.4), rtol=1e-6)
    assert float(last[REWARD_KEY]) == 104.0  # the reward of the step taken from this frame
    assert bool(last[DONE_KEY])
    assert not bool(dataset[3][DONE_KEY])
    assert last["task"] == "Lift"
    assert dataset.meta.features[ENVIRONMENT_STATE_KEY]["names"][:2] == ["slot0_presence", "slot0_x"]


def test_failures_are_kept_when_asked_and_images_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "demos"
    config = RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS, image_shape_hw=(8, 12), success_only=False)
    recorder = EpisodeRecorder(config)
    _record(recorder, 3, success=False)
    _record(recorder, 2, success=True, offset=10)
    recorder.add_step(_frame(50, image=True), np.zeros(7))  # an unfinished episode is dropped at close
    recorder.close()
    recorder.close()  # idempotent
    dataset = _load(root)
    assert dataset.num_episodes == 2
    assert dataset.num_frames == 5
    image = dataset[4][IMAGE_KEY]  # LeRobot returns images as float CHW in [0, 1]
    assert tuple(image.shape) == (3, 8, 12)
    np.testing.assert_allclose(image.numpy(), 11 / 255.0, atol=1e-6)


def test_existing_directory_and_bad_action_are_errors(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    with pytest.raises(DatasetError, match="already exists and is not empty"):
        RecorderConfig(root=tmp_path, task="Lift", num_slots=2)
    recorder = EpisodeRecorder(RecorderConfig(root=tmp_path / "new", task="Lift", num_slots=NUM_SLOTS))
    with pytest.raises(DatasetError, match="shape"):
        recorder.add_step(_frame(0), np.zeros(6))
    recorder.close()
