"""The node runtime: rclpy's node API over several backends (in-process, rclpy).

Import what nodes need from here::

    from robot_rl.runtime import Node, NodeMain, msg

``msg`` is imported on first use: tools that run no node (``robot-rl topics``) never load the message classes.
"""

import importlib
from typing import Any

from robot_rl.runtime.node import Context, Node, NodeMain, create_context
from robot_rl.runtime.qos import LATCHED, SENSOR_DATA, QoSProfile

__all__ = ["LATCHED", "SENSOR_DATA", "Context", "Node", "NodeMain", "QoSProfile", "create_context", "msg"]


def __getattr__(name: str) -> Any:
    if name == "msg":
        return importlib.import_module("robot_rl.runtime.msg")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
