"""The exception hierarchy of robot_rl: one base error, one subclass per kind of fault.

Every error a user can cause (bad config, bad launch file, bad command line) is a
subclass of :class:`RobotRLError`; the CLI prints its message as one line and exits
non-zero instead of showing a traceback.
"""

from __future__ import annotations


class RobotRLError(Exception):
    """Base class of every error raised on purpose by robot_rl."""


class InvalidNameError(RobotRLError, ValueError):
    """A node name, namespace or topic name breaks the ROS2 naming rules."""


class RosArgsError(RobotRLError, ValueError):
    """A ``--ros-args`` command line could not be parsed."""


class ParameterError(RobotRLError):
    """A parameter was misused: undeclared, declared twice, or from a bad params file."""


class ParameterTypeError(ParameterError, TypeError):
    """A parameter value has a different type than the parameter was declared with."""


class MessageError(RobotRLError):
    """A message type is unknown or a message does not fit a numpy conversion."""


class GraphError(RobotRLError):
    """A topic is used inconsistently in the graph (e.g. two message types on one name)."""


class BackendError(RobotRLError):
    """The requested runtime backend is unknown or not available on this machine."""


class LaunchError(RobotRLError):
    """A launch file is malformed, uses an unsupported entry, or fails to evaluate."""


class ExecutableNotFoundError(LaunchError):
    """A launch file or the CLI names a node executable that does not exist."""


class PerceptionError(RobotRLError):
    """Perception got input it cannot use (bad intrinsics, mismatched image sizes, ...)."""


class CalibrationError(RobotRLError):
    """A calibration file (camera info, hand-eye, workspace limits) is missing, malformed or inconsistent."""


class SimError(RobotRLError):
    """The simulator was misconfigured or misused (bad task, bad action, step without reset)."""


class HardwareError(RobotRLError):
    """A hardware device is missing, misconfigured or failed (no camera, wrong serial, unsupported mode)."""


class SafetyError(RobotRLError):
    """The safety gate's configuration is invalid (a limit missing, negative or inconsistent)."""


class PolicyError(RobotRLError):
    """A policy checkpoint is missing, corrupt, unsupported, mismatched with its inputs, or was modified."""


class DatasetError(RobotRLError):
    """A dataset path holds no dataset, or a dataset's features do not match what is recorded or trained."""


class InterventionError(RobotRLError):
    """A teleop device or the intervention arbiter was misconfigured or is unavailable (no display, ...)."""


class LearnerError(RobotRLError):
    """The residual RL learner's configuration or data is invalid (hyperparameter out of range, mismatched
    shapes, empty buffer)."""


class RobotModelError(RobotRLError):
    """A robot description (URDF) is missing or malformed, or joint states do not fit it (a URDF joint missing)."""
