"""StepBuilder: the graph's messages of consecutive ticks, in the order the sim graph delivers them, into steps."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.episode_events import SUCCESS_REWARD
from robot_rl.rl.transitions import (
    NO_COMMAND,
    NO_REWARD,
    RESTART,
    SKIPPED_TICK,
    STOPPED,
    UNKNOWN_END,
    Step,
    StepBuilder,
)


def obs(t: float) -> np.ndarray:
    return np.full(3, t, dtype=np.float32)


def act(t: float) -> np.ndarray:
    return np.full(7, t / 10, dtype=np.float32)


def run_episode(builder: StepBuilder, ticks: int, end: str, rewards: list[float]) -> list[Step]:
    """One episode as the sim graph delivers it: start, then per tick [reward, end?], base action, executed."""
    steps: list[Step | None] = []
    builder.start()
    for t in range(ticks + 1):
        if t > 0:
            builder.reward(rewards[t - 1])
            if t == ticks:
                steps.append(builder.end(end))
        steps.append(builder.observe(obs(t), act(t) + 1))  # the base action for observation t
        steps.append(builder.executed(act(t)))  # the graph still runs after the end: the sim ignores it
    return [step for step in steps if step is not None]


def test_a_time_out_bootstraps_from_the_final_observation_and_its_base_action() -> None:
    steps = run_episode(StepBuilder(), 3, "timeout", [0.0, 0.0, 0.0])
    assert len(steps) == 3
    for t, step in enumerate(steps):
        np.testing.assert_array_equal(step.obs, obs(t))
        np.testing.assert_array_equal(step.base_action, act(t) + 1)
        np.testing.assert_array_equal(step.action, act(t))
        np.testing.assert_array_equal(step.next_obs, obs(t + 1))
        np.testing.assert_array_equal(step.next_base_action, act(t + 1) + 1)
    assert [(s.terminated, s.truncated) for s in steps] == [(False, False), (False, False), (False, True)]


def test_only_a_time_out_leaves_its_last_step_awaiting_the_final_base_action() -> None:
    for end, awaiting in (("timeout", True), ("success", False), ("failure", False)):
        builder = StepBuilder()
        builder.start()
        builder.observe(obs(0), act(0))
        builder.executed(act(0))
        builder.reward(0.0)
        assert not builder.awaiting_final_base_action  # running
        builder.end(end)
        assert builder.awaiting_final_base_action is awaiting, end
        assert (builder.observe(obs(1), act(1)) is not None) is awaiting, end
        assert not builder.awaiting_final_base_action


def test_success_terminates_without_waiting_for_the_next_observation() -> None:
    steps = run_episode(StepBuilder(), 3, "success", [0.0, 0.0, 1.0])
    assert len(steps) == 3
    assert [s.reward for s in steps] == [0.0, 0.0, 1.0]
    assert [(s.terminated, s.truncated) for s in steps] == [(False, False), (False, False), (True, False)]


@pytest.mark.parametrize(("end", "reward"), [("failure", 0.25), ("success", SUCCESS_REWARD)])
def test_a_persons_key_in_the_graphs_order_ends_the_episode_on_the_tick_the_person_judged(
    end: str, reward: float
) -> None:
    """The arbiter publishes a key after the command of the tick whose observation the person judged; the base
    action for that observation came first. The step before it is the episode's last, and nothing is dropped."""
    builder = StepBuilder()
    builder.start()
    found = [builder.observe(obs(0), act(0)), builder.executed(act(0))]
    builder.reward(0.0)
    found += [builder.observe(obs(1), act(1)), builder.executed(act(1))]  # releases tick 0's step
    builder.reward(0.25)  # the sim scored tick 1 without seeing a success
    found.append(builder.observe(obs(2), act(2)))  # the base acts on what the person judges
    found.append(builder.end(end))  # the key, before the gate passed tick 2's command
    found.append(builder.executed(act(2)))  # tick 2's command after the end: never executed
    steps = [step for step in found if step is not None]
    assert len(steps) == 2
    np.testing.assert_array_equal(steps[1].obs, obs(1))
    np.testing.assert_array_equal(steps[1].next_obs, obs(2))
    assert [(s.terminated, s.reward) for s in steps] == [(False, 0.0), (True, reward)]
    assert builder.drops == {}  # tick 2's command was never to be executed: nothing lost


