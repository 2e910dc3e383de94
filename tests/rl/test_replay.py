"""N-step accumulation (hand-worked values), the ring buffer and RLPD's 50/50 sampling."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import LearnerError
from robot_rl.rl.replay import (
    FIELDS,
    NStepAccumulator,
    PooledBuffer,
    ReplayBuffer,
    Transition,
    concatenate,
    sample_mixed,
)

OBS_DIM, ACTION_DIM = 3, 7


def _obs(t: int) -> np.ndarray:
    """Observation at tick t: every entry is t, so a transition's next_obs tells its index."""
    return np.full(OBS_DIM, float(t), dtype=np.float32)


def _run_episode(accumulator: NStepAccumulator, rewards: list[float], end: str) -> list[Transition]:
    """Feed ticks 0..len-1; the last one ends the episode with ``end`` ("terminated" or "truncated")."""
    emitted: list[Transition] = []
    for t, reward in enumerate(rewards):
        last = t == len(rewards) - 1
        emitted += accumulator.add(
            obs=_obs(t),
            base_action=np.full(ACTION_DIM, 0.1 * t),
            action=np.full(ACTION_DIM, -0.1 * t),
            reward=reward,
            next_obs=_obs(t + 1),
            next_base_action=np.full(ACTION_DIM, 0.1 * (t + 1)),
            terminated=last and end == "terminated",
            truncated=last and end == "truncated",
        )
    return emitted


