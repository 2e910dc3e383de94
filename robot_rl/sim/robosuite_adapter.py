"""A small typed adapter around one robosuite 1.5 environment (a Panda arm, one camera).

It hides robosuite: the rest of robot_rl sees :class:`SimConfig`, :class:`Observation`,
:class:`StepFlags` and :class:`RobosuiteAdapter`, in SI units and ROS frames.

Frames (REP-103):

- ``base_link`` is the robot's base body (robosuite ``robot0_base``). Every pose this module
  returns is expressed in it, never in the MuJoCo world frame. In the supported tasks its axes
  are parallel to the world's: x forward (towards the table), y left, z up.
- The end-effector frame is the Panda hand frame moved to the fingertip centre (robosuite's
  ``grip_site``, 0.097 m along the hand's z axis), like franka_description's ``panda_hand_tcp``:
  z points along the fingers (the approach direction), the fingers close along y.
- The camera frame is the camera's *optical* frame: z forward, x right, y down. MuJoCo cameras
  look along their -z axis with y up, so the MuJoCo frame is rotated by pi about its x axis.

Action (``ACTION_NAMES``): ``[dx, dy, dz, droll, dpitch, dyaw, gripper]``, each in [-1, 1], applied
by robosuite's OSC_POSE controller with its default gains (kp 150, critically damped):

- ``dx, dy, dz`` move the position goal to the *current* end-effector position plus
  ``action * 0.05 m`` along base_link's axes, once per control step (``output_max``).
- ``droll, dpitch, dyaw`` are an axis-angle vector in base_link, ``action * 0.5 rad`` per control
  step, pre-multiplied onto the current end-effector orientation.
- ``gripper``: +1 closes, -1 opens (robosuite's GRIP controller; the fingers move a fixed amount per
  physics step towards closed or open).

The goal is set relative to the achieved pose ("achieved" goal mode), so the arm does not reach the
whole offset in one step: at 20 Hz a constant ``dx = 1`` settles at about 0.0125 m per step
(0.25 m/s) and the motion scales linearly with the action; a zero action holds the pose.
Values outside [-1, 1] are clipped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, ACTION_NAMES
from robot_rl.calibration.files import FixtureBox, SceneFixtures
from robot_rl.errors import SimError
from robot_rl.perception.geometry import quaternion_xyzw

# The tasks this adapter supports (all run in robosuite 1.5.1 with a Panda), and the movable objects
# each one reports in Observation.object_poses (robosuite's object names). PickPlaceCan's visual
# target markers and the objects robosuite moves out of the scene in single-object modes are left out.
TASK_OBJECTS: dict[str, tuple[str, ...]] = {
    "Lift": ("cube",),
    "Stack": ("cubeA", "cubeB"),
    "PickPlaceCan": ("Can",),
    "NutAssemblySquare": ("SquareNut",),
}
SUPPORTED_ROBOTS: tuple[str, ...] = ("Panda",)
# The static scene bodies of each task that stand above the table in the camera's view (robosuite body names):
# their walls are fixture boxes for perception (RobosuiteAdapter.fixture_boxes).
TASK_FIXTURE_BODIES: dict[str, tuple[str, ...]] = {
    "Lift": (),
    "Stack": (),
    "PickPlaceCan": ("bin1", "bin2"),
    "NutAssemblySquare": ("peg1", "peg2"),
}

# robosuite's fixed physics step (macros.SIMULATION_TIMESTEP), s; a control step runs a whole number of them.
PHYSICS_TIMESTEP_S = 0.002
_MAX_IMAGE_SIDE_PX = 4096
_MAX_RENDER_SAMPLES = 16
_MJOBJ_GEOM = 5  # mujoco.mjtObj.mjOBJ_GEOM: segmentation pixels showing a geom carry this object type
_MJGEOM_CYLINDER, _MJGEOM_BOX = 5, 6  # mujoco.mjtGeom.mjGEOM_CYLINDER and mjGEOM_BOX
# MuJoCo camera frame (x right, y up, looking along -z) -> optical frame (x right, y down, z forward).
_MUJOCO_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class SimConfig:
    """What to simulate and how to observe it. Invalid values raise :class:`SimError`."""

    task: str = "Lift"  # robosuite task, one of TASK_OBJECTS
    robot: str = "Panda"  # robot model, one of SUPPORTED_ROBOTS
    control_rate_hz: float = 20.0  # control steps per simulated second; 500 Hz physics / rate must be whole
    horizon_steps: int = 500  # control steps per episode before the timeout flag is raised
    camera_name: str = "agentview"  # sim camera to render and calibrate (front camera looking over the table)
    image_width_px: int = 640  # rendered image width, px
    image_height_px: int = 480  # rendered image height, px
    # multisample anti-aliasing samples per pixel of the camera renders (MuJoCo's offsamples, 4 by default):
    # 0 renders about twice as fast on a CPU (Mesa llvmpipe) and moves perception's slots by under 1 mm
    # (benchmarks/render_samples.py)
    render_samples: int = 0
    # mirror reflections in the camera renders (MuJoCo's default is on): robosuite's floor reflects 1 % and its
    # table legs 80 %, and drawing the mirrored scene nearly doubles a render on a CPU; off changes background
    # pixels only (by up to ~13 grey levels) and perception's slots not at all (benchmarks/render_samples.py
    # --setting reflections)
    render_reflections: bool = False
    render_camera: bool = True  # render images; False gives a state-only, much faster simulation
    depth: bool = False  # also render a depth image in metres (needs render_camera)
    segmentation: bool = False  # also render an instance segmentation image (needs render_camera)
    reward_shaping: bool = False  # robosuite's dense shaped reward instead of the sparse success reward
    seed: int | None = None  # seed of the episode seed sequence; None draws fresh entropy
    # seed of what robosuite draws once, when it builds the model (Lift's cube size): fixed, so that every sim of a
    # task holds the same objects whatever its episode seeds (an evaluation split over two processes, a resumed run)
    model_seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASK_OBJECTS:
            raise SimError(f"unknown task {self.task!r}; valid tasks: {', '.join(TASK_OBJECTS)}")
        if self.robot not in SUPPORTED_ROBOTS:
            raise SimError(f"unsupported robot {self.robot!r}; supported: {', '.join(SUPPORTED_ROBOTS)}")
        rate = self.control_rate_hz
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise SimError(f"control_rate_hz must be a positive number, got {rate!r}")
        # robosuite runs int(control_timestep / physics_timestep) physics steps per control step.
        substeps = (1.0 / rate) / PHYSICS_TIMESTEP_S
        if substeps < 1.0 or abs(substeps - round(substeps)) > 1e-6 or int(substeps) != round(substeps):
            raise SimError(
                f"control_rate_hz {rate} Hz does not divide the {1.0 / PHYSICS_TIMESTEP_S:.0f} Hz physics rate"
                " into whole physics steps (e.g. 10, 20, 25, 50, 100 Hz)"
            )
        _check_int("horizon_steps", self.horizon_steps, low=1)
        _check_int("image_width_px", self.image_width_px, low=1, high=_MAX_IMAGE_SIDE_PX)
        _check_int("image_height_px", self.image_height_px, low=1, high=_MAX_IMAGE_SIDE_PX)
        _check_int("render_samples", self.render_samples, low=0, high=_MAX_RENDER_SAMPLES)
        if not isinstance(self.camera_name, str) or not self.camera_name:
            raise SimError(f"camera_name must be a non-empty string, got {self.camera_name!r}")
        for name in ("render_camera", "render_reflections", "depth", "segmentation", "reward_shaping"):
            if not isinstance(getattr(self, name), bool):
                raise SimError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if (self.depth or self.segmentation) and not self.render_camera:
            raise SimError("depth and segmentation images need render_camera=True")
        if self.seed is not None:
            _check_int("seed", self.seed, low=0, high=2**32 - 1)
        _check_int("model_seed", self.model_seed, low=0, high=2**32 - 1)

    @property
    def control_period_s(self) -> float:
        """Simulated time of one control step, s."""
        return 1.0 / self.control_rate_hz


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SimError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise SimError(f"{name} must be {bound}, got {value}")


@dataclass(frozen=True)
class ObjectPose:
    """An object's pose in base_link, from privileged simulator state."""

    position_m: np.ndarray  # (3,) float64, m
    quaternion_xyzw: np.ndarray  # (4,) float64, unit, w >= 0


