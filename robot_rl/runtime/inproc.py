"""The in-process backend: every node of a launch in one process, on one thread.

Delivery is deterministic. Each subscription keeps a queue of ``depth`` messages
(the oldest are dropped, like KEEP_LAST). The executor always runs the ready
callback that became ready first: incompatible-QoS events (queued when a publisher and a
subscription that cannot match meet), then pending messages in global publish order, then due
timers in (due time, creation) order. Messages are passed by reference.

Time. Nodes with ``use_sim_time`` read the last ``/clock`` value (zero before the
first), and their timers advance only with it. Other clocks read the executor's
system time, which is either the real wall clock (``realtime=True``) or a virtual
clock that jumps straight to the next due timer when the graph is quiet. With a
simulator node that publishes ``/clock`` from such a timer, the whole graph runs in
lockstep as fast as the CPU allows: publish, run every triggered callback until
quiet, step.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from robot_rl.errors import GraphError, ParameterError
from robot_rl.runtime import msg
from robot_rl.runtime.clock import Clock, ClockType
from robot_rl.runtime.log import InprocLogger
from robot_rl.runtime.names import (
    fully_qualified_node_name,
    make_namespace_absolute,
    resolve_topic_name,
    validate_node_name,
)
from robot_rl.runtime.node import Context, Node, NodeImpl
from robot_rl.runtime.params import (
    Parameter,
    ParameterOverride,
    ParameterValue,
    check_parameter_value,
    parameter_type_of,
)
from robot_rl.runtime.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, incompatibility
from robot_rl.runtime.ros_args import node_parameter_overrides, parse_ros_args

CLOCK_TOPIC = "/clock"


@dataclass(eq=False)
class InprocSubscription:
    """A subscription: its callback and a bounded queue of (sequence number, message)."""

    node: InprocNode  # owner
    topic_name: str  # fully qualified, remapped
    msg_type: type  # message class
    callback: Callable[[Any], None]  # called with each message
    qos: QoSProfile  # depth, history, reliability, durability
    on_incompatible_qos: Callable[[str], None] | None = None  # called with why a publisher cannot reach it
    queue: deque = field(default_factory=deque)  # pending (sequence, message)

    def __post_init__(self) -> None:
        if self.qos.history == HistoryPolicy.KEEP_LAST:
            self.queue = deque(maxlen=self.qos.depth)


@dataclass(eq=False)
class InprocPublisher:
    """A publisher; TRANSIENT_LOCAL publishers keep their last ``depth`` messages."""

    node: InprocNode  # owner
    topic_name: str  # fully qualified, remapped
    msg_type: type  # message class
    qos: QoSProfile  # depth, history, reliability, durability
    graph: InprocGraph  # where messages go
    history: deque = field(default_factory=deque)  # kept for late joiners (transient local)

    def __post_init__(self) -> None:
        self.history = deque(maxlen=self.qos.depth)

    def publish(self, message: Any) -> None:
        """Queue ``message`` on every matching subscription."""
        if not isinstance(message, self.msg_type):
            raise GraphError(
                f"{self.node.fqn}: published a {type(message).__name__} on {self.topic_name},"
                f" which has type {msg.message_type_name(self.msg_type)}"
            )
        self.graph.deliver(self, message)

    def get_subscription_count(self) -> int:
        """Return how many subscriptions match this publisher."""
        return sum(1 for sub in self.graph.subscriptions(self.topic_name) if incompatibility(self.qos, sub.qos) is None)


@dataclass(eq=False)
class InprocTimer:
    """A periodic timer on one node clock. Missed periods are skipped, as in rcl."""

    node: InprocNode  # owner
    clock: Clock  # the node's ROS clock
    period_ns: int  # period, ns
    callback: Callable[[], None]  # called when due
    next_due_ns: int  # next time the timer fires, ns on ``clock``
    order: int  # creation order, to break ties
    on_sim_time: bool  # True if ``clock`` reads /clock (it then advances only with /clock)
    canceled: bool = False  # True stops the timer

    def cancel(self) -> None:
        """Stop the timer."""
        self.canceled = True

    def reset(self) -> None:
        """Start the timer again (also after a cancel): the next call one period from now, as rclpy's
        ``Timer.reset``."""
        self.canceled = False
        self.next_due_ns = self.clock.now().nanoseconds + self.period_ns

    def is_ready(self) -> bool:
        """Return True when the clock has reached the next due time."""
        return not self.canceled and self.clock.now().nanoseconds >= self.next_due_ns

    def fire(self) -> None:
        """Run the callback and schedule the next call after now."""
        now = self.clock.now().nanoseconds
        missed = (now - self.next_due_ns) // self.period_ns
        self.next_due_ns += (missed + 1) * self.period_ns
        self.callback()


class InprocGraph:
    """Topics, their endpoints, and the shared time sources of one process."""

    def __init__(self, realtime: bool) -> None:
        self.realtime = realtime
        self._virtual_ns = time.time_ns()
        self._sequence = itertools.count()
        self.timer_counter = itertools.count()
        self.sim_time_ns = 0
        self.topic_types: dict[str, type] = {}
        self.publishers: list[InprocPublisher] = []
        self._subscriptions: list[InprocSubscription] = []
        self.timers: list[InprocTimer] = []
        # (subscriber, its callback, reason) of incompatible-QoS events, run before any message (as rclpy reports
        # them on discovery)
        self.events: deque[tuple[InprocNode, Callable[[str], None], str]] = deque()

    def system_time_ns(self) -> int:
        """Return wall time (realtime mode) or the virtual wall time."""
        return time.time_ns() if self.realtime else self._virtual_ns

    def advance_virtual_time(self, to_ns: int) -> None:
        """Jump the virtual wall clock forward (never backwards)."""
        self._virtual_ns = max(self._virtual_ns, to_ns)

    def subscriptions(self, topic_name: str) -> list[InprocSubscription]:
        """Return the subscriptions of one topic."""
        return [sub for sub in self._subscriptions if sub.topic_name == topic_name]

    def all_subscriptions(self) -> list[InprocSubscription]:
        """Return every subscription, in creation order."""
        return list(self._subscriptions)

    def _check_type(self, topic_name: str, msg_type: type, fqn: str) -> None:
        known = self.topic_types.setdefault(topic_name, msg_type)
        if known is not msg_type:
            raise GraphError(
                f"{fqn}: topic {topic_name} already has type {msg.message_type_name(known)},"
                f" cannot use it as {msg.message_type_name(msg_type)}"
            )

    def _match(self, publisher: InprocPublisher, subscription: InprocSubscription) -> bool:
        """Whether ``publisher`` reaches ``subscription``; if not, queue the subscription's incompatible-QoS event."""
        reason = incompatibility(publisher.qos, subscription.qos)
        if reason is not None and subscription.on_incompatible_qos is not None:
            reason = f"{publisher.node.fqn} on {publisher.topic_name}: {reason}"
            self.events.append((subscription.node, subscription.on_incompatible_qos, reason))
        return reason is None

    def add_publisher(self, publisher: InprocPublisher) -> None:
        """Register a publisher, checking the topic's type and each subscription's QoS against it."""
        self._check_type(publisher.topic_name, publisher.msg_type, publisher.node.fqn)
        self.publishers.append(publisher)
        for subscription in self.subscriptions(publisher.topic_name):
            self._match(publisher, subscription)

    def add_subscription(self, subscription: InprocSubscription) -> None:
        """Register a subscription; a TRANSIENT_LOCAL one gets the publishers' kept messages."""
        self._check_type(subscription.topic_name, subscription.msg_type, subscription.node.fqn)
        self._subscriptions.append(subscription)
        latched = subscription.qos.durability == DurabilityPolicy.TRANSIENT_LOCAL
        for publisher in self.publishers:
            if publisher.topic_name == subscription.topic_name and self._match(publisher, subscription) and latched:
                for message in publisher.history:
                    subscription.queue.append((next(self._sequence), message))

    def remove_node(self, node: InprocNode) -> None:
        """Drop every endpoint and timer of a node."""
        self.publishers = [p for p in self.publishers if p.node is not node]
        self._subscriptions = [s for s in self._subscriptions if s.node is not node]
        self.events = deque(event for event in self.events if event[0] is not node)
        self.timers = [t for t in self.timers if t.node is not node]

    def deliver(self, publisher: InprocPublisher, message: Any) -> None:
        """Queue a message on each compatible subscription of its topic."""
        if publisher.topic_name == CLOCK_TOPIC and isinstance(message, msg.Clock):
            self.sim_time_ns = message.clock.sec * 1_000_000_000 + message.clock.nanosec
        if publisher.qos.durability == DurabilityPolicy.TRANSIENT_LOCAL:
            publisher.history.append(message)
        sequence = next(self._sequence)
        for subscription in self.subscriptions(publisher.topic_name):
            if incompatibility(publisher.qos, subscription.qos) is None:
                subscription.queue.append((sequence, message))


