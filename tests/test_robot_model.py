"""The URDF robot model against robosuite's Panda in MuJoCo: forward kinematics, collision shapes, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.errors import RobotModelError
from robot_rl.robot_model import RobotModel, default_urdf_path
from robot_rl.sim.robosuite_adapter import RobosuiteAdapter, SimConfig

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
# URDF joint -> robosuite joint; URDF link -> robosuite body whose frame it is
JOINTS = {
    **{f"panda_joint{i}": f"robot0_joint{i}" for i in range(1, 8)},
    "panda_finger_joint1": "gripper0_right_finger_joint1",
    "panda_finger_joint2": "gripper0_right_finger_joint2",
}
BODIES = {
    "base_link": "robot0_base",
    "mount": "fixed_mount0_base",
    **{f"panda_link{i}": f"robot0_link{i}" for i in range(8)},
    "panda_link8": "robot0_right_hand",
    "panda_hand": "gripper0_right_right_gripper",
    "panda_leftfinger": "gripper0_right_leftfinger",
    "panda_rightfinger": "gripper0_right_rightfinger",
}
TCP = "panda_hand_tcp"  # the grip site's position with the hand body's orientation (the sim's ee_pose)


@pytest.fixture(scope="module")
def model() -> RobotModel:
    return RobotModel(default_urdf_path())


def _pose(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, position
    return pose


def _mujoco_link_poses(model: Any, data: Any, q: dict[str, float]) -> dict[str, np.ndarray]:
    import mujoco

    for urdf_name, mujoco_name in JOINTS.items():
        data.qpos[model.joint(mujoco_name).qposadr[0]] = q[urdf_name]
    mujoco.mj_kinematics(model, data)

    def body(name: str) -> np.ndarray:
        index = model.body(name).id
        return _pose(data.xpos[index], data.xmat[index].reshape(3, 3))

    base_inverse = np.linalg.inv(body("robot0_base"))
    poses = {link: base_inverse @ body(name) for link, name in BODIES.items()}
    grip = _pose(data.site_xpos[model.site("gripper0_right_grip_site").id], body("robot0_right_hand")[:3, :3])
    poses[TCP] = base_inverse @ grip
    return poses


def _rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    cosine = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def test_structure_matches_the_sim(model: RobotModel) -> None:
    assert model.root_link == "base_link"
    assert model.joint_names == (*ARM_JOINTS, *FINGER_JOINTS)  # what the sim node publishes on /joint_states
    assert set(model.link_names) == {*BODIES, TCP}
    assert model.joint_limits["panda_joint4"] == (-3.0718, -0.0698)
    assert model.joint_limits["panda_finger_joint2"] == (-0.04, 0.0)  # robosuite's sign: joint2 opens negative
    assert model.mesh_collision_links == ()
    shaped = {shape.link for shape in model.collision_shapes}
    assert shaped == set(BODIES) - {"base_link", "panda_link8"}  # every link with geometry in robosuite


def test_forward_kinematics_agrees_with_mujoco(model: RobotModel, mujoco_panda: Any) -> None:
    """1,000 random configurations within the joint limits, fingers included: every link within 1 mm, 0.1 deg."""
    import mujoco

    data = mujoco.MjData(mujoco_panda)
    rng = np.random.default_rng(0)
    worst_position_m = worst_rotation_deg = 0.0
    for _ in range(1000):
        q = {name: float(rng.uniform(*model.joint_limits[name])) for name in model.joint_names}
        ours = model.link_poses(q)
        theirs = _mujoco_link_poses(mujoco_panda, data, q)
        for link in model.link_names:
            worst_position_m = max(worst_position_m, float(np.linalg.norm(ours[link][:3, 3] - theirs[link][:3, 3])))
            worst_rotation_deg = max(worst_rotation_deg, _rotation_error_deg(ours[link], theirs[link]))
    assert worst_position_m < 1e-3, worst_position_m
    assert worst_rotation_deg < 0.1, worst_rotation_deg
    print(f"FK vs MuJoCo over 1000 configurations: {worst_position_m * 1e3:.2e} mm, {worst_rotation_deg:.2e} deg")


def test_collision_shapes_enclose_the_mujoco_geoms(model: RobotModel, mujoco_panda: Any) -> None:
    """Every vertex of every robosuite geom of a link (visual and collision) lies in one of the link's shapes."""
    m = mujoco_panda
    geom_bodies = {link: [body] for link, body in BODIES.items()}
    geom_bodies["panda_leftfinger"].append("gripper0_right_finger_joint1_tip")
    geom_bodies["panda_rightfinger"].append("gripper0_right_finger_joint2_tip")
    geom_bodies["mount"] += [
        f"fixed_mount0_{name}" for name in ("controller_box", "pedestal_feet", "torso", "pedestal")
    ]
    import mujoco

    data = mujoco.MjData(m)
    mujoco.mj_kinematics(m, data)
    for link, bodies in geom_bodies.items():
        frame_index = m.body(BODIES[link]).id
        link_world = _pose(data.xpos[frame_index], data.xmat[frame_index].reshape(3, 3))
        shapes = [shape for shape in model.collision_shapes if shape.link == link]
        for body in bodies:
            for geom in np.flatnonzero(m.geom_bodyid == m.body(body).id):
                if m.geom_type[geom] != 7:  # meshes; the few boxes/cylinders are checked by the generator's sampling
                    continue
                mesh = m.geom_dataid[geom]
                vertices = m.mesh_vert[m.mesh_vertadr[mesh] : m.mesh_vertadr[mesh] + m.mesh_vertnum[mesh]]
                geom_world = _pose(data.geom_xpos[geom], data.geom_xmat[geom].reshape(3, 3))
                in_link = vertices @ (np.linalg.inv(link_world) @ geom_world)[:3, :3].T
                in_link += (np.linalg.inv(link_world) @ geom_world)[:3, 3]
                inside = np.zeros(len(in_link), dtype=bool)
                for shape in shapes:
                    local = (in_link - shape.pose[:3, 3]) @ shape.pose[:3, :3]
                    half = shape.half_extents_m + 1e-6
                    if shape.kind == "box":
                        inside |= np.all(np.abs(local) <= half, axis=1)
                    else:
                        inside |= (np.hypot(local[:, 0], local[:, 1]) <= half[0]) & (np.abs(local[:, 2]) <= half[2])
                assert inside.all(), (link, m.geom(geom).name, int((~inside).sum()))


