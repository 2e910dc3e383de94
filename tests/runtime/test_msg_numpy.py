"""Tests for robot_rl.runtime.msg_numpy: numpy conversions of Image, JointState, PointCloud2, JointTrajectory."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import MessageError
from robot_rl.runtime import msg
from robot_rl.runtime import msg_numpy as mn


def _assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same dtype, same shape, same values (NaN equal to NaN)."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def _image(encoding: str, height: int, width: int, step: int, data: bytes, is_bigendian: int = 0) -> object:
    """Build an Image message by hand (data as bytes, as rclpy would also accept)."""
    return msg.Image(height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step, data=data)


# --- images -------------------------------------------------------------------------------


def _random_image(encoding: str, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if encoding in ("rgb8", "bgr8"):
        return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if encoding == "mono8":
        return rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    if encoding == "16UC1":
        return rng.integers(0, 65536, size=(height, width), dtype=np.uint16)
    return rng.normal(0.0, 10.0, size=(height, width)).astype(np.float32)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "16UC1", "32FC1"])
@pytest.mark.parametrize(("height", "width"), [(7, 5), (5, 7), (1, 1), (480, 640), (3, 1)])
def test_image_round_trip_is_exact(encoding: str, height: int, width: int) -> None:
    array = _random_image(encoding, height, width, seed=height * 1000 + width)
    image = mn.numpy_to_image(array, encoding)
    assert image.encoding == encoding
    assert (image.height, image.width) == (height, width)
    channels = 3 if array.ndim == 3 else 1
    assert image.step == width * channels * array.dtype.itemsize
    assert len(image.data) == image.step * height
    assert not image.is_bigendian
    _assert_identical(mn.image_to_numpy(image), array)


def test_rgb8_layout_is_row_major_interleaved() -> None:
    array = np.zeros((2, 3, 3), dtype=np.uint8)
    array[0, 0] = [1, 2, 3]
    array[1, 2] = [10, 20, 30]
    image = mn.numpy_to_image(array, "rgb8")
    data = np.asarray(image.data)
    np.testing.assert_array_equal(data[:3], [1, 2, 3])
    np.testing.assert_array_equal(data[-3:], [10, 20, 30])
    assert image.step == 9


def test_16uc1_round_trip_keeps_large_values() -> None:
    array = np.array([[0, 1, 255, 256], [1000, 4095, 65534, 65535]], dtype=np.uint16)
    image = mn.numpy_to_image(array, "16UC1")
    assert image.step == 8
    # little-endian on the wire: 256 -> 00 01, 65535 -> ff ff
    data = bytes(np.asarray(image.data))
    assert data[6:8] == b"\x00\x01"
    assert data[-2:] == b"\xff\xff"
    _assert_identical(mn.image_to_numpy(image), array)


def test_32fc1_round_trip_keeps_nan_and_inf() -> None:
    array = np.array(
        [[0.0, -0.0, 1.5, np.nan], [np.inf, -np.inf, 3.4e38, 1e-45], [0.25, np.nan, -7.0, 12.0]], dtype=np.float32
    )
    result = mn.image_to_numpy(mn.numpy_to_image(array, "32FC1"))
    assert result.dtype == np.float32
    assert result.shape == (3, 4)
    np.testing.assert_array_equal(result, array)  # treats NaN as equal to NaN
    np.testing.assert_array_equal(np.isnan(result), np.isnan(array))
    np.testing.assert_array_equal(np.signbit(result), np.signbit(array))


def test_image_round_trip_of_non_contiguous_array() -> None:
    base = np.arange(7 * 10 * 3, dtype=np.uint8).reshape(7, 10, 3)
    view = base[:, ::2, :]
    assert not view.flags.c_contiguous
    _assert_identical(mn.image_to_numpy(mn.numpy_to_image(view, "bgr8")), np.ascontiguousarray(view))


def test_image_to_numpy_returns_a_copy() -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    image = mn.numpy_to_image(array, "mono8")
    result = mn.image_to_numpy(image)
    result[0, 0] = 99
    assert np.asarray(image.data)[0] == 0
    array[1, 1] = 77
    assert mn.image_to_numpy(image)[1, 1] == 5


def test_numpy_to_image_uses_given_header() -> None:
    header = msg.Header(stamp=msg.Time(sec=3, nanosec=4), frame_id="camera_optical")
    image = mn.numpy_to_image(np.zeros((2, 2), dtype=np.uint8), "mono8", header=header)
    assert image.header.frame_id == "camera_optical"
    assert image.header.stamp.sec == 3
    assert mn.numpy_to_image(np.zeros((2, 2), dtype=np.uint8), "mono8").header.frame_id == ""


def test_mono8_with_row_padding_decodes() -> None:
    height, width, step = 3, 5, 8  # 3 padding bytes per row
    pixels = np.arange(height * width, dtype=np.uint8).reshape(height, width) + 1
    raw = bytearray()
    for row in pixels:
        raw += row.tobytes() + b"\xee\xee\xee"
    result = mn.image_to_numpy(_image("mono8", height, width, step, bytes(raw)))
    _assert_identical(result, pixels)


def test_rgb8_with_row_padding_decodes() -> None:
    height, width, step = 2, 3, 12  # 9 pixel bytes + 3 padding bytes per row
    pixels = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    raw = b"".join(row.tobytes() + b"\xff\xff\xff" for row in pixels)
    _assert_identical(mn.image_to_numpy(_image("rgb8", height, width, step, raw)), pixels)


def test_16uc1_with_row_padding_decodes() -> None:
    height, width, step = 2, 3, 10  # 6 pixel bytes + 4 padding bytes per row
    pixels = np.array([[1, 300, 65535], [4096, 0, 12345]], dtype=np.uint16)
    raw = b"".join(row.astype("<u2").tobytes() + b"\xab\xcd\xef\x01" for row in pixels)
    _assert_identical(mn.image_to_numpy(_image("16UC1", height, width, step, raw)), pixels)


def test_big_endian_16uc1_decodes() -> None:
    # 0x0102 = 258, 0xff00 = 65280, 0x00ff = 255, 0x1234 = 4660
    raw = b"\x01\x02\xff\x00\x00\xff\x12\x34"
    result = mn.image_to_numpy(_image("16UC1", 2, 2, 4, raw, is_bigendian=1))
    expected = np.array([[258, 65280], [255, 4660]], dtype=np.uint16)
    _assert_identical(result, expected)
    assert result.dtype.byteorder in ("=", "<")  # returned in native order


def test_big_endian_32fc1_with_padding_decodes() -> None:
    pixels = np.array([[1.5, -2.0], [np.inf, 1e-3]], dtype=np.float32)
    raw = b"".join(row.astype(">f4").tobytes() + b"\x00\x00" for row in pixels)
    result = mn.image_to_numpy(_image("32FC1", 2, 2, 10, raw, is_bigendian=1))
    _assert_identical(result, pixels)


def test_image_to_numpy_accepts_numpy_data() -> None:
    pixels = np.array([[1, 2], [3, 4]], dtype=np.uint16)
    image = msg.Image(height=2, width=2, encoding="16UC1", step=4, data=pixels.astype("<u2").view(np.uint8).ravel())
    _assert_identical(mn.image_to_numpy(image), pixels)


@pytest.mark.parametrize("encoding", ["rgba8", "bayer_rggb8", "32FC3", "", "RGB8"])
def test_unsupported_encoding_raises(encoding: str) -> None:
    with pytest.raises(MessageError, match="unsupported image encoding"):
        mn.numpy_to_image(np.zeros((2, 2, 3), dtype=np.uint8), encoding)
    with pytest.raises(MessageError, match="unsupported image encoding"):
        mn.image_to_numpy(_image(encoding, 1, 1, 4, b"\x00\x00\x00\x00"))


@pytest.mark.parametrize(
    ("encoding", "dtype"),
    [
        ("rgb8", np.uint16),
        ("bgr8", np.float32),
        ("mono8", np.int8),
        ("mono8", np.bool_),
        ("16UC1", np.uint8),
        ("16UC1", np.int16),
        ("32FC1", np.float64),
        ("32FC1", np.uint16),
    ],
)
def test_wrong_dtype_raises(encoding: str, dtype: type) -> None:
    shape = (4, 5, 3) if encoding in ("rgb8", "bgr8") else (4, 5)
    with pytest.raises(MessageError):
        mn.numpy_to_image(np.zeros(shape, dtype=dtype), encoding)


@pytest.mark.parametrize(
    ("encoding", "shape", "dtype"),
    [
        ("rgb8", (4, 5), np.uint8),
        ("rgb8", (4, 5, 4), np.uint8),
        ("bgr8", (4, 5, 1), np.uint8),
        ("rgb8", (60,), np.uint8),
        ("mono8", (4, 5, 1), np.uint8),
        ("mono8", (4, 5, 3), np.uint8),
        ("mono8", (20,), np.uint8),
        ("16UC1", (2, 4, 5), np.uint16),
        ("32FC1", (4, 5, 1), np.float32),
    ],
)
def test_wrong_shape_raises(encoding: str, shape: tuple[int, ...], dtype: type) -> None:
    with pytest.raises(MessageError):
        mn.numpy_to_image(np.zeros(shape, dtype=dtype), encoding)


@pytest.mark.parametrize(
    ("encoding", "height", "width", "step", "size"),
    [
        ("mono8", 3, 4, 4, 11),  # one byte short
        ("mono8", 3, 4, 4, 13),  # one byte too many
        ("rgb8", 2, 2, 6, 0),  # no data at all
        ("rgb8", 2, 2, 5, 10),  # step smaller than a row of pixels
        ("16UC1", 2, 3, 3, 6),  # step counts pixels, not bytes
        ("16UC1", 2, 3, 6, 11),
        ("32FC1", 2, 2, 8, 12),
    ],
)
def test_data_size_mismatch_raises(encoding: str, height: int, width: int, step: int, size: int) -> None:
    with pytest.raises(MessageError):
        mn.image_to_numpy(_image(encoding, height, width, step, bytes(size)))


def test_negative_image_size_raises() -> None:
    with pytest.raises(MessageError, match="must not be negative"):
        mn.image_to_numpy(_image("mono8", -1, -1, -1, b"\x00"))


# --- JointState ---------------------------------------------------------------------------


def test_joint_state_round_trip() -> None:
    names = ["shoulder_pan", "shoulder_lift", "elbow", "wrist"]
    position = np.array([0.1, -1.25, 3.141592653589793, 1e-12])
    velocity = np.array([0.0, 0.5, -0.5, 2.0])
    effort = np.array([10.0, -3.5, 0.0, 1e6])
    header = msg.Header(stamp=msg.Time(sec=1, nanosec=2), frame_id="base")
    state = mn.numpy_to_joint_state(names, position, velocity, effort, header=header)
    assert state.name == names
    assert state.header.frame_id == "base"
    result_names, result_position, result_velocity, result_effort = mn.joint_state_to_numpy(state)
    assert result_names == names
    _assert_identical(result_position, position)
    _assert_identical(result_velocity, velocity)
    _assert_identical(result_effort, effort)


def test_joint_state_copies_its_inputs() -> None:
    names = ["a", "b"]
    position = np.array([1.0, 2.0])
    state = mn.numpy_to_joint_state(names, position)
    position[0] = 99.0
    names.append("c")
    assert state.name == ["a", "b"]
    assert mn.joint_state_to_numpy(state)[1][0] == 1.0


def test_joint_state_converts_to_float64() -> None:
    state = mn.numpy_to_joint_state(["a", "b"], np.array([1, 2], dtype=np.int32), [0.5, 0.25])
    _, position, velocity, _ = mn.joint_state_to_numpy(state)
    _assert_identical(position, np.array([1.0, 2.0]))
    _assert_identical(velocity, np.array([0.5, 0.25]))


def test_joint_state_with_velocity_omitted() -> None:
    names = ["j1", "j2", "j3"]
    position = np.array([0.5, -0.5, 1.0])
    effort = np.array([1.0, 2.0, 3.0])
    state = mn.numpy_to_joint_state(names, position, effort=effort)
    result_names, result_position, result_velocity, result_effort = mn.joint_state_to_numpy(state)
    assert result_names == names
    _assert_identical(result_position, position)
    _assert_identical(result_velocity, np.zeros(0, dtype=np.float64))
    _assert_identical(result_effort, effort)


def test_joint_state_from_lists_and_tuples() -> None:
    state = msg.JointState(name=("a", "b"), position=[1.0, 2.0], velocity=(3.0, 4.0), effort=[])
    names, position, velocity, effort = mn.joint_state_to_numpy(state)
    assert names == ["a", "b"]
    _assert_identical(position, np.array([1.0, 2.0]))
    _assert_identical(velocity, np.array([3.0, 4.0]))
    _assert_identical(effort, np.zeros(0))


@pytest.mark.parametrize(
    ("position", "velocity", "effort"),
    [
        (np.array([1.0, 2.0]), None, None),
        (np.array([1.0, 2.0, 3.0, 4.0]), None, None),
        (np.array([1.0, 2.0, 3.0]), np.array([1.0]), None),
        (np.array([1.0, 2.0, 3.0]), None, np.array([1.0, 2.0])),
    ],
)
def test_numpy_to_joint_state_length_mismatch_raises(
    position: np.ndarray, velocity: np.ndarray | None, effort: np.ndarray | None
) -> None:
    with pytest.raises(MessageError):
        mn.numpy_to_joint_state(["a", "b", "c"], position, velocity, effort)


@pytest.mark.parametrize("key", ["position", "velocity", "effort"])
def test_joint_state_to_numpy_length_mismatch_raises(key: str) -> None:
    state = msg.JointState(name=["a", "b"], position=np.array([1.0, 2.0]))
    setattr(state, key, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(MessageError, match=key):
        mn.joint_state_to_numpy(state)


@pytest.mark.parametrize("position", [["a", "b"], [[1.0, 2.0]]])
def test_joint_state_to_numpy_rejects_what_is_not_a_flat_list_of_numbers(position: list) -> None:
    with pytest.raises(MessageError, match="JointState position must be"):
        mn.joint_state_to_numpy(msg.JointState(name=["a", "b"], position=position))


# --- PointCloud2 --------------------------------------------------------------------------

_POINT_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("id", "<i4"),
        ("present", "u1"),
        ("feature", "<f8", (4,)),
    ]
)


def _points() -> np.ndarray:
    points = np.zeros(5, dtype=_POINT_DTYPE)
    points["x"] = [0.0, 1.5, -2.25, np.float32(1e-7), 3.4e38]
    points["y"] = [1.0, np.nan, np.inf, -np.inf, -0.0]
    points["z"] = [-1.0, 2.0, 0.125, 100.0, 7.0]
    points["id"] = [0, -1, 2_147_483_647, -2_147_483_648, 42]
    points["present"] = [0, 1, 255, 128, 1]
    points["feature"] = np.arange(20, dtype=np.float64).reshape(5, 4) * 0.1 - 1.0
    points["feature"][3] = [np.pi, -np.e, 1e300, -1e-300]
    return points


def test_pointcloud2_round_trip() -> None:
    points = _points()
    header = msg.Header(frame_id="lidar")
    cloud = mn.numpy_to_pointcloud2(points, header=header)
    assert cloud.header.frame_id == "lidar"
    result = mn.pointcloud2_to_numpy(cloud)
    assert result.dtype.names == ("x", "y", "z", "id", "present", "feature")
    assert result.dtype == _POINT_DTYPE
    assert result.shape == (5,)
    assert result["feature"].shape == (5, 4)
    for name in _POINT_DTYPE.names:
        assert result[name].dtype == points[name].dtype, name
        np.testing.assert_array_equal(result[name], points[name], err_msg=name)
    assert result.tobytes() == points.tobytes()


def test_pointcloud2_message_fields() -> None:
    points = _points()
    cloud = mn.numpy_to_pointcloud2(points)
    layout = [(field.name, field.offset, field.datatype, field.count) for field in cloud.fields]
    float32, float64 = msg.PointField.FLOAT32, msg.PointField.FLOAT64
    assert layout == [
        ("x", 0, float32, 1),
        ("y", 4, float32, 1),
        ("z", 8, float32, 1),
        ("id", 12, msg.PointField.INT32, 1),
        ("present", 16, msg.PointField.UINT8, 1),
        ("feature", 17, float64, 4),
    ]
    assert (cloud.height, cloud.width) == (1, 5)
    assert cloud.point_step == 4 * 3 + 4 + 1 + 8 * 4
    assert cloud.row_step == cloud.point_step * 5
    assert len(cloud.data) == cloud.row_step
    assert not cloud.is_bigendian
    assert cloud.is_dense is True


def test_pointcloud2_aligned_dtype_keeps_padding() -> None:
    dtype = np.dtype([("x", "<f4"), ("flag", "u1"), ("t", "<f8")], align=True)
    points = np.zeros(3, dtype=dtype)
    points["x"] = [1.0, 2.0, 3.0]
    points["flag"] = [1, 0, 1]
    points["t"] = [0.5, 1.5, 2.5]
    cloud = mn.numpy_to_pointcloud2(points)
    assert [field.offset for field in cloud.fields] == [0, 4, 8]
    assert cloud.point_step == 16
    result = mn.pointcloud2_to_numpy(cloud)
    assert result.dtype.itemsize == 16
    for name in dtype.names:
        _assert_identical(result[name], points[name])


def test_pointcloud2_big_endian_input_array() -> None:
    points = _points()
    big = points.astype(_POINT_DTYPE.newbyteorder(">"))
    cloud = mn.numpy_to_pointcloud2(big)
    assert [field.datatype for field in cloud.fields] == [7, 7, 7, 5, 2, 8]
    result = mn.pointcloud2_to_numpy(cloud)
    for name in _POINT_DTYPE.names:
        np.testing.assert_array_equal(result[name], points[name], err_msg=name)


def test_pointcloud2_hand_built_big_endian_cloud() -> None:
    fields = [
        msg.PointField(name="x", offset=0, datatype=msg.PointField.FLOAT32, count=1),
        msg.PointField(name="ring", offset=4, datatype=msg.PointField.UINT16, count=1),
    ]
    data = b"\x3f\xc0\x00\x00" + b"\x01\x02" + b"\xc0\x00\x00\x00" + b"\xff\xfe"
    cloud = msg.PointCloud2(
        height=1, width=2, fields=fields, is_bigendian=True, point_step=6, row_step=12, data=data, is_dense=True
    )
    result = mn.pointcloud2_to_numpy(cloud)
    np.testing.assert_array_equal(result["x"], np.array([1.5, -2.0], dtype=np.float32))
    np.testing.assert_array_equal(result["ring"], np.array([258, 65534], dtype=np.uint16))


def test_pointcloud2_empty_cloud() -> None:
    points = np.zeros(0, dtype=_POINT_DTYPE)
    result = mn.pointcloud2_to_numpy(mn.numpy_to_pointcloud2(points))
    assert result.dtype == _POINT_DTYPE
    assert result.shape == (0,)


@pytest.mark.parametrize(
    "points",
    [
        np.zeros((4, 3), dtype=np.float32),
        np.zeros(4, dtype=np.float64),
        np.zeros((2, 2), dtype=[("x", "<f4")]),
    ],
)
def test_numpy_to_pointcloud2_rejects_non_structured_or_non_1d(points: np.ndarray) -> None:
    with pytest.raises(MessageError):
        mn.numpy_to_pointcloud2(points)


@pytest.mark.parametrize("field_dtype", ["<i8", "<u8", "?", "<f2", "<c8"])
def test_numpy_to_pointcloud2_rejects_dtypes_point_field_cannot_express(field_dtype: str) -> None:
    points = np.zeros(2, dtype=[("x", "<f4"), ("bad", field_dtype)])
    with pytest.raises(MessageError, match="bad"):
        mn.numpy_to_pointcloud2(points)


def test_pointcloud2_to_numpy_rejects_bad_clouds() -> None:
    cloud = mn.numpy_to_pointcloud2(_points())
    cloud.data = np.asarray(cloud.data)[:-1]
    with pytest.raises(MessageError):
        mn.pointcloud2_to_numpy(cloud)
    cloud = mn.numpy_to_pointcloud2(_points())
    cloud.fields[0].datatype = 9
    with pytest.raises(MessageError, match="datatype"):
        mn.pointcloud2_to_numpy(cloud)


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda cloud: setattr(cloud.fields[1], "name", cloud.fields[0].name), "do not fit point_step"),
        (lambda cloud: setattr(cloud.fields[0], "offset", cloud.point_step), "do not fit point_step"),
        (lambda cloud: setattr(cloud, "point_step", 0), "do not fit point_step 0"),
        (lambda cloud: setattr(cloud, "point_step", 0) or cloud.fields.clear(), "point_step is 0"),  # no fields
    ],
)
def test_pointcloud2_to_numpy_rejects_fields_that_do_not_fit(mangle: object, match: str) -> None:
    cloud = mn.numpy_to_pointcloud2(_points())
    mangle(cloud)  # type: ignore[operator]
    with pytest.raises(MessageError, match=match):
        mn.pointcloud2_to_numpy(cloud)


# --- JointTrajectory ----------------------------------------------------------------------


def test_joint_trajectory_round_trip() -> None:
    names = ["j1", "j2", "j3"]
    rng = np.random.default_rng(7)
    positions = rng.uniform(-np.pi, np.pi, size=(10, 3))
    times = np.arange(10) * 0.05
    header = msg.Header(frame_id="base")
    trajectory = mn.numpy_to_joint_trajectory(names, positions, times, header=header)
    assert trajectory.joint_names == names
    assert trajectory.header.frame_id == "base"
    assert len(trajectory.points) == 10
    # Durations are whole nanoseconds: 0.05 s steps are exactly 50_000_000 ns apart.
    stamps = [(point.time_from_start.sec, point.time_from_start.nanosec) for point in trajectory.points]
    assert stamps == [divmod(index * 50_000_000, 1_000_000_000) for index in range(10)]

    result_names, result_positions, result_times = mn.joint_trajectory_to_numpy(trajectory)
    assert result_names == names
    _assert_identical(result_positions, positions)
    assert result_times.dtype == np.float64
    assert result_times.shape == (10,)
    np.testing.assert_allclose(result_times, times, rtol=0, atol=1e-12)


def test_joint_trajectory_long_times_and_rounding() -> None:
    times = np.array([0.0, 1.0, 2.5, 61.000000001, 3600.25])
    trajectory = mn.numpy_to_joint_trajectory(["a"], np.zeros((5, 1)), times)
    stamps = [(point.time_from_start.sec, point.time_from_start.nanosec) for point in trajectory.points]
    assert stamps == [(0, 0), (1, 0), (2, 500_000_000), (61, 1), (3600, 250_000_000)]
    np.testing.assert_allclose(mn.joint_trajectory_to_numpy(trajectory)[2], times, rtol=0, atol=1e-9)


def test_joint_trajectory_times_on_the_nanosecond_grid_round_trip_exactly() -> None:
    times = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.35, 0.6, 1.652763552])
    trajectory = mn.numpy_to_joint_trajectory(["a"], np.zeros((times.size, 1)), times)
    _assert_identical(mn.joint_trajectory_to_numpy(trajectory)[2], times)


def test_joint_trajectory_accepts_lists_and_copies_rows() -> None:
    positions = np.array([[1.0, 2.0], [3.0, 4.0]])
    trajectory = mn.numpy_to_joint_trajectory(["a", "b"], positions, [0.5, 1.0])
    positions[0, 0] = 99.0
    _, result, times = mn.joint_trajectory_to_numpy(trajectory)
    _assert_identical(result, np.array([[1.0, 2.0], [3.0, 4.0]]))
    _assert_identical(times, np.array([0.5, 1.0]))


def test_joint_trajectory_empty() -> None:
    names, positions, times = mn.joint_trajectory_to_numpy(
        mn.numpy_to_joint_trajectory(["a", "b"], np.zeros((0, 2)), np.zeros(0))
    )
    assert names == ["a", "b"]
    _assert_identical(positions, np.zeros((0, 2)))
    _assert_identical(times, np.zeros(0))


@pytest.mark.parametrize(
    ("positions", "times"),
    [
        (np.zeros((4, 2)), np.zeros(4)),  # 2 joints for 3 names
        (np.zeros((4, 4)), np.zeros(4)),  # 4 joints for 3 names
        (np.zeros((4, 3)), np.zeros(3)),  # one time short
        (np.zeros((4, 3)), np.zeros(5)),  # one time too many
        (np.zeros(3), np.zeros(1)),  # 1-D positions
        (np.zeros((2, 2, 3)), np.zeros(2)),  # 3-D positions
    ],
)
def test_numpy_to_joint_trajectory_shape_mismatch_raises(positions: np.ndarray, times: np.ndarray) -> None:
    with pytest.raises(MessageError):
        mn.numpy_to_joint_trajectory(["a", "b", "c"], positions, times)


def test_joint_trajectory_to_numpy_point_size_mismatch_raises() -> None:
    trajectory = mn.numpy_to_joint_trajectory(["a", "b"], np.zeros((3, 2)), np.array([0.0, 0.1, 0.2]))
    trajectory.points[1].positions = np.array([1.0, 2.0, 3.0])
    with pytest.raises(MessageError, match="point 1"):
        mn.joint_trajectory_to_numpy(trajectory)


def test_joint_trajectory_to_numpy_non_numeric_positions_raise() -> None:
    trajectory = mn.numpy_to_joint_trajectory(["a", "b"], np.zeros((1, 2)), np.zeros(1))
    trajectory.points[0].positions = ["x", "y"]
    with pytest.raises(MessageError, match="point 0 positions must be numbers"):
        mn.joint_trajectory_to_numpy(trajectory)
