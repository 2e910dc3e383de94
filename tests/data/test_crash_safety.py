"""A recording process killed with SIGKILL loses at most the episode in progress.

Each test runs ``crash_recorder.py`` in a subprocess (synthetic frames through EpisodeRecorder), kills it
with SIGKILL, and loads what is on disk with LeRobot's own ``LeRobotDataset``: as-is, and after
``recover_dataset`` (``robot-rl recover-dataset``).
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

from robot_rl.cli import main
from robot_rl.data.recorder import (
    DONE_KEY,
    INTERVENTION_KEY,
    REWARD_KEY,
    STAGING_DIR,
    SUCCESS_KEY,
    check_dataset,
    recover_dataset,
)
from robot_rl.errors import DatasetError
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


def _check_episodes(root: Path, episodes: int = EPISODES) -> None:
    """The dataset holds exactly ``episodes`` saved episodes, frame for frame, and its metadata agree."""
    dataset = _load(root)
    assert dataset.num_episodes == episodes
    assert dataset.num_frames == episodes * STEPS
    assert len(dataset.hf_dataset) == episodes * STEPS
    info = json.loads((root / "meta" / "info.json").read_text())
    assert (info["total_episodes"], info["total_frames"]) == (episodes, episodes * STEPS)
    assert len(dataset.meta.episodes) == episodes
    for episode in range(episodes):
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
    assert float(state_stats["max"][0]) == frame_value(episodes - 1, STEPS - 1)  # no trace of a lost episode
    assert int(state_stats["count"][0]) == episodes * STEPS


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
    check_dataset(root)
    report = recover_dataset(root)
    assert (report.removed_files, report.rewritten_files) == ((STAGING_DIR,), ())  # only LeRobot's working copy


def _kill_while_saving_episode_3(root: Path, mode: str) -> None:
    process = _start(root, mode)
    output, _ = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == -signal.SIGKILL
    assert output.split() == [word for episode in range(EPISODES) for word in ("SAVED", str(episode))]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "consistent", "recovered_episodes"),
    [
        ("in_save", True, EPISODES),  # LeRobot's own writes go to the staging copy: the dataset is untouched
        ("before_meta_close", True, EPISODES),
        ("rename_1", False, EPISODES),  # a data file of an uncounted episode: dropped
        ("rename_2", False, EPISODES + 1),  # the episode is complete but uncounted: taken in
        ("rename_3", False, EPISODES + 1),  # ... and stats.json already counts it
    ],
)
def test_sigkill_while_saving_an_episode_leaves_a_loadable_dataset(
    tmp_path: Path, mode: str, consistent: bool, recovered_episodes: int
) -> None:
    root = tmp_path / "demos"
    _kill_while_saving_episode_3(root, mode)
    dataset = _load(root)  # as-is: info.json, renamed last, still counts the saved episodes only
    assert (dataset.num_episodes, dataset.num_frames) == (EPISODES, EPISODES * STEPS)
    if consistent:
        _check_episodes(root)
        check_dataset(root)
    else:
        with pytest.raises(DatasetError, match=f"a recording was interrupted; run `robot-rl recover-dataset {root}`"):
            check_dataset(root)
    report = recover_dataset(root)
    assert STAGING_DIR in report.removed_files
    assert (report.episodes, report.frames) == (recovered_episodes, recovered_episodes * STEPS)
    _check_episodes(root, recovered_episodes)
    check_dataset(root)


@pytest.mark.slow
def test_recover_dataset_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demos"
    _kill_while_saving_episode_3(root, "rename_1")
    train = ["train-base", "--dataset", str(root), "--out", str(tmp_path / "act"), "--steps", "1"]
    assert main(train) == 1  # loading the dataset points to the command
    assert capsys.readouterr().err.strip().endswith(f"run `robot-rl recover-dataset {root}`")
    assert main(["recover-dataset", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "removed data/chunk-000/file-003.parquet",  # episode 3's data; its metadata never got in
        f"removed {STAGING_DIR}",
        "removed meta/episodes/chunk-000/file-003.parquet.tmp",  # staged for the renames that never came
        "removed meta/info.json.tmp",
        "removed meta/stats.json.tmp",
        f"{root}: recovered; {EPISODES} episodes, {EPISODES * STEPS} frames",
    ]
    assert main(["recover-dataset", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{root}: nothing to recover; {EPISODES} episodes, {EPISODES * STEPS} frames"
    ]
    assert main(["recover-dataset", str(tmp_path)]) == 1
    error = f"error: no LeRobot dataset at {tmp_path}: meta/info.json is missing"
    assert capsys.readouterr().err.splitlines() == [error]
