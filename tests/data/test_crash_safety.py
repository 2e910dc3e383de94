"""A recording process killed with SIGKILL loses at most the episode in progress.

Each test runs ``crash_recorder.py`` in a subprocess (synthetic frames through EpisodeRecorder), kills it
with SIGKILL, and loads what is on disk with LeRobot's own ``LeRobotDataset``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.data.recorder import DONE_KEY, INTERVENTION_KEY, REWARD_KEY, SUCCESS_KEY, recover_dataset
from robot_rl.policies.features import ACTION_KEY, ENVIRONMENT_STATE_KEY, STATE_KEY
from robot_rl.torch_env import prepare_torchvision
from tests.data.crash_recorder import STEPS, frame_value

SCRIPT = Path(__file__).with_name("crash_recorder.py")
REPO = Path(__file__).resolve().parents[2]
EPISODES = 3
TIMEOUT_S = 180


def _start(root: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, str(SCRIPT), str(root), str(EPISODES), mode]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)


def _load(root: Path) -> Any:
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("local/robot_rl", root=root)


def _check_episodes(root: Path) -> None:
    """The dataset holds exactly the EPISODES saved episodes, frame for frame, and its metadata agree."""
    dataset = _load(root)
    assert dataset.num_episodes == EPISODES
    assert dataset.num_frames == EPISODES * STEPS
    assert len(dataset.hf_dataset) == EPISODES * STEPS
    info = json.loads((root / "meta" / "info.json").read_text())
    assert (info["total_episodes"], info["total_frames"]) == (EPISODES, EPISODES * STEPS)
    assert len(dataset.meta.episodes) == EPISODES
    for episode in range(EPISODES):
        row = dataset.meta.episodes[episode]
        assert (row["episode_index"], row["length"]) == (episode, STEPS)
        assert (row["dataset_from_index"], row["dataset_to_index"]) == (episode * STEPS, (episode + 1) * STEPS)
        for step in range(STEPS):
            frame = dataset[episode * STEPS + step]
            value = frame_value(episode, step)
            assert int(frame["episode_index"]) == episode
            assert int(frame["frame_index"]) == step
            np.testing.assert_array_equal(frame[STATE_KEY].numpy(), np.full(9, value))
            np.testing.assert_array_equal(frame[ENVIRONMENT_STATE_KEY].numpy(), np.full(22, value))
            np.testing.assert_allclose(frame[ACTION_KEY].numpy(), np.full(7, value / 1000.0), rtol=1e-6)
            assert float(frame[REWARD_KEY]) == value
            assert bool(frame[INTERVENTION_KEY]) == (step % 2 == 1)
            assert bool(frame[DONE_KEY]) == bool(frame[SUCCESS_KEY]) == (step == STEPS - 1)
    state_stats = dataset.meta.stats[STATE_KEY]
    assert float(state_stats["max"][0]) == frame_value(EPISODES - 1, STEPS - 1)  # no trace of the lost episode
    assert int(state_stats["count"][0]) == EPISODES * STEPS


@pytest.mark.slow
def test_sigkill_mid_episode_keeps_every_saved_episode_loadable_as_is(tmp_path: Path) -> None:
    root = tmp_path / "demos"
    process = _start(root, "mid_episode")
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.strip())
            if line.strip() == "MID":
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        process.kill()  # no-op when already dead
        process.wait(timeout=TIMEOUT_S)
    assert lines == [*(f"SAVED {episode}" for episode in range(EPISODES)), "MID"]
    assert process.returncode == -signal.SIGKILL
    _check_episodes(root)  # no repair step: loads as-is
    assert not recover_dataset(root).changed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["in_save", "before_meta_close"])
def test_sigkill_while_saving_an_episode_loses_only_that_episode_after_recover(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "demos"
    process = _start(root, mode)
    output, _ = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == -signal.SIGKILL
    assert output.split() == [word for episode in range(EPISODES) for word in ("SAVED", str(episode))]
    report = recover_dataset(root)
    assert report.changed  # the half-written episode had to go
    assert (report.episodes, report.frames) == (EPISODES, EPISODES * STEPS)
    _check_episodes(root)
