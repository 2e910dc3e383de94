"""A tiny simulated teleop correction session: teleop_correction.launch.yaml with the simulated human.

The dataset the recorder writes must load with LeRobot and carry, frame by frame, the intervention
flag the arbiter published for the tick whose command the robot executed. The intervention rate and
success figures come from benchmarks/correction_session.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robot_rl.episode_events import parse_episode_event
from robot_rl.runtime import Node, msg
from robot_rl.runtime.backend import select_backend
from robot_rl.torch_env import prepare_torchvision


class FlagLog(Node):
    """Per episode, the arbiter's latest intervention flag at each safe command until the episode ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("flag_log", **kwargs)
        self.episodes: list[list[bool]] = []
        self.flag = False
        self.running = False
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.Bool, "/robot_rl/intervention", self.on_flag, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/safe_command", self.on_safe_command, 10)

    def on_episode(self, event: Any) -> None:
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start":
            self.episodes.append([])
            self.flag, self.running = False, True
        elif payload is not None and payload["event"] in ("success", "timeout"):
            self.running = False  # a command after the end is never executed (nor recorded)

    def on_flag(self, flag: Any) -> None:
        self.flag = bool(flag.data)

    def on_safe_command(self, _: Any) -> None:
        if self.running:
            self.episodes[-1].append(self.flag)


def _session(checkpoint: Path, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Arguments of a 2-episode sim session whose simulated human takes over at step 6; the dataset path."""
    params = tmp_path / "simulated_human.yaml"
    params.write_text(yaml.safe_dump({"intervention": {"ros__parameters": {"takeover_at_step": 6}}}))
    out = tmp_path / "corrections"
    arguments = {
        "robot": "sim",
        "base": str(checkpoint),
        "out": str(out),
        "device": "simulated",
        "episodes": "2",
        "horizon_steps": "15",
        "intervention_params": str(params),
    }
    return arguments, out


def _recorded_flags(out: Path) -> list[list[bool]]:
    """Per episode, the intervention flag of each recorded frame (read with LeRobot's loader)."""
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/robot_rl", root=out)
    table = dataset.hf_dataset.with_format("numpy")
    episode_index = np.asarray(table["episode_index"])
    flags = np.asarray(table["complementary_info.intervention"]).reshape(-1).astype(bool)
    return [flags[episode_index == episode].tolist() for episode in range(dataset.num_episodes)]


@pytest.mark.slow
def test_recorded_intervention_flags_match_the_arbiter(checkpoint: Path, tmp_path: Path) -> None:
    select_backend("inproc")
    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    arguments, out = _session(checkpoint, tmp_path)
    plan = read_launch_file(resolve_launch_path("robot_rl", "teleop_correction.launch.yaml"), arguments)
    context, nodes = build_inproc(plan)
    log = FlagLog(context=context, cli_args=["--ros-args", "-p", "use_sim_time:=true"])
    spin_inproc(context, [*nodes, log])

    recorded = _recorded_flags(out)
    assert len(recorded) == 2
    for episode, flags in enumerate(recorded):
        assert flags == log.episodes[episode]
        assert any(flags), "the simulated human took over at step 6"
        assert not flags[0], "the base policy drives first"


@pytest.mark.slow
def test_eval_monitor_sees_every_episode_of_a_session(checkpoint: Path, tmp_path: Path) -> None:
    """The recorder ends the session on the last outcome; the monitor still counts that episode."""
    from robot_rl.policies.evaluate import run_monitored

    arguments, out = _session(checkpoint, tmp_path)
    monitor = run_monitored("teleop_correction.launch.yaml", arguments, episodes=2, progress=False)
    recorded = _recorded_flags(out)
    assert len(monitor.results) == len(recorded) == 2
    assert [result.intervention_ticks for result in monitor.results] == [sum(flags) for flags in recorded]
