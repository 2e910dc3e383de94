"""Tests for robot_rl.sim.robosuite_adapter: config validation, observations, determinism, camera geometry."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from collections.abc import Iterator

import mujoco
import numpy as np
import pytest

from robot_rl.errors import RobotRLError, SimError
from robot_rl.perception.geometry import quaternion_xyzw
from robot_rl.sim import ACTION_DIM, TASK_OBJECTS, Observation, RobosuiteAdapter, SimConfig

SMALL = {"image_width_px": 128, "image_height_px": 96}
LIFT_CUBE_HALF_SIZE_M = (0.020, 0.022)  # robosuite's Lift samples the cube's half size in this range


def _rotation_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _project(k: np.ndarray, base_camera: np.ndarray, point_base: np.ndarray) -> np.ndarray:
    """Pixel (u, v) = (column, row) of a base_link point."""
    camera_point = np.linalg.inv(base_camera) @ np.append(point_base, 1.0)
    assert camera_point[2] > 0, "point is behind the camera"
    uvw = k @ camera_point[:3]
    return uvw[:2] / uvw[2]


def _erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(pixels):
        inner = out.copy()
        inner[1:, :] &= out[:-1, :]
        inner[:-1, :] &= out[1:, :]
        inner[:, 1:] &= out[:, :-1]
        inner[:, :-1] &= out[:, 1:]
        out = inner
    return out


# --- config (no simulator) ----------------------------------------------------------------


def test_config_defaults() -> None:
    config = SimConfig()
    assert (config.task, config.robot, config.camera_name) == ("Lift", "Panda", "agentview")
    assert (config.image_width_px, config.image_height_px) == (640, 480)
    assert config.control_rate_hz == 20.0
    assert config.control_period_s == pytest.approx(0.05)


def test_unknown_task_lists_valid_tasks() -> None:
    with pytest.raises(SimError, match="Door") as info:
        SimConfig(task="Door")
    for task in TASK_OBJECTS:
        assert task in str(info.value)
    assert isinstance(info.value, RobotRLError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"robot": "Sawyer"}, "unsupported robot"),
        ({"control_rate_hz": 30.0}, "whole physics steps"),
        ({"control_rate_hz": 1000.0}, "whole physics steps"),
        ({"control_rate_hz": 0.0}, "positive"),
        ({"control_rate_hz": float("nan")}, "positive"),
        ({"control_rate_hz": True}, "positive"),
        ({"horizon_steps": 0}, "horizon_steps"),
        ({"horizon_steps": 10.0}, "horizon_steps must be an int"),
        ({"image_width_px": 0}, "image_width_px"),
        ({"image_height_px": 100000}, "image_height_px"),
        ({"camera_name": ""}, "camera_name"),
        ({"render_samples": -1}, "render_samples"),
        ({"render_samples": 17}, "render_samples"),
        ({"render_samples": 2.0}, "render_samples must be an int"),
        ({"render_reflections": 1}, "render_reflections must be a bool"),
        ({"depth": 1}, "depth must be a bool"),
        ({"render_camera": False, "depth": True}, "need render_camera"),
        ({"render_camera": False, "segmentation": True}, "need render_camera"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
    ],
)
def test_config_rejects(kwargs: dict, match: str) -> None:
    with pytest.raises(SimError, match=match):
        SimConfig(**kwargs)


@pytest.mark.parametrize("rate_hz", [10.0, 20, 25.0, 50.0, 100.0, 500.0])
def test_config_accepts_rates_that_divide_the_physics_rate(rate_hz: float) -> None:
    assert SimConfig(control_rate_hz=rate_hz).control_period_s == pytest.approx(1.0 / rate_hz)


@pytest.mark.parametrize("angle_rad", [0.0, 0.3, np.pi / 2, np.pi - 1e-9, -2.0])
def test_quaternion_xyzw(angle_rad: float) -> None:
    rotation = _rotation_z(angle_rad) @ np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # some x tilt too
    q = quaternion_xyzw(rotation)
    assert q[3] >= 0.0
    assert np.linalg.norm(q) == pytest.approx(1.0)
    np.testing.assert_allclose(_quat_to_matrix(q), rotation, atol=1e-9)


# --- state-only simulator -----------------------------------------------------------------


@pytest.fixture(scope="module")
def state_sim() -> Iterator[RobosuiteAdapter]:
    adapter = RobosuiteAdapter(SimConfig(task="Lift", render_camera=False, horizon_steps=6, seed=11))
    yield adapter
    adapter.close()


def test_reset_shapes_units_and_frames(state_sim: RobosuiteAdapter) -> None:
    obs = state_sim.reset(seed=3)
    assert isinstance(obs, Observation)
    assert obs.stamp_s == 0.0
    assert obs.joint_names == tuple(f"robot0_joint{i}" for i in range(1, 8))
    assert obs.joint_positions_rad.shape == obs.joint_velocities_rad_s.shape == (7,)
    # The Panda's home pose (robosuite init_qpos) plus small noise, in radians.
    home_rad = np.array([0.0, np.pi / 16, 0.0, -np.pi * 5 / 6, 0.0, np.pi - 0.2, np.pi / 4])
    np.testing.assert_allclose(obs.joint_positions_rad, home_rad, atol=0.1)
    assert len(obs.gripper_joint_names) == 2
    assert obs.gripper_finger_positions_m.shape == (2,)
    assert 0.0 < obs.gripper_finger_positions_m[0] < 0.04  # metres, finger 1 opens positive
    assert -0.04 < obs.gripper_finger_positions_m[1] < 0.0
    # base_link, not world: the TCP is ~0.45 m in front of the base and ~0.1 m above it (world z would be ~1 m).
    assert obs.ee_position_m.shape == (3,)
    assert 0.3 < obs.ee_position_m[0] < 0.6
    assert abs(obs.ee_position_m[1]) < 0.1
    assert 0.0 < obs.ee_position_m[2] < 0.25
    assert obs.ee_quaternion_xyzw.shape == (4,)
    tcp_z_axis = _quat_to_matrix(obs.ee_quaternion_xyzw)[:, 2]
    assert tcp_z_axis[2] < -0.95  # the fingers point down
    assert set(obs.object_poses) == {"cube"}
    cube = obs.object_poses["cube"]
    assert cube.position_m.shape == (3,)
    assert cube.quaternion_xyzw.shape == (4,)
    assert -0.12 < cube.position_m[2] < -0.05  # on the table, below the base (table top 0.8 m, base 0.912 m)
    assert obs.color is None
    assert obs.depth_m is None
    assert obs.segmentation is None
    assert state_sim.success() is False


def test_step_reward_flags_and_timeout(state_sim: RobosuiteAdapter) -> None:
    state_sim.reset(seed=4)
    for step in range(1, 7):
        obs, reward, flags = state_sim.step(np.zeros(ACTION_DIM))
        assert obs.stamp_s == pytest.approx(step * 0.05)
        assert reward == 0.0
        assert flags.success is False
        assert flags.timeout is (step == 6)
        assert flags.done is (step == 6)
    with pytest.raises(SimError, match="reset"):
        state_sim.step(np.zeros(ACTION_DIM))
    state_sim.reset(seed=4)
    state_sim.step(np.zeros(ACTION_DIM))


def test_action_axes_are_base_frame_deltas(state_sim: RobosuiteAdapter) -> None:
    np.testing.assert_allclose(state_sim.action_scale_per_step, [0.05, 0.05, 0.05, 0.5, 0.5, 0.5])
    start = state_sim.reset(seed=5)
    for _ in range(4):
        obs, _, _ = state_sim.step(np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]))
    moved = obs.ee_position_m - start.ee_position_m
    assert 0.02 < moved[0] < 0.05  # +x, less than 4 x 0.05 m: the goal is 5 cm ahead of the achieved pose
    assert abs(moved[1]) < 0.005
    assert obs.gripper_finger_positions_m[0] < start.gripper_finger_positions_m[0] - 0.005  # +1 closes
    start = state_sim.reset(seed=5)
    obs, _, _ = state_sim.step(np.array([0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0]))  # clipped to +1
    assert obs.ee_position_m[2] > start.ee_position_m[2] + 0.002


@pytest.mark.parametrize("action", [np.zeros(6), np.zeros(8), np.array([0, 0, 0, 0, 0, 0, np.nan])])
def test_bad_action(state_sim: RobosuiteAdapter, action: np.ndarray) -> None:
    state_sim.reset(seed=6)
    with pytest.raises(SimError, match="action"):
        state_sim.step(action)


def test_reset_keeps_numpy_global_rng(state_sim: RobosuiteAdapter) -> None:
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    state_sim.reset(seed=7)
    assert np.random.random() == expected


def _assert_same(a: Observation, b: Observation) -> None:
    for name in ("joint_positions_rad", "joint_velocities_rad_s", "gripper_finger_positions_m"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.ee_position_m, b.ee_position_m)
    np.testing.assert_array_equal(a.ee_quaternion_xyzw, b.ee_quaternion_xyzw)
    for name, pose in a.object_poses.items():
        np.testing.assert_array_equal(pose.position_m, b.object_poses[name].position_m)
        np.testing.assert_array_equal(pose.quaternion_xyzw, b.object_poses[name].quaternion_xyzw)
    for name in ("color", "depth_m", "segmentation"):
        if getattr(a, name) is None:
            assert getattr(b, name) is None
        else:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_unknown_camera_and_closed_adapter() -> None:
    with pytest.raises(SimError, match="agentview"):
        RobosuiteAdapter(SimConfig(render_camera=False, camera_name="no_such_camera"))
    adapter = RobosuiteAdapter(SimConfig(render_camera=False))
    adapter.close()
    adapter.close()
    with pytest.raises(SimError, match="closed"):
        adapter.reset(seed=0)


@pytest.mark.parametrize("task", [t for t in TASK_OBJECTS if t != "Lift"])
def test_other_tasks_run(task: str) -> None:
    with RobosuiteAdapter(SimConfig(task=task, render_camera=False, horizon_steps=5)) as adapter:
        obs = adapter.reset(seed=0)
        assert set(obs.object_poses) == set(TASK_OBJECTS[task])
        obs, reward, flags = adapter.step(np.zeros(ACTION_DIM))
        assert np.isfinite(reward)
        assert flags.done is False
        for pose in obs.object_poses.values():
            assert np.linalg.norm(pose.position_m) < 1.0  # on the table in front of the robot, base frame


# --- rendering ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_camera_sim() -> Iterator[RobosuiteAdapter]:
    adapter = RobosuiteAdapter(SimConfig(task="Lift", depth=True, segmentation=True, seed=5, **SMALL))
    yield adapter
    adapter.close()


def test_image_shapes_and_units(small_camera_sim: RobosuiteAdapter) -> None:
    obs = small_camera_sim.reset(seed=1)
    assert obs.color is not None
    assert obs.depth_m is not None
    assert obs.segmentation is not None
    assert (obs.color.shape, obs.color.dtype) == ((96, 128, 3), np.uint8)
    assert (obs.depth_m.shape, obs.depth_m.dtype) == ((96, 128), np.float32)
    assert (obs.segmentation.shape, obs.segmentation.dtype) == ((96, 128), np.int32)
    assert 0.3 < float(np.min(obs.depth_m)) < 3.0  # metres, not a normalized [0, 1] buffer
    labels = obs.segmentation_labels
    assert "cube" in labels.values()
    cube_id = next(i for i, name in labels.items() if name == "cube")
    assert (obs.segmentation == cube_id).sum() > 5
    assert set(np.unique(obs.segmentation)) <= {0, *labels}
    k = small_camera_sim.camera_intrinsics()
    assert k[0, 0] == k[1, 1]
    assert (k[0, 2], k[1, 2]) == (63.5, 47.5)


def test_same_seed_same_observations(small_camera_sim: RobosuiteAdapter) -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, size=(3, ACTION_DIM))
    first = [small_camera_sim.reset(seed=9)] + [small_camera_sim.step(a)[0] for a in actions]
    other = small_camera_sim.reset(seed=10)
    assert not np.array_equal(other.object_poses["cube"].position_m, first[0].object_poses["cube"].position_m)
    second = [small_camera_sim.reset(seed=9)] + [small_camera_sim.step(a)[0] for a in actions]
    for a, b in zip(first, second, strict=True):
        _assert_same(a, b)


def test_seed_sequence_from_config_is_reproducible() -> None:
    def episodes(seed: int) -> list[Observation]:
        with RobosuiteAdapter(SimConfig(render_camera=False, seed=seed)) as adapter:
            return [adapter.reset(), adapter.reset()]

    first, second, other = episodes(21), episodes(21), episodes(22)
    for a, b in zip(first, second, strict=True):
        _assert_same(a, b)
    cube = [obs.object_poses["cube"].position_m for obs in (*first, *other)]
    assert not np.array_equal(cube[0], cube[1])  # successive episodes differ
    assert not np.array_equal(cube[0], cube[2])  # another config seed gives other episodes


def test_lift_builds_the_same_cube_whatever_the_episode_seeds() -> None:
    """The cube's size is drawn when the model is built, from model_seed: two sims of Lift whose episode seeds
    differ (two halves of a split evaluation) grasp the same cube; another model_seed draws another size."""

    def cube_half_size_m(**fields: int) -> np.ndarray:
        with RobosuiteAdapter(SimConfig(render_camera=False, **fields)) as adapter:
            return np.asarray(adapter._env.cube.size, dtype=np.float64)

    first = cube_half_size_m(seed=0)
    np.testing.assert_array_equal(cube_half_size_m(seed=200_050), first)
    assert not np.array_equal(cube_half_size_m(seed=0, model_seed=1), first)
    low, high = LIFT_CUBE_HALF_SIZE_M
    assert np.all((first >= low) & (first <= high))


def test_render_samples_change_only_edges(small_camera_sim: RobosuiteAdapter) -> None:
    assert small_camera_sim._env.sim.model.vis.quality.offsamples == 0  # the default: no anti-aliasing
    config = SimConfig(task="Lift", depth=True, segmentation=True, seed=5, render_samples=4, **SMALL)
    with RobosuiteAdapter(config) as smooth:
        assert smooth._env.sim.model.vis.quality.offsamples == 4
        blended, plain = smooth.reset(seed=3), small_camera_sim.reset(seed=3)
    assert blended.color is not None
    assert plain.color is not None
    assert blended.segmentation is not None
    assert plain.segmentation is not None
    assert np.array_equal(blended.segmentation, plain.segmentation)  # same scene, same pose
    changed = np.any(blended.color != plain.color, axis=2)
    assert 0 < changed.mean() < 0.2  # anti-aliasing blends edge pixels only
    assert blended.depth_m is not None
    assert plain.depth_m is not None
    relative = np.abs(blended.depth_m - plain.depth_m) / plain.depth_m
    assert np.median(relative) < 0.005  # the multisample depth buffer reads about 0.2 % off


def test_render_reflections_change_only_the_background(small_camera_sim: RobosuiteAdapter) -> None:
    scene = small_camera_sim._env.sim._render_context_offscreen.scn
    assert scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] == 0  # the default: no mirrored scene
    config = SimConfig(task="Lift", depth=True, segmentation=True, seed=5, render_reflections=True, **SMALL)
    with RobosuiteAdapter(config) as mirrored:
        assert mirrored._env.sim._render_context_offscreen.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] == 1
        reflected, plain = mirrored.reset(seed=3), small_camera_sim.reset(seed=3)
    assert reflected.color is not None
    assert plain.color is not None
    assert reflected.segmentation is not None
    assert plain.segmentation is not None
    assert np.array_equal(reflected.depth_m, plain.depth_m, equal_nan=True)  # the mirror is drawn, not measured
    changed = np.any(reflected.color != plain.color, axis=2)
    assert changed.any()  # robosuite's floor reflects
    assert not (changed & (plain.segmentation > 0)).any()  # on the background only: no object or robot pixel
    assert np.abs(reflected.color.astype(int) - plain.color.astype(int)).max() <= 32


@pytest.fixture(scope="module")
def camera_sim() -> Iterator[RobosuiteAdapter]:
    adapter = RobosuiteAdapter(SimConfig(task="Lift", depth=True, segmentation=True))
    yield adapter
    adapter.close()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_projection_and_back_projection_agree_with_the_true_cube(camera_sim: RobosuiteAdapter, seed: int) -> None:
    obs = camera_sim.reset(seed=seed)
    assert obs.color is not None
    assert obs.depth_m is not None
    assert obs.segmentation is not None
    assert obs.color.shape == (480, 640, 3)
    k, base_camera = camera_sim.camera_intrinsics(), camera_sim.camera_pose_in_base()
    np.testing.assert_allclose(base_camera[:3, :3] @ base_camera[:3, :3].T, np.eye(3), atol=1e-9)
    assert np.linalg.det(base_camera[:3, :3]) == pytest.approx(1.0)
    cube = obs.object_poses["cube"]
    cube_id = next(i for i, name in obs.segmentation_labels.items() if name == "cube")
    mask = obs.segmentation == cube_id
    rows, cols = np.nonzero(mask)
    centroid = np.array([cols.mean(), rows.mean()])

    # Projection: the true centre lands on a cube pixel, within a few px of the mask centroid.
    u, v = _project(k, base_camera, cube.position_m)
    assert mask[round(v), round(u)]
    assert np.linalg.norm([u, v] - centroid) < 3.0
    # The color image is flipped like the labels: the cube's pixels are red, the robot's mount is black.
    red, green, blue = obs.color[_erode(mask, 2)].mean(axis=0)
    assert red > 1.5 * max(green, blue)
    mount_id = next(i for i, name in obs.segmentation_labels.items() if name.startswith("RethinkMount"))
    assert obs.color[obs.segmentation == mount_id].mean() < 60
    # Row 0 is the top of the image: a point 0.3 m above the cube projects to a smaller row.
    assert _project(k, base_camera, cube.position_m + np.array([0.0, 0.0, 0.3]))[1] < v - 50

    # Back-projection: depth at the centroid gives a point on the cube's surface, in base_link.
    def back_project(col: np.ndarray, row: np.ndarray) -> np.ndarray:
        z = obs.depth_m[row, col].astype(np.float64)
        camera_points = np.stack([(col - k[0, 2]) * z / k[0, 0], (row - k[1, 2]) * z / k[1, 1], z, np.ones_like(z)])
        return (base_camera @ camera_points)[:3].T

    to_cube = _quat_to_matrix(cube.quaternion_xyzw).T  # base_link -> cube frame rotation
    low, high = LIFT_CUBE_HALF_SIZE_M
    centre_point = back_project(np.array([round(centroid[0])]), np.array([round(centroid[1])]))[0]
    in_cube = to_cube @ (centre_point - cube.position_m)
    assert np.linalg.norm(centre_point - cube.position_m) < 0.04
    assert low - 0.002 < np.max(np.abs(in_cube)) < high + 0.002  # on a face of the box
    # Every interior mask pixel back-projects onto the box (within 2 mm).
    interior_rows, interior_cols = np.nonzero(_erode(mask, 2))
    points = (to_cube @ (back_project(interior_cols, interior_rows) - cube.position_m).T).T
    assert len(points) > 100
    assert np.max(np.abs(points)) < high + 0.002


def test_closing_another_adapter_does_not_corrupt_rendering() -> None:
    """Two simulators in one process: closing one must leave the other's images unchanged."""
    config = SimConfig(task="Lift", image_width_px=96, image_height_px=72, depth=True, seed=0)
    first = RobosuiteAdapter(config)
    first.reset(seed=0)
    second = RobosuiteAdapter(config)
    try:
        before = second.reset(seed=0)
        first.close()
        after = second.reset(seed=0)
        np.testing.assert_array_equal(after.color, before.color)
        np.testing.assert_array_equal(after.depth_m, before.depth_m)
    finally:
        first.close()
        second.close()
