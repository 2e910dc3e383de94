"""Episode events on ``/robot_rl/episode``: a std_msgs/String holding one JSON object.

The sim publishes ``{"event": "start" | "success" | "timeout", "episode": i, "task": ..., ...}``;
anyone may request ``{"event": "reset", "seed": N}``.
"""

from __future__ import annotations

import json
from typing import Any

# The reward of the step that succeeds: robosuite's sparse reward (reward_scale 1.0). A person's success key on a
# step the sim has not scored (or on a robot, where no reward is published) earns it: the person says the task is
# done, which is what the sparse reward says in sim.
SUCCESS_REWARD = 1.0


def parse_episode_event(message: Any) -> dict[str, Any] | None:
    """The event's JSON object, or None if ``message.data`` is not a JSON object with a string ``event``."""
    try:
        payload = json.loads(message.data)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    return payload
