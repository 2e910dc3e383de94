"""The robot self-filter on real rendered robosuite frames, and the joint-state history it is fed from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from robot_rl.errors import PerceptionError
from robot_rl.perception.segmenters import Frame, RgbdTabletopSegmenter, Segmentation, TabletopConfig
from robot_rl.perception.self_filter import JointStateHistory, SelfFilter, SelfFilterConfig
from robot_rl.perception.slots import SlotEncoder, SlotEncoderConfig
from robot_rl.robot_model import RobotModel, default_urdf_path
from robot_rl.sim.experts import LIFT_CUBE_HALF_SIZE_M, ExpertInput, make_expert
from robot_rl.sim.node import urdf_joint_positions
from robot_rl.sim.robosuite_adapter import Observation, RobosuiteAdapter, SimConfig

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
ROBOT_INSTANCES = ("Panda0", "PandaGripper0_right", "RethinkMount0")  # robosuite's robot, gripper and mount
# the sim graph's region of interest (config/sim_perception.yaml), base_link m
TABLETOP = TabletopConfig(workspace_min_m=(0.15, -0.45, -0.3), workspace_max_m=(0.95, 0.45, 0.3))
REGION = (TABLETOP.workspace_min_m, TABLETOP.workspace_max_m)
SEED = 4


@dataclass
class Shot:
    """One rendered frame with its ground truth."""

    frame: Frame
    observation: Observation
    robot_pixels: np.ndarray  # (H, W) bool, the sim's segmentation: robot, gripper and mount
    cube_pixels: np.ndarray  # (H, W) bool


@pytest.fixture(scope="module")
def model() -> RobotModel:
    return RobotModel(default_urdf_path())


@pytest.fixture(scope="module")
def shots() -> dict[str, Shot]:
    """The scripted expert's Lift episode, 640x480: the fingers around the cube (open), closed on it, and lifted."""
    config = SimConfig(task="Lift", depth=True, segmentation=True, seed=SEED, horizon_steps=300)
    with RobosuiteAdapter(config) as adapter:
        k, camera = adapter.camera_intrinsics(), adapter.camera_pose_in_base()
        robot_ids = [i for i, name in adapter.segmentation_labels.items() if name in ROBOT_INSTANCES]
        (cube_id,) = [i for i, name in adapter.segmentation_labels.items() if name == "cube"]
        expert = make_expert("Lift")
        observation = adapter.reset(seed=SEED)
        found: dict[str, Observation] = {}
        for _ in range(config.horizon_steps):
            action = expert.act(ExpertInput.from_observation(observation))
            phase = expert.phase  # the phase the expert decided on from this observation
            if phase == "grasp" and "at_cube" not in found:
                found["at_cube"] = observation
            if phase == "lift" and "grasped" not in found:
                found["grasped"] = observation
            if phase == "done":
                found["lifted"] = observation
                break
            observation, _, _ = adapter.step(action)
    assert set(found) == {"at_cube", "grasped", "lifted"}, f"the expert got to {expert.phase}"
    return {
        name: Shot(
            Frame(obs.color, obs.depth_m, k, camera, joint_positions=urdf_joint_positions(obs)),  # type: ignore[arg-type]
            obs,
            np.isin(obs.segmentation, robot_ids),
            obs.segmentation == cube_id,
        )
        for name, obs in found.items()
    }


def segment(shot: Shot, self_filter: SelfFilter | None) -> Segmentation:
    return RgbdTabletopSegmenter(TABLETOP, self_filter).segment(shot.frame)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["at_cube", "grasped", "lifted"])
