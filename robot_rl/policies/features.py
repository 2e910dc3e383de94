"""The observation and action features that the recorder writes, training reads and the base policy consumes.

One LeRobot feature per input, named as LeRobot names them:

- ``observation.state`` (9,): end-effector position in ``base_link`` (m), its orientation as a unit
  quaternion (x, y, z, w), and the two Panda finger joint positions (m);
- ``observation.environment_state`` (K * slot_size,): the K object slots from perception, row-major, each
  laid out as :data:`robot_rl.perception.slots.SLOT_FIELDS` (+ embedding);
- ``observation.images.color`` (H, W, 3) uint8, optional: the RGB camera image;
- ``action`` (7,): the normalized end-effector delta command of :mod:`robot_rl.action_space`.

:class:`ObservationAssembler` turns the latest ROS messages into one such observation, so the recorder and the
base-policy node build exactly the same vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_rl.action_space import ACTION_DIM, ACTION_NAMES
from robot_rl.errors import MessageError
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.runtime.msg_numpy import image_to_numpy, joint_state_to_numpy

STATE_KEY = "observation.state"
ENVIRONMENT_STATE_KEY = "observation.environment_state"
IMAGE_KEY = "observation.images.color"
ACTION_KEY = "action"
STATE_NAMES = ("ee_x", "ee_y", "ee_z", "ee_qx", "ee_qy", "ee_qz", "ee_qw", "finger_joint1", "finger_joint2")
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")  # JointState names of the gripper fingers


def slot_feature_names(num_slots: int, slot_size: int = len(SLOT_FIELDS)) -> list[str]:
    """Names of the flattened slot vector: ``slot0_presence, slot0_x, ...``, then embeddings as ``slot0_emb_0``."""
    fields = [*SLOT_FIELDS, *(f"emb_{i}" for i in range(slot_size - len(SLOT_FIELDS)))]
    return [f"slot{k}_{field}" for k in range(num_slots) for field in fields]


def residual_observation_names(num_slots: int, slot_size: int = len(SLOT_FIELDS)) -> list[str]:
    """Names of the residual policy's observation vector: ``observation.state`` then the flattened slots."""
    return [*STATE_NAMES, *slot_feature_names(num_slots, slot_size)]


def dataset_features(
    num_slots: int, slot_size: int = len(SLOT_FIELDS), image_shape_hw: tuple[int, int] | None = None
) -> dict[str, dict[str, Any]]:
    """The LeRobot ``features`` dict (dtype, shape, names) of a recorded episode frame."""
    features: dict[str, dict[str, Any]] = {
        STATE_KEY: {"dtype": "float32", "shape": (len(STATE_NAMES),), "names": list(STATE_NAMES)},
        ENVIRONMENT_STATE_KEY: {
            "dtype": "float32",
            "shape": (num_slots * slot_size,),
            "names": slot_feature_names(num_slots, slot_size),
        },
        ACTION_KEY: {"dtype": "float32", "shape": (ACTION_DIM,), "names": list(ACTION_NAMES)},
    }
    if image_shape_hw is not None:
        height, width = image_shape_hw
        features[IMAGE_KEY] = {"dtype": "image", "shape": (height, width, 3), "names": ["height", "width", "channels"]}
    return features


def stamp_s(header: Any) -> float:
    """A std_msgs/Header stamp in seconds."""
    return float(header.stamp.sec) + 1e-9 * float(header.stamp.nanosec)


@dataclass
class ObservationFrame:
    """One assembled observation; arrays are float32 except the uint8 image."""

    stamp_s: float  # stamp of the newest input message, s
    state: np.ndarray  # (9,) as STATE_NAMES: m, unit quaternion, m
    environment_state: np.ndarray  # (num_slots * slot_size,) flattened slots
    image: np.ndarray | None  # (H, W, 3) uint8 RGB, or None when images are not used

    def features(self) -> dict[str, np.ndarray]:
        """The frame as a LeRobot feature dict (without the action)."""
        out = {STATE_KEY: self.state, ENVIRONMENT_STATE_KEY: self.environment_state}
        if self.image is not None:
            out[IMAGE_KEY] = self.image
        return out

    def vector(self) -> np.ndarray:
        """The residual policy's observation: state then slots, float32 (:func:`residual_observation_names`)."""
        return np.concatenate([self.state, self.environment_state]).astype(np.float32)

    def is_finite(self) -> bool:
        """Whether every float feature is finite (a NaN or inf must never reach a policy)."""
        return bool(np.isfinite(self.state).all() and np.isfinite(self.environment_state).all())