def test_tcp_is_the_sims_end_effector(model: RobotModel) -> None:
    with RobosuiteAdapter(SimConfig(task="Lift", render_camera=False, seed=3)) as adapter:
        observation = adapter.reset(seed=3)
    q = dict(zip(ARM_JOINTS, observation.joint_positions_rad, strict=True))
    q.update(zip(FINGER_JOINTS, observation.gripper_finger_positions_m, strict=True))
    tcp = model.link_poses(q)[TCP]
    np.testing.assert_allclose(tcp[:3, 3], observation.ee_position_m, atol=1e-6)
    from scipy.spatial.transform import Rotation

    np.testing.assert_allclose(
        np.abs(Rotation.from_matrix(tcp[:3, :3]).as_quat() @ observation.ee_quaternion_xyzw), 1.0, atol=1e-9
    )


def test_placed_collision_shapes_follow_the_links(model: RobotModel) -> None:
    q = dict.fromkeys(model.joint_names, 0.0) | {"panda_joint4": -1.5, "panda_joint6": 1.5}
    poses = model.link_poses(q)
    placed = model.placed_collision_shapes(poses)
    assert len(placed) == len(model.collision_shapes)
    for shape, local in zip(placed, model.collision_shapes, strict=True):
        assert shape.frame == "base_link"
        assert shape.dimensions_m == local.dimensions_m
        np.testing.assert_allclose(shape.pose, poses[local.link] @ local.pose)
    with pytest.raises(RobotModelError, match="lack the link"):
        model.placed_collision_shapes({"base_link": np.eye(4)})


