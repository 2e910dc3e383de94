"""The intervention arbiter: who drives this tick, the policy or the person.

The person's intervention button decides, in one of two modes:

- ``hold`` (a deadman): the person drives while the button is held;
- ``toggle``: each press hands control over or back.

While the person drives, their action is the command; otherwise the policy's is. Either way the
command then goes through the safety gate. Control always returns to the policy at an episode
start (a toggle does not carry over into the next episode).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import InterventionError


class InterventionMode(str, Enum):
    """How the intervention button hands control to the person."""

    HOLD = "hold"  # the person drives while the button is held (deadman)
    TOGGLE = "toggle"  # each press switches between policy and person

    @classmethod
    def parse(cls, value: str) -> InterventionMode:
        """The mode named ``value``; a clear error for anything else."""
        try:
            return cls(value)
        except ValueError:
            raise InterventionError(f"intervention mode must be 'hold' or 'toggle', got {value!r}") from None


@dataclass(frozen=True)
class Decision:
    """The arbiter's output for one tick."""

    command: np.ndarray | None  # (7,) the action to send to the safety gate; None: nothing to send
    intervening: bool  # the person's action is the command


class Arbiter:
    """Pick the command of each tick from the policy's action and the person's sample."""

    def __init__(self, mode: InterventionMode = InterventionMode.HOLD) -> None:
        self.mode = mode
        self.intervening = False
        self._was_pressed = False

    def reset(self) -> None:
        """An episode starts: the policy drives until the person intervenes again."""
        self.intervening = False
        self._was_pressed = False

    def update(self, pressed: bool) -> bool:
        """Feed the intervention button's state; return whether the person drives now."""
        if self.mode is InterventionMode.HOLD:
            self.intervening = pressed
        elif pressed and not self._was_pressed:
            self.intervening = not self.intervening
        self._was_pressed = pressed
        return self.intervening

    def decide(self, policy_action: np.ndarray | None, human_action: np.ndarray, pressed: bool) -> Decision:
        """The command of this tick: the person's action while they intervene, else the policy's.

        ``policy_action`` is None when the policy sent nothing fresh; then only a person can drive.
        """
        human = np.asarray(human_action, dtype=np.float64)
        if human.shape != (ACTION_DIM,):
            raise InterventionError(f"human action must have {ACTION_DIM} values, got shape {human.shape}")
        if self.update(pressed):
            return Decision(human, True)
        return Decision(None if policy_action is None else np.asarray(policy_action, dtype=np.float64), False)
