"""Calibration files: the examples in calibration/, round trips, CameraInfo and every error case.

Expected values are written by hand from the example files and from simple rotations,
not computed with the code under test.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from robot_rl.calibration import (
    CameraIntrinsics,
    FixtureBox,
    HandEyeCalibration,
    SceneFixtures,
    WorkspaceLimits,
    calibration_file,
    from_camera_info_msg,
    load_camera_info,
    load_hand_eye,
    load_scene_fixtures,
    load_workspace_limits,
    save_camera_info,
    save_hand_eye,
    save_scene_fixtures,
    save_workspace_limits,
    to_camera_info_msg,
)
from robot_rl.errors import CalibrationError, RobotRLError
from robot_rl.runtime import msg

CALIBRATION_DIR = Path(__file__).resolve().parents[2] / "calibration"
CAMERA_FILE = CALIBRATION_DIR / "realsense_d435_color.yaml"
HAND_EYE_FILE = CALIBRATION_DIR / "hand_eye.yaml"
WORKSPACE_FILE = CALIBRATION_DIR / "workspace.yaml"

SQRT_HALF = math.sqrt(0.5)


def check_error(error: pytest.ExceptionInfo[CalibrationError], *fragments: str) -> None:
    """The message is one line and contains every fragment (file name, key, problem)."""
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def example(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


# --------------------------------------------------------------------------- camera info


def test_calibration_error_is_a_robot_rl_error() -> None:
    assert issubclass(CalibrationError, RobotRLError)


def test_load_example_camera_info() -> None:
    camera = load_camera_info(CAMERA_FILE)
    assert (camera.width_px, camera.height_px) == (640, 480)
    assert camera.camera_name == "realsense_d435_color"
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (615.0, 615.0, 320.0, 240.0)
    assert camera.k.tolist() == [[615.0, 0.0, 320.0], [0.0, 615.0, 240.0], [0.0, 0.0, 1.0]]
    assert camera.distortion_model == "plumb_bob"
    assert camera.d.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]
    assert camera.r.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert camera.p.tolist() == [[615.0, 0.0, 320.0, 0.0], [0.0, 615.0, 240.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    assert camera.k.dtype == np.float64
    assert not camera.k.flags.writeable


def odd_camera(model: str, count: int) -> CameraIntrinsics:
    """Intrinsics with values that do not print short (0.1 + 0.2, 1/3), to test exactness."""
    return CameraIntrinsics(
        width_px=1280,
        height_px=720,
        camera_name="wrist",
        k=np.array([[910.1 + 0.2, 0.0, 640.0 / 3], [0.0, 909.7, 360.5], [0.0, 0.0, 1.0]]),
        distortion_model=model,
        d=np.array([0.1 + 0.2, -1e-7, 1 / 3, 2.5e-4, -0.05, 0.01, 1e-9, -3.0])[:count],
        r=np.eye(3),
        p=np.array([[910.3, 0.0, 640.0 / 3, 0.0], [0.0, 909.7, 360.5, 0.0], [0.0, 0.0, 1.0, 0.0]]),
    )


@pytest.mark.parametrize(("model", "count"), [("plumb_bob", 5), ("rational_polynomial", 8), ("equidistant", 4)])
def test_camera_info_round_trip_is_exact(tmp_path: Path, model: str, count: int) -> None:
    camera = odd_camera(model, count)
    path = tmp_path / "camera.yaml"
    save_camera_info(camera, path)
    loaded = load_camera_info(path)
    assert loaded == camera
    assert loaded.d.tolist() == camera.d.tolist()
    assert loaded.k[0, 0] == 910.1 + 0.2


def test_saved_camera_info_uses_the_camera_calibration_parsers_layout(tmp_path: Path) -> None:
    path = tmp_path / "camera.yaml"
    save_camera_info(load_camera_info(CAMERA_FILE), path)
    text = path.read_text()
    assert "camera_matrix:\n  rows: 3\n  cols: 3\n  data: [615.0, 0.0, 320.0," in text
    assert "distortion_coefficients:\n  rows: 1\n  cols: 5\n  data: [0.0, 0.0, 0.0, 0.0, 0.0]" in text
    assert example(path) == example(CAMERA_FILE)
    assert load_camera_info(path) == load_camera_info(CAMERA_FILE)


def test_example_file_round_trips(tmp_path: Path) -> None:
    hand_eye = load_hand_eye(HAND_EYE_FILE)
    save_hand_eye(hand_eye, tmp_path / "hand_eye.yaml")
    assert load_hand_eye(tmp_path / "hand_eye.yaml") == hand_eye
    workspace = load_workspace_limits(WORKSPACE_FILE)
    save_workspace_limits(workspace, tmp_path / "workspace.yaml")
    assert load_workspace_limits(tmp_path / "workspace.yaml") == workspace


def test_to_camera_info_msg() -> None:
    camera = load_camera_info(CAMERA_FILE)
    info = to_camera_info_msg(camera, "camera_color_optical_frame", stamp=msg.Time(sec=12, nanosec=500))
    assert info.header.frame_id == "camera_color_optical_frame"
    assert (info.header.stamp.sec, info.header.stamp.nanosec) == (12, 500)
    assert (info.width, info.height) == (640, 480)
    assert info.distortion_model == "plumb_bob"
    d, k, r, p = (np.asarray(getattr(info, key)) for key in "dkrp")
    assert d.dtype == k.dtype == r.dtype == p.dtype == np.float64
    assert d.tolist() == [0.0] * 5
    assert k.tolist() == [615.0, 0.0, 320.0, 0.0, 615.0, 240.0, 0.0, 0.0, 1.0]
    assert r.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert p.tolist() == [615.0, 0.0, 320.0, 0.0, 0.0, 615.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert (info.binning_x, info.binning_y) == (0, 0)


def test_to_camera_info_msg_default_stamp_is_zero() -> None:
    info = to_camera_info_msg(load_camera_info(CAMERA_FILE), "camera_color_optical_frame")
    assert (info.header.stamp.sec, info.header.stamp.nanosec) == (0, 0)


def test_camera_info_msg_round_trip() -> None:
    camera = odd_camera("rational_polynomial", 8)
    info = to_camera_info_msg(camera, "wrist_camera_color_optical_frame")
    assert from_camera_info_msg(info, "wrist") == camera


def test_from_camera_info_msg_rejects_a_bad_distortion_count() -> None:
    info = to_camera_info_msg(load_camera_info(CAMERA_FILE), "camera_color_optical_frame")
    info.d = np.zeros(4)
    with pytest.raises(CalibrationError) as error:
        from_camera_info_msg(info, "realsense_d435_color")
    check_error(error, "CameraInfo", "d:", "plumb_bob needs 5 coefficients, got 4")


def test_camera_intrinsics_validates_direct_construction() -> None:
    camera = load_camera_info(CAMERA_FILE)
    with pytest.raises(CalibrationError) as error:
        CameraIntrinsics(640, 480, "cam", np.zeros((3, 4)), "plumb_bob", camera.d, camera.r, camera.p)
    check_error(error, "CameraIntrinsics", "k:", "expected shape (3, 3), got (3, 4)")


def set_key(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted key of the parsed YAML."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        for parent in parents:
            data = data[parent]
        data[last] = value

    return mutate


def delete_key(key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        for parent in parents:
            data = data[parent]
        del data[last]

    return mutate


CAMERA_ERRORS = [
    (delete_key("image_width"), "image_width", "missing key"),
    (delete_key("camera_matrix.rows"), "camera_matrix.rows", "missing key"),
    (set_key("image_width", "640"), "image_width", "expected an integer, got str '640'"),
    (set_key("image_height", 0), "image_height", "expected a positive integer, got 0"),
    (set_key("camera_name", 7), "camera_name", "expected a string"),
    (set_key("camera_matrix", [615.0, 0.0]), "camera_matrix", "expected a mapping"),
    (set_key("camera_matrix.data", "615 0 320"), "camera_matrix.data", "expected a list of numbers"),
    (set_key("camera_matrix.data", [615.0, "x", 320.0] + [0.0] * 6), "camera_matrix.data[1]", "expected a number"),
    (
        set_key("camera_matrix.data", ["6.15e2"] + [0.0] * 8),
        "camera_matrix.data[0]",
        "write e.g. 1.0e-3",
    ),
    (set_key("camera_matrix.data", [float("nan")] + [0.0] * 8), "camera_matrix.data[0]", "finite"),
    (set_key("camera_matrix.data", [0.0] * 8 + [1.0]), "camera_matrix", "focal lengths must be positive"),
    (set_key("camera_matrix.cols", 4), "camera_matrix", "expected 3x3, got rows=3 cols=4"),
    (set_key("camera_matrix.data", [615.0] * 8), "camera_matrix", "rows=3 cols=3 needs 9 values in data, got 8"),
    (set_key("rectification_matrix.rows", 1), "rectification_matrix", "expected 3x3, got rows=1 cols=3"),
    (set_key("projection_matrix.cols", 3), "projection_matrix", "expected 3x4, got rows=3 cols=3"),
    (set_key("distortion_model", "fisheye"), "distortion_model", "unknown model 'fisheye'"),
    (set_key("distortion_coefficients.rows", 5), "distortion_coefficients", "expected rows=1"),
    (set_key("distortion_coefficients.cols", 4), "distortion_coefficients", "needs 4 values in data, got 5"),
    (
        set_key("distortion_coefficients", {"rows": 1, "cols": 4, "data": [0.0] * 4}),
        "distortion_coefficients",
        "plumb_bob needs 5 coefficients, got 4",
    ),
    (set_key("distortion_model", "equidistant"), "distortion_coefficients", "equidistant needs 4 coefficients, got 5"),
]


@pytest.mark.parametrize(("mutate", "key", "problem"), CAMERA_ERRORS)
def test_camera_info_errors_name_file_and_key(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str, problem: str
) -> None:
    data = copy.deepcopy(example(CAMERA_FILE))
    mutate(data)
    path = write(tmp_path, "camera.yaml", data)
    with pytest.raises(CalibrationError) as error:
        load_camera_info(path)
    check_error(error, f"{path}: {key}: ", problem)


def test_camera_info_error_message_format(tmp_path: Path) -> None:
    data = example(CAMERA_FILE)
    data["camera_matrix"]["cols"] = 4
    data["camera_matrix"]["data"] = [0.0] * 12
    path = write(tmp_path, "camera.yaml", data)
    with pytest.raises(CalibrationError) as error:
        load_camera_info(path)
    assert str(error.value) == f"{path}: camera_matrix: expected 3x3, got rows=3 cols=4"


# --------------------------------------------------------------------------- files in general


@pytest.mark.parametrize("loader", [load_camera_info, load_hand_eye, load_workspace_limits, load_scene_fixtures])
def test_missing_file(tmp_path: Path, loader: Callable[[Path], object]) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(CalibrationError) as error:
        loader(path)
    check_error(error, f"{path}: file not found")


@pytest.mark.parametrize("loader", [load_camera_info, load_hand_eye, load_workspace_limits, load_scene_fixtures])
def test_malformed_yaml(tmp_path: Path, loader: Callable[[Path], object]) -> None:
    path = write(tmp_path, "broken.yaml", "frame_id: base_link\nmin_m: [0.3, 0.2\nmax_m: [1, 2, 3]\n")
    with pytest.raises(CalibrationError) as error:
        loader(path)
    check_error(error, f"{path}: malformed YAML", "line ")


@pytest.mark.parametrize("loader", [load_camera_info, load_hand_eye, load_workspace_limits, load_scene_fixtures])
def test_top_level_must_be_a_mapping(tmp_path: Path, loader: Callable[[Path], object]) -> None:
    path = write(tmp_path, "list.yaml", "- 1\n- 2\n")
    with pytest.raises(CalibrationError) as error:
        loader(path)
    check_error(error, str(path), "expected a YAML mapping at the top level, got list")


def test_calibration_file_finds_the_examples() -> None:
    assert calibration_file("hand_eye.yaml").read_text() == HAND_EYE_FILE.read_text()
    with pytest.raises(CalibrationError) as error:
        calibration_file("nope.yaml")
    check_error(error, "nope.yaml", "file not found")


# --------------------------------------------------------------------------- hand-eye


def test_load_example_hand_eye() -> None:
    cal = load_hand_eye(HAND_EYE_FILE)
    assert cal.parent_frame == "base_link"
    assert cal.child_frame == "camera_color_optical_frame"
    assert cal.eye_on_hand is False
    assert cal.translation_m.tolist() == [1.0, 0.0, 0.6]
    assert dict(cal.extra_parameters) == {
        "robot_effector_frame": "panda_hand",
        "tracking_marker_frame": "charuco_board",
    }
    np.testing.assert_allclose(np.linalg.norm(cal.quaternion_xyzw), 1.0, atol=1e-12)


def test_example_camera_looks_down_at_the_workspace() -> None:
    """Camera at (1.0, 0, 0.6), facing -x, tilted 60 degrees down (by hand, see hand_eye.yaml)."""
    cal = load_hand_eye(HAND_EYE_FILE)
    sin60, cos60 = math.sqrt(3) / 2, 0.5
    expected_rotation = [[0.0, sin60, -cos60], [1.0, 0.0, 0.0], [0.0, -cos60, -sin60]]
    np.testing.assert_allclose(cal.matrix()[:3, :3], expected_rotation, atol=1e-12)
    # 0.7 / sin60 along the optical axis drops 0.7 m, onto the table top at z = -0.1
    on_axis = cal.transform_points(np.array([0.0, 0.0, 0.7 / sin60]))
    np.testing.assert_allclose(on_axis, [1.0 - 0.7 / math.tan(math.radians(60)), 0.0, -0.1], atol=1e-12)
    # image right (+x optical) is +y of base_link; image down (+y optical) is (sin60, 0, -cos60)
    right_down = cal.transform_points(np.array([[0.1, 0.0, 0.0], [0.0, 0.1, 0.0]]))
    np.testing.assert_allclose(right_down, [[1.0, 0.1, 0.6], [1.0 + 0.1 * sin60, 0.0, 0.6 - 0.05]], atol=1e-12)


def rotation_90_about_z() -> HandEyeCalibration:
    return HandEyeCalibration(
        parent_frame="base_link",
        child_frame="camera_color_optical_frame",
        translation_m=np.array([1.0, 2.0, 3.0]),
        quaternion_xyzw=np.array([0.0, 0.0, SQRT_HALF, SQRT_HALF]),
    )


def test_hand_eye_matrix_of_a_90_degree_rotation_about_z() -> None:
    expected = [[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 1.0]]
    np.testing.assert_allclose(rotation_90_about_z().matrix(), expected, atol=1e-15)


def test_hand_eye_transform_points_90_degrees_about_z() -> None:
    cal = rotation_90_about_z()
    # x -> y, y -> -x, z -> z, then + (1, 2, 3)
    points = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [2.0, -1.0, 0.5]])
    expected = [[1.0, 3.0, 3.0], [0.0, 2.0, 3.0], [1.0, 2.0, 4.0], [2.0, 4.0, 3.5]]
    np.testing.assert_allclose(cal.transform_points(points), expected, atol=1e-15)
    np.testing.assert_allclose(cal.transform_points(np.array([1.0, 0.0, 0.0])), [1.0, 3.0, 3.0], atol=1e-15)
    with pytest.raises(CalibrationError, match=r"\(N, 3\)"):
        cal.transform_points(np.zeros((2, 4)))


@pytest.mark.parametrize("eye_on_hand", [False, True])
def test_hand_eye_round_trip_is_exact(tmp_path: Path, eye_on_hand: bool) -> None:
    angle = 0.1 + 0.2
    cal = HandEyeCalibration(
        parent_frame="panda_hand" if eye_on_hand else "base_link",
        child_frame="camera_color_optical_frame",
        translation_m=np.array([0.1 + 0.2, -1 / 3, 1e-9]),
        quaternion_xyzw=np.array([math.sin(angle / 2), 0.0, 0.0, math.cos(angle / 2)]),
        eye_on_hand=eye_on_hand,
        extra_parameters={"name": "my_calibration", "freehand_robot_movement": True},
    )
    path = tmp_path / "hand_eye.yaml"
    save_hand_eye(cal, path)
    loaded = load_hand_eye(path)
    assert loaded == cal
    assert loaded.translation_m.tolist() == cal.translation_m.tolist()
    saved = example(path)
    assert saved["parameters"]["eye_on_hand"] is eye_on_hand
    assert saved["parameters"]["robot_effector_frame" if eye_on_hand else "robot_base_frame"] == cal.parent_frame
    assert set(saved["transformation"]) == {"x", "y", "z", "qx", "qy", "qz", "qw"}


def test_hand_eye_quaternion_within_tolerance_is_normalized(tmp_path: Path) -> None:
    data = example(HAND_EYE_FILE)
    data["transformation"].update(qx=0.0, qy=0.0, qz=0.0, qw=1.0005)
    cal = load_hand_eye(write(tmp_path, "hand_eye.yaml", data))
    assert cal.quaternion_xyzw.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_hand_eye_reads_the_easy_handeye2_calib_format(tmp_path: Path) -> None:
    text = """
