"""TrainerProcess: the trainer in a child process gives the inline trainer's results, bounds the sim's lead, resumes,
and reports a failure or a death of its process as one LearnerError."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import LearnerError
from robot_rl.rl.checkpoint import load_residual
from robot_rl.rl.td3 import ResidualTD3
from robot_rl.rl.trainer import ACTOR_DIR, ResidualTrainer
from robot_rl.rl.trainer_process import LearnerSpec, TrainerProcess, make_trainer
from tests.rl.test_trainer import METADATA, OBS_DIM, TD3, offline_demos, steps, trainer_config

# one torch thread in both processes: float sums depend on how a kernel splits them
SPEC = LearnerSpec(dataclasses.replace(TD3, num_threads=1), OBS_DIM, np.zeros(OBS_DIM), np.ones(OBS_DIM))


def feed(trainer: ResidualTrainer | TrainerProcess) -> tuple[bytes, int]:
    """Two episodes (the first a training episode, logged) and the weights after them."""
    for step in steps(12):
        trainer.add(step)
    trainer.episode_finished("train", True, 1.0, 12)
    for step in steps(9, seed=1):
        trainer.add(step)
    return trainer.weights()


def test_make_trainer_builds_what_the_config_asks_for(tmp_path: Path) -> None:
    inline = make_trainer(SPEC, METADATA, tmp_path / "inline", offline_demos(), trainer_config())
    assert isinstance(inline, ResidualTrainer)
    child = make_trainer(SPEC, METADATA, tmp_path / "child", offline_demos(), trainer_config(own_process=True))
    try:
        assert isinstance(child, TrainerProcess)
    finally:
        child.close()


def test_the_child_process_learns_exactly_what_the_inline_trainer_learns(tmp_path: Path) -> None:
    inline = ResidualTrainer(SPEC.build(), METADATA, tmp_path / "inline", offline_demos(), trainer_config(), seed=0)
    child = TrainerProcess(SPEC, METADATA, tmp_path / "child", offline_demos(), trainer_config(), seed=0)
    try:
        expected = feed(inline)
        assert feed(child) == expected  # the same weights, byte for byte, and the same version
        assert (child.env_steps, child.episodes) == (inline.env_steps, inline.episodes) == (21, 1)
        assert (child.critic_updates, child.actor_updates) == (inline.critic_updates, inline.actor_updates)
        assert child.summary() == inline.summary()
        assert (tmp_path / "child" / "metrics.csv").read_text().count("\n") == 2  # header + the training episode
    finally:
        child.close()


def test_the_sim_never_runs_more_than_max_lag_steps_ahead(tmp_path: Path) -> None:
    child = TrainerProcess(SPEC, METADATA, tmp_path, offline_demos(), trainer_config(learning_starts=0))
    try:
        for count, step in enumerate(steps(8), start=1):
            child.add(step)
            acknowledged_steps = child.critic_updates // TD3.utd_ratio  # every step owes utd updates
            assert count - acknowledged_steps <= child.config.max_lag_steps
    finally:
        child.close()


def test_a_checkpoint_from_the_child_resumes_in_a_new_child(tmp_path: Path) -> None:
    child = TrainerProcess(SPEC, METADATA, tmp_path, offline_demos(), trainer_config())
    try:
        for step in steps(6):
            child.add(step)
        child.episode_finished("train", True, 1.0, 6)
        child.checkpoint()
    finally:
        child.close()
    assert load_residual(tmp_path / ACTOR_DIR, METADATA.obs_features).metadata.task == "Lift"
    resumed = TrainerProcess(SPEC, METADATA, tmp_path, offline_demos(), trainer_config())
    try:
        assert (resumed.env_steps, resumed.episodes, resumed.critic_updates) == (6, 1, 2 * (6 - 3))
        assert resumed.wall_s() >= resumed.wall_offset_s > 0
    finally:
        resumed.close()


def test_a_failure_in_the_child_is_one_learner_error_in_the_parent(tmp_path: Path) -> None:
    child = TrainerProcess(SPEC, METADATA, tmp_path, offline_demos(), trainer_config())
    wrong = dataclasses.replace(steps(1)[0], obs=np.zeros(OBS_DIM + 1, np.float32))
    with pytest.raises(LearnerError, match=r"^the learner process failed: LearnerError: .*obs") as caught:  # noqa: PT012
        for _ in range(child.config.max_lag_steps + 2):  # the error comes back with an acknowledgement at the latest
            child.add(wrong)
    assert "\n" not in str(caught.value)
    child.close()  # the child already exited


def test_a_killed_child_is_reported_not_waited_for(tmp_path: Path) -> None:
    child = TrainerProcess(SPEC, METADATA, tmp_path, offline_demos(), trainer_config())
    os.kill(child._process.pid, signal.SIGKILL)
    child._process.join()
    with pytest.raises(LearnerError, match=r"the learner process exited \(exit code -9\)"):
        child.weights()
    child.close()


def test_a_training_state_that_does_not_fit_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    ResidualTrainer(ResidualTD3(TD3, OBS_DIM), METADATA, tmp_path, offline_demos(), trainer_config()).checkpoint()
    wider = LearnerSpec(TD3, OBS_DIM + 1, np.zeros(OBS_DIM + 1, np.float32), np.ones(OBS_DIM + 1, np.float32))
    with pytest.raises(LearnerError, match=r"the learner process failed: PolicyError: training checkpoint .* \(5, 7\)"):
        TrainerProcess(wider, METADATA, tmp_path, None, trainer_config())
