"""Scripted experts: state-based controllers that solve the sim tasks from privileged object poses.

An expert maps an :class:`ExpertInput` (end-effector pose, finger joints and object poses in
base_link, the quantities an expert node gets from PoseStamped, JointState and PoseArray messages)
to one normalized action ``[dx, dy, dz, droll, dpitch, dyaw, gripper]`` (robot_rl.action_space).
Each expert is a small phase machine around proportional, saturated pose control:

approach (hover above the object, gripper open, fingers turned across the cube's faces) ->
descend -> grasp (close) -> lift -> [transport -> place -> release] -> done.

A missed grasp (fingers closed on nothing) or a slip (the object falls away from the fingertips
while carried) sends the expert back to ``approach`` to grasp again. Experts keep no randomness:
the same inputs give the same actions.

Joint limits: when the arm's joint positions are known and a command would push a joint that sits in the
safety gate's margin further toward its limit (the gate would hold it), the expert first moves the TCP along
the direction that turns that joint away fastest, until the joint is ``joint_limit_clearance_rad`` off its
limit. A policy can leave the Panda's elbow on joint 4's upper limit, past the elbow's longest reach, where
every command that pulls the hand back pushes the joint into the limit (docs/safety.md, item 9).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import SimError
from robot_rl.safety.filter import ACTION_SCALE, PANDA_JOINT_LIMITS_RAD
from robot_rl.safety.kinematics import damped_inverse
from robot_rl.sim.robosuite_adapter import ObjectPose, Observation

# robosuite 1.5 Stack: cubeA and cubeB are fixed-size boxes with these half sizes, m.
STACK_CUBE_A_HALF_SIZE_M = 0.02
STACK_CUBE_B_HALF_SIZE_M = 0.025
# robosuite 1.5 PickPlaceCan succeeds when the can's origin lies in its compartment of bin2, world x in
# (0.1, 0.295), y in (0.28, 0.525), z in (0.8, 0.9) (PickPlace.not_in_bin for bin_id 3), and the gripper is
# > 0.042 m away. In base_link (robot0_base sits at (-0.5, -0.1, 0.912) in that world) that is x in (0.6,
# 0.795), y in (0.38, 0.625), z in (-0.112, -0.012); the floor is at -0.092 and the walls reach -0.012.
# The compartment's centre (0.6975, 0.5025) is beyond a fingers-down Panda's reach, so the can is lowered
# into the corner nearest the robot, 2-3 cm clear of its inner walls (surfaces at x 0.61 and y 0.39, m).
PICK_PLACE_CAN_DROP_M = (0.655, 0.445, -0.01)  # where the can's origin is released, base_link m
CAN_HALF_HEIGHT_M = 0.04  # the can's top above its origin (robosuite can.xml: a 0.08 m tall, 0.025 m radius mesh)
LIFT_CUBE_HALF_SIZE_M = 0.021  # robosuite 1.5 Lift draws the cube's half size from [0.020, 0.022] m


@dataclass(frozen=True)
class ExpertInput:
    """What an expert sees at one control step; every pose is in base_link."""

    ee_position_m: np.ndarray  # (3,) fingertip centre (TCP) position in base_link, m
    ee_quaternion_xyzw: np.ndarray  # (4,) TCP orientation in base_link, unit quaternion (x, y, z, w)
    gripper_finger_positions_m: np.ndarray  # (2,) finger joints, m; 0 is closed, joint1 opens +, joint2 opens -
    object_poses: Mapping[str, ObjectPose]  # object name -> pose of its origin in base_link (m, unit quaternion)
    # (7,) the Panda's arm joints in chain order (panda_joint1 first), rad; None: unknown (no joint-limit recovery)
    arm_joint_positions_rad: np.ndarray | None = None

    @classmethod
    def from_observation(cls, obs: Observation) -> ExpertInput:
        """Take the expert's inputs out of a simulator observation."""
        return cls(
            obs.ee_position_m,
            obs.ee_quaternion_xyzw,
            obs.gripper_finger_positions_m,
            obs.object_poses,
            obs.joint_positions_rad,
        )


