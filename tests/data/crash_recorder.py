"""Helper process of test_crash_safety.py: record synthetic episodes, then die by SIGKILL.

Usage: ``python crash_recorder.py ROOT EPISODES MODE`` with MODE one of

- ``mid_episode``: save EPISODES episodes, start one more, add frames, print ``MID`` and wait to be killed
  by the test (``os.kill(pid, SIGKILL)``);
- ``in_save``: save EPISODES episodes, then SIGKILL itself inside LeRobot's ``save_episode`` of the next
  one (after the staged info.json counts it, before its files are complete);
- ``before_meta_close``: the same, but after the next episode's data file is complete and before its
  ``meta/episodes`` file is;
- ``rename_N``: the same, but after the N-th rename that publishes the next episode into the dataset
  (1: its data file, 2: its ``meta/episodes`` file, 3: ``meta/stats.json``; the 4th, info.json, commits it).

Frame values encode where they come from: every float of frame ``s`` of episode ``e`` is ``100 e + s``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.recorder import STAGING_DIR, EpisodeRecorder, RecorderConfig, StepInfo
from robot_rl.policies.features import ObservationFrame

NUM_SLOTS = 2
STEPS = 5  # frames per episode


def frame_value(episode: int, step: int) -> float:
    """The value every float of one frame holds."""
    return 100.0 * episode + step


def record_episode(recorder: EpisodeRecorder, episode: int, steps: int = STEPS) -> None:
    """Add ``steps`` synthetic frames of ``episode`` (not ended)."""
    recorder.start_episode()
    for step in range(steps):
        value = frame_value(episode, step)
        observation = ObservationFrame(
            stamp_s=0.05 * step,
            state=np.full(9, value, dtype=np.float32),
            environment_state=np.full(NUM_SLOTS * 11, value, dtype=np.float32),
            image=None,
        )
        action = np.full(7, value / 1000.0)
        info = StepInfo(requested_action=action, base_action=action, intervention=step % 2 == 1)
        recorder.add_step(observation, action, info)
        recorder.add_reward(value)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _die_after_renames(root: Path, renames: int) -> None:
    """SIGKILL right after the ``renames``-th ``os.replace`` into the dataset (not into LeRobot's staging copy)."""
    replace = os.replace
    done: list[str] = []

    def replace_then_maybe_die(source: Any, target: Any) -> None:
        replace(source, target)
        relative = Path(target).resolve().relative_to(root.resolve())
        if STAGING_DIR not in relative.parts:
            done.append(str(relative))
            if len(done) == renames:
                _die()

    os.replace = replace_then_maybe_die  # type: ignore[assignment]


def main(root: Path, episodes: int, mode: str) -> None:
    """Record, report each saved episode on stdout, then die as ``mode`` says."""
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS))
    for episode in range(episodes):
        record_episode(recorder, episode)
        assert recorder.success()
        print(f"SAVED {episode}", flush=True)
    record_episode(recorder, episodes)
    if mode == "mid_episode":
        print("MID", flush=True)
        time.sleep(600)  # the test kills us here
    elif mode == "in_save":
        import lerobot.datasets.lerobot_dataset as lerobot_dataset

        lerobot_dataset.write_stats = lambda *args, **kwargs: _die()  # runs right after info.json is written
    elif mode == "before_meta_close":
        meta: Any = recorder.dataset.meta
        meta._close_writer = _die
    elif mode.startswith("rename_"):
        _die_after_renames(root, int(mode.removeprefix("rename_")))
    else:
        raise SystemExit(f"unknown mode {mode}")
    recorder.success()
    raise SystemExit("still alive after the kill point")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
