"""diagnostic_msgs helpers."""

import pytest

from robot_rl.errors import MessageError
from robot_rl.runtime import diagnostics, msg


def test_status_and_array() -> None:
    status = diagnostics.status("perception", diagnostics.WARN, "skipped a frame", {"reason": "nan depth", "count": 3})
    assert diagnostics.level_of(status) == msg.DiagnosticStatus.WARN
    assert [(kv.key, kv.value) for kv in status.values] == [("reason", "nan depth"), ("count", "3")]
    array = diagnostics.array(msg.Time(sec=1), [status])
    assert array.header.stamp.sec == 1
    assert array.status == [status]
    with pytest.raises(ValueError, match="level"):
        diagnostics.status("x", 7, "bad")


def test_guarded_routes_listed_errors_and_lets_others_through() -> None:
    caught: list[Exception] = []

    def callback(message: object) -> None:
        if message == "bad":
            raise MessageError("malformed")
        if message == "bug":
            raise KeyError("not an input error")

    wrapped = diagnostics.guarded(callback, (MessageError,), caught.append)
    wrapped("good")
    wrapped("bad")
    assert [str(error) for error in caught] == ["malformed"]
    with pytest.raises(KeyError):
        wrapped("bug")


def test_reporter_publishes_named_stamped_statuses_and_guards_inputs() -> None:
    from robot_rl.runtime import Node
    from robot_rl.runtime.inproc import InprocContext

    context = InprocContext()
    node = Node("worker", context=context, namespace="/arm")
    report = diagnostics.Reporter(node)
    seen: list = []
    listener = Node("listener", context=context)
    listener.create_subscription(msg.DiagnosticArray, "/diagnostics", lambda m: seen.extend(m.status), 10)

    def take(message: object) -> None:
        raise MessageError(f"malformed {message}")

    report(diagnostics.WARN, "slow tick", tick_ms=12.5)
    report.guard(take)("frame")
    context.spin_until_quiet()
    assert [(s.name, diagnostics.level_of(s), s.message) for s in seen] == [
        ("/arm/worker", diagnostics.WARN, "slow tick"),
        ("/arm/worker", diagnostics.ERROR, "dropped input: malformed frame"),
    ]
    assert [(kv.key, kv.value) for kv in seen[0].values] == [("tick_ms", "12.5")]
