"""Record episodes into a LeRobotDataset (the lerobot 0.4 format), one frame per control tick.

A frame pairs the observation of a tick (:class:`~robot_rl.policies.features.ObservationFrame`)
with the action that was executed from it (the safe command) and the labels of a teleop-correction
transition (LeRobot HIL-SERL's ``complementary_info.*`` and ``next.*`` keys):

- ``complementary_info.base_action`` (7,): the base policy's action for this tick (zeros if none came);
- ``complementary_info.residual`` (7,): ``policy_action - base_action`` (zeros unless both came);
- ``complementary_info.intervention`` (1,) bool: a human drove this tick;
- ``complementary_info.safety_clipped`` (1,) bool: the executed action differs from the requested
  command by more than :data:`SAFETY_CLIP_TOLERANCE` on an axis, or no command was requested (a hold);
- ``next.reward`` (1,): the reward the step earned (it arrives after the step);
- ``next.done``, ``next.success``, ``next.truncated`` (1,) bool: set on the last frame of an episode
  (done always; success when it ended in success; truncated when it timed out).

Episodes end through the event methods (:meth:`EpisodeRecorder.success`, :meth:`~EpisodeRecorder.failure`,
:meth:`~EpisodeRecorder.timeout`, :meth:`~EpisodeRecorder.rerecord`, :meth:`~EpisodeRecorder.stop`) or
:meth:`EpisodeRecorder.handle_event` for a parsed ``/robot_rl/episode`` event; with ``success_only``
a failed episode is dropped.

Crash safety: after every saved episode the recorder closes LeRobot's parquet writers (data and
``meta/episodes``), so every file on disk is complete and ``meta/info.json`` / ``meta/stats.json``
match them; LeRobot opens new files for the next episode. A process killed mid-episode (SIGKILL
included) loses only the episode in progress, and the dataset loads as-is with ``LeRobotDataset``.
A kill during the few milliseconds of :meth:`~EpisodeRecorder.end_episode` that write an episode
can leave that episode half-written: :func:`recover_dataset` removes it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, ACTION_NAMES
from robot_rl.errors import DatasetError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import ACTION_KEY, ObservationFrame, dataset_features
from robot_rl.torch_env import prepare_torchvision

REWARD_KEY = "next.reward"
DONE_KEY = "next.done"
SUCCESS_KEY = "next.success"
TRUNCATED_KEY = "next.truncated"
BASE_ACTION_KEY = "complementary_info.base_action"
RESIDUAL_KEY = "complementary_info.residual"
INTERVENTION_KEY = "complementary_info.intervention"
SAFETY_CLIPPED_KEY = "complementary_info.safety_clipped"
SAFETY_CLIP_TOLERANCE = 1e-9  # executed vs requested action, per axis, normalized units

EPISODE_EVENTS = ("start", "success", "failure", "timeout", "rerecord", "stop")  # what handle_event acts on


def transition_features() -> dict[str, dict[str, Any]]:
    """The LeRobot features the recorder adds to the observation and action features."""
    flag: dict[str, Any] = {"dtype": "bool", "shape": (1,), "names": None}
    return {
        REWARD_KEY: {"dtype": "float32", "shape": (1,), "names": None},
        DONE_KEY: dict(flag),
        SUCCESS_KEY: dict(flag),
        TRUNCATED_KEY: dict(flag),
        BASE_ACTION_KEY: {"dtype": "float32", "shape": (ACTION_DIM,), "names": list(ACTION_NAMES)},
        RESIDUAL_KEY: {"dtype": "float32", "shape": (ACTION_DIM,), "names": list(ACTION_NAMES)},
        INTERVENTION_KEY: dict(flag),
        SAFETY_CLIPPED_KEY: dict(flag),
    }


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


@dataclass(frozen=True)
class StepInfo:
    """What the graph did on one tick besides the executed action (all optional)."""

    requested_action: np.ndarray | None = None  # (7,) the command asked of the safety gate this tick; None = none
    base_action: np.ndarray | None = None  # (7,) the base policy's action for this tick; None = none came
    policy_action: np.ndarray | None = None  # (7,) base + residual from the residual policy; None = none came
    intervention: bool = False  # a human drove this tick

    def merged_into(self, earlier: StepInfo) -> StepInfo:
        """This tick's info where given, ``earlier``'s (same observation) where this one has none."""
        return StepInfo(
            requested_action=_first_given(self.requested_action, earlier.requested_action),
            base_action=_first_given(self.base_action, earlier.base_action),
            policy_action=_first_given(self.policy_action, earlier.policy_action),
            intervention=self.intervention,
        )


def _first_given(value: np.ndarray | None, fallback: np.ndarray | None) -> np.ndarray | None:
    return value if value is not None else fallback


def _action_vector(value: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (ACTION_DIM,):
        raise DatasetError(f"{what} must have shape ({ACTION_DIM},), got {array.shape}")
    return array


def step_labels(action: np.ndarray, info: StepInfo) -> dict[str, np.ndarray]:
    """The ``complementary_info.*`` values of a frame whose executed action is ``action``.

    ``residual`` is ``policy_action - base_action`` when both came this tick, else zeros. ``safety_clipped`` is
    True when no command was requested (the safety gate held) or the executed action differs from the request
    by more than :data:`SAFETY_CLIP_TOLERANCE` on any axis (including a NaN request).
    """
    executed = _action_vector(action, "executed action")
    base = None if info.base_action is None else _action_vector(info.base_action, "base action")
    policy = None if info.policy_action is None else _action_vector(info.policy_action, "policy action")
    residual = policy - base if base is not None and policy is not None else np.zeros(ACTION_DIM)
    if info.requested_action is None:
        clipped = True
    else:
        requested = _action_vector(info.requested_action, "requested action")
        clipped = not bool(np.all(np.abs(executed - requested) <= SAFETY_CLIP_TOLERANCE))
    return {
        BASE_ACTION_KEY: (base if base is not None else np.zeros(ACTION_DIM)).astype(np.float32),
        RESIDUAL_KEY: residual.astype(np.float32),
        INTERVENTION_KEY: np.array([bool(info.intervention)]),
        SAFETY_CLIPPED_KEY: np.array([clipped]),
    }


@dataclass(frozen=True)
class EventOutcome:
    """What :meth:`EpisodeRecorder.handle_event` did with one episode event."""

    event: str  # the event name
    ended: bool = False  # an episode in progress ended (success, failure or timeout)
    saved: bool = False  # ... and was written to the dataset
    success: bool = False  # ... and ended in success
    dropped: bool = False  # an episode in progress was dropped unwritten (start, rerecord, stop)
    stop: bool = False  # the session is over: the dataset is finalized, the node should shut down
    ignored: bool = False  # nothing to do (no episode in progress, or an event the recorder does not act on)


class EpisodeRecorder:
    """Collect frames of the running episode and write finished episodes to a LeRobotDataset."""

    def __init__(self, config: RecorderConfig) -> None:
        self.config = config
        features = dataset_features(config.num_slots, config.slot_size, config.image_shape_hw)
        features.update(transition_features())
        features.update(config.extra_features)
        self.features = features
        self._dataset: Any = None  # created with the first frame, so a graph that never runs leaves no files
        self.pending: dict[str, Any] | None = None  # the newest frame, waiting for its reward
        self.pending_info: StepInfo | None = None  # the StepInfo of the pending frame
        self.recording = False  # an episode is in progress (start_episode or the first add_step)
        self.frames_in_episode = 0
        self.saved_episodes = 0
        self.discarded_episodes = 0
        self.closed = False

    @property
    def dataset(self) -> Any:
        """The LeRobotDataset being written (created on first use)."""
        if self._dataset is None:
            if self.closed:
                raise DatasetError("the recorder is closed")
            prepare_torchvision()
            import datasets
            from lerobot.datasets.lerobot_dataset import LeRobotDataset

            datasets.disable_progress_bars()  # one bar per saved episode would bury the collection progress

            # metadata_buffer_size=1: episode metadata reaches the disk with its episode, not ten episodes later
            dataset = LeRobotDataset.create(
                repo_id=self.config.repo_id,
                fps=self.config.fps,
                features=self.features,
                root=self.config.root,
                robot_type=self.config.robot_type,
                use_videos=False,
                metadata_buffer_size=1,
            )
            _check_lerobot_writer_internals(dataset)
            self._dataset = dataset
        return self._dataset

    # -- frames ----------------------------------------------------------------------

    def add_step(self, observation: ObservationFrame, action: np.ndarray, info: StepInfo | None = None) -> None:
        """Add the observation of a tick, the action executed from it and what else happened on the tick.

        Without ``info`` the frame has no base action, no residual, no intervention and counts as clipped
        (no command was requested). The first step after an ended episode starts a new one.
        """
        if self.closed:
            raise DatasetError("the recorder is closed")
        executed = np.asarray(action, dtype=np.float64)  # compared with the request at full precision
        if executed.shape != (ACTION_DIM,):
            raise DatasetError(f"recorded action must have shape ({ACTION_DIM},), got {executed.shape}")
        info = info or StepInfo()
        labels = step_labels(executed, info)
        self._flush_pending(done=False)
        self.recording = True
        frame: dict[str, Any] = {**observation.features(), ACTION_KEY: executed.astype(np.float32), **labels}
        frame[REWARD_KEY] = np.zeros(1, dtype=np.float32)
        self.pending, self.pending_info = frame, info

    def replace_last_action(self, action: np.ndarray, info: StepInfo | None = None) -> None:
        """Replace the action of the newest frame (a later command for the same observation superseded it).

        ``info`` is merged into the frame's: what it lacks (e.g. no new base action) stays as it was.
        """
        if self.pending is None:
            return
        executed = np.asarray(action, dtype=np.float64)
        merged = (info or StepInfo()).merged_into(self.pending_info or StepInfo())
        labels = step_labels(executed, merged)
        self.pending[ACTION_KEY] = executed.astype(np.float32)
        self.pending.update(labels)
        self.pending_info = merged

    def add_reward(self, reward: float) -> None:
        """Attach the reward of the last step (it arrives after the step, with the next observation)."""
        if self.pending is not None:
            self.pending[REWARD_KEY] = np.array([reward], dtype=np.float32)

    # -- episode events --------------------------------------------------------------

    def start_episode(self) -> bool:
        """Begin an episode; one still in progress is dropped (it never ended). Returns True if one was dropped."""
        dropped = self.abort_episode()
        self.recording = True
        return dropped

    def end_episode(self, success: bool, truncated: bool = False) -> bool:
        """Close the running episode; returns True if it was written to the dataset.

        The last frame gets ``next.done``; ``next.success`` = ``success`` and ``next.truncated`` = ``truncated``.
        """
        self.recording = False
        self._flush_pending(done=True, success=success, truncated=truncated)
        if self.frames_in_episode == 0:
            return False
        keep = success or not self.config.success_only
        if keep:
            self.dataset.save_episode()
            _close_lerobot_writers(self.dataset)
            self.saved_episodes += 1
        else:
            self.dataset.clear_episode_buffer()
            self.discarded_episodes += 1
        self.frames_in_episode = 0
        return keep

    def success(self) -> bool:
        """The episode succeeded (sim or human): end it; returns True if it was saved."""
        return self.end_episode(success=True)

    def failure(self) -> bool:
        """The episode failed (a human said so): end it; saved only without ``success_only``."""
        return self.end_episode(success=False)

    def timeout(self) -> bool:
        """The episode ran out of time: end it as truncated; saved only without ``success_only``."""
        return self.end_episode(success=False, truncated=True)

    def rerecord(self) -> bool:
        """Drop the episode in progress unwritten (the operator will redo it); True if one was dropped.

        Nothing is recorded until the next :meth:`start_episode`.
        """
        return self.abort_episode()

    def stop(self) -> bool:
        """End the session: drop the episode in progress and finalize the dataset; True if one was dropped."""
        dropped = self.abort_episode()
        self.close()
        return dropped

    def handle_event(self, payload: dict[str, Any]) -> EventOutcome:
        """Act on a parsed ``/robot_rl/episode`` event (see :func:`robot_rl.episode_events.parse_episode_event`).

        ``start`` begins an episode; ``success``, ``failure`` and ``timeout`` end the running one (ignored when
        none runs); ``rerecord`` drops it; ``stop`` drops it and finalizes the dataset. Other events are ignored.
        """
        kind = str(payload.get("event"))
        if kind == "stop":
            return EventOutcome(kind, dropped=self.stop(), stop=True)
        if self.closed or kind not in EPISODE_EVENTS:
            return EventOutcome(kind, ignored=True)
        if kind == "start":
            return EventOutcome(kind, dropped=self.start_episode())
        if kind == "rerecord":
            return EventOutcome(kind, dropped=self.rerecord())
        if not self.recording:
            return EventOutcome(kind, ignored=True)
        success = kind == "success"
        saved = self.timeout() if kind == "timeout" else self.end_episode(success=success)
        return EventOutcome(kind, ended=True, saved=saved, success=success)

    def abort_episode(self) -> bool:
        """Drop the running episode without writing it; True if it had frames."""
        had_frames = self.frames_in_episode > 0 or self.pending is not None
        self.recording = False
        self.pending = self.pending_info = None
        if self.frames_in_episode:
            self.dataset.clear_episode_buffer()
        self.discarded_episodes += int(had_frames)
        self.frames_in_episode = 0
        return had_frames

    def close(self) -> None:
        """Drop an unfinished episode and finalize the dataset files (idempotent)."""
        if self.closed:
            return
        self.abort_episode()
        if self._dataset is not None:
            self._dataset.finalize()
        self.closed = True

    def _flush_pending(self, done: bool, success: bool = False, truncated: bool = False) -> None:
        if self.pending is None:
            return
        frame, self.pending, self.pending_info = self.pending, None, None
        frame[DONE_KEY] = np.array([done])
        frame[SUCCESS_KEY] = np.array([done and success])
        frame[TRUNCATED_KEY] = np.array([done and truncated])
        frame["task"] = self.config.task
        self.dataset.add_frame(frame)
        self.frames_in_episode += 1


# -- crash safety -------------------------------------------------------------------------

_WRITER_INTERNALS = ("_close_writer", "_writer_closed_for_reading", "meta")
_META_INTERNALS = ("_close_writer", "latest_episode", "chunks_size")


def _check_lerobot_writer_internals(dataset: Any) -> None:
    """Fail early if this LeRobot lacks the writer internals that :func:`_close_lerobot_writers` relies on."""
    missing = [name for name in _WRITER_INTERNALS if not hasattr(dataset, name)]
    missing += [f"meta.{name}" for name in _META_INTERNALS if not hasattr(dataset.meta, name)]
    if missing:
        raise DatasetError(
            f"this lerobot version lacks {', '.join(missing)}: the recorder's crash safety is written for lerobot 0.4.4"
        )


def _close_lerobot_writers(dataset: Any) -> None:
    """Make every file of the saved episodes complete on disk; LeRobot starts new files for the next episode.

    LeRobot 0.4.4 keeps one pyarrow ParquetWriter open for ``data/`` and one for ``meta/episodes/`` across
    episodes and writes their footers only in ``finalize()``, so a killed process leaves unreadable files.
    Closing the data writer with ``_writer_closed_for_reading`` set is LeRobot's own path (it does this before
    reading back): the next episode goes to the next file. The episodes writer has no such flag, so the latest
    episode's ``meta/episodes`` file index is advanced by hand, the way LeRobot does it when a file is full;
    otherwise the next flush would reopen, and truncate, the file just closed.
    """
    from lerobot.datasets.utils import update_chunk_file_indices

    dataset._close_writer()
    dataset._writer_closed_for_reading = True
    meta = dataset.meta
    meta._close_writer()  # flushes the metadata buffer first
    latest = meta.latest_episode
    if latest is not None:
        chunk, file = update_chunk_file_indices(
            int(latest["meta/episodes/chunk_index"][0]), int(latest["meta/episodes/file_index"][0]), meta.chunks_size
        )
        latest["meta/episodes/chunk_index"] = [chunk]
        latest["meta/episodes/file_index"] = [file]


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover_dataset` found and changed."""

    episodes: int  # complete episodes in the dataset now
    frames: int  # their frames
    removed_files: tuple[str, ...]  # incomplete or orphaned files deleted (paths relative to the root)
    rewritten_files: tuple[str, ...]  # files rewritten to match the complete episodes (relative paths)

    @property
    def changed(self) -> bool:
        """Whether anything on disk was changed."""
        return bool(self.removed_files or self.rewritten_files)


