"""The perception node: RGB-D in, object slots out.

Subscribes (realsense-ros names): ``/camera/color/image_raw``,
``/camera/aligned_depth_to_color/image_raw`` (16UC1 mm or 32FC1 m),
``/camera/color/camera_info``, and, for ``sim_gt``, ``/camera/segmentation/image_raw``;
``/robot_rl/episode`` resets the tracker when an episode starts. The camera pose in
``base_link`` comes from the hand-eye calibration file (``hand_eye_file``), on sim
and on real alike.

Robot self-filter (``rgbd_tabletop``): the node also subscribes ``/joint_states`` and
loads the robot description (``robot_description_file``, by default the package's
``urdf/panda.urdf``; '' turns the filter off with a WARN). Each frame is filtered with
the joint positions of its own stamp (the latest at or before it); a frame without
them (none received, older than ``joint_state_timeout_s``, or lacking a URDF joint)
is skipped with an ERROR diagnostic: an old arm pose is never used. The points inside the
boxes of ``fixtures_file`` (static furniture such as bin walls, in ``base_link``) are
removed the same way; a fixtures file that does not load stops the node at start.

Publishes ``/robot_rl/slots`` (PointCloud2, one point per slot, named fields),
``/diagnostics`` (every ``report_period_s``, an OK status with the median wall time per frame and per
pipeline stage over the frames since the last one) and, if enabled, ``~/debug_image``. A frame that cannot be used
(missing calibration, mismatched sizes, all-zero or NaN depth) is skipped with an
ERROR or WARN diagnostic; nothing is guessed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from robot_rl.calibration.files import FixtureBox, load_hand_eye, load_scene_fixtures
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import CalibrationError, MessageError, PerceptionError, RobotModelError
from robot_rl.perception.geometry import check_intrinsics
from robot_rl.perception.pipeline import PerceptionConfig, PerceptionPipeline, overlay
from robot_rl.perception.segmenters import Frame, TabletopConfig
from robot_rl.perception.self_filter import JointStateHistory, SelfFilterConfig
from robot_rl.perception.slot_msgs import slots_to_pointcloud2
from robot_rl.perception.slots import SlotEncoderConfig
from robot_rl.perception.tracker import TrackerConfig
from robot_rl.robot_model import RobotModel, default_urdf_path
from robot_rl.runtime import SENSOR_DATA, Node, NodeMain, diagnostics, msg
from robot_rl.runtime.msg_numpy import image_to_numpy, joint_state_to_numpy, numpy_to_image

DEPTH_SCALES = {"16UC1": 0.001, "32FC1": 1.0}  # metres per depth unit, REP-118


class PerceptionNode(Node):
    """Thin ROS wrapper around :class:`PerceptionPipeline`."""

    def _tracker_parameters(self) -> dict[str, Any]:
        """``tracker.<field>`` parameters for every TrackerConfig field but num_slots (its own parameter)."""
        values = {}
        for field in dataclasses.fields(TrackerConfig):
            if field.name != "num_slots":
                description = f"TrackerConfig.{field.name}: see docs/perception.md, 'Slot tracker' (units there)"
                values[field.name] = self.declare_parameter(f"tracker.{field.name}", field.default, description).value
        return values

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("perception", **kwargs)
        segmenter = self.declare_parameter("segmenter", "rgbd_tabletop", "rgbd_tabletop or sim_gt").value
        self.hand_eye_file = self.declare_parameter(
            "hand_eye_file", "", "camera pose in base_link (easy_handeye2 YAML)"
        ).value
        self.base_frame = self.declare_parameter("base_frame", "base_link", "frame of the published slots").value
        num_slots = self.declare_parameter("num_slots", 6, "K, number of slots").value
        embedding_size = self.declare_parameter("embedding_size", 0, "learned-embedding size per slot").value
        roi_min = self.declare_parameter("workspace_min_m", [-1.0, -1.0, -0.5], "x, y, z lower corner, base_link, m")
        roi_max = self.declare_parameter("workspace_max_m", [1.0, 1.0, 0.5], "x, y, z upper corner, base_link, m")
        self.debug_image = self.declare_parameter("publish_debug_image", False, "publish ~/debug_image").value
        report_period_s = self.declare_parameter(
            "report_period_s", 2.0, "period of the slot summary log and the timing diagnostic, s; 0 = off"
        ).value
        calibration_at_start = self.declare_parameter(
            "load_calibration_at_start", True, "fail at startup without a valid hand-eye file (false: at first frame)"
        ).value
        description_file = self.declare_parameter(
            "robot_description_file",
            str(default_urdf_path()),
            "URDF of the robot whose points the self-filter removes (rgbd_tabletop); '' = no self-filter",
        ).value
        padding_m = self.declare_parameter(
            "self_filter_padding_m", 0.01, "grown onto the arm's collision shapes by the self-filter, m"
        ).value
        gripper_padding_m = self.declare_parameter(
            "self_filter_gripper_padding_m",
            0.003,
            "grown onto the hand's and fingers' shapes instead (small: a held object must stay), m",
        ).value
        fixtures_file = self.declare_parameter(
            "fixtures_file", "", "static scene boxes (bin walls) whose points are removed, base_link; '' = none"
        ).value
        fixture_padding_m = self.declare_parameter("fixture_padding_m", 0.01, "grown onto every fixture box, m").value
        self.joint_state_timeout_s = self.declare_parameter(
            "joint_state_timeout_s",
            0.1,
            "skip a frame whose latest joint state (at or before the image stamp) is older than this, s",
        ).value
        if not self.joint_state_timeout_s > 0:
            raise PerceptionError(f"joint_state_timeout_s must be > 0 s, got {self.joint_state_timeout_s}")
        self.robot_model: RobotModel | None = None
        if segmenter == "rgbd_tabletop" and description_file:
            self.robot_model = RobotModel(description_file)
        self.pipeline = PerceptionPipeline(
            PerceptionConfig(
                segmenter=segmenter,
                tabletop=TabletopConfig(
                    workspace_min_m=tuple(roi_min.value),
                    workspace_max_m=tuple(roi_max.value),
                    fixtures=self._fixtures(fixtures_file),
                    fixture_padding_m=fixture_padding_m,
                ),
                encoder=SlotEncoderConfig(embedding_size=embedding_size),
                tracker=TrackerConfig(num_slots=num_slots, **self._tracker_parameters()),
                self_filter=SelfFilterConfig(padding_m=padding_m, gripper_padding_m=gripper_padding_m),
            ),
            self.robot_model,
        )
        self.joint_states = JointStateHistory()
        self.needs_segmentation = segmenter == "sim_gt"
        self.t_base_camera: np.ndarray | None = None
        if calibration_at_start:  # a real camera: refuse to start rather than skip every frame
            self._calibration()
        self.k: np.ndarray | None = None
        self.latest: dict[str, Any] = {}
        self.slots_pub = self.create_publisher(msg.PointCloud2, "/robot_rl/slots", 10)
        self.report = diagnostics.Reporter(self)
        self.debug_pub = self.create_publisher(msg.Image, "~/debug_image", 2) if self.debug_image else None
        self.create_subscription(msg.Image, "/camera/color/image_raw", self._store("color"), SENSOR_DATA)
        self.create_subscription(
            msg.Image, "/camera/aligned_depth_to_color/image_raw", self._store("depth"), SENSOR_DATA
        )
        self.create_subscription(
            msg.CameraInfo,
            "/camera/color/camera_info",
            self.report.guard(self.on_camera_info, (MessageError, PerceptionError), "dropped camera_info"),
            SENSOR_DATA,
        )
        if self.needs_segmentation:
            self.create_subscription(
                msg.Image, "/camera/segmentation/image_raw", self._store("segmentation"), SENSOR_DATA
            )
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        if self.robot_model is not None:
            self.create_subscription(
                msg.JointState,
                "/joint_states",
                self.report.guard(self.on_joint_state, (MessageError, PerceptionError), "dropped joint_states"),
                SENSOR_DATA,
            )
        elif segmenter == "rgbd_tabletop":
            warning = "robot self-filter off (robot_description_file is ''): the arm may be segmented as objects"
            self.get_logger().warning(warning)
            self.report(diagnostics.WARN, warning)
        self.last_slots: np.ndarray | None = None
        self.frames = 0
        self.recent_stage_times: list[dict[str, float]] = []  # per frame since the last summary: stage -> ms
        self.keep_stage_times = report_period_s > 0  # without the summary timer nothing would ever empty the list
        if report_period_s > 0:
            self.create_timer(report_period_s, self.log_summary)

    def _store(self, key: str) -> Any:
        def callback(image: Any) -> None:
            self.latest[key] = image
            self.try_process()

        return callback

    def on_joint_state(self, state: Any) -> None:
        """Keep the joint positions (rad, m) with their stamp for the self-filter."""
        names, positions, _, _ = joint_state_to_numpy(state)
        if positions.size != len(names):
            raise MessageError(f"JointState has {len(names)} names but no positions")
        self.joint_states.add(_stamp_s(state.header), names, positions)

    def on_camera_info(self, info: Any) -> None:
        """Take the intrinsics of the (depth-aligned) colour camera; unusable ones leave the last good K."""
        k = np.asarray(info.k, dtype=np.float64)
        if k.shape != (9,):
            raise MessageError(f"camera_info K has {k.size} values, expected 9")
        self.k = check_intrinsics(k.reshape(3, 3))

    def on_episode(self, event: Any) -> None:
        """Reset the tracker when an episode starts."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode event {event.data!r}")
            return
        if payload["event"] == "start":
            self.pipeline.reset()

    def _fixtures(self, path: str) -> tuple[FixtureBox, ...]:
        """The fixture boxes of ``fixtures_file`` (none for ''), which must be in the slots' frame."""
        if not path:
            return ()
        fixtures = load_scene_fixtures(path)
        if fixtures.frame_id != self.base_frame:
            raise CalibrationError(f"{path}: fixtures are in {fixtures.frame_id!r}, expected {self.base_frame!r}")
        self.get_logger().info(f"{len(fixtures.boxes)} fixture box(es) from {path} removed from the depth")
        return fixtures.boxes

    def _calibration(self) -> np.ndarray:
        if self.t_base_camera is None:
            if not self.hand_eye_file:
                raise CalibrationError("parameter hand_eye_file is empty: the camera pose in base_link is unknown")
            calibration = load_hand_eye(self.hand_eye_file)
            if calibration.parent_frame != self.base_frame:
                raise CalibrationError(
                    f"{self.hand_eye_file}: camera pose is in {calibration.parent_frame!r},"
                    f" expected {self.base_frame!r}"
                )
            self.t_base_camera = calibration.matrix()
        return self.t_base_camera

    def try_process(self) -> None:
        """Process when colour, depth (and segmentation) of the same stamp are all in."""
        keys = ("color", "depth", "segmentation") if self.needs_segmentation else ("color", "depth")
        if any(key not in self.latest for key in keys):
            return
        stamps = {(self.latest[k].header.stamp.sec, self.latest[k].header.stamp.nanosec) for k in keys}
        if len(stamps) != 1:
            return
        images = [self.latest.pop(key) for key in keys]
        try:
            frame = self._frame(*images)
            result = self.pipeline.process(frame)
        except (PerceptionError, CalibrationError, MessageError, RobotModelError) as error:
            self.report(diagnostics.ERROR, f"skipped frame: {error}")
            return
        header = msg.Header(stamp=images[0].header.stamp, frame_id=self.base_frame)
        self.slots_pub.publish(slots_to_pointcloud2(result.slots, header))
        self.last_slots = result.slots
        self.frames += 1
        if self.keep_stage_times:
            self.recent_stage_times.append(result.stage_times_ms)
        if self.debug_pub is not None:
            debug = overlay(frame.color, result.segmentation.labels)
            self.debug_pub.publish(numpy_to_image(debug, "rgb8", images[0].header))

    def log_summary(self) -> None:
        """Log the present slots (what make run shows); report the frames' time per stage on /diagnostics."""
        if self.recent_stage_times:
            times = self.recent_stage_times
            stages = {
                f"{stage}_ms": round(float(np.median([t.get(stage, 0.0) for t in times])), 2) for stage in times[-1]
            }
            frame_ms = round(float(np.median([sum(t.values()) for t in times])), 2)
            message = f"{len(times)} frame(s) processed, median {frame_ms:.1f} ms a frame"
            self.report(diagnostics.OK, message, frames=len(times), frame_ms=frame_ms, **stages)
            self.recent_stage_times = []
        if self.last_slots is None:
            return
        present = [
            f"slot {index} at ({slot[1]:.3f}, {slot[2]:.3f}, {slot[3]:.3f}) m"
            for index, slot in enumerate(self.last_slots)
            if slot[0] == 1
        ]
        self.get_logger().info(f"{self.frames} frames; {len(present)} object(s): {'; '.join(present) or 'none'}")

    def _frame(self, color_msg: Any, depth_msg: Any, segmentation_msg: Any = None) -> Frame:
        if self.k is None:
            raise CalibrationError("no camera_info received yet on /camera/color/camera_info")
        if depth_msg.encoding not in DEPTH_SCALES:
            raise PerceptionError(f"depth encoding {depth_msg.encoding!r} is not 16UC1 (mm) or 32FC1 (m)")
        depth = image_to_numpy(depth_msg).astype(np.float32) * DEPTH_SCALES[depth_msg.encoding]
        color = image_to_numpy(color_msg)
        if color_msg.encoding == "bgr8":
            color = color[..., ::-1].copy()
        elif color_msg.encoding != "rgb8":
            raise PerceptionError(f"color encoding {color_msg.encoding!r} is not rgb8 or bgr8")
        if np.isnan(depth).all() or not np.any(depth > 0):
            raise PerceptionError("depth frame has no valid measurement (all zero or NaN)")
        instance_ids = None
        if segmentation_msg is not None:
            instance_ids = image_to_numpy(segmentation_msg).astype(np.int32)
        t_base_camera = self._calibration()
        joints = None
        if self.robot_model is not None:  # the arm's pose at this image's stamp, never an older one
            joints = self.joint_states.lookup(
                _stamp_s(color_msg.header), self.robot_model.joint_names, self.joint_state_timeout_s
            )
        return Frame(color, depth, self.k, t_base_camera, instance_ids, joints)


def _stamp_s(header: Any) -> float:
    """A std_msgs/Header stamp in seconds."""
    return float(header.stamp.sec) + 1e-9 * float(header.stamp.nanosec)


main = NodeMain(PerceptionNode)
