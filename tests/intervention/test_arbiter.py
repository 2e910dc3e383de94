"""The arbiter: hold and toggle modes, who drives, and the reset at an episode start."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import InterventionError
from robot_rl.intervention.arbiter import Arbiter, InterventionMode

POLICY = np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
HUMAN = np.array([0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0])


def test_hold_mode_drives_only_while_pressed() -> None:
    arbiter = Arbiter(InterventionMode.HOLD)
    pressed = [False, True, True, False, True]
    decisions = [arbiter.decide(POLICY, HUMAN, p) for p in pressed]
    assert [d.intervening for d in decisions] == pressed
    for decision, p in zip(decisions, pressed, strict=True):
        np.testing.assert_array_equal(decision.command, HUMAN if p else POLICY)


def test_toggle_mode_switches_on_each_press() -> None:
    arbiter = Arbiter(InterventionMode.TOGGLE)
    pressed = [False, True, True, False, False, True, False]
    flags = [arbiter.decide(POLICY, HUMAN, p).intervening for p in pressed]
    assert flags == [False, True, True, True, True, False, False]


def test_episode_start_returns_control_to_the_policy() -> None:
    arbiter = Arbiter(InterventionMode.TOGGLE)
    assert arbiter.decide(POLICY, HUMAN, True).intervening
    arbiter.reset()
    assert not arbiter.decide(POLICY, HUMAN, False).intervening


def test_silent_policy_sends_nothing_unless_the_person_drives() -> None:
    arbiter = Arbiter()
    assert arbiter.decide(None, HUMAN, False).command is None
    np.testing.assert_array_equal(arbiter.decide(None, HUMAN, True).command, HUMAN)


def test_bad_mode_and_bad_human_action_are_errors() -> None:
    with pytest.raises(InterventionError, match="'hold' or 'toggle', got 'deadman'"):
        InterventionMode.parse("deadman")
    with pytest.raises(InterventionError, match="7 values"):
        Arbiter().decide(POLICY, np.zeros(6), True)
