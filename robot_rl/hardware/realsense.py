"""The RealSense RGB-D camera on pyrealsense2, without ROS: open it, align depth to colour, return numpy frames.

:class:`RealSenseCamera` opens a colour stream (``rgb8``) and a depth stream (``z16``),
aligns depth to colour with librealsense's own ``rs.align(rs.stream.color)``, reads the
depth scale (metres per depth unit) from the depth sensor, and returns each frameset as
a :class:`RealSenseFrame`: colour ``(H, W, 3)`` uint8 RGB, depth ``(H, W)`` uint16 in
device units (0 = no measurement) with its scale, the colour frame's timestamp and
number, and the colour stream's intrinsics as :class:`~robot_rl.calibration.CameraIntrinsics`
(realsense-ros's mapping: every Brown-Conrady variant -> ``plumb_bob`` with librealsense's
5 coefficients, ``none`` -> ``plumb_bob`` zeros, ``kannala_brandt4`` -> ``equidistant``
with 4 coefficients; ``ftheta`` has no CameraInfo equivalent and is an error).

Where frames come from is a seam, :class:`FrameSource`:

- :class:`PipelineSource` (the default) is a USB camera through ``rs.pipeline`` /
  ``rs.config`` (``enable_device(serial)``, ``enable_stream`` for both streams). No
  device, or no device with the requested serial, is a :class:`HardwareError` with one
  line: ``no RealSense device connected (rs.context().devices is empty)`` or
  ``RealSense with serial '123' not found; connected: 0456..., ...``.
- :class:`SoftwareSource` is a pyrealsense2 ``rs.software_device`` with a colour and a
  depth ``software_sensor`` (known ``rs.intrinsics``, the ``depth_units`` option,
  depth-to-colour extrinsics registered between the two streams, the default matcher)
  feeding an ``rs.syncer``. Frames injected with :meth:`SoftwareSource.inject` go through
  librealsense's software sensor, syncer and the same ``rs.align`` block as a camera's,
  so tests drive :class:`RealSenseCamera` (and the ``camera`` node) without a camera.
  It is pipeline-less on purpose: in pyrealsense2 2.59.1 ``software_device.add_to(context)``
  does not make the device visible to ``query_devices`` or ``rs.pipeline`` (the pipeline
  answers "No device connected"), so the syncer stands in for the pipeline's own.

What pyrealsense2 2.59.1 does with a software device, measured here (the tests pin all but the first):

- The software sensor writes ``ACTUAL_FPS`` metadata as ``frame_number / timestamp``
  and the syncer matches frames with it, so timestamps must be
  ``frame_number * 1000 / fps`` ms from frame 0; with any other origin (e.g. 1000 ms)
  the syncer releases colour and depth separately from the third frame on.
  :meth:`SoftwareSource.inject` stamps frames that way.
- The syncer releases the first frame of each stream alone (it has not seen the other
  stream yet), so frame 0 never forms a complete frameset; the camera counts its colour
  frame as dropped. A camera's first frames behave the same.
- ``rs.align`` is not an exact identity even when both streams share intrinsics and
  the extrinsics are the identity: it projects each depth pixel's corner in float32 and
  truncates, so with ``depth_units = 0.001`` a few % of the aligned pixels fall on
  the neighbouring column or row and leave 1-pixel lines of zeros (no measurement).
  With a power-of-two focal length and ``depth_units = 1/1024`` the float arithmetic is
  exact and alignment is the identity, bit for bit.
- ``rs.align`` moves each depth value to the colour pixel its point projects to but keeps
  the value: the aligned image holds the *depth camera's* z, not z in the colour frame
  (with the colour camera 50 mm behind the depth camera, a plane 0.75 m from the depth
  camera reads 750 mm, not 800). On a D4xx the difference is the sub-millimetre z
  component of the depth-to-colour extrinsics.

What was and was not exercised here: there is no physical camera on this machine.
The software device exercises librealsense's frame path (software sensors, syncer and
matcher, depth units, the real ``rs.align`` processing block with registered
extrinsics, frame metadata) and this module's conversion, intrinsics mapping and
bookkeeping; the ``no device`` and ``wrong serial`` errors are exercised for real
against ``rs.context()`` with nothing attached. Not exercised: USB enumeration and
streaming, the firmware, ``rs.pipeline`` start/stop with a device, resolving real
sensor modes (``can_resolve``), hardware timestamps and frame drops on a real link.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyrealsense2 as rs

from robot_rl.calibration import CameraIntrinsics
from robot_rl.errors import CalibrationError, HardwareError

NO_DEVICE_MESSAGE = "no RealSense device connected (rs.context().devices is empty)"

# librealsense distortion models that sensor_msgs calls plumb_bob (as realsense-ros maps them). Inverse
# Brown-Conrady is the undistortion direction of the same 5-coefficient polynomial; realsense-ros also
# publishes it as plumb_bob.
_PLUMB_BOB_MODELS = (
    rs.distortion.brown_conrady,
    rs.distortion.modified_brown_conrady,
    rs.distortion.inverse_brown_conrady,
)


def _one_line(error: BaseException) -> str:
    """Return an exception's message on one line (librealsense's messages may span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def _positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise HardwareError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class RealSenseConfig:
    """What to open: which camera, and the mode of its colour and depth streams."""

    serial: str = ""  # serial number of the camera to open; '' = the first device found
    width_px: int = 640  # image width of the colour and the depth stream, pixels
    height_px: int = 480  # image height of the colour and the depth stream, pixels
    fps: int = 30  # frame rate of both streams, frames per second (a mode the camera supports)
    align_depth: bool = True  # align depth to the colour camera (rs.align); False keeps depth in its own frame

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.serial, str) or any(character.isspace() for character in self.serial):
            raise HardwareError(f"{owner}: serial must be a string without spaces ('' = any), got {self.serial!r}")
        for name in ("width_px", "height_px", "fps"):
            object.__setattr__(self, name, _positive_int(owner, name, getattr(self, name)))
        if not isinstance(self.align_depth, bool):
            raise HardwareError(f"{owner}: align_depth must be a bool, got {self.align_depth!r}")