@dataclass(frozen=True)
class Observation:
    """One observation, taken after a reset or a control step. Poses are in base_link."""

    stamp_s: float  # simulated time since the reset, s
    joint_names: tuple[str, ...]  # arm joints, robosuite names (robot0_joint1 .. robot0_joint7)
    joint_positions_rad: np.ndarray  # (7,) float64, rad
    joint_velocities_rad_s: np.ndarray  # (7,) float64, rad/s
    gripper_joint_names: tuple[str, ...]  # the two prismatic finger joints
    gripper_finger_positions_m: np.ndarray  # (2,) float64, m; 0 is closed, joint1 opens +, joint2 opens -
    ee_position_m: np.ndarray  # (3,) float64, m, fingertip centre (TCP)
    ee_quaternion_xyzw: np.ndarray  # (4,) float64, unit, w >= 0
    object_poses: dict[str, ObjectPose]  # task object name -> pose
    color: np.ndarray | None = None  # (H, W, 3) uint8 RGB, row 0 at the top; None in state-only mode
    depth_m: np.ndarray | None = None  # (H, W) float32 z-depth along the optical axis, m; +inf where nothing
    segmentation: np.ndarray | None = None  # (H, W) int32 instance ids, 0 = no instance (table, floor, walls)
    segmentation_labels: Mapping[int, str] = field(default_factory=dict)  # instance id -> name (read-only)


