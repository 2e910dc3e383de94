"""The node API that every robot_rl node is written against, with rclpy's names.

A node subclasses :class:`Node` exactly as it would subclass ``rclpy.node.Node``::

    class Talker(Node):
        def __init__(self, **kwargs):
            super().__init__("talker", **kwargs)
            self.rate_hz = self.declare_parameter("rate_hz", 10.0, "publish rate, Hz").value
            self.pub = self.create_publisher(msg.String, "chatter", 10)
            self.create_timer(1.0 / self.rate_hz, self.tick)

The work is delegated to a backend implementation (:class:`NodeImpl`) chosen by the
:class:`Context`: in-process, rclpy, or later DDS.
"""

from __future__ import annotations

import abc
import difflib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from robot_rl.errors import MessageError, ParameterError, RobotRLError
from robot_rl.runtime.backend import selected_backend_name
from robot_rl.runtime.params import Parameter, ParameterOverride, ParameterValue
from robot_rl.runtime.qos import QoSProfile, as_qos, incompatibility

DROP_LOG_PERIOD_S = 1.0  # at most one "dropped a message" log line per subscription per this much wall time


class Logger(Protocol):
    """What ``get_logger()`` returns: rclpy's logger methods."""

    def debug(self, message: str) -> Any: ...
    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...
    def error(self, message: str) -> Any: ...
    def fatal(self, message: str) -> Any: ...


class Publisher(Protocol):
    """A publisher handle."""

    topic_name: str

    def publish(self, message: Any) -> None: ...


class NodeImpl(abc.ABC):
    """One backend's implementation of a node; :class:`Node` forwards to it."""

    @abc.abstractmethod
    def get_name(self) -> str: ...
    @abc.abstractmethod
    def get_namespace(self) -> str: ...
    @abc.abstractmethod
    def create_publisher(self, msg_type: type, topic: str, qos: QoSProfile) -> Publisher: ...
    @abc.abstractmethod
    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile,
        on_incompatible_qos: Callable[[str], None] | None,
    ) -> Any: ...
    @abc.abstractmethod
    def publishers_info(self, topic: str) -> list[tuple[str, QoSProfile]]:
        """Return (node's fully qualified name, offered QoS) of every publisher on ``topic`` (resolved)."""

    @abc.abstractmethod
    def create_timer(self, period_s: float, callback: Callable[[], None]) -> Any: ...
    @abc.abstractmethod
    def declare_parameter(
        self, name: str, default_value: ParameterValue, description: str, read_only: bool
    ) -> Parameter: ...
    @abc.abstractmethod
    def get_parameter(self, name: str) -> Parameter: ...
    @abc.abstractmethod
    def declared_parameter_names(self) -> list[str]:
        """Return the names of every declared parameter, ``use_sim_time`` included."""

    @abc.abstractmethod
    def parameter_overrides(self) -> dict[str, ParameterOverride]:
        """Return every override that applies to this node (command line, params files, constructor), by name."""

    @abc.abstractmethod
    def get_logger(self) -> Logger: ...
    @abc.abstractmethod
    def get_clock(self) -> Any: ...
    @abc.abstractmethod
    def resolve_topic_name(self, topic: str) -> str: ...
    @abc.abstractmethod
    def destroy(self) -> None: ...


class Context(abc.ABC):
    """A backend's process-wide state: it creates node implementations and spins them."""

    backend: str

    @abc.abstractmethod
    def create_node_impl(
        self,
        node: Node,
        node_name: str,
        namespace: str,
        cli_args: list[str],
        parameter_overrides: dict[str, ParameterValue],
    ) -> NodeImpl: ...

    @abc.abstractmethod
    def spin(self) -> None:
        """Run callbacks until shutdown (or, in-process, until nothing is left to run)."""

    @abc.abstractmethod
    def shutdown(self, reason: str = "") -> None:
        """Stop spinning and release resources."""

    @abc.abstractmethod
    def ok(self) -> bool:
        """Return False once shut down."""

    def end_node(self, node: Node, reason: str) -> None:
        """A node asked to end (:meth:`Node.request_shutdown`): its process ends, so the context shuts down.

        The in-process context runs a whole launch in one process: there a node that a launch file started
        without ``on_exit: shutdown`` ends alone, as its own process would under ros2 launch.
        """
        self.shutdown(reason)


def create_context(args: list[str] | None = None) -> Context:
    """Create the context of the selected backend (see :mod:`robot_rl.runtime.backend`).

    Args:
        args: Process-wide arguments, including ``--ros-args``. In-process contexts
            ignore them (each node gets its own ``cli_args``); rclpy uses them as
            global arguments, as ``rclpy.init(args=...)`` does.
    """
    backend = selected_backend_name()
    if backend == "rclpy":
        from robot_rl.runtime.rclpy_backend import RclpyContext

        return RclpyContext(args or [])
    from robot_rl.runtime.inproc import InprocContext

    return InprocContext()