class InprocNode(NodeImpl):
    """The in-process implementation of one node."""

    def __init__(
        self,
        graph: InprocGraph,
        node: Node,
        node_name: str,
        namespace: str,
        cli_args: list[str],
        parameter_overrides: dict[str, ParameterValue],
    ) -> None:
        ros_args = parse_ros_args(cli_args)
        self.graph = graph
        self.node = node
        self.name = validate_node_name(ros_args.node_name or node_name)
        self.namespace = make_namespace_absolute(ros_args.namespace or namespace)
        self.fqn = fully_qualified_node_name(self.namespace, self.name)
        self.remaps = ros_args.remaps
        logger_name = self.fqn.lstrip("/").replace("/", ".")  # rcl's node logger name: ns.node
        self.logger = InprocLogger(
            logger_name, ros_args.log_levels.get(logger_name, ros_args.log_levels.get("", "info"))
        )
        self.overrides = node_parameter_overrides(ros_args.parameter_sources, self.fqn, parameter_overrides)
        self.parameters: dict[str, Parameter] = {}
        self.use_sim_time = bool(self.declare_parameter("use_sim_time", False, "read time from /clock", False).value)
        source = (lambda: graph.sim_time_ns) if self.use_sim_time else graph.system_time_ns
        self.clock = Clock(ClockType.ROS_TIME, source)

    def get_name(self) -> str:
        return self.name

    def get_namespace(self) -> str:
        return self.namespace

    def resolve_topic_name(self, topic: str) -> str:
        return resolve_topic_name(topic, self.name, self.namespace, self.remaps)

    def create_publisher(self, msg_type: type, topic: str, qos: QoSProfile) -> InprocPublisher:
        publisher = InprocPublisher(self, self.resolve_topic_name(topic), msg_type, qos, self.graph)
        self.graph.add_publisher(publisher)
        return publisher

    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile,
        on_incompatible_qos: Callable[[str], None] | None,
    ) -> InprocSubscription:
        subscription = InprocSubscription(
            self, self.resolve_topic_name(topic), msg_type, callback, qos, on_incompatible_qos
        )
        self.graph.add_subscription(subscription)
        return subscription

    def publishers_info(self, topic: str) -> list[tuple[str, QoSProfile]]:
        name = self.resolve_topic_name(topic)
        return [(pub.node.fqn, pub.qos) for pub in self.graph.publishers if pub.topic_name == name]

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> InprocTimer:
        period_ns = max(1, round(period_s * 1e9))
        order = next(self.graph.timer_counter)
        due = self.clock.now().nanoseconds + period_ns
        timer = InprocTimer(self, self.clock, period_ns, callback, due, order, self.use_sim_time)
        self.graph.timers.append(timer)
        return timer

    def declare_parameter(
        self, name: str, default_value: ParameterValue, description: str, read_only: bool
    ) -> Parameter:
        if name in self.parameters:
            raise ParameterError(f"{self.fqn}: parameter {name!r} is already declared")
        try:
            expected = parameter_type_of(default_value)
        except ValueError as error:
            raise ParameterError(f"{self.fqn}: parameter {name!r} has a bad default: {error}") from None
        override = self.overrides.get(name, ParameterOverride(default_value, "default", addressed=False))
        value = check_parameter_value(name, expected, override.value, f"node {self.fqn}, {override.source}")
        parameter = Parameter(name, value, expected, description, read_only)
        self.parameters[name] = parameter
        return parameter

    def get_parameter(self, name: str) -> Parameter:
        if name not in self.parameters:
            raise ParameterError(f"{self.fqn}: parameter {name!r} is not declared")
        return self.parameters[name]

    def declared_parameter_names(self) -> list[str]:
        return list(self.parameters)

    def parameter_overrides(self) -> dict[str, ParameterOverride]:
        return self.overrides

    def get_logger(self) -> InprocLogger:
        return self.logger

    def get_clock(self) -> Clock:
        return self.clock

    def destroy(self) -> None:
        self.graph.remove_node(self)


