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
    bad.write_text("launch:\n- let: {name: a, value: $(find-exec ls)}\n")
    assert "unknown substitution $(find-exec)" in one_error_line(run("topics", str(bad)))


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


def test_side_by_side_needs_a_residual() -> None:
    result = run("eval", "--base", "models/lift_act", "--side-by-side")
    assert result.returncode == 2
    assert "--side-by-side compares the base with --residual DIR" in one_error_line(result)


@pytest.mark.parametrize("command", ["eval", "train-residual"])
def test_safety_params_reach_the_gate(command: str, tmp_path: Path) -> None:
    """--safety-params is layered on config/safety.yaml: an out-of-range gripper bound stops the graph with one line."""
    params = tmp_path / "safety.yaml"
    params.write_text("safety:\n  ros__parameters:\n    gripper_residual_scale: 5.0\n")
    extra = ["--demos", str(tmp_path), "--out", str(tmp_path / "out"), "--steps", "10"] if command != "eval" else []
    result = run(command, "--base", "models/lift_act", "--slot-source", "sim", "--safety-params", str(params), *extra)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # after the nodes' logs
    assert len(errors) == 1
    assert "SafetyConfig.gripper_residual_scale must lie in [0, 2], got 5.0" in errors[0]


def test_unknown_sim_task() -> None:
    line = one_error_line(run("node", "sim_node", "--ros-args", "-p", "task:=Juggle"))
    assert "unknown task 'Juggle'; valid tasks: Lift, Stack, PickPlaceCan, NutAssemblySquare" in line


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": "a"}, "a.launch.yaml includes itself via a.launch.yaml"),
        ({"a": "b", "b": "a"}, "a.launch.yaml includes itself via b.launch.yaml -> a.launch.yaml"),
    ],
)
def test_include_loop(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, included in files.items():
        (tmp_path / f"{name}.launch.yaml").write_text(f"launch:\n- include: {{file: {included}.launch.yaml}}\n")
    line = one_error_line(run("launch", str(tmp_path / "a.launch.yaml")))
    assert line.endswith(f"include loop: {message}")


@pytest.mark.parametrize("corner", ["[0.5]", "[0.1,0.2]", "[0.1,0.2,0.3,0.4]"])
def test_perception_region_of_interest_needs_three_values(corner: str) -> None:
    params = ["-p", f"workspace_min_m:={corner}", "-p", "load_calibration_at_start:=false"]
    line = one_error_line(run("node", "perception_node", "--ros-args", *params))
    assert "region of interest workspace_min_m must have 3 values (x, y, z in base_link, m)" in line


WORKSPACE = REPO / "calibration" / "workspace.yaml"


@pytest.mark.parametrize(
    ("executable", "typo", "declared"),
    [("safety_node", "max_lin_vel", "max_lin_vel_mps"), ("driver_node", "control_period", "control_period_s")],
)
def test_strict_node_refuses_a_misspelled_parameter(executable: str, typo: str, declared: str) -> None:
    result = run("node", executable, "--ros-args", "-p", f"{typo}:=0.1", "-p", f"workspace_file:={WORKSPACE}")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    *before, error = result.stderr.splitlines()
    assert all(line.startswith("[INFO]") for line in before), result.stderr  # the driver logs what it would bridge
    assert error.startswith(f"error: /{executable.removesuffix('_node')}: ")
    assert f"unknown parameter '{typo}' (from -p {typo}:=...; did you mean '{declared}'?)" in error


def test_launch_warns_about_an_unknown_parameter_of_a_node_without_strict_parameters(tmp_path: Path) -> None:
    """ROS2 ignores it, and so does the node, with a warning when it is built (topics builds no node)."""
    launch_file = tmp_path / "clock.launch.yaml"
    launch_file.write_text(
        "launch:\n- node:\n    pkg: robot_rl\n    exec: demo_clock\n    name: demo_clock\n"
        "    param:\n    - {name: durations, value: 1.0}\n    - {name: duration_s, value: 0.1}\n"
    )
    result = run("launch", str(launch_file))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "[WARN]" in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].endswith("[demo_clock]: parameters set but never declared by this node: durations")


