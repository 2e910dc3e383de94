"""Record episodes into a LeRobotDataset (the lerobot 0.4 format), one frame per control tick.

A frame pairs the observation of a tick (:class:`~robot_rl.policies.features.ObservationFrame`)
with the action that was executed from it (the safe command) and the labels of a teleop-correction
transition (LeRobot HIL-SERL's ``complementary_info.*`` and ``next.*`` keys):

- ``complementary_info.base_action`` (7,): the base policy's action for this tick (zeros if none came);
- ``complementary_info.residual`` (7,): ``policy_action - base_action`` (zeros unless both came);
- ``complementary_info.intervention`` (1,) bool: a human drove this tick;
- ``complementary_info.safety_clipped`` (1,) bool: the executed action differs from the requested
  command by more than :data:`SAFETY_CLIP_TOLERANCE` on an axis, or no command was requested (a hold);
- ``next.reward`` (1,): the reward the step earned (it arrives after the step; 0 where nobody scored it, as on
  a robot, where no reward is published); the last step of a success earns at least
  :data:`~robot_rl.episode_events.SUCCESS_REWARD` (a person's success key comes after the sim scored the
  judged step without seeing a success);
- ``next.done``, ``next.success``, ``next.truncated`` (1,) bool: set on the last frame of an episode
  (done always; success when it ended in success; truncated when it timed out).

Episodes end through the event methods (:meth:`EpisodeRecorder.success`, :meth:`~EpisodeRecorder.failure`,
:meth:`~EpisodeRecorder.timeout`, :meth:`~EpisodeRecorder.rerecord`, :meth:`~EpisodeRecorder.stop`) or
:meth:`EpisodeRecorder.handle_event` for a parsed ``/robot_rl/episode`` event; with ``success_only``
a failed episode is dropped.

Crash safety: LeRobot writes into a staging copy of the dataset (``ROOT/.recording``). After every saved
episode the recorder closes LeRobot's parquet writers (data and ``meta/episodes``), so the episode's files
are complete, and moves them into the dataset by renames, ``meta/info.json`` last (:func:`_publish`).
LeRobot reads a dataset through info.json's totals, so a process killed at any moment (SIGKILL included)
leaves the dataset loadable as-is with ``LeRobotDataset``, losing only the episode in progress. A kill
between two of those renames (a window of about a millisecond per episode) can leave files of an episode
that info.json does not count yet, or stats that already count it: :func:`check_dataset` says so and
:func:`recover_dataset` (``robot-rl recover-dataset DIR``) makes it consistent, keeping every complete episode.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, ACTION_NAMES
from robot_rl.episode_events import SUCCESS_REWARD
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
STAGING_DIR = ".recording"  # LeRobot writes here while recording; finished files are renamed into the dataset
INFO_FILE = Path("meta/info.json")
STATS_FILE = Path("meta/stats.json")
TASKS_FILE = Path("meta/tasks.parquet")


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
        self.staging = config.root / STAGING_DIR  # LeRobot's root: what it writes is published to config.root
        self._dataset: Any = None  # created with the first frame, so a graph that never runs leaves no files
        self.pending: dict[str, Any] | None = None  # the newest frame, waiting for its reward (REWARD_KEY once it came)
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
                root=self.staging,
                robot_type=self.config.robot_type,
                use_videos=False,
                metadata_buffer_size=1,
            )
            _check_lerobot_writer_internals(dataset)
            _publish(self.staging, self.config.root, [], [INFO_FILE])  # the empty dataset, as LeRobot writes it
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
            written = _close_lerobot_writers(self.dataset)
            _publish(self.staging, self.config.root, written, [TASKS_FILE, STATS_FILE, INFO_FILE])
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
            self._dataset.finalize()  # nothing left to write: every saved episode is published
            shutil.rmtree(self.staging)
        self.closed = True

    def _flush_pending(self, done: bool, success: bool = False, truncated: bool = False) -> None:
        if self.pending is None:
            return
        frame, self.pending, self.pending_info = self.pending, None, None
        # a frame nobody scored (a robot publishes no reward): 0; a success's last frame earns at least the success
        # reward (a person's key comes after the sim scored the judged tick without seeing a success)
        scored = float(frame[REWARD_KEY][0]) if REWARD_KEY in frame else 0.0
        reward = max(scored, SUCCESS_REWARD) if done and success else scored
        frame[REWARD_KEY] = np.array([reward], dtype=np.float32)
        frame[DONE_KEY] = np.array([done])
        frame[SUCCESS_KEY] = np.array([done and success])
        frame[TRUNCATED_KEY] = np.array([done and truncated])
        frame["task"] = self.config.task
        self.dataset.add_frame(frame)
        self.frames_in_episode += 1


# -- crash safety -------------------------------------------------------------------------

_WRITER_INTERNALS = ("_close_writer", "_writer_closed_for_reading", "meta", "writer")
_META_INTERNALS = ("_close_writer", "latest_episode", "chunks_size", "writer")


def _check_lerobot_writer_internals(dataset: Any) -> None:
    """Fail early if this LeRobot lacks the writer internals that :func:`_close_lerobot_writers` relies on."""
    missing = [name for name in _WRITER_INTERNALS if not hasattr(dataset, name)]
    missing += [f"meta.{name}" for name in _META_INTERNALS if not hasattr(dataset.meta, name)]
    if missing:
        raise DatasetError(
            f"this lerobot version lacks {', '.join(missing)}: the recorder's crash safety is written for lerobot 0.4.4"
        )


def _close_lerobot_writers(dataset: Any) -> list[Path]:
    """Make every file of the saved episodes complete on disk; LeRobot starts new files for the next episode.

    Returns the files closed (data first), relative to the dataset's root.

    LeRobot 0.4.4 keeps one pyarrow ParquetWriter open for ``data/`` and one for ``meta/episodes/`` across
    episodes and writes their footers only in ``finalize()``, so a killed process leaves unreadable files.
    Closing the data writer with ``_writer_closed_for_reading`` set is LeRobot's own path (it does this before
    reading back): the next episode goes to the next file. The episodes writer has no such flag, so the latest
    episode's ``meta/episodes`` file index is advanced by hand, the way LeRobot does it when a file is full;
    otherwise the next flush would reopen, and truncate, the file just closed.
    """
    from lerobot.datasets.utils import update_chunk_file_indices

    meta = dataset.meta  # metadata_buffer_size=1: its writer already holds the episode
    written = [Path(writer.where).relative_to(dataset.root) for writer in (dataset.writer, meta.writer) if writer]
    dataset._close_writer()
    dataset._writer_closed_for_reading = True
    meta._close_writer()
    latest = meta.latest_episode
    if latest is not None:
        chunk, file = update_chunk_file_indices(
            int(latest["meta/episodes/chunk_index"][0]), int(latest["meta/episodes/file_index"][0]), meta.chunks_size
        )
        latest["meta/episodes/chunk_index"] = [chunk]
        latest["meta/episodes/file_index"] = [file]
    return written


def _publish(staging: Path, root: Path, written: list[Path], rewritten: list[Path]) -> None:
    """Put staged files (relative paths) into the dataset at ``root``: each goes to a temporary name next to its
    target first, then all are renamed into place in order, ``meta/info.json`` last.

    ``written`` are complete files LeRobot never writes again: hard-linked. ``rewritten`` are files LeRobot
    rewrites in place: copied, so that its next write cannot reach the dataset; unchanged ones are skipped.
    A rename is atomic, and LeRobot reads a dataset through info.json's totals, so a kill between two renames
    leaves the previous dataset loadable, with files of an episode it does not count yet.
    """
    renames = []
    for relative in [*written, *rewritten]:
        source, target = staging / relative, root / relative
        if relative in rewritten and target.exists() and filecmp.cmp(source, target, shallow=False):
            continue
        temporary = target.with_name(target.name + ".tmp")  # no .parquet suffix: LeRobot's loader never sees it
        temporary.parent.mkdir(parents=True, exist_ok=True)
        if relative in written:
            os.link(source, temporary)
        else:
            shutil.copyfile(source, temporary)
        renames.append((temporary, target))
    for temporary, target in renames:
        os.replace(temporary, target)


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover_dataset` found and changed."""

    episodes: int  # complete episodes in the dataset now
    frames: int  # their frames
    removed_files: tuple[str, ...]  # incomplete, orphaned or leftover files deleted (paths relative to the root)
    rewritten_files: tuple[str, ...]  # files rewritten to match the complete episodes (relative paths)

    @property
    def changed(self) -> bool:
        """Whether anything on disk was changed."""
        return bool(self.removed_files or self.rewritten_files)


