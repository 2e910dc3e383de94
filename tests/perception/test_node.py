"""The perception node on the in-process backend, fed by a test camera node."""

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from robot_rl.calibration import HandEyeCalibration, save_hand_eye
from robot_rl.errors import CalibrationError
from robot_rl.perception.node import PerceptionNode
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.runtime import Node, msg
from robot_rl.runtime.diagnostics import level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_image
from tests.perception.scene import Box, render

BOXES = [
    Box((0.40, 0.10), (0.05, 0.05, 0.05), (200, 30, 30)),
    Box((0.35, -0.12), (0.04, 0.06, 0.08), (30, 200, 30)),
]


class Camera(Node):
    """Publishes what a RealSense node publishes, plus what the test collects."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("camera", **kwargs)  # type: ignore[arg-type]
        self.color = self.create_publisher(msg.Image, "/camera/color/image_raw", 5)
        self.depth = self.create_publisher(msg.Image, "/camera/aligned_depth_to_color/image_raw", 5)
        self.info = self.create_publisher(msg.CameraInfo, "/camera/color/camera_info", 5)
        self.slots: list = []
        self.diagnostics: list = []
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.slots.append, 10)
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def send(self, color: np.ndarray, depth: np.ndarray, k: np.ndarray, encoding: str = "32FC1", sec: int = 1) -> None:
        header = msg.Header(stamp=msg.Time(sec=sec), frame_id="camera_color_optical_frame")
        self.info.publish(msg.CameraInfo(header=header, width=color.shape[1], height=color.shape[0], k=k.reshape(-1)))
        self.color.publish(numpy_to_image(color, "rgb8", header))
        self.depth.publish(numpy_to_image(depth, encoding, header))


def hand_eye_file(tmp_path: Path, pose: np.ndarray) -> str:
    path = tmp_path / "hand_eye.yaml"
    calibration = HandEyeCalibration(
        parent_frame="base_link",
        child_frame="camera_color_optical_frame",
        translation_m=pose[:3, 3],
        quaternion_xyzw=Rotation.from_matrix(pose[:3, :3]).as_quat(),
    )
    save_hand_eye(calibration, path)
    return str(path)


def graph(tmp_path: Path | None, pose: np.ndarray) -> tuple[InprocContext, Camera]:
    context = InprocContext()
    camera = Camera(context=context)
    args = ["--ros-args", "-p", "num_slots:=4"]
    if tmp_path is None:
        args += ["-p", "load_calibration_at_start:=false"]  # the frame-time path of a missing calibration
    else:
        args += ["-p", f"hand_eye_file:={hand_eye_file(tmp_path, pose)}"]
    PerceptionNode(context=context, cli_args=args)
    return context, camera


def test_publishes_tracked_slots_in_base_link(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera)
    camera.send(frame.color, frame.depth_m, frame.k)
    context.spin_until_quiet()
    (cloud,) = camera.slots
    assert cloud.header.frame_id == "base_link"
    assert (cloud.header.stamp.sec, cloud.header.stamp.nanosec) == (1, 0)
    slots = pointcloud2_to_slots(cloud)
    assert slots.shape == (4, 11)
    assert list(slots[:, 0]) == [1, 1, 0, 0]
    for box in BOXES:
        assert min(np.linalg.norm(slots[:2, 1:4] - box.center, axis=1)) < 0.01


def test_16uc1_depth_in_millimetres(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera)
    camera.send(frame.color, np.round(frame.depth_m * 1000).astype(np.uint16), frame.k, encoding="16UC1")
    context.spin_until_quiet()
    assert list(pointcloud2_to_slots(camera.slots[0])[:, 0]) == [1, 1, 0, 0]


def errors(camera: Camera) -> list[str]:
    return [
        s.message for array in camera.diagnostics for s in array.status if level_of(s) == msg.DiagnosticStatus.ERROR
    ]


def test_missing_calibration_skips_the_frame_with_a_diagnostic() -> None:
    frame, _ = render(BOXES)
    context, camera = graph(None, frame.t_base_camera)
    camera.send(frame.color, frame.depth_m, frame.k)
    context.spin_until_quiet()
    assert camera.slots == []
    assert errors(camera) == [
        "skipped frame: parameter hand_eye_file is empty: the camera pose in base_link is unknown"
    ]


@pytest.mark.parametrize(
    ("mangle", "fragment"),
    [
        (lambda color, depth: (color, depth[:-2]), "different sizes"),
        (lambda color, depth: (color, np.zeros_like(depth)), "no valid measurement"),
        (lambda color, depth: (color, np.full_like(depth, np.nan)), "no valid measurement"),
    ],
)
def test_bad_frames_are_skipped_with_a_diagnostic(tmp_path: Path, mangle: object, fragment: str) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera)
    color, depth = mangle(frame.color, frame.depth_m)  # type: ignore[operator]
    camera.send(color, depth, frame.k)
    context.spin_until_quiet()
    assert camera.slots == []
    (message,) = errors(camera)
    assert fragment in message
    camera.send(frame.color, frame.depth_m, frame.k, sec=2)  # the next good frame goes through
    context.spin_until_quiet()
    assert len(camera.slots) == 1


def test_missing_hand_eye_file_stops_the_node_at_startup(tmp_path: Path) -> None:
    args = ["--ros-args", "-p", f"hand_eye_file:={tmp_path / 'nope.yaml'}"]
    with pytest.raises(CalibrationError, match=r"nope\.yaml"):
        PerceptionNode(context=InprocContext(), cli_args=args)


def test_missing_hand_eye_file_skips_frames_when_loaded_lazily(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context = InprocContext()
    camera = Camera(context=context)
    args = ["--ros-args", "-p", f"hand_eye_file:={tmp_path / 'nope.yaml'}", "-p", "load_calibration_at_start:=false"]
    PerceptionNode(context=context, cli_args=args)
    camera.send(frame.color, frame.depth_m, frame.k)
    context.spin_until_quiet()
    (message,) = errors(camera)
    assert "nope.yaml" in message


def test_malformed_camera_info_is_dropped_and_the_last_good_one_kept(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera)
    camera.send(frame.color, frame.depth_m, frame.k)
    camera.info.publish(msg.CameraInfo(k=[300.0, 0.0, 160.0, 0.0]))  # 4 values: not a 3x3 K
    camera.info.publish(msg.CameraInfo())  # all-zero K: an uncalibrated camera
    header = msg.Header(stamp=msg.Time(sec=2), frame_id="camera_color_optical_frame")
    camera.color.publish(numpy_to_image(frame.color, "rgb8", header))
    camera.depth.publish(numpy_to_image(frame.depth_m, "32FC1", header))
    context.spin_until_quiet()
    assert len(camera.slots) == 2  # the second frame used the last good K
    first, second = errors(camera)
    assert first == "dropped camera_info: camera_info K has 4 values, expected 9"
    assert second.startswith("dropped camera_info: camera intrinsics must be a finite 3x3 matrix with fx, fy > 0")
