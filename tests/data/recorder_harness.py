"""An in-process stand-in for the graph around the recorder node: it publishes what sim, perception,
policies, arbiter and safety gate publish on one control tick, in the order the real graph does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robot_rl.action_space import actions_to_trajectory
from robot_rl.data.recorder_node import RecorderNode
from robot_rl.perception.slot_msgs import slots_to_pointcloud2
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state

NUM_SLOTS = 2
PERIOD_S = 0.05
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]


class Harness(Node):
    """Publishes one tick at a time; ``tick(i, ...)`` makes an observation whose floats encode ``i``."""

    def __init__(self, context: InprocContext) -> None:
        super().__init__("harness", context=context)
        self.context = context
        self.time_ns = 1_000_000_000
        self.diagnostics: list = []
        self.clock = self.create_publisher(msg.Clock, "/clock", 10)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.slots = self.create_publisher(msg.PointCloud2, "/robot_rl/slots", 10)
        self.base = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.policy = self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
        self.command = self.create_publisher(msg.JointTrajectory, "/robot_rl/command", 10)
        self.intervention = self.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
        self.safe = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        self.reward = self.create_publisher(msg.Float32, "/robot_rl/reward", 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.create_subscription(
            msg.DiagnosticArray, "/diagnostics", lambda m: self.diagnostics.append(m.status[0]), 10
        )

    def header(self) -> object:
        sec, nanosec = divmod(self.time_ns, 1_000_000_000)
        return msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec), frame_id="base_link")

    def event(self, kind: str, **fields: object) -> None:
        """Publish one /robot_rl/episode event and run the graph."""
        self.episode.publish(msg.String(data=json.dumps({"event": kind, **fields})))
        self.context.spin_until_quiet()

    def tick(
        self,
        index: int,
        safe: np.ndarray,
        *,
        base: np.ndarray | None = None,
        policy: np.ndarray | None = None,
        command: np.ndarray | None = None,
        intervention: bool | None = None,
        reward: float | None = None,
    ) -> None:
        """Advance sim time one period, publish the observation ``index``, the tick's actions and the safe command.

        ``reward`` (the reward of the previous step) is published with the observation, as the sim does.
        """
        self.time_ns += int(PERIOD_S * 1e9)
        sec, nanosec = divmod(self.time_ns, 1_000_000_000)
        self.clock.publish(msg.Clock(clock=msg.Time(sec=sec, nanosec=nanosec)))
        value = float(index)
        self.joints.publish(numpy_to_joint_state(FINGERS, np.full(2, value), header=self.header()))
        pose = msg.Pose(position=msg.Point(x=value, y=value, z=value), orientation=msg.Quaternion(w=1.0))
        self.ee.publish(msg.PoseStamped(header=self.header(), pose=pose))
        if reward is not None:
            self.reward.publish(msg.Float32(data=reward))
        self.slots.publish(slots_to_pointcloud2(np.full((NUM_SLOTS, 11), value, dtype=np.float32), self.header()))
        if base is not None:  # a chunk of two: the first point is this tick's
            self.base.publish(actions_to_trajectory(np.stack([base, base + 1.0]), PERIOD_S, self.header()))
        if policy is not None:
            self.policy.publish(actions_to_trajectory(policy, PERIOD_S, self.header()))
        if command is not None:
            self.command.publish(actions_to_trajectory(command, PERIOD_S, self.header()))
        if intervention is not None:
            self.intervention.publish(msg.Bool(data=intervention))
        self.safe.publish(actions_to_trajectory(safe, PERIOD_S, self.header()))
        self.context.spin_until_quiet()


def make_graph(root: Path, *extra_args: str) -> tuple[RecorderNode, Harness]:
    """A recorder node writing to ``root`` (sim time, NUM_SLOTS slots) and a harness in one context."""
    context = InprocContext()
    args = ["--ros-args", "-p", "use_sim_time:=true", "-p", f"root:={root}", "-p", "task:=Lift"]
    args += ["-p", f"num_slots:={NUM_SLOTS}", *extra_args]
    recorder = RecorderNode(context=context, cli_args=args)
    return recorder, Harness(context)
