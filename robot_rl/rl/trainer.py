"""The residual learner's training loop state: buffers, updates, checkpoints and metrics.

:class:`ResidualTrainer` is what the learner node drives. It takes one-tick :class:`~robot_rl.rl.transitions.Step` s,
turns them into n-step transitions for the online buffer, runs ``utd_ratio`` TD3 updates per env step on batches
sampled half online, half offline (RLPD; offline = demonstrations plus the ticks a person drove, kept in a
corrections buffer as HIL-SERL does; with ``takeover_penalty`` the tick before a takeover also costs reward, as in
RLIF), and writes the actor checkpoint, the training state (to resume) and a metrics CSV. The updates run in
``add``, in the caller's thread; :mod:`robot_rl.rl.trainer_process` runs the whole trainer in a child process
instead, so that they use the second core while the sim steps.
"""

from __future__ import annotations

import csv
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import LearnerError, PolicyError
from robot_rl.rl.checkpoint import (
    ResidualMetadata,
    encode_actor_weights,
    load_training_state,
    save_residual,
    save_training_state,
    training_state_exists,
)
from robot_rl.rl.replay import NStepAccumulator, PooledBuffer, ReplayBuffer, sample_mixed
from robot_rl.rl.td3 import ResidualTD3, TD3Config
from robot_rl.rl.transitions import Step

ACTOR_DIR = "residual"  # the latest actor checkpoint under the output directory (what the residual node loads)
STATE_DIR = "training_state"  # the resumable training state under the output directory
METRICS_FILE = "metrics.csv"  # one row per finished episode
METRICS_FIELDS = (
    "env_steps",
    "episode",
    "mode",
    "success",
    "return",
    "length",
    "updates",
    "actor_updates",
    "critic_loss",
    "q_mean",
    "residual_abs_mean",
    "corrections",
    "updates_per_s",
    "wall_s",
)


