"""Episode events on ``/robot_rl/episode``: a std_msgs/String holding one JSON object.

The sim publishes ``{"event": "start" | "success" | "timeout", "episode": i, "task": ..., ...}``;
anyone may request ``{"event": "reset", "seed": N}``.
"""

from __future__ import annotations

import json
from typing import Any


def parse_episode_event(message: Any) -> dict[str, Any] | None:
    """The event's JSON object, or None if ``message.data`` is not a JSON object with a string ``event``."""
    try:
        payload = json.loads(message.data)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    return payload
