"""The perception node on the in-process backend, fed by a test camera node."""

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from robot_rl.calibration import FixtureBox, HandEyeCalibration, SceneFixtures, save_hand_eye, save_scene_fixtures
from robot_rl.errors import CalibrationError, PerceptionError, RobotModelError
from robot_rl.perception.node import PerceptionNode
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.robot_model import default_urdf_path
from robot_rl.runtime import Node, msg
from robot_rl.runtime.diagnostics import level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_image, numpy_to_joint_state
from tests.perception.scene import Box, render

JOINTS = (*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2")
# an arm pose folded up and back, away from the ray-cast boxes (rad, m)
HOME = dict(zip(JOINTS, (0.0, -0.8, 0.0, -2.8, 0.0, 2.0, 0.8, 0.04, -0.04), strict=True))
URDF = default_urdf_path()
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
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.slots: list = []
        self.diagnostics: list = []
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.slots.append, 10)
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def send_joints(self, names: tuple[str, ...] = JOINTS, sec: int = 1, nanosec: int = 0) -> None:
        header = msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec))
        self.joints.publish(numpy_to_joint_state(list(names), np.array([HOME[name] for name in names]), header=header))

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


def graph(tmp_path: Path | None, pose: np.ndarray, *extra: str) -> tuple[InprocContext, Camera]:
    context = InprocContext()
    camera = Camera(context=context)
    # the ray-cast scene has no robot (and no /joint_states): the self-filter is off unless a test turns it on
    args = ["--ros-args", "-p", "num_slots:=4", "-p", "robot_description_file:=''", *extra]
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


