"""Demonstrations relabelled with the frozen base: one n-step transition per frame, the dataset's executed actions,
the base's actions from an in-order pass (chunk phase), episode ends as online, and the dataset checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from robot_rl.data.recorder import DONE_KEY, REWARD_KEY, SUCCESS_KEY, EpisodeRecorder, RecorderConfig, StepInfo
from robot_rl.errors import DatasetError, LearnerError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import FrozenBasePolicy, load_base_policy
from robot_rl.policies.features import (
    ACTION_KEY,
    ENVIRONMENT_STATE_KEY,
    STATE_KEY,
    ObservationFrame,
    residual_observation_names,
)
from robot_rl.rl.demos import DEFAULT_STD_FLOOR, OfflineDemos, relabel_demonstrations
from robot_rl.rl.td3 import TD3Config

NUM_SLOTS = 6  # the session's demos (collect-demos' perception) and the checkpoint trained on them
CONFIG = TD3Config(gamma=0.9, n_step=3)
# The synthetic dataset: (frames, how it ends, rewards by frame) per episode, recorded with the real recorder.
SYNTHETIC = ((9, "success", {8: 1.0}), (7, "timeout", {2: 0.5, 6: 0.25}), (5, "failure", {1: 0.3}))


def _table(root: Path) -> dict[str, np.ndarray]:
    """The dataset's frames straight from its parquet files (not through LeRobot), in index order."""
    table = pa.concat_tables([pq.read_table(path) for path in sorted((root / "data").glob("*/*.parquet"))])
    order = np.argsort(np.asarray(table["index"]))
    columns = {}
    for key in (STATE_KEY, ENVIRONMENT_STATE_KEY, ACTION_KEY, REWARD_KEY, DONE_KEY, SUCCESS_KEY, "episode_index"):
        column = table[key].to_pylist()
        columns[key] = np.asarray(column, dtype=np.float32 if key != "episode_index" else np.int64)[order]
    return columns


def _episodes(columns: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The row indices of each episode, in order."""
    return [np.flatnonzero(columns["episode_index"] == e) for e in np.unique(columns["episode_index"])]


def _base_pass(base: FrozenBasePolicy, columns: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Reset the base and run it along ``rows`` in order: (len(rows), 7) actions."""
    base.reset()
    features = (
        {STATE_KEY: columns[STATE_KEY][i], ENVIRONMENT_STATE_KEY: columns[ENVIRONMENT_STATE_KEY][i]} for i in rows
    )
    return np.stack([base.act(frame)[0] for frame in features])


def _expected_targets(
    rewards: np.ndarray, terminated: bool, n_step: int, gamma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hand-rolled n-step returns, discounts and next-frame indices of one episode (the last frame bootstraps
    from itself after a time-out)."""
    length = len(rewards)
    returns, discounts, following = [], [], []
    for t in range(length):
        k = min(n_step, length - t)
        returns.append(sum(gamma**i * rewards[t + i] for i in range(k)))
        discounts.append(0.0 if terminated and t + k == length else gamma**k)
        following.append(min(t + k, length - 1))
    return np.array(returns), np.array(discounts), np.array(following)


@pytest.fixture(scope="module")
def base(checkpoint: Path) -> FrozenBasePolicy:
    return load_base_policy(checkpoint)


@pytest.fixture(scope="module")
def relabelled(demos: Path, base: FrozenBasePolicy) -> OfflineDemos:
    return relabel_demonstrations(demos, base, NUM_SLOTS, CONFIG)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three episodes through EpisodeRecorder: a success, a time-out and a person's failure."""
    root = tmp_path_factory.mktemp("synthetic") / "demos"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS, success_only=False))
    rng = np.random.default_rng(3)
    for frames, end, rewards in SYNTHETIC:
        for t in range(frames):
            state = rng.normal(0.0, 0.2, 9).astype(np.float32)
            slots = rng.uniform(-0.5, 0.5, NUM_SLOTS * len(SLOT_FIELDS)).astype(np.float32)
            recorder.add_step(ObservationFrame(0.05 * t, state, slots, None), rng.uniform(-1, 1, 7))
            recorder.add_reward(rewards.get(t, 0.0))
        {"success": recorder.success, "timeout": recorder.timeout, "failure": recorder.failure}[end]()
    recorder.close()
    return root


