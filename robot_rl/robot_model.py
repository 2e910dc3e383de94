"""The robot model: a URDF's forward kinematics and collision shapes, in ``base_link``.

The URDF is loaded with `yourdfpy <https://github.com/clemense/yourdfpy>`_ (MIT), a maintained pure-Python
URDF library on lxml and trimesh. It was chosen over pinocchio (``pin``) because the stack needs only forward
kinematics of a 9-joint arm a few hundred times a second and the primitives of its ``<collision>`` elements:
yourdfpy gives both as plain numpy and Python objects in ~1 MB of wheels with no compiled code of its own,
while pinocchio brings ~100 MB of compiled dependencies (boost, urdfdom, coal for collision geometry) for
dynamics we do not use. Forward kinematics of the robosuite Panda agrees with MuJoCo's to float precision
(tests/test_robot_model.py).

Units: lengths in metres, revolute joint positions in radians, prismatic in metres. ``T_a_b`` is a 4x4
homogeneous transform mapping points in frame ``b`` to frame ``a`` (REP-103 frames). Not thread-safe: one
model per thread (forward kinematics updates the library's scene graph in place).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robot_rl.errors import LaunchError, RobotModelError

BASE_FRAME = "base_link"
SHAPE_KINDS = ("box", "cylinder", "sphere")
MOVING_JOINT_TYPES = ("revolute", "continuous", "prismatic")


@dataclass(frozen=True, eq=False)  # no field-wise ==: the pose is an array
class CollisionShape:
    """One primitive ``<collision>`` element, posed in ``frame``."""

    link: str  # URDF link the shape belongs to
    kind: Literal["box", "cylinder", "sphere"]  # URDF geometry type
    dimensions_m: tuple[
        float, ...
    ]  # URDF's numbers, m: box (x, y, z) edge lengths, cylinder (radius, length), sphere (radius,)
    pose: np.ndarray  # (4, 4) T_frame_shape; a cylinder's axis is the shape frame's z, centred on its origin
    frame: str  # what ``pose`` is relative to: the link itself (as in the URDF) or base_link (placed)

    def __post_init__(self) -> None:
        expected = {"box": 3, "cylinder": 2, "sphere": 1}.get(self.kind)
        if expected is None:
            raise RobotModelError(f"link {self.link}: unsupported collision shape {self.kind!r}")
        if len(self.dimensions_m) != expected or not all(math.isfinite(d) and d > 0 for d in self.dimensions_m):
            raise RobotModelError(
                f"link {self.link}: a {self.kind} needs {expected} positive sizes, got {list(self.dimensions_m)}"
            )
        if np.shape(self.pose) != (4, 4) or not np.all(np.isfinite(self.pose)):
            raise RobotModelError(f"link {self.link}: collision pose must be a finite 4x4 transform")

    @property
    def half_extents_m(self) -> np.ndarray:
        """Half sizes of the shape's bounding box along the shape frame's axes (x, y, z), m."""
        if self.kind == "box":
            return np.asarray(self.dimensions_m, dtype=np.float64) / 2
        if self.kind == "cylinder":
            radius, length = self.dimensions_m
            return np.array([radius, radius, length / 2])
        return np.full(3, self.dimensions_m[0])


def default_urdf_path() -> Path:
    """The package's Panda description, ``urdf/panda.urdf`` (source checkout or installed share directory)."""
    from robot_rl.runtime.substitutions import package_share

    try:
        return package_share("robot_rl") / "urdf" / "panda.urdf"
    except LaunchError as error:
        raise RobotModelError(f"urdf/panda.urdf: {error}") from None


