"""Load and save the calibration files under ``calibration/``.

Four YAML formats (``calibration/README.md`` documents them with examples):

- **Camera intrinsics** in the ROS ``camera_calibration_parsers`` format, the one
  ``camera_calibration`` writes and ``camera_info_manager`` reads:
  :class:`CameraIntrinsics`, convertible to and from ``sensor_msgs/CameraInfo``.
- **Hand-eye extrinsics** in the shape easy_handeye writes (``parameters:`` and
  ``transformation: {x, y, z, qx, qy, qz, qw}``; easy_handeye2's newer
  ``calibration_type`` / ``transform: {translation, rotation}`` is read too):
  :class:`HandEyeCalibration`, the pose of the camera frame in the robot frame.
- **Workspace limits**, an axis-aligned end-effector box: :class:`WorkspaceLimits`.
- **Scene fixtures**, static parts of the scene above the table that perception removes from the depth
  (bin walls, posts), as axis-aligned boxes: :class:`SceneFixtures`.

Units are SI (metres, pixels) and frames follow REP-103/105. Every loader raises
:class:`~robot_rl.errors.CalibrationError` with one line ``<file>: <key>: <problem>``,
e.g. ``calibration/camera.yaml: camera_matrix: expected 3x3, got rows=3 cols=4``.
Savers write files the loaders read back exactly (floats are written with ``repr``).
Comments in a hand-written file are not preserved by a load/save cycle.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Union

import numpy as np
import yaml

from robot_rl.errors import CalibrationError, LaunchError
from robot_rl.runtime import msg as ros_msg
from robot_rl.runtime.substitutions import PACKAGE, package_share

PathLike = Union[str, "os.PathLike[str]"]

# sensor_msgs/distortion_models.hpp names -> number of coefficients in D.
DISTORTION_COEFFICIENT_COUNTS: dict[str, int] = {
    "plumb_bob": 5,  # k1, k2, t1, t2, k3 (OpenCV's default model)
    "rational_polynomial": 8,  # k1, k2, t1, t2, k3, k4, k5, k6
    "equidistant": 4,  # k1, k2, k3, k4 (OpenCV fisheye)
}

# A quaternion whose norm differs from 1 by more than this is an error; within it, it is normalized.
QUATERNION_NORM_TOLERANCE = 1e-3

# Below this deviation from unit norm a quaternion is kept bit-for-bit (so save/load round trips are exact).
_UNIT_NORM_EPS = 1e-12

_SCALAR_TYPES = (str, bool, int, float, type(None))


class _FieldError(CalibrationError):
    """A dataclass field failed validation; loaders re-raise it naming the file and its YAML key."""

    def __init__(self, owner: str, field_name: str, problem: str) -> None:
        super().__init__(f"{owner}: {field_name}: {problem}")
        self.field_name = field_name
        self.problem = problem


# --------------------------------------------------------------------------- values


def _describe(value: object) -> str:
    """Return ``type 'value'`` for an error message, shortened to keep it on one line."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _float_array(owner: str, name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a read-only float64 copy of ``shape`` with finite entries."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _FieldError(owner, name, f"expected an array of numbers, got {_describe(value)}") from None
    if array.shape != shape:
        raise _FieldError(owner, name, f"expected shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise _FieldError(owner, name, f"values must be finite, got {array.reshape(-1).tolist()}")
    array.flags.writeable = False
    return array


def _frame_id(owner: str, name: str, value: object) -> str:
    """Check a tf2 frame id: a non-empty string without a leading slash."""
    if not isinstance(value, str):
        raise _FieldError(owner, name, f"expected a string, got {_describe(value)}")
    if not value:
        raise _FieldError(owner, name, "frame id must not be empty")
    if value.startswith("/"):
        raise _FieldError(owner, name, f"tf2 frame ids must not start with '/', got {value!r}")
    return value


def _positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _FieldError(owner, name, f"expected an integer, got {_describe(value)}")
    if value <= 0:
        raise _FieldError(owner, name, f"expected a positive integer, got {value}")
    return int(value)


def _dataclasses_equal(first: object, second: object) -> bool:
    """Field-by-field equality of two dataclasses of the same type; numpy fields compare exactly."""
    if type(first) is not type(second):
        return False
    for item in fields(first):  # type: ignore[arg-type]
        mine, theirs = getattr(first, item.name), getattr(second, item.name)
        if isinstance(mine, np.ndarray):
            if not np.array_equal(mine, theirs):
                return False
        elif mine != theirs:
            return False
    return True


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, eq=False)
class CameraIntrinsics:
    """Pinhole intrinsics of one camera stream, as in sensor_msgs/CameraInfo (pixels).

    ``k`` maps camera-optical-frame coordinates (x right, y down, z forward, metres)
    to pixels: ``u = fx * x / z + cx``, ``v = fy * y / z + cy``. Arrays are float64
    and read-only.
    """

    width_px: int  # image width, pixels (> 0)
    height_px: int  # image height, pixels (> 0)
    camera_name: str  # camera_info_manager name, e.g. "realsense_d435_color"
    k: np.ndarray  # (3, 3) intrinsic matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]], pixels
    distortion_model: str  # one of DISTORTION_COEFFICIENT_COUNTS (plumb_bob, rational_polynomial, equidistant)
    d: np.ndarray  # (N,) distortion coefficients, N fixed by distortion_model
    r: np.ndarray  # (3, 3) rectification rotation (identity for a monocular camera)
    p: np.ndarray  # (3, 4) projection matrix of the rectified image, pixels (P[:, 3] = 0 for monocular)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "width_px", _positive_int(owner, "width_px", self.width_px))
        object.__setattr__(self, "height_px", _positive_int(owner, "height_px", self.height_px))
        if not isinstance(self.camera_name, str):
            raise _FieldError(owner, "camera_name", f"expected a string, got {_describe(self.camera_name)}")
        k = _float_array(owner, "k", self.k, (3, 3))
        if not (k[0, 0] > 0 and k[1, 1] > 0):
            raise _FieldError(owner, "k", f"focal lengths must be positive, got fx={k[0, 0]} fy={k[1, 1]}")
        object.__setattr__(self, "k", k)
        model = self.distortion_model
        if model not in DISTORTION_COEFFICIENT_COUNTS:
            known = ", ".join(DISTORTION_COEFFICIENT_COUNTS)
            raise _FieldError(owner, "distortion_model", f"unknown model {model!r}, expected one of: {known}")
        count = DISTORTION_COEFFICIENT_COUNTS[model]
        shape = np.shape(self.d)
        if len(shape) == 1 and shape[0] != count:
            raise _FieldError(owner, "d", f"distortion model {model} needs {count} coefficients, got {shape[0]}")
        object.__setattr__(self, "d", _float_array(owner, "d", self.d, (count,)))
        object.__setattr__(self, "r", _float_array(owner, "r", self.r, (3, 3)))
        object.__setattr__(self, "p", _float_array(owner, "p", self.p, (3, 4)))

    def __eq__(self, other: object) -> bool:
        return _dataclasses_equal(self, other)

    @property
    def fx(self) -> float:
        """Focal length along x, pixels."""
        return float(self.k[0, 0])

    @property
    def fy(self) -> float:
        """Focal length along y, pixels."""
        return float(self.k[1, 1])

    @property
    def cx(self) -> float:
        """Principal point x, pixels."""
        return float(self.k[0, 2])

    @property
    def cy(self) -> float:
        """Principal point y, pixels."""
        return float(self.k[1, 2])


