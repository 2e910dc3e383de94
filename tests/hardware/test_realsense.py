"""The RealSense camera and the ``camera`` node, driven by a pyrealsense2 software device.

Synthetic colour and depth frames (a plane at 0.8 m and a box whose top is at 0.7 m)
are injected into an ``rs.software_device`` and go through librealsense's syncer and
its real ``rs.align`` block. The no-device and wrong-serial errors run against the
real ``rs.context()``, with nothing attached (they are skipped when a camera is).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyrealsense2 as rs
import pytest

from robot_rl.errors import HardwareError
from robot_rl.hardware.realsense import (
    NO_DEVICE_MESSAGE,
    RealSenseCamera,
    RealSenseConfig,
    SoftwareSource,
    depth_units_to_mm,
    intrinsics_from_rs,
    rs_intrinsics,
)
from robot_rl.hardware.realsense_node import (
    ALIGNED_DEPTH_INFO_TOPIC,
    ALIGNED_DEPTH_TOPIC,
    COLOR_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_INFO_TOPIC,
    DEPTH_TOPIC,
    RealSenseNode,
    main,
)
from robot_rl.runtime import SENSOR_DATA, Node, msg
from robot_rl.runtime.diagnostics import level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import image_to_numpy

W, H = 640, 480  # the node's default image size
PLANE_Z_M, BOX_TOP_Z_M = 0.8, 0.7
BOX_XY_M = (-0.05, 0.05, -0.04, 0.06)  # x min, x max, y min, y max of the box top, colour optical frame
TOPICS = {
    COLOR_TOPIC: msg.Image,
    COLOR_INFO_TOPIC: msg.CameraInfo,
    ALIGNED_DEPTH_TOPIC: msg.Image,
    ALIGNED_DEPTH_INFO_TOPIC: msg.CameraInfo,
    DEPTH_TOPIC: msg.Image,
    DEPTH_INFO_TOPIC: msg.CameraInfo,
}

needs_no_camera = pytest.mark.skipif(
    len(rs.context().query_devices()) > 0, reason="a RealSense is connected: the no-device errors cannot be tested"
)


def render_depth_m(intrinsics: Any, rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> Any:
    """Z-depth (m) of the plane + box scene seen by a camera whose points map to the scene by ``R p + t``."""
    rotation = np.eye(3) if rotation is None else rotation
    translation = np.zeros(3) if translation is None else translation
    u, v = np.meshgrid(np.arange(intrinsics.width), np.arange(intrinsics.height))
    rays = np.stack([(u - intrinsics.ppx) / intrinsics.fx, (v - intrinsics.ppy) / intrinsics.fy, np.ones(u.shape)], -1)
    rays_scene = rays @ rotation.T
    nearest = np.full(u.shape, np.inf)
    for z_m, bounds in ((PLANE_Z_M, None), (BOX_TOP_Z_M, BOX_XY_M)):
        s = (z_m - translation[2]) / rays_scene[..., 2]  # the depth along the ray (its z is 1 in the camera)
        points = translation + s[..., None] * rays_scene
        hit = np.ones(u.shape, dtype=bool)
        if bounds is not None:
            x, y = points[..., 0], points[..., 1]
            hit = (x >= bounds[0]) & (x <= bounds[1]) & (y >= bounds[2]) & (y <= bounds[3])
        nearest = np.where(hit & (s < nearest), s, nearest)
    return nearest


def texture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


class Listener(Node):
    """Records what the camera node publishes (best-effort image subscriptions, like perception)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("listener", **kwargs)
        self.received: dict[str, list] = defaultdict(list)
        for topic, msg_type in TOPICS.items():
            self.create_subscription(msg_type, topic, self.received[topic].append, SENSOR_DATA)
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.received["/diagnostics"].append, 10)

    def diagnostics(self) -> tuple[int, str, dict[str, str]]:
        (status,) = self.received["/diagnostics"][-1].status
        return level_of(status), status.message, {item.key: item.value for item in status.values}


def advance(context: InprocContext, seconds: float) -> None:
    """Move the virtual wall clock forward and run every callback that became ready."""
    context.graph.advance_virtual_time(context.graph.system_time_ns() + round(seconds * 1e9))
    context.spin_until_quiet()