class InprocContext(Context):
    """Nodes sharing one graph and one single-threaded deterministic executor."""

    backend = "inproc"

    def __init__(self, realtime: bool = False) -> None:
        self.graph = InprocGraph(realtime=realtime)
        self._shutdown_reason: str | None = None
        self._ends_alone: set[Node] = set()  # nodes a launch file started without on_exit: shutdown
        self._ending: list[tuple[Node, str]] = []  # nodes that asked to end, destroyed after their callback
        self.ended: list[Node] = []  # nodes that ended (and were destroyed) while the others went on

    def set_on_exit(self, node: Node, shutdown: bool) -> None:
        """Say what a launched node's end does: ``shutdown`` ends the whole graph (``on_exit: shutdown``), else
        the node ends alone, as its process would under ros2 launch. A node not set here ends the graph."""
        if shutdown:
            self._ends_alone.discard(node)
        else:
            self._ends_alone.add(node)

    def end_node(self, node: Node, reason: str) -> None:
        if node not in self._ends_alone:
            self.shutdown(reason)
        elif all(node is not other for other, _ in self._ending):
            self._ending.append((node, reason))

    def _finish_ended_nodes(self) -> None:
        """Destroy the nodes that asked to end (after their callback returned, as a process exits after it)."""
        while self._ending:
            node, reason = self._ending.pop(0)
            InprocLogger("launch", "info").info(f"{node.get_fully_qualified_name()} ended ({reason}); the rest goes on")
            self._ends_alone.discard(node)
            self.ended.append(node)
            node.destroy_node()

    def create_node_impl(
        self,
        node: Node,
        node_name: str,
        namespace: str,
        cli_args: list[str],
        parameter_overrides: dict[str, ParameterValue],
    ) -> InprocNode:
        return InprocNode(self.graph, node, node_name, namespace, cli_args, parameter_overrides)

    def ok(self) -> bool:
        return self._shutdown_reason is None

    @property
    def shutdown_reason(self) -> str | None:
        """Why the context was shut down, or None while it runs."""
        return self._shutdown_reason

    def shutdown(self, reason: str = "") -> None:
        if self._shutdown_reason is None:
            self._shutdown_reason = reason or "shutdown"

    @staticmethod
    def _pop_oldest(subscriptions: list[InprocSubscription]) -> Callable[[], None] | None:
        """Dequeue the oldest pending message of ``subscriptions`` (publish order); return its callback call."""
        pending = [subscription for subscription in subscriptions if subscription.queue]
        if not pending:
            return None
        subscription = min(pending, key=lambda sub: sub.queue[0][0])
        _, message = subscription.queue.popleft()
        return lambda: subscription.callback(message)

    def _next_ready(self) -> Callable[[], None] | None:
        if self.graph.events:
            _, report, reason = self.graph.events.popleft()
            return lambda: report(reason)
        work = self._pop_oldest(self.graph.all_subscriptions())
        if work is not None:
            return work
        ready = [timer for timer in self.graph.timers if timer.is_ready()]
        if ready:
            timer = min(ready, key=lambda t: (t.next_due_ns, t.order))
            return timer.fire
        return None

    def spin_once(self) -> bool:
        """Run one ready callback; return False if none was ready."""
        self._finish_ended_nodes()
        work = self._next_ready()
        if work is None:
            return False
        try:
            work()
        finally:
            self._finish_ended_nodes()
        return True

    def deliver_pending(self, fqn: str) -> int:
        """Run the callbacks of messages already queued for node ``fqn``, in publish order; return the count.

        For an observer after the graph shut itself down: the message that ended the graph (say, the last
        episode's outcome) may still sit in the observer's queue. Runs even after shutdown; no timers run.
        """
        subscriptions = [
            subscription for subscription in self.graph.all_subscriptions() if subscription.node.fqn == fqn
        ]
        count = 0
        while (work := self._pop_oldest(subscriptions)) is not None:
            work()
            count += 1
        return count

    def spin_until_quiet(self, max_callbacks: int = 1_000_000) -> int:
        """Run ready callbacks until none is left, without advancing time; return the count.

        Raises:
            GraphError: If more than ``max_callbacks`` run (a callback loop that never settles).
        """
        count = 0
        while self.ok() and self.spin_once():
            count += 1
            if count > max_callbacks:
                raise GraphError(f"the graph did not settle after {max_callbacks} callbacks (a publish loop?)")
        return count

    def _next_wall_due_ns(self) -> int | None:
        dues = [t.next_due_ns for t in self.graph.timers if not t.canceled and not t.on_sim_time]
        return min(dues) if dues else None

    def spin(self) -> None:
        """Run until shutdown, or until no callback can ever become ready again."""
        while self.ok():
            self.spin_until_quiet()
            if not self.ok():
                break
            next_due = self._next_wall_due_ns()
            if next_due is None:
                self.shutdown("the graph is idle: no timer or message left to run")
                break
            if self.graph.realtime:
                time.sleep(max(0.0, (next_due - time.time_ns()) / 1e9))
            else:
                self.graph.advance_virtual_time(next_due)