@dataclass(frozen=True, eq=False)
class HandEyeCalibration:
    """The pose of ``child_frame`` (the camera) in ``parent_frame``, from a hand-eye calibration.

    Eye-on-base (``eye_on_hand=False``): parent is the robot base frame (``base_link``).
    Eye-in-hand: parent is the end-effector frame (e.g. ``panda_hand``). The child is
    easy_handeye's ``tracking_base_frame``, normally ``camera_color_optical_frame``.
    It is the transform tf2 would publish with ``header.frame_id = parent_frame`` and
    ``child_frame_id = child_frame``: it maps points in the child frame to the parent.
    """

    parent_frame: str  # tf2 frame the camera pose is expressed in (robot base or effector frame)
    child_frame: str  # tf2 frame of the camera (the tracking base frame), e.g. camera_color_optical_frame
    translation_m: np.ndarray  # (3,) child origin in the parent frame, metres
    quaternion_xyzw: np.ndarray  # (4,) child orientation in the parent frame, unit quaternion (x, y, z, w)
    eye_on_hand: bool = False  # True when the camera rides on the end effector (eye-in-hand)
    extra_parameters: Mapping[str, Any] = field(default_factory=dict)  # other `parameters:` entries, kept verbatim

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.eye_on_hand, (bool, np.bool_)):
            raise _FieldError(owner, "eye_on_hand", f"expected a bool, got {_describe(self.eye_on_hand)}")
        object.__setattr__(self, "eye_on_hand", bool(self.eye_on_hand))
        _frame_id(owner, "parent_frame", self.parent_frame)
        _frame_id(owner, "child_frame", self.child_frame)
        if self.parent_frame == self.child_frame:
            raise _FieldError(owner, "child_frame", f"must differ from parent_frame, both are {self.child_frame!r}")
        object.__setattr__(self, "translation_m", _float_array(owner, "translation_m", self.translation_m, (3,)))
        quaternion = _float_array(owner, "quaternion_xyzw", self.quaternion_xyzw, (4,))
        norm = float(np.linalg.norm(quaternion))
        if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
            raise _FieldError(
                owner,
                "quaternion_xyzw",
                f"quaternion must be unit within {QUATERNION_NORM_TOLERANCE}, got norm {norm:.6g}",
            )
        if abs(norm - 1.0) > _UNIT_NORM_EPS:
            quaternion = quaternion / norm
            quaternion.flags.writeable = False
        object.__setattr__(self, "quaternion_xyzw", quaternion)
        if not isinstance(self.extra_parameters, Mapping):
            raise _FieldError(owner, "extra_parameters", f"expected a mapping, got {_describe(self.extra_parameters)}")
        reserved = {"eye_on_hand", "calibration_type", "tracking_base_frame", self.parent_key}
        for key, value in self.extra_parameters.items():
            if not isinstance(key, str):
                raise _FieldError(owner, "extra_parameters", f"keys must be strings, got {_describe(key)}")
            if key in reserved:
                raise _FieldError(owner, "extra_parameters", f"{key!r} is set by the calibration's own fields")
            if not isinstance(value, _SCALAR_TYPES):
                raise _FieldError(owner, "extra_parameters", f"{key}: expected a scalar, got {_describe(value)}")
        object.__setattr__(self, "extra_parameters", MappingProxyType(dict(self.extra_parameters)))

    def __eq__(self, other: object) -> bool:
        return _dataclasses_equal(self, other)

    @property
    def parent_key(self) -> str:
        """The easy_handeye parameter that names the parent frame."""
        return "robot_effector_frame" if self.eye_on_hand else "robot_base_frame"

    def rotation_matrix(self) -> np.ndarray:
        """Return the (3, 3) rotation of the child frame in the parent frame."""
        x, y, z, w = self.quaternion_xyzw
        return np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )

    def matrix(self) -> np.ndarray:
        """Return the (4, 4) homogeneous transform of the child frame in the parent frame (metres)."""
        transform = np.eye(4)
        transform[:3, :3] = self.rotation_matrix()
        transform[:3, 3] = self.translation_m
        return transform

    def transform_points(self, points: np.ndarray) -> np.ndarray:
        """Map points from the child (camera) frame to the parent frame, metres.

        ``points`` is (N, 3) or a single (3,) point; the result has the same shape.
        """
        array = np.asarray(points, dtype=np.float64)
        if array.shape == (3,):
            return self.rotation_matrix() @ array + self.translation_m
        if array.ndim != 2 or array.shape[1] != 3:
            raise CalibrationError(f"transform_points: points must have shape (N, 3) or (3,), got {array.shape}")
        return array @ self.rotation_matrix().T + self.translation_m