def graph(source: SoftwareSource, *args: str) -> tuple[InprocContext, RealSenseNode, Listener]:
    context = InprocContext()
    listener = Listener(context=context)
    node = RealSenseNode(context=context, frame_source=source, cli_args=["--ros-args", *args] if args else [])
    return context, node, listener


# --------------------------------------------------------------------------- the node, end to end


def test_node_publishes_injected_frames_through_the_real_alignment() -> None:
    # fx a power of two and 1/1024 m depth units make librealsense's float32 alignment exact (see the module doc)
    intrinsics = rs_intrinsics(W, H, 512.0, 512.0, 320.0, 240.0)
    scale_m = 1.0 / 1024.0
    source = SoftwareSource(intrinsics, depth_scale_m=scale_m, serial="000111222333")
    context, node, listener = graph(source)
    depth_m = render_depth_m(intrinsics)
    depth_units = np.rint(depth_m / scale_m).astype(np.uint16)
    depth_units[:4, :4] = 0  # no measurement
    color = texture()
    source.inject(texture(1), depth_units)  # frame 0: the syncer releases it unpaired (see the module doc)
    source.inject(color, depth_units)
    advance(context, 1.0 / node.poll_rate_hz)

    received = listener.received
    assert {topic: len(received[topic]) for topic in TOPICS} == {
        COLOR_TOPIC: 1,
        COLOR_INFO_TOPIC: 1,
        ALIGNED_DEPTH_TOPIC: 1,
        ALIGNED_DEPTH_INFO_TOPIC: 1,
        DEPTH_TOPIC: 0,
        DEPTH_INFO_TOPIC: 0,
    }
    image, info = received[COLOR_TOPIC][0], received[COLOR_INFO_TOPIC][0]
    depth_image, depth_info = received[ALIGNED_DEPTH_TOPIC][0], received[ALIGNED_DEPTH_INFO_TOPIC][0]
    stamp = context.graph.system_time_ns()
    for message in (image, info, depth_image, depth_info):
        assert message.header.frame_id == "camera_color_optical_frame"
        assert message.header.stamp.sec * 10**9 + message.header.stamp.nanosec == stamp  # the node clock
    assert (image.encoding, image.width, image.height) == ("rgb8", W, H)
    assert (depth_image.encoding, depth_image.width, depth_image.height) == ("16UC1", W, H)
    np.testing.assert_array_equal(image_to_numpy(image), color)
    expected_k = [512.0, 0.0, 320.0, 0.0, 512.0, 240.0, 0.0, 0.0, 1.0]
    for camera_info in (info, depth_info):
        assert (camera_info.width, camera_info.height) == (W, H)
        assert list(camera_info.k) == expected_k
        assert camera_info.distortion_model == "plumb_bob"
        assert list(camera_info.d) == [0.0] * 5
    millimetres = image_to_numpy(depth_image)
    np.testing.assert_array_equal(millimetres, np.rint(depth_units * (scale_m * 1000.0)).astype(np.uint16))
    valid = depth_units > 0
    assert np.all(millimetres[~valid] == 0)
    assert np.max(np.abs(millimetres[valid] - depth_m[valid] * 1000.0)) <= 1.0
    assert set(np.unique(millimetres)) == {0, 700, 800}
    assert node.last_frame is not None
    assert node.last_frame.frame_number == 1
    assert node.camera.stats.dropped_frames == 1  # frame 0's colour, released without depth


def test_node_reports_fps_and_dropped_frames_on_diagnostics() -> None:
    intrinsics = rs_intrinsics(W, H, 600.0, 600.0, 320.0, 240.0)
    source = SoftwareSource(intrinsics, fps=30)
    context, node, listener = graph(source, "-p", "diagnostics_period_s:=1.0")
    depth = np.full((H, W), 800, dtype=np.uint16)
    for _ in range(5):  # frame 0 (unpaired) and frames 1..4, each polled: 30 fps in device time
        source.inject(texture(), depth)
        advance(context, 1.0 / node.poll_rate_hz)
    advance(context, 1.0)
    level, message, values = listener.diagnostics()
    assert (level, message) == (0, "streaming at 30.0 fps")
    assert values["fps"] == "30.00"
    assert values["frames_published"] == "4"
    assert values["dropped_frames"] == "1"
    assert values["incomplete_framesets"] == "2"
    assert values["serial"] == "000000000000"
    assert listener.received["/diagnostics"][-1].status[0].hardware_id == "000000000000"

    source.skip(2)  # two frames lost before they reached the host
    source.inject(texture(), depth)
    source.inject(texture(), depth)  # two framesets before one poll: the older one is superseded
    advance(context, 1.0)
    _, _, values = listener.diagnostics()
    assert values["frames_published"] == "5"
    assert values["dropped_frames"] == str(1 + 2 + 1)
    assert node.last_frame is not None
    assert node.last_frame.frame_number == 8

    advance(context, 1.0)  # nothing injected
    level, message, _ = listener.diagnostics()
    assert (level, message) == (1, "no frames since the last report")


