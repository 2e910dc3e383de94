"""YAML launch files: every supported entry, substitution and error.

Expected results are written from the ROS2 launch documentation ("Using XML, YAML,
and Python for ROS 2 Launch Files", launch_ros Node): a scoped group (the default)
forgets its lets and pushed namespaces at its end; include args are seen by the
included file; conditions accept true/false/1/0 only; node params become one params file
per entry, in the order written. The cases where we once differed from ros2 launch are in
test_launch_conformance.py, each with ROS2's expected result and its source.
"""

from pathlib import Path

import pytest
import yaml

from robot_rl.errors import LaunchError
from robot_rl.runtime.launch_file import parse_launch_arguments, read_launch_file, resolve_launch_path
from robot_rl.runtime.launcher import build_inproc, run_processes

REPO = Path(__file__).resolve().parents[2]


def launch(tmp_path: Path, text: str, name: str = "test.launch.yaml", **arguments: str):
    path = tmp_path / name
    path.write_text(text)
    return read_launch_file(path, arguments)


def node(name: str, extra: str = "", namespace: str | None = None) -> str:
    ns = f"\n    namespace: {namespace}" if namespace else ""
    return f"- node:\n    pkg: robot_rl\n    exec: demo_monitor\n    name: {name}{ns}\n{extra}"


def names(plan) -> list[tuple[str | None, str | None]]:
    return [(spec.name, spec.namespace) for spec in plan.nodes]


def test_arg_default_and_override(tmp_path: Path) -> None:
    text = "launch:\n- arg:\n    name: n\n    default: a\n" + node("$(var n)")
    assert names(launch(tmp_path, text)) == [("a", None)]
    assert names(launch(tmp_path, text, n="b")) == [("b", None)]
    assert launch(tmp_path, text, n="b").arguments == {"n": "b"}


def test_required_arg_and_unknown_arg(tmp_path: Path) -> None:
    text = "launch:\n- arg:\n    name: n\n" + node("$(var n)")
    with pytest.raises(LaunchError, match="required launch argument 'n'"):
        launch(tmp_path, text)
    assert "undeclared launch argument(s) typo" in launch(tmp_path, text, n="a", typo="1").warnings[0]


def test_choice(tmp_path: Path) -> None:
    text = "launch:\n- arg:\n    name: mode\n    default: sim\n    choice: [{value: sim}, {value: real}]\n"
    assert launch(tmp_path, text, mode="real").arguments == {"mode": "real"}
    with pytest.raises(LaunchError, match="mode='fake' is not one of 'sim', 'real'"):
        launch(tmp_path, text, mode="fake")


def test_let_and_eval(tmp_path: Path) -> None:
    text = "launch:\n- let:\n    name: n\n    value: node_$(eval '1 + 1')\n" + node("$(var n)")
    assert names(launch(tmp_path, text)) == [("node_2", None)]


@pytest.mark.parametrize(
    ("value", "started"), [("true", True), ("True", True), ("1", True), ("false", False), ("0", False)]
)
def test_if_and_unless(tmp_path: Path, value: str, started: bool) -> None:
    if_text = "launch:\n" + node("a", f"    if: '{value}'\n")
    unless_text = "launch:\n" + node("a", f"    unless: '{value}'\n")
    assert len(launch(tmp_path, if_text).nodes) == int(started)
    assert len(launch(tmp_path, unless_text).nodes) == int(not started)


@pytest.mark.parametrize("value", ["'yes'", "'2'", "'on'", "''"])
def test_bad_condition_is_an_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(LaunchError, match="is not one of true, false, 1, 0"):
        launch(tmp_path, "launch:\n" + node("a", f"    if: {value}\n"))


def test_yaml_boolean_condition_is_refused_like_ros2(tmp_path: Path) -> None:
    """launch_yaml reads ``if`` as a string: an unquoted false is refused (test_launch_conformance.py)."""
    with pytest.raises(LaunchError, match="if must be a string"):
        launch(tmp_path, "launch:\n" + node("a", "    if: false\n"))
    assert len(launch(tmp_path, "launch:\n" + node("a", "    if: 'false'\n")).nodes) == 0


def test_scoped_group_forgets_lets_and_namespaces(tmp_path: Path) -> None:
    text = (
        """launch:
- let: {name: n, value: outer}
- group:
    children:
    - let: {name: n, value: inner}
    - push_ros_namespace: {namespace: robot}
"""
        + "\n".join("    " + line for line in node("$(var n)").splitlines())
        + "\n"
        + node("$(var n)")
    )
    assert names(launch(tmp_path, text)) == [("inner", "/robot"), ("outer", None)]


def test_unscoped_group_keeps_them(tmp_path: Path) -> None:
    text = """launch:
- let: {name: n, value: outer}
- group:
    scoped: false
    children:
    - let: {name: n, value: inner}
    - push-ros-namespace: {namespace: robot}
""" + node("$(var n)")
    assert names(launch(tmp_path, text)) == [("inner", "/robot")]


