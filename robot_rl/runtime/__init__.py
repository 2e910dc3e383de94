"""The node runtime: rclpy's node API over several backends (in-process, rclpy).

Import what nodes need from here::

    from robot_rl.runtime import Node, NodeMain, msg
"""

from robot_rl.runtime import msg
from robot_rl.runtime.node import Context, Node, NodeMain, create_context
from robot_rl.runtime.qos import LATCHED, SENSOR_DATA, QoSProfile

__all__ = ["LATCHED", "SENSOR_DATA", "Context", "Node", "NodeMain", "QoSProfile", "create_context", "msg"]