@dataclass(frozen=True)
class ExpertConfig:
    """Gains and thresholds of the scripted experts. Invalid values raise :class:`SimError`."""

    position_gain_per_m: float = 20.0  # translation action per metre of TCP position error, 1/m
    rotation_gain_per_rad: float = 2.0  # rotation action per radian of orientation error, 1/rad
    max_translation_action: float = 1.0  # cap on the norm of (dx, dy, dz), in (0, 1]
    position_tolerance_m: float = 0.008  # a waypoint counts as reached within this distance, m
    yaw_tolerance_rad: float = 0.08  # the fingers count as turned across the cube within this yaw error, rad
    approach_height_m: float = 0.08  # TCP hover height above the object's origin before descending, m
    grasp_depth_m: float = 0.02  # TCP depth below the object's top when grasping (the fingers are ~4.5 cm long), m
    neighbour_radius_m: float = 0.1  # another object closer than this (in xy) decides the cube's grasp axis, m
    open_gap_m: float = 0.06  # finger gap (joint1 - joint2) at which the gripper counts as open, m
    min_grasp_gap_m: float = 0.01  # a closed gripper with a smaller gap holds nothing (missed grasp), m
    grasp_steps: int = 8  # control steps to close the gripper before lifting
    release_steps: int = 6  # control steps to open the gripper before retreating
    stall_steps: int = 40  # control steps after which descend / place move on even if not yet reached
    lift_height_m: float = 0.10  # how far the object is lifted above where it was grasped, m
    transport_clearance_m: float = 0.08  # carry height of the object above its place position, m
    place_clearance_m: float = 0.005  # the object is released this far above its resting height, m
    slip_distance_m: float = 0.04  # object origin this far from the TCP while carried: it slipped, re-grasp, m
    joint_limit_margin_rad: float = 0.05  # the gate's joint margin: a command pushing a joint this near its limit
    # further in starts a recovery, rad
    joint_limit_clearance_rad: float = 0.3  # a recovery turns the joint this far off its limit (past the Panda
    # elbow's longest reach, 0.18 rad below joint 4's upper limit), rad

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SimError(f"ExpertConfig.{item.name} must be a finite number, got {value!r}")
            if item.name.endswith("_steps") and (not isinstance(value, int) or value < 1):
                raise SimError(f"ExpertConfig.{item.name} must be an int >= 1, got {value!r}")
            if value <= 0:
                raise SimError(f"ExpertConfig.{item.name} must be > 0, got {value!r}")
        if self.max_translation_action > 1.0:
            raise SimError(f"ExpertConfig.max_translation_action must be <= 1, got {self.max_translation_action}")
        if self.min_grasp_gap_m >= self.open_gap_m:
            raise SimError("ExpertConfig.min_grasp_gap_m must be smaller than open_gap_m")
        if self.joint_limit_clearance_rad <= self.joint_limit_margin_rad:
            raise SimError("ExpertConfig.joint_limit_clearance_rad must be larger than joint_limit_margin_rad")


class ScriptedExpert(ABC):
    """A deterministic controller for one task: call :meth:`reset` per episode, :meth:`act` per step."""

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config if config is not None else ExpertConfig()
        self._forget_joint_limits()

    def _forget_joint_limits(self) -> None:
        """No joint being moved off its limit, none given up (a new episode, or a takeover)."""
        self._recovery: tuple[int, float, float] | None = None  # (joint index, its limit rad, +1 upper / -1 lower)
        self._recovery_ticks = 0  # ticks spent on the recovery under way
        self._given_up: set[int] = set()  # joints whose recovery did not clear them within stall_steps

    @abstractmethod
    def reset(self) -> None:
        """Forget the episode (back to the first phase)."""

    def _off_joint_limits(self, state: ExpertInput, action: np.ndarray) -> np.ndarray:
        """``action``, or while a joint is being moved off its limit a translation that turns it away fastest.

        A recovery starts when ``action`` would move a joint inside ``joint_limit_margin_rad`` of its limit further
        toward it (predicted with the Jacobian's inverse, as the gate predicts it) and lasts until the joint is
        ``joint_limit_clearance_rad`` off the limit. The gripper command is kept. A recovery that has not cleared
        its joint after ``stall_steps`` ticks is given up for the rest of the episode (the arm did not follow: a
        translation barely moves a wrist joint, or another joint stops the arm), so the expert cannot be caught in
        it; the gate then holds what pushes the joint in.
        """
        cfg = self.config
        positions = state.arm_joint_positions_rad
        if positions is None:
            return action
        inverse = damped_inverse(positions)
        if self._recovery is not None:
            joint, limit, toward = self._recovery
            self._recovery_ticks += 1
            if toward * (limit - positions[joint]) >= cfg.joint_limit_clearance_rad:
                self._recovery = None
            elif self._recovery_ticks > cfg.stall_steps:
                self._recovery = None
                self._given_up.add(joint)
        if self._recovery is None:
            speeds = inverse @ (action[:6] * np.asarray(ACTION_SCALE))  # rad per control tick, per joint
            for joint, (lower, upper) in enumerate(PANDA_JOINT_LIMITS_RAD.values()):
                for limit, toward in ((upper, 1.0), (lower, -1.0)):
                    near = toward * (limit - positions[joint]) < cfg.joint_limit_margin_rad
                    pushes = near and toward * speeds[joint] > 0.0
                    if pushes and self._recovery is None and joint not in self._given_up:
                        self._recovery, self._recovery_ticks = (joint, limit, toward), 0
        if self._recovery is None:
            return action
        joint, _limit, toward = self._recovery
        away = -toward * inverse[joint, :3]  # the TCP translation that turns the joint away from its limit fastest
        recovery = action.copy()
        recovery[:3] = cfg.max_translation_action * away / max(float(np.linalg.norm(away)), 1e-12)
        recovery[3:6] = 0.0
        return np.clip(recovery, -1.0, 1.0).astype(np.float32)

    @abstractmethod
    def act(self, state: ExpertInput) -> np.ndarray:
        """The next action, float32 (7,) in [-1, 1]: [dx, dy, dz, droll, dpitch, dyaw, gripper]."""

    @property
    @abstractmethod
    def phase(self) -> str:
        """Name of the current phase ("approach", "descend", "grasp", "lift", ..., "done")."""

    @abstractmethod
    def resume(self, state: ExpertInput) -> None:
        """Take over from another driver: choose the phase from the scene, not from the phases followed so far.

        A phase machine that only watched another controller (a policy) can be stale: that controller need not pass
        the waypoints the machine waits for, so the machine may still be in ``approach`` while the object is carried.
        """


