"""Time, Duration and Clock with rclpy's names, for the in-process backend.

ROS time follows ``use_sim_time``: when it is true, time is the last value received
on ``/clock`` (zero before the first one), and timers advance only with it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from robot_rl.runtime import msg

NS_PER_S = 1_000_000_000


class ClockType(enum.Enum):
    """Which time source a clock reads."""

    ROS_TIME = "ros_time"  # simulated time when use_sim_time is true, else system time
    SYSTEM_TIME = "system_time"  # wall-clock time
    STEADY_TIME = "steady_time"  # monotonic time


@dataclass(frozen=True, order=True)
class Duration:
    """A span of time in integer nanoseconds."""

    nanoseconds: int = 0  # length of the span, ns

    @classmethod
    def from_seconds(cls, seconds: float) -> Duration:
        """Build a Duration from seconds (float)."""
        return cls(round(seconds * NS_PER_S))


@dataclass(frozen=True, order=True)
class Time:
    """A point in time in integer nanoseconds since the clock's epoch."""

    nanoseconds: int = 0  # ns since the epoch (1970 for system time, 0 for sim time)

    def seconds_nanoseconds(self) -> tuple[int, int]:
        """Return (seconds, nanoseconds) like rclpy's Time."""
        return divmod(self.nanoseconds, NS_PER_S)

    def to_msg(self) -> object:
        """Return a builtin_interfaces/Time message."""
        sec, nanosec = self.seconds_nanoseconds()
        return msg.Time(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, stamp: object) -> Time:
        """Build a Time from a builtin_interfaces/Time message."""
        return cls(stamp.sec * NS_PER_S + stamp.nanosec)  # type: ignore[attr-defined]

    def __add__(self, other: Duration) -> Time:
        return Time(self.nanoseconds + other.nanoseconds)

    def __sub__(self, other: Time) -> Duration:
        return Duration(self.nanoseconds - other.nanoseconds)


class Clock:
    """A clock that reads a time source given by the backend."""

    def __init__(self, clock_type: ClockType, source: Callable[[], int]) -> None:
        self.clock_type = clock_type
        self._source = source

    def now(self) -> Time:
        """Return the current time of this clock."""
        return Time(self._source())
