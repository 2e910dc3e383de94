"""EpisodeRecorder: what it writes loads with LeRobot's own LeRobotDataset, frame for frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.data.recorder import (
    BASE_ACTION_KEY,
    DONE_KEY,
    INTERVENTION_KEY,
    RESIDUAL_KEY,
    REWARD_KEY,
    SAFETY_CLIPPED_KEY,
    STAGING_DIR,
    SUCCESS_KEY,
    TRUNCATED_KEY,
    EpisodeRecorder,
    RecorderConfig,
    StepInfo,
    check_dataset,
    recover_dataset,
    step_labels,
)
from robot_rl.episode_events import SUCCESS_REWARD
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


def _flag(frame: dict[str, Any], key: str) -> bool:
    return bool(frame[key])


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
    assert _flag(last, DONE_KEY)
    assert _flag(last, SUCCESS_KEY)
    assert not _flag(last, TRUNCATED_KEY)
    assert not _flag(dataset[3], DONE_KEY)
    assert not _flag(dataset[3], SUCCESS_KEY)
    assert last["task"] == "Lift"
    assert dataset.meta.features[ENVIRONMENT_STATE_KEY]["names"][:2] == ["slot0_presence", "slot0_x"]


def test_the_last_step_of_a_success_earns_at_least_the_success_reward(tmp_path: Path) -> None:
    """A person's success key comes after the sim scored the judged step (0: it saw no success); on a robot nothing
    scores it. A failure keeps what the step earned (0 unscored)."""
    root = tmp_path / "corrections"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS, success_only=False))
    for success, scored in ((True, False), (False, False), (True, True)):
        recorder.add_step(_frame(0), np.zeros(7))
        recorder.add_reward(0.0)
        recorder.add_step(_frame(1), np.zeros(7))
        if scored:
            recorder.add_reward(0.5)
        recorder.end_episode(success)
    recorder.close()
    dataset = _load(root)
    rewards = [float(dataset[index][REWARD_KEY]) for index in range(dataset.num_frames)]
    # unscored success: the success reward; unscored failure: 0; a success scored below it: the success reward
    assert rewards == [0.0, SUCCESS_REWARD, 0.0, 0.0, 0.0, SUCCESS_REWARD]


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


def test_step_labels_residual_intervention_and_safety_clip() -> None:
    base = np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    policy = base + np.array([0.05, -0.02, 0.0, 0.0, 0.0, 0.0, 0.0])
    executed = policy.copy()
    labels = step_labels(executed, StepInfo(requested_action=policy, base_action=base, policy_action=policy))
    np.testing.assert_allclose(labels[BASE_ACTION_KEY], base, rtol=1e-6)
    np.testing.assert_allclose(labels[RESIDUAL_KEY], [0.05, -0.02, 0, 0, 0, 0, 0], atol=1e-7)
    assert labels[RESIDUAL_KEY].dtype == np.float32
    assert not labels[INTERVENTION_KEY][0]
    assert not labels[SAFETY_CLIPPED_KEY][0]  # executed exactly what was requested
    nudged = executed.copy()
    nudged[2] += 2e-9  # more than the 1e-9 tolerance on one axis
    assert step_labels(nudged, StepInfo(requested_action=policy))[SAFETY_CLIPPED_KEY][0]
    within = executed.copy()
    within[2] += 5e-10
    assert not step_labels(within, StepInfo(requested_action=policy))[SAFETY_CLIPPED_KEY][0]
    hold = step_labels(np.zeros(7), StepInfo(base_action=base, intervention=True))  # no command: the gate held
    assert hold[SAFETY_CLIPPED_KEY][0]
    assert hold[INTERVENTION_KEY][0]
    np.testing.assert_array_equal(hold[RESIDUAL_KEY], np.zeros(7))  # no policy action: residual is zeros
    nothing = step_labels(np.zeros(7), StepInfo(policy_action=policy))
    np.testing.assert_array_equal(nothing[BASE_ACTION_KEY], np.zeros(7))  # no base action: zeros, as the residual
    np.testing.assert_array_equal(nothing[RESIDUAL_KEY], np.zeros(7))
    nan_request = step_labels(executed, StepInfo(requested_action=np.full(7, np.nan)))
    assert nan_request[SAFETY_CLIPPED_KEY][0]


def test_labels_events_and_flags_reach_the_dataset(tmp_path: Path) -> None:
    root = tmp_path / "corrections"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS, success_only=False))
    base = np.full(7, 0.2)

    def step(index: int, intervention: bool, clip: bool) -> None:
        executed = np.full(7, 0.01 * index)
        requested = executed + (0.5 if clip else 0.0)
        info = StepInfo(
            requested_action=requested, base_action=base, policy_action=base + 0.1, intervention=intervention
        )
        recorder.add_step(_frame(index), executed, info)

    recorder.start_episode()  # 0: success (frames 0-2)
    for index, (intervention, clip) in enumerate([(False, False), (True, False), (True, True)]):
        step(index, intervention, clip)
    assert recorder.handle_event({"event": "success", "source": "human"}).saved
    assert recorder.handle_event({"event": "success"}).ignored  # the sim's own end of the same episode
    recorder.start_episode()  # rerecorded: dropped
    step(10, False, False)
    outcome = recorder.handle_event({"event": "rerecord", "source": "human"})
    assert outcome.dropped
    assert not outcome.ended
    step(11, False, False)  # frames after a rerecord start a new episode only with add_step ...
    recorder.handle_event({"event": "start"})  # ... and a start drops them again
    step(20, False, False)  # 1: timeout (frames 3-4)
    step(21, False, False)
    outcome = recorder.handle_event({"event": "timeout", "episode": 3})
    assert (outcome.ended, outcome.saved, outcome.success) == (True, True, False)
    recorder.handle_event({"event": "start"})
    step(30, False, False)  # 2: failure by a person (frame 5)
    assert recorder.handle_event({"event": "failure", "source": "human"}).saved  # success_only=False keeps it
    recorder.handle_event({"event": "start"})
    step(40, False, False)
    assert recorder.handle_event({"event": "reset", "seed": 3}).ignored  # not the recorder's business
    outcome = recorder.handle_event({"event": "stop", "source": "human"})
    assert (outcome.stop, outcome.dropped) == (True, True)
    assert recorder.closed
    assert recorder.handle_event({"event": "start"}).ignored
    assert (recorder.saved_episodes, recorder.discarded_episodes) == (3, 3)

    dataset = _load(root)
    assert dataset.num_episodes == 3
    assert dataset.num_frames == 6
    frames = [dataset[i] for i in range(6)]
    assert [_flag(f, INTERVENTION_KEY) for f in frames] == [False, True, True, False, False, False]
    assert [_flag(f, SAFETY_CLIPPED_KEY) for f in frames] == [False, False, True, False, False, False]
    assert [_flag(f, DONE_KEY) for f in frames] == [False, False, True, False, True, True]
    assert [_flag(f, SUCCESS_KEY) for f in frames] == [False, False, True, False, False, False]
    assert [_flag(f, TRUNCATED_KEY) for f in frames] == [False, False, False, False, True, False]
    assert [float(f[STATE_KEY][0]) for f in frames] == [0, 1, 2, 20, 21, 30]
    np.testing.assert_allclose(frames[0][BASE_ACTION_KEY].numpy(), base, rtol=1e-6)
    np.testing.assert_allclose(frames[0][RESIDUAL_KEY].numpy(), np.full(7, 0.1), rtol=1e-5)
    assert dataset.meta.features[RESIDUAL_KEY]["names"][0] == "dx"


def test_a_replaced_action_keeps_the_tick_labels_it_does_not_replace(tmp_path: Path) -> None:
    recorder = EpisodeRecorder(RecorderConfig(root=tmp_path / "d", task="Lift", num_slots=NUM_SLOTS))
    base = np.full(7, 0.3)
    recorder.add_step(_frame(0), np.full(7, 0.1), StepInfo(requested_action=np.full(7, 0.1), base_action=base))
    recorder.replace_last_action(np.zeros(7), StepInfo(intervention=True))  # a hold for the same observation
    assert recorder.pending is not None
    np.testing.assert_allclose(recorder.pending[BASE_ACTION_KEY], base, rtol=1e-6)
    assert recorder.pending[SAFETY_CLIPPED_KEY][0]  # zeros differ from the request that is still the tick's
    assert recorder.pending[INTERVENTION_KEY][0]
    np.testing.assert_array_equal(recorder.pending[ACTION_KEY], np.zeros(7))
    recorder.close()


def test_every_saved_episode_is_complete_on_disk_before_close(tmp_path: Path) -> None:
    """Without finalize(), the files on disk already hold every saved episode (one data file per episode)."""
    import pyarrow.parquet as pq

    root = tmp_path / "demos"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS))
    for episode in range(3):
        _record(recorder, 2 + episode, success=True, offset=10 * episode)
    recorder.add_step(_frame(99), np.zeros(7))  # in progress, never saved
    data_files = sorted((root / "data").glob("*/*.parquet"))
    episode_files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    assert [pq.read_metadata(path).num_rows for path in data_files] == [2, 3, 4]  # footers are written
    assert [pq.read_metadata(path).num_rows for path in episode_files] == [1, 1, 1]
    info = json.loads((root / "meta" / "info.json").read_text())
    assert (info["total_episodes"], info["total_frames"]) == (3, 9)
    dataset = _load(root)  # loads while the recorder still runs
    assert dataset.num_frames == 9
    assert [float(dataset[i][STATE_KEY][0]) for i in range(9)] == [0, 1, 10, 11, 12, 20, 21, 22, 23]
    check_dataset(root)  # consistent while recording: nothing to repair
    assert recorder.rerecord()  # the episode in progress is dropped
    _record(recorder, 2, success=True, offset=40)  # recording goes on into new files
    recorder.close()
    assert _load(root).num_frames == 11
    assert not (root / STAGING_DIR).exists()  # LeRobot's working copy is gone with the session


def test_recover_dataset_drops_a_half_written_episode(tmp_path: Path) -> None:
    root = tmp_path / "demos"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS))
    for episode in range(3):
        _record(recorder, 3, success=True, offset=10 * episode)
    recorder.close()
    # as if the process died while writing episode 2: its data file has no footer, info.json already counts it
    data_files = sorted((root / "data").glob("*/*.parquet"))
    data_files[-1].write_bytes(data_files[-1].read_bytes()[:100])
    report = recover_dataset(root)
    assert report.changed
    assert (report.episodes, report.frames) == (2, 6)
    assert "data/chunk-000/file-002.parquet" in report.removed_files
    assert "meta/episodes/chunk-000/file-002.parquet" in report.removed_files  # its complete metadata row too
    dataset = _load(root)
    assert (dataset.num_episodes, dataset.num_frames) == (2, 6)
    stats_two = dataset.meta.stats[STATE_KEY]
    assert float(stats_two["max"][0]) == 12.0  # re-aggregated without episode 2 (states 20..22)
    assert int(stats_two["count"][0]) == 6
    assert not recover_dataset(root).changed  # idempotent


def test_recover_dataset_needs_info_json(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"info\.json"):
        recover_dataset(tmp_path)