class _PickPlaceExpert(ScriptedExpert):
    """Grasp one object from above and lift it; place it where :meth:`_place_position` says, if anywhere."""

    object_name: str  # the object to grasp (robosuite's name, a key of ExpertInput.object_poses)
    align_yaw: bool  # turn the fingers across the object's faces (boxes); round objects keep the yaw
    top_height_m: float  # the object's top above its origin, m

    def __init__(self, config: ExpertConfig | None = None) -> None:
        super().__init__(config)
        self.reset()

    def reset(self) -> None:
        self._phase = "approach"
        self._steps_in_phase = 0
        self._carry_z_m = 0.0  # the object's height while lifted and transported, base_link m
        self._forget_joint_limits()

    @property
    def phase(self) -> str:
        return self._phase

    def _place_position(self, state: ExpertInput) -> np.ndarray | None:
        """Where the object's origin is released, base_link m; None to hold it lifted."""
        return None

    def resume(self, state: ExpertInput) -> None:
        """Object between closed fingers: ``grasp`` (close firmly, then lift and carry as after an own grasp); set
        down where it goes, hand open: ``done``; otherwise ``approach``."""
        cfg = self.config
        self._forget_joint_limits()  # decided afresh from the joints at the next act
        obj = np.asarray(state.object_poses[self.object_name].position_m, dtype=np.float64)
        ee = np.asarray(state.ee_position_m, dtype=np.float64)
        gap = float(state.gripper_finger_positions_m[0] - state.gripper_finger_positions_m[1])
        place = self._place_position(state)
        held = cfg.min_grasp_gap_m <= gap < cfg.open_gap_m and np.linalg.norm(obj - ee) < cfg.slip_distance_m
        if held:
            self._go("grasp")
        elif (
            place is not None
            and gap >= cfg.open_gap_m
            and np.linalg.norm((place - obj)[:2]) < cfg.slip_distance_m
            and obj[2] < place[2] + cfg.position_tolerance_m
        ):
            self._go("done")
        else:
            self._go("approach")

    def act(self, state: ExpertInput) -> np.ndarray:
        cfg = self.config
        ee = np.asarray(state.ee_position_m, dtype=np.float64)
        obj_pose = state.object_poses.get(self.object_name)
        if obj_pose is None:
            raise SimError(f"{type(self).__name__} needs the pose of {self.object_name!r} in object_poses")
        obj = np.asarray(obj_pose.position_m, dtype=np.float64)
        fingers = state.gripper_finger_positions_m
        gap = float(fingers[0] - fingers[1])
        place = self._place_position(state)
        grasp_point = obj + np.array([0.0, 0.0, self.top_height_m - cfg.grasp_depth_m])
        hover = obj + np.array([0.0, 0.0, cfg.approach_height_m])
        ee_yaw = _yaw(state.ee_quaternion_xyzw)
        yaw = self._grasp_yaw(state, ee_yaw) if self.align_yaw and self._phase in ("approach", "descend") else ee_yaw
        carried = self._phase in ("lift", "transport", "place") or (self._phase == "done" and place is None)
        self._steps_in_phase += 1

        # Transitions first, so that each step acts on the phase the state is in now.
        if carried and np.linalg.norm(obj - ee) > cfg.slip_distance_m:
            self._go("approach")  # dropped: grasp it again wherever it fell
        elif self._phase == "approach":
            xy_error, z_error = np.linalg.norm((hover - ee)[:2]), abs(hover[2] - ee[2])
            aligned = abs(yaw - ee_yaw) < cfg.yaw_tolerance_rad and gap > cfg.open_gap_m
            if max(xy_error, z_error) < cfg.position_tolerance_m and aligned:
                self._go("descend")
        elif self._phase == "descend":
            if np.linalg.norm(grasp_point - ee) < cfg.position_tolerance_m or self._steps_in_phase > cfg.stall_steps:
                self._go("grasp")
        elif self._phase == "grasp" and self._steps_in_phase > cfg.grasp_steps:
            if gap < cfg.min_grasp_gap_m:
                self._go("approach")  # the fingers closed on nothing
            else:
                self._go("lift")
                self._carry_z_m = obj[2] + cfg.lift_height_m
                if place is not None:
                    self._carry_z_m = max(self._carry_z_m, place[2] + cfg.transport_clearance_m)
        elif self._phase == "lift" and obj[2] > self._carry_z_m - cfg.position_tolerance_m:
            self._go("done" if place is None else "transport")
        elif self._phase == "transport" and place is not None:
            if np.linalg.norm((place - obj)[:2]) < cfg.position_tolerance_m:
                self._go("place")
        elif self._phase == "place" and place is not None:
            if np.linalg.norm(place - obj) < cfg.position_tolerance_m or self._steps_in_phase > cfg.stall_steps:
                self._go("release")
        elif self._phase == "release" and self._steps_in_phase > cfg.release_steps:
            self._go("done")

        # Where the TCP should go (carried phases steer the object, so an off-centre grasp does not matter).
        phase, close = self._phase, True
        if phase == "approach":
            target, close = hover, False
            if ee[2] < hover[2] - cfg.position_tolerance_m and np.linalg.norm((hover - ee)[:2]) > cfg.slip_distance_m:
                target = np.array([ee[0], ee[1], hover[2]])  # low and off to the side: rise first, sweep nothing
        elif phase == "descend":
            target, close = grasp_point, False
        elif phase in ("grasp", "release"):
            target, close = ee, phase == "grasp"
        elif phase == "transport" and place is not None:
            target = ee + np.array([place[0], place[1], self._carry_z_m]) - obj
        elif phase == "place" and place is not None:
            target = ee + place - obj
        elif phase == "done" and place is not None:
            target, close = hover, False  # retreat above the placed object
        else:  # lift, or Lift's done: hold the object up
            target = ee + np.array([0.0, 0.0, self._carry_z_m - obj[2]])
        return self._off_joint_limits(state, self._command(ee, target, state.ee_quaternion_xyzw, yaw, close))

    def _grasp_yaw(self, state: ExpertInput, ee_yaw: float) -> float:
        """TCP yaw (rad) at which the fingers, closing along the TCP's y axis, close on two faces of the box."""
        pose = state.object_poses[self.object_name]
        yaw = ee_yaw + _wrap(_yaw(pose.quaternion_xyzw) - ee_yaw, math.pi / 2)  # the nearest pair of faces
        offsets = [
            p.position_m[:2] - pose.position_m[:2] for n, p in state.object_poses.items() if n != self.object_name
        ]
        if not offsets or min(np.linalg.norm(offsets, axis=1)) > self.config.neighbour_radius_m:
            return yaw
        # A neighbour close by: take the face pair whose closing axis is most across the line to it,
        # so that no finger comes down on it.
        dx, dy = min(offsets, key=lambda d: float(np.linalg.norm(d)))
        heading = math.atan2(dy, dx)
        other = yaw - math.copysign(math.pi / 2, yaw - ee_yaw)
        return other if abs(math.sin(other - heading)) < abs(math.sin(yaw - heading)) else yaw

    def _go(self, phase: str) -> None:
        self._phase, self._steps_in_phase = phase, 0

    def _command(self, ee: np.ndarray, target: np.ndarray, quat: np.ndarray, yaw: float, close: bool) -> np.ndarray:
        """Saturated P control of the TCP towards ``target`` and a fingers-down orientation at ``yaw``."""
        cfg = self.config
        translation = cfg.position_gain_per_m * (target - ee)
        norm = float(np.linalg.norm(translation))
        if norm > cfg.max_translation_action:
            translation *= cfg.max_translation_action / norm  # keep the direction when saturating
        # Fingers down at the given yaw: Rz(yaw) * Rx(pi) as the quaternion (cos(yaw/2), sin(yaw/2), 0, 0).
        goal = np.array([math.cos(yaw / 2), math.sin(yaw / 2), 0.0, 0.0])
        rotation = cfg.rotation_gain_per_rad * _rotation_vector(_multiply(goal, _conjugate(quat)))
        action = np.zeros(ACTION_DIM)
        action[:3] = translation
        action[3:6] = rotation
        action[6] = 1.0 if close else -1.0
        return np.clip(action, -1.0, 1.0).astype(np.float32)


