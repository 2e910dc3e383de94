"""Choosing the runtime backend: ``inproc`` (embedded default), ``rclpy`` or ``dds``.

The choice comes from a command-line flag, else the ``ROBOT_RL_BACKEND`` variable,
else rclpy when it can be imported, else inproc. The flag is applied by setting the
variable before any node module is imported, so message classes and nodes agree.
"""

from __future__ import annotations

import importlib.util
import os

from robot_rl.errors import BackendError

BACKENDS = ("inproc", "rclpy", "dds")
ENV_VAR = "ROBOT_RL_BACKEND"


def rclpy_available() -> bool:
    """Return True if rclpy can be imported (a ROS2 install is sourced)."""
    return importlib.util.find_spec("rclpy") is not None


def selected_backend_name() -> str:
    """Return the backend to use, validating ``ROBOT_RL_BACKEND`` when it is set.

    Raises:
        BackendError: For an unknown name, rclpy without ROS2, or the not-yet-built dds backend.
    """
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name:
        return "rclpy" if rclpy_available() else "inproc"
    if name not in BACKENDS:
        raise BackendError(f"{ENV_VAR}={name!r} is not a backend; choose one of {', '.join(BACKENDS)}")
    if name == "rclpy" and not rclpy_available():
        raise BackendError("backend 'rclpy' requested but rclpy cannot be imported (source your ROS2 setup)")
    if name == "dds":
        raise BackendError("backend 'dds' is not implemented yet; use 'inproc' or 'rclpy'")
    return name


def uses_ros_message_classes() -> bool:
    """Return True if message classes should be rclpy's (never raises, safe at import time)."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    return name == "rclpy" or (not name and rclpy_available())


def select_backend(name: str) -> str:
    """Select a backend for this process (what ``--backend`` does) and return it."""
    os.environ[ENV_VAR] = name
    return selected_backend_name()
