"""The rclpy backend: the same node classes on a real ROS2 install.

This is the only module (with the future DDS backend) that imports rclpy. Each
robot_rl :class:`~robot_rl.runtime.node.Node` gets an ``rclpy.node.Node`` and
forwards to it; name resolution, remapping, parameters and time are rclpy's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.exceptions import (
    InvalidNamespaceException,
    InvalidNodeNameException,
    InvalidParameterTypeException,
    InvalidTopicNameException,
    ParameterAlreadyDeclaredException,
    ParameterNotDeclaredException,
)
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node as RclpyNode
from rclpy.qos import DurabilityPolicy as RclpyDurability
from rclpy.qos import HistoryPolicy as RclpyHistory
from rclpy.qos import QoSPolicyKind
from rclpy.qos import QoSProfile as RclpyQoSProfile
from rclpy.qos import ReliabilityPolicy as RclpyReliability
from rclpy.signals import SignalHandlerOptions

from robot_rl.errors import InvalidNameError, ParameterError, ParameterTypeError, RosArgsError
from robot_rl.runtime.node import Context, Logger, Node, NodeImpl
from robot_rl.runtime.params import (
    Parameter,
    ParameterOverride,
    ParameterType,
    ParameterValue,
    load_params_file,
    parameter_type_of,
)
from robot_rl.runtime.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from robot_rl.runtime.ros_args import ParamsFileRule, node_parameter_overrides, parse_ros_args


def check_ros_args(args: list[str]) -> None:
    """Validate a command line with robot_rl's parser first, so bad input gets our one-line errors.

    rcl would reject the same input, but with its own exception types and messages.
    """
    for source in parse_ros_args(args).parameter_sources:
        if isinstance(source, ParamsFileRule):
            load_params_file(source.path)


def to_rclpy_qos(qos: QoSProfile) -> RclpyQoSProfile:
    """Convert a robot_rl QoSProfile to rclpy's."""
    return RclpyQoSProfile(
        depth=qos.depth,
        history=RclpyHistory.KEEP_LAST if qos.history == HistoryPolicy.KEEP_LAST else RclpyHistory.KEEP_ALL,
        reliability=(
            RclpyReliability.RELIABLE if qos.reliability == ReliabilityPolicy.RELIABLE else RclpyReliability.BEST_EFFORT
        ),
        durability=(
            RclpyDurability.TRANSIENT_LOCAL
            if qos.durability == DurabilityPolicy.TRANSIENT_LOCAL
            else RclpyDurability.VOLATILE
        ),
    )


def from_rclpy_qos(qos: RclpyQoSProfile) -> QoSProfile:
    """The reliability and durability a publisher offers, as a robot_rl QoSProfile (what decides a match)."""
    return QoSProfile(
        depth=max(1, int(qos.depth)),
        reliability=(
            ReliabilityPolicy.BEST_EFFORT
            if qos.reliability == RclpyReliability.BEST_EFFORT
            else ReliabilityPolicy.RELIABLE
        ),
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL
            if qos.durability == RclpyDurability.TRANSIENT_LOCAL
            else DurabilityPolicy.VOLATILE
        ),
    )


def _fqn(namespace: str, name: str) -> str:
    return ("" if namespace in ("", "/") else namespace.rstrip("/")) + "/" + name


