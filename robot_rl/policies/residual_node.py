"""The residual node's place in the graph, as a pass-through until the residual RL corrector exists.

Subscribes ``/robot_rl/base_action`` (the base policy's chunk; point 0 is this tick's action) and
publishes that action unchanged on ``/robot_rl/policy_action``: ``policy_action = base + residual``
with the residual zero, which is also what a zero-initialized residual actor outputs. A malformed
base action is dropped with an ERROR diagnostic, so nothing is forwarded and the safety gate holds.
"""

from __future__ import annotations

from typing import Any

from robot_rl.action_space import actions_to_trajectory, trajectory_to_actions
from robot_rl.errors import MessageError
from robot_rl.runtime import Node, NodeMain, diagnostics, msg


class ResidualNode(Node):
    """Forwards the base policy's action of this tick (zero residual)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("residual", **kwargs)
        self.period_s = self.declare_parameter("control_period_s", 0.05, "control tick, s").value
        self.forwarded = 0
        self.action_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
        self.diagnostics_pub = self.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.on_base_action, 10)

    def on_base_action(self, trajectory: Any) -> None:
        """Publish point 0 of the base chunk as this tick's policy action."""
        try:
            action = trajectory_to_actions(trajectory)[0]
        except MessageError as error:
            stamp = self.get_clock().now().to_msg()
            name = self.get_fully_qualified_name()
            diagnostics.publish(self.diagnostics_pub, stamp, name, diagnostics.ERROR, f"dropped base action: {error}")
            return
        self.action_pub.publish(actions_to_trajectory(action, self.period_s, trajectory.header))
        self.forwarded += 1


main = NodeMain(ResidualNode)
