"""Numpy conversions for Image, JointState, PointCloud2 and JointTrajectory messages.

They accept the generated classes and rclpy's classes alike (whose array fields are
``array.array``, ``bytes`` or lists). Round trips are exact: ``to_numpy(from_numpy(x))``
returns ``x`` with the same dtype and shape.

Image encodings follow REP-118: ``rgb8`` and ``bgr8`` (H, W, 3) uint8, ``mono8`` (H, W)
uint8, ``16UC1`` (H, W) uint16 (depth in millimetres) and ``32FC1`` (H, W) float32
(depth in metres); ``32SC1`` (H, W) int32 carries instance ids (sensor_msgs image_encodings).
"""

from __future__ import annotations

import numpy as np

from robot_rl.errors import MessageError
from robot_rl.runtime import msg

IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "32SC1": (np.dtype(np.int32), 1),
}

# sensor_msgs/PointField datatype constants <-> numpy dtypes
_POINT_FIELD_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.int8),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int16),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int32),
    6: np.dtype(np.uint32),
    7: np.dtype(np.float32),
    8: np.dtype(np.float64),
}
_DTYPE_POINT_FIELDS = {dtype: code for code, dtype in _POINT_FIELD_DTYPES.items()}


def header_stamp_ns(header: object) -> int:
    """A std_msgs/Header's stamp in ns (0: unstamped)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)  # type: ignore[attr-defined]


def _as_bytes_array(data: object) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.view(np.uint8).reshape(-1)
    return np.frombuffer(bytes(data), dtype=np.uint8)  # type: ignore[call-overload]


def _float_array(values: object, what: str) -> np.ndarray:
    """``values`` as a 1-D float64 array (a copy); MessageError if it is not a flat sequence of numbers."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise MessageError(f"{what} must be numbers: {error}") from None
    if array.ndim != 1:
        raise MessageError(f"{what} must be a flat sequence of numbers, got shape {array.shape}")
    return array


def image_to_numpy(image: object) -> np.ndarray:
    """Return an Image message's pixels as an (H, W) or (H, W, C) array (a copy).

    Raises:
        MessageError: For an unsupported encoding or a data size that does not match.
    """
    encoding = image.encoding  # type: ignore[attr-defined]
    if encoding not in IMAGE_ENCODINGS:
        raise MessageError(f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    height, width, step = int(image.height), int(image.width), int(image.step)  # type: ignore[attr-defined]
    if min(height, width, step) < 0:  # uint32 on the wire; only a hand-built message gets here
        raise MessageError(f"image size must not be negative, got height {height}, width {width}, step {step}")
    row_bytes = width * channels * dtype.itemsize
    raw = _as_bytes_array(image.data)  # type: ignore[attr-defined]
    if step < row_bytes or raw.size != step * height:
        raise MessageError(
            f"image data has {raw.size} bytes, expected step {step} x height {height}"
            f" with step >= {row_bytes} for {width} px of {encoding}"
        )
    rows = raw.reshape(height, step)[:, :row_bytes]
    order = ">" if image.is_bigendian else "<"  # type: ignore[attr-defined]
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order)).astype(dtype, copy=True)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return pixels.reshape(shape)


