"""Helpers for diagnostic_msgs: every node reports its health on ``/diagnostics``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from robot_rl.errors import MessageError
from robot_rl.runtime import msg

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # DiagnosticStatus levels
_LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}


def status(name: str, level: int, message: str, values: dict[str, Any] | None = None, hardware_id: str = "") -> Any:
    """Build a DiagnosticStatus; values are turned into KeyValue strings."""
    if level not in _LEVEL_NAMES:
        raise ValueError(f"diagnostic level must be one of {sorted(_LEVEL_NAMES)}, got {level}")
    level_field: Any = level
    if isinstance(msg.DiagnosticStatus.OK, bytes):  # rclpy's classes type 'byte' fields as bytes
        level_field = bytes([level])
    return msg.DiagnosticStatus(
        level=level_field,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[msg.KeyValue(key=str(key), value=str(value)) for key, value in (values or {}).items()],
    )


def array(stamp: Any, statuses: list[Any]) -> Any:
    """Wrap statuses in a DiagnosticArray stamped ``stamp`` (builtin_interfaces/Time)."""
    return msg.DiagnosticArray(header=msg.Header(stamp=stamp), status=list(statuses))


def publish(
    publisher: Any, stamp: Any, name: str, level: int, message: str, values: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Publish one status as a DiagnosticArray (what every node's ``report`` does)."""
    publisher.publish(array(stamp, [status(name, level, message, values, **kwargs)]))


def level_of(diagnostic_status: Any) -> int:
    """Return a status level as an int (rclpy gives bytes, the generated classes int)."""
    level = diagnostic_status.level
    return level[0] if isinstance(level, bytes) else int(level)


def guarded(
    callback: Callable[[Any], None], errors: tuple[type[Exception], ...], on_error: Callable[[Exception], None]
) -> Callable[[Any], None]:
    """Wrap a subscription callback: an input error of the given types goes to ``on_error``, not up the stack."""

    def guarded_callback(message: Any) -> None:
        try:
            callback(message)
        except errors as error:
            on_error(error)

    return guarded_callback


class Reporter:
    """A node's voice on ``/diagnostics``: ``report(level, message, **values)`` publishes one status named after the
    node (its fully qualified name) and stamped with its clock; :meth:`guard` wraps an input callback so that its
    input errors become ERROR statuses instead of stopping the node."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.publisher = node.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)

    def __call__(self, level: int, message: str, **values: Any) -> None:
        """Publish one status."""
        stamp = self.node.get_clock().now().to_msg()
        publish(self.publisher, stamp, self.node.get_fully_qualified_name(), level, message, values)

    def guard(
        self,
        callback: Callable[[Any], None],
        errors: tuple[type[Exception], ...] = (MessageError,),
        prefix: str = "dropped input",
    ) -> Callable[[Any], None]:
        """``callback`` with ``errors`` reported as ``"<prefix>: <error>"`` at ERROR level."""
        return guarded(callback, errors, lambda error: self(ERROR, f"{prefix}: {error}"))