# --------------------------------------------------------------------------- intrinsics


def intrinsics_from_rs(intrinsics: Any, camera_name: str) -> CameraIntrinsics:
    """Convert librealsense ``rs.intrinsics`` to :class:`CameraIntrinsics` (K, D, R = I, P = [K | 0]).

    Raises:
        HardwareError: For the ``ftheta`` model (no sensor_msgs equivalent) or unusable values.
    """
    k = np.array(
        [[intrinsics.fx, 0.0, intrinsics.ppx], [0.0, intrinsics.fy, intrinsics.ppy], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )
    coefficients = [float(value) for value in intrinsics.coeffs]
    model = intrinsics.model
    if model in _PLUMB_BOB_MODELS:
        distortion_model, d = "plumb_bob", coefficients[:5]
    elif model == rs.distortion.none:
        distortion_model, d = "plumb_bob", [0.0] * 5
    elif model == rs.distortion.kannala_brandt4:
        distortion_model, d = "equidistant", coefficients[:4]
    else:
        raise HardwareError(f"{camera_name}: RealSense distortion model {model.name} has no sensor_msgs equivalent")
    try:
        return CameraIntrinsics(
            width_px=intrinsics.width,
            height_px=intrinsics.height,
            camera_name=camera_name,
            k=k,
            distortion_model=distortion_model,
            d=np.array(d, dtype=np.float64),
            r=np.eye(3),
            p=np.hstack([k, np.zeros((3, 1))]),
        )
    except CalibrationError as error:
        raise HardwareError(f"{camera_name}: unusable RealSense intrinsics: {error}") from None


def rs_intrinsics(
    width_px: int,
    height_px: int,
    fx: float,
    fy: float,
    ppx: float,
    ppy: float,
    model: Any = rs.distortion.brown_conrady,
    coeffs: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0),
) -> Any:
    """Build an ``rs.intrinsics`` (pixels; librealsense keeps them as float32), e.g. for a :class:`SoftwareSource`."""
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = int(width_px), int(height_px)
    intrinsics.fx, intrinsics.fy, intrinsics.ppx, intrinsics.ppy = float(fx), float(fy), float(ppx), float(ppy)
    intrinsics.model = model
    intrinsics.coeffs = [float(value) for value in coeffs]
    return intrinsics