@pytest.mark.parametrize(("end", "reward"), [("failure", 0.0), ("success", SUCCESS_REWARD)])
def test_a_person_ending_the_episode_before_the_reward_terminates_with_what_the_end_earns(
    end: str, reward: float
) -> None:
    """A person's key ends the episode before the sim scores the tick: a success earns the success reward."""
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    step = builder.end(end)
    assert step is not None
    assert step.terminated
    assert step.reward == reward


def test_a_scored_tick_keeps_the_sims_reward_whatever_ends_the_episode() -> None:
    for end in ("success", "failure"):
        builder = StepBuilder()
        builder.start()
        builder.observe(obs(0), act(0))
        builder.executed(act(0))
        builder.reward(0.25)
        step = builder.end(end)
        assert step is not None
        assert step.reward == 0.25, end


def test_a_tick_without_an_executed_command_is_dropped_not_misaligned() -> None:
    builder = StepBuilder()
    builder.start()
    assert builder.observe(obs(0), act(0)) is None
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.observe(obs(1), act(1)) is None  # closes tick 0, held until tick 1's command
    # tick 1 never gets an executed action (the gate held without a command); tick 2 continues
    builder.reward(0.0)
    step = builder.observe(obs(2), act(2))  # the episode went on: tick 0's step is released
    assert step is not None
    assert step.reward == 0.5
    builder.executed(act(2))
    builder.reward(0.25)
    assert builder.observe(obs(3), act(3)) is None
    step = builder.executed(act(3))
    assert step is not None
    np.testing.assert_array_equal(step.obs, obs(2))
    assert step.reward == 0.25
    assert builder.drops == {NO_COMMAND: 1}


def test_a_tick_without_a_base_action_drops_it_and_the_tick_before() -> None:
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.observe(obs(1), act(1)) is None  # closes tick 0
    assert builder.executed(act(1)) is not None  # releases it
    builder.reward(0.0)  # tick 1's reward; the base skips tick 2 (no observe), the gate holds
    builder.executed(act(9))  # the hold: nobody's tick
    builder.reward(0.75)  # tick 2's reward: tick 1 cannot be closed with observation 2's base action
    assert builder.observe(obs(3), act(3)) is None  # not tick 1 closed a tick late, on observation 3
    assert builder.executed(act(3)) is None
    builder.reward(0.25)
    assert builder.observe(obs(4), act(4)) is None
    step = builder.executed(act(4))
    assert step is not None
    np.testing.assert_array_equal(step.obs, obs(3))
    np.testing.assert_array_equal(step.next_obs, obs(4))
    assert step.reward == 0.25
    assert builder.drops == {SKIPPED_TICK: 2}  # ticks 1 and 2


@pytest.mark.parametrize("scored", [False, True])
def test_a_time_out_after_a_tick_without_a_command_truncates_the_step_before(scored: bool) -> None:
    """The base action of tick 1 comes before the time-out, its command never: either tick 1 is the final
    observation's (as processes its base action can come before the event; nothing is lost) or, if the sim scored
    it, the sim went on without its command and the episode ended a tick later (tick 1 is lost)."""
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.observe(obs(1), act(1)) is None  # tick 1 gets no command
    if scored:
        builder.reward(0.0)
    step = builder.end("timeout")
    assert step is not None
    assert (step.truncated, step.terminated, step.reward) == (True, False, 0.5)
    np.testing.assert_array_equal(step.next_obs, obs(1))  # it bootstraps from what tick 1 saw
    assert builder.drops == ({NO_COMMAND: 1} if scored else {})


def test_a_cut_ends_the_episode_at_its_last_complete_step() -> None:
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.observe(obs(1), act(1)) is None  # tick 0's step, held for tick 1's command
    step = builder.cut()  # a stop before that command
    assert step is not None
    assert (step.truncated, step.terminated, step.reward) == (True, False, 0.5)
    assert not builder.running
    assert builder.cut() is None
    assert builder.drops == {}  # tick 1's command never went out: nothing lost