def test_group_as_a_plain_list_and_nested_namespaces(tmp_path: Path) -> None:
    inner = "\n".join("    " + line for line in node("a", namespace="arm").splitlines())
    absolute = "\n".join("    " + line for line in node("b", namespace="/abs").splitlines())
    text = f"""launch:
- group:
  - push_ros_namespace: {{namespace: robot}}
  - group:
    - push_ros_namespace: {{namespace: left}}
{inner}
{absolute}
"""
    assert names(launch(tmp_path, text)) == [("a", "/robot/left/arm"), ("b", "/abs")]


def test_include_with_args_and_dirname(tmp_path: Path) -> None:
    (tmp_path / "child.launch.yaml").write_text(
        "launch:\n- arg:\n    name: who\n    default: nobody\n" + node("$(var who)")
    )
    text = """launch:
- include:
    file: $(dirname)/child.launch.yaml
    arg:
    - {name: who, value: child_node}
- include:
    file: child.launch.yaml
"""
    # The second include sees 'who' too: include args are launch configurations of the
    # including scope (wrap an include in a group to keep them local).
    assert names(launch(tmp_path, text)) == [("child_node", None), ("child_node", None)]
    scoped = """launch:
- group:
  - include:
      file: child.launch.yaml
      arg: [{name: who, value: child_node}]
- include:
    file: child.launch.yaml
"""
    assert names(launch(tmp_path, scoped)) == [("child_node", None), ("nobody", None)]


def test_include_loop_names_the_chain(tmp_path: Path) -> None:
    (tmp_path / "b.launch.yaml").write_text("launch:\n- include: {file: c.launch.yaml}\n")
    (tmp_path / "c.launch.yaml").write_text("launch:\n- include: {file: b.launch.yaml}\n")
    with pytest.raises(LaunchError, match=r"b\.launch\.yaml includes itself via c\.launch\.yaml -> b\.launch\.yaml"):
        launch(tmp_path, "launch:\n- include: {file: b.launch.yaml}\n", name="a.launch.yaml")


def test_include_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match=r"included file .* does not exist"):
        launch(tmp_path, "launch:\n- include: {file: nope.launch.yaml}\n")


