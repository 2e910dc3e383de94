"""The launcher's in-process spin: nodes are destroyed when the graph ends, even after one fails."""

import pytest

from robot_rl.errors import LearnerError
from robot_rl.runtime import Node
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.launcher import spin_inproc


class Closing(Node):
    """A node that records its destruction, or fails in it."""

    def __init__(self, name: str, destroyed: list[str], fails: bool = False, **kwargs: object) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        self.destroyed = destroyed
        self.fails = fails

    def destroy_node(self) -> None:
        self.destroyed.append(self.get_name())
        super().destroy_node()
        if self.fails:
            raise LearnerError(f"{self.get_name()} could not write its checkpoint")


def test_every_node_is_destroyed_after_one_fails_and_the_first_error_is_raised() -> None:
    context = InprocContext()
    destroyed: list[str] = []
    nodes = [
        Closing("learner", destroyed, fails=True, context=context),
        Closing("recorder", destroyed, context=context),
        Closing("other", destroyed, fails=True, context=context),
    ]
    context.shutdown("test")
    with pytest.raises(LearnerError, match=r"^learner could not write its checkpoint$"):
        spin_inproc(context, nodes)
    assert destroyed == ["learner", "recorder", "other"]
