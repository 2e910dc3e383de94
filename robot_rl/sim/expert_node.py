"""The expert node: a scripted expert (privileged sim state) acting as the policy of the graph.

Subscribes ``/robot_rl/ee_pose``, ``/joint_states`` (finger joints), the sim-only
``/robot_rl/sim/object_poses`` (PoseArray in ``TASK_OBJECTS[task]`` order; its arrival triggers
one action per tick) and ``/robot_rl/episode`` (an episode start resets the expert and reseeds
the noise with ``noise_seed + episode seed``, so noisy demos are reproducible).

Publishes what a base policy publishes: the planned chunk on ``/robot_rl/base_action`` (one
point for an expert) and this tick's action on ``/robot_rl/policy_action``. With
``action_noise_std > 0`` Gaussian noise is added to the motion axes (not the gripper) and the
result clipped to [-1, 1]: deliberately imperfect demonstrations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.action_space import actions_to_trajectory
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import MessageError, SimError
from robot_rl.policies.features import FINGER_JOINTS
from robot_rl.runtime import Node, NodeMain, diagnostics, msg
from robot_rl.runtime.msg_numpy import joint_state_to_numpy
from robot_rl.safety.filter import PANDA_JOINT_LIMITS_RAD
from robot_rl.sim.experts import ExpertInput, make_expert
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS, ObjectPose


class ExpertNode(Node):
    """Thin ROS wrapper around a :class:`~robot_rl.sim.experts.ScriptedExpert`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("expert", **kwargs)
        task = self.declare_parameter("task", "Lift", "robosuite task the expert solves").value
        self.noise_std = self.declare_parameter(
            "action_noise_std", 0.0, "std of Gaussian noise on the motion axes, normalized units"
        ).value
        self.noise_seed = self.declare_parameter("noise_seed", 0, "noise seed, added to each episode's seed").value
        self.period_s = self.declare_parameter("control_period_s", 0.05, "time between chunk points, s").value
        if not (np.isfinite(self.noise_std) and 0.0 <= self.noise_std <= 1.0):
            raise SimError(f"action_noise_std must be in [0, 1], got {self.noise_std}")
        self.expert = make_expert(task)
        self.inputs = ExpertInputAssembler(task)
        self.rng = np.random.default_rng(self.noise_seed)
        self.actions = 0
        self.chunk_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.action_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
        self.report = diagnostics.Reporter(self)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.report.guard(self.inputs.on_ee_pose), 10)
        on_joint_states = self.report.guard(self.inputs.on_joint_states)
        self.create_subscription(msg.JointState, "/joint_states", on_joint_states, 10)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self.on_object_poses, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)

    def on_episode(self, event: Any) -> None:
        """Reset the expert and reseed the noise at an episode start."""
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start":
            self.expert.reset()
            seed = payload.get("seed", 0)
            self.rng = np.random.default_rng([self.noise_seed, seed if isinstance(seed, int) else 0])

    def on_object_poses(self, poses: Any) -> None:
        """Act once per tick, when the object poses (the last state input) arrive."""
        try:
            state = self.inputs.on_object_poses(poses)
        except MessageError as error:
            self.report(diagnostics.ERROR, str(error))
            return
        if state is None:
            self.report(diagnostics.WARN, "waiting for ee_pose and joint_states")
            return
        action = self.expert.act(state).astype(np.float64)
        if self.noise_std > 0:
            action[:6] = np.clip(action[:6] + self.rng.normal(0.0, self.noise_std, 6), -1.0, 1.0)
        trajectory = actions_to_trajectory(action, self.period_s, msg.Header(stamp=poses.header.stamp))
        self.chunk_pub.publish(trajectory)
        self.action_pub.publish(trajectory)
        self.actions += 1


class ExpertInputAssembler:
    """Assemble an :class:`ExpertInput` from the sim's messages (also used by the simulated human).

    Feed it ``/robot_rl/ee_pose`` and ``/joint_states``; :meth:`on_object_poses` (the sim-only
    PoseArray in ``TASK_OBJECTS[task]`` order, the last state input of a tick) returns the input.
    """

    def __init__(self, task: str) -> None:
        if task not in TASK_OBJECTS:
            raise SimError(f"unknown task {task!r}; known: {', '.join(sorted(TASK_OBJECTS))}")
        self.object_names = TASK_OBJECTS[task]
        self.ee: tuple[np.ndarray, np.ndarray] | None = None
        self.fingers: np.ndarray | None = None
        self.arm_joints: np.ndarray | None = None  # (7,) panda_joint1..7, rad; None until a state carries them

    def on_ee_pose(self, pose_stamped: Any) -> None:
        """Keep the TCP pose (base_link); MessageError if it is not finite."""
        self.ee = _pose_arrays(pose_stamped.pose)

    def on_joint_states(self, joint_state: Any) -> None:
        """Keep the finger and arm joint positions; MessageError for a malformed JointState."""
        names, positions, _, _ = joint_state_to_numpy(joint_state)
        if all(name in names for name in FINGER_JOINTS):
            self.fingers = np.array([positions[names.index(name)] for name in FINGER_JOINTS])
        if all(name in names for name in PANDA_JOINT_LIMITS_RAD):
            self.arm_joints = np.array([positions[names.index(name)] for name in PANDA_JOINT_LIMITS_RAD])

    def on_object_poses(self, poses: Any) -> ExpertInput | None:
        """The expert's input of this tick; None until the TCP pose and finger joints arrived.

        Raises:
            MessageError: When the PoseArray does not hold one finite pose per task object.
        """
        if len(poses.poses) != len(self.object_names):
            raise MessageError(f"object_poses has {len(poses.poses)} poses, expected {len(self.object_names)}")
        if self.ee is None or self.fingers is None:
            return None
        objects = {
            name: ObjectPose(*_pose_arrays(pose)) for name, pose in zip(self.object_names, poses.poses, strict=True)
        }
        return ExpertInput(self.ee[0], self.ee[1], self.fingers, objects, self.arm_joints)


def _pose_arrays(pose: Any) -> tuple[np.ndarray, np.ndarray]:
    p, q = pose.position, pose.orientation
    position, orientation = np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w])
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(orientation))):  # the expert would act on NaN
        raise MessageError(f"non-finite pose: position {position.tolist()}, orientation {orientation.tolist()}")
    return position, orientation


main = NodeMain(ExpertNode)
