"""ResidualTrainer: update-to-data ratio, weights, metrics, checkpoint and resume, corrections (in the caller's
thread; tests/rl/test_trainer_process.py runs it in its own process)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import LearnerError, PolicyError
from robot_rl.rl.checkpoint import ResidualMetadata, decode_actor_weights, load_residual
from robot_rl.rl.replay import ReplayBuffer, Transition
from robot_rl.rl.td3 import ResidualTD3, TD3Config
from robot_rl.rl.trainer import (
    ACTOR_DIR,
    METRICS_FILE,
    STATE_DIR,
    ResidualTrainer,
    TrainerConfig,
    discard_evaluation_rows,
)
from robot_rl.rl.transitions import Step

OBS_DIM = 5
METADATA = ResidualMetadata(tuple(f"o{i}" for i in range(OBS_DIM)), "Lift", "0" * 64)
TD3 = TD3Config(batch_size=8, critic_hidden=(16,), actor_hidden=(16,), critic_warmup_updates=4, utd_ratio=2)


def offline_demos() -> ReplayBuffer:
    """32 random demonstration transitions (reward 0)."""
    rng = np.random.default_rng(1)
    offline = ReplayBuffer(64, OBS_DIM, 7)
    for _ in range(32):
        offline.add(
            Transition(rng.normal(size=OBS_DIM), rng.uniform(-1, 1, 7), rng.uniform(-1, 1, 7), 0.0,
                       rng.normal(size=OBS_DIM), rng.uniform(-1, 1, 7), 0.97, 0.0)
        )  # fmt: skip
    return offline


def trainer_config(
    learning_starts: int = 3, checkpoint_every: int = 1000, own_process: bool = False, takeover_penalty: float = 0.0
) -> TrainerConfig:
    return TrainerConfig(
        online_capacity=100,
        learning_starts_steps=learning_starts,
        checkpoint_every_steps=checkpoint_every,
        own_process=own_process,
        takeover_penalty=takeover_penalty,
    )


def make_trainer(
    out: Path, learning_starts: int = 3, checkpoint_every: int = 1000, takeover_penalty: float = 0.0
) -> ResidualTrainer:
    config = trainer_config(learning_starts, checkpoint_every, takeover_penalty=takeover_penalty)
    return ResidualTrainer(ResidualTD3(TD3, OBS_DIM), METADATA, out, offline_demos(), config, seed=0)


def steps(count: int, seed: int = 0) -> list[Step]:
    rng = np.random.default_rng(seed)

    def vector(size: int) -> np.ndarray:
        return rng.uniform(-1, 1, size).astype(np.float32)

    zero = np.zeros(7, np.float32)
    last = count - 1
    observations = [vector(OBS_DIM) for _ in range(count + 1)]  # consecutive ticks: each next_obs is the next obs
    return [Step(observations[t], zero, vector(7), float(t == last), observations[t + 1], zero, t == last, False)
            for t in range(count)]  # fmt: skip


def test_updates_keep_the_update_to_data_ratio_after_learning_starts(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    for step in steps(10):
        trainer.add(step)
    assert trainer.env_steps == 10
    assert trainer.critic_updates == 2 * (10 - 3)  # utd 2 after 3 steps
    assert trainer.actor_updates == (14 - 4) // 2  # after 4 warm-up updates, every 2nd
    assert len(trainer.online) == 10


def test_weights_decode_with_increasing_versions(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    first, version = trainer.weights()
    second, next_version = trainer.weights()
    assert (version, next_version) == (1, 2)
    bundle, decoded_version = decode_actor_weights(second, METADATA.obs_features)
    assert decoded_version == 2
    assert bundle.metadata.task == "Lift"
    assert first != b""


def test_checkpoint_resume_restores_counters_and_drops_later_metrics(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    for step in steps(6):
        trainer.add(step)
    trainer.episode_finished("train", True, 1.0, 6)
    trainer.checkpoint()
    for step in steps(4, seed=1):
        trainer.add(step)
    trainer.episode_finished("train", False, 0.0, 4)  # after the checkpoint: dropped on resume
    updates_at_checkpoint = 2 * (6 - 3)
    resumed = make_trainer(tmp_path)
    assert resumed.env_steps == 6
    assert resumed.episodes == 1
    assert resumed.critic_updates == updates_at_checkpoint
    assert len(resumed.online) == 6
    with open(tmp_path / METRICS_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["env_steps"]) for row in rows] == [6]
    assert load_residual(tmp_path / ACTOR_DIR, METADATA.obs_features).metadata.base_weights_hash == "0" * 64


def test_discarding_an_evaluation_keeps_training_rows_and_other_evaluations(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    trainer.episode_finished("eval", True, 1.0, 4)  # the evaluation at 0 env steps
    for step in steps(6):
        trainer.add(step)
    trainer.episode_finished("train", True, 1.0, 6)
    trainer.episode_finished("eval", False, 0.0, 4)  # an evaluation at 6 env steps, cut short
    discard_evaluation_rows(tmp_path, 6)
    with open(tmp_path / METRICS_FILE, newline="") as handle:
        rows = [(row["mode"], int(row["env_steps"])) for row in csv.DictReader(handle)]
    assert rows == [("eval", 0), ("train", 6)]


def test_a_kill_between_the_renames_of_a_checkpoint_resumes_from_the_old_copy(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    for step in steps(5):
        trainer.add(step)
    trainer.checkpoint()
    (tmp_path / STATE_DIR).rename(tmp_path / f"{STATE_DIR}.old")  # the new copy never got its name
    resumed = make_trainer(tmp_path)
    assert resumed.env_steps == 5
    assert len(resumed.online) == 5


def test_a_checkpoint_without_a_resume_counter_is_one_error(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    trainer.checkpoint()
    state = tmp_path / STATE_DIR / "training.json"
    record = json.loads(state.read_text())
    del record["counters"]["updates_owed"]
    state.write_text(json.dumps(record))
    with pytest.raises(PolicyError, match="lacks the counters updates_owed"):
        make_trainer(tmp_path)


def test_trainer_config_is_validated() -> None:
    with pytest.raises(LearnerError, match=r"TrainerConfig.learning_starts_steps must be an int >= 0"):
        TrainerConfig(learning_starts_steps=-1)
    with pytest.raises(LearnerError, match=r"TrainerConfig.own_process must be true or false, got 'yes'"):
        TrainerConfig(own_process="yes")
    for penalty in (-0.5, float("nan"), float("inf"), True, "1"):
        with pytest.raises(LearnerError, match=r"TrainerConfig.takeover_penalty must be a finite number >= 0"):
            TrainerConfig(takeover_penalty=penalty)


def test_the_tick_before_each_takeover_pays_the_penalty(tmp_path: Path) -> None:
    # A 9-tick episode: the person drives ticks 0 (no tick before it), 3-4 and 7-8; reward 1 on the last tick.
    # n_step 3, gamma 0.99: the transitions starting at ticks 2 and 6 (the last ticks the policy drove before a
    # takeover) carry -0.5 first; those starting one or two ticks earlier see it discounted.
    trainer = make_trainer(tmp_path, learning_starts=100, takeover_penalty=0.5)
    episode = [dataclasses.replace(step, intervention=t in (0, 3, 4, 7, 8)) for t, step in enumerate(steps(9))]
    for step in episode:
        trainer.add(step)
    gamma = TD3.gamma
    rewards = [0.0, 0.0, -0.5, 0.0, 0.0, 0.0, -0.5, 0.0, 1.0]
    expected = [sum(gamma**i * rewards[t + i] for i in range(min(3, 9 - t))) for t in range(9)]
    np.testing.assert_allclose(trainer.online.arrays["n_step_return"][:9], expected, rtol=1e-6)
    np.testing.assert_allclose(trainer.online.arrays["reward"][:9], rewards)
    assert len(trainer.corrections) == 5  # the person's ticks keep the task's reward
    np.testing.assert_allclose(trainer.corrections.arrays["reward"][:5], [0.0, 0.0, 0.0, 0.0, 1.0])


def test_no_penalty_across_dropped_ticks(tmp_path: Path) -> None:
    # Ticks 0-1 by the policy, then ticks dropped (who drove them is unknown), then the person: no penalty.
    trainer = make_trainer(tmp_path, learning_starts=100, takeover_penalty=0.5)
    before, after = steps(2, seed=2), steps(3, seed=3)
    for step in [dataclasses.replace(before[0]), dataclasses.replace(before[1], terminated=False, reward=0.0)]:
        trainer.add(step)
    for step in after:
        trainer.add(dataclasses.replace(step, intervention=True))
    np.testing.assert_allclose(trainer.online.arrays["reward"][:5], [0.0, 0.0, 0.0, 0.0, 1.0])


def test_without_a_penalty_takeovers_leave_the_rewards_alone(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, learning_starts=100)
    for t, step in enumerate(steps(6)):
        trainer.add(dataclasses.replace(step, intervention=t >= 3))
    np.testing.assert_allclose(trainer.online.arrays["reward"][:6], [0, 0, 0, 0, 0, 1])


def test_a_step_held_for_the_penalty_is_dropped_with_an_aborted_episode(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, learning_starts=100, takeover_penalty=1.0)
    unfinished = [dataclasses.replace(step, terminated=False) for step in steps(2)]
    for step in unfinished:
        trainer.add(step)
    trainer.abort_episode()
    episode = steps(3, seed=1)
    episode[0] = dataclasses.replace(episode[0], intervention=True)  # a takeover on an episode's first tick
    for step in episode:
        trainer.add(step)
    assert len(trainer.online) == 3  # the next episode's ticks only, none penalized
    np.testing.assert_array_equal(trainer.online.arrays["obs"][:3], [step.obs for step in episode])
    np.testing.assert_allclose(trainer.online.arrays["reward"][:3], [0, 0, 1])


def test_ticks_a_person_drove_become_corrections_in_the_offline_half(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, learning_starts=100)
    try:
        episode = steps(8)
        episode = [dataclasses.replace(step, intervention=t in (2, 3, 7)) for t, step in enumerate(episode)]
        for step in episode:
            trainer.add(step)
        assert len(trainer.online) == 8
        assert len(trainer.corrections) == 3  # n-step transitions that start at a person's tick
        np.testing.assert_array_equal(trainer.corrections.arrays["action"][:3], [episode[t].action for t in (2, 3, 7)])
        assert trainer.summary()["corrections"] == 3
        batch = trainer._sample()  # offline half: 32 demonstration rows (reward 0) and 3 corrections
        assert batch["reward"].shape == (TD3.batch_size,)
        trainer.checkpoint()
    finally:
        trainer.close()
    resumed = make_trainer(tmp_path, learning_starts=100)
    try:
        assert len(resumed.corrections) == 3  # corrections survive a resume
    finally:
        resumed.close()