def test_n_step_returns_with_termination() -> None:
    accumulator = NStepAccumulator(n_step=3, gamma=0.9)
    emitted = _run_episode(accumulator, [1.0, 2.0, 3.0, 4.0], "terminated")
    assert len(accumulator) == 0
    assert [float(t.obs[0]) for t in emitted] == [0, 1, 2, 3]
    # t0: 1 + .9*2 + .81*3 = 5.23, bootstraps from s3 with 0.9^3; t1..t3 reach the terminal s4: no bootstrap.
    np.testing.assert_allclose([t.n_step_return for t in emitted], [5.23, 7.94, 6.6, 4.0], rtol=1e-12)
    np.testing.assert_allclose([t.discount for t in emitted], [0.729, 0.0, 0.0, 0.0], rtol=1e-12)
    assert [float(t.next_obs[0]) for t in emitted] == [3, 4, 4, 4]
    assert [t.reward for t in emitted] == [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(emitted[1].action, np.full(ACTION_DIM, -0.1), rtol=1e-6)
    np.testing.assert_allclose(emitted[1].base_action, np.full(ACTION_DIM, 0.1), rtol=1e-6)
    np.testing.assert_allclose(emitted[0].next_base_action, np.full(ACTION_DIM, 0.3), rtol=1e-6)


def test_n_step_returns_with_truncation_bootstrap_from_the_last_next_obs() -> None:
    accumulator = NStepAccumulator(n_step=3, gamma=0.9)
    emitted = _run_episode(accumulator, [1.0, 2.0, 3.0, 4.0], "truncated")
    assert len(accumulator) == 0
    np.testing.assert_allclose([t.n_step_return for t in emitted], [5.23, 7.94, 6.6, 4.0], rtol=1e-12)
    np.testing.assert_allclose([t.discount for t in emitted], [0.729, 0.729, 0.81, 0.9], rtol=1e-12)
    assert [float(t.next_obs[0]) for t in emitted] == [3, 4, 4, 4]
    np.testing.assert_allclose(emitted[3].next_base_action, np.full(ACTION_DIM, 0.4), rtol=1e-6)


def test_emission_timing_and_the_next_episode_starts_empty() -> None:
    accumulator = NStepAccumulator(n_step=3, gamma=0.9)

    def step(t: int) -> dict[str, object]:
        zeros = np.zeros(ACTION_DIM)
        return {"obs": _obs(t), "base_action": zeros, "action": zeros, "reward": 1.0, "next_obs": _obs(t + 1),
                "next_base_action": zeros}  # fmt: skip

    counts = [len(accumulator.add(**step(t), terminated=False, truncated=False)) for t in range(5)]
    assert counts == [0, 0, 1, 1, 1]
    ended = accumulator.add(**step(5), terminated=True, truncated=True)
    assert [t.discount for t in ended] == [0.0, 0.0, 0.0]  # terminated wins: no bootstrap
    assert len(accumulator) == 0
    assert accumulator.add(**step(0), terminated=False, truncated=False) == []
    accumulator.reset()
    assert len(accumulator) == 0


def test_a_gap_between_ticks_ends_the_pending_transitions_before_it() -> None:
    """Ticks 0, 1, then (ticks 2 and 3 dropped) 4, 5, 6: nothing sums rewards across the gap."""
    accumulator = NStepAccumulator(n_step=3, gamma=0.9)
    emitted: list[Transition] = []
    for t, reward in ((0, 1.0), (1, 2.0), (4, 5.0), (5, 6.0), (6, 7.0)):
        emitted += accumulator.add(
            obs=_obs(t),
            base_action=np.zeros(ACTION_DIM),
            action=np.zeros(ACTION_DIM),
            reward=reward,
            next_obs=_obs(t + 1),
            next_base_action=np.zeros(ACTION_DIM),
            terminated=False,
            truncated=t == 6,
        )
    assert [float(t.obs[0]) for t in emitted] == [0, 1, 4, 5, 6]
    # before the gap: bootstrap from observation 2, the last one the data has (1 + .9*2 with .81; 2 with .9);
    # after it, to the time-out: 5 + .9*6 + .81*7 = 16.07, 6 + .9*7 = 12.3 and 7
    np.testing.assert_allclose([t.n_step_return for t in emitted[:2]], [2.8, 2.0], rtol=1e-12)
    np.testing.assert_allclose([t.discount for t in emitted[:2]], [0.81, 0.9], rtol=1e-12)
    assert [float(t.next_obs[0]) for t in emitted] == [2, 2, 7, 7, 7]
    np.testing.assert_allclose([t.n_step_return for t in emitted[2:]], [16.07, 12.3, 7.0], rtol=1e-12)
    np.testing.assert_allclose([t.discount for t in emitted[2:]], [0.729, 0.81, 0.9], rtol=1e-12)


def test_one_step_is_plain_td() -> None:
    accumulator = NStepAccumulator(n_step=1, gamma=0.9)
    terminated = _run_episode(accumulator, [1.0, 2.0, 3.0], "terminated")
    assert [t.n_step_return for t in terminated] == [1.0, 2.0, 3.0]
    np.testing.assert_allclose([t.discount for t in terminated], [0.9, 0.9, 0.0])
    assert [float(t.next_obs[0]) for t in terminated] == [1, 2, 3]
    truncated = _run_episode(accumulator, [1.0, 2.0, 3.0], "truncated")
    np.testing.assert_allclose([t.discount for t in truncated], [0.9, 0.9, 0.9])


def test_accumulator_rejects_bad_settings() -> None:
    with pytest.raises(LearnerError, match="gamma"):
        NStepAccumulator(n_step=3, gamma=1.5)
    with pytest.raises(LearnerError, match="n_step"):
        NStepAccumulator(n_step=0, gamma=0.9)


def _batch(start: int, count: int) -> dict[str, np.ndarray]:
    """``count`` transitions whose every field holds its index (start, start + 1, ...)."""
    ids = np.arange(start, start + count, dtype=np.float32)
    return {
        "obs": np.repeat(ids[:, None], OBS_DIM, 1),
        "base_action": np.repeat(ids[:, None], ACTION_DIM, 1),
        "action": np.repeat(ids[:, None], ACTION_DIM, 1),
        "reward": ids.copy(),
        "next_obs": np.repeat(ids[:, None], OBS_DIM, 1) + 1,
        "next_base_action": np.repeat(ids[:, None], ACTION_DIM, 1),
        "discount": np.full(count, 0.9, np.float32),
        "n_step_return": ids.copy(),
    }


def test_ring_buffer_wraps_around_and_keeps_the_newest() -> None:
    buffer = ReplayBuffer(capacity=5, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    arrays_before = {name: id(array) for name, array in buffer.arrays.items()}
    assert all(array.dtype == np.float32 and len(array) == 5 for array in buffer.arrays.values())
    buffer.add_batch(_batch(0, 3))
    assert len(buffer) == 3
    buffer.add_batch(_batch(3, 4))  # 7 in all: 0 and 1 are overwritten by 5 and 6
    assert len(buffer) == 5
    assert sorted(buffer.arrays["reward"].tolist()) == [2, 3, 4, 5, 6]
    assert buffer.arrays["reward"].tolist() == [5, 6, 2, 3, 4]
    buffer.add_batch(_batch(10, 12))  # more than the capacity at once: the newest 5 survive
    assert sorted(buffer.arrays["reward"].tolist()) == [17, 18, 19, 20, 21]
    assert {name: id(array) for name, array in buffer.arrays.items()} == arrays_before  # never reallocated


def test_add_single_transitions_and_sample() -> None:
    buffer = ReplayBuffer(capacity=4, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    accumulator = NStepAccumulator(n_step=1, gamma=0.9)
    for transition in _run_episode(accumulator, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "terminated"):
        buffer.add(transition)
    assert len(buffer) == 4
    batch = buffer.sample(64, np.random.default_rng(0))
    assert set(batch) == set(FIELDS)
    assert batch["obs"].shape == (64, OBS_DIM)
    assert batch["action"].shape == (64, ACTION_DIM)
    assert batch["reward"].shape == (64,)
    assert batch["obs"].dtype == np.float32
    assert set(batch["reward"].tolist()) == {3.0, 4.0, 5.0, 6.0}  # only the 4 newest, all of them drawn
    np.testing.assert_array_equal(batch["next_obs"][:, 0], batch["obs"][:, 0] + 1)  # rows stay aligned


def test_buffer_rejects_bad_data_and_empty_sampling() -> None:
    buffer = ReplayBuffer(capacity=4, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    with pytest.raises(LearnerError, match="empty"):
        buffer.sample(2, np.random.default_rng(0))
    bad = _batch(0, 2)
    bad["obs"] = np.zeros((2, OBS_DIM + 1))
    with pytest.raises(LearnerError, match="obs"):
        buffer.add_batch(bad)
    bad = _batch(0, 2)
    bad["reward"][1] = np.nan
    with pytest.raises(LearnerError, match="NaN"):
        buffer.add_batch(bad)
    bad = _batch(0, 2)
    del bad["discount"]
    with pytest.raises(LearnerError, match="discount"):
        buffer.add_batch(bad)
    assert len(buffer) == 0
    with pytest.raises(LearnerError, match="capacity"):
        ReplayBuffer(capacity=0, obs_dim=OBS_DIM)


@pytest.mark.parametrize("stored", [3, 7])
def test_state_dict_round_trip_samples_the_same(stored: int) -> None:
    buffer = ReplayBuffer(capacity=5, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    buffer.add_batch(_batch(0, stored))
    state = buffer.state_dict()
    assert all(isinstance(value, np.ndarray) for value in state.values())
    restored = ReplayBuffer(capacity=5, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    restored.load_state_dict(state)
    assert len(restored) == len(buffer)
    for name in FIELDS:
        np.testing.assert_array_equal(restored.arrays[name], buffer.arrays[name])
    a, b = buffer.sample(16, np.random.default_rng(3)), restored.sample(16, np.random.default_rng(3))
    assert all(np.array_equal(a[name], b[name]) for name in FIELDS)
    buffer.add_batch(_batch(100, 1))
    restored.add_batch(_batch(100, 1))  # the cursor survived: the same row is overwritten
    np.testing.assert_array_equal(restored.arrays["reward"], buffer.arrays["reward"])
    with pytest.raises(LearnerError, match="capacity"):
        ReplayBuffer(capacity=6, obs_dim=OBS_DIM, action_dim=ACTION_DIM).load_state_dict(state)


def test_sample_mixed_takes_half_from_each() -> None:
    online = ReplayBuffer(capacity=10, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    offline = ReplayBuffer(capacity=10, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    online.add_batch(_batch(0, 5))  # rewards 0..4
    offline.add_batch(_batch(100, 5))  # rewards 100..104
    rng = np.random.default_rng(0)
    batch = sample_mixed(online, offline, 9, rng)
    assert batch["reward"].shape == (9,)
    from_online = batch["reward"] < 100
    assert from_online.sum() == 5
    assert from_online[:5].all()
    np.testing.assert_array_equal(batch["offline"], ~from_online)
    batch = sample_mixed(online, offline, 256, rng)
    assert (batch["reward"] < 100).sum() == 128


def test_sample_mixed_falls_back_to_the_filled_buffer() -> None:
    online = ReplayBuffer(capacity=10, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    offline = ReplayBuffer(capacity=10, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    rng = np.random.default_rng(0)
    with pytest.raises(LearnerError, match="both empty"):
        sample_mixed(online, offline, 8, rng)
    with pytest.raises(LearnerError, match="both empty"):
        sample_mixed(None, None, 8, rng)
    offline.add_batch(_batch(100, 3))
    assert (sample_mixed(online, offline, 8, rng)["reward"] >= 100).all()
    only_offline = sample_mixed(None, offline, 8, rng)
    assert (only_offline["reward"] >= 100).all()
    assert (only_offline["offline"] == 1).all()
    online.add_batch(_batch(0, 3))
    only_online = sample_mixed(online, None, 8, rng)
    assert (only_online["reward"] < 100).all()
    assert (only_online["offline"] == 0).all()
    wider = ReplayBuffer(capacity=4, obs_dim=OBS_DIM + 1, action_dim=ACTION_DIM)
    wider.add_batch({**_batch(0, 1), "obs": np.zeros((1, OBS_DIM + 1)), "next_obs": np.zeros((1, OBS_DIM + 1))})
    with pytest.raises(LearnerError, match="differ"):
        sample_mixed(online, wider, 8, rng)


def test_concatenate_keeps_every_transition_in_order() -> None:
    first, second = (ReplayBuffer(capacity, OBS_DIM, ACTION_DIM) for capacity in (5, 4))
    first.add_batch(_batch(0, 3))
    second.add_batch(_batch(10, 1))
    joined = concatenate(first, ReplayBuffer(2, OBS_DIM, ACTION_DIM), second)
    assert (len(joined), joined.capacity) == (4, 4)
    for name, array in joined.arrays.items():
        np.testing.assert_array_equal(array, np.concatenate([_batch(0, 3)[name], _batch(10, 1)[name]]))
    with pytest.raises(LearnerError, match="every buffer is empty"):
        concatenate(ReplayBuffer(2, OBS_DIM, ACTION_DIM))
    with pytest.raises(LearnerError, match="differ"):
        concatenate(first, ReplayBuffer(2, OBS_DIM + 1, ACTION_DIM))


def test_pooled_buffer_samples_its_sources_in_proportion_to_their_sizes() -> None:
    demos = ReplayBuffer(capacity=100, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    corrections = ReplayBuffer(capacity=100, obs_dim=OBS_DIM, action_dim=ACTION_DIM)
    demos.add_batch(_batch(100, 30))  # rewards 100..129
    pooled = PooledBuffer(demos, corrections)
    assert len(pooled) == 30
    rng = np.random.default_rng(0)
    assert (pooled.sample(64, rng)["reward"] >= 100).all()  # an empty source contributes nothing
    corrections.add_batch(_batch(0, 10))  # rewards 0..9: a quarter of the union
    assert len(pooled) == 40
    batch = pooled.sample(4000, rng)
    assert batch["reward"].shape == (4000,)
    assert abs((batch["reward"] < 100).mean() - 0.25) < 0.03
    half = sample_mixed(None, pooled, 8, rng)
    assert half["reward"].shape == (8,)
    with pytest.raises(LearnerError, match="empty"):
        PooledBuffer(ReplayBuffer(capacity=4, obs_dim=OBS_DIM, action_dim=ACTION_DIM)).sample(4, rng)
    wider = ReplayBuffer(capacity=4, obs_dim=OBS_DIM + 1, action_dim=ACTION_DIM)
    with pytest.raises(LearnerError, match="differ"):
        PooledBuffer(demos, wider)
