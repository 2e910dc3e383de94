"""Tests for robot_rl.sim.experts: config validation, the phase machine, and real robosuite episodes."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import math

import numpy as np
import pytest

from robot_rl.errors import SimError
from robot_rl.safety.filter import ACTION_SCALE, RobotState, SafetyConfig, SafetyFilter
from robot_rl.safety.kinematics import damped_inverse
from robot_rl.sim import ObjectPose, Observation, RobosuiteAdapter, SimConfig
from robot_rl.sim.experts import (
    EXPERTS,
    PICK_PLACE_CAN_DROP_M,
    RECOMMENDED_HORIZON_STEPS,
    ExpertConfig,
    ExpertInput,
    LiftExpert,
    StackExpert,
    make_expert,
)

DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # fingers down, yaw 0: a pi rotation about x (xyzw)
OPEN = np.array([0.039, -0.039])  # finger joints of the open gripper, m
CUBE = np.array([0.55, 0.0, -0.09])  # a Lift cube's origin on the table, base_link m


def _up(height_m: float) -> np.ndarray:
    return np.array([0.0, 0.0, height_m])


def _yawed(yaw_rad: float) -> np.ndarray:
    return np.array([0.0, 0.0, math.sin(yaw_rad / 2), math.cos(yaw_rad / 2)])


def _state(ee: np.ndarray, fingers: np.ndarray = OPEN, cube: np.ndarray = CUBE, yaw_rad: float = 0.0) -> ExpertInput:
    return ExpertInput(ee, DOWN, fingers, {"cube": ObjectPose(cube, _yawed(yaw_rad))})


# --- without the simulator ----------------------------------------------------------------


def test_unknown_task_lists_valid_tasks() -> None:
    with pytest.raises(SimError, match="Door") as info:
        make_expert("Door")
    for task in ("Lift", "Stack", "PickPlaceCan"):
        assert task in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"position_gain_per_m": 0.0}, "position_gain_per_m must be > 0"),
        ({"rotation_gain_per_rad": -1.0}, "rotation_gain_per_rad must be > 0"),
        ({"approach_height_m": float("nan")}, "finite number"),
        ({"lift_height_m": True}, "finite number"),
        ({"slip_distance_m": "0.04"}, "finite number"),
        ({"grasp_steps": 0}, "grasp_steps must be an int >= 1"),
        ({"release_steps": 2.5}, "release_steps must be an int >= 1"),
        ({"max_translation_action": 1.5}, "max_translation_action must be <= 1"),
        ({"min_grasp_gap_m": 0.07}, "min_grasp_gap_m must be smaller than open_gap_m"),
        ({"joint_limit_clearance_rad": 0.04}, "joint_limit_clearance_rad must be larger than joint_limit_margin"),
    ],
)
def test_config_rejects(kwargs: dict, match: str) -> None:
    with pytest.raises(SimError, match=match):
        ExpertConfig(**kwargs)


def test_from_observation_takes_the_expert_quantities() -> None:
    poses = {"cube": ObjectPose(CUBE, _yawed(0.0))}
    obs = Observation(
        stamp_s=0.0,
        joint_names=(),
        joint_positions_rad=np.zeros(7),
        joint_velocities_rad_s=np.zeros(7),
        gripper_joint_names=(),
        gripper_finger_positions_m=OPEN,
        ee_position_m=np.array([0.4, 0.0, 0.1]),
        ee_quaternion_xyzw=DOWN,
        object_poses=poses,
    )
    state = ExpertInput.from_observation(obs)
    assert state.ee_position_m is obs.ee_position_m
    assert state.ee_quaternion_xyzw is obs.ee_quaternion_xyzw
    assert state.gripper_finger_positions_m is obs.gripper_finger_positions_m
    assert state.object_poses is poses
    assert state.arm_joint_positions_rad is obs.joint_positions_rad


def test_action_is_a_bounded_float32_approach_and_deterministic() -> None:
    state = _state(np.array([0.3, 0.2, 0.2]))
    first, second = LiftExpert(), LiftExpert()
    action = first.act(state)
    assert action.dtype == np.float32
    assert action.shape == (7,)
    assert np.all(np.abs(action) <= 1.0)
    assert first.phase == "approach"
    assert action[6] == -1.0  # open while approaching
    assert action[0] > 0  # towards the cube: +x ...
    assert action[1] < 0  # ... and -y
    assert np.linalg.norm(action[:3]) == pytest.approx(1.0, abs=1e-6)  # saturated, direction kept
    np.testing.assert_array_equal(second.act(state), action)


def test_missing_object_raises() -> None:
    with pytest.raises(SimError, match="cube"):
        LiftExpert().act(ExpertInput(np.zeros(3), DOWN, OPEN, {}))


def test_phases_grasp_lift_and_regrasp_after_a_slip() -> None:
    config = ExpertConfig()
    expert = LiftExpert(config)
    hover = CUBE + _up(config.approach_height_m)
    grasp = CUBE + _up(0.021 - config.grasp_depth_m)
    expert.act(_state(hover))
    assert expert.phase == "descend"
    expert.act(_state(grasp))
    assert expert.phase == "grasp"
    held = np.array([0.02, -0.02])  # fingers stopped by a 4 cm cube
    for _ in range(config.grasp_steps):
        assert expert.act(_state(grasp, held))[6] == 1.0  # closing
    expert.act(_state(grasp, held))
    assert expert.phase == "lift"
    raised = CUBE + _up(0.05)
    assert expert.act(_state(raised + _up(0.001), held, raised))[2] > 0  # up, cube following
    expert.act(_state(raised + _up(0.1), held, raised))  # the cube stayed behind: slipped
    assert expert.phase == "approach"


def test_approach_rises_before_moving_sideways_when_low() -> None:
    action = LiftExpert().act(_state(CUBE + np.array([-0.15, 0.1, 0.0])))  # beside the cube at its height
    assert action[2] == pytest.approx(1.0)
    np.testing.assert_allclose(action[:2], 0.0, atol=1e-6)


def test_missed_grasp_goes_back_to_approach() -> None:
    config = ExpertConfig(grasp_steps=2)
    expert = LiftExpert(config)
    expert.act(_state(CUBE + _up(config.approach_height_m)))
    grasp = CUBE + _up(0.001)
    expert.act(_state(grasp))
    closed = np.array([0.001, -0.001])  # closed on nothing
    for _ in range(config.grasp_steps + 1):
        expert.act(_state(grasp, closed))
    assert expert.phase == "approach"


def test_resume_picks_the_phase_from_the_scene() -> None:
    held = np.array([0.02, -0.02])  # fingers stopped by a 4 cm cube
    expert = LiftExpert()
    expert.resume(_state(CUBE + _up(0.02), held, CUBE + _up(0.01)))  # the cube between closed fingers
    assert expert.phase == "grasp"
    assert expert.act(_state(CUBE + _up(0.02), held, CUBE + _up(0.01)))[6] == 1.0  # closing, not opening
    expert.resume(_state(CUBE + _up(0.02), np.array([0.001, -0.001])))  # closed on nothing
    assert expert.phase == "approach"
    expert.resume(_state(CUBE + _up(0.2), held))  # closed, the cube far below: it is not held
    assert expert.phase == "approach"
    on_b = CUBE + _up(0.045)  # cube A resting on cube B, the hand open above it
    poses = {"cubeA": ObjectPose(on_b, _yawed(0.0)), "cubeB": ObjectPose(CUBE, _yawed(0.0))}
    stack = StackExpert()
    stack.resume(ExpertInput(on_b + _up(0.03), DOWN, OPEN, poses))
    assert stack.phase == "done"
    poses["cubeA"] = ObjectPose(CUBE + np.array([0.1, 0.0, 0.0]), _yawed(0.0))  # on the table beside it
    stack.resume(ExpertInput(on_b + _up(0.03), DOWN, OPEN, poses))
    assert stack.phase == "approach"


def test_fingers_turn_across_the_cube_and_clear_a_neighbour() -> None:
    ee = CUBE + _up(0.08)
    assert LiftExpert().act(_state(ee, yaw_rad=0.3))[5] > 0.2  # turn +0.3 rad
    assert LiftExpert().act(_state(ee, yaw_rad=1.3))[5] < -0.2  # -0.27 rad reaches the next pair of faces
    assert abs(LiftExpert().act(_state(ee, yaw_rad=0.0))[5]) < 1e-6

    def stack_yaw_action(neighbour_offset: list[float]) -> float:
        poses = {"cubeA": ObjectPose(CUBE, _yawed(0.0)), "cubeB": ObjectPose(CUBE + neighbour_offset, _yawed(0.0))}
        return float(StackExpert().act(ExpertInput(ee, DOWN, OPEN, poses))[5])

    # The fingers close along the TCP's y axis: a neighbour along y makes the hand turn a quarter turn.
    assert abs(stack_yaw_action([0.0, 0.07, 0.0])) == pytest.approx(1.0)
    assert abs(stack_yaw_action([0.07, 0.0, 0.0])) < 1e-6
    assert abs(stack_yaw_action([0.0, 0.3, 0.0])) < 1e-6  # far away: no matter


# --- robosuite episodes (state-only) ------------------------------------------------------

SEEDS = (0, 1, 2)
PHASE_ORDER = {
    "Lift": ["approach", "descend", "grasp", "lift"],
    "Stack": ["approach", "descend", "grasp", "lift", "transport", "place", "release"],
    "PickPlaceCan": ["approach", "descend", "grasp", "lift", "transport", "place", "release", "done"],
}


@pytest.mark.parametrize("task", list(EXPERTS))
def test_expert_solves_seeded_episodes(task: str) -> None:
    """Every seed succeeds (the simulation is deterministic per seed), through the phases in order."""
    expert = make_expert(task)
    horizon = RECOMMENDED_HORIZON_STEPS[task]
    for seed in SEEDS:
        expert.reset()
        config = SimConfig(task=task, horizon_steps=horizon, render_camera=False, seed=seed)
        with RobosuiteAdapter(config) as adapter:
            obs = adapter.reset(seed=seed)
            phases = [expert.phase]
            for _ in range(horizon):
                action = expert.act(ExpertInput.from_observation(obs))
                assert action.shape == (7,)
                assert np.all(np.isfinite(action))
                assert np.all(np.abs(action) <= 1.0)
                if expert.phase != phases[-1]:
                    phases.append(expert.phase)
                obs, _, flags = adapter.step(action)
                if flags.success:
                    break
        assert flags.success, f"{task} seed {seed} failed; phases {phases}"
        assert phases == PHASE_ORDER[task], f"{task} seed {seed}: phases {phases}"
        if task == "PickPlaceCan":  # the hard-coded drop point lies in the goal compartment
            can = obs.object_poses["Can"].position_m
            assert np.linalg.norm(can[:2] - PICK_PLACE_CAN_DROP_M[:2]) < 0.03


def test_lift_expert_regrasps_a_dropped_cube() -> None:
    """Opening the hand while lifting drops the cube; the expert notices the slip and grasps it again."""
    expert = make_expert("Lift")
    with RobosuiteAdapter(SimConfig(task="Lift", horizon_steps=200, render_camera=False, seed=0)) as adapter:
        obs = adapter.reset(seed=0)
        phases = [expert.phase]
        for _ in range(200):
            action = expert.act(ExpertInput.from_observation(obs))
            if expert.phase != phases[-1]:
                phases.append(expert.phase)
            if phases.count("lift") == 1 and expert.phase == "lift":
                action[6] = -1.0  # a disturbance: open the gripper during the first lift
            obs, _, flags = adapter.step(action)
            if flags.success and phases.count("lift") == 2:
                break
    assert phases == ["approach", "descend", "grasp", "lift", "approach", "descend", "grasp", "lift"]
    assert flags.success


# The elbow stretched next to joint 4's upper limit (-0.0698 rad), past its longest reach: pulling the hand back
# toward the base pushes joint 4 into its limit (tests/safety/test_kinematics.py)
STRETCHED = np.array([0.0, 1.2, 0.0, -0.1, 0.0, 1.3, 0.785])


def _joint4_speed(action: np.ndarray, joints: np.ndarray) -> float:
    """Joint 4's motion (rad per tick) that an action asks for, through the Jacobian's inverse."""
    return float(damped_inverse(joints)[3] @ (action[:6] * np.asarray(ACTION_SCALE)))


def test_a_command_into_a_joint_limit_becomes_a_move_off_it_until_clear() -> None:
    """Hovering over a cube nearer the base would push joint 4 into its limit: the expert moves it off first."""
    near_cube = np.array([0.3, 0.0, -0.09])
    blind = _state(np.array([0.7, 0.0, 0.1]), cube=near_cube)
    assert _joint4_speed(LiftExpert().act(blind), STRETCHED) > 0.0  # without joint positions: into the limit
    expert = LiftExpert()
    seeing = ExpertInput(blind.ee_position_m, DOWN, OPEN, blind.object_poses, STRETCHED)
    action = expert.act(seeing)
    assert _joint4_speed(action, STRETCHED) < 0.0  # off the limit
    np.testing.assert_allclose(np.linalg.norm(action[:3]), 1.0, rtol=1e-6)
    assert np.all(action[3:6] == 0.0)  # no turning
    assert action[6] == -1.0  # the gripper as planned (open)
    halfway = STRETCHED.copy()
    halfway[3] = -0.25  # off the margin but not yet clear: the move goes on
    assert (
        _joint4_speed(expert.act(ExpertInput(blind.ee_position_m, DOWN, OPEN, blind.object_poses, halfway)), halfway)
        < 0
    )
    clear = STRETCHED.copy()
    clear[3] = -0.5  # 0.43 rad off the limit: back to the plan
    planned = LiftExpert().act(ExpertInput(blind.ee_position_m, DOWN, OPEN, blind.object_poses, clear))
    np.testing.assert_array_equal(
        expert.act(ExpertInput(blind.ee_position_m, DOWN, OPEN, blind.object_poses, clear)), planned
    )


def test_a_recovery_the_arm_does_not_follow_is_given_up_after_stall_steps() -> None:
    """The joint stays on its limit (the arm does not follow): after stall_steps the expert follows its plan again
    for the rest of the episode, so it is never caught in the recovery; a new episode may recover again."""
    near_cube = np.array([0.3, 0.0, -0.09])
    stuck = ExpertInput(np.array([0.7, 0.0, 0.1]), DOWN, OPEN, {"cube": ObjectPose(near_cube, _yawed(0.0))}, STRETCHED)
    expert = LiftExpert(ExpertConfig(stall_steps=3))
    speeds = [_joint4_speed(expert.act(stuck), STRETCHED) for _ in range(6)]
    assert all(speed < 0.0 for speed in speeds[:4])  # the recovery, stall_steps + 1 ticks
    assert all(speed > 0.0 for speed in speeds[4:])  # given up: the plan, into the limit (the gate holds it)
    expert.reset()
    assert _joint4_speed(expert.act(stuck), STRETCHED) < 0.0


def _stretch_onto_joint4_limit(adapter: RobosuiteAdapter, seed: int) -> Observation:
    """Drive the hand forward and down until joint 4 reaches its upper limit, as a policy that overreaches."""
    obs = adapter.reset(seed=seed)
    push = np.array([1.0, 0.0, -0.6, 0.0, 0.0, 0.0, -1.0])
    for _ in range(100):
        if obs.joint_positions_rad[3] > -0.075:
            return obs
        obs, _, _ = adapter.step(push)
    raise AssertionError(f"joint 4 did not reach its limit: {obs.joint_positions_rad[3]:.3f} rad")


@pytest.mark.parametrize("sees_joints", [True, False])
def test_the_expert_gets_the_elbow_off_its_limit_through_the_gate(sees_joints: bool) -> None:
    """PickPlaceCan with the Panda's elbow on joint 4's limit: the expert, through the safety gate, moves it off
    and carries on; blind to the joints, every command it sends is held (the gate's Jacobian says it pushes in)."""
    names = [f"panda_joint{i}" for i in range(1, 8)]
    box = {"workspace_min_m": (-2.0, -2.0, -2.0), "workspace_max_m": (2.0, 2.0, 2.0)}  # only the joint limits
    gate, expert = SafetyFilter(SafetyConfig(**box)), make_expert("PickPlaceCan")
    held, phases = 0, {"approach"}
    with RobosuiteAdapter(SimConfig(task="PickPlaceCan", horizon_steps=400, render_camera=False, seed=0)) as adapter:
        obs = _stretch_onto_joint4_limit(adapter, seed=0)
        for _ in range(120):
            state = ExpertInput.from_observation(obs)
            if not sees_joints:
                state = ExpertInput(
                    state.ee_position_m, state.ee_quaternion_xyzw, state.gripper_finger_positions_m, state.object_poses
                )
            robot = RobotState(obs.ee_position_m, names, obs.joint_positions_rad, obs.joint_velocities_rad_s, 0.0, 0.0)
            result = gate.apply(expert.act(state), 0.0, robot)
            held += result.held
            phases.add(expert.phase)
            obs, _, _ = adapter.step(result.action)
    if sees_joints:
        assert held == 0
        assert obs.joint_positions_rad[3] < -0.0698 - 0.3
        assert "lift" in phases  # it went on to grasp and lift the can
    else:
        assert held > 80  # of 120 ticks
        assert phases == {"approach"}
