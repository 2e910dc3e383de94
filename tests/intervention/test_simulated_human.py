"""The simulated human on real robosuite Lift episodes: each takeover rule fires, and it corrects the episode."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from collections.abc import Callable

import numpy as np
import pytest

from robot_rl.errors import InterventionError
from robot_rl.intervention.arbiter import Arbiter
from robot_rl.intervention.simulated_human import SimulatedHuman, SimulatedHumanConfig
from robot_rl.sim import RobosuiteAdapter, SimConfig
from robot_rl.sim.experts import ExpertInput, make_expert

Policy = Callable[[ExpertInput, int], np.ndarray]


def _still(_: ExpertInput, __: int) -> np.ndarray:
    """A policy that never moves (gripper open)."""
    return np.array([0, 0, 0, 0, 0, 0, -1.0])


def _run(policy: Policy, config: SimulatedHumanConfig, steps: int = 200, seed: int = 3) -> dict:
    """One Lift episode: policy and simulated human through the arbiter; what happened."""
    human = SimulatedHuman(make_expert("Lift"), config)
    arbiter = Arbiter()
    flags_seen, success = [], False
    with RobosuiteAdapter(SimConfig(task="Lift", horizon_steps=steps, render_camera=False, seed=seed)) as adapter:
        obs = adapter.reset(seed=seed)
        for step in range(steps):
            state = ExpertInput.from_observation(obs)
            human.observe(state)
            action = policy(state, step)
            human.watch(action)
            sample = human.read(float(step))
            decision = arbiter.decide(action, sample.action, sample.intervene_pressed)
            flags_seen.append(decision.intervening)
            obs, _, flags = adapter.step(decision.command)
            if flags.success:
                success = True
                break
    return {"flags": flags_seen, "success": success, "human": human}


def test_takeover_at_step_then_the_human_finishes_the_task() -> None:
    run = _run(_still, SimulatedHumanConfig(takeover_at_step=20, take_over_on_regrasp=False))
    flags = run["flags"]
    assert not any(flags[:19])
    assert all(flags[19:])
    assert run["success"]
    assert run["human"].reason == "not done by step 20; the expert's phase: approach"  # the arm stood still


def test_drift_rule_fires_when_the_policy_pulls_away() -> None:
    def away(_: ExpertInput, __: int) -> np.ndarray:
        return np.array([-1.0, 0, 0.5, 0, 0, 0, -1.0])  # backwards and up, away from the cube

    run = _run(away, SimulatedHumanConfig(drift_threshold_m=0.05, take_over_on_regrasp=False))
    first = run["flags"].index(True)
    assert first < 10
    assert run["success"]
    assert "drifted" in run["human"].reason


def test_drift_rule_stays_quiet_while_the_policy_follows_the_expert() -> None:
    expert = make_expert("Lift")
    run = _run(lambda state, _: expert.act(state), SimulatedHumanConfig(drift_threshold_m=0.05))
    assert run["success"]
    assert not any(run["flags"])


def test_regrasp_rule_fires_when_the_object_is_not_held() -> None:
    expert = make_expert("Lift")

    def never_grips(state: ExpertInput, _: int) -> np.ndarray:
        action = expert.act(state)
        action[-1] = -1.0  # the expert's motion, but the gripper never closes: the lift leaves the cube behind
        return action

    run = _run(never_grips, SimulatedHumanConfig())
    assert any(run["flags"])
    assert run["success"]
    assert run["human"].reason.endswith("left the gripper (the expert re-grasps); the expert's phase: approach")


def test_gives_up_after_the_allowed_ticks() -> None:
    run = _run(_still, SimulatedHumanConfig(takeover_at_step=5, give_up_after_ticks=3), steps=30)
    flags = run["flags"]
    assert flags[4:7] == [True, True, True]
    assert not any(flags[7:])
    assert run["human"].gave_up
    assert not run["success"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"takeover_at_step": -1}, "takeover_at_step must be an int >= 0"),
        ({"drift_threshold_m": float("nan")}, "drift_threshold_m must be >= 0 m"),
        ({"drift_decay": 1.0}, r"drift_decay must be in \[0, 1\)"),
        ({"give_up_after_ticks": True}, "give_up_after_ticks must be an int"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(InterventionError, match=match):
        SimulatedHumanConfig(**kwargs)