@dataclass
class _Survey:
    """A dataset on disk compared with its ``meta/info.json``; read-only."""

    info: dict[str, Any]  # meta/info.json
    broken: list[Path]  # parquet files without a readable footer (written when a process died)
    rows: list[dict[str, Any]]  # metadata rows of episodes 0..n-1, each complete in data/ and meta/episodes/
    surplus: list[Path]  # complete parquet files that hold rows of other episodes
    stats_agree: bool  # meta/stats.json counts exactly the frames of ``rows``
    leftovers: list[Path]  # what a killed recorder leaves besides the dataset: staging, temporaries, images

    @property
    def frames(self) -> int:
        """Frames of the complete episodes."""
        return sum(int(row["length"]) for row in self.rows)

    def problems(self, root: Path) -> list[str]:
        """How the files disagree with info.json, one entry per kind (empty: LeRobot loads it consistently)."""
        problems = []
        if self.broken:
            problems.append(f"{len(self.broken)} unreadable parquet file(s), e.g. {self.broken[0].relative_to(root)}")
        totals = (self.info.get("total_episodes"), self.info.get("total_frames"))
        if totals != (len(self.rows), self.frames):
            problems.append(
                f"info.json counts {totals[0]} episodes and {totals[1]} frames, the files hold {len(self.rows)}"
                f" complete episodes and {self.frames} frames"
            )
        if self.surplus:
            problems.append(f"{len(self.surplus)} file(s) hold rows of episodes that are not complete or not counted")
        if not self.stats_agree:
            problems.append("stats.json does not count the complete episodes")
        return problems