@dataclass(frozen=True, eq=False)
class WorkspaceLimits:
    """An axis-aligned box the end effector must stay in, in ``frame_id`` (metres).

    Bounds are inclusive. ``table_height_m`` is the height of the table surface in
    the same frame, when known (it is informational: the box itself is the limit).
    """

    min_m: np.ndarray  # (3,) lower corner x, y, z, metres; below max_m on every axis
    max_m: np.ndarray  # (3,) upper corner x, y, z, metres
    frame_id: str = "base_link"  # tf2 frame of the box (REP-105 robot base frame)
    table_height_m: float | None = None  # z of the table surface in frame_id, metres; None when unknown

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _frame_id(owner, "frame_id", self.frame_id)
        low = _float_array(owner, "min_m", self.min_m, (3,))
        high = _float_array(owner, "max_m", self.max_m, (3,))
        bad = [
            f"{axis}: {float(lo)!r} >= {float(hi)!r}"
            for axis, lo, hi in zip("xyz", low, high, strict=True)
            if not lo < hi
        ]
        if bad:
            raise _FieldError(owner, "min_m", f"must be below max_m on every axis, got {', '.join(bad)}")
        object.__setattr__(self, "min_m", low)
        object.__setattr__(self, "max_m", high)
        if self.table_height_m is not None:
            height = self.table_height_m
            if isinstance(height, bool) or not isinstance(height, (int, float, np.floating, np.integer)):
                raise _FieldError(owner, "table_height_m", f"expected a number or None, got {_describe(height)}")
            if not math.isfinite(height):
                raise _FieldError(owner, "table_height_m", f"must be finite, got {height}")
            object.__setattr__(self, "table_height_m", float(height))

    def __eq__(self, other: object) -> bool:
        return _dataclasses_equal(self, other)

    def contains(self, point: np.ndarray) -> bool:
        """Return True if the (3,) point (metres, in ``frame_id``) is inside the box or on its boundary."""
        array = _point(point)
        return bool(np.all(array >= self.min_m) and np.all(array <= self.max_m))

    def clip(self, point: np.ndarray) -> np.ndarray:
        """Return the nearest point inside the box: a (3,) point or (N, 3) points, metres."""
        array = np.asarray(point, dtype=np.float64)
        if array.shape[-1:] != (3,) or array.ndim > 2:
            raise CalibrationError(f"clip: point must have shape (3,) or (N, 3), got {array.shape}")
        return np.clip(array, self.min_m, self.max_m)