def depth_units_to_mm(depth: np.ndarray, depth_scale_m: float) -> np.ndarray:
    """Convert depth in device units to uint16 millimetres (REP-118 16UC1): 0 stays 0 (no measurement).

    Values that round beyond 65535 mm cannot be represented and become 0 (no measurement) rather than
    saturating. With the common 1 mm unit the device values are returned unchanged (a copy).
    """
    factor = float(depth_scale_m) * 1000.0
    if abs(factor - 1.0) < 1e-6:  # float32(0.001) * 1000 = 1 + 5e-8: rounding returns every uint16 unchanged
        return np.array(depth, dtype=np.uint16, copy=True)
    millimetres = np.rint(depth.astype(np.float64) * factor)
    millimetres[millimetres > np.iinfo(np.uint16).max] = 0
    return millimetres.astype(np.uint16)


# --------------------------------------------------------------------------- frame sources


def select_device(serial: str, connected: Sequence[str]) -> str:
    """Return the serial to open: ``serial`` if connected, else the first device when ``serial`` is ''.

    Raises:
        HardwareError: One line naming the problem (no device; the serial and what is connected).
    """
    if serial:
        if serial in connected:
            return serial
        listing = ", ".join(connected) if connected else "none (rs.context().devices is empty)"
        raise HardwareError(f"RealSense with serial {serial!r} not found; connected: {listing}")
    if not connected:
        raise HardwareError(NO_DEVICE_MESSAGE)
    return connected[0]


@dataclass(frozen=True)
class SourceInfo:
    """What a frame source opened."""

    serial: str  # the device's serial number
    name: str  # the device's product name, e.g. "Intel RealSense D435"
    depth_sensor: Any  # the rs.sensor that streams depth; its rs.option.depth_units is the depth scale


class FrameSource(Protocol):
    """Where a :class:`RealSenseCamera` gets its framesets (colour + depth, time-synchronized by librealsense)."""

    def open(self, config: RealSenseConfig) -> SourceInfo:
        """Select the device and start both streams; raise HardwareError with one line if impossible."""
        ...

    def wait(self, timeout_s: float) -> Any | None:
        """Return the next ``rs.composite_frame``, or None after ``timeout_s`` (0 = do not block)."""
        ...

    def close(self) -> None:
        """Stop streaming and release the device (idempotent)."""
        ...