class RobotModel:
    """A URDF's kinematic tree: link poses in base_link from joint positions, and the collision primitives.

    Args:
        path: The URDF file; with ``xml``, only the name the errors give the description.
        base_frame: The link every pose is relative to.
        xml: The URDF text itself (robot_state_publisher's ``robot_description`` parameter), read instead of
            ``path``.

    Raises:
        RobotModelError: When the file is missing, is not a well-formed URDF (one message that says why),
            has no link named ``base_frame``, or is not a tree.
    """

    def __init__(self, path: str | Path, base_frame: str = BASE_FRAME, xml: str | None = None) -> None:
        self.path = Path(path)
        self.base_frame = base_frame
        self._urdf: Any = _load(self.path) if xml is None else _parse(xml.encode(), str(path))  # a yourdfpy.URDF
        robot = self._urdf.robot
        self.name: str = robot.name
        self.link_names: tuple[str, ...] = tuple(link.name for link in robot.links)
        if base_frame not in self.link_names:
            raise RobotModelError(f"{self.path}: no link named {base_frame!r} (links: {', '.join(self.link_names)})")
        self.root_link: str = self._urdf.base_link
        moving = [joint for joint in robot.joints if joint.type != "fixed"]
        unsupported = [f"{j.name} ({j.type})" for j in moving if j.type not in MOVING_JOINT_TYPES]
        mimic = [j.name for j in moving if j.mimic is not None]
        if unsupported or mimic:
            raise RobotModelError(
                f"{self.path}: only revolute, continuous and prismatic joints without mimic are supported;"
                f" found {', '.join(unsupported + [f'{name} (mimic)' for name in mimic])}"
            )
        self.joint_names: tuple[str, ...] = tuple(joint.name for joint in moving)
        self._joint_frames = {joint.name: _JointFrame.of(joint) for joint in robot.joints}
        # (lower, upper) per moving joint, rad or m; continuous joints and joints without <limit> get +-inf
        self.joint_limits: dict[str, tuple[float, float]] = {joint.name: _limits(joint) for joint in moving}
        shapes, meshes = [], []
        for link in robot.links:
            for collision in link.collisions:
                shape = _shape(link.name, collision)
                if shape is None:
                    meshes.append(link.name)
                else:
                    shapes.append(shape)
        self.collision_shapes: tuple[CollisionShape, ...] = tuple(shapes)  # primitives, posed in their links
        self.mesh_collision_links: tuple[str, ...] = tuple(dict.fromkeys(meshes))  # links with <mesh> collisions

    def check_joints(self, joint_positions: Mapping[str, float]) -> None:
        """Raise RobotModelError naming the URDF joints that ``joint_positions`` lacks or gives as non-finite."""
        missing = [name for name in self.joint_names if name not in joint_positions]
        if missing:
            raise RobotModelError(f"joint states lack the URDF joint(s) {', '.join(missing)}")
        bad = [name for name in self.joint_names if not math.isfinite(float(joint_positions[name]))]
        if bad:
            raise RobotModelError(f"joint state(s) {', '.join(bad)} are not finite")

    def link_poses(self, joint_positions: Mapping[str, float]) -> dict[str, np.ndarray]:
        """Forward kinematics: ``T_base_link`` (4x4, m) of every link, keyed by link name.

        Args:
            joint_positions: Position of every moving URDF joint (rad, or m for prismatic joints); extra
                names (other joints on /joint_states) are ignored. Limits are not enforced.

        Raises:
            RobotModelError: When a URDF joint is missing or not finite (the message names them).
        """
        self.check_joints(joint_positions)
        self._urdf.update_cfg({name: float(joint_positions[name]) for name in self.joint_names})
        return {
            link: np.array(self._urdf.get_transform(frame_to=link, frame_from=self.base_frame), dtype=np.float64)
            for link in self.link_names
        }

    def joint_transforms(self, joint_positions: Mapping[str, float]) -> dict[str, tuple[str, str, np.ndarray]]:
        """``{joint: (parent link, child link, T_parent_child)}`` of each moving joint that ``joint_positions`` names.

        What robot_state_publisher publishes on /tf: the URDF joints absent from ``joint_positions`` are left
        out, names that are not moving URDF joints are ignored. Limits are not enforced.

        Raises:
            RobotModelError: When a given position of a URDF joint is not finite (the message names them).
        """
        given = {name: float(joint_positions[name]) for name in self.joint_names if name in joint_positions}
        bad = [name for name, position in given.items() if not math.isfinite(position)]
        if bad:
            raise RobotModelError(f"joint state(s) {', '.join(bad)} are not finite")
        return {name: self._joint_frames[name].transform(position) for name, position in given.items()}

    def fixed_joint_transforms(self) -> dict[str, tuple[str, str, np.ndarray]]:
        """``{joint: (parent link, child link, T_parent_child)}`` of every fixed joint (robot_state_publisher's
        /tf_static)."""
        return {name: frame.transform(0.0) for name, frame in self._joint_frames.items() if frame.kind == "fixed"}

    def placed_collision_shapes(self, link_poses: Mapping[str, np.ndarray]) -> list[CollisionShape]:
        """The collision primitives posed in base_link, given :meth:`link_poses`' output."""
        missing = sorted({shape.link for shape in self.collision_shapes} - set(link_poses))
        if missing:
            raise RobotModelError(f"link poses lack the link(s) {', '.join(missing)}")
        return [
            CollisionShape(
                shape.link, shape.kind, shape.dimensions_m, link_poses[shape.link] @ shape.pose, self.base_frame
            )
            for shape in self.collision_shapes
        ]


