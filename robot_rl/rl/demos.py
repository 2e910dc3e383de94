"""Demonstrations for the offline half of RLPD's replay, relabelled with the frozen base policy's actions.

The residual learner samples every batch half from online transitions and half from offline ones
(:func:`robot_rl.rl.replay.sample_mixed`); offline are demonstrations (and, later, human corrections). A recorded
demonstration has the action that was EXECUTED, not what the base policy would have done, so
:func:`relabel_demonstrations` runs the frozen base along each episode, frame by frame and in order, from a
``reset()`` at the episode's first frame, exactly as the base-policy node runs online: its action chunks are
predicted on the same frames and executed in the same phase (queue mode: a new chunk every ``n_action_steps``
frames; ensemble mode and history policies: every frame, in order). Each frame t then gives one tick

- ``obs_t`` = ``observation.state`` then ``observation.environment_state`` (``ObservationFrame.vector()``,
  named by :func:`~robot_rl.policies.features.residual_observation_names`);
- ``base_action_t`` = the base's action for frame t, saturated into [-1, 1] as the base node publishes it online
  (ACT overshoots the bound by a hair), ``action_t`` = the dataset's ``action`` (what was applied);
- ``reward_t`` = the frame's ``next.reward``: the recorder stores on frame t the reward that frame t's action
  earned (the sim publishes it after the step; :meth:`~robot_rl.data.recorder.EpisodeRecorder.add_reward`);
- ``next_obs`` / ``next_base_action`` = frame t+1's;

fed through :class:`~robot_rl.rl.replay.NStepAccumulator` as the online ticks are, so each frame starts one n-step
transition. The recorder flags the episode's end on its last frame (``next.done``, with ``next.success`` or
``next.truncated``), mapped as online (:mod:`robot_rl.rl.transitions`):

- success, or a person's failure (done, not truncated): ``terminated``, no bootstrap (discount 0);
- a time-out (``next.truncated``), or a last frame without ``next.done``: ``truncated``, bootstrapping. The
  observation after the last step is not recorded, so the last tick's ``next_obs`` / ``next_base_action`` are
  the last frame's own: the target bootstraps from ``Q(obs_{T-1}, .)`` instead of ``Q(obs_T, .)``, one tick
  earlier than online (a small bias on time-out episodes only).

Datasets are read with LeRobot's ``LeRobotDataset`` from local files only, checked first as ``train-base`` checks
them (a recording killed mid-save gets the ``robot-rl recover-dataset`` hint).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, saturate_actions
from robot_rl.data.recorder import DONE_KEY, INTERVENTION_KEY, REWARD_KEY, SUCCESS_KEY, TRUNCATED_KEY
from robot_rl.errors import DatasetError, LearnerError, PolicyError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import FrozenBasePolicy
from robot_rl.policies.checkpoint_info import layouts_from_features
from robot_rl.policies.features import (
    ACTION_KEY,
    ENVIRONMENT_STATE_KEY,
    IMAGE_KEY,
    STATE_KEY,
    STATE_NAMES,
    ObservationFrame,
    residual_observation_names,
)
from robot_rl.policies.train_base import check_dataset_files
from robot_rl.rl.replay import FIELDS, NStepAccumulator, ReplayBuffer, Transition
from robot_rl.rl.td3 import TD3Config
from robot_rl.torch_env import prepare_torchvision

# Floor on each observation dimension's std, observation units: a dimension the demos never change (an empty
# slot, a fixed quaternion component) must not turn a small change at run time into a huge normalized input
# (the base's normalizer is floored the same way: TrainConfig.min_norm_spread).
DEFAULT_STD_FLOOR = 1e-2
_FLAG_KEYS = (DONE_KEY, SUCCESS_KEY, TRUNCATED_KEY)
_INDEX_KEYS = ("episode_index", "frame_index", "timestamp")


@dataclass(frozen=True)
class DemoEpisode:
    """One recorded episode, frames in order; arrays are float32 except the uint8 images."""

    index: int  # the dataset's episode_index
    timestamp: np.ndarray  # (T,) s from the episode start
    state: np.ndarray  # (T, 9) observation.state
    environment_state: np.ndarray  # (T, num_slots * slot_size) observation.environment_state
    image: np.ndarray | None  # (T, H, W, 3) uint8 observation.images.color, None when not loaded
    action: np.ndarray  # (T, 7) the executed action of each frame, normalized units
    reward: np.ndarray  # (T,) next.reward: the reward frame t's action earned
    done: bool  # next.done on the last frame
    success: bool  # next.success on the last frame
    truncated: bool  # next.truncated on the last frame (a time-out)
    intervention: np.ndarray  # (T,) bool complementary_info.intervention: a person drove frame t (False if unrecorded)

    def __len__(self) -> int:
        """Frames in the episode."""
        return len(self.action)

    @property
    def terminated(self) -> bool:
        """A true end (success, or a person's failure): the last transitions do not bootstrap."""
        return self.done and (self.success or not self.truncated)

    def frame(self, t: int) -> ObservationFrame:
        """Frame t as the graph assembles it online (its ``features()`` feed the base, ``vector()`` the residual)."""
        image = None if self.image is None else self.image[t]
        return ObservationFrame(float(self.timestamp[t]), self.state[t], self.environment_state[t], image)


class DemoDataset:
    """A robot_rl demonstration dataset opened read-only with LeRobot, checked for what relabelling needs.

    Args:
        dataset_dir: The LeRobotDataset directory (what ``collect-demos`` or the recorder wrote).
        num_slots: Object slots per observation (K), as the residual and the base policy take them.
        slot_size: Values per slot (``SLOT_FIELDS`` + embedding).
        max_episodes: Use only the first this many episodes; None = all.
        role: What the dataset is to the command line (``--demos``, ``--corrections``), for the error messages.

    Raises:
        DatasetError: One line: not a (complete, consistent) LeRobot dataset, a feature missing or of another
            shape (another slot count than ``num_slots``), no episodes.
    """

    def __init__(
        self,
        dataset_dir: Path,
        num_slots: int,
        slot_size: int = len(SLOT_FIELDS),
        max_episodes: int | None = None,
        role: str = "--demos",
    ) -> None:
        self.root = Path(dataset_dir).expanduser()
        self.role = role
        for name, value in (("num_slots", num_slots), ("slot_size", slot_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DatasetError(f"{name} must be an int >= 1, got {value!r}")
        if slot_size < len(SLOT_FIELDS):
            raise DatasetError(f"slot_size must be >= {len(SLOT_FIELDS)} (the slot fields), got {slot_size}")
        if max_episodes is not None and (
            isinstance(max_episodes, bool) or not isinstance(max_episodes, int) or max_episodes < 1
        ):
            raise DatasetError(f"max_episodes must be None or an int >= 1, got {max_episodes!r}")
        self.num_slots, self.slot_size = num_slots, slot_size
        if not (self.root / "meta" / "info.json").is_file():
            reason = "it does not exist" if not self.root.exists() else "it has no meta/info.json"
            raise DatasetError(f"{self.role} {self.root} is not a LeRobot dataset: {reason}")
        try:
            check_dataset_files(self.root)  # complete and consistent (check_dataset: the recover-dataset hint)
        except DatasetError as error:
            raise DatasetError(f"{self.role} {self.root}: {error}") from None
        prepare_torchvision()
        from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

        meta = LeRobotDatasetMetadata("local/" + self.root.name, root=self.root)
        self.features: dict[str, dict[str, Any]] = dict(meta.features)
        self._check_features()
        if meta.total_episodes < 1:
            raise DatasetError(f"{self.role} {self.root} holds no episodes")
        count = meta.total_episodes if max_episodes is None else min(max_episodes, meta.total_episodes)
        episodes = None if count == meta.total_episodes else list(range(count))
        self.dataset = LeRobotDataset(meta.repo_id, root=self.root, episodes=episodes)
        self._bounds = self._episode_bounds()

    @property
    def num_episodes(self) -> int:
        """Episodes in use."""
        return len(self._bounds)

    @property
    def num_frames(self) -> int:
        """Frames of the episodes in use."""
        return sum(stop - start for _, start, stop in self._bounds)

    @property
    def has_interventions(self) -> bool:
        """Whether the dataset records which ticks a person drove (``complementary_info.intervention``)."""
        return INTERVENTION_KEY in self.features

    def _shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(size) for size in self.features[key]["shape"])

    def _check_features(self) -> None:
        required = (STATE_KEY, ENVIRONMENT_STATE_KEY, ACTION_KEY, REWARD_KEY, *_FLAG_KEYS)
        missing = [key for key in required if key not in self.features]
        if missing:
            raise DatasetError(
                f"{self.role} {self.root} lacks {', '.join(missing)} (robot_rl's recorder writes them);"
                f" it has {', '.join(sorted(self.features))}"
            )
        environment = self._shape(ENVIRONMENT_STATE_KEY)
        expected = self.num_slots * self.slot_size
        if environment != (expected,):
            slots = f"{environment[0] // self.slot_size} slots" if len(environment) == 1 else "another layout"
            raise DatasetError(
                f"{self.role} {self.root} has {slots} ({ENVIRONMENT_STATE_KEY} shape {environment}), num_slots is"
                f" {self.num_slots} ({self.num_slots} x {self.slot_size} = {expected} values)"
            )
        for key, shape in ((STATE_KEY, (len(STATE_NAMES),)), (ACTION_KEY, (ACTION_DIM,))):
            if self._shape(key) != shape:
                raise DatasetError(f"{self.role} {self.root}: {key} has shape {self._shape(key)}, expected {shape}")
        for key in (REWARD_KEY, *_FLAG_KEYS):
            if self._shape(key) != (1,):
                raise DatasetError(f"{self.role} {self.root}: {key} has shape {self._shape(key)}, expected (1,)")

    def _episode_bounds(self) -> list[tuple[int, int, int]]:
        """(episode_index, first row, end row) of each episode, in row order; each must be whole and in order."""
        columns = self.dataset.hf_dataset.select_columns(["episode_index", "frame_index"]).with_format("numpy")
        episode = np.asarray(columns["episode_index"], dtype=np.int64)
        frame = np.asarray(columns["frame_index"], dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
        stops = np.r_[starts[1:], len(episode)]
        bounds = [(int(episode[start]), int(start), int(stop)) for start, stop in zip(starts, stops, strict=True)]
        if len({index for index, _, _ in bounds}) != len(bounds):
            raise DatasetError(f"{self.role} {self.root}: an episode's frames are not contiguous")
        for index, start, stop in bounds:
            if not np.array_equal(frame[start:stop], np.arange(stop - start)):
                raise DatasetError(f"{self.role} {self.root}: episode {index}'s frame_index is not 0, 1, 2, ...")
        return bounds

    def check_base(self, base: FrozenBasePolicy) -> None:
        """Raise DatasetError if the base policy's inputs are not what the dataset holds, by name, shape and the
        named dimensions its checkpoint records (a base that takes images needs recorded images, not video)."""
        for name in base.input_features:
            if name in self.features and self.features[name]["dtype"] == "video":
                raise DatasetError(
                    f"{self.role} {self.root}: {name} is stored as video; relabelling reads images (record with images)"
                )
        fed = [STATE_KEY, ENVIRONMENT_STATE_KEY, ACTION_KEY] + ([IMAGE_KEY] if IMAGE_KEY in self.features else [])
        available: dict[str, tuple[int, ...] | None] = {key: self._shape(key) for key in fed if key != ACTION_KEY}
        try:
            base.check_inputs(available, layout=layouts_from_features({key: self.features[key] for key in fed}))
        except PolicyError as error:
            raise DatasetError(f"{self.role} {self.root}: {error}") from None

    def episodes(self, image: bool = False) -> Iterator[DemoEpisode]:
        """The episodes in order, one at a time (with ``image``: the colour images too, decoded per episode).

        Raises:
            DatasetError: On the first non-finite observation, action or reward (naming episode and frame).
        """
        keys = [STATE_KEY, ENVIRONMENT_STATE_KEY, ACTION_KEY, REWARD_KEY, *_FLAG_KEYS, *_INDEX_KEYS]
        if self.has_interventions:
            keys.append(INTERVENTION_KEY)
        if image:
            if IMAGE_KEY not in self.features:
                raise DatasetError(f"{self.role} {self.root} has no {IMAGE_KEY}")
            keys.append(IMAGE_KEY)
        table = self.dataset.hf_dataset.select_columns(keys).with_format("numpy")
        for index, start, stop in self._bounds:
            rows: Mapping[str, Any] = table[start:stop]
            frames = stop - start
            arrays = {
                key: np.asarray(rows[key], dtype=np.float32).reshape(frames, *self._shape(key))
                for key in (STATE_KEY, ENVIRONMENT_STATE_KEY, ACTION_KEY, REWARD_KEY)
            }
            for key, array in arrays.items():
                bad = np.flatnonzero(~np.isfinite(array.reshape(frames, -1)).all(axis=1))
                if len(bad):
                    raise DatasetError(
                        f"{self.role} {self.root}: {key} is not finite (NaN or Inf) in episode {index}, frame {bad[0]}"
                    )
            flags = {key: bool(np.asarray(rows[key]).reshape(frames)[-1]) for key in _FLAG_KEYS}
            intervention = (
                np.asarray(rows[INTERVENTION_KEY]).reshape(frames).astype(bool)
                if self.has_interventions
                else np.zeros(frames, dtype=bool)
            )
            yield DemoEpisode(
                index=index,
                timestamp=np.asarray(rows["timestamp"], dtype=np.float64).reshape(frames),
                state=arrays[STATE_KEY],
                environment_state=arrays[ENVIRONMENT_STATE_KEY],
                image=np.asarray(rows[IMAGE_KEY], dtype=np.uint8) if image else None,
                action=arrays[ACTION_KEY],
                reward=arrays[REWARD_KEY].reshape(frames),
                done=flags[DONE_KEY],
                success=flags[SUCCESS_KEY],
                truncated=flags[TRUNCATED_KEY],
                intervention=intervention,
            )


@dataclass
class OfflineDemos:
    """Relabelled demonstrations: the offline replay buffer and the observation statistics of the demos."""

    buffer: ReplayBuffer  # one n-step transition per frame (per frame a person drove: corrections_only), in order
    obs_mean: np.ndarray  # (obs_dim,) float32 mean over every frame's observation vector
    obs_std: np.ndarray  # (obs_dim,) float32 std over the same, floored at std_floor
    obs_names: tuple[str, ...]  # the observation vector's names (residual_observation_names)
    episodes: int  # episodes relabelled
    frames: int  # their frames (= transitions)
    successes: int  # episodes that ended in success
    base_predictions: int  # chunks the base predicted
    relabel_s: float  # wall time of the whole relabelling (reading included), s

    @property
    def seconds_per_frame(self) -> float:
        """Relabelling wall time per frame, s."""
        return self.relabel_s / max(self.frames, 1)


def relabel_demonstrations(
    dataset_dir: Path,
    base: FrozenBasePolicy,
    num_slots: int,
    config: TD3Config,
    max_episodes: int | None = None,
    slot_size: int = len(SLOT_FIELDS),
    capacity: int | None = None,
    std_floor: float = DEFAULT_STD_FLOOR,
    corrections_only: bool = False,
    role: str = "--demos",
) -> OfflineDemos:
    """Relabel the demonstrations at ``dataset_dir`` with ``base``'s actions into n-step transitions.

    See the module docstring for what each transition holds; ``config`` gives ``gamma`` and ``n_step``. The
    base is reset before each episode and after the last one (its chunk queue is left empty).

    With ``corrections_only`` the dataset is a teleop correction session (``launch/teleop_correction.launch.yaml``):
    the base still runs along every frame in order (its chunk phase), but only the transitions whose first tick a
    person drove are kept, as the live learner keeps a person's takeovers for the offline half (HIL-SERL).

    Args:
        dataset_dir: The LeRobotDataset directory.
        base: The frozen base policy the residual will correct (the one that runs online).
        num_slots: Object slots per observation, as the residual takes them.
        config: The learner's config: its gamma and n_step shape the transitions.
        max_episodes: Relabel only the first this many episodes; None = all.
        slot_size: Values per slot.
        capacity: Rows of the returned buffer (room for later offline data, e.g. corrections); None = exactly
            the transitions. Must be >= the number of transitions kept.
        std_floor: Floor on each dimension of ``obs_std``, observation units, > 0.
        corrections_only: Keep only the frames a person drove (``complementary_info.intervention``).
        role: What the dataset is to the command line (``--demos``, ``--corrections``), for the error messages.

    Raises:
        DatasetError: The dataset is not a usable LeRobot dataset, does not fit ``num_slots`` or the base, or
            holds a non-finite value; with ``corrections_only``, nobody took over in it.
        LearnerError: ``capacity`` or ``std_floor`` is invalid.
    """
    start_s = time.perf_counter()
    if isinstance(std_floor, bool) or not isinstance(std_floor, (int, float)) or not 0 < std_floor < np.inf:
        raise LearnerError(f"std_floor must be finite and > 0, got {std_floor!r}")
    demos = DemoDataset(dataset_dir, num_slots, slot_size, max_episodes, role)
    demos.check_base(base)
    accumulator = NStepAccumulator(config.n_step, config.gamma)
    transitions: list[Transition] = []
    observations: list[np.ndarray] = []
    driven: list[np.ndarray] = []  # per frame, in order: a person drove it (each frame starts one transition)
    successes = 0
    predictions_before = base.chunker.predictions
    for episode in demos.episodes(image=IMAGE_KEY in base.input_features):
        obs, base_actions = _run_base(base, episode)
        observations.append(obs)
        driven.append(episode.intervention)
        successes += int(episode.success)
        last = len(episode) - 1
        for t in range(len(episode)):
            following = min(t + 1, last)  # the last tick bootstraps (if at all) from its own frame
            transitions += accumulator.add(
                obs=obs[t],
                base_action=base_actions[t],
                action=episode.action[t],
                reward=float(episode.reward[t]),
                next_obs=obs[following],
                next_base_action=base_actions[following],
                terminated=t == last and episode.terminated,
                truncated=t == last and not episode.terminated,
            )
    base.reset()
    frames = demos.num_frames
    if corrections_only:
        keep = np.concatenate(driven)
        transitions = [step for step, kept in zip(transitions, keep, strict=True) if kept]
        if not transitions:
            raise DatasetError(f"{role} {demos.root}: nobody took over in its {frames} frames (no correction)")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < len(transitions)
    ):
        raise LearnerError(f"capacity must be None or an int >= the {len(transitions)} transitions, got {capacity!r}")
    everything = np.concatenate(observations)
    buffer = ReplayBuffer(capacity or len(transitions), everything.shape[1], ACTION_DIM)
    buffer.add_batch({name: np.stack([getattr(step, name) for step in transitions]) for name in FIELDS})
    return OfflineDemos(
        buffer=buffer,
        obs_mean=everything.mean(axis=0, dtype=np.float64).astype(np.float32),
        obs_std=np.maximum(everything.std(axis=0, dtype=np.float64), std_floor).astype(np.float32),
        obs_names=tuple(residual_observation_names(num_slots, slot_size)),
        episodes=demos.num_episodes,
        frames=frames,
        successes=successes,
        base_predictions=base.chunker.predictions - predictions_before,
        relabel_s=time.perf_counter() - start_s,
    )


def _run_base(base: FrozenBasePolicy, episode: DemoEpisode) -> tuple[np.ndarray, np.ndarray]:
    """Run the base from a reset along the episode in order: (T, obs_dim) observations, (T, 7) base actions,
    saturated as the base node saturates them before the residual and the learner see them."""
    base.reset()
    observations, actions = [], []
    for t in range(len(episode)):
        frame = episode.frame(t)
        observations.append(frame.vector())
        actions.append(saturate_actions(base.act(frame.features())[0])[0])
    return np.stack(observations), np.stack(actions).astype(np.float32)
