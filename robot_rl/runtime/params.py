"""ROS2 parameters: typed values, params files and override precedence.

Precedence follows rcl and rclpy (checked against rclpy Jazzy). All ``-p`` rules and
``--params-file`` files of a node's command line are merged, in command-line order,
into one ordered table ``node pattern -> {name: value}``. A pattern keeps the place
where it first appeared, and a later value for the same pattern and name replaces
the earlier one. A node then applies every pattern that matches its fully qualified
name, in table order, so later patterns win. ``-p name:=value`` without a node
prefix belongs to the ``/**`` pattern.
"""

from __future__ import annotations

import enum
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, Union

import yaml

from robot_rl.errors import ParameterError, ParameterTypeError

ParameterValue = Union[bool, int, float, str, list[bool], list[int], list[float], list[str]]
V = TypeVar("V")

# Name prefix of the params files that ros2 launch (launch_ros) and robot-rl launch generate from one
# node's ``param: {name, value}`` entries: every section of such a file is addressed to that node.
LAUNCH_PARAMS_PREFIX = "launch_params_"


class ParameterType(enum.Enum):
    """The parameter types of rcl_interfaces/ParameterType that robot_rl supports."""

    BOOL = "bool"
    INTEGER = "integer"
    DOUBLE = "double"
    STRING = "string"
    BOOL_ARRAY = "bool array"
    INTEGER_ARRAY = "integer array"
    DOUBLE_ARRAY = "double array"
    STRING_ARRAY = "string array"


_SCALAR_TYPES: dict[type, ParameterType] = {
    bool: ParameterType.BOOL,
    int: ParameterType.INTEGER,
    float: ParameterType.DOUBLE,
    str: ParameterType.STRING,
}
_ARRAY_TYPES: dict[ParameterType, ParameterType] = {
    ParameterType.BOOL: ParameterType.BOOL_ARRAY,
    ParameterType.INTEGER: ParameterType.INTEGER_ARRAY,
    ParameterType.DOUBLE: ParameterType.DOUBLE_ARRAY,
    ParameterType.STRING: ParameterType.STRING_ARRAY,
}


def parameter_type_of(value: object) -> ParameterType:
    """Return the ROS parameter type of a Python value.

    Raises:
        ValueError: For None, a dict, an empty list, or a list of mixed types.
    """
    if type(value) in _SCALAR_TYPES:
        return _SCALAR_TYPES[type(value)]
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("an empty list has no parameter type")
        kinds = {type(item) for item in value}
        if len(kinds) != 1 or next(iter(kinds)) not in _SCALAR_TYPES:
            raise ValueError(f"a list parameter must hold one scalar type, got {sorted(k.__name__ for k in kinds)}")
        return _ARRAY_TYPES[_SCALAR_TYPES[next(iter(kinds))]]
    raise ValueError(f"unsupported parameter value {value!r} of type {type(value).__name__}")


def _from_yaml_value(value: object) -> ParameterValue:
    if isinstance(value, (list, tuple)):
        if not value:
            return []
        parameter_type_of(list(value))
        return list(value)
    if value is None or isinstance(value, dict):
        raise ValueError(f"unsupported parameter value {value!r}")
    parameter_type_of(value)
    return value  # type: ignore[return-value]