class PipelineSource:
    """A USB-connected RealSense through ``rs.pipeline`` (the production path)."""

    def __init__(self, context: Any | None = None) -> None:
        """Use ``context`` (an ``rs.context``) to find devices; a new one when None."""
        self._context = context
        self._pipeline: Any | None = None

    def open(self, config: RealSenseConfig) -> SourceInfo:
        if self._pipeline is not None:
            raise HardwareError("PipelineSource.open: already streaming")
        context = self._context if self._context is not None else rs.context()
        try:
            devices = list(context.query_devices())
            serials = [
                device.get_info(rs.camera_info.serial_number) if device.supports(rs.camera_info.serial_number) else ""
                for device in devices
            ]
        except RuntimeError as error:
            raise HardwareError(f"could not list RealSense devices: {_one_line(error)}") from None
        serial = select_device(config.serial, serials)
        device = devices[serials.index(serial)]
        name = device.get_info(rs.camera_info.name) if device.supports(rs.camera_info.name) else "RealSense"
        mode = f"{config.width_px}x{config.height_px} @ {config.fps} fps"
        pipeline = rs.pipeline(context)
        rs_config = rs.config()
        rs_config.enable_device(serial)
        rs_config.enable_stream(rs.stream.color, config.width_px, config.height_px, rs.format.rgb8, config.fps)
        rs_config.enable_stream(rs.stream.depth, config.width_px, config.height_px, rs.format.z16, config.fps)
        try:
            if not rs_config.can_resolve(rs.pipeline_wrapper(pipeline)):
                raise HardwareError(f"{name} {serial} has no colour rgb8 + depth z16 mode at {mode}")
            profile = pipeline.start(rs_config)
        except RuntimeError as error:
            raise HardwareError(f"could not start {name} {serial} at {mode}: {_one_line(error)}") from None
        self._pipeline = pipeline
        return SourceInfo(serial=serial, name=name, depth_sensor=profile.get_device().first_depth_sensor())

    def wait(self, timeout_s: float) -> Any | None:
        if self._pipeline is None:
            raise HardwareError("PipelineSource.wait: the pipeline is not started")
        if timeout_s <= 0:
            frames = self._pipeline.poll_for_frames()
            return frames if frames else None
        ok, frames = self._pipeline.try_wait_for_frames(max(1, round(timeout_s * 1000)))
        return frames if ok else None

    def close(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            with contextlib.suppress(RuntimeError):  # already stopped, or the device is gone: nothing to release
                pipeline.stop()


def _video_stream(kind: Any, pixel_format: Any, bytes_per_pixel: int, intrinsics: Any, fps: int, uid: int) -> Any:
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = kind, 0, uid
    stream.width, stream.height = intrinsics.width, intrinsics.height
    stream.fps, stream.bpp, stream.fmt = fps, bytes_per_pixel, pixel_format
    stream.intrinsics = intrinsics
    return stream


class SoftwareSource:
    """A pyrealsense2 software device: injected frames go through librealsense's syncer and ``rs.align``.

    The colour stream must match the camera's config (size and fps); the depth stream may
    have other intrinsics and size (as on a D435, whose depth camera has a wider field of
    view). ``depth_to_color_rotation`` / ``depth_to_color_translation_m`` map a point in
    the depth camera's optical frame to the colour camera's: ``p_color = R @ p_depth + t``.
    """

    def __init__(
        self,
        color_intrinsics: Any,
        depth_intrinsics: Any | None = None,
        *,
        depth_to_color_rotation: np.ndarray | None = None,
        depth_to_color_translation_m: Sequence[float] = (0.0, 0.0, 0.0),
        depth_scale_m: float = 0.001,
        fps: int = 30,
        serial: str = "000000000000",
        name: str = "Software RealSense",
        queue_size: int = 16,
    ) -> None:
        """Build the software device (streams, depth units, extrinsics, matcher); :meth:`open` starts it."""
        owner = type(self).__name__
        self.fps = _positive_int(owner, "fps", fps)
        queue_size = _positive_int(owner, "queue_size", queue_size)
        if not (isinstance(depth_scale_m, (int, float)) and math.isfinite(depth_scale_m) and depth_scale_m > 0):
            raise HardwareError(f"{owner}: depth_scale_m must be a positive number of metres, got {depth_scale_m!r}")
        rotation = np.eye(3) if depth_to_color_rotation is None else np.asarray(depth_to_color_rotation, dtype=float)
        translation = np.asarray(depth_to_color_translation_m, dtype=float)
        if rotation.shape != (3, 3) or translation.shape != (3,) or not np.all(np.isfinite(rotation)):
            raise HardwareError(f"{owner}: depth-to-colour extrinsics need a 3x3 rotation and a 3-vector translation")
        self.serial = serial
        self.name = name
        self.color_intrinsics = color_intrinsics
        self.depth_intrinsics = depth_intrinsics if depth_intrinsics is not None else color_intrinsics
        self._device = rs.software_device()
        self._device.register_info(rs.camera_info.name, name)
        self._device.register_info(rs.camera_info.serial_number, serial)
        self._depth_sensor = self._device.add_sensor("Stereo Module")
        self._color_sensor = self._device.add_sensor("RGB Camera")
        self._depth_sensor.add_read_only_option(rs.option.depth_units, float(depth_scale_m))
        self._depth_profile = self._depth_sensor.add_video_stream(
            _video_stream(rs.stream.depth, rs.format.z16, 2, self.depth_intrinsics, self.fps, uid=0)
        ).as_video_stream_profile()
        self._color_profile = self._color_sensor.add_video_stream(
            _video_stream(rs.stream.color, rs.format.rgb8, 3, self.color_intrinsics, self.fps, uid=1)
        ).as_video_stream_profile()
        extrinsics = rs.extrinsics()
        extrinsics.rotation = [float(value) for value in rotation.flatten(order="F")]  # librealsense: column-major
        extrinsics.translation = [float(value) for value in translation]
        self._depth_profile.register_extrinsics_to(self._color_profile, extrinsics)
        self._device.create_matcher(rs.matchers.default)
        self._syncer = rs.syncer(queue_size)
        self._next_frame_number = 0
        self._state = "built"  # built -> streaming -> closed

    def open(self, config: RealSenseConfig) -> SourceInfo:
        if self._state != "built":
            raise HardwareError(f"SoftwareSource.open: the software device is {self._state}; build a new one")
        select_device(config.serial, [self.serial])
        color = self.color_intrinsics
        if (color.width, color.height, self.fps) != (config.width_px, config.height_px, config.fps):
            raise HardwareError(
                f"software device colour stream {color.width}x{color.height} @ {self.fps} fps does not match"
                f" the requested {config.width_px}x{config.height_px} @ {config.fps} fps"
            )
        self._depth_sensor.open(self._depth_profile)
        self._color_sensor.open(self._color_profile)
        self._depth_sensor.start(self._syncer)
        self._color_sensor.start(self._syncer)
        self._state = "streaming"
        return SourceInfo(serial=self.serial, name=self.name, depth_sensor=self._depth_sensor)

    def inject(self, color: np.ndarray, depth: np.ndarray) -> int:
        """Inject one colour + depth frame pair (same frame number and timestamp); return the frame number.

        Args:
            color: (H, W, 3) uint8 RGB at the colour stream's size.
            depth: (H, W) uint16 in device units (``depth_scale_m`` metres each; 0 = none) at the depth stream's size.
        """
        if self._state != "streaming":
            raise HardwareError(f"SoftwareSource.inject: the software device is {self._state}, not streaming")
        frames = (
            (self._depth_sensor, self._depth_profile, self.depth_intrinsics, depth, np.uint16, (), 2),
            (self._color_sensor, self._color_profile, self.color_intrinsics, color, np.uint8, (3,), 3),
        )
        for _, _, intrinsics, pixels, dtype, channels, _ in frames:
            expected = (intrinsics.height, intrinsics.width, *channels)
            if pixels.dtype != dtype or pixels.shape != expected:
                raise HardwareError(
                    f"SoftwareSource.inject: expected a {np.dtype(dtype)} array of shape {expected},"
                    f" got {pixels.dtype} {pixels.shape}"
                )
        number = self._next_frame_number
        self._next_frame_number += 1
        for sensor, profile, intrinsics, pixels, _, _, bytes_per_pixel in frames:
            frame = rs.software_video_frame()  # a fresh one each time: it owns a copy of the pixels
            frame.pixels = np.ascontiguousarray(pixels)
            frame.bpp = bytes_per_pixel
            frame.stride = intrinsics.width * bytes_per_pixel
            frame.timestamp = number * 1000.0 / self.fps  # the syncer needs timestamps consistent with frame 0 at 0
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = number
            frame.profile = profile
            sensor.on_video_frame(frame)
        return number

    def skip(self, count: int = 1) -> None:
        """Advance the frame counter as if ``count`` frames were lost before reaching the host."""
        self._next_frame_number += _positive_int(type(self).__name__, "count", count)

    def wait(self, timeout_s: float) -> Any | None:
        if self._state != "streaming":
            raise HardwareError(f"SoftwareSource.wait: the software device is {self._state}, not streaming")
        if timeout_s <= 0:
            frames = self._syncer.poll_for_frames()
            return frames if frames else None
        ok, frames = self._syncer.try_wait_for_frames(max(1, round(timeout_s * 1000)))
        return frames if ok else None

    def close(self) -> None:
        if self._state != "streaming":
            self._state = "closed"
            return
        self._state = "closed"
        for sensor in (self._color_sensor, self._depth_sensor):
            with contextlib.suppress(RuntimeError):  # already stopped: nothing left to release
                sensor.stop()
                sensor.close()


# --------------------------------------------------------------------------- the camera


@dataclass(frozen=True, eq=False)
class RealSenseFrame:
    """One synchronized colour + depth frameset, as numpy arrays."""

    color: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) uint16 in device units (x depth_scale_m = metres); 0 = no measurement
    depth_scale_m: float  # metres per depth unit (the depth sensor's rs.option.depth_units)
    timestamp_ms: float  # the colour frame's timestamp, milliseconds, in timestamp_domain
    timestamp_domain: str  # librealsense's timestamp domain: hardware_clock, system_time or global_time
    frame_number: int  # the colour frame's number (consecutive on the device; a gap means dropped frames)
    color_intrinsics: CameraIntrinsics  # the colour stream's intrinsics
    depth_intrinsics: CameraIntrinsics  # the depth image's intrinsics: color_intrinsics when aligned
    aligned: bool  # True: depth was aligned to colour (pixel (v, u) of both images sees the same ray)

    def depth_mm(self) -> np.ndarray:
        """Depth as uint16 millimetres (REP-118 16UC1; 0 = no measurement)."""
        return depth_units_to_mm(self.depth, self.depth_scale_m)