@dataclass(frozen=True, eq=False)
class FixtureBox:
    """A static part of the scene (a bin wall, a shelf post) as an axis-aligned box, metres.

    Perception removes the depth points inside it (grown by its ``fixture_padding_m``) before the support-plane
    fit and the clustering, as the robot self-filter removes the arm: fixed furniture is neither table nor object.
    """

    name: str  # what it is, for messages and the docs
    center_m: np.ndarray  # (3,) centre x, y, z in the file's frame_id, metres
    half_extents_m: np.ndarray  # (3,) half sizes along x, y, z, metres, each > 0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.name, str) or not self.name:
            raise _FieldError(owner, "name", f"expected a non-empty string, got {_describe(self.name)}")
        object.__setattr__(self, "center_m", _float_array(owner, "center_m", self.center_m, (3,)))
        half = _float_array(owner, "half_extents_m", self.half_extents_m, (3,))
        if not np.all(half > 0):
            raise _FieldError(owner, "half_extents_m", f"must be > 0 on every axis, got {half.tolist()}")
        object.__setattr__(self, "half_extents_m", half)

    def __eq__(self, other: object) -> bool:
        return _dataclasses_equal(self, other)


@dataclass(frozen=True, eq=False)
class SceneFixtures:
    """The static parts of a scene that stand above the support surface, in ``frame_id``."""

    boxes: tuple[FixtureBox, ...]  # may be empty: a bare table
    frame_id: str = "base_link"  # tf2 frame of the boxes (REP-105 robot base frame)

    def __post_init__(self) -> None:
        _frame_id(type(self).__name__, "frame_id", self.frame_id)
        object.__setattr__(self, "boxes", tuple(self.boxes))

    def __eq__(self, other: object) -> bool:
        return _dataclasses_equal(self, other)