# rcl_yaml_param_parser's typing of a scalar (rcl src/parse.c, get_value), measured on Jazzy's rcl 9.2: a quoted
# scalar or one tagged !!str is a string; a plain (or block) scalar is a bool if it is one of these words, else an
# integer if C's strtoll(value, 0) reads all of it (0x10 = 16, 010 = 8), else a double if strtod reads all of it
# (1e-3, inf, .5, 0x1p3), else a string. An integer or double out of range is not one (1e999 stays a string).
_RCL_TRUE = frozenset({"Y", "y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_RCL_FALSE = frozenset({"N", "n", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
_RCL_SPECIAL_DOUBLES = {
    f"{sign}.{word}": float(f"{sign}{word}") for sign in ("", "+", "-") for word in ("inf", "Inf", "INF")
} | {".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
_C_INTEGER = re.compile(r"\s*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_C_DECIMAL_DOUBLE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_C_HEX_DOUBLE = re.compile(r"\s*([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?\d+)?")
_C_NAMED_DOUBLE = re.compile(r"\s*[+-]?(inf|infinity|nan(\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
_INT64_RANGE = (-(2**63), 2**63 - 1)


def _c_double(text: str) -> float | None:
    """Return what C's strtod reads from all of ``text``, or None (not all of it, or out of range: ERANGE)."""
    if _C_NAMED_DOUBLE.fullmatch(text):
        return float(text.strip().split("(")[0])
    if _C_DECIMAL_DOUBLE.fullmatch(text):
        value = float(text)
        mantissa_is_zero = not any(digit in "123456789" for digit in re.split("[eE]", text)[0])
    elif match := _C_HEX_DOUBLE.fullmatch(text):
        sign, digits, exponent = match.groups()
        value = float.fromhex(f"{sign}0x{digits}{exponent or 'p0'}")
        mantissa_is_zero = not digits.strip(".0")
    else:
        return None
    if math.isinf(value) or (not mantissa_is_zero and abs(value) < sys.float_info.min):
        return None  # overflow or underflow: strtod sets ERANGE, and rcl keeps the string
    return value


def rcl_scalar(text: str, quoted: bool = False) -> ParameterValue:
    """Type one YAML scalar the way rcl does (params files and ``-p name:=value``); see ``_RCL_TRUE``.

    Args:
        text: The scalar's text, as YAML read it.
        quoted: True for a single- or double-quoted scalar, or one tagged ``!!str``: always a string.
    """
    if quoted:
        return text
    if text in _RCL_TRUE or text in _RCL_FALSE:
        return text in _RCL_TRUE
    if _C_INTEGER.fullmatch(text):
        value = int(text, 8) if re.fullmatch(r"\s*[+-]?0[0-7]+", text) else int(text, 0)  # C reads 010 as octal
        if _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
            return value
    if text in _RCL_SPECIAL_DOUBLES:
        return _RCL_SPECIAL_DOUBLES[text]
    double = _c_double(text)
    return text if double is None else double


SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it (much faster)


class _ComposeLoader(SafeLoader):  # type: ignore[misc,valid-type]
    """Composes YAML without PyYAML's typing: an untagged scalar keeps the tag ``!``, to be typed like rcl."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return "!" if kind is yaml.ScalarNode else super().resolve(kind, value, implicit)


def _rcl_value(node: yaml.Node, where: str) -> object:
    """Turn a composed YAML node into Python values with rcl's scalar typing (mappings stay mappings)."""
    if isinstance(node, yaml.MappingNode):
        return {str(key.value): _rcl_value(value, where) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_rcl_value(item, where) for item in node.value]
    quoted = node.style in ("'", '"') or node.tag == "tag:yaml.org,2002:str"  # plain: None, or '' with libyaml
    if not quoted and node.value == "":
        raise ValueError(f"{where}: no value (rcl refuses an empty value; write '' for an empty string)")
    return rcl_scalar(node.value, quoted)


def rcl_load(text: str, where: str) -> object:
    """Load a YAML document with rcl's scalar typing (see :func:`rcl_scalar`); None for an empty document.

    Raises:
        yaml.YAMLError: For malformed YAML.
        ValueError: For an empty scalar (rcl: "No value").
    """
    node = yaml.compose(text, Loader=_ComposeLoader)
    return None if node is None else _rcl_value(node, where)


def parse_parameter_value(text: str) -> ParameterValue:
    """Parse the value of ``-p name:=value`` the way rcl does (:func:`rcl_scalar`'s typing).

    ``5`` is an integer, ``5.0`` and ``1e-3`` doubles, ``true`` and ``on`` bools, ``[1, 2]`` an integer
    array, ``'5'`` a string; ``null`` stays the string ``"null"`` like in rcl.

    Raises:
        ValueError: For malformed YAML, an empty value, a mapping or a mixed list (rcl refuses them).
    """
    if not text.strip():
        raise ValueError("no value (rcl refuses an empty value; write '' for an empty string)")
    try:
        loaded = rcl_load(text, "value")
    except yaml.YAMLError as error:
        raise ValueError(f"not valid YAML: {getattr(error, 'problem', error)}") from None
    return _from_yaml_value(loaded)


def _flatten(prefix: str, tree: dict, out: dict[str, ParameterValue], source: str) -> None:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(name + ".", value, out, source)
            continue
        try:
            out[name] = _from_yaml_value(value)
        except ValueError as error:
            raise ParameterError(f"{source}: parameter {name!r}: {error}") from None


def _collect_nodes(prefix: str, tree: object, out: dict[str, dict[str, ParameterValue]], source: str) -> None:
    if not isinstance(tree, dict):
        raise ParameterError(f"{source}: expected a mapping under {prefix or 'the top level'!r}")
    for key, value in tree.items():
        if key == "ros__parameters":
            if not prefix:
                raise ParameterError(f"{source}: 'ros__parameters' must be under a node name")
            if not isinstance(value, dict):
                raise ParameterError(f"{source}: {prefix}: 'ros__parameters' must be a mapping")
            params: dict[str, ParameterValue] = {}
            _flatten("", value, params, f"{source}: {prefix}")
            node_key = prefix if prefix.startswith("/") else "/" + prefix
            out.setdefault(node_key, {}).update(params)
        else:
            name = str(key).strip("/")
            _collect_nodes(f"{prefix}/{name}" if prefix else name, value, out, source)


def load_params_text(text: str, source: str) -> dict[str, dict[str, ParameterValue]]:
    """Parse the text of a ROS2 params file into ``{node pattern: {name: value}}``, typed like rcl.

    Raises:
        ParameterError: If the text is not valid YAML, not in the ``node: ros__parameters: {...}`` layout, or
            holds a value rcl refuses (empty, a mixed list). The message names ``source``.
    """
    try:
        tree = rcl_load(text, source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ParameterError(f"{source}: malformed YAML{where}") from None
    except ValueError as error:
        raise ParameterError(str(error)) from None
    nodes: dict[str, dict[str, ParameterValue]] = {}
    if tree is not None:
        _collect_nodes("", tree, nodes, source)
    return nodes


def load_params_file(path: Path) -> dict[str, dict[str, ParameterValue]]:
    """Load a ROS2 params file into ``{node pattern: {name: value}}`` in file order, typed like rcl.

    Both backends read every params file through rcl's rules (the rclpy backend through rcl itself), so
    they never disagree on a value: ``noise: 1e-3`` is the double 0.001 (PyYAML would say the string
    '1e-3'), ``mode: off`` the bool false and ``mode: 'off'`` the string.

    Raises:
        ParameterError: If the file is missing, is not valid YAML, or is not in the
            ``node: ros__parameters: {...}`` layout. The message names the file.
    """
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ParameterError(f"params file {path}: {error.strerror}") from None
    return load_params_text(text, f"params file {path}")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for token in pattern.strip("/").split("/"):
        if token == "**":
            parts.append("(/[^/]+)*")
        else:
            parts.append("/" + re.escape(token).replace(r"\*", "[^/]+"))
    return re.compile("^" + "".join(parts) + "$")


def pattern_matches(pattern: str, fully_qualified_name: str) -> bool:
    """Return True if a node pattern (``/**``, ``/ns/*``, ``/talker``) matches a node's fully qualified name."""
    return _pattern_regex(pattern).match(fully_qualified_name) is not None


def names_one_node(pattern: str) -> bool:
    """Return True if a node pattern spells the node's name out: ``safety``, ``/ns/safety``, ``/**/safety``.

    Patterns whose last part is a wildcard (``/**``, ``/ns/*``) address every node they match.
    """
    return "*" not in pattern.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class ParameterOverrides(Generic[V]):
    """The ordered table ``node pattern -> {name: value}`` that rcl builds from a command line."""

    table: dict[str, dict[str, V]] = field(default_factory=dict)  # pattern -> params

    def add(self, pattern: str, params: dict[str, V]) -> None:
        """Merge ``params`` into ``pattern``; a new pattern goes to the end of the table."""
        self.table.setdefault(pattern, {}).update(params)

    def for_node(self, fully_qualified_name: str) -> dict[str, V]:
        """Return the overrides that apply to one node, later patterns winning."""
        result: dict[str, V] = {}
        for pattern, params in self.table.items():
            if pattern_matches(pattern, fully_qualified_name):
                result.update(params)
        return result


@dataclass(frozen=True)
class ParameterOverride:
    """A value set for one parameter of one node, where it came from, and whether it was meant for the node."""

    value: ParameterValue  # the value that wins (rcl's precedence)
    source: str  # where that value came from, for messages: "-p rate_hz:=...", "params file config/x.yaml"
    addressed: bool  # True if a source names this node (see robot_rl.runtime.ros_args.node_parameter_overrides)


@dataclass
class Parameter:
    """A declared parameter: its name, typed value and description."""

    name: str  # the parameter name, dots for nested names
    value: ParameterValue  # the current value
    type_: ParameterType  # the type fixed at declaration
    description: str = ""  # what the parameter does, with units
    read_only: bool = False  # True forbids changes after declaration


def check_parameter_value(name: str, expected: ParameterType, value: object, source: str) -> ParameterValue:
    """Return ``value`` if it fits the declared type, else raise ParameterTypeError.

    Like rclpy, an integer is not silently turned into a double. An empty list fits
    any array type.
    """
    if isinstance(value, list) and not value and expected in _ARRAY_TYPES.values():
        return []
    try:
        actual = parameter_type_of(value)
    except ValueError as error:
        raise ParameterTypeError(f"parameter {name!r} ({source}): {error}") from None
    if actual != expected:
        hint = ""
        if expected == ParameterType.DOUBLE and actual == ParameterType.INTEGER:
            hint = f" (write {value}.0)"
        raise ParameterTypeError(
            f"parameter {name!r} ({source}) expects {expected.value}, got {actual.value} {value!r}{hint}"
        )
    return list(value) if isinstance(value, (list, tuple)) else value  # type: ignore[return-value]
