"""Write ``urdf/panda.urdf`` from robosuite's Panda model (robot + Panda gripper + the mount robosuite inserts).

Run it from the repository root after a robosuite upgrade (``MUJOCO_GL=egl .venv/bin/python
urdf/generate_panda_urdf.py``); the checked-in URDF is its output. It builds robosuite's Lift scene
(so the model is exactly the one the sim compiles, mount included), reads the kinematics from the
compiled MuJoCo model and encloses every geom of each link (visual and collision meshes, boxes,
cylinders) in a few primitives:

- arm links: one or two boxes or cylinders each, whichever encloses the link's triangles with the
  least volume; the mount: each geom on its own, the pedestal mesh in up to four primitives;
- the hand and each finger: one box aligned with the link frame, so the box's inner face is the
  finger pad and the space between the fingers stays empty (an object held there is not robot).

Every triangle lies in one primitive, plus ``MARGIN_M``. Visual geometry is the same primitives (the
robosuite visual meshes are ~350k vertices, too large to ship). robosuite (MIT licence, copyright
Stanford Vision and Learning Lab and UT Robot Perception and Learning Lab) is the source of the
numbers; see urdf/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

MARGIN_M = 0.0005  # added to every primitive beyond the farthest vertex, m
SIZE_STEP_M = 0.0001  # sizes are rounded up to this, m
SPLIT_GAIN = 0.8  # a link is fitted with two primitives when they need less than this share of one's volume
_MJ_CYLINDER, _MJ_BOX, _MJ_MESH = 5, 6, 7  # mujoco.mjtGeom values


@dataclass(frozen=True)
class LinkSpec:
    """One URDF link: the MuJoCo bodies it stands for and how to enclose their geoms."""

    name: str  # URDF link name
    frame_body: str  # MuJoCo body whose frame the link's frame is
    geom_bodies: tuple[str, ...]  # MuJoCo bodies whose geoms the link's primitives enclose (fixed to frame_body)
    aligned_box: bool = False  # enclose in one box aligned with the link frame (hand, fingers)
    per_geom: bool = False  # enclose each geom on its own (the mount: a pedestal, its feet and boxes far apart)
    split_depth: int = 2  # at most 2 ** (split_depth - 1) primitives per geom group
    max_edge_m: float = math.inf  # longer triangle edges are subdivided first, so that splits can cut them, m


@dataclass(frozen=True)
class JointSpec:
    """One URDF joint between two links; ``mujoco_joint`` is None for a fixed joint."""

    name: str  # URDF joint name (the sim's /joint_states names for the moving ones)
    parent: str  # URDF parent link
    child: str  # URDF child link
    mujoco_joint: str | None = None  # robosuite joint name; None = fixed
    effort: float = 0.0  # URDF effort limit, N m or N
    velocity: float = 0.0  # URDF velocity limit, rad/s or m/s


ARM = "robot0_"
GRIPPER = "gripper0_right_"
MOUNT = "fixed_mount0_"
LINKS = (
    LinkSpec("base_link", ARM + "base", ()),
    LinkSpec(
        "mount",
        MOUNT + "base",
        tuple(MOUNT + name for name in ("base", "controller_box", "pedestal_feet", "torso", "pedestal")),
        per_geom=True,
        split_depth=3,  # the pedestal mesh: feet, column and top plate; one box would reach over the table
        max_edge_m=0.02,
    ),
    *(LinkSpec(f"panda_link{i}", f"{ARM}link{i}", (f"{ARM}link{i}",)) for i in range(8)),
    LinkSpec("panda_link8", ARM + "right_hand", ()),
    LinkSpec("panda_hand", GRIPPER + "right_gripper", (GRIPPER + "right_gripper",), aligned_box=True),
    LinkSpec(
        "panda_leftfinger",
        GRIPPER + "leftfinger",
        (GRIPPER + "leftfinger", GRIPPER + "finger_joint1_tip"),
        aligned_box=True,
    ),
    LinkSpec(
        "panda_rightfinger",
        GRIPPER + "rightfinger",
        (GRIPPER + "rightfinger", GRIPPER + "finger_joint2_tip"),
        aligned_box=True,
    ),
)
# Effort limits are robosuite's actuator ranges; velocity limits are Franka's datasheet values (MuJoCo has none).
JOINTS = (
    JointSpec("mount_joint", "base_link", "mount"),
    JointSpec("panda_base_joint", "base_link", "panda_link0"),
    *(
        JointSpec(f"panda_joint{i}", f"panda_link{i - 1}", f"panda_link{i}", f"{ARM}joint{i}", effort, velocity)
        for i, effort, velocity in zip(
            range(1, 8), (80, 80, 80, 80, 80, 12, 12), (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61), strict=True
        )
    ),
    JointSpec("panda_joint8", "panda_link7", "panda_link8"),
    JointSpec("panda_hand_joint", "panda_link8", "panda_hand"),
    JointSpec("panda_finger_joint1", "panda_hand", "panda_leftfinger", GRIPPER + "finger_joint1", 20.0, 0.2),
    JointSpec("panda_finger_joint2", "panda_hand", "panda_rightfinger", GRIPPER + "finger_joint2", 20.0, 0.2),
)
TCP_LINK = "panda_hand_tcp"  # fingertip centre with the hand body's orientation: the sim's ee_pose


@dataclass(frozen=True)
class Primitive:
    """A URDF primitive in its link frame."""

    kind: str  # "box" or "cylinder"
    size: tuple[float, ...]  # box: full edge lengths (x, y, z); cylinder: (radius, length), m
    origin: np.ndarray  # 4x4 primitive frame in the link frame (a cylinder's axis is its z)

    @property
    def volume(self) -> float:
        if self.kind == "box":
            return float(np.prod(self.size))
        return math.pi * self.size[0] ** 2 * self.size[1]


def _round_up(value: float) -> float:
    return math.ceil((value + MARGIN_M) / SIZE_STEP_M) * SIZE_STEP_M


def _pose(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = position
    return pose


def _box(points: np.ndarray, axes: np.ndarray) -> Primitive:
    """The box with these axes (columns, link frame) around the points."""
    local = points @ axes
    low, high = local.min(axis=0), local.max(axis=0)
    centre = axes @ ((low + high) / 2)
    size = tuple(2 * _round_up((h - lo) / 2) for lo, h in zip(low, high, strict=True))
    return Primitive("box", size, _pose(centre, axes))


def _min_circle(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Smallest circle around 2D points (Welzl's algorithm, iterative, on the convex hull's vertices)."""
    if len(points) > 3:
        points = points[ConvexHull(points, qhull_options="QJ").vertices]
    rng = np.random.default_rng(0)
    points = points[rng.permutation(len(points))]

    def circle2(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
        return (a + b) / 2, float(np.linalg.norm(a - b) / 2)

    def circle3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float]:
        d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
        if abs(d) < 1e-15:  # collinear: the widest pair
            pairs = [circle2(a, b), circle2(a, c), circle2(b, c)]
            return max(pairs, key=lambda pair: pair[1])
        sa, sb, sc = a @ a, b @ b, c @ c
        centre = np.array(
            [
                (sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1])) / d,
                (sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])) / d,
            ]
        )
        return centre, float(np.linalg.norm(a - centre))

    def inside(circle: tuple[np.ndarray, float], p: np.ndarray) -> bool:
        return float(np.linalg.norm(p - circle[0])) <= circle[1] + 1e-12

    circle = (points[0], 0.0)
    for i in range(1, len(points)):
        if inside(circle, points[i]):
            continue
        circle = (points[i], 0.0)
        for j in range(i):
            if inside(circle, points[j]):
                continue
            circle = circle2(points[i], points[j])
            for k in range(j):
                if not inside(circle, points[k]):
                    circle = circle3(points[i], points[j], points[k])
    return circle


