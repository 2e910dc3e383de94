"""Parse the ``--ros-args`` command line that ``ros2 run`` and ``ros2 launch`` generate.

Supported flags (the ones ros2 launch emits, with rcl's syntax):
``-r/--remap [node:]from:=to`` (including ``__node:=`` and ``__ns:=``),
``-p/--param [node:]name:=value``, ``--params-file FILE`` and
``--log-level [logger:=]LEVEL``. ROS arguments sit between ``--ros-args`` and an
optional ``--``; everything else is returned untouched for the program itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from robot_rl.errors import InvalidNameError, RosArgsError
from robot_rl.runtime.names import RemapRule, validate_namespace, validate_node_name
from robot_rl.runtime.params import (
    LAUNCH_PARAMS_PREFIX,
    ParameterOverride,
    ParameterOverrides,
    ParameterValue,
    load_params_file,
    names_one_node,
    parse_parameter_value,
    pattern_matches,
)

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")

_NODE_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(?!=)(.*)$")


@dataclass(frozen=True)
class ParamRule:
    """One ``-p [node:]name:=value`` rule."""

    name: str  # parameter name, dots for nested names
    value: ParameterValue  # the value, parsed as YAML the way rcl does
    node: str | None = None  # only this node name; None = every node ('/**')


@dataclass(frozen=True)
class ParamsFileRule:
    """One ``--params-file FILE`` argument."""

    path: Path  # the YAML params file to load


@dataclass
class RosArgs:
    """The parsed ROS arguments of one process or one node."""

    remaps: list[RemapRule] = field(default_factory=list)  # topic remap rules, in order
    node_name: str | None = None  # from ``-r __node:=``; None keeps the name in code
    namespace: str | None = None  # from ``-r __ns:=`` (absolute); None keeps the namespace
    # ``-p`` rules and ``--params-file`` files in command-line order (order decides precedence)
    parameter_sources: list[ParamRule | ParamsFileRule] = field(default_factory=list)
    log_levels: dict[str, str] = field(default_factory=dict)  # logger name ('' = default) -> level
    unparsed: list[str] = field(default_factory=list)  # non-ROS arguments, for the program


def _split_rule(flag: str, text: str) -> tuple[str | None, str, str]:
    """Split ``[node:]lhs:=rhs`` into (node, lhs, rhs)."""
    if ":=" not in text:
        raise RosArgsError(f"cannot parse '{flag} {text}': expected [node:]name:=value")
    lhs, rhs = text.split(":=", 1)
    node = None
    match = _NODE_PREFIX.match(lhs)
    if match:
        node, lhs = match.group(1), match.group(2)
    if ":" in lhs or not lhs:
        raise RosArgsError(f"cannot parse '{flag} {text}': the node prefix must be a plain node name")
    return node, lhs, rhs


def _parse_remap(text: str, parsed: RosArgs) -> None:
    node, lhs, rhs = _split_rule("-r", text)
    if not rhs:
        raise RosArgsError(f"cannot parse '-r {text}': the replacement is empty")
    try:
        if lhs == "__node":
            parsed.node_name = parsed.node_name or validate_node_name(rhs)
            return
        if lhs == "__ns":
            if not rhs.startswith("/"):
                raise RosArgsError(f"cannot parse '-r {text}': the namespace must be absolute")
            parsed.namespace = parsed.namespace or validate_namespace(rhs)
            return
    except InvalidNameError as error:
        raise RosArgsError(f"cannot parse '-r {text}': {error}") from None
    if lhs.startswith("__"):
        raise RosArgsError(f"cannot parse '-r {text}': unknown special name {lhs!r} (use __node or __ns)")
    parsed.remaps.append(RemapRule(from_name=lhs, to_name=rhs, node=node))


def _parse_log_level(text: str, parsed: RosArgs) -> None:
    logger, _, level = text.rpartition(":=")
    if level.lower() not in LOG_LEVELS:
        raise RosArgsError(f"cannot parse '--log-level {text}': level must be one of {', '.join(LOG_LEVELS)}")
    parsed.log_levels[logger] = level.lower()


def parse_ros_args(argv: list[str]) -> RosArgs:
    """Parse a full argument vector (without the program name).

    Raises:
        RosArgsError: On an unknown ROS flag, a flag without its value or a malformed rule.
    """
    parsed = RosArgs()
    in_ros_args = False
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--ros-args":
            in_ros_args = True
            continue
        if not in_ros_args:
            parsed.unparsed.append(arg)
            continue
        if arg == "--":
            in_ros_args = False
            continue
        if arg not in ("-r", "--remap", "-p", "--param", "--params-file", "--log-level"):
            raise RosArgsError(f"unknown ROS argument {arg!r} (supported: -r, -p, --params-file, --log-level)")
        if index >= len(argv):
            raise RosArgsError(f"ROS argument {arg} is missing its value")
        value = argv[index]
        index += 1
        if arg in ("-r", "--remap"):
            _parse_remap(value, parsed)
        elif arg in ("-p", "--param"):
            node, name, text = _split_rule("-p", value)
            try:
                parameter = parse_parameter_value(text)
            except ValueError as error:
                raise RosArgsError(f"cannot parse '-p {value}': {error}") from None
            parsed.parameter_sources.append(ParamRule(name=name, value=parameter, node=node))
        elif arg == "--params-file":
            parsed.parameter_sources.append(ParamsFileRule(path=Path(value)))
        else:
            _parse_log_level(value, parsed)
    return parsed


def node_parameter_overrides(
    sources: list[ParamRule | ParamsFileRule],
    fully_qualified_name: str,
    constructor_overrides: dict[str, ParameterValue],
    load: Callable[[Path], dict[str, dict[str, ParameterValue]]] = load_params_file,
) -> dict[str, ParameterOverride]:
    """Return the overrides that apply to one node, by name, with rcl's precedence (:mod:`robot_rl.runtime.params`).

    An override is *addressed* to the node (a node with ``strict_parameters`` refuses one it does not
    declare) when any of its sources means this node: a ``-p`` rule of the node's own command line,
    with or without a node prefix (ros2 run, robot-rl node and a launch file's ``ros_args`` give it to
    this node alone); a ``parameter_overrides`` entry; a params-file section whose key spells the node's
    name out (``safety``, ``/ns/safety``, ``/**/safety``); or any section of a params file that a launch
    generated from the node's ``param: {name, value}`` entries (``launch_params_*``). A wildcard section
    (``/**``, ``/ns/*``) of any other params file is not addressed: such files are shared by the nodes of
    a launch, and their wildcard names may be meant for other nodes. ``load`` reads a params file (a launch
    plan reads its generated files from memory).

    Raises:
        ParameterError: If a params file is missing or malformed.
    """
    table: ParameterOverrides[tuple[ParameterValue, str]] = ParameterOverrides()
    addressed: set[str] = set()
    for source in sources:
        if isinstance(source, ParamRule):
            sections = {"/**" if source.node is None else "/" + source.node: {source.name: source.value}}
            where, own = f"-p {source.name}:=...", True
        else:
            sections = load(source.path)
            where, own = f"params file {source.path}", source.path.name.startswith(LAUNCH_PARAMS_PREFIX)
        for pattern, params in sections.items():
            table.add(pattern, {name: (value, where) for name, value in params.items()})
            if (own or names_one_node(pattern)) and pattern_matches(pattern, fully_qualified_name):
                addressed.update(params)
    resolved = {
        name: ParameterOverride(value, where, name in addressed)
        for name, (value, where) in table.for_node(fully_qualified_name).items()
    }
    for name, value in constructor_overrides.items():
        resolved[name] = ParameterOverride(value, "parameter_overrides", True)
    return resolved