parameters:
  name: demo_eob
  calibration_type: eye_on_base
  robot_base_frame: base_link
  robot_effector_frame: panda_link8
  tracking_base_frame: camera_color_optical_frame
  tracking_marker_frame: marker
  freehand_robot_movement: true
  move_group_namespace: /
  move_group: manipulator
transform:
  translation: {x: 1.0, y: 0.0, z: 0.5}
  rotation: {x: 0.0, y: 0.0, z: 0.0, w: 1.0}
"""
    cal = load_hand_eye(write(tmp_path, "demo.calib", text))
    assert (cal.parent_frame, cal.child_frame, cal.eye_on_hand) == ("base_link", "camera_color_optical_frame", False)
    assert cal.translation_m.tolist() == [1.0, 0.0, 0.5]
    assert cal.quaternion_xyzw.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert cal.extra_parameters["move_group"] == "manipulator"
    assert "calibration_type" not in cal.extra_parameters


HAND_EYE_ERRORS = [
    (delete_key("parameters"), "parameters", "missing key"),
    (delete_key("parameters.eye_on_hand"), "parameters.eye_on_hand", "missing key"),
    (set_key("parameters.eye_on_hand", 1), "parameters.eye_on_hand", "expected true or false, got int 1"),
    (delete_key("parameters.robot_base_frame"), "parameters.robot_base_frame", "missing key"),
    (set_key("parameters.calibration_type", "eye_in_hand"), "parameters.calibration_type", "contradicts eye_on_hand"),
    (set_key("parameters.calibration_type", "eye_on_hand"), "parameters.calibration_type", "contradicts eye_on_hand"),
    (set_key("parameters.tracking_base_frame", ""), "parameters.tracking_base_frame", "must not be empty"),
    (set_key("parameters.robot_base_frame", "/base_link"), "parameters.robot_base_frame", "must not start with '/'"),
    (set_key("parameters.tracking_marker_frame", [1, 2]), "parameters.tracking_marker_frame", "expected a scalar"),
    (delete_key("transformation"), "transformation", "missing key"),
    (delete_key("transformation.qw"), "transformation.qw", "missing key"),
    (set_key("transformation.x", "one"), "transformation.x", "expected a number, got str 'one'"),
    (set_key("transformation.z", float("inf")), "transformation.z", "finite"),
    (set_key("transformation.qw", 0.5), "transformation", "quaternion must be unit within 0.001"),
]


@pytest.mark.parametrize(("mutate", "key", "problem"), HAND_EYE_ERRORS)
def test_hand_eye_errors_name_file_and_key(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str, problem: str
) -> None:
    data = copy.deepcopy(example(HAND_EYE_FILE))
    mutate(data)
    path = write(tmp_path, "hand_eye.yaml", data)
    with pytest.raises(CalibrationError) as error:
        load_hand_eye(path)
    check_error(error, f"{path}: {key}: ", problem)


def test_hand_eye_eye_in_hand_needs_the_effector_frame(tmp_path: Path) -> None:
    data = example(HAND_EYE_FILE)
    data["parameters"]["eye_on_hand"] = True
    del data["parameters"]["robot_effector_frame"]
    path = write(tmp_path, "hand_eye.yaml", data)
    with pytest.raises(CalibrationError) as error:
        load_hand_eye(path)
    check_error(error, f"{path}: parameters.robot_effector_frame: missing key")


def test_hand_eye_quaternion_just_outside_tolerance_is_rejected(tmp_path: Path) -> None:
    data = example(HAND_EYE_FILE)
    data["transformation"].update(qx=0.0, qy=0.0, qz=0.0, qw=1.002)
    path = write(tmp_path, "hand_eye.yaml", data)
    with pytest.raises(CalibrationError) as error:
        load_hand_eye(path)
    check_error(error, f"{path}: transformation: ", "got norm 1.002")


# --------------------------------------------------------------------------- workspace


def test_load_example_workspace() -> None:
    limits = load_workspace_limits(WORKSPACE_FILE)
    assert limits.frame_id == "base_link"
    assert limits.min_m.tolist() == [0.3, -0.35, -0.1]
    assert limits.max_m.tolist() == [0.9, 0.35, 0.4]
    assert limits.table_height_m == -0.112


def test_workspace_contains() -> None:
    limits = load_workspace_limits(WORKSPACE_FILE)
    assert limits.contains(np.array([0.6, 0.0, 0.1]))
    assert limits.contains(np.array([0.3, -0.35, -0.1]))  # corners are inside
    assert limits.contains(np.array([0.9, 0.35, 0.4]))
    assert not limits.contains(np.array([0.29, 0.0, 0.1]))
    assert not limits.contains(np.array([0.6, 0.36, 0.1]))
    assert not limits.contains(np.array([0.6, 0.0, -0.2]))
    with pytest.raises(CalibrationError):
        limits.contains(np.zeros(2))


def test_workspace_clip() -> None:
    limits = load_workspace_limits(WORKSPACE_FILE)
    assert limits.clip(np.array([1.0, -0.5, 0.0])).tolist() == [0.9, -0.35, 0.0]
    assert limits.clip(np.array([0.5, 0.1, 0.2])).tolist() == [0.5, 0.1, 0.2]
    points = np.array([[0.0, 0.0, -1.0], [2.0, 2.0, 2.0]])
    assert limits.clip(points).tolist() == [[0.3, 0.0, -0.1], [0.9, 0.35, 0.4]]


@pytest.mark.parametrize("table_height_m", [None, -0.1 - 0.012])
def test_workspace_round_trip_is_exact(tmp_path: Path, table_height_m: float | None) -> None:
    limits = WorkspaceLimits(
        min_m=np.array([0.1 + 0.2, -1 / 3, -0.1]),
        max_m=np.array([0.9, 1 / 3, 0.4]),
        frame_id="panda_link0",
        table_height_m=table_height_m,
    )
    path = tmp_path / "workspace.yaml"
    save_workspace_limits(limits, path)
    assert load_workspace_limits(path) == limits
    assert ("table_height_m" in example(path)) is (table_height_m is not None)


WORKSPACE_ERRORS = [
    (delete_key("frame_id"), "frame_id", "missing key"),
    (set_key("frame_id", 3), "frame_id", "expected a string"),
    (delete_key("max_m"), "max_m", "missing key"),
    (set_key("min_m", [0.3, -0.35]), "min_m", "expected a list of 3 numbers, got 2"),
    (set_key("max_m", 0.9), "max_m", "expected a list of numbers"),
    (set_key("max_m", [0.9, float("nan"), 0.4]), "max_m[1]", "finite"),
    (set_key("min_m", [0.9, -0.35, -0.1]), "min_m", "must be below max_m on every axis, got x: 0.9 >= 0.9"),
    (set_key("min_m", [0.3, -0.35, 0.5]), "min_m", "z: 0.5 >= 0.4"),
    (set_key("table_height_m", "low"), "table_height_m", "expected a number"),
]


@pytest.mark.parametrize(("mutate", "key", "problem"), WORKSPACE_ERRORS)
def test_workspace_errors_name_file_and_key(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], key: str, problem: str
) -> None:
    data = copy.deepcopy(example(WORKSPACE_FILE))
    mutate(data)
    path = write(tmp_path, "workspace.yaml", data)
    with pytest.raises(CalibrationError) as error:
        load_workspace_limits(path)
    check_error(error, f"{path}: {key}: ", problem)


def test_workspace_table_height_is_optional(tmp_path: Path) -> None:
    data = example(WORKSPACE_FILE)
    del data["table_height_m"]
    assert load_workspace_limits(write(tmp_path, "workspace.yaml", data)).table_height_m is None


# --------------------------------------------------------------------------- scene fixtures


def test_scene_fixtures_round_trip_exactly(tmp_path: Path) -> None:
    fixtures = SceneFixtures(
        (FixtureBox("wall", np.array([0.6, 0.1, -0.062]), np.array([0.21, 0.01, 0.05])),), frame_id="base_link"
    )
    save_scene_fixtures(fixtures, tmp_path / "f.yaml")
    assert load_scene_fixtures(tmp_path / "f.yaml") == fixtures
    save_scene_fixtures(SceneFixtures(()), tmp_path / "none.yaml")
    assert load_scene_fixtures(tmp_path / "none.yaml").boxes == ()


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("frame_id: base_link\n", ("boxes: missing key",)),
        ("frame_id: base_link\nboxes: 3\n", ("boxes: expected a list of boxes",)),
        ("frame_id: base_link\nboxes: [3]\n", ("boxes[0]: expected a mapping",)),
        (
            "frame_id: base_link\nboxes:\n- {name: w, center_m: [0, 0], half_extents_m: [1, 1, 1]}\n",
            ("boxes[0].center_m: expected a list of 3 numbers, got 2",),
        ),
        (
            "frame_id: base_link\nboxes:\n- {name: w, center_m: [0, 0, 0], half_extents_m: [0.1, 0, 0.1]}\n",
            ("boxes[0].half_extents_m: must be > 0 on every axis",),
        ),
        (
            "frame_id: base_link\nboxes:\n- {name: w, center_m: [0, .nan, 0], half_extents_m: [1, 1, 1]}\n",
            ("boxes[0].center_m[1]: expected a finite number",),
        ),
        ("frame_id: /base_link\nboxes: []\n", ("frame_id: tf2 frame ids must not start with '/'",)),
    ],
)
def test_bad_scene_fixtures_are_one_line(tmp_path: Path, text: str, fragments: tuple[str, ...]) -> None:
    path = write(tmp_path, "fixtures.yaml", text)
    with pytest.raises(CalibrationError) as error:
        load_scene_fixtures(path)
    check_error(error, str(path), *fragments)
