"""Run a :class:`~robot_rl.runtime.launch_file.LaunchPlan`: in one process, or one process per node; or describe it.

The in-process backend builds every node in one :class:`InprocContext` and spins it.
Other backends start each node's executable with the argv that ros2 launch would use.
Both warn about a params-file node key that matches no node of the launch (a misspelled
``safty:`` section would otherwise be ignored, as rcl ignores it). :func:`describe_graph`
lists the graph from the nodes' declared interfaces (:mod:`robot_rl.runtime.interfaces`)
without building any node.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from robot_rl.errors import ExecutableNotFoundError, GraphError, LaunchError, RobotRLError
from robot_rl.runtime.executables import node_class, node_executables, stand_in
from robot_rl.runtime.interfaces import PUBLISHER, SUBSCRIPTION, NodeInterface
from robot_rl.runtime.launch_file import LaunchPlan, NodeSpec
from robot_rl.runtime.log import InprocLogger
from robot_rl.runtime.names import fully_qualified_node_name, resolve_topic_name, validate_node_name
from robot_rl.runtime.node import Node
from robot_rl.runtime.node_interfaces import INTERFACES
from robot_rl.runtime.params import ParameterValue, pattern_matches
from robot_rl.runtime.ros_args import ParamsFileRule, node_parameter_overrides, parse_ros_args
from robot_rl.runtime.substitutions import PACKAGE, package_prefix

if TYPE_CHECKING:
    from robot_rl.runtime.inproc import InprocContext


def _warn_unmatched_params_keys(plan: LaunchPlan, node_names: list[str]) -> None:
    """Log one WARN line for each node key of the plan's params files that matches none of ``node_names``.

    Wildcard keys (``/**``) that match at least one node are fine.
    """
    paths = dict.fromkeys(
        source.path
        for spec in plan.nodes
        for source in parse_ros_args(spec.argv).parameter_sources
        if isinstance(source, ParamsFileRule)
    )
    logger = InprocLogger("launch", "info")
    for path in paths:
        for pattern in plan.load_params(path):
            if not any(pattern_matches(pattern, name) for name in node_names):
                logger.warning(
                    f"params file {path}: node key {pattern!r} matches no node of this launch ({', '.join(node_names)})"
                )


def build_inproc(plan: LaunchPlan, realtime: bool = False) -> tuple[InprocContext, list[Node]]:
    """Create every node of the plan in one in-process context, without spinning it.

    A node whose entry has no ``on_exit: shutdown`` ends alone when it asks to end; one with it ends the
    graph (as under ros2 launch). If a node cannot be built, the ones built before it are destroyed.
    """
    from robot_rl.runtime.inproc import InprocContext  # the message classes: only where nodes run

    plan.write_params_files()
    context = InprocContext(realtime=realtime)
    nodes: list[Node] = []
    for spec in plan.nodes:
        try:
            node = node_class(spec.package, spec.executable)(context=context, cli_args=spec.argv)
        except RobotRLError as error:
            for built in nodes:
                built.destroy_node()
            raise type(error)(f"{spec.where}: {error}") from None
        context.set_on_exit(node, spec.on_exit == "shutdown")
        nodes.append(node)
    _warn_unmatched_params_keys(plan, [node.get_fully_qualified_name() for node in nodes])
    return context, nodes


def spin_inproc(context: InprocContext, nodes: list[Node]) -> None:
    """Spin built nodes until shutdown, idleness or Ctrl-C, then destroy them (even after an error)."""
    try:
        context.spin()
    except KeyboardInterrupt:
        context.shutdown("interrupted (Ctrl-C)")
    finally:
        _destroy_all([node for node in nodes if all(node is not ended for ended in context.ended)])


def _destroy_all(nodes: list[Node]) -> None:
    """Destroy every node, even after one raised (a recorder behind a failed learner still closes its dataset);
    the first error is raised once all are destroyed."""
    first: BaseException | None = None
    for node in nodes:
        try:
            node.destroy_node()
        except BaseException as error:
            first = first or error
    if first is not None:
        raise first


def run_inproc(plan: LaunchPlan, realtime: bool = False) -> InprocContext:
    """Build and spin the plan in one process until shutdown, idleness or Ctrl-C."""
    context, nodes = build_inproc(plan, realtime)
    spin_inproc(context, nodes)
    return context


def _find_script(package: str, executable: str) -> Path:
    """``<prefix>/lib/<package>/<executable>`` as ros2 launch finds it (the ament index), else here or on PATH."""
    folders = [Path(sys.prefix) / "lib" / package, Path(sys.prefix) / "bin"]
    with contextlib.suppress(LaunchError):  # no ament index (no ROS2), or not a package it knows
        folders.insert(0, package_prefix(package) / "lib" / package)
    for folder in folders:
        candidate = folder / executable
        if candidate.is_file():
            return candidate
    found = shutil.which(executable)
    if found is None:
        raise ExecutableNotFoundError(f"executable {package}/{executable} not found in lib/{package} or PATH")
    return Path(found)


def _name_in_argv(argv: list[str]) -> str | None:
    """Return the fully qualified node name that ``-r __node:=`` (and ``__ns``, else /) sets, or None."""
    args = parse_ros_args(argv)
    return fully_qualified_node_name(args.namespace or "/", args.node_name) if args.node_name else None


def run_processes(plan: LaunchPlan, poll_s: float = 0.1) -> int:
    """Start one process per node (as ros2 launch does); return the worst exit code.

    The launch ends when every process has ended, or when one whose entry says ``on_exit: shutdown`` has:
    the others are then stopped like ros2 launch's Shutdown action does (SIGINT, SIGTERM, SIGKILL). The
    params-file keys are checked against the node names the launch file gives (a node named only in its
    code leaves the check out: its name is not known here).
    """
    names = [name for spec in plan.nodes if (name := _name_in_argv(spec.argv)) is not None]
    if len(names) == len(plan.nodes):
        _warn_unmatched_params_keys(plan, names)
    plan.write_params_files()
    scripts = [_find_script(spec.package, spec.executable) for spec in plan.nodes]  # all found before any starts
    processes = [subprocess.Popen([str(script), *spec.argv]) for script, spec in zip(scripts, plan.nodes, strict=True)]
    ends_launch = [spec.on_exit == "shutdown" for spec in plan.nodes]
    try:
        while not all(process.poll() is not None for process in processes):
            if any(ends and process.poll() is not None for process, ends in zip(processes, ends_launch, strict=True)):
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
    return max(_stop(processes, plan.sigterm_timeout_s, plan.sigkill_timeout_s), default=0)


def _stop(processes: list[subprocess.Popen], sigterm_timeout_s: float, sigkill_timeout_s: float) -> list[int]:
    """SIGINT to every process still running, SIGTERM ``sigterm_timeout_s`` later, SIGKILL ``sigkill_timeout_s``
    after that, each to those still running (ros2 launch's escalation)."""
    for stop_signal, wait_s in ((signal.SIGINT, sigterm_timeout_s), (signal.SIGTERM, sigkill_timeout_s)):
        running = [process for process in processes if process.poll() is None]
        for process in running:
            process.send_signal(stop_signal)
        deadline = time.monotonic() + wait_s
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue
    for process in processes:
        if process.poll() is None:
            process.kill()
    return [process.wait() for process in processes]


@dataclass(frozen=True)
class TopicEndpoints:
    """One topic of a graph: its type and the nodes on each side."""

    name: str  # fully qualified, remapped topic name
    type_name: str  # pkg/msg/Name
    publishers: tuple[str, ...]  # node FQNs
    subscribers: tuple[str, ...]  # node FQNs


@dataclass(frozen=True)
class NodeDescription:
    """One node of a launch as its declared interface says it would run (nothing is built)."""

    fqn: str  # fully qualified node name
    executable: str  # package/executable
    parameters: dict[str, ParameterValue]  # the values of the parameters its interface declares
    endpoints: tuple[tuple[str, str, str], ...]  # (kind, fully qualified remapped topic, type)


def _interface_of(spec: NodeSpec) -> NodeInterface:
    package, executable = stand_in(spec.package, spec.executable)  # robot_state_publisher: robot_rl's equivalent
    if package != PACKAGE:
        raise ExecutableNotFoundError(
            f"{spec.where}: {spec.package}/{spec.executable}: only {PACKAGE}'s node interfaces are declared"
        )
    if executable not in node_executables():
        node_class(package, executable)  # raises the unknown-executable error
    if executable not in INTERFACES:
        raise ExecutableNotFoundError(
            f"{spec.where}: {PACKAGE}/{executable} has no interface declaration"
            " (add it to robot_rl/runtime/node_interfaces.py)"
        )
    return INTERFACES[executable]


def describe_node(spec: NodeSpec, plan: LaunchPlan) -> NodeDescription:
    """Describe one node of a plan from its declared interface and its command line, without building it.

    Raises:
        ExecutableNotFoundError: For an executable without a declared interface.
        RobotRLError: For a bad name or command line, or a parameter of the wrong type (as the node would).
    """
    interface = _interface_of(spec)
    ros_args = parse_ros_args(spec.argv)
    try:
        name = validate_node_name(ros_args.node_name or interface.name)
        namespace = ros_args.namespace or "/"
        fqn = fully_qualified_node_name(namespace, name)
        overrides = node_parameter_overrides(ros_args.parameter_sources, fqn, {}, plan.load_params)
        parameters = interface.parameters_with({key: o.value for key, o in overrides.items()}, fqn)
        endpoints = tuple(
            (kind, resolve_topic_name(topic, name, namespace, ros_args.remaps), type_name)
            for kind, topic, type_name in interface.endpoints_for(parameters)
        )
    except RobotRLError as error:
        raise type(error)(f"{spec.where}: {error}") from None
    return NodeDescription(fqn, f"{spec.package}/{spec.executable}", parameters, endpoints)


def describe_graph(plan: LaunchPlan) -> tuple[list[tuple[str, str]], list[TopicEndpoints]]:
    """Return the plan's nodes ``(fqn, package/executable)`` and topics, from the nodes' declared interfaces.

    Builds no node (like ``ros2 launch --print``): nothing is loaded, opened, started or written.

    Raises:
        GraphError: If two endpoints give one topic different types.
    """
    nodes = [describe_node(spec, plan) for spec in plan.nodes]
    _warn_unmatched_params_keys(plan, [node.fqn for node in nodes])
    types: dict[str, str] = {}
    sides: dict[tuple[str, str], set[str]] = {}
    for node in nodes:
        for kind, topic, type_name in node.endpoints:
            known = types.setdefault(topic, type_name)
            if known != type_name:
                raise GraphError(f"{node.fqn}: topic {topic} already has type {known}, cannot use it as {type_name}")
            sides.setdefault((topic, kind), set()).add(node.fqn)
    topics = [
        TopicEndpoints(
            name,
            types[name],
            tuple(sorted(sides.get((name, PUBLISHER), ()))),
            tuple(sorted(sides.get((name, SUBSCRIPTION), ()))),
        )
        for name in sorted(types)
    ]
    return [(node.fqn, node.executable) for node in nodes], topics
