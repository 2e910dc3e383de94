"""The action space of ARCHITECTURE.md and its message form.

An action is an end-effector delta command ``[dx, dy, dz, droll, dpitch, dyaw,
gripper]``, normalized to [-1, 1] and scaled to metres / radians per control step by
per-axis limits from config. On the wire it is a trajectory_msgs/JointTrajectory
whose ``joint_names`` are the action dimensions and whose points are one action each
(``positions``), ``time_from_start`` counting control periods (a chunk has several). The safety gate's
``/robot_rl/safe_command`` also carries, as the point's ``velocities``, the end-effector twist it allowed (m/s for
dx dy dz, rad/s for droll dpitch dyaw, 0 for the gripper): what a robot driver executes, so the conversion from
a normalized action to a speed is made once, where the limits apply.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.errors import MessageError
from robot_rl.runtime.msg_numpy import joint_trajectory_to_numpy, numpy_to_joint_trajectory

ACTION_NAMES: tuple[str, ...] = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
ACTION_DIM = len(ACTION_NAMES)
ACTION_BOUND = 1.0  # every axis of a normalized action lies in [-ACTION_BOUND, ACTION_BOUND]


def actions_to_trajectory(
    actions: np.ndarray, period_s: float, header: Any = None, velocities: np.ndarray | None = None
) -> Any:
    """Pack (steps, 7) or (7,) normalized actions into a JointTrajectory, one point per step; ``velocities``
    (same shape: m/s, rad/s) go into the points' ``velocities``."""
    actions = np.atleast_2d(np.asarray(actions, dtype=np.float64))
    if actions.shape[1] != ACTION_DIM:
        raise MessageError(f"actions must have {ACTION_DIM} columns {ACTION_NAMES}, got shape {actions.shape}")
    times = np.arange(len(actions), dtype=np.float64) * period_s
    rates = None if velocities is None else np.atleast_2d(np.asarray(velocities, dtype=np.float64))
    return numpy_to_joint_trajectory(list(ACTION_NAMES), actions, times, header, rates)


def saturate_actions(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip actions into the action space [-ACTION_BOUND, ACTION_BOUND] per axis.

    Returns (the clipped actions, float64; the overshoot per element: ``|value| - ACTION_BOUND`` where it lies
    beyond the bound, else 0). NaN stays NaN in the clipped actions and counts as no overshoot.
    """
    actions = np.asarray(actions, dtype=np.float64)
    overshoot = np.maximum(np.nan_to_num(np.abs(actions) - ACTION_BOUND, nan=0.0, posinf=np.inf), 0.0)
    return np.clip(actions, -ACTION_BOUND, ACTION_BOUND), overshoot


def trajectory_to_actions(trajectory: Any) -> np.ndarray:
    """Unpack a JointTrajectory into (steps, 7) actions, ordered as ACTION_NAMES.

    Raises:
        MessageError: If the joint names are not the action dimensions, or there are no points.
    """
    names, positions, _ = joint_trajectory_to_numpy(trajectory)
    order = _action_order(names)
    if len(positions) == 0:
        raise MessageError("action trajectory has no points")
    return positions[:, order]


def trajectory_to_velocities(trajectory: Any) -> np.ndarray:
    """The first point's ``velocities`` (7,), ordered as ACTION_NAMES (the safety gate's twist on a safe command).

    Raises:
        MessageError: If the joint names are not the action dimensions, there are no points, or the first point
            does not carry one velocity per action dimension.
    """
    order = _action_order(list(trajectory.joint_names))
    if len(trajectory.points) == 0:
        raise MessageError("action trajectory has no points")
    velocities = np.asarray(trajectory.points[0].velocities, dtype=np.float64).reshape(-1)
    if velocities.size != ACTION_DIM:
        raise MessageError(
            f"the safe command carries {velocities.size} velocities, not the safety gate's {ACTION_DIM}"
            " (is its publisher the safety node?)"
        )
    return velocities[order]


def _action_order(names: list[str]) -> list[int]:
    """Where each of ACTION_NAMES is in ``names``; MessageError unless ``names`` are exactly the action dimensions."""
    if sorted(names) != sorted(ACTION_NAMES) or len(names) != ACTION_DIM:
        raise MessageError(f"action joint_names must be {list(ACTION_NAMES)}, got {names}")
    return [names.index(name) for name in ACTION_NAMES]