def _point(point: np.ndarray) -> np.ndarray:
    array = np.asarray(point, dtype=np.float64)
    if array.shape != (3,):
        raise CalibrationError(f"contains: point must have shape (3,), got {array.shape}")
    return array


# --------------------------------------------------------------------------- reading YAML


class _Section:
    """Typed access to one YAML mapping; errors read ``<file>: <dotted key>: <problem>``."""

    def __init__(self, data: Mapping[str, Any], file: str, prefix: str = "") -> None:
        self.data = data
        self.file = file
        self.prefix = prefix

    def key(self, key: str) -> str:
        """Return the dotted key path of ``key`` for messages."""
        return f"{self.prefix}{key}"

    def error(self, key: str, problem: str) -> CalibrationError:
        return CalibrationError(f"{self.file}: {self.key(key)}: {problem}")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(key, "missing key")
        return self.data[key]

    def string(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_describe(value)}")
        return value

    def boolean(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_describe(value)}")
        return value

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_describe(value)}")
        return value

    def number(self, key: str) -> float:
        return _number(self.get(key), lambda problem: self.error(key, problem))

    def numbers(self, key: str, length: int | None = None) -> np.ndarray:
        values = self.get(key)
        if not isinstance(values, list):
            raise self.error(key, f"expected a list of numbers, got {_describe(values)}")
        if length is not None and len(values) != length:
            raise self.error(key, f"expected a list of {length} numbers, got {len(values)}")
        result = [
            _number(value, lambda problem, index=index: self.error(f"{key}[{index}]", problem))
            for index, value in enumerate(values)
        ]
        return np.array(result, dtype=np.float64)

    def section(self, key: str) -> _Section:
        value = self.get(key)
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {_describe(value)}")
        return _Section(value, self.file, f"{self.key(key)}.")

    def matrix(self, key: str, shape: tuple[int, int]) -> np.ndarray:
        """Read a ``{rows, cols, data}`` matrix that must have ``shape``."""
        section = self.section(key)
        rows, cols = section.integer("rows"), section.integer("cols")
        data = section.numbers("data")
        if (rows, cols) != shape:
            raise self.error(key, f"expected {shape[0]}x{shape[1]}, got rows={rows} cols={cols}")
        if data.size != rows * cols:
            raise self.error(key, f"rows={rows} cols={cols} needs {rows * cols} values in data, got {data.size}")
        return data.reshape(shape)


def _number(value: object, error: Any) -> float:
    """Return ``value`` as a finite float, or raise ``error(problem)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = " (YAML 1.1 reads an exponent without a '.' as a string: write e.g. 1.0e-3)"
            except ValueError:
                pass
        raise error(f"expected a number, got {_describe(value)}{hint}")
    if not math.isfinite(value):
        raise error(f"expected a finite number, got {value}")
    return float(value)


def _read_yaml(path: PathLike) -> _Section:
    """Read a YAML file whose top level is a mapping."""
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"{file}: file not found") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{file}: not a UTF-8 text file") from None
    except OSError as error:
        raise CalibrationError(f"{file}: cannot read: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CalibrationError(f"{file}: malformed YAML: {_yaml_problem(error)}") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{file}: expected a YAML mapping at the top level, got {type(data).__name__}")
    return _Section(data, file)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line from a PyYAML error: what went wrong and where (1-based line and column)."""
    if isinstance(error, yaml.MarkedYAMLError):
        problem = error.problem or error.context or "parse error"
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{problem}{where}"
    return " ".join(str(error).split())


