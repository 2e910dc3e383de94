"""One-tick steps from what the graph already carries, for the learner.

A control tick of the graph delivers, in this order: the sim's new observation and the reward of the
previous command (``/robot_rl/reward``), an end event if the episode just ended (``/robot_rl/episode``:
``success``, ``timeout``; a person's ``failure``), the base action for the new observation
(``/robot_rl/base_action``) and the command the safety gate actually applied (``/robot_rl/safe_command``).
:class:`StepBuilder` pairs them into steps ``(obs_t, base_t, executed_t, r_t, obs_t+1, base_t+1,
terminated, truncated)``:

- the executed action is the safety gate's output, so a clamp, a hold or a person's takeover is what the
  critic learns from, not what the policy asked for;
- ``success`` and a person's ``failure`` end the episode for real (``terminated``: no bootstrap);
  ``timeout`` only ends our view of it (``truncated``: the step waits for the base action on the final
  observation, which the graph still computes, and bootstraps from it);
- a person's key (``success``, ``failure`` with ``"source": "human"``) arrives after the base acted on the
  observation the person judged, in the same tick as a command that is never executed; so a step is released
  only when the next tick's command shows that the episode went on, and a key makes the held step the
  episode's last (terminated; a success key gives it the success reward);
- a tick with no executed command loses its own step; a tick with no base action (the base skipped it) loses
  its own and the previous one (whose next observation has no base action to bootstrap from); both are counted
  in :attr:`StepBuilder.drops` by reason, and the n-step accumulator does not chain steps across the gap;
- a tick a person drove (``/robot_rl/intervention`` true before its command) is marked ``intervention``: the
  trainer keeps it as a correction too (HIL-SERL: takeovers go into the online and the offline data).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from robot_rl.episode_events import SUCCESS_REWARD

TERMINAL_EVENTS = ("success", "failure")  # true ends of an episode: no bootstrap
TRUNCATING_EVENTS = ("timeout",)  # the horizon: bootstrap from the final observation

# why a tick was dropped (the keys of StepBuilder.drops)
NO_COMMAND = "no command"  # the tick's base action came, its executed command did not before the next tick or the end
NO_REWARD = "no reward"  # executed, but the next tick's command came before its reward and next observation
SKIPPED_TICK = "skipped tick"  # two rewards without a base action between: the tick the base skipped and the one before
RESTART = "restart"  # a start event while ticks of the last episode were still open
STOPPED = "stopped"  # executed, never scored: the run stopped in the middle of the episode
UNKNOWN_END = "unknown end"  # an end event of a kind that is neither terminal nor truncating


@dataclass(frozen=True)
class Step:
    """One control tick of one episode, ready for :class:`~robot_rl.rl.replay.NStepAccumulator`."""

    obs: np.ndarray  # (obs_dim,) observation at t
    base_action: np.ndarray  # (7,) base policy action at t, normalized units
    action: np.ndarray  # (7,) executed action at t (the safety gate's output), normalized units
    reward: float  # r_t, the reward of the executed action
    next_obs: np.ndarray  # (obs_dim,) observation at t + 1 (the final one after a time-out)
    next_base_action: np.ndarray  # (7,) base action at t + 1
    terminated: bool  # the episode ended for real at t + 1 (success, a person's failure)
    truncated: bool  # the episode hit its horizon at t + 1
    intervention: bool = False  # a person drove tick t (the executed action is theirs)


@dataclass
class _Open:
    """A tick whose action went out, waiting for its reward and the next observation."""

    obs: np.ndarray
    base_action: np.ndarray
    action: np.ndarray | None = None
    intervention: bool = False
    reward: float | None = None
    end: str | None = None  # the end event seen after this tick's action
    # a reward came before this tick's command: the sim went on without it (an end event then loses the tick)
    scored_without_command: bool = False


class StepBuilder:
    """Pairs the messages of consecutive ticks into :class:`Step` s (see the module docstring)."""

    def __init__(self) -> None:
        self._current: _Open | None = None  # this tick: observation and base action, then the executed action
        self._previous: _Open | None = None  # the last tick: executed, waiting for reward and next observation
        # the last tick's complete step, held until this tick's command shows that the episode went on: a
        # person's end key comes after this tick's base action and makes it the episode's last step
        self._closed: Step | None = None
        self.running = False  # between a start and an end event
        self.drops: Counter[str] = Counter()  # ticks lost because a piece was missing, by reason (NO_COMMAND, ...)

    @property
    def dropped(self) -> int:
        """Ticks lost because a piece was missing, whatever the reason."""
        return sum(self.drops.values())

    def _drop(self, reason: str, ticks: int = 1) -> None:
        if ticks:
            self.drops[reason] += int(ticks)

    def start(self) -> None:
        """An episode starts: forget any open tick."""
        self._drop(
            RESTART, int(self._previous is not None) + int(self._current is not None) + int(self._closed is not None)
        )
        self._current = self._previous = self._closed = None
        self.running = True

    def observe(self, obs: np.ndarray, base_action: np.ndarray) -> Step | None:
        """The base action for a new observation: closes the previous tick's step.

        Returns the step released now: after a time-out, the episode's last step at once; while the episode runs,
        a step closed earlier whose next tick got no command (the one closed now waits for this tick's command).
        """
        finished = self._close(obs, base_action)
        if not self.running:
            return finished
        self._drop(NO_COMMAND, self._current is not None)  # the last tick got no executed action
        self._current = _Open(np.asarray(obs, np.float32), np.asarray(base_action, np.float32))
        released, self._closed = self._closed, finished
        return released

    @property
    def awaiting_final_base_action(self) -> bool:
        """A time-out ended the episode and its last step waits for the base action on the final observation."""
        return not self.running and self._previous is not None and self._previous.end in TRUNCATING_EVENTS

    def executed(self, action: np.ndarray, intervention: bool = False) -> Step | None:
        """The command the safety gate applied for the current tick; ``intervention``: a person drove it.

        Returns the previous tick's step: the episode went on past it. A command that comes after the sim scored its
        tick was never executed on that tick's observation (the sim went on without it): the tick is dropped.
        """
        if self._current is None or not self.running:
            return None  # a hold between episodes, or a tick the base skipped
        if self._current.scored_without_command:
            self._drop(NO_COMMAND)
        else:
            self._current.action = np.asarray(action, np.float32)
            self._current.intervention = bool(intervention)
            self._drop(NO_REWARD, self._previous is not None)  # it never got its reward and next observation
            self._previous = self._current
        self._current = None
        released, self._closed = self._closed, None
        return released

    def reward(self, value: float) -> None:
        """The reward of the previous tick's executed action.

        A second reward while the previous tick is still open means a whole tick went by without a base action
        (the base skipped it, the gate held): the open tick would otherwise be closed by the observation after
        the skipped one, a tick late. Both ticks are dropped, with the skipped tick's reward.

        A reward while no executed tick is open scores the current tick, whose command never came: the sim went on
        without it, and an end event now loses that tick (without a reward it is a tick the episode ended on).
        """
        if self._previous is None:
            if self._current is not None:
                self._current.scored_without_command = True
            return
        if self._previous.reward is not None:
            self._drop(SKIPPED_TICK, 2)
            self._previous = None
            return
        self._previous.reward = float(value)

    def end(self, kind: str) -> Step | None:
        """An end event; a terminal one closes the previous tick at once, a time-out waits for the final base action.

        A person's key comes after the base acted on the observation the person judged (the arbiter publishes it
        after that tick's command, which is never executed): the step held since that base action is then the
        episode's last, terminated with the success reward on a success key, its own reward on a failure key.

        The current tick (a base action on the final observation, or on the one a person judged) is lost only if the
        sim scored it: then the sim executed it without its command, the episode went on past the held step, and
        that step ends truncated whatever ended the episode a tick later. Otherwise its command was never to be
        executed. (An end event handled before the reward that scores the current tick would hide that loss; the
        learner subscribes to the reward first.)
        """
        if not self.running:
            return None
        self.running = False
        lost = self._current is not None and self._current.scored_without_command
        self._drop(NO_COMMAND, lost)
        self._current = None
        closed, self._closed = self._closed, None
        if self._previous is None:
            if closed is None:
                return None
            if kind in TERMINAL_EVENTS and not lost:
                reward = SUCCESS_REWARD if kind == "success" else closed.reward
                return replace(closed, reward=reward, terminated=True)
            return replace(closed, truncated=True)  # its tick's command never came: bootstrap from what it saw
        self._previous.end = kind
        if kind in TERMINAL_EVENTS:
            if self._previous.reward is None:  # a person ended it before the sim scored the tick
                self._previous.reward = SUCCESS_REWARD if kind == "success" else 0.0
            # no bootstrap: the next observation is never used, any array of the right shape will do
            return self._close(self._previous.obs, self._previous.base_action)
        if kind not in TRUNCATING_EVENTS:
            self._drop(UNKNOWN_END)
            self._previous = None
        return None

    def cut(self) -> Step | None:
        """A stop in the middle of an episode ends it like a time-out at its last complete step: returns that step
        (truncated: it bootstraps from the observation it saw next) if it was still held; open ticks are dropped."""
        if self.running:
            self._drop(STOPPED, self._previous is not None)  # executed, but never scored: no time-out waits for it
            self._previous = None
        return self.end("timeout")

    def _close(self, next_obs: np.ndarray, next_base_action: np.ndarray) -> Step | None:
        previous = self._previous
        if previous is None or previous.action is None or previous.reward is None:
            return None
        self._previous = None
        return Step(
            obs=previous.obs,
            base_action=previous.base_action,
            action=previous.action,
            reward=previous.reward,
            next_obs=np.asarray(next_obs, np.float32),
            next_base_action=np.asarray(next_base_action, np.float32),
            terminated=previous.end in TERMINAL_EVENTS,
            truncated=previous.end in TRUNCATING_EVENTS,
            intervention=previous.intervention,
        )