def test_missing_and_bad_joints_are_named(model: RobotModel) -> None:
    q = dict.fromkeys(model.joint_names, 0.0) | {"panda_joint4": -1.0, "some_other_joint": 3.0}  # extras ignored
    assert set(model.link_poses(q)) == set(model.link_names)
    del q["panda_joint3"], q["panda_finger_joint2"]
    with pytest.raises(RobotModelError, match=r"lack the URDF joint.*panda_joint3, panda_finger_joint2"):
        model.link_poses(q)
    with pytest.raises(RobotModelError, match="panda_joint1 are not finite"):
        model.link_poses(dict.fromkeys(model.joint_names, 0.0) | {"panda_joint1": float("nan")})


GOOD_TWO_LINKS = """<robot name="r"><link name="base_link"/><link name="a"/>
<joint name="j" type="revolute"><parent link="base_link"/><child link="a"/><axis xyz="0 0 1"/>
<limit lower="-1" upper="1" effort="1" velocity="1"/></joint></robot>"""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<robot name='r'><link name='base_link'>", "not well-formed XML"),
        ("<mujoco model='panda'/>", r"not a URDF \(the root element is <mujoco>"),
        (GOOD_TWO_LINKS.replace('<child link="a"/>', '<child link="nowhere"/>'), "not a valid URDF"),
        (GOOD_TWO_LINKS.replace('type="revolute"', 'type="hinge"'), "not a valid URDF"),
        (GOOD_TWO_LINKS.replace("base_link", "world"), "no link named 'base_link'"),
    ],
)
def test_bad_urdf_is_one_clear_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "robot.urdf"
    path.write_text(text)
    with pytest.raises(RobotModelError, match=match):
        RobotModel(path)


def test_missing_file_and_small_valid_urdf(tmp_path: Path) -> None:
    with pytest.raises(RobotModelError, match="not found"):
        RobotModel(tmp_path / "none.urdf")
    path = tmp_path / "robot.urdf"
    path.write_text(GOOD_TWO_LINKS)
    small = RobotModel(path)
    assert small.joint_names == ("j",)
    assert small.collision_shapes == ()
    pose = small.link_poses({"j": np.pi / 2})["a"]
    np.testing.assert_allclose(pose[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_urdf_text_and_joint_transforms(model: RobotModel) -> None:
    """A robot_description string loads like the file; the joints' parent -> child transforms, composed from
    base_link, give link_poses, and a partial configuration gives the joints it names (robot_state_publisher)."""
    text = RobotModel("robot_description", xml=default_urdf_path().read_text())
    assert (text.name, text.joint_names, text.link_names) == (model.name, model.joint_names, model.link_names)
    q = {name: 0.3 * (i % 3 - 1) for i, name in enumerate(model.joint_names)}
    moving = text.joint_transforms(q)
    edges = {
        child: (parent, pose) for parent, child, pose in [*moving.values(), *text.fixed_joint_transforms().values()]
    }
    expected = model.link_poses(q)
    for link in model.link_names:
        pose, frame = np.eye(4), link
        while frame != "base_link":
            parent, relative = edges[frame]
            pose, frame = relative @ pose, parent
        np.testing.assert_allclose(pose, expected[link], atol=1e-12, err_msg=link)
    assert set(text.joint_transforms({"panda_joint3": 0.1, "elsewhere": 2.0})) == {"panda_joint3"}
    with pytest.raises(RobotModelError, match="panda_joint3 are not finite"):
        text.joint_transforms({"panda_joint3": float("inf")})
    with pytest.raises(RobotModelError, match=r"^robot_description: not well-formed XML"):
        RobotModel("robot_description", xml="<robot name='r'>")