def _rekey(error: _FieldError, file: str, keys: Mapping[str, str]) -> CalibrationError:
    """Turn a dataclass validation error into ``<file>: <yaml key>: <problem>``."""
    return CalibrationError(f"{file}: {keys.get(error.field_name, error.field_name)}: {error.problem}")


def _write_yaml(path: PathLike, data: Mapping[str, Any]) -> None:
    text = yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=4096, allow_unicode=True)
    file = os.fspath(path)
    try:
        Path(file).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CalibrationError(f"{file}: cannot write: {error.strerror or error}") from None


def _floats(array: np.ndarray) -> list[float]:
    return [float(value) for value in np.asarray(array).reshape(-1)]


# --------------------------------------------------------------------------- camera info

_CAMERA_KEYS = {
    "width_px": "image_width",
    "height_px": "image_height",
    "camera_name": "camera_name",
    "k": "camera_matrix",
    "distortion_model": "distortion_model",
    "d": "distortion_coefficients",
    "r": "rectification_matrix",
    "p": "projection_matrix",
}


def load_camera_info(path: PathLike) -> CameraIntrinsics:
    """Load camera intrinsics from a camera_calibration_parsers YAML file."""
    root = _read_yaml(path)
    width, height = root.integer("image_width"), root.integer("image_height")
    name = root.string("camera_name")
    k = root.matrix("camera_matrix", (3, 3))
    model = root.string("distortion_model")
    distortion = root.section("distortion_coefficients")
    rows, cols = distortion.integer("rows"), distortion.integer("cols")
    d = distortion.numbers("data")
    if rows != 1:
        raise root.error("distortion_coefficients", f"expected rows=1, got rows={rows} cols={cols}")
    if d.size != cols:
        raise root.error("distortion_coefficients", f"rows=1 cols={cols} needs {cols} values in data, got {d.size}")
    r = root.matrix("rectification_matrix", (3, 3))
    p = root.matrix("projection_matrix", (3, 4))
    try:
        return CameraIntrinsics(
            width_px=width, height_px=height, camera_name=name, k=k, distortion_model=model, d=d, r=r, p=p
        )
    except _FieldError as error:
        raise _rekey(error, root.file, _CAMERA_KEYS) from None


def save_camera_info(intrinsics: CameraIntrinsics, path: PathLike) -> None:
    """Write camera intrinsics as a camera_calibration_parsers YAML file."""

    def matrix(array: np.ndarray) -> dict[str, Any]:
        rows, cols = (1, array.size) if array.ndim == 1 else array.shape
        return {"rows": int(rows), "cols": int(cols), "data": _floats(array)}

    _write_yaml(
        path,
        {
            "image_width": intrinsics.width_px,
            "image_height": intrinsics.height_px,
            "camera_name": intrinsics.camera_name,
            "camera_matrix": matrix(intrinsics.k),
            "distortion_model": intrinsics.distortion_model,
            "distortion_coefficients": matrix(intrinsics.d),
            "rectification_matrix": matrix(intrinsics.r),
            "projection_matrix": matrix(intrinsics.p),
        },
    )


def to_camera_info_msg(intrinsics: CameraIntrinsics, frame_id: str, stamp: Any | None = None) -> Any:
    """Build a sensor_msgs/CameraInfo (``robot_rl.runtime.msg.CameraInfo``) for ``frame_id``.

    ``stamp`` is a builtin_interfaces/Time (zero when None). ``frame_id`` is the
    camera's optical frame, e.g. ``camera_color_optical_frame``. Binning and ROI are
    left at their defaults (full resolution).
    """
    return ros_msg.CameraInfo(
        header=ros_msg.Header(stamp=stamp if stamp is not None else ros_msg.Time(), frame_id=frame_id),
        height=intrinsics.height_px,
        width=intrinsics.width_px,
        distortion_model=intrinsics.distortion_model,
        d=np.array(intrinsics.d, dtype=np.float64),
        k=np.array(intrinsics.k, dtype=np.float64).reshape(-1),
        r=np.array(intrinsics.r, dtype=np.float64).reshape(-1),
        p=np.array(intrinsics.p, dtype=np.float64).reshape(-1),
    )


