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
from robot_rl.sim.experts import ExpertConfig, ExpertInput, LiftExpert, make_expert

Policy = Callable[[ExpertInput, int], np.ndarray]


def _still(_: ExpertInput, __: int) -> np.ndarray:
    """A policy that never moves (gripper open)."""
    return np.array([0, 0, 0, 0, 0, 0, -1.0])


def _run(
    policy: Policy, config: SimulatedHumanConfig, steps: int = 200, seed: int = 3, expert: LiftExpert | None = None
) -> dict:
    """One Lift episode: policy and simulated human (its expert: ``expert``, default Lift's) through the arbiter;
    what happened (the flags and commands of the ticks run)."""
    human = SimulatedHuman(expert if expert is not None else LiftExpert(), config)
    arbiter = Arbiter()
    flags_seen, commands, success = [], [], False
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
            commands.append(decision.command)
            obs, _, flags = adapter.step(decision.command)
            if flags.success:
                success = True
                break
    return {"flags": flags_seen, "commands": commands, "success": success, "human": human}


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


def test_takes_over_a_held_object_from_the_scene_not_from_a_stale_phase() -> None:
    """The policy grasps the cube and holds it on the table. The person's expert watched with a 15 cm hover (the
    policy's expert hovers at 8 cm), so its phase machine never left ``approach``: from that stale phase it would
    open the gripper. Taking over, it picks up from the scene instead: keeps the gripper closed and lifts."""
    driver = LiftExpert()
    driver_phases = []

    def grasps_and_holds(state: ExpertInput, _: int) -> np.ndarray:
        action = driver.act(state)
        driver_phases.append(driver.phase)
        if driver.phase == "lift":
            action[:3] = 0.0  # holds the cube on the table
        return action

    watcher = LiftExpert(ExpertConfig(approach_height_m=0.15))
    run = _run(grasps_and_holds, SimulatedHumanConfig(takeover_at_step=60, take_over_on_regrasp=False), expert=watcher)
    first = run["flags"].index(True)
    assert first == 59
    assert driver_phases[first] == "lift"  # the policy held the cube when the person took over
    assert run["human"].reason == "not done by step 60; the expert's phase: grasp"
    assert all(command[6] == 1.0 for command in run["commands"][first:])  # never opened: the cube stayed held
    assert run["success"]


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
