"""The ``robot-rl`` command: ``launch``, ``node`` and ``topics``.

Every user error (a bad launch file, a missing file, a wrong parameter type, an
unknown executable) is printed as one line starting with ``error:`` and exits 1.
"""

from __future__ import annotations

import argparse
import sys

from robot_rl.errors import RobotRLError
from robot_rl.runtime.backend import BACKENDS, select_backend, selected_backend_name


def _launch_target(items: list[str]) -> tuple[object, dict[str, str]]:
    from robot_rl.runtime.launch_file import parse_launch_arguments, resolve_launch_path

    if not items:
        raise RobotRLError("give a launch file, or a package and a launch file name")
    if len(items) > 1 and ":=" not in items[1]:
        path = resolve_launch_path(items[0], items[1])
        rest = items[2:]
    else:
        path = resolve_launch_path(items[0])
        rest = items[1:]
    return path, parse_launch_arguments(rest)


def _backend(args: argparse.Namespace) -> str:
    """Apply ``--backend`` if given, else validate ROBOT_RL_BACKEND / auto-detection."""
    return select_backend(args.backend) if args.backend else selected_backend_name()


def _cmd_launch(args: argparse.Namespace) -> int:
    from robot_rl.runtime.launch_file import read_launch_file
    from robot_rl.runtime.launcher import run_inproc, run_processes

    backend = _backend(args)
    path, arguments = _launch_target(args.target)
    plan = read_launch_file(path, arguments)  # type: ignore[arg-type]
    if backend == "inproc":
        context = run_inproc(plan, realtime=args.realtime)
        print(f"launch finished: {context.shutdown_reason}", file=sys.stderr)
        return 0
    return run_processes(plan)


def _cmd_node(args: argparse.Namespace) -> int:
    from robot_rl.runtime.executables import node_class
    from robot_rl.runtime.node import NodeMain

    _backend(args)
    return NodeMain(node_class("robot_rl", args.name))(args.node_args)


def _cmd_topics(args: argparse.Namespace) -> int:
    select_backend("inproc")
    from robot_rl.runtime.launch_file import read_launch_file
    from robot_rl.runtime.launcher import describe_graph

    path, arguments = _launch_target(args.target)
    nodes, topics = describe_graph(read_launch_file(path, arguments))  # type: ignore[arg-type]
    print(f"launch file: {path}")
    print("nodes:")
    for fqn, executable in nodes:
        print(f"  {fqn}  [{executable}]")
    print("topics:")
    for topic in topics:
        print(f"  {topic.name}  ({topic.type_name})")
        print(f"    publishers:  {', '.join(topic.publishers) or '-'}")
        print(f"    subscribers: {', '.join(topic.subscribers) or '-'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``robot-rl``."""
    parser = argparse.ArgumentParser(prog="robot-rl", description="robot_rl: run ROS2 launch files and nodes.")
    commands = parser.add_subparsers(dest="command", required=True)

    launch = commands.add_parser(
        "launch",
        help="run a ROS2 YAML launch file",
        description="Run FILE, or PACKAGE NAME.launch.yaml, with name:=value arguments.",
    )
    launch.add_argument("target", nargs="+", help="FILE | PACKAGE NAME.launch.yaml, then name:=value ...")
    launch.add_argument(
        "--backend",
        choices=BACKENDS,
        help="runtime backend (default: $ROBOT_RL_BACKEND, else rclpy if importable, else inproc)",
    )
    launch.add_argument(
        "--realtime", action="store_true", help="inproc: run wall timers in real time instead of as fast as possible"
    )
    launch.set_defaults(func=_cmd_launch)

    node = commands.add_parser(
        "node",
        help="run one node executable",
        description="Run node executable NAME; pass ROS arguments after --ros-args.",
    )
    node.add_argument("name", help="node executable name, e.g. demo_monitor")
    node.add_argument(
        "--backend",
        choices=BACKENDS,
        help="runtime backend (default: $ROBOT_RL_BACKEND, else rclpy if importable, else inproc)",
    )
    node.add_argument("node_args", nargs=argparse.REMAINDER, help="arguments for the node, e.g. --ros-args -p x:=1")
    node.set_defaults(func=_cmd_node)

    topics = commands.add_parser(
        "topics",
        help="list the nodes and topics of a launch file without running it",
        description="Print the nodes, topics, types, publishers and subscribers, with remaps and namespaces applied.",
    )
    topics.add_argument("target", nargs="+", help="FILE | PACKAGE NAME.launch.yaml, then name:=value ...")
    topics.set_defaults(func=_cmd_topics)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``robot-rl``."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RobotRLError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
