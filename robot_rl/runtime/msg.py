"""ROS2 message classes, generated from the ROS2 Jazzy definitions that ship in rosbags.

Nothing here is written per message type: :func:`message_class` builds a class from
the rosbags type store (field names, types, constants). Defaults follow ROS2:
numbers are 0, strings empty, nested messages default-constructed, numeric
arrays and sequences are numpy arrays of the field's dtype (fixed length or empty),
string and message sequences are lists.

With the ``rclpy`` backend the same names resolve to the real ROS message classes
(``sensor_msgs.msg.Image`` and so on), so node code does not change.

Messages are shared, not copied, between in-process subscribers: do not mutate a
message after publishing it.
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import cache
from typing import Any, ClassVar

import numpy as np
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.base import Nodetype

from robot_rl.errors import MessageError
from robot_rl.runtime.backend import uses_ros_message_classes

# Explicit non-zero defaults of ROS2 .msg files, which rosbags' type store does not
# keep. This is the complete list for the Jazzy interfaces in the store; a test
# checks every exported type against rclpy's own classes where rclpy is installed.
_MSG_FILE_DEFAULTS: dict[tuple[str, str], object] = {
    ("geometry_msgs/msg/Quaternion", "w"): 1.0,
    ("sensor_msgs/msg/NavSatStatus", "status"): -2,
}

NUMPY_DTYPES: dict[str, type] = {
    "bool": np.bool_,
    "byte": np.uint8,
    "char": np.uint8,
    "uint8": np.uint8,
    "int8": np.int8,
    "uint16": np.uint16,
    "int16": np.int16,
    "uint32": np.uint32,
    "int32": np.int32,
    "uint64": np.uint64,
    "int64": np.int64,
    "float32": np.float32,
    "float64": np.float64,
}


@cache
def _typestore() -> Any:
    return get_typestore(Stores.ROS2_JAZZY)


def normalize_type_name(type_name: str) -> str:
    """Accept ``pkg/msg/Name`` or ``pkg/Name`` and return ``pkg/msg/Name``."""
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or parts[1] != "msg":
        raise MessageError(f"bad message type name {type_name!r}: expected 'pkg/msg/Name'")
    return "/".join(parts)


class GeneratedMessage:
    """Base of the generated classes: value equality that understands numpy fields."""

    __msgtype__: ClassVar[str]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, np.ndarray) or isinstance(theirs, np.ndarray):
                if not np.array_equal(np.asarray(mine), np.asarray(theirs)):
                    return False
            elif mine != theirs:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable, like rclpy messages


def _scalar_default(ros_type: str) -> object:
    if ros_type in ("string", "wstring"):
        return ""
    if ros_type == "bool":
        return False
    if ros_type in ("float32", "float64"):
        return 0.0
    if ros_type in NUMPY_DTYPES:
        return 0
    raise MessageError(f"unsupported primitive type {ros_type!r}")


def _default_factory(desc: tuple) -> Any:
    kind, detail = desc
    if kind == Nodetype.BASE:
        value = _scalar_default(detail[0])
        return lambda: value
    if kind == Nodetype.NAME:
        return lambda: _generated_class(detail)()
    element, length = detail
    if kind == Nodetype.ARRAY and element[0] == Nodetype.BASE and element[1][0] in NUMPY_DTYPES:
        dtype = NUMPY_DTYPES[element[1][0]]
        return lambda: np.zeros(length, dtype=dtype)
    if kind == Nodetype.SEQUENCE and element[0] == Nodetype.BASE and element[1][0] in NUMPY_DTYPES:
        dtype = NUMPY_DTYPES[element[1][0]]
        return lambda: np.zeros(0, dtype=dtype)
    if kind == Nodetype.ARRAY:
        element_factory = _default_factory(element)
        return lambda: [element_factory() for _ in range(length)]
    return list


_IDL_PLACEHOLDER_FIELD = "structure_needs_at_least_one_member"


@cache
def _generated_class(type_name: str) -> type:
    store = _typestore()
    if type_name not in store.fielddefs:
        raise MessageError(f"unknown message type {type_name!r} (not in the ROS2 Jazzy definitions)")
    constants, fields = store.fielddefs[type_name]
    specs = []
    for name, desc in fields:
        if name == _IDL_PLACEHOLDER_FIELD:
            # rosidl's stand-in member of an empty .msg (std_msgs/Empty): not a field, as in rclpy, but
            # still readable (as 0) by serializers that expect it
            constants = [*constants, (name, None, 0)]
            continue
        if (type_name, name) in _MSG_FILE_DEFAULTS:
            value = _MSG_FILE_DEFAULTS[(type_name, name)]
            factory = lambda value=value: value  # noqa: E731
        else:
            factory = _default_factory(desc)
        specs.append((name, Any, dataclasses.field(default_factory=factory)))
    namespace: dict[str, object] = {"__msgtype__": type_name}
    namespace.update({const_name: value for const_name, _, value in constants})
    short_name = type_name.rsplit("/", 1)[1]
    cls = dataclasses.make_dataclass(short_name, specs, bases=(GeneratedMessage,), namespace=namespace, eq=False)
    cls.__module__ = __name__
    return cls


def _ros_class(type_name: str) -> type:
    package, _, name = type_name.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError):
        raise MessageError(f"message type {type_name!r} is not installed in this ROS2 environment") from None


def message_class(type_name: str) -> type:
    """Return the class for a ROS2 message type such as ``sensor_msgs/msg/Image``."""
    full_name = normalize_type_name(type_name)
    if _USE_ROS_CLASSES:
        return _ros_class(full_name)
    return _generated_class(full_name)


def message_type_name(cls: type) -> str:
    """Return ``pkg/msg/Name`` for a generated or a real rclpy message class."""
    generated = getattr(cls, "__msgtype__", None)
    if isinstance(generated, str):
        return generated
    package = cls.__module__.split(".")[0]
    return f"{package}/msg/{cls.__name__}"


_USE_ROS_CLASSES = uses_ros_message_classes()

# The types of the topic table in ARCHITECTURE.md, plus the types they contain.
Time = message_class("builtin_interfaces/msg/Time")
Duration = message_class("builtin_interfaces/msg/Duration")
Clock = message_class("rosgraph_msgs/msg/Clock")
Header = message_class("std_msgs/msg/Header")
Bool = message_class("std_msgs/msg/Bool")
Empty = message_class("std_msgs/msg/Empty")
Float32 = message_class("std_msgs/msg/Float32")
String = message_class("std_msgs/msg/String")
Point = message_class("geometry_msgs/msg/Point")
Quaternion = message_class("geometry_msgs/msg/Quaternion")
Pose = message_class("geometry_msgs/msg/Pose")
PoseStamped = message_class("geometry_msgs/msg/PoseStamped")
PoseArray = message_class("geometry_msgs/msg/PoseArray")
Vector3 = message_class("geometry_msgs/msg/Vector3")
Twist = message_class("geometry_msgs/msg/Twist")
TwistStamped = message_class("geometry_msgs/msg/TwistStamped")
JointState = message_class("sensor_msgs/msg/JointState")
Image = message_class("sensor_msgs/msg/Image")
CameraInfo = message_class("sensor_msgs/msg/CameraInfo")
PointField = message_class("sensor_msgs/msg/PointField")
PointCloud2 = message_class("sensor_msgs/msg/PointCloud2")
Joy = message_class("sensor_msgs/msg/Joy")
JointTrajectory = message_class("trajectory_msgs/msg/JointTrajectory")
JointTrajectoryPoint = message_class("trajectory_msgs/msg/JointTrajectoryPoint")
KeyValue = message_class("diagnostic_msgs/msg/KeyValue")
DiagnosticStatus = message_class("diagnostic_msgs/msg/DiagnosticStatus")
DiagnosticArray = message_class("diagnostic_msgs/msg/DiagnosticArray")

TOPIC_TABLE_TYPES = (
    "builtin_interfaces/msg/Time",
    "builtin_interfaces/msg/Duration",
    "rosgraph_msgs/msg/Clock",
    "std_msgs/msg/Header",
    "std_msgs/msg/Bool",
    "std_msgs/msg/Empty",
    "std_msgs/msg/Float32",
    "std_msgs/msg/String",
    "geometry_msgs/msg/Point",
    "geometry_msgs/msg/Quaternion",
    "geometry_msgs/msg/Pose",
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/PoseArray",
    "geometry_msgs/msg/Vector3",
    "geometry_msgs/msg/Twist",
    "geometry_msgs/msg/TwistStamped",
    "sensor_msgs/msg/JointState",
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/PointField",
    "sensor_msgs/msg/PointCloud2",
    "sensor_msgs/msg/Joy",
    "trajectory_msgs/msg/JointTrajectory",
    "trajectory_msgs/msg/JointTrajectoryPoint",
    "diagnostic_msgs/msg/KeyValue",
    "diagnostic_msgs/msg/DiagnosticStatus",
    "diagnostic_msgs/msg/DiagnosticArray",
)