def _survey(root: Path) -> _Survey:
    import pyarrow as pa
    import pyarrow.parquet as pq

    info_path = root / INFO_FILE
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        reason = "missing" if isinstance(error, FileNotFoundError) else f"unreadable ({error})"
        raise DatasetError(f"no LeRobot dataset at {root}: {INFO_FILE} is {reason}") from None
    broken: list[Path] = []

    def complete_files(folder: Path) -> list[Path]:
        files = []
        for path in sorted(folder.glob("*/*.parquet")):
            try:
                pq.read_metadata(path)
                files.append(path)
            except (pa.ArrowException, OSError):
                broken.append(path)
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
            rows[int(row["episode_index"])] = row
    kept = 0
    while kept in rows:
        row = rows[kept]
        data_path = root / info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )
        if data_counts.get((kept, data_path)) != row["length"]:
            break
        kept += 1
    surplus = [
        path
        for path in data_files + episode_files
        if (np.asarray(pq.read_table(path, columns=["episode_index"])["episode_index"]) >= kept).any()
    ]
    frames = sum(int(rows[e]["length"]) for e in range(kept))
    leftovers = [root / name for name in (STAGING_DIR, "images") if (root / name).exists()]
    leftovers += sorted(path for path in root.rglob("*.tmp") if STAGING_DIR not in path.relative_to(root).parts)
    return _Survey(info, broken, [rows[e] for e in range(kept)], surplus, _stats_count(root, info) == frames, leftovers)