def test_one_transition_per_frame_holding_the_dataset_observations_and_executed_actions(
    demos: Path, relabelled: OfflineDemos
) -> None:
    columns = _table(demos)
    frames = len(columns[ACTION_KEY])
    assert (relabelled.frames, len(relabelled.buffer), relabelled.episodes, relabelled.successes) == (
        frames,
        frames,
        2,
        2,
    )
    arrays = relabelled.buffer.arrays
    np.testing.assert_array_equal(arrays["action"], columns[ACTION_KEY])
    observations = np.concatenate([columns[STATE_KEY], columns[ENVIRONMENT_STATE_KEY]], axis=1)
    np.testing.assert_array_equal(arrays["obs"], observations)
    np.testing.assert_array_equal(arrays["reward"], columns[REWARD_KEY])
    assert relabelled.obs_names == tuple(residual_observation_names(NUM_SLOTS))
    assert len(relabelled.obs_names) == observations.shape[1]


def test_observation_statistics_are_numpys_over_every_frame(demos: Path, relabelled: OfflineDemos) -> None:
    columns = _table(demos)
    observations = np.concatenate([columns[STATE_KEY], columns[ENVIRONMENT_STATE_KEY]], axis=1).astype(np.float64)
    assert relabelled.obs_mean.dtype == relabelled.obs_std.dtype == np.float32
    np.testing.assert_allclose(relabelled.obs_mean, observations.mean(axis=0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        relabelled.obs_std, np.maximum(observations.std(axis=0), DEFAULT_STD_FLOOR), rtol=1e-5, atol=1e-7
    )
    assert (relabelled.obs_std == np.float32(DEFAULT_STD_FLOOR)).any()  # empty slots never change


def test_base_actions_are_those_of_an_independent_in_order_pass(
    demos: Path, checkpoint: Path, relabelled: OfflineDemos
) -> None:
    columns, fresh = _table(demos), load_base_policy(checkpoint)
    arrays = relabelled.buffer.arrays
    overshoot = 0.0
    for rows in _episodes(columns):
        raw = _base_pass(fresh, columns, rows)
        overshoot = max(overshoot, float(np.abs(raw).max()) - 1.0)
        expected = np.clip(raw, -1.0, 1.0)  # saturated, as the base node publishes them online
        np.testing.assert_allclose(arrays["base_action"][rows], expected, rtol=1e-6, atol=1e-7)
        following = np.minimum(np.arange(len(rows)) + CONFIG.n_step, len(rows) - 1)
        np.testing.assert_allclose(arrays["next_base_action"][rows], expected[following], rtol=1e-6, atol=1e-7)
    assert overshoot > 0.0  # this base's gripper output overshoots the bound, as ACT's does: saturation is tested
    # one chunk per n_action_steps frames of each episode, as the base runs online
    steps = fresh.chunker.config.n_action_steps
    assert relabelled.base_predictions == sum(-(-len(rows) // steps) for rows in _episodes(columns))


def test_chunk_phase_matters_a_mid_chunk_start_gives_other_base_actions(
    demos: Path, checkpoint: Path, relabelled: OfflineDemos
) -> None:
    columns, fresh = _table(demos), load_base_policy(checkpoint)
    steps = fresh.chunker.config.n_action_steps
    rows = _episodes(columns)[0][: 2 * steps]
    in_order = relabelled.buffer.arrays["base_action"][rows]
    # started at a chunk boundary, the base predicts on the same frames: the same actions
    restarted = np.clip(_base_pass(fresh, columns, rows[steps:]), -1.0, 1.0)
    np.testing.assert_allclose(restarted, in_order[steps:], rtol=1e-6, atol=1e-7)
    # started mid-chunk, it predicts on other frames
    shifted = np.clip(_base_pass(fresh, columns, rows[3:steps]), -1.0, 1.0)
    assert np.abs(shifted - in_order[3:steps]).max(axis=1).min() > 1e-4


def test_a_success_ends_the_episode_without_bootstrap(demos: Path, relabelled: OfflineDemos) -> None:
    columns, arrays = _table(demos), relabelled.buffer.arrays
    for rows in _episodes(columns):
        assert columns[SUCCESS_KEY][rows[-1]]
        assert columns[REWARD_KEY][rows[-1]] == 1.0
        returns, discounts, _ = _expected_targets(columns[REWARD_KEY][rows], True, CONFIG.n_step, CONFIG.gamma)
        np.testing.assert_allclose(arrays["n_step_return"][rows], returns, rtol=1e-6)
        np.testing.assert_allclose(arrays["discount"][rows], discounts, rtol=1e-6)
        assert (arrays["discount"][rows[-CONFIG.n_step :]] == 0.0).all()
        np.testing.assert_array_equal(arrays["next_obs"][rows[: -CONFIG.n_step]], arrays["obs"][rows[CONFIG.n_step :]])


@pytest.mark.parametrize("n_step", [1, 3])
def test_time_outs_bootstrap_from_the_last_frame_and_failures_terminate(
    synthetic: Path, base: FrozenBasePolicy, n_step: int
) -> None:
    config = TD3Config(gamma=0.9, n_step=n_step)
    offline = relabel_demonstrations(synthetic, base, NUM_SLOTS, config)
    assert (offline.episodes, offline.frames, offline.successes) == (3, sum(f for f, _, _ in SYNTHETIC), 1)
    arrays, columns = offline.buffer.arrays, _table(synthetic)
    for rows, (frames, end, _) in zip(_episodes(columns), SYNTHETIC, strict=True):
        assert len(rows) == frames
        returns, discounts, following = _expected_targets(columns[REWARD_KEY][rows], end != "timeout", n_step, 0.9)
        np.testing.assert_allclose(arrays["n_step_return"][rows], returns, rtol=1e-6)
        np.testing.assert_allclose(arrays["discount"][rows], discounts, rtol=1e-6)
        np.testing.assert_array_equal(arrays["next_obs"][rows], arrays["obs"][rows[following]])
        np.testing.assert_array_equal(arrays["next_base_action"][rows], arrays["base_action"][rows[following]])
        if end == "timeout":  # gamma^k: bootstraps from the last frame's own observation
            assert arrays["discount"][rows[-1]] == pytest.approx(0.9)
        else:
            assert arrays["discount"][rows[-1]] == 0.0


def test_max_episodes_and_capacity(demos: Path, base: FrozenBasePolicy) -> None:
    first = len(_episodes(_table(demos))[0])
    offline = relabel_demonstrations(demos, base, NUM_SLOTS, CONFIG, max_episodes=1, capacity=first + 100)
    assert (offline.episodes, offline.frames, len(offline.buffer), offline.buffer.capacity) == (
        1,
        first,
        first,
        first + 100,
    )
    with pytest.raises(LearnerError, match="capacity"):
        relabel_demonstrations(demos, base, NUM_SLOTS, CONFIG, max_episodes=1, capacity=first - 1)


def correction_session(root: Path, driven: set[tuple[int, int]], frames: tuple[int, ...] = (8, 6)) -> Path:
    """A teleop correction recording: episodes of ``frames`` frames, a person driving the (episode, frame)s in
    ``driven``; the first episode a success, the others time-outs."""
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS, success_only=False))
    rng = np.random.default_rng(5)
    for episode, length in enumerate(frames):
        for t in range(length):
            state = rng.normal(0.0, 0.2, 9).astype(np.float32)
            slots = rng.uniform(-0.5, 0.5, NUM_SLOTS * len(SLOT_FIELDS)).astype(np.float32)
            info = StepInfo(intervention=(episode, t) in driven)
            recorder.add_step(ObservationFrame(0.05 * t, state, slots, None), rng.uniform(-1, 1, 7), info)
            recorder.add_reward(1.0 if episode == 0 and t == length - 1 else 0.0)
        recorder.success() if episode == 0 else recorder.timeout()
    recorder.close()
    return root


def test_corrections_keep_the_transitions_a_person_drove_with_the_base_run_along_every_frame(
    tmp_path: Path, base: FrozenBasePolicy
) -> None:
    root = correction_session(tmp_path / "session", {(0, 3), (0, 4), (0, 7), (1, 0)})
    everything = relabel_demonstrations(root, base, NUM_SLOTS, CONFIG)
    kept = relabel_demonstrations(root, base, NUM_SLOTS, CONFIG, corrections_only=True, role="--corrections")
    assert (len(everything.buffer), len(kept.buffer), kept.frames, kept.episodes) == (14, 4, 14, 2)
    rows = [3, 4, 7, 8]  # episode 1 starts at row 8
    for name in everything.buffer.arrays:
        np.testing.assert_array_equal(kept.buffer.arrays[name][:4], everything.buffer.arrays[name][rows])
    assert kept.buffer.arrays["discount"][2] == 0.0  # the success's last tick: no bootstrap, as online


def test_corrections_need_a_recording_with_takeovers(tmp_path: Path, demos: Path, base: FrozenBasePolicy) -> None:
    with pytest.raises(DatasetError) as caught:  # collect-demos' expert is the policy, not a person taking over
        relabel_demonstrations(demos, base, NUM_SLOTS, CONFIG, corrections_only=True, role="--corrections")
    assert str(caught.value).startswith(f"--corrections {demos}: nobody took over in its ")
    nobody = correction_session(tmp_path / "nobody", set())
    with pytest.raises(DatasetError, match="nobody took over in its 14 frames"):
        relabel_demonstrations(nobody, base, NUM_SLOTS, CONFIG, corrections_only=True, role="--corrections")


def _one_line_error(dataset: Path, base: FrozenBasePolicy, num_slots: int = NUM_SLOTS) -> str:
    with pytest.raises(DatasetError) as caught:
        relabel_demonstrations(dataset, base, num_slots, CONFIG)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_directory_that_is_not_a_dataset(tmp_path: Path, base: FrozenBasePolicy) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _one_line_error(empty, base) == f"--demos {empty} is not a LeRobot dataset: it has no meta/info.json"
    missing = tmp_path / "missing"
    assert _one_line_error(missing, base) == f"--demos {missing} is not a LeRobot dataset: it does not exist"


def test_another_slot_count_names_both(demos: Path, base: FrozenBasePolicy) -> None:
    message = _one_line_error(demos, base, num_slots=4)
    assert message.startswith(f"--demos {demos} has 6 slots")
    assert "num_slots is 4" in message


def test_a_base_that_does_not_fit_the_dataset(synthetic: Path, tmp_path: Path) -> None:
    from tests.policies.conftest import make_act_checkpoint

    four_slots = load_base_policy(make_act_checkpoint(tmp_path / "act4", num_slots=4))
    message = _one_line_error(synthetic, four_slots)
    assert message.startswith(f"--demos {synthetic}: ")
    assert "observation.environment_state" in message


def test_an_interrupted_recording_gets_the_recover_hint(
    synthetic: Path, tmp_path: Path, base: FrozenBasePolicy
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(synthetic, broken)
    info = json.loads((broken / "meta" / "info.json").read_text())
    info["total_frames"] += 1
    (broken / "meta" / "info.json").write_text(json.dumps(info))
    assert f"run `robot-rl recover-dataset {broken}`" in _one_line_error(broken, base)


def test_a_non_finite_observation_is_refused(tmp_path: Path, base: FrozenBasePolicy) -> None:
    root = tmp_path / "nan"
    recorder = EpisodeRecorder(RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS))
    for t in range(4):
        slots = np.zeros(NUM_SLOTS * len(SLOT_FIELDS), dtype=np.float32)
        slots[5] = np.nan if t == 2 else 0.0
        recorder.add_step(ObservationFrame(0.05 * t, np.zeros(9, np.float32), slots, None), np.zeros(7))
    recorder.success()
    recorder.close()
    message = _one_line_error(root, base)
    assert message == f"--demos {root}: {ENVIRONMENT_STATE_KEY} is not finite (NaN or Inf) in episode 0, frame 2"


def test_a_base_that_sees_images_gets_the_recorded_images(synthetic: Path, tmp_path: Path) -> None:
    from tests.policies.conftest import make_act_checkpoint

    seeing = load_base_policy(make_act_checkpoint(tmp_path / "act_image", num_slots=NUM_SLOTS, image_hw=(8, 12)))
    assert "observation.images.color" in _one_line_error(synthetic, seeing)  # a state-only dataset: refused
    root = tmp_path / "images"
    recorder = EpisodeRecorder(
        RecorderConfig(root=root, task="Lift", num_slots=NUM_SLOTS, image_shape_hw=(8, 12), success_only=False)
    )
    rng = np.random.default_rng(5)
    frames = [
        ObservationFrame(
            0.05 * t,
            rng.normal(0.0, 0.2, 9).astype(np.float32),
            rng.uniform(-0.5, 0.5, NUM_SLOTS * len(SLOT_FIELDS)).astype(np.float32),
            rng.integers(0, 256, (8, 12, 3), dtype=np.uint8),
        )
        for t in range(7)
    ]
    for frame in frames:
        recorder.add_step(frame, np.zeros(7))
    recorder.timeout()
    recorder.close()
    offline = relabel_demonstrations(root, seeing, NUM_SLOTS, CONFIG)
    seeing.reset()
    expected = np.stack([seeing.act(frame.features())[0] for frame in frames])
    np.testing.assert_allclose(offline.buffer.arrays["base_action"], expected, rtol=1e-6, atol=1e-7)
