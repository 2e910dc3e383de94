"""Static node interfaces: the topics a node executable publishes and subscribes, known without running it.

``robot-rl topics`` lists a launch file's graph from these declarations and the launch description alone,
like ``ros2 launch --print``: it builds no node, so it loads no weights, starts no simulator, opens no device
and writes no file. A declaration names each endpoint as the node's code passes it to ``create_publisher`` /
``create_subscription`` (relative, absolute or private), with a condition on the node's parameters where the
code has one, and the defaults of the parameters those conditions read. Names are then expanded and remapped
with rcl's rules (:mod:`robot_rl.runtime.names`), and a node with ``use_sim_time`` gets the ``/clock``
subscription that rclpy's TimeSource adds. tests/runtime/test_node_interfaces.py builds each node and checks
its declaration against the endpoints it really creates.

The declarations of robot_rl's executables are in :mod:`robot_rl.runtime.node_interfaces`, next to the
executable list (setup.cfg): importing the node modules themselves would load torch, robosuite and the
device drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Union

from robot_rl.errors import ParameterError
from robot_rl.runtime.params import ParameterValue, check_parameter_value, parameter_type_of

PUBLISHER = "publisher"
SUBSCRIPTION = "subscription"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"

Parameters = Mapping[str, ParameterValue]


def _always(parameters: Parameters) -> bool:
    return True


@dataclass(frozen=True)
class FromParameter:
    """A topic name that is the value of one of the node's (string) parameters."""

    name: str  # the parameter whose value is the topic name


@dataclass(frozen=True)
class Endpoint:
    """One publisher or subscription of a node, as its code creates it."""

    kind: str  # PUBLISHER or SUBSCRIPTION
    topic: Union[str, FromParameter]  # as passed to create_*: relative, absolute, private (~/x), or a parameter
    type_name: str  # pkg/msg/Name
    when: Callable[[Parameters], bool] = _always  # the node creates it only if this holds for its parameters

    def topic_for(self, parameters: Parameters) -> str:
        """The topic name as the node passes it, with a parameter-named topic read from ``parameters``."""
        return str(parameters[self.topic.name]) if isinstance(self.topic, FromParameter) else self.topic


def publisher(
    topic: Union[str, FromParameter], type_name: str, when: Callable[[Parameters], bool] = _always
) -> Endpoint:
    """A publisher endpoint."""
    return Endpoint(PUBLISHER, topic, type_name, when)


def subscription(
    topic: Union[str, FromParameter], type_name: str, when: Callable[[Parameters], bool] = _always
) -> Endpoint:
    """A subscription endpoint."""
    return Endpoint(SUBSCRIPTION, topic, type_name, when)


@dataclass(frozen=True)
class NodeInterface:
    """What a node executable creates: its name in code, its endpoints and the parameters they depend on."""

    name: str  # the node name in code (``-r __node:=`` or the launch file's ``name`` changes it)
    endpoints: tuple[Endpoint, ...]  # in the order the code creates them
    # default of each parameter a condition or a topic reads (a callable computes it when needed)
    parameters: Mapping[str, Union[ParameterValue, Callable[[], ParameterValue]]] = field(default_factory=dict)

    def defaults(self) -> dict[str, ParameterValue]:
        """The parameters' defaults, with ``use_sim_time`` (every node declares it, false)."""
        values: dict[str, ParameterValue] = {"use_sim_time": False}
        for name, default in self.parameters.items():
            values[name] = default() if callable(default) else default
        return values

    def parameters_with(self, overrides: Mapping[str, ParameterValue], fqn: str) -> dict[str, ParameterValue]:
        """The declared parameters' values under ``overrides``, type-checked as the node's declare_parameter does.

        Raises:
            ParameterTypeError: If an override has another type than the parameter's default.
        """
        values = self.defaults()
        for name, default in values.items():
            if name in overrides:
                values[name] = check_parameter_value(name, parameter_type_of(default), overrides[name], f"node {fqn}")
        return values

    def endpoints_for(self, parameters: Parameters) -> list[tuple[str, str, str]]:
        """``(kind, topic as written, type)`` of each endpoint the node creates with these parameters.

        A node reading sim time subscribes ``/clock`` (rclpy's TimeSource does, for ``use_sim_time``).

        Raises:
            ParameterError: If a parameter-named topic is empty.
        """
        created = []
        for endpoint in self.endpoints:
            if endpoint.when(parameters):
                topic = endpoint.topic_for(parameters)
                if not topic:
                    raise ParameterError(f"parameter {endpoint.topic.name} is empty")  # type: ignore[union-attr]
                created.append((endpoint.kind, topic, endpoint.type_name))
        if parameters.get("use_sim_time") is True:
            created.append((SUBSCRIPTION, "/clock", CLOCK_TYPE))
        return created