class _NodeType(type):
    """The metaclass of :class:`Node`: checks the parameter overrides once the whole ``__init__`` returned."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        node = super().__call__(*args, **kwargs)
        try:
            node._check_parameter_overrides()
        except ParameterError:
            node.destroy_node()  # a refused node leaves no publisher, subscription or timer behind
            raise
        return node


def _unknown_parameters_message(
    fully_qualified_name: str, unknown: dict[str, ParameterOverride], declared: list[str]
) -> str:
    items = []
    for name, override in sorted(unknown.items()):
        close = difflib.get_close_matches(name, declared, n=1)
        items.append(f"{name!r} (from {override.source}{f'; did you mean {close[0]!r}?' if close else ''})")
    plural = "s" if len(items) > 1 else ""
    return (
        f"{fully_qualified_name}: unknown parameter{plural} {', '.join(items)}:"
        " this node accepts only the parameters it declares"
    )


class Node(metaclass=_NodeType):
    """Base class of every robot_rl node (rclpy's Node API, backend-independent).

    Once a node's ``__init__`` has returned, overrides it never declared are checked. By default
    they are ignored, as in ROS2, with one WARN line naming them. A class with ``strict_parameters``
    (the safety gate, the robot driver) refuses them instead: an undeclared override *addressed* to
    the node (its own ``-p``, a params-file section under its name, its launch ``param:`` entries,
    ``parameter_overrides``; not a wildcard section such as ``/**`` of a shared params file, see
    :func:`~robot_rl.runtime.ros_args.node_parameter_overrides`) raises a one-line ParameterError
    with a "did you mean" hint, and the node is destroyed before it could publish.
    """

    strict_parameters: ClassVar[bool] = False  # True: an undeclared override addressed to the node is an error

    def __init__(
        self,
        node_name: str,
        *,
        context: Context,
        namespace: str = "",
        cli_args: list[str] | None = None,
        parameter_overrides: dict[str, ParameterValue] | None = None,
    ) -> None:
        """Create the node in ``context``.

        Args:
            node_name: The node's name in code; ``-r __node:=`` may change it.
            context: The backend context (from :func:`create_context` or the launcher).
            namespace: The namespace in code, relative or absolute; ``-r __ns:=`` wins.
            cli_args: This node's own arguments (``--ros-args ...``), as ros2 launch passes them.
            parameter_overrides: Values that win over every other source, as in rclpy.
        """
        self.context = context
        self._impl = context.create_node_impl(self, node_name, namespace, cli_args or [], parameter_overrides or {})

    def get_name(self) -> str:
        """Return the node's (remapped) name."""
        return self._impl.get_name()

    def get_namespace(self) -> str:
        """Return the node's absolute (remapped) namespace."""
        return self._impl.get_namespace()

    def get_fully_qualified_name(self) -> str:
        """Return ``/namespace/name``."""
        namespace = self.get_namespace()
        return ("" if namespace == "/" else namespace) + "/" + self.get_name()

    def create_publisher(self, msg_type: type, topic: str, qos: QoSProfile | int) -> Publisher:
        """Create a publisher; ``topic`` is resolved and remapped like in rclpy."""
        return self._impl.create_publisher(msg_type, topic, as_qos(qos))

    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile | int,
        *,
        on_incompatible_qos: Callable[[str], None] | None = None,
    ) -> Any:
        """Create a subscription whose callback receives each message.

        A :class:`MessageError` raised by ``callback`` (a malformed message) drops that message with an
        error log line, at most one per ``DROP_LOG_PERIOD_S`` per subscription, instead of stopping the
        node; any other exception (a bug) propagates. ``on_incompatible_qos`` is called with a one-line reason
        when a publisher on the topic offers a QoS this subscription cannot receive from (under DDS its
        messages never arrive, and nothing else says so).
        """
        return self._impl.create_subscription(
            msg_type, topic, _DropMalformed(self, topic, callback), as_qos(qos), on_incompatible_qos
        )

    def publisher_nodes(self, topic: str) -> list[str]:
        """Return the fully qualified name of each node with a publisher on ``topic`` (resolved), as the graph knows
        them now (under DDS, the nodes discovered so far)."""
        return [node for node, _ in self._impl.publishers_info(topic)]

    def incompatible_publishers(self, topic: str, qos: QoSProfile | int) -> list[str]:
        """Return ``"<node>: <why>"`` for each publisher on ``topic`` that a subscription with ``qos`` cannot receive
        from (under DDS its messages never arrive); empty when every one matches."""
        wanted = as_qos(qos)
        found = []
        for node, offered in self._impl.publishers_info(topic):
            reason = incompatibility(offered, wanted)
            if reason is not None:
                found.append(f"{node}: {reason}")
        return found

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> Any:
        """Call ``callback`` every ``period_s`` seconds of the node's ROS clock (sim time if enabled)."""
        if not period_s > 0:
            raise RobotRLError(f"{self.get_fully_qualified_name()}: timer period must be > 0 s, got {period_s}")
        return self._impl.create_timer(period_s, callback)

    def declare_parameter(
        self, name: str, default_value: ParameterValue, description: str = "", *, read_only: bool = False
    ) -> Parameter:
        """Declare a typed parameter; an override of another type raises ParameterTypeError."""
        return self._impl.declare_parameter(name, default_value, description, read_only)

    def get_parameter(self, name: str) -> Parameter:
        """Return a declared parameter (``.value`` holds its value)."""
        return self._impl.get_parameter(name)

    def _check_parameter_overrides(self) -> None:
        """Refuse (strict node) or warn about the overrides this node never declared (likely typos)."""
        declared = self._impl.declared_parameter_names()
        undeclared = {name: o for name, o in self._impl.parameter_overrides().items() if name not in declared}
        refused = {name: o for name, o in undeclared.items() if o.addressed} if self.strict_parameters else {}
        if refused:
            raise ParameterError(_unknown_parameters_message(self.get_fully_qualified_name(), refused, declared))
        if undeclared:
            names = ", ".join(sorted(undeclared))
            self.get_logger().warning(f"parameters set but never declared by this node: {names}")

    def get_logger(self) -> Logger:
        """Return the node's logger."""
        return self._impl.get_logger()

    def get_clock(self) -> Any:
        """Return the node's ROS clock; ``get_clock().now()`` follows use_sim_time."""
        return self._impl.get_clock()

    def resolve_topic_name(self, topic: str) -> str:
        """Return the fully qualified, remapped name that ``topic`` resolves to in this node."""
        return self._impl.resolve_topic_name(topic)

    def request_shutdown(self, reason: str) -> None:
        """End this node's run (e.g. a sim node that finished its episodes), as its process would end.

        A node run alone ends its context. In a launch, the node ends, and the whole launch with it when its
        launch entry says ``on_exit: shutdown`` (ros2 launch and robot-rl launch alike; see
        :meth:`Context.end_node`).
        """
        self.get_logger().info(f"shutdown requested: {reason}")
        self.context.end_node(self, reason)

    def destroy_node(self) -> None:
        """Remove the node's publishers, subscriptions and timers from the graph."""
        self._impl.destroy()


class _DropMalformed:
    """A subscription callback that drops a message its callback rejects with MessageError, and logs it."""

    def __init__(self, node: Node, topic: str, callback: Callable[[Any], None]) -> None:
        self.node = node
        self.topic = topic
        self.callback = callback
        self.last_log_s = -math.inf  # time.monotonic() of the last log line
        self.unlogged = 0  # messages dropped since the last log line

    def __call__(self, message: Any) -> None:
        try:
            self.callback(message)
        except MessageError as error:
            # wall time, not the node clock: the log is what a flood must not swamp, also under sim time
            now_s = time.monotonic()
            if now_s - self.last_log_s < DROP_LOG_PERIOD_S:
                self.unlogged += 1
                return
            more = f" ({self.unlogged} more dropped since the last report)" if self.unlogged else ""
            self.node.get_logger().error(
                f"dropped a message on {self.node.resolve_topic_name(self.topic)}: {error}{more}"
            )
            self.last_log_s, self.unlogged = now_s, 0


@dataclass(frozen=True)
class NodeMain:
    """The ``main`` of a node executable: ``main = NodeMain(Talker)`` in the node's module.

    Console scripts point at it, and the in-process launcher reads ``node_class``
    from it, so setup.cfg's ``console_scripts`` is the one list of executables.
    """

    node_class: type[Node]  # the Node subclass this executable runs

    def __call__(self, args: list[str] | None = None) -> int:
        """Run the node until Ctrl-C or shutdown; return the process exit code."""
        argv = sys.argv[1:] if args is None else list(args)
        context: Context | None = None
        node: Node | None = None
        try:
            context = create_context(argv)
            node = self.node_class(context=context, cli_args=argv)
            context.spin()
        except KeyboardInterrupt:
            pass
        except RobotRLError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            if node is not None:
                node.destroy_node()  # also on Ctrl-C: nodes release devices and simulators here
            if context is not None and context.ok():
                context.shutdown("process exit")
        return 0