def test_the_summary_reports_the_time_per_stage_on_diagnostics(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context = InprocContext()
    camera = Camera(context=context)
    args = ["-p", "robot_description_file:=''", "-p", f"hand_eye_file:={hand_eye_file(tmp_path, frame.t_base_camera)}"]
    node = PerceptionNode(context=context, cli_args=["--ros-args", *args])
    for sec in (1, 2):
        camera.send(frame.color, frame.depth_m, frame.k, sec=sec)
        context.spin_until_quiet()
    node.log_summary()
    context.spin_until_quiet()
    (status,) = [s for array in camera.diagnostics for s in array.status if level_of(s) == 0]
    assert status.message.startswith("2 frame(s) processed, median ")
    values = {kv.key: float(kv.value) for kv in status.values}
    stages = (
        "back_projection",
        "self_filter",
        "region",
        "plane",
        "cluster",
        "color_split",
        "labels",
        "encode",
        "track",
    )
    assert list(values) == ["frames", "frame_ms", *(f"{stage}_ms" for stage in stages)]
    assert values["frames"] == 2
    assert all(value >= 0 for value in values.values())
    node.log_summary()  # nothing processed since: no timing status
    context.spin_until_quiet()
    assert len([s for array in camera.diagnostics for s in array.status if level_of(s) == 0]) == 1


def test_no_summary_keeps_no_stage_times(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context = InprocContext()
    camera = Camera(context=context)
    args = ["-p", "robot_description_file:=''", "-p", f"hand_eye_file:={hand_eye_file(tmp_path, frame.t_base_camera)}"]
    node = PerceptionNode(context=context, cli_args=["--ros-args", *args, "-p", "report_period_s:=0.0"])
    camera.send(frame.color, frame.depth_m, frame.k)
    context.spin_until_quiet()
    assert len(camera.slots) == 1
    assert node.recent_stage_times == []  # nothing would ever report and empty them


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


def warnings_of(camera: Camera) -> list[str]:
    return [s.message for array in camera.diagnostics for s in array.status if level_of(s) == msg.DiagnosticStatus.WARN]


SELF_FILTER = ("-p", "joint_state_timeout_s:=0.1")  # the default robot_description_file: the package's Panda


def test_self_filter_uses_the_joint_states_of_the_frame(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera, "-p", f"robot_description_file:={URDF}", *SELF_FILTER)
    camera.send_joints(sec=1)
    camera.send(frame.color, frame.depth_m, frame.k, sec=1)
    context.spin_until_quiet()
    assert errors(camera) == []
    (cloud,) = camera.slots
    assert list(pointcloud2_to_slots(cloud)[:, 0]) == [1, 1, 0, 0]


def test_frame_without_joint_states_is_skipped(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera, "-p", f"robot_description_file:={URDF}", *SELF_FILTER)
    camera.send(frame.color, frame.depth_m, frame.k, sec=1)
    context.spin_until_quiet()
    assert camera.slots == []
    assert errors(camera) == ["skipped frame: no /joint_states received yet: the robot's pose is unknown"]


@pytest.mark.parametrize(
    ("joint_stamp", "names", "fragment"),
    [
        ((0, 800_000_000), JOINTS, "stale joint states: panda_finger_joint1, panda_finger_joint2, panda_joint1"),
        ((1, 50_000_000), JOINTS, "no joint state at or before the image stamp 1.000 s"),  # only a newer one
        ((1, 0), JOINTS[:-1], "/joint_states lacks the URDF joint(s) panda_finger_joint2"),
    ],
)
def test_stale_newer_or_incomplete_joint_states_skip_the_frame(
    tmp_path: Path, joint_stamp: tuple[int, int], names: tuple[str, ...], fragment: str
) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera, "-p", f"robot_description_file:={URDF}", *SELF_FILTER)
    camera.send_joints(names, *joint_stamp)
    camera.send(frame.color, frame.depth_m, frame.k, sec=1)
    context.spin_until_quiet()
    assert camera.slots == []
    (message,) = errors(camera)
    assert message.startswith("skipped frame: ")
    assert fragment in message
    camera.send_joints(sec=2)  # fresh, complete joint states: the next frame goes through
    camera.send(frame.color, frame.depth_m, frame.k, sec=2)
    context.spin_until_quiet()
    assert len(camera.slots) == 1


def test_empty_robot_description_turns_the_self_filter_off_with_a_warning(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    context, camera = graph(tmp_path, frame.t_base_camera)  # robot_description_file:=''
    camera.send(frame.color, frame.depth_m, frame.k)
    context.spin_until_quiet()
    assert len(camera.slots) == 1  # no joint states needed
    assert any("self-filter off" in message for message in warnings_of(camera))


def test_bad_robot_description_stops_the_node_at_startup(tmp_path: Path) -> None:
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot name='r'><link name='base_link'>")
    args = ["--ros-args", "-p", "load_calibration_at_start:=false", "-p", f"robot_description_file:={bad}"]
    with pytest.raises(RobotModelError, match=r"bad\.urdf: not well-formed XML"):
        PerceptionNode(context=InprocContext(), cli_args=args)


def test_fixtures_file_removes_its_boxes(tmp_path: Path) -> None:
    frame, _ = render(BOXES)
    box = BOXES[0]
    fixtures = tmp_path / "fixtures.yaml"
    save_scene_fixtures(SceneFixtures((FixtureBox("post", box.center, np.array(box.size) / 2),)), fixtures)
    context, camera = graph(tmp_path, frame.t_base_camera, "-p", f"fixtures_file:={fixtures}")
    camera.send(frame.color, frame.depth_m, frame.k)
    context.spin_until_quiet()
    slots = pointcloud2_to_slots(camera.slots[0])
    assert list(slots[:, 0]) == [1, 0, 0, 0]  # only BOXES[1] is left
    assert np.linalg.norm(slots[0, 1:4] - BOXES[1].center) < 0.01


def test_bad_fixtures_file_stops_the_node_at_startup(tmp_path: Path) -> None:
    args = ["--ros-args", "-p", "load_calibration_at_start:=false", "-p", "robot_description_file:=''"]
    with pytest.raises(CalibrationError, match=r"nope\.yaml: file not found"):
        PerceptionNode(context=InprocContext(), cli_args=[*args, "-p", f"fixtures_file:={tmp_path / 'nope.yaml'}"])
    world = tmp_path / "world.yaml"
    save_scene_fixtures(SceneFixtures((), frame_id="world"), world)
    with pytest.raises(CalibrationError, match="fixtures are in 'world', expected 'base_link'"):
        PerceptionNode(context=InprocContext(), cli_args=[*args, "-p", f"fixtures_file:={world}"])


def test_tracker_parameters_reach_the_tracker_and_are_validated() -> None:
    args = ["--ros-args", "-p", "load_calibration_at_start:=false", "-p", "robot_description_file:=''"]
    node = PerceptionNode(context=InprocContext(), cli_args=[*args, "-p", "tracker.color_gate:=0.2"])
    assert node.pipeline.tracker.config.color_gate == 0.2
    assert node.pipeline.tracker.config.stale_presence == 0.5  # the others keep TrackerConfig's defaults
    with pytest.raises(PerceptionError, match="stale_presence"):
        PerceptionNode(context=InprocContext(), cli_args=[*args, "-p", "tracker.stale_presence:=0.9"])
