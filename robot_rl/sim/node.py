"""The sim bridge node: robosuite publishes what a real robot with a RealSense publishes.

Each control tick (a wall timer at ``control_rate_hz``; under the in-process backend
it runs in lockstep, as fast as the graph settles; as separate processes, with ``command_wait_s`` > 0, a tick
waits up to that long, sim time standing still, for the command of the last observation and, with
``wait_for_learner``, for the learner's ``/robot_rl/learner/tick`` (std_msgs/Header) stamped with it) the node:

1. steps the simulation with the latest ``/robot_rl/safe_command`` (the only command
   it executes; a tick without a new command holds: zero motion, gripper unchanged);
2. publishes ``/clock`` (advanced by one control period), ``/joint_states``,
   ``/robot_rl/ee_pose`` (base_link), the sim-only privileged object poses
   ``/robot_rl/sim/object_poses`` (PoseArray in base_link, one pose per task object in
   the order of ``TASK_OBJECTS[task]``), the camera topics as realsense-ros names them,
   ``/robot_rl/reward`` and, on episode start / success / timeout, a JSON event on
   ``/robot_rl/episode``.

Episodes start by themselves (``auto_reset``) or on ``{"event": "reset", "seed": N}`` received on
``/robot_rl/episode``; episode ``i`` uses seed ``seed + i`` unless the request names one. A request's ``"mode"``
(e.g. ``"train"``, ``"eval"``) is echoed in the episode's start event, so the residual and the learner know how to
treat the episode; so is its ``"request"`` (an int id), in the start event and in the sim's outcome event, and a
request with the id of the last one taken is a repeat and is ignored (a requester that resends until it sees the
start, as the training driver does while the sim's process may not be up yet, never restarts an episode; one that
missed the start knows its episode by the outcome). A person's episode keys (``"source": "human"``, from the
intervention node) end the running episode (``success``, ``failure``), restart it with the same seed
(``rerecord``) or end the session (``stop``). The graph's nodes read the sim's calibration from the package
(``calibration/sim_workspace_<task>.yaml``, ``calibration/sim_hand_eye_<task>.yaml``) as they read a real one; the
sim checks at start that the files it is given (``workspace_file``, ``hand_eye_file``) hold its own values, and
writes a copy of its calibration to ``calibration_dir``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, trajectory_to_actions
from robot_rl.calibration import (
    CameraIntrinsics,
    save_camera_info,
    save_hand_eye,
    save_workspace_limits,
    to_camera_info_msg,
)
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import MessageError, RobotRLError, SimError
from robot_rl.runtime import Node, NodeMain, QoSProfile, diagnostics, msg
from robot_rl.runtime.msg_numpy import header_stamp_ns, numpy_to_image, numpy_to_joint_state
from robot_rl.sim.fixtures import BASE_FRAME, CAMERA_FRAME, camera_hand_eye, check_calibration, task_workspace
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS, Observation, RobosuiteAdapter, SimConfig

NS_PER_S = 1_000_000_000
# /joint_states names of the arm joints (robosuite's robot0_joint1..7) and the two fingers: the Panda URDF's
URDF_JOINT_NAMES = (*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2")


def urdf_joint_positions(observation: Observation) -> dict[str, float]:
    """The positions this node publishes on /joint_states, by URDF joint name (rad; fingers m)."""
    positions = np.concatenate([observation.joint_positions_rad, observation.gripper_finger_positions_m])
    return dict(zip(URDF_JOINT_NAMES, (float(value) for value in positions), strict=True))


def calibration_paths(directory: str | Path) -> tuple[Path, Path]:
    """Return (camera_info YAML, hand-eye YAML) paths the sim writes in ``directory``."""
    return Path(directory) / "sim_camera_info.yaml", Path(directory) / "sim_hand_eye.yaml"


def workspace_path(directory: str | Path) -> Path:
    """Return the path of the workspace-limits YAML the sim writes in ``directory``."""
    return Path(directory) / "sim_workspace.yaml"


class SimNode(Node):
    """Thin ROS wrapper around :class:`RobosuiteAdapter`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim", **kwargs)
        declare = self.declare_parameter
        task = declare("task", "Lift", "robosuite task: Lift, Stack, PickPlaceCan, NutAssemblySquare").value
        rate_hz = declare("control_rate_hz", 20.0, "control ticks per simulated second, Hz").value
        horizon = declare("horizon_steps", 200, "control steps before an episode times out").value
        self.seed = declare("seed", 0, "seed of episode 0; episode i uses seed + i").value
        render = declare("render_camera", True, "render the camera (False: state only)").value
        width = declare("image_width_px", 640, "camera image width, px").value
        height = declare("image_height_px", 480, "camera image height, px").value
        camera = declare("camera_name", "agentview", "sim camera to publish").value
        render_samples = declare(
            "render_samples", 0, "anti-aliasing (MSAA) samples per pixel of the renders; 0 = off, about 2x faster"
        ).value
        render_reflections = declare(
            "render_reflections", False, "render mirror reflections (the floor's 1 %); False = about 2x faster"
        ).value
        self.depth_encoding = declare("depth_encoding", "32FC1", "32FC1 (m, NaN = none) or 16UC1 (mm, 0 = none)").value
        segmentation = declare("publish_segmentation", True, "publish the sim-only instance segmentation").value
        self.auto_reset = declare("auto_reset", True, "start the next episode after success or timeout").value
        self.max_episodes = declare("max_episodes", 0, "shut down after this many episodes; 0 = never").value
        command_wait_s = declare(
            "command_wait_s",
            0.0,
            "wall s a tick waits, sim time standing still, for the command of the last observation (0: never, a"
            " tick without one holds, as a robot's control loop; > 0: sim-in-the-loop training as processes)",
        ).value
        if not (command_wait_s >= 0 and math.isfinite(command_wait_s)):
            raise SimError(f"command_wait_s must be a finite number >= 0 s, got {command_wait_s!r}")
        self.command_wait_ns = round(command_wait_s * NS_PER_S)
        self.wait_for_learner = declare(
            "wait_for_learner",
            False,
            "with command_wait_s > 0, a tick also waits for the learner's /robot_rl/learner/tick of the last"
            " observation (training as processes: a learner that falls behind would get two ticks' messages at once)",
        ).value
        calibration_dir = declare(
            "calibration_dir", "", "where to write the camera calibration and workspace box; '' = none"
        ).value
        workspace_file = declare(
            "workspace_file", "", "the workspace box the graph reads: checked against the sim's at start; '' = none"
        ).value
        hand_eye_file = declare(
            "hand_eye_file", "", "the camera hand-eye pose the graph reads: checked against the sim's; '' = none"
        ).value
        if self.depth_encoding not in ("32FC1", "16UC1"):
            raise SimError(f"depth_encoding must be 32FC1 or 16UC1, got {self.depth_encoding!r}")
        self.adapter = RobosuiteAdapter(
            SimConfig(
                task=task,
                control_rate_hz=rate_hz,
                horizon_steps=horizon,
                camera_name=camera,
                image_width_px=width,
                image_height_px=height,
                render_samples=render_samples,
                render_reflections=render_reflections,
                render_camera=render,
                depth=render,
                segmentation=render and segmentation,
                seed=self.seed,
            )
        )
        self.period_ns = round(NS_PER_S / rate_hz)
        self.sim_time_ns = 0
        self.episode = -1  # index of the running episode
        self.running = False
        self.pending_reset_seed: int | None = None
        self.pending_reset_mode: str | None = None  # a reset request's "mode" (train, eval), echoed in its start event
        self.pending_request: int | None = None  # a reset request's "request" id, echoed in its start event
        self.last_request: int | None = None  # the id of the last reset request taken: a repeat of it is ignored
        self.episode_request: int | None = None  # the request id of the running episode, echoed in its outcome
        self.episode_seed = self.seed  # seed of the running episode
        self.command: np.ndarray | None = None
        self.gripper = -1.0  # last gripper command (held when no command arrives), -1 open .. +1 closed
        self.commands_consumed = 0
        self.ticks_without_command = 0
        self.ticks_waited = 0  # ticks that waited for a command (command_wait_s), sim time standing still
        self.published_at_ns = 0  # this node's clock when the latest observation went out, ns
        self.awaiting_command = False  # no command has come since the latest observation went out
        self.published_stamp_ns = 0  # sim time of the latest observation, ns (its header.stamp)
        self.learner_tick_ns = -1  # header.stamp of the latest /robot_rl/learner/tick, ns (-1: none yet)
        self.ticks_waited_for_learner = 0  # of ticks_waited, those whose command was in and the learner's tick not
        self.object_names = list(TASK_OBJECTS[task])
        self.steps = 0  # control steps in the running episode
        self.last_observation: Observation | None = None  # what was published last (for tests and tools)
        self.intrinsics = self._intrinsics() if render else None
        try:
            check_calibration(task, self.adapter, workspace_file, hand_eye_file)
        except RobotRLError:
            self.adapter.close()  # no node to destroy: release the simulator and its OpenGL context now
            raise
        if calibration_dir:
            self._write_calibration(calibration_dir, task)
        self.clock_pub = self.create_publisher(msg.Clock, "/clock", 10)
        self.joint_pub = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.ee_pub = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.object_poses_pub = self.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)
        self.reward_pub = self.create_publisher(msg.Float32, "/robot_rl/reward", 10)
        self.episode_pub = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.diagnostics_pub = self.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
        self.image_pubs: dict[str, Any] = {}
        # reliable publishers match both reliable and best-effort (sensor-data) subscribers
        images_qos = QoSProfile(depth=5)
        if render:
            self.image_pubs["color"] = self.create_publisher(msg.Image, "/camera/color/image_raw", images_qos)
            self.image_pubs["info"] = self.create_publisher(msg.CameraInfo, "/camera/color/camera_info", images_qos)
            self.image_pubs["depth"] = self.create_publisher(
                msg.Image, "/camera/aligned_depth_to_color/image_raw", images_qos
            )
            if segmentation:
                self.image_pubs["segmentation"] = self.create_publisher(
                    msg.Image, "/camera/segmentation/image_raw", images_qos
                )
        self.create_subscription(msg.JointTrajectory, "/robot_rl/safe_command", self.on_command, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.Header, "/robot_rl/learner/tick", self.on_learner_tick, 10)
        self.create_timer(1.0 / rate_hz, self.tick)

    # -- calibration ---------------------------------------------------------------

    def _intrinsics(self) -> CameraIntrinsics:
        config = self.adapter.config
        k = self.adapter.camera_intrinsics()
        return CameraIntrinsics(
            width_px=config.image_width_px,
            height_px=config.image_height_px,
            camera_name=config.camera_name,
            k=k,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            r=np.eye(3),
            p=np.hstack([k, np.zeros((3, 1))]),
        )

    def _write_calibration(self, directory: str, task: str) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        save_workspace_limits(task_workspace(task), workspace_path(directory))
        if self.intrinsics is None:
            return  # state only: no camera to calibrate
        camera_path, hand_eye_path = calibration_paths(directory)
        save_camera_info(self.intrinsics, camera_path)  # type: ignore[arg-type]
        save_hand_eye(camera_hand_eye(self.adapter), hand_eye_path)
        self.get_logger().info(f"wrote sim camera calibration to {camera_path} and {hand_eye_path}")

    # -- inputs --------------------------------------------------------------------

    def on_command(self, trajectory: Any) -> None:
        """Keep the first point of the latest safe command for the next tick."""
        try:
            action = trajectory_to_actions(trajectory)[0]
        except MessageError as error:
            self.report(diagnostics.ERROR, f"ignored malformed safe_command: {error}")
            return
        if not np.all(np.isfinite(action)):
            self.report(diagnostics.ERROR, "ignored non-finite safe_command (the safety gate should never send one)")
            return
        self.command = action
        self.awaiting_command = False

    def on_learner_tick(self, header: Any) -> None:
        """The learner has taken in the tick of the observation stamped ``header.stamp``."""
        self.learner_tick_ns = header_stamp_ns(header)

    def on_episode(self, event: Any) -> None:
        """Handle reset requests and a person's episode keys; ignore the sim's own events."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode message {event.data!r}")
            return
        kind = payload["event"]
        if payload.get("source") == "human" and self.running:
            if kind in ("success", "failure"):
                self.running = False  # the person ended the episode; auto_reset starts the next one
                self.get_logger().info(f"episode {self.episode}: ended by the person ({kind})")
            elif kind == "rerecord":
                self.pending_reset_seed = self.episode_seed  # the same episode again
        if kind == "stop" and payload.get("source") == "human":
            self.request_shutdown("the person pressed stop")
        if kind != "reset":
            return
        seed = payload.get("seed", self.seed + self.episode + 1)
        mode = payload.get("mode")
        request = payload.get("request")
        if (
            not isinstance(seed, int)
            or isinstance(seed, bool)
            or seed < 0
            or not isinstance(mode, (str, type(None)))
            or not isinstance(request, (int, type(None)))
            or isinstance(request, bool)
        ):
            self.report(diagnostics.WARN, f"ignored reset with bad seed {seed!r}, mode {mode!r} or request {request!r}")
            return
        if request is not None and request == self.last_request:
            return  # a repeat of the request taken last
        self.pending_reset_seed, self.pending_reset_mode = seed, mode
        self.pending_request = self.last_request = request

    # -- the control tick ------------------------------------------------------------

    def tick(self) -> None:
        """Step (or reset) the simulation and publish the new state; every tick is one control period, except a tick
        that waits for its command (``command_wait_s``)."""
        if self._waiting_for_command():
            self.ticks_waited += 1
            self.ticks_waited_for_learner += int(not self.awaiting_command)
            return
        self.sim_time_ns += self.period_ns
        if self.pending_reset_seed is not None or (not self.running and self.auto_reset):
            if self.max_episodes and self.episode + 1 >= self.max_episodes:
                self.request_shutdown(f"ran {self.max_episodes} episode(s)")
                return
            self._start_episode()
            return
        if not self.running:
            return
        action = self._take_command()
        observation, reward, flags = self.adapter.step(action)
        self._publish(observation)
        self.reward_pub.publish(msg.Float32(data=float(reward)))
        self.steps += 1
        if flags.done:
            self.running = False
            outcome = "success" if flags.success else "timeout"
            echoed = {} if self.episode_request is None else {"request": self.episode_request}
            # steps taken, this one included; the request id again, for a requester that missed the start event
            self._event(outcome, steps=self.steps, reward=float(reward), **echoed)

    def _waiting_for_command(self) -> bool:
        """Whether this tick waits for the command of the last observation (command_wait_s) and, with
        ``wait_for_learner``, for the learner's tick of that observation.

        Also after an episode's final observation: the command the graph computes on it is discarded at the next
        episode's start, and must not arrive after that start and be executed as the new episode's first action.
        """
        learner_behind = self.wait_for_learner and self.learner_tick_ns < self.published_stamp_ns
        if not self.command_wait_ns or not (self.awaiting_command or learner_behind):
            return False
        return self.get_clock().now().nanoseconds - self.published_at_ns < self.command_wait_ns

    def _take_command(self) -> np.ndarray:
        if self.command is None:
            self.ticks_without_command += 1
            action = np.zeros(ACTION_DIM)
            action[-1] = self.gripper
            return action
        action, self.command = self.command, None
        self.commands_consumed += 1
        self.gripper = float(action[-1])
        return action

    def _start_episode(self) -> None:
        seed = self.pending_reset_seed if self.pending_reset_seed is not None else self.seed + self.episode + 1
        mode, request = self.pending_reset_mode, self.pending_request
        self.pending_reset_seed = self.pending_reset_mode = self.pending_request = None
        self.episode_seed, self.episode_request = seed, request
        self.episode += 1
        self.steps = 0
        self.command = None
        self.gripper = -1.0
        observation = self.adapter.reset(seed=seed)
        self.running = True
        echoed = {key: value for key, value in (("mode", mode), ("request", request)) if value is not None}
        self._event("start", seed=seed, **echoed)
        self._publish(observation)

    def _event(self, kind: str, **fields: Any) -> None:
        payload = {"event": kind, "episode": self.episode, "task": self.adapter.config.task, **fields}
        self.episode_pub.publish(msg.String(data=json.dumps(payload)))
        self.report(
            diagnostics.OK,
            f"episode {self.episode}: {kind}",
            commands_consumed=self.commands_consumed,
            ticks_without_command=self.ticks_without_command,
            ticks_waited=self.ticks_waited,
            ticks_waited_for_learner=self.ticks_waited_for_learner,
        )

    def report(self, level: int, message: str, **values: Any) -> None:
        """Publish one diagnostic status for this node."""
        diagnostics.publish(
            self.diagnostics_pub, self._stamp(), self.get_fully_qualified_name(), level, message, values
        )

    # -- outputs -----------------------------------------------------------------

    def _stamp(self) -> Any:
        sec, nanosec = divmod(self.sim_time_ns, NS_PER_S)
        return msg.Time(sec=sec, nanosec=nanosec)

    def _publish(self, observation: Observation) -> None:
        self.last_observation = observation
        self.published_at_ns = self.get_clock().now().nanoseconds
        self.published_stamp_ns = self.sim_time_ns
        self.awaiting_command = True
        stamp = self._stamp()
        self.clock_pub.publish(msg.Clock(clock=stamp))
        positions = np.concatenate([observation.joint_positions_rad, observation.gripper_finger_positions_m])
        velocities = np.concatenate([observation.joint_velocities_rad_s, np.zeros(2)])
        self.joint_pub.publish(
            numpy_to_joint_state(list(URDF_JOINT_NAMES), positions, velocities, header=msg.Header(stamp=stamp))
        )
        pose = _pose_msg(observation.ee_position_m, observation.ee_quaternion_xyzw)
        self.ee_pub.publish(msg.PoseStamped(header=msg.Header(stamp=stamp, frame_id=BASE_FRAME), pose=pose))
        self.object_poses_pub.publish(self._object_pose_array(observation, stamp))
        if observation.color is not None:
            self._publish_images(observation, msg.Header(stamp=stamp, frame_id=CAMERA_FRAME))

    def _object_pose_array(self, observation: Observation, stamp: Any) -> Any:
        objects = [observation.object_poses[name] for name in self.object_names]
        poses = [_pose_msg(pose.position_m, pose.quaternion_xyzw) for pose in objects]
        return msg.PoseArray(header=msg.Header(stamp=stamp, frame_id=BASE_FRAME), poses=poses)

    def _publish_images(self, observation: Observation, header: Any) -> None:
        self.image_pubs["info"].publish(to_camera_info_msg(self.intrinsics, CAMERA_FRAME, header.stamp))  # type: ignore[arg-type]
        self.image_pubs["color"].publish(numpy_to_image(observation.color, "rgb8", header))
        depth = observation.depth_m
        if self.depth_encoding == "32FC1":
            depth_image = np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)  # REP-118: NaN = invalid
        else:
            millimetres = np.where(np.isfinite(depth), np.round(depth * 1000.0), 0)  # REP-118: 0 = invalid
            depth_image = np.clip(millimetres, 0, 65535).astype(np.uint16)
        self.image_pubs["depth"].publish(numpy_to_image(depth_image, self.depth_encoding, header))
        if "segmentation" in self.image_pubs:
            self.image_pubs["segmentation"].publish(numpy_to_image(self._object_indices(observation), "32SC1", header))

    def _object_indices(self, observation: Observation) -> np.ndarray:
        """Instance ids -> 1..N for the task objects (in TASK_OBJECTS order), 0 for everything else."""
        lookup = np.zeros(max(observation.segmentation_labels, default=0) + 1, dtype=np.int32)
        for instance_id, name in observation.segmentation_labels.items():
            if name in self.object_names:
                lookup[instance_id] = self.object_names.index(name) + 1
        return lookup[observation.segmentation]

    def destroy_node(self) -> None:
        """Release the simulator's renderers too."""
        self.adapter.close()
        super().destroy_node()


def _pose_msg(position_m: np.ndarray, quaternion_xyzw: np.ndarray) -> Any:
    (x, y, z), (qx, qy, qz, qw) = position_m, quaternion_xyzw
    return msg.Pose(position=msg.Point(x=x, y=y, z=z), orientation=msg.Quaternion(x=qx, y=qy, z=qz, w=qw))


main = NodeMain(SimNode)
