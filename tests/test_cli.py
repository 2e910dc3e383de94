"""The robot-rl command, run as a user runs it: a subprocess of the installed console script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROBOT_RL_BACKEND": "inproc"}
    return subprocess.run([ROBOT_RL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [[], ["launch"], ["node"], ["topics"]])
def test_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: robot-rl" in result.stdout


def test_topics_prints_the_resolved_graph() -> None:
    result = run("topics", "robot_rl", "demo.launch.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  /demo_clock  [robot_rl/demo_clock]" in lines
    assert "  /demo_monitor  [robot_rl/demo_monitor]" in lines
    assert "  /joint_states  (sensor_msgs/msg/JointState)" in lines
    index = lines.index("  /joint_states  (sensor_msgs/msg/JointState)")
    assert lines[index + 1 : index + 3] == ["    publishers:  /demo_joint_publisher", "    subscribers: /demo_monitor"]


def test_topics_applies_arguments_and_conditions() -> None:
    result = run("topics", "launch/demo.launch.yaml", "with_monitor:=false")
    assert result.returncode == 0, result.stderr
    assert "/demo_monitor" not in result.stdout
    assert "/clock  (rosgraph_msgs/msg/Clock)" in result.stdout


def test_launch_runs_the_demo_to_completion() -> None:
    result = run("launch", "robot_rl", "demo.launch.yaml", "duration_s:=2.0")
    assert result.returncode == 0, result.stderr
    assert "t=2.00 s: 40 joint states, last stamp 2.00 s" in result.stderr
    assert "launch finished: sim time reached 2.00 s" in result.stderr


def test_node_subcommand_runs_one_node() -> None:
    result = run("node", "demo_clock", "--ros-args", "-p", "duration_s:=0.5", "-r", "__node:=clk")
    assert result.returncode == 0, result.stderr
    assert "[clk]: shutdown requested: sim time reached 0.50 s" in result.stderr


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_malformed_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch: [\n  - node: {pkg: robot_rl\n")
    assert "malformed YAML" in one_error_line(run("launch", str(bad)))


def test_missing_file() -> None:
    assert "launch file no/such.launch.yaml does not exist" in one_error_line(run("launch", "no/such.launch.yaml"))


def test_unknown_substitution(tmp_path: Path) -> None:
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- let: {name: a, value: $(command ls)}\n")
    assert "unknown substitution $(command)" in one_error_line(run("topics", str(bad)))


def test_wrong_parameter_type() -> None:
    line = one_error_line(run("launch", "robot_rl", "demo.launch.yaml", "duration_s:=soon"))
    assert "parameter 'duration_s'" in line
    assert "expects double, got string" in line


def test_unknown_node_executable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- node: {pkg: robot_rl, exec: no_such_node}\n")
    assert "unknown node executable robot_rl/no_such_node" in one_error_line(run("launch", str(bad)))
    assert "unknown node executable robot_rl/nope" in one_error_line(run("node", "nope"))


def test_bad_ros_args() -> None:
    assert "unknown ROS argument '--bogus'" in one_error_line(run("node", "demo_clock", "--ros-args", "--bogus"))


def test_missing_params_file() -> None:
    line = one_error_line(run("node", "demo_clock", "--ros-args", "--params-file", "/no/such.yaml"))
    assert "params file /no/such.yaml" in line


def test_unknown_backend() -> None:
    env = {**os.environ, "ROBOT_RL_BACKEND": "zmq"}
    result = subprocess.run(
        [ROBOT_RL, "node", "demo_clock"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert "ROBOT_RL_BACKEND='zmq' is not a backend" in one_error_line(result)


def test_unknown_sim_task() -> None:
    line = one_error_line(run("node", "sim_node", "--ros-args", "-p", "task:=Juggle"))
    assert "unknown task 'Juggle'; valid tasks: Lift, Stack, PickPlaceCan, NutAssemblySquare" in line
