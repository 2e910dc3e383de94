"""The evaluation monitor node, fed episode events by a test node on the in-process backend."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.action_space import actions_to_trajectory
from robot_rl.cli import main
from robot_rl.policies.checkpoint_info import checkpoint_fingerprint
from robot_rl.policies.evaluate import EpisodeMonitor, evaluate, failure_modes, tilt_deg
from robot_rl.rl.checkpoint import ResidualMetadata, save_residual
from robot_rl.rl.td3 import ResidualTD3, TD3Config
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state

REPO = Path(__file__).resolve().parents[2]
ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")


def default_sigint() -> None:
    """In the child before exec: Ctrl-C's default action, which a test run started in the background (``cmd &``
    in a script) would otherwise pass on as ignored, and Python then raises no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


MODELS = REPO / "models"


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


def _monitored() -> tuple[InprocContext, EpisodeMonitor, Node, Any]:
    """A monitor on a fresh in-process context, a node to publish from, and its /robot_rl/episode publisher."""
    context = InprocContext()
    monitor = EpisodeMonitor(context=context)
    graph = Node("graph", context=context)
    return context, monitor, graph, graph.create_publisher(msg.String, "/robot_rl/episode", 10)


def test_a_persons_key_ends_the_monitored_episode_and_the_sims_next_event_does_not_count_again() -> None:
    """The sim ends an episode on a person's success or failure key: the monitor reports it (a training driver
    waits for that report to reset), with the ticks the sim executed; other keys end nothing."""
    context, monitor, graph, episode = _monitored()
    flag = graph.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
    for seed, key in ((1, "success"), (2, "rerecord"), (3, "failure")):
        episode.publish(msg.String(data=json.dumps({"event": "start", "seed": seed})))
        for _ in range(4):  # ticks 0..3; the key comes in tick 3, after its flag
            flag.publish(msg.Bool(data=False))
        episode.publish(msg.String(data=json.dumps({"event": key, "source": "human"})))
        episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": 9})))  # not this episode's
        context.spin_until_quiet()
    assert [(result.seed, result.success, result.steps) for result in monitor.results] == [
        (1, True, 3),
        (2, False, 9),  # a rerecord ends nothing: the sim's own outcome does
        (3, False, 3),
    ]


def test_monitor_follows_the_first_objects_height_per_episode() -> None:
    context, monitor, sim, episode = _monitored()
    poses = sim.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)

    def tick(*heights: float, w: float = 1.0) -> None:
        objects = [msg.Pose(position=msg.Point(x=0.5, y=0.0, z=z), orientation=msg.Quaternion(w=w)) for z in heights]
        poses.publish(msg.PoseArray(header=msg.Header(frame_id="base_link"), poses=objects))
        context.spin_until_quiet()

    for seed, heights in ((1, (0.02, 0.10, 0.03)), (2, (0.02, 0.021))):
        episode.publish(msg.String(data=json.dumps({"event": "start", "seed": seed})))
        for z in heights:
            tick(z, 0.5)  # the second object's height is not followed
            tick(float("nan"), 0.5)  # a non-finite height is skipped, not followed
            tick(0.9, 0.5, w=0.0)  # so is a zero quaternion (no orientation to measure a tilt from)
        episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": len(heights)})))
        context.spin_until_quiet()
    first, second = monitor.results
    assert first.max_rise_m == pytest.approx(0.08)
    assert first.final_rise_m == pytest.approx(0.01)
    assert second.max_rise_m == pytest.approx(0.001)
    assert second.final_rise_m == pytest.approx(0.001)
    assert failure_modes([asdict(result) for result in monitor.results]) == {
        "never lifted": 1,
        "dropped": 1,
        "up at the end": 0,
        "unknown": 0,
    }


def test_monitor_counts_ticks_that_apply_the_other_gripper_sign_than_the_base() -> None:
    context, monitor, graph, episode = _monitored()
    base = graph.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
    safe = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def tick(base_gripper: float, applied_gripper: float) -> None:
        base.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, base_gripper]] * 2), 0.05))
        safe.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, applied_gripper]]), 0.05))
        context.spin_until_quiet()

    tick(1.0, -1.0)  # before any episode: not counted
    for seed, ticks in ((1, ((1.0, 0.8), (1.0, -0.9), (-1.0, 0.5), (-1.0, -1.0))), (2, ((1.0, 1.0),))):
        episode.publish(msg.String(data=json.dumps({"event": "start", "seed": seed})))
        for pair in ticks:
            tick(*pair)
        episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": len(ticks)})))
        context.spin_until_quiet()
    assert [result.gripper_overrides for result in monitor.results] == [2, 0]


