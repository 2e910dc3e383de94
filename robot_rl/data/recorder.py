"""Record episodes into a LeRobotDataset (the lerobot 0.4 format), one frame per control tick.

A frame pairs the observation of a tick (:class:`~robot_rl.policies.features.ObservationFrame`)
with the action that was executed from it (the safe command), plus ``next.reward`` (the reward
the step earned, which arrives after the step) and ``next.done``. Episodes are written when they
end; with ``success_only`` a failed episode is dropped. :meth:`EpisodeRecorder.close` must run
at the end (LeRobot writes the parquet footers then); the recorder node calls it on shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import DatasetError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import ACTION_KEY, ObservationFrame, dataset_features
from robot_rl.torch_env import prepare_torchvision

REWARD_KEY = "next.reward"
DONE_KEY = "next.done"


@dataclass(frozen=True)
class RecorderConfig:
    """Where and what to record."""

    root: Path  # dataset directory; must not exist yet (or be empty)
    task: str  # task description stored with every frame (LeRobot's "task")
    num_slots: int  # K, slots per observation (must match perception's num_slots)
    fps: int = 20  # control rate of the recorded graph, Hz
    slot_size: int = len(SLOT_FIELDS)  # values per slot (SLOT_FIELDS + embedding)
    image_shape_hw: tuple[int, int] | None = None  # record the colour image at this size; None = state only
    success_only: bool = True  # keep only episodes that ended in success
    repo_id: str = "local/robot_rl"  # LeRobot repo id written to the metadata (nothing is pushed)
    robot_type: str = "panda"  # LeRobot robot_type metadata
    extra_features: dict[str, dict[str, Any]] = field(default_factory=dict)  # more per-frame features

    def __post_init__(self) -> None:
        if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
            raise DatasetError(f"dataset directory {self.root} already exists and is not empty")
        if self.num_slots < 1 or self.fps < 1 or self.slot_size < len(SLOT_FIELDS):
            raise DatasetError("RecorderConfig needs num_slots >= 1, fps >= 1 and slot_size >= len(SLOT_FIELDS)")
        if not self.task:
            raise DatasetError("RecorderConfig.task must name the task")


class EpisodeRecorder:
    """Collect frames of the running episode and write finished episodes to a LeRobotDataset."""

    def __init__(self, config: RecorderConfig) -> None:
        self.config = config
        features = dataset_features(config.num_slots, config.slot_size, config.image_shape_hw)
        features[REWARD_KEY] = {"dtype": "float32", "shape": (1,), "names": None}
        features[DONE_KEY] = {"dtype": "bool", "shape": (1,), "names": None}
        features.update(config.extra_features)
        self.features = features
        self._dataset: Any = None  # created with the first frame, so a graph that never runs leaves no files
        self.pending: dict[str, Any] | None = None  # the newest frame, waiting for its reward
        self.frames_in_episode = 0
        self.saved_episodes = 0
        self.discarded_episodes = 0
        self.closed = False

    @property
    def dataset(self) -> Any:
        """The LeRobotDataset being written (created on first use)."""
        if self._dataset is None:
            prepare_torchvision()
            import datasets
            from lerobot.datasets.lerobot_dataset import LeRobotDataset

            datasets.disable_progress_bars()  # one bar per saved episode would bury the collection progress

            # metadata_buffer_size=1: episode metadata reaches the disk with its episode, not ten episodes later
            self._dataset = LeRobotDataset.create(
                repo_id=self.config.repo_id,
                fps=self.config.fps,
                features=self.features,
                root=self.config.root,
                robot_type=self.config.robot_type,
                use_videos=False,
                metadata_buffer_size=1,
            )
        return self._dataset

    def add_step(self, observation: ObservationFrame, action: np.ndarray, **extra: np.ndarray) -> None:
        """Add the observation of a tick and the action executed from it."""
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (ACTION_DIM,):
            raise DatasetError(f"recorded action must have shape ({ACTION_DIM},), got {action.shape}")
        self._flush_pending(done=False)
        frame: dict[str, Any] = {**observation.features(), ACTION_KEY: action, **extra}
        frame[REWARD_KEY] = np.zeros(1, dtype=np.float32)
        self.pending = frame

    def replace_last_action(self, action: np.ndarray) -> None:
        """Replace the action of the newest frame (a later command for the same observation superseded it)."""
        if self.pending is not None:
            self.pending[ACTION_KEY] = np.asarray(action, dtype=np.float32)

    def add_reward(self, reward: float) -> None:
        """Attach the reward of the last step (it arrives after the step, with the next observation)."""
        if self.pending is not None:
            self.pending[REWARD_KEY] = np.array([reward], dtype=np.float32)

    def end_episode(self, success: bool) -> bool:
        """Close the running episode; returns True if it was written to the dataset."""
        self._flush_pending(done=True)
        if self.frames_in_episode == 0:
            return False
        keep = success or not self.config.success_only
        if keep:
            self.dataset.save_episode()
            self.saved_episodes += 1
        else:
            self.dataset.clear_episode_buffer()
            self.discarded_episodes += 1
        self.frames_in_episode = 0
        return keep

    def abort_episode(self) -> None:
        """Drop the running episode without writing it (e.g. a new episode started before this one ended)."""
        self.pending = None
        if self.frames_in_episode:
            self.dataset.clear_episode_buffer()
        self.frames_in_episode = 0

    def close(self) -> None:
        """Drop an unfinished episode and finalize the dataset files (idempotent)."""
        if self.closed:
            return
        self.abort_episode()
        if self._dataset is not None:
            self._dataset.finalize()
        self.closed = True

    def _flush_pending(self, done: bool) -> None:
        if self.pending is None:
            return
        frame, self.pending = self.pending, None
        frame[DONE_KEY] = np.array([done])
        frame["task"] = self.config.task
        self.dataset.add_frame(frame)
        self.frames_in_episode += 1
