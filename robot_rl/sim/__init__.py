"""Simulation: the robosuite adapter (importing this package does not import robosuite).

robosuite is imported when a :class:`RobosuiteAdapter` is built, so :class:`SimConfig` can be
built and validated on a machine without MuJoCo or OpenGL.
"""

from robot_rl.sim.robosuite_adapter import (
    ACTION_DIM,
    ACTION_NAMES,
    TASK_OBJECTS,
    ObjectPose,
    Observation,
    RobosuiteAdapter,
    SimConfig,
    StepFlags,
)

__all__ = [
    "ACTION_DIM",
    "ACTION_NAMES",
    "TASK_OBJECTS",
    "ObjectPose",
    "Observation",
    "RobosuiteAdapter",
    "SimConfig",
    "StepFlags",
]