def test_node_argv_matches_launch_ros(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters: {report_period_s: 2.0}\n")
    text = f"""launch:
- node:
    pkg: robot_rl
    exec: demo_monitor
    name: mon
    namespace: ns
    output: screen
    args: "--flag value"
    ros_args: "--log-level warn"
    param:
    - name: report_period_s
      value: 3.0
    - from: {params}
    remap:
    - {{from: joint_states, to: /js}}
"""
    plan = launch(tmp_path, text)  # the plan owns the generated params files
    (spec,) = plan.nodes
    generated = spec.argv[spec.argv.index(str(params)) - 2]
    assert spec.argv == [
        "--flag", "value",
        "--ros-args", "--log-level", "warn",
        "--ros-args", "-r", "__node:=mon", "-r", "__ns:=/ns",
        "--params-file", generated, "--params-file", str(params),  # in the order written
        "-r", "joint_states:=/js",
    ]  # fmt: skip
    assert not Path(generated).exists()  # reading a launch file writes nothing
    plan.write_params_files()
    # a fully specified node gets its generated params under its own name
    assert yaml.safe_load(Path(generated).read_text()) == {"/ns/mon": {"ros__parameters": {"report_period_s": 3.0}}}


def test_launch_params_vs_file_vs_ros_args(tmp_path: Path) -> None:
    """Launch name/value params beat 'from' files; -p in ros_args comes first and loses."""
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters: {report_period_s: 2.0}\n")
    template = """launch:
- node:
    pkg: robot_rl
    exec: demo_monitor
    name: mon
    {ros_args}
    param:
    - from: {params}
    {launch_param}
"""

    def period(ros_args: str = "", launch_param: str = "") -> float:
        plan = launch(tmp_path, template.format(params=params, ros_args=ros_args, launch_param=launch_param))
        _context, (monitor,) = build_inproc(plan)
        return monitor.get_parameter("report_period_s").value

    assert period() == 2.0
    assert period(launch_param="- {name: report_period_s, value: 3.0}") == 3.0
    assert period(ros_args="ros_args: '-p report_period_s:=4.0'") == 2.0
    assert (
        period(ros_args="ros_args: '-p report_period_s:=4.0'", launch_param="- {name: report_period_s, value: 3.0}")
        == 3.0
    )


def test_param_values_are_typed_like_launch_ros(tmp_path: Path) -> None:
    text = """launch:
- arg: {name: rate, default: '20'}
- node:
    pkg: robot_rl
    exec: demo_monitor
    param:
    - {name: from_arg, value: $(var rate)}
    - {name: as_string, value: "'$(var rate)'"}
    - {name: native, value: 2.5}
    - {name: list, value: [1, 2]}
    - name: group
      param:
      - {name: inner, value: true}
"""
    plan = launch(tmp_path, text)
    assert len(plan.nodes) == 1
    values = {}
    for generated in plan.generated.values():  # one generated file per entry
        values.update(yaml.safe_load(generated)["/**"]["ros__parameters"])
    assert values == {"from_arg": 20, "as_string": "20", "native": 2.5, "list": [1, 2], "group": {"inner": True}}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("launch:\n- bogus: {}\n", "unknown entry 'bogus'"),
        ("launch:\n- node: {pkg: robot_rl, exec: x, respawn: true}\n", "unsupported attribute\\(s\\) respawn"),
        ("launch:\n- node: {pkg: robot_rl}\n", "missing attribute 'exec'"),
        ("launch:\n- node: {pkg: robot_rl, exec: x, name: bad-name}\n", "invalid node name"),
        ("launch:\n- node: {pkg: robot_rl, exec: x, output: loud}\n", "output must be"),
        ("launch:\n- node: {pkg: robot_rl, exec: x, param: [{value: 1}]}\n", "needs 'name' or 'from'"),
        (
            "launch:\n- node: {pkg: robot_rl, exec: x, param: [{from: /no/such.yaml, allow_substs: true}]}\n",
            "No such file",
        ),
        ("launch:\n- node: {pkg: robot_rl, exec: x, on_exit: restart}\n", "on_exit must be 'shutdown'"),
        ("launch:\n- node: {pkg: robot_rl, exec: x, remap: [{from: a}]}\n", "needs exactly 'from' and 'to'"),
        ("launch:\n- let: {name: x, value: $(nope)}\n", "unknown substitution"),
        ("launch:\n- group: {children: 5}\n", "needs a list of children"),
        ("launch:\n- node: {pkg: robot_rl, exec: x, if: 'true', unless: 'true'}\n", "either 'if' or 'unless'"),
        ("launch: [\n", "malformed YAML at line"),
        ("nodes: []\n", "one key 'launch'"),
        ("launch:\n- {arg: {name: a}, let: {name: b}}\n", "exactly one key"),
    ],
)
def test_errors_name_the_file_and_entry(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(LaunchError, match=fragment) as info:
        launch(tmp_path, text)
    assert "test.launch.yaml" in str(info.value)


def test_resolve_launch_path_and_arguments() -> None:
    assert resolve_launch_path("robot_rl", "demo.launch.yaml") == REPO / "launch" / "demo.launch.yaml"
    with pytest.raises(LaunchError, match="does not exist"):
        resolve_launch_path("robot_rl", "nope.launch.yaml")
    assert parse_launch_arguments(["a:=1", "b:=x:=y"]) == {"a": "1", "b": "x:=y"}
    with pytest.raises(LaunchError, match="name:=value"):
        parse_launch_arguments(["novalue"])


@pytest.mark.parametrize("path", sorted((REPO / "launch").glob("*.launch.yaml")), ids=lambda p: p.name)
def test_shipped_launch_files_build(path: Path, tmp_path: Path) -> None:
    arguments = {
        "calibration_dir": str(tmp_path),
        "out": str(tmp_path / "demos"),
        "base": str(tmp_path / "base"),
        "demos": str(tmp_path / "demos"),
        "hand_eye_file": str(tmp_path / "hand_eye.yaml"),
        "workspace_file": str(tmp_path / "workspace.yaml"),
        "steps": "100",
    }
    declared = {entry["arg"]["name"] for entry in yaml.safe_load(path.read_text())["launch"] if "arg" in entry}
    plan = read_launch_file(path, {name: value for name, value in arguments.items() if name in declared})
    if "base" in declared:  # a base policy needs a trained checkpoint: tests/test_base_pipeline.py runs this file
        assert any(spec.executable == "base_policy_node" for spec in plan.nodes)
        return
    _context, nodes = build_inproc(plan)
    try:
        assert nodes
    finally:
        for node in nodes:  # release simulators and their OpenGL contexts now, not at garbage collection
            node.destroy_node()


@pytest.mark.parametrize("backend", ["inproc", "processes"])
def test_params_file_key_matching_no_node_is_warned_once(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A misspelled node key ('safty') is ignored by rcl; the launcher warns once per file and key."""
    monkeypatch.setenv("ROBOT_RL_BACKEND", "inproc")  # the node processes of the process launcher
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters: {duration_s: 0.2}\nsafty:\n  ros__parameters: {max_lin_vel_mps: 0.1}\n")
    entries = [
        f"- node: {{pkg: robot_rl, exec: demo_clock, name: {name}, param: [{{from: {params}}}]}}\n" for name in "ab"
    ]
    plan = launch(tmp_path, "launch:\n" + "".join(entries))
    if backend == "inproc":
        _context, nodes = build_inproc(plan)
        for built in nodes:
            built.destroy_node()
    else:
        assert run_processes(plan) == 0
    warnings = [line for line in capfd.readouterr().err.splitlines() if "[WARN]" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0].endswith(
        f"[launch]: params file {params}: node key '/safty' matches no node of this launch (/a, /b)"
    )
