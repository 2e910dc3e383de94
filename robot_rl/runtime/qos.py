"""Quality-of-service profiles with rclpy's names (the subset robot_rl uses)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from robot_rl.errors import GraphError


class HistoryPolicy(enum.Enum):
    """How many messages a queue keeps."""

    KEEP_LAST = "keep_last"  # keep the newest ``depth`` messages
    KEEP_ALL = "keep_all"  # keep every message


class ReliabilityPolicy(enum.Enum):
    """Whether delivery is retried."""

    RELIABLE = "reliable"
    BEST_EFFORT = "best_effort"


class DurabilityPolicy(enum.Enum):
    """Whether late-joining subscribers get earlier messages."""

    VOLATILE = "volatile"
    TRANSIENT_LOCAL = "transient_local"  # "latched": the publisher keeps its last ``depth`` messages


@dataclass(frozen=True)
class QoSProfile:
    """A QoS profile. ``depth`` is the queue length for KEEP_LAST (ROS default: 10)."""

    depth: int = 10  # queue length in messages, for KEEP_LAST
    history: HistoryPolicy = HistoryPolicy.KEEP_LAST  # bounded or unbounded queue
    reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE  # ROS default: reliable
    durability: DurabilityPolicy = DurabilityPolicy.VOLATILE  # ROS default: volatile

    def __post_init__(self) -> None:
        if self.history == HistoryPolicy.KEEP_LAST and self.depth < 1:
            raise GraphError(f"QoS depth must be >= 1 for KEEP_LAST, got {self.depth}")


def as_qos(qos: QoSProfile | int) -> QoSProfile:
    """Accept an int as shorthand for a KEEP_LAST depth, as rclpy does."""
    if isinstance(qos, QoSProfile):
        return qos
    if isinstance(qos, bool) or not isinstance(qos, int):
        raise GraphError(f"qos must be a QoSProfile or an int depth, got {qos!r}")
    return QoSProfile(depth=qos)


def incompatibility(publisher: QoSProfile, subscription: QoSProfile) -> str | None:
    """Return why a publisher and a subscription do not match under DDS rules, or None."""
    if (
        publisher.reliability == ReliabilityPolicy.BEST_EFFORT
        and subscription.reliability == ReliabilityPolicy.RELIABLE
    ):
        return "a RELIABLE subscription does not receive from a BEST_EFFORT publisher"
    if (
        publisher.durability == DurabilityPolicy.VOLATILE
        and subscription.durability == DurabilityPolicy.TRANSIENT_LOCAL
    ):
        return "a TRANSIENT_LOCAL subscription does not receive from a VOLATILE publisher"
    return None


SENSOR_DATA = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)  # like rclpy's qos_profile_sensor_data
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)  # last value for late joiners