@dataclass(frozen=True)
class TrainerConfig:
    """What the training loop does around the TD3 updates."""

    online_capacity: int = 300_000  # transitions kept in the online ring buffer, >= 1
    corrections_capacity: int = 50_000  # transitions a person drove kept for the offline half (ring buffer), >= 1
    learning_starts_steps: int = 1_000  # online env steps before the first update, >= 0
    # env steps the sim may run ahead of the updates it owes when the trainer runs in its own process, >= 0
    max_lag_steps: int = 2
    checkpoint_every_steps: int = 5_000  # write the actor and the training state this often (at episode ends), >= 1
    # run the trainer in a child process (robot_rl.rl.trainer_process: its updates on the second core, without
    # sharing the GIL with the graph); False: in the caller's thread (the same results, one core)
    own_process: bool = True
    # subtracted from the reward of the last tick the policy drove before a person takes over, >= 0 (0 = off):
    # RLIF's signal that a takeover means the policy was going wrong. Without it a takeover that ends in success
    # costs the policy only the discount over the ticks the person needed (docs/rl.md)
    takeover_penalty: float = 0.0

    def __post_init__(self) -> None:
        for name, minimum in (
            ("online_capacity", 1),
            ("corrections_capacity", 1),
            ("learning_starts_steps", 0),
            ("max_lag_steps", 0),
            ("checkpoint_every_steps", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise LearnerError(f"TrainerConfig.{name} must be an int >= {minimum}, got {value!r}")
        if not isinstance(self.own_process, bool):
            raise LearnerError(f"TrainerConfig.own_process must be true or false, got {self.own_process!r}")
        penalty = self.takeover_penalty
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not 0.0 <= penalty < math.inf:
            raise LearnerError(f"TrainerConfig.takeover_penalty must be a finite number >= 0, got {penalty!r}")


class ResidualTrainer:
    """Online + offline buffers, the learner and its updates, checkpoints and the metrics log.

    Args:
        learner: The TD3 learner (its normalizer already holds the observation statistics).
        metadata: Features, task and base hash recorded with every actor checkpoint and weights message.
        out_dir: Output directory: ``residual/`` (actor), ``training_state/`` (resume), ``metrics.csv``.
        offline: Demonstrations, relabelled; None for none. A person's corrections join them in the offline half.
        config: The loop's own settings.
        seed: Seeds the batch sampling.
    """

    def __init__(
        self,
        learner: ResidualTD3,
        metadata: ResidualMetadata,
        out_dir: Path,
        offline: ReplayBuffer | None = None,
        config: TrainerConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.learner = learner
        self.metadata = metadata
        self.out_dir = Path(out_dir)
        self.config = config or TrainerConfig()
        self.td3: TD3Config = learner.config
        self.online = ReplayBuffer(self.config.online_capacity, learner.obs_dim, learner.action_dim)
        self.offline = offline
        # transitions whose first tick a person drove: online data like any other, and offline data too
        self.corrections = ReplayBuffer(self.config.corrections_capacity, learner.obs_dim, learner.action_dim)
        self.accumulator = NStepAccumulator(self.td3.n_step, self.td3.gamma)
        self._pending_interventions: deque[bool] = deque()  # per step in the accumulator, oldest first
        # the episode's latest step, stored when the next one shows whether a person took over after it
        self._held: Step | None = None
        self.rng = np.random.default_rng(seed)
        self.env_steps = 0  # online env steps stored
        self.episodes = 0  # training episodes finished
        self.weights_version = 0  # versions of the actor published so far
        self.updates_owed = 0  # updates the env steps so far call for
        self.last_stats: dict[str, float] = {}
        self.last_checkpoint_step = 0
        self.failed = False  # an update or a checkpoint raised: the run's state is not one to checkpoint
        self.started = time.monotonic()
        self.wall_offset_s = 0.0  # wall time of earlier (resumed) runs
        self._rate: tuple[float, int] = (time.monotonic(), 0)  # (since, updates then) for updates/s
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if training_state_exists(self.out_dir / STATE_DIR):
            self._resume()

    @property
    def critic_updates(self) -> int:
        """Critic updates done (resumed runs included)."""
        return self.learner.critic_updates

    @property
    def actor_updates(self) -> int:
        """Actor updates done (resumed runs included)."""
        return self.learner.actor_updates

    # -- data ------------------------------------------------------------------------------------------

    def add(self, step: Step) -> None:
        """Store one online step (as n-step transitions), then run ``utd_ratio`` updates once learning started.

        A step is stored one call late, within its episode: the next step tells whether a person took over
        after it (``takeover_penalty``); an episode's last step (terminated or truncated) is stored at once.
        """
        held, self._held = self._held, None
        if held is not None:
            takeover = step.intervention and not held.intervention
            adjacent = np.array_equal(held.next_obs, step.obs)  # not across dropped ticks: who drove between?
            if takeover and adjacent and self.config.takeover_penalty:
                held = replace(held, reward=held.reward - self.config.takeover_penalty)
            self._store(held)
        if step.terminated or step.truncated:
            self._store(step)
        else:
            self._held = step
        self.env_steps += 1
        if self.env_steps > self.config.learning_starts_steps:
            self.updates_owed += self.td3.utd_ratio
        self._run_owed_updates()

    def _store(self, step: Step) -> None:
        self._pending_interventions.append(step.intervention)
        for transition in self.accumulator.add(
            step.obs,
            step.base_action,
            step.action,
            step.reward,
            step.next_obs,
            step.next_base_action,
            step.terminated,
            step.truncated,
        ):
            self.online.add(transition)
            if self._pending_interventions.popleft():  # transitions come out oldest first, one per step
                self.corrections.add(transition)

    def cut_episode(self) -> None:
        """End the running episode at its last stored step, as a time-out would (a stop in the middle of it): the held
        step bootstraps from its next observation and the n-step tail is stored with it."""
        held, self._held = self._held, None
        if held is not None:
            self._store(replace(held, truncated=True))

    def abort_episode(self) -> None:
        """Drop steps not stored yet (an episode that ended without an end event)."""
        self._held = None
        self.accumulator.reset()
        self._pending_interventions.clear()

    # -- updates ---------------------------------------------------------------------------------------

    def _sample(self) -> dict[str, np.ndarray]:
        offline = PooledBuffer(*[b for b in (self.offline, self.corrections) if b is not None])
        return sample_mixed(
            self.online if len(self.online) else None,
            offline if len(offline) else None,
            self.td3.batch_size,
            self.rng,
        )

    def _run_owed_updates(self) -> None:
        try:
            while self.learner.critic_updates < self.updates_owed:
                self.last_stats = self.learner.update(self._sample())
        except Exception:  # not Ctrl-C: a stop mid-update still checkpoints the state before it
            self.failed = True
            raise

    # -- episodes, weights, checkpoints ------------------------------------------------------------------

    def updates_per_s(self) -> float:
        """Learner updates per wall second since the last call."""
        since, before = self._rate
        now, updates = time.monotonic(), self.learner.critic_updates
        self._rate = (now, updates)
        return (updates - before) / (now - since) if now > since else 0.0

    def wall_s(self) -> float:
        """Wall time of the run, resumed runs included, s."""
        return self.wall_offset_s + time.monotonic() - self.started

    def episode_finished(self, mode: str, success: bool, episode_return: float, length: int) -> None:
        """Log one finished episode (train or eval); checkpoint when due after a training episode."""
        if mode == "train":
            self.episodes += 1
        stats = self.last_stats
        updates, actor_updates = self.learner.critic_updates, self.learner.actor_updates
        row = {
            "env_steps": self.env_steps,
            "episode": self.episodes,
            "mode": mode,
            "success": int(success),
            "return": f"{episode_return:.4f}",
            "length": length,
            "updates": updates,
            "actor_updates": actor_updates,
            "critic_loss": f"{stats.get('critic_loss', math.nan):.6g}",
            "q_mean": f"{stats.get('q_mean', math.nan):.6g}",
            "residual_abs_mean": f"{stats.get('residual_abs_mean', math.nan):.6g}",
            "corrections": len(self.corrections),
            "updates_per_s": f"{self.updates_per_s():.2f}",
            "wall_s": f"{self.wall_s():.1f}",
        }
        path = self.out_dir / METRICS_FILE
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRICS_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        if mode == "train" and self.env_steps - self.last_checkpoint_step >= self.config.checkpoint_every_steps:
            self.checkpoint()

    def weights(self) -> tuple[bytes, int]:
        """The current actor as a weights message blob and its new version."""
        self.weights_version += 1
        return encode_actor_weights(self.learner, self.metadata, self.weights_version), self.weights_version

    def checkpoint(self) -> None:
        """Write the actor (``residual/``) and the training state (``training_state/``).

        Raises:
            LearnerError: If either cannot be written (a full disk, a path taken, non-finite weights); the run is
                then :attr:`failed`, and ends: training on without checkpoints would lose its work at the next stop.
        """
        try:
            save_residual(self.out_dir / ACTOR_DIR, self.learner, self.metadata)
            buffers = {"online": self.online, "corrections": self.corrections}
            save_training_state(self.out_dir / STATE_DIR, self.learner, buffers, self._resume_counters(), self.rng)
        except (OSError, PolicyError) as error:
            self.failed = True
            raise LearnerError(f"checkpoint to {self.out_dir} failed: {error}") from None
        self.last_checkpoint_step = self.env_steps

    def _resume_counters(self) -> dict[str, float]:
        """The counters a checkpoint saves and a resume restores."""
        return {
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "weights_version": self.weights_version,
            "updates_owed": self.updates_owed,
            "wall_s": self.wall_s(),
        }

    def _resume(self) -> None:
        buffers = {"online": self.online, "corrections": self.corrections}
        counters = load_training_state(self.out_dir / STATE_DIR, self.learner, buffers, self.rng)
        missing = [name for name in self._resume_counters() if name not in counters]
        if missing:
            raise PolicyError(f"training checkpoint {self.out_dir / STATE_DIR} lacks the counters {', '.join(missing)}")
        self.env_steps = int(counters["env_steps"])
        self.episodes = int(counters["episodes"])
        self.weights_version = int(counters["weights_version"])
        self.updates_owed = int(counters["updates_owed"])
        self.wall_offset_s = float(counters["wall_s"])
        self.last_checkpoint_step = self.env_steps
        _truncate_metrics(self.out_dir / METRICS_FILE, self.env_steps)

    def summary(self) -> dict[str, Any]:
        """Counters for progress displays."""
        return {
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "updates": self.learner.critic_updates,
            "actor_updates": self.learner.actor_updates,
            "online": len(self.online),
            "corrections": len(self.corrections),
            "critic_loss": self.last_stats.get("critic_loss", math.nan),
        }

    def close(self) -> None:
        """Nothing to release in the caller's thread (:class:`~robot_rl.rl.trainer_process.TrainerProcess` ends
        its process here)."""


def _truncate_metrics(path: Path, env_steps: int) -> None:
    """Drop the metrics rows logged after the checkpoint a run resumes from (they are run again)."""
    _rewrite_metrics(path, lambda row: int(row["env_steps"]) <= env_steps)


def discard_evaluation_rows(out_dir: Path, env_steps: int) -> None:
    """Drop the rows of an evaluation at ``env_steps`` from ``metrics.csv``: for a resumed run that redoes an
    evaluation its stop interrupted (its rows were logged at the checkpoint's step, and would be logged again)."""
    _rewrite_metrics(
        Path(out_dir) / METRICS_FILE, lambda row: row["mode"] != "eval" or int(row["env_steps"]) != env_steps
    )


def _rewrite_metrics(path: Path, keep: Callable[[dict[str, str]], bool]) -> None:
    if not path.exists():
        return
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if keep(row)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRICS_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