def _stats_count(root: Path, info: dict[str, Any]) -> int | None:
    """The frame count of meta/stats.json (that of a non-image feature), 0 without stats, None if unreadable."""
    try:
        stats = json.loads((root / STATS_FILE).read_text())
    except FileNotFoundError:
        return 0
    except (OSError, json.JSONDecodeError):
        return None
    features = info.get("features", {})
    # image stats count sampled frames
    numeric = [key for key, feature in features.items() if feature.get("dtype") not in ("image", "video")]
    counts = {int(stats[key]["count"][0]) for key in numeric if key in stats and "count" in stats[key]}
    return counts.pop() if len(counts) == 1 else None


def check_dataset(root: Path) -> None:
    """Raise DatasetError unless the dataset at ``root`` is consistent (what LeRobot loads agrees with info.json).

    A recording process killed while it published an episode can leave it otherwise; the error says to run
    ``robot-rl recover-dataset``.
    """
    root = Path(root)
    problems = _survey(root).problems(root)
    if problems:
        raise DatasetError(
            f"dataset {root} is inconsistent ({'; '.join(problems)}): a recording was interrupted;"
            f" run `robot-rl recover-dataset {root}`"
        )


def recover_dataset(root: Path) -> RecoveryReport:
    """Make a dataset whose recording process died consistent again, keeping every complete episode.

    Needed only when the process died while publishing an episode (inside :meth:`EpisodeRecorder.end_episode`),
    or for datasets recorded before the recorder staged its writes. It deletes parquet files without a footer
    (half-written) and rows of episodes that are not complete in both ``data/`` and ``meta/episodes/`` (an
    episode counts only if every episode before it is complete too), and rewrites ``meta/info.json`` totals and
    ``meta/stats.json`` (aggregated from the kept episodes' own stats) when they disagree with the files. It also
    removes what a killed recorder leaves outside the dataset proper: its staging directory (``.recording``),
    temporary files and LeRobot's temporary images. Run it only when no recorder writes to ``root``.

    Raises:
        DatasetError: If ``root`` has no readable ``meta/info.json``.
    """
    import pyarrow.parquet as pq

    root = Path(root)
    survey = _survey(root)
    kept = len(survey.rows)
    removed: list[str] = []
    rewritten: list[str] = []
    for path in survey.broken:
        path.unlink()
        removed.append(str(path.relative_to(root)))
    for path in survey.surplus:
        table = pq.read_table(path)
        episode = np.asarray(table["episode_index"])
        if not (episode < kept).any():
            path.unlink()
            removed.append(str(path.relative_to(root)))
            continue
        temporary = path.with_suffix(".parquet.tmp")
        pq.write_table(table.filter(episode < kept), temporary)
        os.replace(temporary, path)
        rewritten.append(str(path.relative_to(root)))
    for path in survey.leftovers:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(str(path.relative_to(root)))

    tasks_path = root / TASKS_FILE
    total_tasks = pq.read_metadata(tasks_path).num_rows if tasks_path.exists() else 0
    totals = {
        "total_episodes": kept,
        "total_frames": survey.frames,
        "total_tasks": total_tasks,
        "splits": {"train": f"0:{kept}"},
    }
    info = survey.info
    if any(info.get(key) != value for key, value in totals.items()):
        info.update(totals)
        _write_json_atomic(root / INFO_FILE, info)
        rewritten.append(str(INFO_FILE))
    if not survey.stats_agree:
        if survey.rows:
            _write_json_atomic(root / STATS_FILE, _aggregate_episode_stats(survey.rows))
            rewritten.append(str(STATS_FILE))
        else:
            (root / STATS_FILE).unlink()
            removed.append(str(STATS_FILE))
    return RecoveryReport(kept, survey.frames, tuple(removed), tuple(rewritten))


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
