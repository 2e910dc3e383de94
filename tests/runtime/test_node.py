"""Node.create_subscription's safety net: a malformed message is dropped and logged, never fatal."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from robot_rl.runtime import Node, msg
from robot_rl.runtime import node as node_module
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import joint_state_to_numpy, numpy_to_joint_state

NAMES = [f"panda_joint{i}" for i in range(1, 8)]
MALFORMED = msg.JointState(name=NAMES, position=[0.1, 0.2, 0.3])  # 7 names, 3 positions


def _graph() -> tuple[InprocContext, Any, list[np.ndarray]]:
    """A node converting each /joint_states message, and a publisher of /joint_states."""
    context = InprocContext()
    positions: list[np.ndarray] = []
    node = Node("gate", context=context)
    node.create_subscription(
        msg.JointState, "/joint_states", lambda state: positions.append(joint_state_to_numpy(state)[1]), 10
    )
    return context, node.create_publisher(msg.JointState, "/joint_states", 10), positions


def test_malformed_message_is_dropped_with_one_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    context, publisher, positions = _graph()
    publisher.publish(MALFORMED)
    publisher.publish(numpy_to_joint_state(NAMES, np.arange(7.0)))
    context.spin_until_quiet()  # does not raise
    assert len(positions) == 1  # the next good message still arrives
    np.testing.assert_array_equal(positions[0], np.arange(7.0))
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("[ERROR]")
    assert line.endswith("[gate]: dropped a message on /joint_states: JointState has 7 names but 3 position values")


def test_a_flood_of_malformed_messages_is_logged_at_most_once_per_period(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    context, publisher, positions = _graph()
    for _ in range(50):
        publisher.publish(MALFORMED)
        context.spin_until_quiet()
    assert len(capsys.readouterr().err.splitlines()) == 1
    monkeypatch.setattr(node_module, "DROP_LOG_PERIOD_S", 0.0)  # the period has passed
    publisher.publish(MALFORMED)
    context.spin_until_quiet()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("position values (49 more dropped since the last report)")
    assert positions == []


def test_other_exceptions_still_propagate() -> None:
    context = InprocContext()
    node = Node("buggy", context=context)

    def callback(message: Any) -> None:
        raise KeyError(message.data)  # a bug in the node, not a bad message

    node.create_subscription(msg.String, "chatter", callback, 10)
    node.create_publisher(msg.String, "chatter", 10).publish(msg.String(data="x"))
    with pytest.raises(KeyError):
        context.spin_until_quiet()