def from_camera_info_msg(msg: Any, camera_name: str) -> CameraIntrinsics:
    """Build :class:`CameraIntrinsics` from a sensor_msgs/CameraInfo (generated or rclpy class)."""

    def shaped(values: Any, shape: tuple[int, int]) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        return array.reshape(shape) if array.size == shape[0] * shape[1] else array

    try:
        return CameraIntrinsics(
            width_px=msg.width,
            height_px=msg.height,
            camera_name=camera_name,
            k=shaped(msg.k, (3, 3)),
            distortion_model=msg.distortion_model,
            d=np.asarray(msg.d, dtype=np.float64).reshape(-1),
            r=shaped(msg.r, (3, 3)),
            p=shaped(msg.p, (3, 4)),
        )
    except _FieldError as error:
        keys = {"width_px": "width", "height_px": "height"}
        raise _rekey(error, "CameraInfo", keys) from None


# --------------------------------------------------------------------------- hand-eye

_CALIBRATION_TYPES = {"eye_in_hand": True, "eye_on_base": False}


def load_hand_eye(path: PathLike) -> HandEyeCalibration:
    """Load a hand-eye calibration written by easy_handeye / easy_handeye2 (or :func:`save_hand_eye`)."""
    root = _read_yaml(path)
    parameters = root.section("parameters")
    if parameters.has("eye_on_hand"):
        eye_on_hand = parameters.boolean("eye_on_hand")
        if parameters.has("calibration_type"):
            kind = parameters.string("calibration_type")
            if _CALIBRATION_TYPES.get(kind) is not eye_on_hand:
                raise parameters.error("calibration_type", f"{kind!r} contradicts eye_on_hand: {eye_on_hand}")
    elif parameters.has("calibration_type"):
        kind = parameters.string("calibration_type")
        if kind not in _CALIBRATION_TYPES:
            raise parameters.error("calibration_type", f"expected eye_in_hand or eye_on_base, got {kind!r}")
        eye_on_hand = _CALIBRATION_TYPES[kind]
    else:
        raise parameters.error("eye_on_hand", "missing key")
    parent_key = "robot_effector_frame" if eye_on_hand else "robot_base_frame"
    parent = parameters.string(parent_key)
    child = parameters.string("tracking_base_frame")
    handled = {"eye_on_hand", "calibration_type", parent_key, "tracking_base_frame"}
    extra = {key: value for key, value in parameters.data.items() if key not in handled}
    for key, value in extra.items():
        if not isinstance(value, _SCALAR_TYPES):
            raise parameters.error(str(key), f"expected a scalar, got {_describe(value)}")

    if root.has("transformation") or not root.has("transform"):
        pose = root.section("transformation")
        translation = np.array([pose.number(axis) for axis in ("x", "y", "z")])
        quaternion = np.array([pose.number(axis) for axis in ("qx", "qy", "qz", "qw")])
        pose_key = "transformation"
    else:  # easy_handeye2 >= 2023: transform: {translation: {x, y, z}, rotation: {x, y, z, w}}
        pose = root.section("transform")
        translation_section, rotation = pose.section("translation"), pose.section("rotation")
        translation = np.array([translation_section.number(axis) for axis in ("x", "y", "z")])
        quaternion = np.array([rotation.number(axis) for axis in ("x", "y", "z", "w")])
        pose_key = "transform.rotation"
    keys = {
        "parent_frame": f"parameters.{parent_key}",
        "child_frame": "parameters.tracking_base_frame",
        "translation_m": pose_key,
        "quaternion_xyzw": pose_key,
        "extra_parameters": "parameters",
    }
    try:
        return HandEyeCalibration(
            parent_frame=parent,
            child_frame=child,
            translation_m=translation,
            quaternion_xyzw=quaternion,
            eye_on_hand=eye_on_hand,
            extra_parameters=extra,
        )
    except _FieldError as error:
        raise _rekey(error, root.file, keys) from None


