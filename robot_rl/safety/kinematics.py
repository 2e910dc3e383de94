"""Franka arm kinematics for the safety gate: the TCP Jacobian and the joint motion an end-effector twist asks for.

The gate receives end-effector commands but guards joint limits, so it predicts each joint's motion from the
command: ``q_dot = J^T (J J^T + damping^2 I)^-1 twist``, the damped least-squares inverse of the TCP's geometric
Jacobian. MoveIt Servo, which executes the gate's twist on hardware, turns a twist into joint velocities with the
same kind of inverse, so the gate predicts what the driver will command. robosuite's operational-space controller
moves the simulated arm with the dynamically consistent inverse and a posture task instead, so in simulation a
joint can move otherwise than predicted (docs/safety.md, item 9); tests/safety/test_kinematics.py checks the
Jacobian itself against MuJoCo's on the robosuite Panda.

The Panda and the FR3 share Franka's published Denavit-Hartenberg parameters (Craig's modified convention); only
their joint limits differ (:mod:`robot_rl.safety.filter`). Frames: the chain starts in ``panda_link0``/``fr3_link0``,
which is ``base_link`` (REP-105) in the sim and in franka_description; twists are in ``base_link``, linear part
first (m/s), then angular (rad/s), the TCP's velocity.
"""

from __future__ import annotations

import numpy as np

# Franka's modified DH table, one row per joint: (a_{i-1} m, d_i m, alpha_{i-1} rad)
FRANKA_DH: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -np.pi / 2),
    (0.0, 0.316, np.pi / 2),
    (0.0825, 0.0, np.pi / 2),
    (-0.0825, 0.384, -np.pi / 2),
    (0.0, 0.0, np.pi / 2),
    (0.088, 0.0, np.pi / 2),
)
FLANGE_M = 0.107  # joint 7's frame to the flange along its z axis, m
FRANKA_HAND_TCP_M = 0.1034  # flange to the Franka hand's fingertip centre (franka_description's panda_hand_tcp), m
ARM_DOF = len(FRANKA_DH)
# Damping of the least-squares inverse: below this singular value of J the predicted motion shrinks instead of
# growing without bound; far from singularities it changes the prediction by less than (damping / sigma)^2
DAMPING = 1e-3


def _link_transform(a_m: float, d_m: float, alpha_rad: float, theta_rad: float) -> np.ndarray:
    """The modified-DH transform from frame i-1 to frame i (4x4)."""
    ca, sa, ct, st = np.cos(alpha_rad), np.sin(alpha_rad), np.cos(theta_rad), np.sin(theta_rad)
    return np.array(
        [
            [ct, -st, 0.0, a_m],
            [st * ca, ct * ca, -sa, -d_m * sa],
            [st * sa, ct * sa, ca, d_m * ca],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def tcp_jacobian(joint_positions_rad: np.ndarray, tcp_offset_m: float = FRANKA_HAND_TCP_M) -> np.ndarray:
    """The TCP's geometric Jacobian in the arm's base frame, (6, 7): rows vx, vy, vz (m/s), wx, wy, wz (rad/s).

    Args:
        joint_positions_rad: The seven arm joint positions in chain order (joint 1 first), rad.
        tcp_offset_m: The TCP's distance from the flange along the flange's z axis, m.
    """
    positions = np.asarray(joint_positions_rad, dtype=np.float64)
    frame = np.eye(4)
    axes, origins = np.empty((ARM_DOF, 3)), np.empty((ARM_DOF, 3))
    for joint, ((a_m, d_m, alpha_rad), theta) in enumerate(zip(FRANKA_DH, positions, strict=True)):
        frame = frame @ _link_transform(a_m, d_m, alpha_rad, theta)
        axes[joint], origins[joint] = frame[:3, 2], frame[:3, 3]  # modified DH: joint i turns about frame i's z
    tcp = frame[:3, 3] + (FLANGE_M + tcp_offset_m) * frame[:3, 2]
    return np.vstack([np.cross(axes, tcp - origins).T, axes.T])


def damped_inverse(joint_positions_rad: np.ndarray, tcp_offset_m: float = FRANKA_HAND_TCP_M) -> np.ndarray:
    """The damped least-squares inverse of the TCP Jacobian, (7, 6): joint velocities (rad/s) per unit twist.

    Args:
        joint_positions_rad: The seven arm joint positions in chain order, rad.
        tcp_offset_m: The TCP's distance from the flange along the flange's z axis, m.
    """
    jacobian = tcp_jacobian(joint_positions_rad, tcp_offset_m)
    return jacobian.T @ np.linalg.inv(jacobian @ jacobian.T + DAMPING**2 * np.eye(6))


def joint_velocities_for_twist(
    joint_positions_rad: np.ndarray, twist: np.ndarray, tcp_offset_m: float = FRANKA_HAND_TCP_M
) -> np.ndarray:
    """The joint velocities (7,), rad/s, that move the TCP with ``twist`` (damped least squares).

    Args:
        joint_positions_rad: The seven arm joint positions in chain order, rad.
        twist: The TCP's (6,) velocity in the base frame: linear m/s, then angular rad/s.
        tcp_offset_m: The TCP's distance from the flange along the flange's z axis, m.
    """
    return damped_inverse(joint_positions_rad, tcp_offset_m) @ np.asarray(twist, dtype=np.float64)