def _load(path: Path) -> Any:
    """Read and parse a URDF file strictly; every failure becomes one RobotModelError."""
    if not path.is_file():
        raise RobotModelError(f"{path}: robot description file not found")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RobotModelError(f"{path}: cannot read the robot description: {error.strerror}") from None
    return _parse(data, str(path))


def _parse(data: bytes, source: str) -> Any:
    """Parse URDF text strictly (``source`` names it in errors); every failure becomes one RobotModelError."""
    from lxml import etree

    try:  # strictly first: yourdfpy would fall back to lxml's recovering parser and read half a file
        root = etree.fromstring(data, etree.XMLParser(remove_blank_text=True))
    except etree.XMLSyntaxError as error:
        raise RobotModelError(f"{source}: not well-formed XML: {error}") from None
    if root.tag != "robot":
        raise RobotModelError(f"{source}: not a URDF (the root element is <{root.tag}>, expected <robot>)")
    import yourdfpy

    quiet = logging.getLogger("yourdfpy")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # it logs, then raises or returns; we raise one error instead
    try:
        urdf = yourdfpy.URDF.load(io.BytesIO(data), build_scene_graph=True, load_meshes=False)
        valid = urdf.validate()
    except Exception as error:
        raise RobotModelError(f"{source}: not a valid URDF: {type(error).__name__}: {error}") from None
    finally:
        quiet.setLevel(level)
    if not valid:
        raise RobotModelError(f"{source}: not a valid URDF: {'; '.join(str(e) for e in urdf.errors)}")
    if urdf.base_link is None:
        raise RobotModelError(f"{source}: not a valid URDF: the links do not form a tree with one root")
    return urdf


def _limits(joint: Any) -> tuple[float, float]:
    limit = joint.limit
    if joint.type == "continuous" or limit is None or limit.lower is None or limit.upper is None:
        return (-math.inf, math.inf)
    return (float(limit.lower), float(limit.upper))


def _shape(link: str, collision: Any) -> CollisionShape | None:
    geometry = collision.geometry
    origin = np.eye(4) if collision.origin is None else np.asarray(collision.origin, dtype=np.float64)
    if geometry is None:
        raise RobotModelError(f"link {link}: a <collision> without <geometry>")
    if geometry.box is not None:
        return CollisionShape(link, "box", tuple(float(v) for v in geometry.box.size), origin, link)
    if geometry.cylinder is not None:
        dimensions = (float(geometry.cylinder.radius), float(geometry.cylinder.length))
        return CollisionShape(link, "cylinder", dimensions, origin, link)
    if geometry.sphere is not None:
        return CollisionShape(link, "sphere", (float(geometry.sphere.radius),), origin, link)
    return None  # a mesh


@dataclass(frozen=True, eq=False)
class _JointFrame:
    """A URDF joint's kinematics: ``T_parent_child(q)`` = origin, then the motion along the unit axis."""

    kind: str  # URDF joint type: fixed, revolute, continuous or prismatic
    parent: str  # parent link
    child: str  # child link
    origin: np.ndarray  # (4, 4) T_parent_joint
    axis: np.ndarray  # (3,) unit axis in the joint frame
    skew: np.ndarray  # (3, 3) cross-product matrix of the axis

    @classmethod
    def of(cls, joint: Any) -> _JointFrame:
        origin = np.eye(4) if joint.origin is None else np.asarray(joint.origin, dtype=np.float64)
        axis = np.asarray([1.0, 0.0, 0.0] if joint.axis is None else joint.axis, dtype=np.float64)
        axis = axis / np.linalg.norm(axis)
        skew = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
        return cls(joint.type, joint.parent, joint.child, origin, axis, skew)

    def transform(self, position: float) -> tuple[str, str, np.ndarray]:
        """``(parent, child, T_parent_child)`` at ``position`` (rad, or m for a prismatic joint)."""
        if self.kind == "fixed":
            return self.parent, self.child, self.origin.copy()
        motion = np.eye(4)
        if self.kind == "prismatic":
            motion[:3, 3] = position * self.axis
        else:  # revolute, continuous: Rodrigues' rotation about the axis
            motion[:3, :3] += math.sin(position) * self.skew + (1.0 - math.cos(position)) * (self.skew @ self.skew)
        return self.parent, self.child, self.origin @ motion