@dataclass(frozen=True)
class StepFlags:
    """Why an episode may end after a step."""

    success: bool  # the task's success check holds now (robosuite does not end the episode on it)
    timeout: bool  # horizon_steps control steps have run; the adapter refuses to step further

    @property
    def done(self) -> bool:
        """True when an episode manager should end the episode (success or timeout)."""
        return self.success or self.timeout


class RobosuiteAdapter:
    """One robosuite environment behind a small API. Not thread-safe; call :meth:`close` when done.

    Building it takes about a second (MuJoCo model compilation); with ``render_camera`` it also
    creates an offscreen (EGL by default) OpenGL context.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._env: Any = None
        self._needs_reset = True
        self._episode_seeds = np.random.default_rng(config.seed)
        # Headless rendering by default; an explicit MUJOCO_GL (glfw, osmesa) wins. Set it even without
        # rendering: robosuite picks its GL backend once, when it is first imported.
        os.environ.setdefault("MUJOCO_GL", "egl")
        if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
            os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
        import robosuite
        from robosuite.controllers import load_part_controller_config

        arm = load_part_controller_config(default_controller="OSC_POSE")
        arm["gripper"] = {"type": "GRIP"}
        # Building the model samples numpy's global RNG too (e.g. Lift's cube size), so seed it from model_seed.
        with _seeded_global_numpy(config.model_seed):
            self._env = robosuite.make(
                config.task,
                robots=config.robot,
                controller_configs={"type": "BASIC", "body_parts": {"right": arm}},
                control_freq=config.control_rate_hz,
                horizon=config.horizon_steps,
                reward_shaping=config.reward_shaping,
                has_renderer=False,
                has_offscreen_renderer=config.render_camera,
                use_camera_obs=False,  # the adapter renders and flips images itself
                hard_reset=False,  # keep the model (and so the GL context) across resets
            )
        try:
            self._setup_references()
        except BaseException:
            self.close()
            raise

    # --- construction -------------------------------------------------------------------------

    def _setup_references(self) -> None:
        env, cfg = self._env, self.config
        model = env.sim.model
        robot = env.robots[0]
        if env.action_dim != ACTION_DIM:
            raise SimError(f"robosuite built a {env.action_dim}-D action space, expected {ACTION_DIM}-D")
        arm_controller = robot.part_controllers["right"]
        if arm_controller.name != "OSC_POSE":
            raise SimError(f"robosuite built a {arm_controller.name} arm controller, expected OSC_POSE")
        cameras = [model.camera_id2name(i) for i in range(model.ncam)]
        if cfg.camera_name not in cameras:
            raise SimError(f"task {cfg.task} has no camera {cfg.camera_name!r}; cameras: {', '.join(cameras)}")
        self._camera_id = model.camera_name2id(cfg.camera_name)
        self._base_body_id = model.body_name2id(robot.robot_model.root_body)
        self._hand_body_id = model.body_name2id(robot.robot_model.eef_name["right"])
        self._tcp_site_id = model.site_name2id(robot.gripper["right"].important_sites["grip_site"])
        self.joint_names: tuple[str, ...] = tuple(robot.robot_joints)
        self._qpos_idx = np.array(robot._ref_joint_pos_indexes)
        self._qvel_idx = np.array(robot._ref_joint_vel_indexes)
        self.gripper_joint_names: tuple[str, ...] = tuple(robot.gripper["right"].joints)
        self._gripper_qpos_idx = np.array(robot._ref_gripper_joint_pos_indexes["right"])
        # Per-axis scale of the first six action dims: metres (0:3) and radians (3:6) per unit action.
        self.action_scale_per_step = np.asarray(arm_controller.output_max, dtype=np.float64).copy()
        roots = {obj.name: obj.root_body for obj in env.model.mujoco_objects}
        self._object_body_ids = {name: model.body_name2id(roots[name]) for name in TASK_OBJECTS[cfg.task]}
        # Instance segmentation: id i + 1 for robosuite's i-th instance; geoms of no instance map to 0.
        instances = list(env.model.instances_to_ids)
        self.segmentation_labels: Mapping[int, str] = MappingProxyType({i + 1: n for i, n in enumerate(instances)})
        self._geom_to_instance = np.zeros(model.ngeom, dtype=np.int32)
        for geom_id, instance in env.model.geom_ids_to_instances.items():
            self._geom_to_instance[geom_id] = instances.index(instance) + 1
        if cfg.render_camera:
            _set_render_samples(env.sim, cfg.render_samples)
            _set_render_reflections(env.sim, cfg.render_reflections)

    # --- episode ------------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> Observation:
        """Start an episode and return its first observation.

        ``seed`` fixes the object placement and the arm's initial joint noise: with the same
        config, the same seed gives identical observations (and actions then identical steps).
        Without it the next seed of the sequence started from ``config.seed`` is used. Object
        sizes (Lift's cube) are drawn once, when the adapter is built, from ``config.model_seed``;
        they stay fixed across resets. numpy's global RNG, which robosuite samples, is restored afterwards.
        """
        if seed is None:
            seed = int(self._episode_seeds.integers(0, 2**32))
        else:
            _check_int("seed", seed, low=0, high=2**32 - 1)
        env = self._require_env()
        with _seeded_global_numpy(seed):
            env.reset()
        if self.config.render_camera:
            # Hide sites (invisible markers that still occlude in segmentation and depth images).
            env.sim._render_context_offscreen.vopt.sitegroup[:] = 0
        self._needs_reset = False
        return self._observe()

    def step(self, action: np.ndarray) -> tuple[Observation, float, StepFlags]:
        """Apply one normalized action for one control step (1 / control_rate_hz s of sim time).

        Returns the new observation, robosuite's reward (sparse 1.0 on success unless
        ``reward_shaping``) and the step flags.

        Raises:
            SimError: For an action that is not 7 finite numbers, before the first reset,
                or after the episode timed out.
        """
        env = self._require_env()
        if self._needs_reset:
            raise SimError("step() needs reset() first (no episode, or the episode timed out)")
        command = np.asarray(action, dtype=np.float64)
        if command.shape != (ACTION_DIM,) or not np.all(np.isfinite(command)):
            raise SimError(f"action must be {ACTION_DIM} finite numbers {ACTION_NAMES}, got {action!r}")
        _, reward, timeout, _ = env.step(np.clip(command, -1.0, 1.0))
        self._needs_reset = bool(timeout)
        flags = StepFlags(success=self.success(), timeout=bool(timeout))
        return self._observe(), float(reward), flags

    def success(self) -> bool:
        """Whether the task's success condition holds in the current state."""
        return bool(self._require_env()._check_success())

    # --- camera -------------------------------------------------------------------------------

    def camera_intrinsics(self) -> np.ndarray:
        """The 3x3 pinhole matrix K of the rendered images, px (no distortion).

        Pixel centres are at integer coordinates (OpenCV/ROS convention), so the principal point
        is ((W - 1) / 2, (H - 1) / 2); robosuite's camera_utils puts it at (W / 2, H / 2), half a
        pixel off. MuJoCo's ``fovy`` is the vertical field of view; pixels are square.
        """
        env = self._require_env()
        width, height = self.config.image_width_px, self.config.image_height_px
        fovy_rad = math.radians(float(env.sim.model.cam_fovy[self._camera_id]))
        focal_px = 0.5 * height / math.tan(0.5 * fovy_rad)
        return np.array([[focal_px, 0.0, (width - 1) / 2.0], [0.0, focal_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]])

    def camera_pose_in_base(self) -> np.ndarray:
        """The 4x4 pose of the camera optical frame in base_link (maps optical-frame points to base_link), m."""
        data = self._require_env().sim.data
        world_camera = _pose(data.cam_xpos[self._camera_id], data.cam_xmat[self._camera_id].reshape(3, 3))
        world_camera[:3, :3] = world_camera[:3, :3] @ _MUJOCO_TO_OPTICAL
        return np.linalg.inv(self._world_base()) @ world_camera

    def fixture_boxes(self) -> SceneFixtures:
        """The task's static fixtures as axis-aligned boxes in base_link, m (TASK_FIXTURE_BODIES).

        Each collision box or cylinder of those bodies that is taller than it is thin (a wall, a post) becomes one
        box, its bounding box if rotated; flat slabs (a bin's floor) are support surfaces and are left out.
        """
        env = self._require_env()
        model, data = env.sim.model, env.sim.data
        base_world = np.linalg.inv(self._world_base())
        boxes = []
        for body in TASK_FIXTURE_BODIES[self.config.task]:
            body_id = model.body_name2id(body)
            for geom in range(model.ngeom):
                if model.geom_bodyid[geom] != body_id or not model.geom_contype[geom]:
                    continue  # another body's, or a visual-only geom
                size = np.asarray(model.geom_size[geom], dtype=np.float64)
                if model.geom_type[geom] == _MJGEOM_BOX:
                    half = size
                elif model.geom_type[geom] == _MJGEOM_CYLINDER:  # size: radius, half-height
                    half = np.array([size[0], size[0], size[1]])
                else:
                    continue
                if not half[2] > min(half[0], half[1]):
                    continue  # a slab: support surface, not a wall
                rotation = base_world[:3, :3] @ data.geom_xmat[geom].reshape(3, 3)
                centre = base_world[:3, :3] @ data.geom_xpos[geom] + base_world[:3, 3]
                boxes.append(FixtureBox(f"{body}_wall{len(boxes)}", centre, np.abs(rotation) @ half))
        return SceneFixtures(tuple(boxes), "base_link")

    # --- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the simulator and its OpenGL context. Safe to call twice."""
        env, self._env = self._env, None
        if env is not None:
            _bind_gl_context(env.sim)  # robosuite frees GL objects in whatever context is current
            env.close()

    def __enter__(self) -> RobosuiteAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _require_env(self) -> Any:
        if self._env is None:
            raise SimError("the simulator is closed")
        return self._env

    def _world_base(self) -> np.ndarray:
        data = self._env.sim.data
        return _pose(data.xpos[self._base_body_id], data.xmat[self._base_body_id].reshape(3, 3))

    def _observe(self) -> Observation:
        env, cfg = self._env, self.config
        data = env.sim.data
        base_world = np.linalg.inv(self._world_base())
        # The TCP frame: the grip site's position with the hand's orientation.
        tcp = base_world @ _pose(data.site_xpos[self._tcp_site_id], data.xmat[self._hand_body_id].reshape(3, 3))
        objects = {}
        for name, body_id in self._object_body_ids.items():
            pose = base_world @ _pose(data.xpos[body_id], data.xmat[body_id].reshape(3, 3))
            objects[name] = ObjectPose(position_m=pose[:3, 3].copy(), quaternion_xyzw=quaternion_xyzw(pose[:3, :3]))
        color = depth_m = segmentation = None
        if cfg.render_camera:
            color, depth_m, segmentation = self._render()
        return Observation(
            stamp_s=float(data.time),
            joint_names=self.joint_names,
            joint_positions_rad=data.qpos[self._qpos_idx].copy(),
            joint_velocities_rad_s=data.qvel[self._qvel_idx].copy(),
            gripper_joint_names=self.gripper_joint_names,
            gripper_finger_positions_m=data.qpos[self._gripper_qpos_idx].copy(),
            ee_position_m=tcp[:3, 3].copy(),
            ee_quaternion_xyzw=quaternion_xyzw(tcp[:3, :3]),
            object_poses=objects,
            color=color,
            depth_m=depth_m,
            segmentation=segmentation,
            segmentation_labels=self.segmentation_labels if cfg.segmentation else MappingProxyType({}),
        )

    def _render(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Render color (+ depth) and segmentation, flipped once so that row 0 is the top."""
        cfg, sim = self.config, self._env.sim
        _bind_gl_context(sim)
        size = {"camera_name": cfg.camera_name, "width": cfg.image_width_px, "height": cfg.image_height_px}
        depth_m = segmentation = None
        if cfg.depth:
            rgb, depth_buffer = sim.render(depth=True, **size)
            depth_m = self._depth_buffer_to_metres(depth_buffer[::-1])
        else:
            rgb = sim.render(**size)
        if cfg.segmentation:
            raw = sim.render(segmentation=True, **size)[::-1]  # (H, W, 2): MuJoCo object type, object id
            is_geom = raw[..., 0] == _MJOBJ_GEOM
            segmentation = np.where(is_geom, self._geom_to_instance[np.where(is_geom, raw[..., 1], 0)], 0)
            segmentation = segmentation.astype(np.int32, copy=False)
        return np.ascontiguousarray(rgb[::-1]), depth_m, segmentation

    def _depth_buffer_to_metres(self, buffer: np.ndarray) -> np.ndarray:
        """OpenGL's normalized depth buffer in [0, 1] -> z-depth in metres (robosuite's get_real_depth_map)."""
        model = self._env.sim.model
        extent = float(model.stat.extent)
        near, far = float(model.vis.map.znear) * extent, float(model.vis.map.zfar) * extent
        buffer = buffer.astype(np.float64)
        depth = near / (1.0 - buffer * (1.0 - near / far))
        depth[buffer >= 1.0] = np.inf  # the far plane: nothing was rendered there
        return depth.astype(np.float32)


def _bind_gl_context(sim: Any) -> None:
    """Make this simulation's offscreen GL context current (once it has one).

    robosuite renders into, and frees GL objects of, whatever context is current, and
    freeing any context calls eglReleaseThread. With two environments in one process
    (tests, tools), closing one would otherwise corrupt or unbind the other's context.
    """
    context = getattr(sim, "_render_context_offscreen", None)
    if context is not None:
        context.gl_ctx.make_current()


def _set_render_samples(sim: Any, samples: int) -> None:
    """Give the offscreen renders ``samples`` multisample anti-aliasing samples per pixel.

    MuJoCo reads ``vis.quality.offsamples`` when it builds a render context, and robosuite builds the
    offscreen one inside ``robosuite.make``, so an existing context is rebuilt the way robosuite's own
    ``update_offscreen_size`` rebuilds it.
    """
    if sim.model.vis.quality.offsamples == samples:
        return
    sim.model.vis.quality.offsamples = samples
    context = getattr(sim, "_render_context_offscreen", None)
    if context is not None:
        context.gl_ctx.make_current()
        context.con.free()
        context._set_mujoco_context_and_buffers()


def _set_render_reflections(sim: Any, reflections: bool) -> None:
    """Turn the mirror reflections of the offscreen renders on or off (a flag of robosuite's render scene)."""
    import mujoco  # after robosuite, which picks the GL backend on import

    sim._render_context_offscreen.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = int(reflections)


@contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (which robosuite samples) for a block, then restore its previous state."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def _pose(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = position
    return pose