def test_monitor_counts_the_policy_actions_own_gripper_flips_apart_from_the_applied_commands() -> None:
    context, monitor, graph, episode = _monitored()
    base = graph.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
    policy = graph.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
    safe = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def tick(base_gripper: float, policy_gripper: float, applied_gripper: float) -> None:
        base.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, base_gripper]] * 2), 0.05))
        policy.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, policy_gripper]]), 0.05))
        safe.publish(actions_to_trajectory(np.array([[0.1, 0, 0, 0, 0, 0, applied_gripper]]), 0.05))
        context.spin_until_quiet()

    episode.publish(msg.String(data=json.dumps({"event": "start", "seed": 3})))
    tick(1.0, -0.5, -0.5)  # the residual flipped it, and it was applied: both counts
    tick(-1.0, -1.0, 1.0)  # a safety hold kept the last applied sign: an override, not the residual's flip
    tick(-1.0, 0.4, -1.0)  # the residual flipped it, a person (or the gate) did not apply it
    tick(1.0, 0.0, 1.0)  # a zero gripper command has no sign: not a flip
    episode.publish(msg.String(data=json.dumps({"event": "success", "steps": 4})))
    context.spin_until_quiet()
    (result,) = monitor.results
    assert (result.residual_gripper_flips, result.gripper_overrides) == (2, 2)


def test_monitor_notes_where_the_tcp_was_at_the_first_closing_command() -> None:
    context, monitor, graph, episode = _monitored()
    poses = graph.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)
    tcp = graph.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
    safe = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def tick(tcp_z: float, gripper: float) -> None:
        cube = msg.Pose(position=msg.Point(x=0.5, y=0.1, z=0.83), orientation=msg.Quaternion(w=1.0))
        poses.publish(msg.PoseArray(header=msg.Header(frame_id="base_link"), poses=[cube]))
        pose = msg.Pose(position=msg.Point(x=0.51, y=0.08, z=tcp_z), orientation=msg.Quaternion(w=1.0))
        tcp.publish(msg.PoseStamped(header=msg.Header(frame_id="base_link"), pose=pose))
        safe.publish(actions_to_trajectory(np.array([[0, 0, -0.5, 0, 0, 0, gripper]]), 0.05))
        context.spin_until_quiet()

    for seed, ticks in ((1, ((0.95, -1.0), (0.86, 0.0), (0.86, 0.7), (0.84, 1.0))), (2, ((0.9, -1.0),))):
        episode.publish(msg.String(data=json.dumps({"event": "start", "seed": seed})))
        for pair in ticks:
            tick(*pair)
        episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": len(ticks)})))
        context.spin_until_quiet()
    closed, never = monitor.results
    assert closed.first_close_offset_m == pytest.approx((0.01, -0.02, 0.03))  # the first command > 0, not later
    assert never.first_close_offset_m is None  # the gripper never closed


def test_tilt_is_the_angle_of_the_z_axis_from_its_start() -> None:
    upright = np.array([0.0, 0.0, 0.0, 1.0])
    yawed = np.array([0.0, 0.0, math.sin(0.6), math.cos(0.6)])  # turned about z: still upright
    on_its_side = np.array([math.sin(math.pi / 4), 0.0, 0.0, math.cos(math.pi / 4)])  # 90 deg about x
    tipped_30 = 2.0 * np.array([0.0, math.sin(math.pi / 12), 0.0, math.cos(math.pi / 12)])  # 30 deg about y, norm 2
    assert tilt_deg(upright, yawed) == pytest.approx(0.0, abs=1e-6)
    assert tilt_deg(upright, on_its_side) == pytest.approx(90.0)
    assert tilt_deg(upright, tipped_30) == pytest.approx(30.0)
    assert tilt_deg(on_its_side, on_its_side) == pytest.approx(0.0, abs=1e-5)