def test_commands_between_episodes_are_ignored() -> None:
    builder = StepBuilder()
    builder.executed(act(0))
    assert builder.observe(obs(0), act(0)) is None
    assert builder.end("timeout") is None
    steps = run_episode(builder, 2, "timeout", [0.0, 0.0])
    assert len(steps) == 2


def test_a_tick_a_person_drove_is_marked_as_an_intervention() -> None:
    builder = StepBuilder()
    builder.start()
    found: list[Step] = []
    for t, person in enumerate([False, True, True, False]):
        if t > 0:
            builder.reward(0.0)
        builder.observe(obs(t), act(t))
        step = builder.executed(act(t), intervention=person)
        if step is not None:
            found.append(step)
    assert [step.intervention for step in found] == [False, True, True]


def test_drops_are_counted_by_reason() -> None:
    """A command late past the next tick's base action, an executed tick whose reward never came, and a start
    while a tick was open: each counted under its own reason, and dropped is their sum."""
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.observe(obs(1), act(1))  # tick 0's command never came
    builder.executed(act(1))
    builder.observe(obs(2), act(2))  # tick 1's reward never came: nothing closes
    builder.executed(act(2))  # tick 1 executed, unscored, and now superseded
    builder.start()  # tick 2 still open
    assert builder.drops == {NO_COMMAND: 1, NO_REWARD: 1, RESTART: 1}
    assert builder.dropped == 3


def test_a_command_after_the_sim_scored_its_tick_is_dropped_not_paired_with_the_next_reward() -> None:
    """As processes: the sim went on without tick 1's command (a hold, scored), the command comes late. It was never
    executed on observation 1, so tick 1 is dropped; the late command must not take tick 2's reward."""
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.observe(obs(1), act(1)) is None  # closes tick 0, held for tick 1's command
    builder.reward(0.0)  # the sim scored tick 1's hold
    released = builder.executed(act(1))  # tick 1's command, late: the episode went on past tick 0
    assert released is not None
    np.testing.assert_array_equal(released.obs, obs(0))
    builder.reward(0.25)  # tick 2's reward (the base skipped observation 2 here)
    assert builder.observe(obs(3), act(3)) is None
    assert builder.executed(act(3)) is None  # no step of tick 1 (the late command with tick 2's reward) released
    builder.reward(0.75)
    step = builder.observe(obs(4), act(4))
    assert step is None  # tick 3's step waits for tick 4's command
    step = builder.executed(act(4))
    assert step is not None
    np.testing.assert_array_equal(step.obs, obs(3))  # not (obs 1, the late command, tick 2's reward)
    assert step.reward == 0.75
    assert builder.drops == {NO_COMMAND: 1}


@pytest.mark.parametrize("end", ["success", "failure"])
def test_an_end_a_tick_after_a_lost_tick_truncates_the_step_before_it(end: str) -> None:
    """The sim executed tick 1 without its command and the episode ended on the next observation: tick 0's step
    did not end the episode (it went on past observation 1), so it bootstraps instead of terminating."""
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.observe(obs(1), act(1)) is None  # tick 1's command never comes
    builder.reward(1.0)  # the sim scored tick 1's hold
    step = builder.end(end)
    assert step is not None
    assert (step.terminated, step.truncated, step.reward) == (False, True, 0.5)
    np.testing.assert_array_equal(step.next_obs, obs(1))
    assert builder.drops == {NO_COMMAND: 1}


def test_a_stop_drops_an_executed_tick_never_scored_and_an_unknown_end_drops_the_open_one() -> None:
    builder = StepBuilder()
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))  # executed, then the run stops before its reward
    assert builder.cut() is None
    assert builder.drops == {STOPPED: 1}
    builder.start()
    builder.observe(obs(0), act(0))
    builder.executed(act(0))
    builder.reward(0.5)
    assert builder.end("abandoned") is None  # neither terminal nor truncating: no step to make of it
    assert builder.drops == {STOPPED: 1, UNKNOWN_END: 1}
