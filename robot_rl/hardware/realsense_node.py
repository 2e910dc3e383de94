"""The ``camera`` node: a RealSense publishes the topics realsense-ros (and the sim node) publish.

A wall timer polls :class:`~robot_rl.hardware.realsense.RealSenseCamera` at
``poll_rate_hz`` (waiting at most ``poll_timeout_s`` for a frameset, so the executor
never blocks long) and publishes the newest frameset, all with one header stamp from
the node clock:

| topic | type | frame_id |
|---|---|---|
| ``/camera/color/image_raw`` | Image rgb8 | ``color_frame_id`` |
| ``/camera/color/camera_info`` | CameraInfo of the colour stream | ``color_frame_id`` |
| ``/camera/aligned_depth_to_color/image_raw`` | Image 16UC1, mm, 0 = no measurement (REP-118) | ``color_frame_id`` |
| ``/camera/aligned_depth_to_color/camera_info`` | CameraInfo (the colour intrinsics) | ``color_frame_id`` |
| ``/diagnostics`` | DiagnosticArray: fps, frames published, dropped frames | |

With ``align_depth:=false`` depth is published unaligned, as realsense-ros does, on
``/camera/depth/image_rect_raw`` and ``/camera/depth/camera_info`` in ``depth_frame_id``.
Publishers are reliable with depth 5 (they match reliable and best-effort subscribers).

Without a camera (or with a wrong ``serial``) construction fails with one line, and the
executable prints ``error: no RealSense device connected (...)`` and exits 1. Quote an
all-digit serial, or ``--ros-args`` reads it as an integer (as in rclpy):
``-p "serial:='123456789012'"``. The node
releases the device in ``destroy_node``. Tests hand the node a
:class:`~robot_rl.hardware.realsense.SoftwareSource` (``frame_source=``) to run it
without a camera; see :mod:`robot_rl.hardware.realsense` for what that does and does not
exercise.
"""

from __future__ import annotations

from typing import Any

from robot_rl.calibration import to_camera_info_msg
from robot_rl.errors import HardwareError
from robot_rl.hardware.realsense import FrameSource, RealSenseCamera, RealSenseConfig, RealSenseFrame
from robot_rl.runtime import Node, NodeMain, QoSProfile, diagnostics, msg
from robot_rl.runtime.msg_numpy import numpy_to_image

COLOR_TOPIC = "/camera/color/image_raw"
COLOR_INFO_TOPIC = "/camera/color/camera_info"
ALIGNED_DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
ALIGNED_DEPTH_INFO_TOPIC = "/camera/aligned_depth_to_color/camera_info"
DEPTH_TOPIC = "/camera/depth/image_rect_raw"
DEPTH_INFO_TOPIC = "/camera/depth/camera_info"