class ObservationAssembler:
    """Keep the latest ee pose, finger joints, slots (and image); assemble them into an :class:`ObservationFrame`.

    Inputs are checked as they arrive: a slot message with another number of slots, or a JointState without
    the finger joints, raises :class:`MessageError` naming the problem.
    """

    def __init__(self, num_slots: int, use_image: bool = False) -> None:
        self.num_slots = num_slots
        self.use_image = use_image
        self._ee: tuple[float, np.ndarray] | None = None
        self._fingers: tuple[float, np.ndarray] | None = None
        self._slots: tuple[float, np.ndarray] | None = None
        self._image: tuple[float, np.ndarray] | None = None

    def clear(self) -> None:
        """Forget every input (at an episode boundary, so no frame mixes two episodes)."""
        self._ee = self._fingers = self._slots = self._image = None

    def on_ee_pose(self, pose_stamped: Any) -> None:
        """Take a geometry_msgs/PoseStamped of the end effector in base_link."""
        p, q = pose_stamped.pose.position, pose_stamped.pose.orientation
        self._ee = (stamp_s(pose_stamped.header), np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w], dtype=np.float32))

    def on_joint_states(self, joint_state: Any) -> None:
        """Take a sensor_msgs/JointState holding the two finger joints."""
        names, positions, _, _ = joint_state_to_numpy(joint_state)
        missing = [name for name in FINGER_JOINTS if name not in names]
        if missing:
            raise MessageError(f"/joint_states lacks the finger joints {', '.join(missing)}")
        fingers = np.array([positions[names.index(name)] for name in FINGER_JOINTS], dtype=np.float32)
        self._fingers = (stamp_s(joint_state.header), fingers)

    def on_slots(self, cloud: Any) -> None:
        """Take a slots PointCloud2 from perception with exactly ``num_slots`` points."""
        slots = pointcloud2_to_slots(cloud)
        if slots.shape[0] != self.num_slots:
            raise MessageError(f"slot message has {slots.shape[0]} slots, expected {self.num_slots}")
        self._slots = (stamp_s(cloud.header), slots.reshape(-1).astype(np.float32))

    def on_image(self, image: Any) -> None:
        """Take an rgb8 sensor_msgs/Image."""
        if image.encoding != "rgb8":
            raise MessageError(f"color image must be rgb8, got {image.encoding!r}")
        self._image = (stamp_s(image.header), image_to_numpy(image))

    def missing(self) -> list[str]:
        """Names of the inputs not received yet."""
        inputs = {"ee_pose": self._ee, "joint_states": self._fingers, "slots": self._slots}
        if self.use_image:
            inputs["image"] = self._image
        return [name for name, value in inputs.items() if value is None]

    def input_spread_s(self) -> float:
        """Time between the oldest and the newest input, s (0 in lockstep simulation)."""
        stamps = [value[0] for value in (self._ee, self._fingers, self._slots, self._image) if value is not None]
        return max(stamps) - min(stamps) if stamps else 0.0

    def frame(self) -> ObservationFrame:
        """Assemble the latest inputs; raises MessageError if one has not arrived yet."""
        ee, fingers, slots = self._ee, self._fingers, self._slots
        if ee is None or fingers is None or slots is None or (self.use_image and self._image is None):
            raise MessageError(f"no observation yet: waiting for {', '.join(self.missing())}")
        stamps = [ee[0], fingers[0], slots[0]]
        image = None
        if self.use_image and self._image is not None:
            stamps.append(self._image[0])
            image = self._image[1]
        return ObservationFrame(
            stamp_s=max(stamps),
            state=np.concatenate([ee[1], fingers[1]]),
            environment_state=slots[1],
            image=image,
        )