def test_node_reports_a_failing_device_as_error_and_keeps_running() -> None:
    source = SoftwareSource(rs_intrinsics(W, H, 600.0, 600.0, 320.0, 240.0))
    context, _node, listener = graph(source)
    source.close()  # the device goes away underneath the camera
    advance(context, 1.0)
    level, message, _ = listener.diagnostics()
    assert level == 2
    assert message == "SoftwareSource.wait: the software device is closed, not streaming"


def test_node_publishes_unaligned_depth_in_the_depth_frame() -> None:
    color_intrinsics = rs_intrinsics(W, H, 615.0, 615.0, 321.0, 238.0)
    depth_intrinsics = rs_intrinsics(424, 240, 212.0, 212.0, 212.0, 120.0)
    source = SoftwareSource(color_intrinsics, depth_intrinsics, depth_to_color_translation_m=(-0.015, 0.0, 0.0))
    context, _node, listener = graph(source, "-p", "align_depth:=false")
    depth = np.full((240, 424), 800, dtype=np.uint16)
    source.inject(texture(), depth)
    source.inject(texture(), depth)
    advance(context, 0.1)
    received = listener.received
    assert [len(received[topic]) for topic in (ALIGNED_DEPTH_TOPIC, DEPTH_TOPIC, DEPTH_INFO_TOPIC)] == [0, 1, 1]
    depth_image, depth_info = received[DEPTH_TOPIC][0], received[DEPTH_INFO_TOPIC][0]
    assert depth_image.header.frame_id == depth_info.header.frame_id == "camera_depth_optical_frame"
    assert (depth_image.width, depth_image.height) == (424, 240)
    assert list(depth_info.k) == [212.0, 0.0, 212.0, 0.0, 212.0, 120.0, 0.0, 0.0, 1.0]
    np.testing.assert_array_equal(image_to_numpy(depth_image), depth)
    assert list(received[COLOR_INFO_TOPIC][0].k) == [615.0, 0.0, 321.0, 0.0, 615.0, 238.0, 0.0, 0.0, 1.0]


def test_destroy_node_releases_the_device() -> None:
    source = SoftwareSource(rs_intrinsics(W, H, 600.0, 600.0, 320.0, 240.0))
    context, node, listener = graph(source)
    node.destroy_node()
    assert not node.camera.is_started
    with pytest.raises(HardwareError, match="closed"):
        source.inject(texture(), np.zeros((H, W), dtype=np.uint16))
    advance(context, 2.0)
    assert not any(listener.received.values())  # its timers and publishers are gone
    node.camera.close()  # idempotent


# --------------------------------------------------------------------------- alignment with extrinsics


def _near_box_edge(expected_mm: np.ndarray, radius_px: int) -> np.ndarray:
    box = expected_mm == round(BOX_TOP_Z_M * 1000)
    near = np.zeros_like(box)
    for dy in range(-radius_px, radius_px + 1):
        for dx in range(-radius_px, radius_px + 1):
            near |= np.roll(np.roll(box, dy, axis=0), dx, axis=1) != box
    return near