class RealSenseNode(Node):
    """Thin ROS wrapper around :class:`RealSenseCamera`."""

    def __init__(self, *, frame_source: FrameSource | None = None, **kwargs: Any) -> None:
        """Open the camera and start publishing.

        Args:
            frame_source: Where frames come from; None = the USB camera through ``rs.pipeline``.
            kwargs: Node arguments (context, cli_args, ...).

        Raises:
            HardwareError: No camera, wrong serial, bad parameters, or a mode the camera cannot stream.
        """
        super().__init__("camera", **kwargs)
        declare = self.declare_parameter
        serial = declare("serial", "", "serial number of the RealSense to open; '' = the first one found").value
        width = declare("width_px", 640, "colour and depth image width, px").value
        height = declare("height_px", 480, "colour and depth image height, px").value
        fps = declare("fps", 30, "frame rate of both streams, frames/s (a mode the camera supports)").value
        align_depth = declare("align_depth", True, "align depth to colour (False: depth in its own frame)").value
        self.poll_rate_hz = declare("poll_rate_hz", 60.0, "how often to check for a new frameset, Hz (>= fps)").value
        self.poll_timeout_s = declare("poll_timeout_s", 0.005, "longest wait for a frameset in one poll, s").value
        self.color_frame_id = declare(
            "color_frame_id", "camera_color_optical_frame", "frame_id of colour and aligned depth (optical frame)"
        ).value
        self.depth_frame_id = declare(
            "depth_frame_id", "camera_depth_optical_frame", "frame_id of unaligned depth (align_depth false)"
        ).value
        period_s = declare("diagnostics_period_s", 1.0, "period of the /diagnostics report, s").value
        config = RealSenseConfig(serial=serial, width_px=width, height_px=height, fps=fps, align_depth=align_depth)
        if not self.poll_rate_hz > 0:
            raise HardwareError(f"poll_rate_hz must be > 0, got {self.poll_rate_hz}")
        if not 0 <= self.poll_timeout_s < 1.0 / self.poll_rate_hz:
            period = 1.0 / self.poll_rate_hz
            raise HardwareError(
                f"poll_timeout_s must be in [0, 1 / poll_rate_hz = {period:.4f}), got {self.poll_timeout_s}"
            )
        if not period_s > 0:
            raise HardwareError(f"diagnostics_period_s must be > 0, got {period_s}")
        self.frames_published = 0
        self.last_frame: RealSenseFrame | None = None  # what was published last (for tests and tools)
        self.error: str | None = None  # the last librealsense failure, reported until a frame arrives again
        self._window_ms: list[float] = []  # device timestamps of the frames published since the last report
        self._previous_ms: float | None = None  # device timestamp of the last frame before this window
        # reliable publishers match both reliable and best-effort (sensor-data) subscribers
        qos = QoSProfile(depth=5)
        depth_topic, depth_info_topic = (
            (ALIGNED_DEPTH_TOPIC, ALIGNED_DEPTH_INFO_TOPIC) if config.align_depth else (DEPTH_TOPIC, DEPTH_INFO_TOPIC)
        )
        self.color_pub = self.create_publisher(msg.Image, COLOR_TOPIC, qos)
        self.color_info_pub = self.create_publisher(msg.CameraInfo, COLOR_INFO_TOPIC, qos)
        self.depth_pub = self.create_publisher(msg.Image, depth_topic, qos)
        self.depth_info_pub = self.create_publisher(msg.CameraInfo, depth_info_topic, qos)
        self.diagnostics_pub = self.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
        self.camera = RealSenseCamera(config, frame_source)
        self.camera.start()  # last step that can fail (one line, e.g. no camera), so a failure leaks no device
        info = self.camera.info
        self.serial = info.serial if info is not None else serial
        self.device_name = info.name if info is not None else "RealSense"
        alignment = "aligned to colour" if config.align_depth else "unaligned"
        self.get_logger().info(
            f"streaming {self.device_name} {self.serial}: {width}x{height} @ {fps} fps,"
            f" depth scale {self.camera.depth_scale_m:.6g} m, depth {alignment}"
        )
        self.create_timer(1.0 / self.poll_rate_hz, self.poll)
        self.create_timer(period_s, self.report)

    # -- the poll timer ----------------------------------------------------------------

    def poll(self) -> None:
        """Take the newest frameset, if any, and publish it."""
        try:
            frame = self.camera.poll(self.poll_timeout_s)
        except HardwareError as error:
            if str(error) != self.error:  # log each new failure once, not at the poll rate
                self.get_logger().error(str(error))
            self.error = str(error)
            return
        if frame is None:
            return
        self.error = None
        self.publish(frame)

    def publish(self, frame: RealSenseFrame) -> None:
        """Publish one frameset on the four camera topics with one stamp from the node clock."""
        stamp = self.get_clock().now().to_msg()
        depth_frame_id = self.color_frame_id if frame.aligned else self.depth_frame_id
        color_header = msg.Header(stamp=stamp, frame_id=self.color_frame_id)
        depth_header = msg.Header(stamp=stamp, frame_id=depth_frame_id)
        self.color_info_pub.publish(to_camera_info_msg(frame.color_intrinsics, self.color_frame_id, stamp))
        self.color_pub.publish(numpy_to_image(frame.color, "rgb8", color_header))
        self.depth_info_pub.publish(to_camera_info_msg(frame.depth_intrinsics, depth_frame_id, stamp))
        self.depth_pub.publish(numpy_to_image(frame.depth_mm(), "16UC1", depth_header))
        self.frames_published += 1
        self.last_frame = frame
        self._window_ms.append(frame.timestamp_ms)

    # -- diagnostics -------------------------------------------------------------------

    def measured_fps(self) -> float:
        """Frames per second published since the last report, from the device timestamps (0 if unknown)."""
        stamps = ([self._previous_ms] if self._previous_ms is not None else []) + self._window_ms
        if len(stamps) < 2 or stamps[-1] <= stamps[0]:
            return 0.0
        return (len(stamps) - 1) * 1000.0 / (stamps[-1] - stamps[0])

    def report(self) -> None:
        """Publish the camera's health: fps, frames published, dropped frames, the last failure."""
        fps = self.measured_fps()
        published_now = len(self._window_ms)
        if self._window_ms:
            self._previous_ms = self._window_ms[-1]
        self._window_ms = []
        stats = self.camera.stats
        if self.error is not None:
            level, message = diagnostics.ERROR, self.error
        elif published_now == 0:
            level, message = diagnostics.WARN, "no frames since the last report"
        else:
            level, message = diagnostics.OK, f"streaming at {fps:.1f} fps"
        values = {
            "fps": f"{fps:.2f}",
            "frames_published": self.frames_published,
            "dropped_frames": stats.dropped_frames,
            "incomplete_framesets": stats.incomplete_framesets,
            "depth_scale_m": self.camera.depth_scale_m,
            "device": self.device_name,
            "serial": self.serial,
        }
        stamp = self.get_clock().now().to_msg()
        name = self.get_fully_qualified_name()
        diagnostics.publish(self.diagnostics_pub, stamp, name, level, message, values, hardware_id=self.serial)

    def destroy_node(self) -> None:
        """Release the camera too."""
        self.camera.close()
        super().destroy_node()


main = NodeMain(RealSenseNode)