def _cylinder(points: np.ndarray, axis: np.ndarray) -> Primitive:
    """The cylinder along ``axis`` (unit, link frame) around the points."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    frame = np.stack([u, v, axis], axis=1)  # columns: x, y, z (= axis) of the cylinder
    local = points @ frame
    centre_2d, radius = _min_circle(local[:, :2])
    low, high = local[:, 2].min(), local[:, 2].max()
    centre = frame @ np.array([*centre_2d, (low + high) / 2])
    return Primitive("cylinder", (_round_up(radius), 2 * _round_up((high - low) / 2)), _pose(centre, frame))


def _best_single(points: np.ndarray) -> Primitive:
    # the hull's vertices suffice (box and cylinder are convex); QJ joggles flat sets (a ring) by ~1e-11 m
    points = points[ConvexHull(points, qhull_options="QJ").vertices] if len(points) > 4 else points
    pca = np.linalg.svd(points - points.mean(axis=0), full_matrices=False)[2].T
    if np.linalg.det(pca) < 0:
        pca[:, 2] *= -1
    candidates = [_box(points, np.eye(3)), _box(points, pca)]
    candidates += [_cylinder(points, axis) for axis in (*np.eye(3), *pca.T)]
    return min(candidates, key=lambda primitive: primitive.volume)


def fit_primitives(triangles: np.ndarray, aligned_box: bool, depth: int = 2) -> list[Primitive]:
    """Primitives that together enclose the (T, 3, 3) triangles (link frame, m): one, or split up to ``depth - 1``
    times (at most ``2 ** (depth - 1)`` primitives) where that saves enough volume.

    A split assigns whole triangles to a part (every triangle with a corner on that side of the cut), so
    each triangle lies in the convex primitive around one part's vertices: the surface is covered, not
    only its vertices.
    """
    vertices, corner_index = np.unique(triangles.reshape(-1, 3), axis=0, return_inverse=True)
    if aligned_box:
        return [_box(vertices, np.eye(3))]
    return _split_fit(vertices, corner_index.reshape(-1, 3), depth)


def _split_fit(vertices: np.ndarray, corner_index: np.ndarray, depth: int) -> list[Primitive]:
    """Greedy: the best two-way split of these triangles (corner indices into ``vertices``), then each part again."""
    used = vertices[np.unique(corner_index)]
    single = _best_single(used)
    if depth <= 1:
        return [single]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    pca = np.linalg.svd(used - used.mean(axis=0), full_matrices=False)[2]
    for direction in (*np.eye(3), *pca):
        corner_projection = vertices[corner_index] @ direction
        low, high = corner_projection.min(), corner_projection.max()
        for fraction in np.arange(0.15, 0.86, 0.05):
            cut = low + fraction * (high - low)
            below = (corner_projection <= cut).any(axis=1)
            above = (corner_projection >= cut).any(axis=1)
            if below.all() or above.all():
                continue
            volume = sum(_best_single(vertices[np.unique(corner_index[part])]).volume for part in (below, above))
            if best is None or volume < best[0]:
                best = (volume, below, above)
    if best is None or best[0] >= SPLIT_GAIN * single.volume:
        return [single]
    return [p for part in best[1:] for p in _split_fit(vertices, corner_index[part], depth - 1)]


def _subdivide(triangles: np.ndarray, max_edge_m: float) -> np.ndarray:
    """Split (T, 3, 3) triangles into n x n smaller ones until no edge is longer than ``max_edge_m`` (same surface).

    Long triangles would otherwise land in both parts of every split (a pedestal's 0.6 m side faces).
    """
    edges = np.linalg.norm(triangles - np.roll(triangles, 1, axis=1), axis=2).max(axis=1)
    steps = np.maximum(1, np.ceil(edges / max_edge_m).astype(int))
    result = [triangles[steps == 1]]
    for n in np.unique(steps[steps > 1]):
        grid = [(i, j) for i in range(n + 1) for j in range(n + 1 - i)]
        index = {ij: k for k, ij in enumerate(grid)}
        weights = np.array([(i, j, n - i - j) for i, j in grid], dtype=np.float64) / n  # barycentric
        corners = [(index[i, j], index[i + 1, j], index[i, j + 1]) for i, j in grid if i + j < n]
        corners += [(index[i + 1, j], index[i, j + 1], index[i + 1, j + 1]) for i, j in grid if i + j < n - 1]
        points = np.einsum("pk,tkc->tpc", weights, triangles[steps == n])  # (T, P, 3)
        result.append(points[:, np.array(corners)].reshape(-1, 3, 3))
    return np.concatenate(result)


def _geom_triangles(model: object, geom_id: int) -> np.ndarray:
    """The (T, 3, 3) surface triangles of one geom in its body's frame, m (primitives as enclosing meshes)."""
    m = model
    kind = int(m.geom_type[geom_id])
    size = m.geom_size[geom_id]
    if kind == _MJ_MESH:
        mesh = int(m.geom_dataid[geom_id])
        start, count = int(m.mesh_vertadr[mesh]), int(m.mesh_vertnum[mesh])
        vertices = np.asarray(m.mesh_vert[start : start + count], dtype=np.float64)
        face_start, face_count = int(m.mesh_faceadr[mesh]), int(m.mesh_facenum[mesh])
        triangles = vertices[np.asarray(m.mesh_face[face_start : face_start + face_count])]
    elif kind == _MJ_BOX:
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * size
        faces = [(0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5)]
        triangles = np.array(
            [corners[[a, b, c]] for a, b, c, d in faces] + [corners[[a, c, d]] for a, b, c, d in faces]
        )
    elif kind == _MJ_CYLINDER:
        sides = 64  # the polygon is scaled out so that it encloses the circle
        angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
        ring = np.stack([np.cos(angles), np.sin(angles)], axis=1) * size[0] / np.cos(np.pi / sides)
        bottom, top = (np.column_stack([ring, np.full(sides, z)]) for z in (-size[1], size[1]))
        nxt = np.roll(np.arange(sides), -1)
        centre_bottom, centre_top = np.zeros((sides, 3)), np.zeros((sides, 3))
        centre_bottom[:, 2], centre_top[:, 2] = -size[1], size[1]
        triangles = np.concatenate(
            [
                np.stack([bottom, bottom[nxt], top], axis=1),
                np.stack([top, top[nxt], bottom[nxt]], axis=1),
                np.stack([centre_bottom, bottom, bottom[nxt]], axis=1),
                np.stack([centre_top, top, top[nxt]], axis=1),
            ]
        )
    else:
        raise SystemExit(f"geom {geom_id}: unsupported MuJoCo geom type {kind} (the Panda model has none)")
    rotation = Rotation.from_quat(m.geom_quat[geom_id], scalar_first=True).as_matrix()
    return triangles @ rotation.T + m.geom_pos[geom_id]


def _body_pose(data: object, model: object, name: str) -> np.ndarray:
    body = model.body(name).id
    return _pose(data.xpos[body].copy(), data.xmat[body].reshape(3, 3).copy())


def _origin_xml(pose: np.ndarray) -> str:
    xyz = " ".join(f"{value:.6g}" for value in _clean(pose[:3, 3]))
    with warnings.catch_warnings():  # gimbal lock (pitch +-pi/2) is fine: any valid rpy of the matrix will do
        warnings.simplefilter("ignore", UserWarning)
        angles = Rotation.from_matrix(pose[:3, :3]).as_euler("xyz")
    rpy = " ".join(f"{value:.9g}" for value in _clean(angles))
    return f'<origin xyz="{xyz}" rpy="{rpy}"/>'


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.where(np.abs(values) < 1e-9, 0.0, values)
    return values + 0.0  # no -0


def _geometry_xml(primitive: Primitive) -> str:
    if primitive.kind == "box":
        return f'<geometry><box size="{" ".join(f"{s:.4f}" for s in primitive.size)}"/></geometry>'
    radius, length = primitive.size
    return f'<geometry><cylinder radius="{radius:.4f}" length="{length:.4f}"/></geometry>'


def build(output: Path) -> None:
    """Build robosuite's Lift scene, read the Panda from it and write the URDF to ``output``."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import mujoco
    import robosuite

    env = robosuite.make("Lift", robots="Panda", has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False)
    model = env.sim.model._model
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)  # qpos0: every robot joint at 0
    for spec in JOINTS:
        if spec.mujoco_joint is not None and data.qpos[model.joint(spec.mujoco_joint).qposadr[0]] != 0:
            raise SystemExit(f"{spec.mujoco_joint} is not 0 in qpos0")
    poses = {spec.name: _body_pose(data, model, spec.frame_body) for spec in LINKS}
    lines = [
        '<?xml version="1.0"?>',
        "<!-- Generated by urdf/generate_panda_urdf.py from robosuite "
        f"{robosuite.__version__} (MIT licence) with MuJoCo {mujoco.__version__}; do not edit by hand. -->",
        "<!-- Franka Emika Panda + Panda hand + robosuite's RethinkMount, kinematics identical to robosuite's",
        "     MJCF. base_link = robosuite robot0_base (REP-103: x forward, y left, z up). Collision and visual",
        "     geometry are primitives that enclose every robosuite geom of the link (+ 0.5 mm). -->",
        '<robot name="panda">',
        '  <material name="panda_white"><color rgba="0.9 0.9 0.9 1"/></material>',
        '  <material name="panda_dark"><color rgba="0.25 0.25 0.25 1"/></material>',
    ]
    for spec in LINKS:
        frame_pose = poses[spec.name]
        triangles = []  # per geom, (T, 3, 3) in the link frame
        for body in spec.geom_bodies:
            link_body = np.linalg.inv(frame_pose) @ _body_pose(data, model, body)
            for geom in np.flatnonzero(model.geom_bodyid == model.body(body).id):
                triangles.append(_geom_triangles(model, int(geom)) @ link_body[:3, :3].T + link_body[:3, 3])
        lines.append(f'  <link name="{spec.name}">')
        if triangles:
            groups = triangles if spec.per_geom else [np.concatenate(triangles)]
            groups = [_subdivide(group, spec.max_edge_m) for group in groups]
            primitives = [p for group in groups for p in fit_primitives(group, spec.aligned_box, spec.split_depth)]
            material = "panda_dark" if "finger" in spec.name or spec.name == "mount" else "panda_white"
            for primitive in primitives:
                origin, geometry = _origin_xml(primitive.origin), _geometry_xml(primitive)
                lines.append(f'    <visual>{origin}{geometry}<material name="{material}"/></visual>')
            for primitive in primitives:
                lines.append(f"    <collision>{_origin_xml(primitive.origin)}{_geometry_xml(primitive)}</collision>")
        lines.append("  </link>")
    lines.append(f'  <link name="{TCP_LINK}"/>')
    for spec in JOINTS:
        origin = _origin_xml(np.linalg.inv(poses[spec.parent]) @ poses[spec.child])
        if spec.mujoco_joint is None:
            lines.append(f'  <joint name="{spec.name}" type="fixed">')
        else:
            joint = model.joint(spec.mujoco_joint)
            kind = {int(mujoco.mjtJoint.mjJNT_HINGE): "revolute", int(mujoco.mjtJoint.mjJNT_SLIDE): "prismatic"}
            low, high = (float(v) for v in model.jnt_range[joint.id])
            axis = " ".join(f"{v:.6g}" for v in _clean(model.jnt_axis[joint.id]))
            lines.append(f'  <joint name="{spec.name}" type="{kind[int(model.jnt_type[joint.id])]}">')
            lines.append(f'    <axis xyz="{axis}"/>')
            limits = f'lower="{low:.6g}" upper="{high:.6g}" effort="{spec.effort:g}" velocity="{spec.velocity:g}"'
            lines.append(f"    <limit {limits}/>")
        lines.append(f'    <parent link="{spec.parent}"/>')
        lines.append(f'    <child link="{spec.child}"/>')
        lines.append(f"    {origin}")
        lines.append("  </joint>")
    # The TCP: the grip site's position with the hand body's (panda_link8's) orientation, as the sim's ee_pose.
    hand = poses["panda_hand"]
    tcp = _pose(
        data.site_xpos[model.site(GRIPPER + "grip_site").id].copy(), _body_pose(data, model, ARM + "right_hand")[:3, :3]
    )
    lines += [
        f'  <joint name="{TCP_LINK}_joint" type="fixed">',
        '    <parent link="panda_hand"/>',
        f'    <child link="{TCP_LINK}"/>',
        f"    {_origin_xml(np.linalg.inv(hand) @ tcp)}",
        "  </joint>",
        "</robot>",
        "",
    ]
    env.close()
    output.write_text("\n".join(lines))
    print(f"wrote {escape(str(output))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "panda.urdf")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
