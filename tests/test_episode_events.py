"""parse_episode_event: JSON objects with a string "event" pass; anything else is None, never an exception."""

from __future__ import annotations

import pytest

from robot_rl.episode_events import parse_episode_event
from robot_rl.runtime import msg


def test_event_object_is_returned() -> None:
    payload = parse_episode_event(msg.String(data='{"event": "reset", "seed": 4}'))
    assert payload == {"event": "reset", "seed": 4}


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"start"', '{"seed": 1}', '{"event": 3}', ""])
def test_malformed_events_are_none(text: str) -> None:
    assert parse_episode_event(msg.String(data=text)) is None
