"""The evaluation monitor node, fed episode events by a test node on the in-process backend."""

from __future__ import annotations

import json

import pytest

from robot_rl.policies.evaluate import EpisodeMonitor
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext


def test_monitor_drops_episode_events_with_non_integer_fields(capsys: pytest.CaptureFixture[str]) -> None:
    context = InprocContext()
    monitor = EpisodeMonitor(context=context)
    episode = Node("sim", context=context).create_publisher(msg.String, "/robot_rl/episode", 10)
    events = [
        {"event": "start", "seed": "x"},  # dropped: the success after it belongs to no episode
        {"event": "success", "steps": 3},
        {"event": "start", "seed": 7},
        {"event": "success", "steps": "y"},  # dropped
        {"event": "timeout", "steps": 4},
    ]
    for event in events:
        episode.publish(msg.String(data=json.dumps(event)))
    context.spin_until_quiet()
    assert [(result.seed, result.success, result.steps) for result in monitor.results] == [(7, False, 4)]
    err = capsys.readouterr().err
    assert "dropped a message on /robot_rl/episode: episode event 'start' has a non-integer seed 'x'" in err
