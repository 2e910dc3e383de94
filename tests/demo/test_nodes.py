"""The demonstration nodes, wired as demo.launch.yaml wires them, on the in-process backend."""

from pathlib import Path

import pytest

from robot_rl.demo.nodes import DemoMonitor
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.launch_file import read_launch_file
from robot_rl.runtime.launcher import build_inproc

DEMO = Path(__file__).resolve().parents[2] / "launch" / "demo.launch.yaml"


def test_demo_graph_runs_in_lockstep(capsys: pytest.CaptureFixture[str]) -> None:
    plan = read_launch_file(DEMO, {"duration_s": "2.0"})
    context, (clock, publisher, monitor) = build_inproc(plan)
    assert publisher.joint_names == ["panda_joint1", "panda_joint2", "panda_joint3"]
    assert publisher.get_parameter("rate_hz").value == 20.0  # the include arg, $(eval '10.0 * 2')
    context.spin()
    assert context.shutdown_reason == "sim time reached 2.00 s"
    assert clock.sim_ns == 2_000_000_000
    assert monitor.count == 40  # 20 Hz for 2 s of sim time, none lost
    assert monitor.last_stamp_s == pytest.approx(2.0)
    assert monitor.peak_rad == pytest.approx(0.5, abs=0.01)
    assert "t=2.00 s: 40 joint states" in capsys.readouterr().err


def test_monitor_is_optional() -> None:
    plan = read_launch_file(DEMO, {"with_monitor": "false"})
    assert [spec.executable for spec in plan.nodes] == ["demo_clock"]


def test_monitor_drops_a_malformed_joint_state(capsys: pytest.CaptureFixture[str]) -> None:
    context = InprocContext()
    monitor = DemoMonitor(context=context)
    publisher = Node("robot", context=context).create_publisher(msg.JointState, "joint_states", 10)
    publisher.publish(msg.JointState(name=["a", "b", "c"], position=[0.1]))
    publisher.publish(msg.JointState(name=["a"], position=[0.3]))
    context.spin_until_quiet()
    assert monitor.count == 1
    assert monitor.peak_rad == pytest.approx(0.3)
    assert "dropped a message on /joint_states: JointState has 3 names but 1 position values" in capsys.readouterr().err