class RclpyNodeImpl(NodeImpl):
    """Forwards the robot_rl node API to an ``rclpy.node.Node``."""

    def __init__(
        self,
        context: RclpyContext,
        node_name: str,
        namespace: str,
        cli_args: list[str],
        parameter_overrides: dict[str, ParameterValue],
    ) -> None:
        check_ros_args(cli_args)
        overrides = [rclpy.parameter.Parameter(name, value=value) for name, value in parameter_overrides.items()]
        try:
            self.node = RclpyNode(
                node_name,
                namespace=namespace or None,
                context=context.rclpy_context,
                cli_args=cli_args or None,
                parameter_overrides=overrides,
            )
        except (InvalidNodeNameException, InvalidNamespaceException) as error:
            raise InvalidNameError(str(error).splitlines()[0]) from None
        # rcl applies the overrides itself and ignores undeclared ones; robot_rl's table says which were set
        self.overrides = node_parameter_overrides(
            parse_ros_args(cli_args).parameter_sources, self.node.get_fully_qualified_name(), parameter_overrides
        )
        # name -> (type, description, read_only) of each parameter declared through robot_rl
        self.declared: dict[str, tuple[ParameterType, str, bool]] = {}
        context.executor.add_node(self.node)

    def get_name(self) -> str:
        return self.node.get_name()

    def get_namespace(self) -> str:
        return self.node.get_namespace()

    def resolve_topic_name(self, topic: str) -> str:
        try:
            return self.node.resolve_topic_name(topic)
        except Exception as error:  # rcl raises a bare RCLError for an invalid name
            raise InvalidNameError(f"invalid topic name {topic!r}: {str(error).splitlines()[0]}") from None

    def create_publisher(self, msg_type: type, topic: str, qos: QoSProfile) -> Any:
        try:
            return self.node.create_publisher(msg_type, topic, to_rclpy_qos(qos))
        except InvalidTopicNameException as error:
            raise InvalidNameError(str(error).splitlines()[0]) from None

    def create_subscription(
        self,
        msg_type: type,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile,
        on_incompatible_qos: Callable[[str], None] | None,
    ) -> Any:
        events = None
        if on_incompatible_qos is not None:

            def incompatible(info: QoSRequestedIncompatibleQoSInfo) -> None:
                try:
                    policy = QoSPolicyKind(info.last_policy_kind).name
                except ValueError:  # a kind this rclpy does not name: still report it
                    policy = str(info.last_policy_kind)
                on_incompatible_qos(f"a publisher offers a {policy} QoS this subscription cannot receive from")

            events = SubscriptionEventCallbacks(incompatible_qos=incompatible)
        try:
            return self.node.create_subscription(msg_type, topic, callback, to_rclpy_qos(qos), event_callbacks=events)
        except InvalidTopicNameException as error:
            raise InvalidNameError(str(error).splitlines()[0]) from None

    def publishers_info(self, topic: str) -> list[tuple[str, QoSProfile]]:
        infos = self.node.get_publishers_info_by_topic(self.resolve_topic_name(topic))
        return [(_fqn(info.node_namespace, info.node_name), from_rclpy_qos(info.qos_profile)) for info in infos]

    def create_timer(self, period_s: float, callback: Callable[[], None]) -> Any:
        return self.node.create_timer(period_s, callback)

    def _wrap(self, parameter: Any) -> Parameter:
        value = parameter.value
        if isinstance(value, tuple) or type(value).__module__ in ("array", "numpy"):
            value = list(value)
        type_, description, read_only = self.declared[parameter.name]
        return Parameter(parameter.name, value, type_, description, read_only)

    def declare_parameter(
        self, name: str, default_value: ParameterValue, description: str, read_only: bool
    ) -> Parameter:
        fqn = self.node.get_fully_qualified_name()
        try:
            type_ = parameter_type_of(default_value)
        except ValueError as error:
            raise ParameterError(f"{fqn}: parameter {name!r} has a bad default: {error}") from None
        descriptor = ParameterDescriptor(description=description, read_only=read_only)
        try:
            parameter = self.node.declare_parameter(name, default_value, descriptor)
        except InvalidParameterTypeException as error:
            raise ParameterTypeError(f"node {fqn}: parameter {name!r}: {error}") from None
        except ParameterAlreadyDeclaredException:
            raise ParameterError(f"{fqn}: parameter {name!r} is already declared") from None
        self.declared[name] = (type_, description, read_only)
        return self._wrap(parameter)

    def get_parameter(self, name: str) -> Parameter:
        if name == "use_sim_time" and name not in self.declared:
            self.declared[name] = (ParameterType.BOOL, "read time from /clock", False)
        try:
            parameter = self.node.get_parameter(name)
            if name not in self.declared:
                raise ParameterNotDeclaredException(name)
            return self._wrap(parameter)
        except ParameterNotDeclaredException:
            raise ParameterError(
                f"{self.node.get_fully_qualified_name()}: parameter {name!r} is not declared"
            ) from None

    def declared_parameter_names(self) -> list[str]:
        return list(self.node.list_parameters([], 0).names)

    def parameter_overrides(self) -> dict[str, ParameterOverride]:
        return self.overrides

    def get_logger(self) -> Logger:
        return self.node.get_logger()

    def get_clock(self) -> Any:
        return self.node.get_clock()

    def destroy(self) -> None:
        self.node.destroy_node()


class RclpyContext(Context):
    """An rclpy context and a single-threaded executor holding every node created in it."""

    backend = "rclpy"

    def __init__(self, args: list[str]) -> None:
        check_ros_args(args)
        self.rclpy_context = rclpy.context.Context()
        try:
            # rclpy installs its Ctrl-C handler only for the default context unless asked; without
            # it a node blocked in a wait set (e.g. a sim-time timer with no /clock) never exits.
            rclpy.init(
                args=["robot_rl", *args], context=self.rclpy_context, signal_handler_options=SignalHandlerOptions.ALL
            )
        except Exception as error:  # rcl's RCLError: not importable by a stable name
            raise RosArgsError(f"rclpy rejected the command line: {str(error).splitlines()[0]}") from None
        self.executor = SingleThreadedExecutor(context=self.rclpy_context)

    def create_node_impl(
        self,
        node: Node,
        node_name: str,
        namespace: str,
        cli_args: list[str],
        parameter_overrides: dict[str, ParameterValue],
    ) -> RclpyNodeImpl:
        return RclpyNodeImpl(self, node_name, namespace, cli_args, parameter_overrides)

    def spin(self) -> None:
        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def spin_once(self, timeout_s: float = 0.1) -> None:
        """Run at most one callback, waiting up to ``timeout_s`` seconds."""
        self.executor.spin_once(timeout_sec=timeout_s)

    def ok(self) -> bool:
        return self.rclpy_context.ok()

    def shutdown(self, reason: str = "") -> None:
        # destroy the nodes first: their endpoints leave the DDS graph now, not whenever the process exits (a
        # publisher left behind still matches, or mismatches, later subscribers)
        for node in self.executor.get_nodes():
            node.destroy_node()
        self.executor.shutdown(timeout_sec=0)
        rclpy.try_shutdown(context=self.rclpy_context)