def test_alignment_uses_the_registered_depth_to_color_extrinsics() -> None:
    # a D435-like pair: wide-angle depth, narrower colour, 15 mm apart, rolled 5 degrees about the optical axis
    color_intrinsics = rs_intrinsics(W, H, 615.0, 615.0, 321.0, 238.0)
    depth_intrinsics = rs_intrinsics(W, H, 385.0, 385.0, 320.0, 240.0)
    angle = np.radians(5.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    translation = np.array([-0.015, 0.0, 0.0])
    source = SoftwareSource(
        color_intrinsics, depth_intrinsics, depth_to_color_rotation=rotation, depth_to_color_translation_m=translation
    )
    depth_units = np.rint(render_depth_m(depth_intrinsics, rotation, translation) / 0.001).astype(np.uint16)
    expected_mm = np.rint(render_depth_m(color_intrinsics) * 1000.0).astype(np.uint16)
    with RealSenseCamera(RealSenseConfig(), source) as camera:
        source.inject(texture(), depth_units)
        source.inject(texture(), depth_units)
        frame = camera.poll(0.1)
    assert frame is not None
    assert frame.aligned
    aligned_mm = frame.depth_mm()
    valid = aligned_mm > 0
    assert np.count_nonzero(~valid) < 0.01 * aligned_mm.size  # a few holes, as librealsense leaves them
    wrong = valid & (aligned_mm != expected_mm)
    # every disagreement is on the box outline (mixed pixels); a transposed rotation or a flipped
    # translation misplaces the box by 5-20 px and fails this
    assert np.count_nonzero(wrong & ~_near_box_edge(expected_mm, 2)) == 0
    assert np.count_nonzero(aligned_mm == 700) > 0.9 * np.count_nonzero(expected_mm == 700)


def test_alignment_with_shared_intrinsics_leaves_holes_but_no_wrong_values() -> None:
    # realistic intrinsics and 1 mm units: librealsense's float32 truncation drops some pixels onto a neighbour
    intrinsics = rs_intrinsics(W, H, 615.0, 615.0, 319.5, 239.5)
    source = SoftwareSource(intrinsics)
    depth_units = np.rint(render_depth_m(intrinsics) / 0.001).astype(np.uint16)
    with RealSenseCamera(RealSenseConfig(), source) as camera:
        source.inject(texture(), depth_units)
        source.inject(texture(), depth_units)
        frame = camera.poll(0.1)
    assert frame is not None
    aligned_mm = frame.depth_mm()
    holes = aligned_mm == 0
    assert 0 < np.count_nonzero(holes) < 0.05 * aligned_mm.size
    np.testing.assert_array_equal(aligned_mm[~holes], depth_units[~holes])


def test_aligned_depth_keeps_the_depth_cameras_z() -> None:
    intrinsics = rs_intrinsics(W, H, 615.0, 615.0, 321.0, 238.0)
    source = SoftwareSource(intrinsics, depth_to_color_translation_m=(0.0, 0.0, 0.05))  # colour 50 mm behind depth
    with RealSenseCamera(RealSenseConfig(), source) as camera:
        depth_units = np.full((H, W), 750, dtype=np.uint16)  # a plane 0.75 m from the depth camera, 0.80 m from colour
        source.inject(texture(), depth_units)
        source.inject(texture(), depth_units)
        frame = camera.poll(0.1)
    assert frame is not None
    assert set(np.unique(frame.depth_mm())) == {0, 750}  # 0 where the colour view sees past the depth image


# --------------------------------------------------------------------------- errors


@needs_no_camera
def test_no_device_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(HardwareError) as caught:
        RealSenseNode(context=InprocContext())
    assert str(caught.value) == NO_DEVICE_MESSAGE
    monkeypatch.setenv("ROBOT_RL_BACKEND", "inproc")
    assert main([]) == 1
    assert capsys.readouterr().err == f"error: {NO_DEVICE_MESSAGE}\n"


@needs_no_camera
def test_wrong_serial_names_the_serial() -> None:
    with pytest.raises(HardwareError) as caught:
        RealSenseCamera(RealSenseConfig(serial="123456789012")).start()
    assert str(caught.value) == (
        "RealSense with serial '123456789012' not found; connected: none (rs.context().devices is empty)"
    )
    with pytest.raises(HardwareError, match="serial '123456789012' not found"):
        RealSenseNode(context=InprocContext(), cli_args=["--ros-args", "-p", "serial:='123456789012'"])


def test_wrong_serial_lists_the_connected_devices() -> None:
    source = SoftwareSource(rs_intrinsics(W, H, 600.0, 600.0, 320.0, 240.0), serial="045612345678")
    with pytest.raises(HardwareError) as caught:
        RealSenseCamera(RealSenseConfig(serial="123"), source).start()
    assert str(caught.value) == "RealSense with serial '123' not found; connected: 045612345678"


def test_mode_that_the_device_does_not_stream_is_an_error() -> None:
    source = SoftwareSource(rs_intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0))
    with pytest.raises(HardwareError, match=r"320x240 @ 30 fps does not match the requested 640x480 @ 30 fps"):
        RealSenseCamera(RealSenseConfig(), source).start()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"width_px": 0}, "width_px must be a positive integer, got 0"),
        ({"height_px": 480.0}, "height_px must be a positive integer, got 480.0"),
        ({"fps": True}, "fps must be a positive integer, got True"),
        ({"serial": "12 34"}, "serial must be a string without spaces"),
        ({"align_depth": "yes"}, "align_depth must be a bool, got 'yes'"),
    ],
)
def test_invalid_config_is_a_hardware_error(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(HardwareError, match=problem):
        RealSenseConfig(**fields)


def test_invalid_node_parameters_are_hardware_errors() -> None:
    with pytest.raises(HardwareError, match="fps must be a positive integer, got 0"):
        RealSenseNode(context=InprocContext(), cli_args=["--ros-args", "-p", "fps:=0"])
    with pytest.raises(HardwareError, match="poll_rate_hz must be > 0"):
        RealSenseNode(context=InprocContext(), cli_args=["--ros-args", "-p", "poll_rate_hz:=0.0"])


# --------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("model", "coeffs", "expected_model", "expected_d"),
    [
        (rs.distortion.brown_conrady, [0.1, -0.2, 0.001, 0.002, 0.05], "plumb_bob", [0.1, -0.2, 0.001, 0.002, 0.05]),
        (rs.distortion.modified_brown_conrady, [0.1, 0.0, 0.0, 0.0, 0.0], "plumb_bob", [0.1, 0.0, 0.0, 0.0, 0.0]),
        (rs.distortion.inverse_brown_conrady, [0.0, 0.3, 0.0, 0.0, 0.0], "plumb_bob", [0.0, 0.3, 0.0, 0.0, 0.0]),
        (rs.distortion.none, [0.5, 0.5, 0.5, 0.5, 0.5], "plumb_bob", [0.0] * 5),
        (rs.distortion.kannala_brandt4, [0.1, 0.2, 0.3, 0.4, 0.0], "equidistant", [0.1, 0.2, 0.3, 0.4]),
    ],
)
def test_intrinsics_mapping(model: Any, coeffs: list[float], expected_model: str, expected_d: list[float]) -> None:
    intrinsics = intrinsics_from_rs(rs_intrinsics(W, H, 615.5, 614.25, 321.125, 238.5, model, coeffs), "cam")
    assert (intrinsics.width_px, intrinsics.height_px, intrinsics.camera_name) == (W, H, "cam")
    np.testing.assert_array_equal(intrinsics.k, [[615.5, 0.0, 321.125], [0.0, 614.25, 238.5], [0.0, 0.0, 1.0]])
    assert intrinsics.distortion_model == expected_model
    np.testing.assert_allclose(intrinsics.d, expected_d, rtol=1e-7)  # librealsense stores float32
    np.testing.assert_array_equal(intrinsics.p[:, :3], intrinsics.k)


def test_ftheta_has_no_camera_info_equivalent() -> None:
    with pytest.raises(HardwareError, match="ftheta has no sensor_msgs equivalent"):
        intrinsics_from_rs(rs_intrinsics(W, H, 300.0, 300.0, 320.0, 240.0, rs.distortion.ftheta, [0.9] * 5), "cam")


def test_depth_units_to_millimetres() -> None:
    depth = np.array([[0, 1, 1024, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(depth_units_to_mm(depth, float(np.float32(0.001))), depth)
    np.testing.assert_array_equal(depth_units_to_mm(depth, 1.0 / 1024.0), [[0, 1, 1000, 63999]])
    np.testing.assert_array_equal(depth_units_to_mm(depth, 0.0001), [[0, 0, 102, 6554]])
    np.testing.assert_array_equal(depth_units_to_mm(depth, 0.01), [[0, 10, 10240, 0]])  # > 65535 mm: none