class LiftExpert(_PickPlaceExpert):
    """Lift: grasp the cube across two faces and hold it ``lift_height_m`` up (phases to "done")."""

    object_name = "cube"
    align_yaw = True
    top_height_m = LIFT_CUBE_HALF_SIZE_M


class StackExpert(_PickPlaceExpert):
    """Stack: grasp cubeA and release it just above cubeB's top face."""

    object_name = "cubeA"
    align_yaw = True
    top_height_m = STACK_CUBE_A_HALF_SIZE_M

    def _place_position(self, state: ExpertInput) -> np.ndarray:
        height = STACK_CUBE_A_HALF_SIZE_M + STACK_CUBE_B_HALF_SIZE_M + self.config.place_clearance_m
        return np.asarray(state.object_poses["cubeB"].position_m, dtype=np.float64) + np.array([0.0, 0.0, height])


class PickPlaceCanExpert(_PickPlaceExpert):
    """PickPlaceCan: grasp the can from above, carry it over the bin walls and drop it in its compartment."""

    object_name = "Can"
    align_yaw = False  # the can is round
    top_height_m = CAN_HALF_HEIGHT_M

    def _place_position(self, state: ExpertInput) -> np.ndarray:
        return np.array(PICK_PLACE_CAN_DROP_M)


# Control steps (20 Hz) an episode needs for the expert, with room for a re-grasp (benchmarks/expert_success.py).
RECOMMENDED_HORIZON_STEPS: dict[str, int] = {"Lift": 200, "Stack": 200, "PickPlaceCan": 300}
EXPERTS: dict[str, type[ScriptedExpert]] = {
    "Lift": LiftExpert,
    "Stack": StackExpert,
    "PickPlaceCan": PickPlaceCanExpert,
}