def test_monitor_notes_the_first_takeover_its_reason_and_the_object_then() -> None:
    context, monitor, graph, episode = _monitored()
    flag = graph.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
    poses = graph.create_publisher(msg.PoseArray, "/robot_rl/sim/object_poses", 10)
    diagnostics_pub = graph.create_publisher(msg.DiagnosticArray, "/diagnostics", 10)
    joints = graph.create_publisher(msg.JointState, "/joint_states", 10)
    names = [*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1"]
    side = math.sin(math.pi / 4)

    def tick(driving: bool, z: float, quaternion: tuple[float, float, float, float], report: str = "") -> None:
        x, y, qz, w = quaternion
        pose = msg.Pose(position=msg.Point(x=0.5, y=0.0, z=z), orientation=msg.Quaternion(x=x, y=y, z=qz, w=w))
        poses.publish(msg.PoseArray(header=msg.Header(frame_id="base_link"), poses=[pose]))
        joints.publish(numpy_to_joint_state(names, np.full(8, z), np.zeros(8)))  # every joint at z rad
        if report:
            status = msg.DiagnosticStatus(name="/intervention", message=report)
            diagnostics_pub.publish(msg.DiagnosticArray(status=[status]))
        flag.publish(msg.Bool(data=driving))
        context.spin_until_quiet()

    episode.publish(msg.String(data=json.dumps({"event": "start", "seed": 1})))
    tick(False, 0.02, (0, 0, 0, 1))
    tick(False, 0.03, (side, 0, 0, side))  # knocked onto its side, 1 cm up
    tick(True, 0.03, (side, 0, 0, side), "the person takes over (not done by step 3; the expert's phase: approach)")
    tick(True, 0.10, (0, 0, 0, 1), "the person takes over (a later report: not the first takeover)")
    episode.publish(msg.String(data=json.dumps({"event": "success", "steps": 4})))
    episode.publish(msg.String(data=json.dumps({"event": "start", "seed": 2})))
    tick(False, 0.02, (0, 0, 0, 1))
    episode.publish(msg.String(data=json.dumps({"event": "timeout", "steps": 1})))
    context.spin_until_quiet()
    taken, alone = monitor.results
    assert taken.takeover_step == 3
    assert taken.takeover_reason == "not done by step 3; the expert's phase: approach"
    assert taken.takeover_rise_m == pytest.approx(0.01)
    assert taken.takeover_tilt_deg == pytest.approx(90.0)
    assert taken.takeover_joint_positions_rad == {f"panda_joint{i}": 0.03 for i in range(1, 8)}  # the arm's only
    assert taken.final_joint_positions_rad == {f"panda_joint{i}": 0.10 for i in range(1, 8)}
    assert alone.final_joint_positions_rad == {f"panda_joint{i}": 0.02 for i in range(1, 8)}
    assert (alone.takeover_step, alone.takeover_reason, alone.takeover_rise_m, alone.takeover_tilt_deg) == (
        None, "", None, None,
    )  # fmt: skip


def _wide_gripper_residual(directory: Path) -> Path:
    """A zero residual for the shipped Stack base whose gripper bound (2.0) is above config/safety.yaml's 0.2."""
    shipped = json.loads((MODELS / "stack_residual" / "config.json").read_text())
    features = tuple(shipped["obs_features"])
    learner = ResidualTD3(TD3Config(gripper_residual_scale=2.0), obs_dim=len(features))
    metadata = ResidualMetadata(features, "Stack", checkpoint_fingerprint(MODELS / "stack_act"))
    save_residual(directory, learner, metadata)
    return directory


def test_eval_refuses_a_residual_beyond_the_gates_bound_and_runs_with_the_gate_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    residual = _wide_gripper_residual(tmp_path / "wide")
    command = ["eval", "--task", "Stack", "--base", str(MODELS / "stack_act"), "--residual", str(residual)]
    command += ["--episodes", "1", "--slot-source", "sim", "--horizon-steps", "3", "--json"]
    assert main(command) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: residual {residual} (sha256 ")
    assert "its gripper_residual_scale 2.0 exceeds the safety gate's 0.2" in line
    raised = ["--safety-params", str(REPO / "benchmarks" / "params" / "safety_gripper_residual.yaml")]
    assert main(command + raised) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["episodes"], result["safety_params"]) == (1, raised[1])


def test_an_episode_does_not_depend_on_the_episodes_before_it_in_the_graph() -> None:
    """One graph runs many episodes (and jobs=2 or a resumed training splits them differently): the episode of a
    seed must be the same after another episode as alone. The safety gate's memory of the last episode's motion
    and gripper coupled them (config/sim_stack.yaml: sim_episode_resets)."""
    common: dict[str, Any] = {"slot_source": "sim", "horizon_steps": 30, "progress": False}
    after = evaluate("Stack", MODELS / "stack_act", episodes=2, seed=5000, **common).episodes[1]
    alone = evaluate("Stack", MODELS / "stack_act", episodes=1, seed=5001, **common).episodes[0]
    assert (after.seed, after.steps, after.safety_events) == (alone.seed, alone.steps, alone.safety_events)
    assert after.final_joint_positions_rad is not None
    assert alone.final_joint_positions_rad is not None
    for joint, position in alone.final_joint_positions_rad.items():
        assert after.final_joint_positions_rad[joint] == pytest.approx(position, abs=1e-9), joint


def test_an_evaluation_stopped_by_ctrl_c_reports_no_rate() -> None:
    """A partial success rate must not pass for the evaluation's (benchmarks would record it as the result)."""
    argv = [ROBOT_RL, "eval", "--task", "Lift", "--base", str(MODELS / "lift_act"), "--episodes", "40"]
    process = subprocess.Popen(
        [*argv, "--slot-source", "sim"],
        env={**os.environ, "MUJOCO_GL": "egl"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )
    assert process.stderr is not None
    seen, deadline = b"", time.monotonic() + 300
    while b" 1/40" not in seen:  # the progress bar after the first episode
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, f"eval ended before its first episode: {seen[-500:]!r}"
        assert time.monotonic() < deadline, "no episode within 300 s"
        seen += chunk
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    last = stderr.decode().strip().splitlines()[-1]
    assert re.fullmatch(r"error: eval Lift base: stopped after \d+ of 40 episodes; nothing reported", last), last
    assert b"Wilson" not in stdout  # no result table
