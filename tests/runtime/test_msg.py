"""Tests for robot_rl.runtime.msg: the message classes generated from the ROS2 Jazzy definitions.

The expected defaults are written by hand from the ROS2 .msg files, not taken from our output.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from robot_rl.errors import MessageError
from robot_rl.runtime import msg

pytestmark = pytest.mark.skipif(
    not issubclass(msg.Image, msg.GeneratedMessage),
    reason="these tests cover the generated classes; the rclpy backend uses ROS's own classes",
)


@pytest.fixture(scope="module")
def typestore() -> Any:
    return get_typestore(Stores.ROS2_JAZZY)


def _assert_same_fields(ours: object, theirs: object, path: str = "msg") -> None:
    """Compare a generated message with a rosbags message field by field (recursively)."""
    if isinstance(ours, msg.GeneratedMessage):
        for field in dataclasses.fields(ours):  # type: ignore[arg-type]
            _assert_same_fields(getattr(ours, field.name), getattr(theirs, field.name), f"{path}.{field.name}")
    elif isinstance(ours, np.ndarray):
        assert isinstance(theirs, np.ndarray), path
        assert theirs.dtype == ours.dtype, path
        np.testing.assert_array_equal(theirs, ours, err_msg=path)
    elif isinstance(ours, list):
        assert isinstance(theirs, list), path
        assert len(theirs) == len(ours), path
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            _assert_same_fields(mine, other, f"{path}[{index}]")
    else:
        assert theirs == ours, path
        assert type(theirs) is type(ours), path


# --- classes and type names ---------------------------------------------------------------


@pytest.mark.parametrize("type_name", msg.TOPIC_TABLE_TYPES)
def test_topic_table_types_build_default_instances(type_name: str) -> None:
    cls = msg.message_class(type_name)
    instance = cls()
    assert isinstance(instance, msg.GeneratedMessage)
    assert msg.message_type_name(cls) == type_name
    assert msg.message_type_name(type(instance)) == type_name
    assert cls.__name__ == type_name.rsplit("/", 1)[1]


@pytest.mark.parametrize("type_name", msg.TOPIC_TABLE_TYPES)
def test_short_type_name_gives_the_same_class(type_name: str) -> None:
    package, _, name = type_name.split("/")
    assert msg.message_class(f"{package}/{name}") is msg.message_class(type_name)


def test_module_level_names_are_the_table_classes() -> None:
    assert msg.Image is msg.message_class("sensor_msgs/msg/Image")
    assert msg.JointState is msg.message_class("sensor_msgs/JointState")
    assert msg.message_type_name(msg.PointCloud2) == "sensor_msgs/msg/PointCloud2"
    assert msg.message_type_name(msg.Duration) == "builtin_interfaces/msg/Duration"


def test_message_type_name_of_a_non_generated_class() -> None:
    # The rclpy classes live in modules like 'sensor_msgs.msg._image'.
    fake = type("Image", (), {"__module__": "sensor_msgs.msg._image"})
    assert msg.message_type_name(fake) == "sensor_msgs/msg/Image"


# --- ROS2 defaults (from the .msg files) --------------------------------------------------


def test_quaternion_default_is_identity() -> None:
    quaternion = msg.Quaternion()
    assert (quaternion.x, quaternion.y, quaternion.z, quaternion.w) == (0.0, 0.0, 0.0, 1.0)
    assert isinstance(quaternion.w, float)
    assert msg.Pose().orientation.w == 1.0


def test_nav_sat_status_default_is_status_unknown() -> None:
    nav_sat_status = msg.message_class("sensor_msgs/msg/NavSatStatus")
    status = nav_sat_status()
    assert status.status == -2
    assert status.status == nav_sat_status.STATUS_UNKNOWN
    assert status.service == 0


def test_camera_info_fixed_arrays_are_float64_zeros() -> None:
    info = msg.CameraInfo()
    for name, length in (("k", 9), ("r", 9), ("p", 12)):
        array = getattr(info, name)
        assert isinstance(array, np.ndarray), name
        assert array.dtype == np.float64, name
        assert array.shape == (length,), name
        np.testing.assert_array_equal(array, np.zeros(length))
    assert info.d.dtype == np.float64
    assert info.d.shape == (0,)
    assert info.distortion_model == ""
    assert info.height == 0
    assert info.roi.do_rectify is False


def test_image_defaults() -> None:
    image = msg.Image()
    assert isinstance(image.data, np.ndarray)
    assert image.data.dtype == np.uint8
    assert image.data.shape == (0,)
    assert image.encoding == ""
    assert (image.height, image.width, image.step, image.is_bigendian) == (0, 0, 0, 0)
    assert image.header.frame_id == ""
    assert (image.header.stamp.sec, image.header.stamp.nanosec) == (0, 0)


def test_joint_state_defaults() -> None:
    state = msg.JointState()
    assert state.name == []
    assert isinstance(state.name, list)
    for key in ("position", "velocity", "effort"):
        array = getattr(state, key)
        assert isinstance(array, np.ndarray), key
        assert array.dtype == np.float64, key
        assert array.shape == (0,), key
    assert state.header.frame_id == ""


def test_scalar_defaults_have_ros_types() -> None:
    assert msg.Bool().data is False
    assert msg.String().data == ""
    value = msg.Float32().data
    assert value == 0.0
    assert isinstance(value, float)
    assert msg.PointCloud2().is_dense is False
    assert msg.Joy().buttons.dtype == np.int32
    assert msg.Joy().axes.dtype == np.float32
    assert msg.DiagnosticStatus().level == 0
    assert msg.DiagnosticStatus().values == []


def test_nested_messages_are_independent_instances() -> None:
    first, second = msg.Image(), msg.Image()
    assert first.header is not second.header
    first.header.frame_id = "camera"
    first.header.stamp.sec = 12
    assert second.header.frame_id == ""
    assert second.header.stamp.sec == 0
    assert msg.Image().header.frame_id == ""


def test_array_and_list_defaults_are_independent() -> None:
    first, second = msg.CameraInfo(), msg.CameraInfo()
    first.k[0] = 500.0
    assert second.k[0] == 0.0
    assert msg.CameraInfo().k[0] == 0.0
    state = msg.JointState()
    state.name.append("joint_1")
    assert msg.JointState().name == []


def test_keyword_construction() -> None:
    header = msg.Header(stamp=msg.Time(sec=5, nanosec=7), frame_id="base_link")
    pose = msg.PoseStamped(header=header, pose=msg.Pose(position=msg.Point(x=1.0, y=2.0, z=3.0)))
    assert pose.header.stamp.sec == 5
    assert pose.header.frame_id == "base_link"
    assert (pose.pose.position.x, pose.pose.position.y, pose.pose.position.z) == (1.0, 2.0, 3.0)
    assert pose.pose.orientation.w == 1.0
    with pytest.raises(TypeError):
        msg.Header(no_such_field=1)


# --- constants ----------------------------------------------------------------------------


def test_diagnostic_status_levels() -> None:
    status = msg.DiagnosticStatus
    assert (status.OK, status.WARN, status.ERROR, status.STALE) == (0, 1, 2, 3)
    assert msg.DiagnosticStatus().OK == 0


def test_point_field_datatypes() -> None:
    field = msg.PointField
    assert (field.INT8, field.UINT8, field.INT16, field.UINT16) == (1, 2, 3, 4)
    assert (field.INT32, field.UINT32, field.FLOAT32, field.FLOAT64) == (5, 6, 7, 8)


# --- equality and hashing -----------------------------------------------------------------


def test_equality_with_numpy_fields() -> None:
    names = ["a", "b"]
    first = msg.JointState(name=names, position=np.array([1.0, 2.0]))
    second = msg.JointState(name=list(names), position=np.array([1.0, 2.0]))
    assert first == second
    assert (first != second) is False
    assert msg.CameraInfo() == msg.CameraInfo()


def test_inequality_with_numpy_fields() -> None:
    base = msg.JointState(name=["a", "b"], position=np.array([1.0, 2.0]))
    assert base != msg.JointState(name=["a", "b"], position=np.array([1.0, 2.5]))
    assert base != msg.JointState(name=["a", "b"], position=np.array([1.0, 2.0, 3.0]))
    assert base != msg.JointState(name=["a", "c"], position=np.array([1.0, 2.0]))
    assert base != msg.JointState(name=["a", "b"], position=np.array([1.0, 2.0]), velocity=np.array([0.0, 0.0]))
    info = msg.CameraInfo()
    info.k[4] = 1.0
    assert info != msg.CameraInfo()


def test_equality_compares_nested_messages_and_lists() -> None:
    def trajectory(position: float) -> object:
        point = msg.JointTrajectoryPoint(positions=np.array([position]), time_from_start=msg.Duration(sec=1))
        return msg.JointTrajectory(joint_names=["j"], points=[point])

    assert trajectory(0.5) == trajectory(0.5)
    assert trajectory(0.5) != trajectory(0.25)
    assert msg.Image(header=msg.Header(frame_id="a")) != msg.Image(header=msg.Header(frame_id="b"))


def test_equality_with_other_types() -> None:
    assert msg.Point() != msg.Vector3()
    assert msg.String() != ""
    assert msg.Bool() != object()


def test_instances_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(msg.Header())
    with pytest.raises(TypeError):
        _ = {msg.String(data="x")}


# --- type names and errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("std_msgs/String", "std_msgs/msg/String"),
        ("std_msgs/msg/String", "std_msgs/msg/String"),
        ("sensor_msgs/Image", "sensor_msgs/msg/Image"),
    ],
)
def test_normalize_type_name(given: str, expected: str) -> None:
    assert msg.normalize_type_name(given) == expected


@pytest.mark.parametrize("bad_name", ["bad", "std_msgs/srv/String", "a/b/c/d", ""])
def test_normalize_type_name_rejects_bad_names(bad_name: str) -> None:
    with pytest.raises(MessageError):
        msg.normalize_type_name(bad_name)


def test_message_class_rejects_bad_name() -> None:
    with pytest.raises(MessageError, match="bad"):
        msg.message_class("bad")


def test_message_class_unknown_type_names_the_type() -> None:
    with pytest.raises(MessageError, match="no_such_pkg/msg/Nothing"):
        msg.message_class("no_such_pkg/msg/Nothing")
    with pytest.raises(MessageError, match="std_msgs/msg/NotAType"):
        msg.message_class("std_msgs/NotAType")


# --- serialization compatibility with rosbags ---------------------------------------------


@pytest.mark.parametrize("type_name", msg.TOPIC_TABLE_TYPES)
def test_default_instances_serialize_with_rosbags(typestore: Any, type_name: str) -> None:
    message = msg.message_class(type_name)()
    data = typestore.serialize_cdr(message, type_name)
    decoded = typestore.deserialize_cdr(data, type_name)
    _assert_same_fields(message, decoded)


def test_joint_state_serializes_with_rosbags(typestore: Any) -> None:
    type_name = "sensor_msgs/msg/JointState"
    message = msg.JointState(
        header=msg.Header(stamp=msg.Time(sec=1_700_000_000, nanosec=123_456_789), frame_id="base_link"),
        name=["shoulder", "elbow", "wrist"],
        position=np.array([0.1, -1.5, 3.25]),
        velocity=np.array([0.0, 2.0, -0.5]),
        effort=np.array([], dtype=np.float64),
    )
    decoded = typestore.deserialize_cdr(typestore.serialize_cdr(message, type_name), type_name)
    _assert_same_fields(message, decoded)
    assert decoded.name == ["shoulder", "elbow", "wrist"]
    np.testing.assert_array_equal(decoded.position, [0.1, -1.5, 3.25])
    assert decoded.header.stamp.nanosec == 123_456_789


def test_string_serializes_with_rosbags(typestore: Any) -> None:
    type_name = "std_msgs/msg/String"
    message = msg.String(data="hello, ROS2 ✓")
    decoded = typestore.deserialize_cdr(typestore.serialize_cdr(message, type_name), type_name)
    assert decoded.data == "hello, ROS2 ✓"


def test_image_and_camera_info_serialize_with_rosbags(typestore: Any) -> None:
    image = msg.Image(
        height=2, width=3, encoding="mono8", step=3, data=np.arange(6, dtype=np.uint8), header=msg.Header(frame_id="c")
    )
    decoded = typestore.deserialize_cdr(
        typestore.serialize_cdr(image, "sensor_msgs/msg/Image"), "sensor_msgs/msg/Image"
    )
    _assert_same_fields(image, decoded)

    info = msg.CameraInfo(height=480, width=640, distortion_model="plumb_bob", d=np.array([0.1, -0.2, 0.0, 0.0, 0.0]))
    info.k[:] = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    type_name = "sensor_msgs/msg/CameraInfo"
    decoded = typestore.deserialize_cdr(typestore.serialize_cdr(info, type_name), type_name)
    _assert_same_fields(info, decoded)


def test_nested_message_lists_serialize_with_rosbags(typestore: Any) -> None:
    type_name = "diagnostic_msgs/msg/DiagnosticArray"
    status = msg.DiagnosticStatus(
        level=msg.DiagnosticStatus.WARN,
        name="battery",
        message="low",
        hardware_id="bms0",
        values=[msg.KeyValue(key="voltage", value="11.1")],
    )
    message = msg.DiagnosticArray(header=msg.Header(frame_id="robot"), status=[status])
    decoded = typestore.deserialize_cdr(typestore.serialize_cdr(message, type_name), type_name)
    _assert_same_fields(message, decoded)
    assert decoded.status[0].values[0].value == "11.1"