def test_one_segment_for_the_cube_and_the_robot_removed(model: RobotModel, shots: dict[str, Shot], name: str) -> None:
    shot = shots[name]
    segmentation = segment(shot, SelfFilter(model))
    assert segmentation.count == 1, f"{segmentation.count} segments"
    cube = segmentation.labels == 1
    # The sim renders depth and segmentation in separate passes, so on a one-pixel rim along the robot's
    # outline they disagree (a finger's label on the cube top's depth): judge the robot's pixels inside that rim.
    robot = ndimage.binary_erosion(shot.robot_pixels, structure=np.ones((3, 3), dtype=bool))
    # the segment is the cube: nothing of the robot in it, and most of the cube's visible pixels
    assert (cube & robot).sum() == 0
    assert (cube & shot.cube_pixels).sum() >= 0.8 * shot.cube_pixels.sum()
    # every robot pixel in the region of interest is removed; at most a thin strip of the cube along the pads
    assert segmentation.points_base is not None
    assert segmentation.robot_mask is not None
    points = segmentation.points_base
    in_roi = np.all((points > TABLETOP.workspace_min_m) & (points < TABLETOP.workspace_max_m), axis=2)
    assert (robot & in_roi).sum() > 20_000  # the arm and the gripper are in view
    assert not (robot & in_roi & ~segmentation.robot_mask).any()
    assert (segmentation.robot_mask & shot.cube_pixels).sum() <= 0.15 * shot.cube_pixels.sum()
    # Its slot: the same as the slot of the sim's own cube mask (what a perfect segmenter gives) within 3 mm,
    # and within 2 cm of the cube's centre in x-y: the gripper hides the cube's far half, so the visible surface
    # (the front face and part of the top) lies 1.2-1.5 cm in front of it, with or without the filter.
    encoder = SlotEncoder(SlotEncoderConfig())
    (detection,) = encoder.encode(shot.frame, segmentation)
    ideal = Segmentation(shot.cube_pixels.astype(np.int32), points_base=points, plane=segmentation.plane)
    (best,) = encoder.encode(shot.frame, ideal)
    assert np.linalg.norm(detection.features[1:4] - best.features[1:4]) < 0.003
    cube_position = shot.observation.object_poses["cube"].position_m
    assert np.linalg.norm(detection.features[1:3] - cube_position[:2]) < 0.02
    # the segment's top is the cube's top (the slot's z is halfway between the top and the table by convention)
    top = np.percentile(points[cube][:, 2], 98)
    assert abs(top - (cube_position[2] + LIFT_CUBE_HALF_SIZE_M)) < 0.01


@pytest.mark.slow
def test_without_the_self_filter_the_fingers_are_segmented(shots: dict[str, Shot]) -> None:
    """The failure this filter fixes: on the same frames, the fingers become segments or merge with the cube."""
    for name in ("at_cube", "grasped"):
        shot = shots[name]
        segmentation = segment(shot, None)
        robot_labelled = (segmentation.labels > 0) & shot.robot_pixels
        assert robot_labelled.sum() > 200, name


@pytest.mark.slow
def test_mask_points_agrees_with_the_image_mask(model: RobotModel, shots: dict[str, Shot]) -> None:
    self_filter = SelfFilter(model)
    shot = shots["lifted"]
    points = segment(shot, None).points_base
    assert points is not None
    link_poses = self_filter.link_poses(shot.frame.joint_positions)  # type: ignore[arg-type]
    image_mask = self_filter.mask(points, shot.frame.k, shot.frame.t_base_camera, link_poses)
    flat = points.reshape(-1, 3)
    np.testing.assert_array_equal(self_filter.mask_points(flat, link_poses), image_mask.reshape(-1))


def test_segmenter_needs_the_frames_joint_positions(model: RobotModel) -> None:
    from tests.perception.scene import Box, render

    frame, _ = render([Box((0.40, 0.10), (0.05, 0.05, 0.05), (200, 30, 30))])
    segmenter = RgbdTabletopSegmenter(self_filter=SelfFilter(model))
    with pytest.raises(PerceptionError, match="needs the frame's joint positions"):
        segmenter.segment(frame)
    partial = dict.fromkeys(ARM_JOINTS, 0.0)
    with pytest.raises(PerceptionError, match="panda_finger_joint1, panda_finger_joint2"):
        segmenter.segment(Frame(frame.color, frame.depth_m, frame.k, frame.t_base_camera, joint_positions=partial))


