"""The residual trainer in a child process: TD3 updates on the second core, without the graph's GIL.

In the in-process graph the sim, the nodes and the learner share one Python interpreter. On a background thread the
learner's updates (~100 small torch calls each) wait for the GIL after every call while the sim's thread runs
Python (benchmarks/learner_throughput.py measures both placements). :class:`TrainerProcess`
runs the whole :class:`~robot_rl.rl.trainer.ResidualTrainer` (buffers, learner, checkpoints, metrics log) in a
child process with :class:`~robot_rl.rl.trainer.ResidualTrainer`'s interface, so the learner node does not change.

The two talk over one pipe, messages handled in order (pickled Python objects between two processes of one run;
nothing read from disk is unpickled):

- parent to child: ``("add", Step)``, ``("abort",)``, ``("cut",)``, ``("episode", mode, success, return, length)``,
  ``("weights",)``, ``("checkpoint",)``, ``("summary",)``, ``("close",)``;
- child to parent: ``("ready", counters)`` once, ``("ack", counters)`` after every ``add`` and its updates, the
  answer to each request, and ``("error", text)`` before it exits on a failure.

``add`` returns once at most ``max_lag_steps`` steps are unacknowledged, so the update-to-data ratio holds whatever
the two speeds, as in the caller's thread. The child processes the same calls in the same order as an inline
trainer would, so both produce the same weights from the same data and seeds (tested). The child ignores SIGINT
(the parent ends the run: it checkpoints, then closes) and exits when the pipe closes (the parent died).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import LearnerError
from robot_rl.rl.checkpoint import ResidualMetadata
from robot_rl.rl.replay import ReplayBuffer
from robot_rl.rl.td3 import ResidualTD3, TD3Config
from robot_rl.rl.trainer import ResidualTrainer, TrainerConfig
from robot_rl.rl.transitions import Step

START_TIMEOUT_S = 120.0  # the child imports torch and loads a resumed training state (large buffers) in this time
REQUESTS = ("weights", "checkpoint", "summary", "close")  # the messages the child answers with one of the same kind


@dataclass(frozen=True)
class LearnerSpec:
    """What the child needs to build the learner (:class:`~robot_rl.rl.td3.ResidualTD3`'s arguments)."""

    config: TD3Config  # hyperparameters
    obs_dim: int  # observation size
    obs_mean: np.ndarray  # (obs_dim,) observation mean for the normalizer, observation units
    obs_std: np.ndarray  # (obs_dim,) observation std, observation units
    action_dim: int = 7  # action size

    def build(self) -> ResidualTD3:
        """A fresh learner."""
        return ResidualTD3(self.config, self.obs_dim, self.action_dim, self.obs_mean, self.obs_std)


def make_trainer(
    spec: LearnerSpec,
    metadata: ResidualMetadata,
    out_dir: Path,
    offline: ReplayBuffer | None,
    config: TrainerConfig,
    seed: int = 0,
) -> ResidualTrainer | TrainerProcess:
    """The trainer ``config.own_process`` asks for: in a child process, or in the caller's thread."""
    if config.own_process:
        return TrainerProcess(spec, metadata, out_dir, offline, config, seed)
    return ResidualTrainer(spec.build(), metadata, out_dir, offline, config, seed)


def _counters(trainer: ResidualTrainer) -> dict[str, Any]:
    return {
        "env_steps": trainer.env_steps,
        "episodes": trainer.episodes,
        "critic_updates": trainer.critic_updates,
        "actor_updates": trainer.actor_updates,
        "wall_s": trainer.wall_s(),
    }


def _serve(connection: Connection, arguments: tuple[Any, ...]) -> None:
    """The child: build the trainer (resuming if the output holds a run), then answer messages until closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        spec, metadata, out_dir, offline, config, seed = arguments
        trainer = ResidualTrainer(spec.build(), metadata, out_dir, offline, config, seed)
        connection.send(("ready", _counters(trainer)))
        while True:
            try:
                kind, *payload = connection.recv()
            except EOFError:  # the parent is gone
                return
            if kind == "add":
                trainer.add(payload[0])
                connection.send(("ack", _counters(trainer)))
            elif kind == "abort":
                trainer.abort_episode()
            elif kind == "cut":
                trainer.cut_episode()
            elif kind == "episode":
                trainer.episode_finished(*payload)
            elif kind == "weights":
                connection.send(("weights", trainer.weights()))
            elif kind == "checkpoint":
                trainer.checkpoint()
                connection.send(("checkpoint", None))
            elif kind == "summary":
                connection.send(("summary", trainer.summary()))
            elif kind == "close":
                connection.send(("close", None))
                return
            else:
                raise LearnerError(f"unknown trainer message {kind!r}")
    except BaseException as error:  # reported to the parent, which raises it on its next call
        with contextlib.suppress(OSError, EOFError):
            connection.send(("error", f"{type(error).__name__}: {error}"))
            # stay until the parent lets go: closing with its messages unread would reset the pipe, error and all
            while connection.recv()[0] != "close":
                pass
        raise SystemExit(1) from None


class TrainerProcess:
    """:class:`~robot_rl.rl.trainer.ResidualTrainer` in a child process, behind the same interface.

    Args: as :class:`~robot_rl.rl.trainer.ResidualTrainer`'s, with the learner's :class:`LearnerSpec` instead of
    the learner (the child builds it).

    Raises:
        LearnerError: If the child cannot start or build the trainer (a training state that does not fit, ...);
            later calls raise it when the child failed or died.
    """

    def __init__(
        self,
        spec: LearnerSpec,
        metadata: ResidualMetadata,
        out_dir: Path,
        offline: ReplayBuffer | None,
        config: TrainerConfig,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads and open sockets
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child_end, (spec, metadata, self.out_dir, offline, config, seed)),
            name="residual-trainer",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._unacknowledged = 0  # add messages sent and not yet acknowledged
        # requests sent and not yet answered, by kind: a wait cut short (Ctrl-C) leaves its answer in the pipe, and
        # the next request must skip it instead of taking it for its own
        self._unanswered: dict[str, int] = {kind: 0 for kind in REQUESTS}
        self._failed = False  # a failure or the death of the child was raised
        self._counters: dict[str, Any] = {}
        try:
            self._counters = self._receive("ready", timeout_s=START_TIMEOUT_S)
        except LearnerError:
            self._failed = True
            self.close()
            raise
        self.started = time.monotonic()
        self.wall_offset_s = float(self._counters["wall_s"])
        self._rate: tuple[float, int] = (time.monotonic(), self.critic_updates)

    # -- counters, as ResidualTrainer's (as of the last acknowledged step) -------------------------------

    @property
    def env_steps(self) -> int:
        """Online env steps stored."""
        return int(self._counters["env_steps"]) + self._unacknowledged

    @property
    def episodes(self) -> int:
        """Training episodes finished."""
        return int(self._counters["episodes"])

    @property
    def critic_updates(self) -> int:
        """Critic updates done."""
        return int(self._counters["critic_updates"])

    @property
    def actor_updates(self) -> int:
        """Actor updates done."""
        return int(self._counters["actor_updates"])

    @property
    def failed(self) -> bool:
        """The child failed or died (the failure was raised): its state is not one to checkpoint."""
        return self._failed

    def updates_per_s(self) -> float:
        """Learner updates per wall second since the last call."""
        since, before = self._rate
        now, updates = time.monotonic(), self.critic_updates
        self._rate = (now, updates)
        return (updates - before) / (now - since) if now > since else 0.0

    def wall_s(self) -> float:
        """Wall time of the run, resumed runs included, s."""
        return self.wall_offset_s + time.monotonic() - self.started

    # -- the calls -----------------------------------------------------------------------------------------

    def add(self, step: Step) -> None:
        """Send one step; return once at most ``max_lag_steps`` steps await their updates."""
        self._send("add", step)
        self._unacknowledged += 1
        while self._connection.poll():  # acknowledgements already here
            self._handle(self._connection.recv())
        while self._unacknowledged > self.config.max_lag_steps:
            self._receive("ack")

    def abort_episode(self) -> None:
        """Drop steps still pending in the n-step accumulator."""
        self._send("abort")

    def cut_episode(self) -> None:
        """End the running episode at its last stored step, as a time-out would."""
        self._send("cut")

    def episode_finished(self, mode: str, success: bool, episode_return: float, length: int) -> None:
        """Log one finished episode; the child checkpoints when due."""
        self._send("episode", mode, success, episode_return, length)
        if mode == "train":
            self._counters["episodes"] = self.episodes + 1  # the child counts it too, in order

    def weights(self) -> tuple[bytes, int]:
        """The current actor as a weights message blob and its new version (after every step sent)."""
        self._send("weights")
        blob, version = self._receive("weights")
        return blob, version

    def checkpoint(self) -> None:
        """Write the actor and the training state (after every step sent)."""
        self._send("checkpoint")
        self._receive("checkpoint")

    def summary(self) -> dict[str, Any]:
        """Counters for progress displays (after every step sent)."""
        self._send("summary")
        return self._receive("summary")

    def close(self) -> None:
        """End the child after the messages sent so far; kill it if it does not answer within a minute.

        Raises:
            LearnerError: If the child fails on the messages still in flight (not again for a failure reported).
        """
        try:
            if self._failed:  # the child waits for this message to exit (or is gone)
                with contextlib.suppress(OSError):
                    self._connection.send(("close",))
            elif self._process.is_alive():
                self._send("close")
                self._receive("close", timeout_s=60.0)
        finally:
            self._process.join(timeout=5.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._connection.close()

    # -- the pipe --------------------------------------------------------------------------------------------

    def _send(self, kind: str, *payload: Any) -> None:
        try:
            self._connection.send((kind, *payload))
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._raise_dead()
        if kind in REQUESTS:
            self._unanswered[kind] += 1

    def _receive(self, kind: str, timeout_s: float | None = None) -> Any:
        """Wait for the next ``kind`` answer, handling acknowledgements on the way."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if not self._connection.poll(1.0):
                if not self._process.is_alive():
                    self._raise_dead()
                if deadline is not None and time.monotonic() > deadline:
                    raise LearnerError(f"the learner process did not answer {kind!r} within {timeout_s:.0f} s")
                continue
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                self._raise_dead()
            if self._unanswered.get(message[0], 0) > 0:
                self._unanswered[message[0]] -= 1
                if message[0] == kind and self._unanswered[kind] == 0:
                    return message[1]
                continue  # the answer to a request whose wait was cut short
            if message[0] == kind and kind != "ack":
                return message[1]
            handled = self._handle(message)
            if kind == "ack" and handled == "ack":
                return None

    def _handle(self, message: tuple[Any, ...]) -> str:
        kind = message[0]
        if kind == "error":
            self._failed = True
            raise LearnerError(f"the learner process failed: {message[1]}")
        if kind in ("ack", "ready"):
            if kind == "ack":
                self._unacknowledged -= 1
            self._counters = message[1]
            return kind
        raise LearnerError(f"unexpected message {kind!r} from the learner process")

    def _raise_dead(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while self._connection.poll(0):  # a last error message explains the exit (raised by _handle)
                self._handle(self._connection.recv())
        self._process.join(timeout=1.0)
        self._failed = True
        raise LearnerError(f"the learner process exited (exit code {self._process.exitcode})")