@dataclass
class CameraStats:
    """Counters since :meth:`RealSenseCamera.start`."""

    frames_returned: int = 0  # complete framesets returned by poll()
    dropped_frames: int = 0  # colour frames the device produced that poll() did not return (see RealSenseCamera.poll)
    incomplete_framesets: int = 0  # framesets the syncer released without colour or without depth


class RealSenseCamera:
    """A RealSense colour + depth camera: ``start()``, ``poll()`` frames, ``close()`` (or ``with camera:``)."""

    def __init__(self, config: RealSenseConfig, source: FrameSource | None = None) -> None:
        """Prepare the camera; ``source`` defaults to a USB device through ``rs.pipeline`` (:class:`PipelineSource`)."""
        if not isinstance(config, RealSenseConfig):
            raise HardwareError(f"RealSenseCamera needs a RealSenseConfig, got {type(config).__name__}")
        self.config = config
        self.source: FrameSource = source if source is not None else PipelineSource()
        self.stats = CameraStats()
        self.info: SourceInfo | None = None  # what was opened, while started
        self.depth_scale_m = 0.0  # metres per depth unit, read from the depth sensor at start
        self._align: Any | None = None
        self._intrinsics: dict[tuple[str, int], CameraIntrinsics] = {}
        self._last_color_number: int | None = None

    @property
    def is_started(self) -> bool:
        """True between start() and close()."""
        return self.info is not None

    def start(self) -> None:
        """Open the device and start streaming; read the depth scale.

        Raises:
            HardwareError: One line: no device, wrong serial, unsupported mode, or the device failed to start.
        """
        if self.info is not None:
            raise HardwareError("RealSenseCamera.start: already started")
        info = self.source.open(self.config)
        try:
            scale = float(info.depth_sensor.as_depth_sensor().get_depth_scale())
        except RuntimeError as error:
            self.source.close()
            raise HardwareError(f"RealSense {info.serial}: no depth scale: {_one_line(error)}") from None
        if not (math.isfinite(scale) and scale > 0):
            self.source.close()
            raise HardwareError(f"RealSense {info.serial}: depth scale must be positive, got {scale}")
        self.depth_scale_m = scale
        self._align = rs.align(rs.stream.color) if self.config.align_depth else None
        self.stats = CameraStats()
        self._last_color_number = None
        self.info = info

    def poll(self, timeout_s: float = 0.0) -> RealSenseFrame | None:
        """Return the newest complete frameset, waiting up to ``timeout_s`` for one; None if there is none.

        Every frameset that is ready is taken (so the result is the newest, with the least
        latency). Colour frames that are not returned count as dropped: those released
        without a depth partner, those superseded by a newer frameset in the same call, and
        gaps in the colour frame numbers (frames lost before they reached the host).

        Raises:
            HardwareError: If the camera is not started or librealsense fails (e.g. the device was unplugged).
        """
        if self.info is None:
            raise HardwareError("RealSenseCamera.poll: the camera is not started (call start() first)")
        try:
            latest = None
            frames = self.source.wait(timeout_s)
            while frames is not None:
                if self._is_complete(frames):
                    if latest is not None:
                        self.stats.dropped_frames += 1  # superseded by a newer frameset
                    latest = frames
                frames = self.source.wait(0.0)
            return None if latest is None else self._convert(latest)
        except RuntimeError as error:
            raise HardwareError(f"RealSense {self.info.serial}: {_one_line(error)}") from None

    def close(self) -> None:
        """Stop streaming and release the device (idempotent)."""
        self.info = None
        self._align = None
        self.source.close()

    def __enter__(self) -> RealSenseCamera:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------

    def _is_complete(self, frames: Any) -> bool:
        """Count frame-number gaps and incomplete framesets; return True if both streams are present."""
        color, depth = frames.get_color_frame(), frames.get_depth_frame()
        if color:
            number = int(color.get_frame_number())
            if self._last_color_number is not None and number > self._last_color_number + 1:
                self.stats.dropped_frames += number - self._last_color_number - 1
            self._last_color_number = number
        if color and depth:
            return True
        self.stats.incomplete_framesets += 1
        if color:
            self.stats.dropped_frames += 1
        return False

    def _stream_intrinsics(self, frame: Any, kind: str) -> CameraIntrinsics:
        profile = frame.profile.as_video_stream_profile()
        key = (kind, int(profile.unique_id()))
        if key not in self._intrinsics:
            serial = self.info.serial if self.info is not None else ""
            name = f"realsense_{serial}_{kind}" if serial else f"realsense_{kind}"
            self._intrinsics[key] = intrinsics_from_rs(profile.get_intrinsics(), name)
        return self._intrinsics[key]

    def _convert(self, frames: Any) -> RealSenseFrame:
        if self._align is not None:
            frames = self._align.process(frames)
        color, depth = frames.get_color_frame(), frames.get_depth_frame()
        if not (color and depth):
            raise HardwareError("rs.align returned a frameset without colour or depth")
        if color.profile.format() != rs.format.rgb8 or depth.profile.format() != rs.format.z16:
            raise HardwareError(
                f"expected colour rgb8 and depth z16, got {color.profile.format()} and {depth.profile.format()}"
            )
        color_image = np.array(np.asanyarray(color.get_data()), dtype=np.uint8, copy=True)
        depth_image = np.array(np.asanyarray(depth.get_data()), dtype=np.uint16, copy=True)
        color_intrinsics = self._stream_intrinsics(color, "color")
        aligned = self._align is not None
        depth_intrinsics = color_intrinsics if aligned else self._stream_intrinsics(depth, "depth")
        if aligned and depth_image.shape != color_image.shape[:2]:
            raise HardwareError(f"aligned depth {depth_image.shape} does not match colour {color_image.shape[:2]}")
        self.stats.frames_returned += 1
        return RealSenseFrame(
            color=color_image,
            depth=depth_image,
            depth_scale_m=self.depth_scale_m,
            timestamp_ms=float(color.get_timestamp()),
            timestamp_domain=color.get_frame_timestamp_domain().name,
            frame_number=int(color.get_frame_number()),
            color_intrinsics=color_intrinsics,
            depth_intrinsics=depth_intrinsics,
            aligned=aligned,
        )
