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