def make_expert(task: str, config: ExpertConfig | None = None) -> ScriptedExpert:
    """The scripted expert of a task (a robosuite task name, one of EXPERTS)."""
    if task not in EXPERTS:
        raise SimError(f"no scripted expert for task {task!r}; valid tasks: {', '.join(EXPERTS)}")
    return EXPERTS[task](config)


def _wrap(angle: float, period: float) -> float:
    """``angle`` moved by whole periods into [-period / 2, period / 2)."""
    return (angle + period / 2) % period - period / 2


def _yaw(q: np.ndarray) -> float:
    """Heading of a frame's x axis in the base_link xy plane, rad (from an xyzw quaternion)."""
    x, y, z, w = q
    return math.atan2(2.0 * (x * y + z * w), 1.0 - 2.0 * (y * y + z * z))


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of xyzw quaternions."""
    va, wa, vb, wb = a[:3], a[3], b[:3], b[3]
    return np.append(wa * vb + wb * va + np.cross(va, vb), wa * wb - va @ vb)


def _conjugate(q: np.ndarray) -> np.ndarray:
    return np.array([-q[0], -q[1], -q[2], q[3]])


def _rotation_vector(q: np.ndarray) -> np.ndarray:
    """Axis * angle (rad) of an xyzw quaternion, the short way round."""
    q = -q if q[3] < 0 else q
    sin_half = float(np.linalg.norm(q[:3]))
    if sin_half < 1e-12:
        return np.zeros(3)
    return 2.0 * math.atan2(sin_half, q[3]) * q[:3] / sin_half