@pytest.mark.parametrize("where", ["launch param", "params file"])
def test_launch_stops_on_a_misspelled_safety_parameter(tmp_path: Path, where: str) -> None:
    params = tmp_path / "safety.yaml"
    params.write_text("safety:\n  ros__parameters:\n    max_lin_vel: 0.1\n")  # the typo for max_lin_vel_mps
    typo = "{name: max_lin_vel, value: 0.1}" if where == "launch param" else f"{{from: {params}}}"
    launch_file = tmp_path / "gate.launch.yaml"
    launch_file.write_text(
        "launch:\n- node:\n    pkg: robot_rl\n    exec: safety_node\n    name: safety\n    param:\n"
        f"    - {typo}\n    - {{name: workspace_file, value: {WORKSPACE}}}\n"
    )
    line = one_error_line(run("launch", str(launch_file)))
    assert "entry 1 (node): /safety: unknown parameter 'max_lin_vel'" in line
    assert "did you mean 'max_lin_vel_mps'?" in line


@pytest.mark.parametrize("command", ["launch", "topics"])
def test_params_file_key_matching_no_node_is_warned(tmp_path: Path, command: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    use_sim_time: false\n"
        "demo_clock:\n  ros__parameters:\n    duration_s: 0.2\n"
        "safty:\n  ros__parameters:\n    max_lin_vel_mps: 0.1\n"
    )
    launch_file = tmp_path / "clock.launch.yaml"
    launch_file.write_text(
        "launch:\n- node:\n    pkg: robot_rl\n    exec: demo_clock\n    name: demo_clock\n"
        f"    param:\n    - from: {params}\n"
    )
    result = run(command, str(launch_file))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "[WARN]" in line]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].endswith(
        f"[launch]: params file {params}: node key '/safty' matches no node of this launch (/demo_clock)"
    )


# -- robot-rl topics runs nothing (issue 12) ------------------------------------------------------------------

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.yaml"))
HEAVY_MODULES = ("torch", "robosuite", "mujoco", "lerobot", "rclpy", "pyrealsense2")  # what running a node imports


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_topics_runs_nothing_and_is_quick(path: Path, tmp_path: Path) -> None:
    """Like ``ros2 launch --print``: no weights loaded (base does not exist), no device opened (no RealSense here,
    the keyboard device without a display), no file written (calibration, dataset, params files), and none of the
    heavy libraries a node needs (torch, robosuite, LeRobot, rclpy) imported, so it answers at once."""
    from robot_rl.runtime.launch_file import launch_arguments

    declared = {argument.name for argument in launch_arguments(path)}
    wanted = {
        "base": tmp_path / "no_base",
        "out": tmp_path / "no_dataset",
        "demos": tmp_path / "no_demos",
        "calibration_dir": tmp_path / "no_calibration",
        "hand_eye_file": tmp_path / "no_hand_eye.yaml",
        "workspace_file": tmp_path / "no_workspace.yaml",
    }
    arguments = [f"{name}:={value}" for name, value in wanted.items() if name in declared]
    arguments += ["steps:=100"] if "steps" in declared else []
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(ROBOT_RL_BACKEND="inproc", TMPDIR=str(scratch))
    run_and_list_imports = (
        "import sys; from robot_rl.cli import main; code = main(sys.argv[1:]);"
        f" print('heavy:', sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", run_and_list_imports, "topics", str(path), *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "topics:" in result.stdout
    assert "heavy: []" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no calibration, dataset or checkpoint
    assert list(scratch.iterdir()) == []  # no generated params file


def test_topics_lists_the_clock_subscriptions_of_sim_time_nodes() -> None:
    """rclpy subscribes /clock for every node with use_sim_time (config/demo.yaml: all but the clock source)."""
    lines = run("topics", "robot_rl", "demo.launch.yaml").stdout.splitlines()
    index = lines.index("  /clock  (rosgraph_msgs/msg/Clock)")
    assert lines[index + 1 : index + 3] == [
        "    publishers:  /demo_clock",
        "    subscribers: /demo_joint_publisher, /demo_monitor",
    ]


def test_topics_show_args_needs_no_required_argument() -> None:
    result = run("topics", "robot_rl", "sim.launch.yaml", "--show-args")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Arguments (pass arguments as '<name>:=<value>'):"
    index = lines.index("    'task':")
    assert lines[index + 1 : index + 3] == [
        "        robosuite task. Valid choices are: ['Lift', 'Stack', 'PickPlaceCan']",
        "        (default: 'Lift')",
    ]
    base = lines.index("    'base':")
    assert lines[base + 1] == "        LeRobot pretrained-policy directory of the frozen base policy"
    assert "(default" not in lines[base + 2]  # required: no default