def numpy_to_image(array: np.ndarray, encoding: str, header: object | None = None) -> object:
    """Build an Image message from an array whose dtype and shape fit ``encoding``.

    Raises:
        MessageError: If the encoding is unsupported or the array does not fit it.
    """
    if encoding not in IMAGE_ENCODINGS:
        raise MessageError(f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    expected_ndim = 2 if channels == 1 else 3
    if array.dtype != dtype or array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise MessageError(
            f"{encoding} needs a {dtype} array of shape (H, W{'' if channels == 1 else f', {channels}'}),"
            f" got {array.dtype} {array.shape}"
        )
    height, width = array.shape[:2]
    little = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<"))
    return msg.Image(
        header=header if header is not None else msg.Header(),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=little.view(np.uint8).reshape(-1).copy(),
    )


def joint_state_to_numpy(state: object) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Return (names, position, velocity, effort) as float64 arrays (empty when absent).

    Raises:
        MessageError: If an array is not numbers or holds neither zero nor one value per name.
    """
    names = list(state.name)  # type: ignore[attr-defined]
    arrays = [_float_array(getattr(state, key), f"JointState {key}") for key in ("position", "velocity", "effort")]
    for key, values in zip(("position", "velocity", "effort"), arrays, strict=True):
        if values.size not in (0, len(names)):
            raise MessageError(f"JointState has {len(names)} names but {values.size} {key} values")
    return names, arrays[0], arrays[1], arrays[2]


def numpy_to_joint_state(
    names: list[str],
    position: np.ndarray,
    velocity: np.ndarray | None = None,
    effort: np.ndarray | None = None,
    header: object | None = None,
) -> object:
    """Build a JointState (positions in rad or m, velocities in rad/s or m/s, effort in N·m or N)."""
    fields = {"position": position, "velocity": velocity, "effort": effort}
    arrays = {}
    for key, values in fields.items():
        array = np.zeros(0) if values is None else np.asarray(values, dtype=np.float64).reshape(-1)
        if array.size not in (0, len(names)):
            raise MessageError(f"{len(names)} joint names but {array.size} {key} values")
        arrays[key] = array.copy()
    return msg.JointState(header=header if header is not None else msg.Header(), name=list(names), **arrays)


def pointcloud2_to_numpy(cloud: object) -> np.ndarray:
    """Return a PointCloud2 as a 1-D numpy structured array with the cloud's named fields.

    Raises:
        MessageError: For an unknown datatype, fields that do not fit ``point_step``, or a wrong data size.
    """
    names, formats, offsets = [], [], []
    for point_field in cloud.fields:  # type: ignore[attr-defined]
        if point_field.datatype not in _POINT_FIELD_DTYPES:
            raise MessageError(f"PointField {point_field.name!r} has unknown datatype {point_field.datatype}")
        base = _POINT_FIELD_DTYPES[point_field.datatype].newbyteorder(">" if cloud.is_bigendian else "<")  # type: ignore[attr-defined]
        names.append(point_field.name)
        formats.append(base if point_field.count == 1 else (base, (point_field.count,)))
        offsets.append(point_field.offset)
    try:
        dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": cloud.point_step})  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:  # duplicate names, a field past point_step, ...
        raise MessageError(f"PointCloud2 fields {names} do not fit point_step {cloud.point_step}: {error}") from None  # type: ignore[attr-defined]
    if dtype.itemsize == 0:
        raise MessageError("PointCloud2 point_step is 0")
    count = int(cloud.width) * int(cloud.height)  # type: ignore[attr-defined]
    raw = _as_bytes_array(cloud.data)  # type: ignore[attr-defined]
    if raw.size != count * cloud.point_step:  # type: ignore[attr-defined]
        raise MessageError(f"PointCloud2 data has {raw.size} bytes, expected {count} points x {cloud.point_step}")  # type: ignore[attr-defined]
    native = dtype.newbyteorder("=") if not cloud.is_bigendian else dtype  # type: ignore[attr-defined]
    return raw.view(dtype).astype(native, copy=True)


def numpy_to_pointcloud2(points: np.ndarray, header: object | None = None) -> object:
    """Build an unorganized (height 1) PointCloud2 from a 1-D numpy structured array."""
    if points.dtype.names is None or points.ndim != 1:
        raise MessageError("points must be a 1-D numpy structured array with named fields")
    fields = []
    for name in points.dtype.names:
        field_dtype, offset = points.dtype.fields[name][:2]
        base, shape = field_dtype.subdtype if field_dtype.subdtype else (field_dtype, ())
        key = np.dtype(base).newbyteorder("=")
        if key not in _DTYPE_POINT_FIELDS:
            raise MessageError(f"field {name!r} has dtype {base}, which PointField cannot express")
        count = int(np.prod(shape)) if shape else 1
        fields.append(msg.PointField(name=name, offset=offset, datatype=_DTYPE_POINT_FIELDS[key], count=count))
    little = points.astype(points.dtype.newbyteorder("<"), copy=False)
    return msg.PointCloud2(
        header=header if header is not None else msg.Header(),
        height=1,
        width=points.size,
        fields=fields,
        is_bigendian=False,
        point_step=points.dtype.itemsize,
        row_step=points.dtype.itemsize * points.size,
        data=np.frombuffer(np.ascontiguousarray(little).tobytes(), dtype=np.uint8).copy(),
        is_dense=True,
    )


def joint_trajectory_to_numpy(trajectory: object) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return (joint_names, positions of shape (points, joints), time_from_start in s).

    Raises:
        MessageError: If a point's positions are not one number per joint name.
    """
    names = list(trajectory.joint_names)  # type: ignore[attr-defined]
    points = list(trajectory.points)  # type: ignore[attr-defined]
    positions = np.zeros((len(points), len(names)), dtype=np.float64)
    times = np.zeros(len(points), dtype=np.float64)
    for index, point in enumerate(points):
        values = _float_array(point.positions, f"trajectory point {index} positions")
        if values.size != len(names):
            raise MessageError(f"trajectory point {index} has {values.size} positions for {len(names)} joint names")
        positions[index] = values
        times[index] = (point.time_from_start.sec * 1_000_000_000 + point.time_from_start.nanosec) / 1e9
    return names, positions, times


def numpy_to_joint_trajectory(
    names: list[str],
    positions: np.ndarray,
    time_from_start_s: np.ndarray,
    header: object | None = None,
    velocities: np.ndarray | None = None,
) -> object:
    """Build a JointTrajectory; ``positions`` (and ``velocities``, if given) are (points, joints), times are seconds
    from start."""
    positions = np.asarray(positions, dtype=np.float64)
    times = np.asarray(time_from_start_s, dtype=np.float64).reshape(-1)
    if positions.ndim != 2 or positions.shape[1] != len(names) or times.size != positions.shape[0]:
        raise MessageError(
            f"positions must be (points, {len(names)}) with one time per point, got {positions.shape} and {times.size}"
        )
    rates = None if velocities is None else np.asarray(velocities, dtype=np.float64)
    if rates is not None and rates.shape != positions.shape:
        raise MessageError(f"velocities must be shaped as positions {positions.shape}, got {rates.shape}")
    points = []
    for index, (row, seconds) in enumerate(zip(positions, times, strict=True)):
        total_ns = round(float(seconds) * 1e9)
        sec, nanosec = divmod(total_ns, 1_000_000_000)
        point = msg.JointTrajectoryPoint(positions=row.copy(), time_from_start=msg.Duration(sec=sec, nanosec=nanosec))
        if rates is not None:
            point.velocities = rates[index].copy()
        points.append(point)
    return msg.JointTrajectory(
        header=header if header is not None else msg.Header(), joint_names=list(names), points=points
    )
