"""The sim slot source node (training only): ``/robot_rl/slots`` from privileged object poses, no camera.

Subscribes the sim-only ``/robot_rl/sim/object_poses`` (PoseArray in ``base_link``, one pose per task
object in ``TASK_OBJECTS[task]`` order, whose yaws set the yaw-dependent pixel features; each one triggers
one slot message), ``/robot_rl/ee_pose`` (the TCP, for the noise model's contact phase) and
``/robot_rl/episode`` (an episode start resets the tracked state and reseeds the noise with
``(seed, episode seed)``).

Publishes ``/robot_rl/slots`` exactly as the perception node does (PointCloud2, one point per slot, the
fields of :mod:`robot_rl.perception.slot_msgs`, frame ``base_link``) with the stamp of the object poses,
and ``/diagnostics``. A malformed PoseArray (another frame, a wrong count, a non-finite pose) is dropped
with an ERROR diagnostic. Run it instead of the camera and perception when training:
``robot-rl node sim_slots_node --ros-args -p task:=Stack -p noise_model:=perception_v1``. Evaluation uses
``noise_model:=none`` or, better, real perception. See docs/perception.md, "Sim slot source".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import MessageError, SimError
from robot_rl.perception.slot_msgs import slots_to_pointcloud2
from robot_rl.runtime import Node, NodeMain, diagnostics, msg
from robot_rl.runtime.substitutions import PACKAGE, package_share
from robot_rl.sim.slot_source import NOISE_MODELS, SimSlotSource, load_slot_table, yaw_about_z

BASE_FRAME = "base_link"


def default_table_path() -> str:
    """The calibration table shipped with the package: ``<share>/config/sim_slots.yaml``."""
    return str(package_share(PACKAGE) / "config" / "sim_slots.yaml")


def pose_array_positions(poses: Any, frame_id: str = BASE_FRAME) -> np.ndarray:
    """The (N, 3) positions of a geometry_msgs/PoseArray, m.

    Raises:
        MessageError: If the array is in another frame or holds a non-finite position.
    """
    if poses.header.frame_id != frame_id:
        raise MessageError(f"object_poses are in frame {poses.header.frame_id!r}, expected {frame_id!r}")
    positions = np.array([[p.position.x, p.position.y, p.position.z] for p in poses.poses], dtype=np.float64)
    positions = positions.reshape(-1, 3)
    if not np.all(np.isfinite(positions)):
        raise MessageError(f"object_poses hold a non-finite position: {positions.tolist()}")
    return positions


def pose_array_yaws(poses: Any) -> np.ndarray:
    """The (N,) yaws about z of a geometry_msgs/PoseArray's orientations, rad (frame checked by the positions).

    Raises:
        MessageError: If an orientation is not a finite, non-zero quaternion.
    """
    quaternions = np.array([[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w] for p in poses.poses])
    quaternions = quaternions.reshape(-1, 4)
    if not np.all(np.isfinite(quaternions)) or np.any(np.linalg.norm(quaternions, axis=1) < 1e-6):
        raise MessageError(f"object_poses hold an invalid orientation: {quaternions.tolist()}")
    return np.array([yaw_about_z(q / np.linalg.norm(q)) for q in quaternions])


class SimSlotSourceNode(Node):
    """Thin ROS wrapper around :class:`~robot_rl.sim.slot_source.SimSlotSource`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim_slots", **kwargs)
        declare = self.declare_parameter
        task = declare("task", "Lift", "robosuite task: Lift, Stack, PickPlaceCan (a task of the table)").value
        table_file = declare("table_file", "", "calibration table; '' = the package's config/sim_slots.yaml").value
        num_slots = declare("num_slots", 6, "K, number of slots (perception's num_slots)").value
        embedding_size = declare("embedding_size", 0, "learned-embedding size per slot (zeros)").value
        noise = declare(
            "noise_model", "none", f"{' | '.join(NOISE_MODELS)}: none is exact (evaluation), perception_v1 trains"
        ).value
        seed = declare("seed", 0, "noise seed; each episode reseeds with (seed, episode seed)").value
        self.base_frame = declare("base_frame", BASE_FRAME, "frame of the object poses and the slots").value
        self.table_path = table_file or default_table_path()
        self.source = SimSlotSource(
            load_slot_table(self.table_path), task, num_slots, embedding_size, noise=noise, seed=seed
        )
        self.ee_position_m: np.ndarray | None = None
        self.published = 0
        self.slots_pub = self.create_publisher(msg.PointCloud2, "/robot_rl/slots", 10)
        self.report = diagnostics.Reporter(self)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self.on_object_poses, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.on_ee_pose, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        if not self.source.noise.is_exact:
            self.get_logger().info(f"noise_model {noise}: training only; evaluate with none or real perception")

    def on_ee_pose(self, pose_stamped: Any) -> None:
        """Keep the TCP position (base_link) for the contact phase; a non-finite one is ignored."""
        p = pose_stamped.pose.position
        position = np.array([p.x, p.y, p.z], dtype=np.float64)
        self.ee_position_m = position if np.all(np.isfinite(position)) else None

    def on_episode(self, event: Any) -> None:
        """Reset the tracked state and reseed the noise when an episode starts."""
        payload = parse_episode_event(event)
        if payload is None or payload["event"] != "start":
            return
        seed = payload.get("seed", payload.get("episode", 0))
        self.source.reset(seed if isinstance(seed, int) and not isinstance(seed, bool) else 0)

    def on_object_poses(self, poses: Any) -> None:
        """Publish this tick's slots with the stamp of the poses; drop a malformed PoseArray."""
        try:
            positions = pose_array_positions(poses, self.base_frame)
            slots = self.source.update(positions, self.ee_position_m, pose_array_yaws(poses))
        except (MessageError, SimError) as error:
            self.report(diagnostics.ERROR, f"dropped object_poses: {error}")
            return
        header = msg.Header(stamp=poses.header.stamp, frame_id=self.base_frame)
        self.slots_pub.publish(slots_to_pointcloud2(slots, header))
        self.published += 1


main = NodeMain(SimSlotSourceNode)
