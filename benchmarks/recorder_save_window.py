"""Measure the recorder's inconsistent window: how long a saved episode's publication into the dataset takes.

    .venv/bin/python benchmarks/recorder_save_window.py [--episodes 30] [--frames 100] [--slots 6]

LeRobot writes each episode into the recorder's staging copy (``ROOT/.recording``); ``EpisodeRecorder``
then renames the finished files into the dataset, ``meta/info.json`` last. Only between the first and
the last of those renames can a SIGKILL leave files that ``meta/info.json`` does not account for (the
dataset still loads; ``robot-rl recover-dataset`` tidies it). The script records synthetic episodes,
times every rename into the dataset, and prints a Markdown line with the window per episode (first to
last rename) and the whole ``end_episode`` call, median and maximum.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.recorder import STAGING_DIR, EpisodeRecorder, RecorderConfig, StepInfo
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import ObservationFrame


def measure(episodes: int, frames: int, num_slots: int) -> tuple[list[float], list[float]]:
    """Return (rename window, end_episode duration) per saved episode, seconds; the first episode is left out."""
    root = Path(tempfile.mkdtemp()) / "dataset"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=num_slots))
    renames: list[float] = []
    replace = os.replace

    def timed_replace(source: Any, target: Any) -> None:
        replace(source, target)
        if STAGING_DIR not in Path(target).relative_to(root).parts:
            renames.append(time.perf_counter())

    os.replace = timed_replace  # type: ignore[assignment]
    windows, durations = [], []
    try:
        for episode in range(episodes):
            recorder.start_episode()
            for step in range(frames):
                value = float(episode * frames + step)
                observation = ObservationFrame(
                    stamp_s=0.05 * step,
                    state=np.full(9, value, dtype=np.float32),
                    environment_state=np.full(num_slots * len(SLOT_FIELDS), value, dtype=np.float32),
                    image=None,
                )
                action = np.full(7, 0.01)
                recorder.add_step(observation, action, StepInfo(requested_action=action, base_action=action))
                recorder.add_reward(1.0)
            renames.clear()
            start = time.perf_counter()
            recorder.success()
            durations.append(time.perf_counter() - start)
            windows.append(renames[-1] - renames[0])
    finally:
        os.replace = replace
        recorder.close()
    return windows[1:], durations[1:]  # episode 0 also creates tasks.parquet and the directories


def main() -> None:
    """Run the measurement and print one Markdown line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--slots", type=int, default=6)
    args = parser.parse_args()
    windows, durations = measure(args.episodes, args.frames, args.slots)
    window_ms, duration_ms = 1e3 * np.array(windows), 1e3 * np.array(durations)
    print(
        f"- {date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores:"
        f" {len(windows)} episodes x {args.frames} frames, {args.slots} slots: first-to-last rename"
        f" median {np.median(window_ms):.3f} ms, max {window_ms.max():.3f} ms; end_episode median"
        f" {np.median(duration_ms):.0f} ms, max {duration_ms.max():.0f} ms"
    )


if __name__ == "__main__":
    main()