def test_shapes_mask_points_inside_with_padding(model: RobotModel) -> None:
    q = dict.fromkeys(model.joint_names, 0.0) | {"panda_joint4": -2.0, "panda_joint6": 2.0}
    self_filter = SelfFilter(model, SelfFilterConfig(padding_m=0.01, gripper_padding_m=0.002))
    poses = self_filter.link_poses(q)
    finger = next(s for s in model.placed_collision_shapes(poses) if s.link == "panda_leftfinger")
    half = finger.half_extents_m
    centre = finger.pose[:3, 3]
    outward = finger.pose[:3, 0]  # a box face normal
    probes = np.array([centre, centre + outward * (half[0] + 0.001), centre + outward * (half[0] + 0.004)])
    np.testing.assert_array_equal(self_filter.mask_points(probes, poses), [True, True, False])
    link3 = next(s for s in model.placed_collision_shapes(poses) if s.link == "panda_link3")
    radial = link3.pose[:3, 0] if link3.kind == "cylinder" else link3.pose[:3, 1]
    extent = link3.half_extents_m[0] if link3.kind == "cylinder" else link3.half_extents_m[1]
    probes = link3.pose[:3, 3] + np.outer([extent + 0.009, extent + 0.011], radial)
    np.testing.assert_array_equal(self_filter.mask_points(probes, poses), [True, False])
    assert not self_filter.mask_points(np.full((1, 3), np.nan), poses).any()


def test_config_and_model_validation(tmp_path: Path, model: RobotModel) -> None:
    with pytest.raises(PerceptionError, match="padding_m"):
        SelfFilterConfig(padding_m=-0.01)
    with pytest.raises(PerceptionError, match="gripper_padding_m"):
        SelfFilterConfig(gripper_padding_m=float("nan"))
    path = tmp_path / "meshy.urdf"
    path.write_text(
        '<robot name="r"><link name="base_link"><collision><geometry><mesh filename="x.stl"/></geometry>'
        "</collision></link></robot>"
    )
    with pytest.raises(PerceptionError, match=r"base_link have <mesh> collisions"):
        SelfFilter(RobotModel(path))
    with pytest.raises(PerceptionError, match=r"must be \(H, W, 3\)"):
        SelfFilter(model).mask(np.zeros((4, 3)), np.eye(3), np.eye(4), {})


def test_joint_state_history_looks_up_the_frames_time() -> None:
    history = JointStateHistory()
    with pytest.raises(PerceptionError, match="no /joint_states received yet"):
        history.lookup(1.0, ["a"], 0.1)
    history.add(0.90, ["a", "b"], [1.0, 2.0])
    history.add(0.95, ["a"], [1.5])  # the arm and the gripper may come in separate messages
    history.add(1.05, ["a", "b"], [9.0, 9.0])  # newer than the image: not used for it
    assert history.lookup(1.0, ["a", "b"], 0.2) == {"a": 1.5, "b": 2.0}
    with pytest.raises(PerceptionError, match=r"stale joint states: b last seen 0\.100 s before the image"):
        history.lookup(1.0, ["a", "b"], 0.08)
    with pytest.raises(PerceptionError, match=r"lacks the URDF joint.*c"):
        history.lookup(1.0, ["a", "c"], 0.2)
    with pytest.raises(PerceptionError, match="no joint state at or before the image stamp"):
        history.lookup(0.5, ["a"], 0.2)
    history.add(0.0, ["a"], [0.0])  # time went back (a sim reset): the old states are dropped
    assert len(history) == 1
    with pytest.raises(PerceptionError, match="names but"):
        history.add(0.1, ["a"], [1.0, 2.0])