def save_hand_eye(calibration: HandEyeCalibration, path: PathLike) -> None:
    """Write a hand-eye calibration in easy_handeye's ``parameters`` / ``transformation`` shape."""
    parameters: dict[str, Any] = {
        "eye_on_hand": calibration.eye_on_hand,
        calibration.parent_key: calibration.parent_frame,
        "tracking_base_frame": calibration.child_frame,
    }
    parameters.update(calibration.extra_parameters)
    x, y, z = _floats(calibration.translation_m)
    qx, qy, qz, qw = _floats(calibration.quaternion_xyzw)
    _write_yaml(
        path,
        {
            "parameters": parameters,
            "transformation": {"x": x, "y": y, "z": z, "qx": qx, "qy": qy, "qz": qz, "qw": qw},
        },
    )


# --------------------------------------------------------------------------- workspace


def load_workspace_limits(path: PathLike) -> WorkspaceLimits:
    """Load end-effector workspace limits (``frame_id``, ``min_m``, ``max_m``, optional ``table_height_m``)."""
    root = _read_yaml(path)
    frame_id = root.string("frame_id")
    low, high = root.numbers("min_m", 3), root.numbers("max_m", 3)
    table = None
    if root.has("table_height_m") and root.get("table_height_m") is not None:
        table = root.number("table_height_m")
    try:
        return WorkspaceLimits(min_m=low, max_m=high, frame_id=frame_id, table_height_m=table)
    except _FieldError as error:
        raise _rekey(error, root.file, {}) from None


def save_workspace_limits(limits: WorkspaceLimits, path: PathLike) -> None:
    """Write workspace limits as YAML (``table_height_m`` only when it is set)."""
    data: dict[str, Any] = {
        "frame_id": limits.frame_id,
        "min_m": _floats(limits.min_m),
        "max_m": _floats(limits.max_m),
    }
    if limits.table_height_m is not None:
        data["table_height_m"] = float(limits.table_height_m)
    _write_yaml(path, data)


def load_scene_fixtures(path: PathLike) -> SceneFixtures:
    """Load scene fixtures: ``frame_id`` and ``boxes``, a list of ``{name, center_m, half_extents_m}``."""
    root = _read_yaml(path)
    frame_id = root.string("frame_id")
    entries = root.get("boxes")
    if not isinstance(entries, list):
        raise root.error("boxes", f"expected a list of boxes ([] for none), got {_describe(entries)}")
    boxes = []
    for index, entry in enumerate(entries):
        key = f"boxes[{index}]"
        if not isinstance(entry, dict):
            raise root.error(key, f"expected a mapping, got {_describe(entry)}")
        box = _Section(entry, root.file, f"{key}.")
        try:
            boxes.append(FixtureBox(box.string("name"), box.numbers("center_m", 3), box.numbers("half_extents_m", 3)))
        except _FieldError as error:
            raise CalibrationError(f"{root.file}: {key}.{error.field_name}: {error.problem}") from None
    try:
        return SceneFixtures(tuple(boxes), frame_id)
    except _FieldError as error:
        raise _rekey(error, root.file, {}) from None


def save_scene_fixtures(fixtures: SceneFixtures, path: PathLike) -> None:
    """Write scene fixtures as YAML."""
    boxes = [
        {"name": box.name, "center_m": _floats(box.center_m), "half_extents_m": _floats(box.half_extents_m)}
        for box in fixtures.boxes
    ]
    _write_yaml(path, {"frame_id": fixtures.frame_id, "boxes": boxes})


# --------------------------------------------------------------------------- locating files


def calibration_file(name: str) -> Path:
    """Return the path of ``calibration/<name>`` in the source checkout or the installed share directory.

    Launch files say the same with ``$(find-pkg-share robot_rl)/calibration/<name>``.
    """
    try:
        share = package_share(PACKAGE)
    except LaunchError as error:
        raise CalibrationError(f"calibration/{name}: {error}") from None
    path = share / "calibration" / name
    if not path.is_file():
        raise CalibrationError(f"{path}: file not found")
    return path