def recover_dataset(root: Path) -> RecoveryReport:
    """Make a dataset whose recording process died consistent again, keeping every complete episode.

    Needed only when the process died while an episode was being written (inside
    :meth:`EpisodeRecorder.end_episode`); a dataset killed at any other time loads as-is and this is a no-op.
    It deletes parquet files without a footer (half-written) and episodes that are not complete in both
    ``data/`` and ``meta/episodes/`` (an episode counts only if every episode before it is complete too),
    LeRobot's temporary images of the unfinished episode, and rewrites ``meta/info.json`` totals and
    ``meta/stats.json`` (aggregated from the kept episodes' own stats) when they disagree with the files.

    Raises:
        DatasetError: If ``root`` has no readable ``meta/info.json``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    info_path = root / "meta" / "info.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{info_path}: not a readable LeRobot info.json ({error})") from None
    removed: list[str] = []
    rewritten: list[str] = []

    def complete_files(folder: Path) -> list[Path]:
        files = []
        for path in sorted(folder.glob("*/*.parquet")):
            try:
                pq.read_metadata(path)
                files.append(path)
            except (pa.ArrowException, OSError):  # no readable footer: written when the process died
                path.unlink()
                removed.append(str(path.relative_to(root)))
        return files

    data_files = complete_files(root / "data")
    episode_files = complete_files(root / "meta" / "episodes")
    # frames per (episode, data file) and the metadata row of each episode
    data_counts: dict[tuple[int, Path], int] = {}
    for path in data_files:
        indices, counts = np.unique(pq.read_table(path, columns=["episode_index"])["episode_index"], return_counts=True)
        data_counts.update({(int(e), path): int(c) for e, c in zip(indices, counts, strict=True)})
    rows: dict[int, dict[str, Any]] = {}
    for path in episode_files:
        for row in pq.read_table(path).to_pylist():
            rows[int(row["episode_index"])] = {**row, "_file": path}
    kept = 0
    while kept in rows:
        row = rows[kept]
        data_path = root / info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        if data_counts.get((kept, data_path)) != row["length"]:
            break
        kept += 1
    keep_rows = [rows[e] for e in range(kept)]

    def drop_rows(paths: list[Path]) -> None:
        for path in paths:
            table = pq.read_table(path)
            episode = np.asarray(table["episode_index"])
            if (episode < kept).all():
                continue
            relative = str(path.relative_to(root))
            if not (episode < kept).any():
                path.unlink()
                removed.append(relative)
                continue
            temporary = path.with_suffix(".parquet.tmp")
            pq.write_table(table.filter(episode < kept), temporary)
            os.replace(temporary, path)
            rewritten.append(relative)

    drop_rows(data_files)
    drop_rows(episode_files)
    images = root / "images"
    if images.is_dir():
        shutil.rmtree(images)
        removed.append("images")

    frames = sum(int(row["length"]) for row in keep_rows)
    tasks_path = root / "meta" / "tasks.parquet"
    total_tasks = pq.read_metadata(tasks_path).num_rows if tasks_path.exists() else 0
    totals = {
        "total_episodes": kept,
        "total_frames": frames,
        "total_tasks": total_tasks,
        "splits": {"train": f"0:{kept}"},
    }
    if any(info.get(key) != value for key, value in totals.items()) or removed or rewritten:
        info.update(totals)
        _write_json_atomic(info_path, info)
        rewritten.append("meta/info.json")
        if keep_rows:
            _write_json_atomic(root / "meta" / "stats.json", _aggregate_episode_stats(keep_rows))
            rewritten.append("meta/stats.json")
        else:
            (root / "meta" / "stats.json").unlink(missing_ok=True)
    return RecoveryReport(kept, frames, tuple(removed), tuple(dict.fromkeys(rewritten)))


def _aggregate_episode_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset stats aggregated, as LeRobot does, from the per-episode ``stats/<feature>/<stat>`` columns."""
    from lerobot.datasets.compute_stats import aggregate_stats
    from lerobot.datasets.utils import serialize_dict

    per_episode = []
    for row in rows:
        stats: dict[str, dict[str, np.ndarray]] = {}
        for column, value in row.items():
            if column.startswith("stats/") and value is not None:
                _, feature, stat = column.split("/", 2)
                stats.setdefault(feature, {})[stat] = np.asarray(value)
        per_episode.append(stats)
    return serialize_dict(aggregate_stats(per_episode))


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=4, ensure_ascii=False))
    os.replace(temporary, path)
