"""The gate's Franka kinematics against MuJoCo's Jacobian of robosuite's Panda, and its inverse."""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.safety.kinematics import joint_velocities_for_twist, tcp_jacobian

GRIP_SITE_M = 0.097  # robosuite's grip site from the flange along its z axis (the sim's TCP)


def _mujoco_jacobian(model: Any, q: np.ndarray) -> np.ndarray:
    """MuJoCo's Jacobian of the grip site for the arm's joints, in robot0_base's frame, (6, 7)."""
    import mujoco

    data = mujoco.MjData(model)
    joints = [model.joint(f"robot0_joint{i}") for i in range(1, 8)]
    for joint, position in zip(joints, q, strict=True):
        data.qpos[joint.qposadr[0]] = position
    mujoco.mj_forward(model, data)
    linear, angular = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    mujoco.mj_jacSite(model, data, linear, angular, model.site("gripper0_right_grip_site").id)
    base = data.xmat[model.body("robot0_base").id].reshape(3, 3)
    columns = [joint.dofadr[0] for joint in joints]
    return np.vstack([base.T @ linear[:, columns], base.T @ angular[:, columns]])


def test_the_jacobian_matches_mujoco_on_the_robosuite_panda(mujoco_panda: Any) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.uniform(-2.5, 2.5, 7)
        q[3] = rng.uniform(-3.0, -0.07)  # joint 4's range
        expected = _mujoco_jacobian(mujoco_panda, q)
        # robosuite's Panda puts the grip site within 0.5 mm of Franka's axis: the linear rows agree to 1 mm/rad
        np.testing.assert_allclose(tcp_jacobian(q, GRIP_SITE_M), expected, atol=1e-3)
        np.testing.assert_allclose(tcp_jacobian(q, GRIP_SITE_M)[3:], expected[3:], atol=1e-9)


def test_the_predicted_joint_velocities_produce_the_twist() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        q = rng.uniform(-2.5, 2.5, 7)
        q[3] = rng.uniform(-3.0, -0.3)
        jacobian = tcp_jacobian(q)
        if np.linalg.svd(jacobian, compute_uv=False)[-1] < 0.05:
            continue  # near a singularity the damped inverse trades accuracy for bounded speeds
        twist = rng.uniform(-0.3, 0.3, 6)
        # the damping's error is at most (DAMPING / 0.05)^2 = 4e-4 of the twist's size here
        np.testing.assert_allclose(jacobian @ joint_velocities_for_twist(q, twist), twist, atol=4e-4 * 0.6)


def test_no_twist_moves_no_joint() -> None:
    q = np.array([0.0, 1.2, 0.0, -0.1, 0.0, 1.3, 0.785])
    np.testing.assert_array_equal(joint_velocities_for_twist(q, np.zeros(6)), np.zeros(7))


def test_past_the_longest_reach_pulling_the_hand_in_straightens_the_elbow() -> None:
    """Joint 4's upper limit (-0.07 rad) lies past the elbow's longest reach (Franka's 0.0825 m elbow offsets), so
    near it a hand moving toward the base turns joint 4 up, into its limit, and a hand moving out turns it down."""
    q = np.array([0.0, 1.2, 0.0, -0.1, 0.0, 1.3, 0.785])
    assert joint_velocities_for_twist(q, np.array([-0.1, 0, 0, 0, 0, 0]))[3] > 0.5
    assert joint_velocities_for_twist(q, np.array([0.1, 0, 0, 0, 0, 0]))[3] < -0.5
    bent = q.copy()
    bent[3] = -1.5  # before the longest reach: pulling the hand in bends the elbow
    assert joint_velocities_for_twist(bent, np.array([-0.1, 0, 0, 0, 0, 0]))[3] < 0.0
