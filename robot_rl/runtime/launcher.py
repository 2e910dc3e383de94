"""Run a :class:`~robot_rl.runtime.launch_file.LaunchPlan`: in one process, or one process per node.

The in-process backend builds every node in one :class:`InprocContext` and spins it.
Other backends start each node's executable with the argv that ros2 launch would use.
Both warn about a params-file node key that matches no node of the launch (a misspelled
``safty:`` section would otherwise be ignored, as rcl ignores it).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from robot_rl.errors import ExecutableNotFoundError, RobotRLError
from robot_rl.runtime import msg
from robot_rl.runtime.executables import node_class
from robot_rl.runtime.inproc import InprocContext, InprocLogger
from robot_rl.runtime.launch_file import LaunchPlan
from robot_rl.runtime.names import fully_qualified_node_name
from robot_rl.runtime.node import Node
from robot_rl.runtime.params import load_params_file, pattern_matches
from robot_rl.runtime.ros_args import ParamsFileRule, parse_ros_args


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
        for pattern in load_params_file(path):
            if not any(pattern_matches(pattern, name) for name in node_names):
                logger.warning(
                    f"params file {path}: node key {pattern!r} matches no node of this launch ({', '.join(node_names)})"
                )


def build_inproc(plan: LaunchPlan, realtime: bool = False) -> tuple[InprocContext, list[Node]]:
    """Create every node of the plan in one in-process context, without spinning it."""
    context = InprocContext(realtime=realtime)
    nodes = []
    for spec in plan.nodes:
        cls = node_class(spec.package, spec.executable)
        try:
            nodes.append(cls(context=context, cli_args=spec.argv))
        except RobotRLError as error:
            raise type(error)(f"{spec.where}: {error}") from None
    _warn_unmatched_params_keys(plan, [node.get_fully_qualified_name() for node in nodes])
    return context, nodes


def spin_inproc(context: InprocContext, nodes: list[Node]) -> None:
    """Spin built nodes until shutdown, idleness or Ctrl-C, then destroy them (even after an error)."""
    try:
        context.spin()
    except KeyboardInterrupt:
        context.shutdown("interrupted (Ctrl-C)")
    finally:
        for node in nodes:
            node.destroy_node()


def run_inproc(plan: LaunchPlan, realtime: bool = False) -> InprocContext:
    """Build and spin the plan in one process until shutdown, idleness or Ctrl-C."""
    context, nodes = build_inproc(plan, realtime)
    spin_inproc(context, nodes)
    return context


def _find_script(package: str, executable: str) -> Path:
    for folder in (Path(sys.prefix) / "lib" / package, Path(sys.prefix) / "bin"):
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


def run_processes(plan: LaunchPlan) -> int:
    """Start one process per node (as ros2 launch does); return the worst exit code.

    The params-file keys are checked against the node names the launch file gives (a node named only
    in its code leaves the check out: its name is not known here).
    """
    names = [name for spec in plan.nodes if (name := _name_in_argv(spec.argv)) is not None]
    if len(names) == len(plan.nodes):
        _warn_unmatched_params_keys(plan, names)
    processes = [subprocess.Popen([str(_find_script(s.package, s.executable)), *s.argv]) for s in plan.nodes]
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:
        codes = [_stop(process) for process in processes]
    return max(codes, default=0)


def _stop(process: subprocess.Popen, timeout_s: float = 5.0) -> int:
    """SIGINT, then SIGTERM, then SIGKILL, each after ``timeout_s`` (like ros2 launch)."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


@dataclass(frozen=True)
class TopicEndpoints:
    """One topic of a graph: its type and the nodes on each side."""

    name: str  # fully qualified, remapped topic name
    type_name: str  # pkg/msg/Name
    publishers: tuple[str, ...]  # node FQNs
    subscribers: tuple[str, ...]  # node FQNs


def describe_graph(plan: LaunchPlan) -> tuple[list[tuple[str, str]], list[TopicEndpoints]]:
    """Return the plan's nodes ``(fqn, package/executable)`` and topics, without spinning."""
    context, nodes = build_inproc(plan)
    graph = context.graph
    node_rows = [
        (node.get_fully_qualified_name(), f"{s.package}/{s.executable}")
        for node, s in zip(nodes, plan.nodes, strict=True)
    ]
    topics = []
    for name in sorted(graph.topic_types):
        topics.append(
            TopicEndpoints(
                name,
                msg.message_type_name(graph.topic_types[name]),
                tuple(sorted({p.node.fqn for p in graph.publishers if p.topic_name == name})),
                tuple(sorted({s.node.fqn for s in graph.subscriptions(name)})),
            )
        )
    for node in nodes:
        node.destroy_node()
    return node_rows, topics
