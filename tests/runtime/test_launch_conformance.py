"""Conformance with ``ros2 launch`` (ROS2 Jazzy: launch 3.4.3, launch_ros 0.26.6, rcl 9.2): one case per rule.

Each test states the result ROS2 gives and where in ROS2's source the rule comes from (paths in the
ros2/launch, ros2/launch_ros and ros2/rcl repositories at those tags). Issue 12 listed the rules on which
robot_rl once differed (an outside check ran every file of launch/ through the real launch system); the
rules we always followed are here too. The rcl typing cases were measured on rcl's own parser (the rclpy
tier re-checks them against it: test_rclpy_backend.py::test_params_file_typing_matches_rcl).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from robot_rl.errors import LaunchError
from robot_rl.runtime import launcher
from robot_rl.runtime.launch_file import LaunchPlan, launch_arguments, read_launch_file
from robot_rl.runtime.launcher import build_inproc, describe_graph, run_inproc, run_processes
from robot_rl.runtime.names import fully_qualified_node_name
from robot_rl.runtime.params import ParameterValue, load_params_text, parse_parameter_value
from robot_rl.runtime.ros_args import node_parameter_overrides, parse_ros_args

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.yaml"))


def write_launch(tmp_path: Path, text: str, name: str = "test.launch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def parameters_of(plan: LaunchPlan, index: int = 0) -> dict[str, ParameterValue]:
    """The parameter overrides rcl would give node ``index`` of the plan (without building it)."""
    spec = plan.nodes[index]
    args = parse_ros_args(spec.argv)
    fqn = fully_qualified_node_name(args.namespace or "/", args.node_name or spec.executable)
    overrides = node_parameter_overrides(args.parameter_sources, fqn, {}, plan.load_params)
    return {name: override.value for name, override in overrides.items()}


def clock_node(params: str, extra: str = "", name: str = "clock") -> str:
    return f"- node:\n    pkg: robot_rl\n    exec: demo_clock\n    name: {name}\n{extra}    param:\n{params}"


# -- 1. values from substitutions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1e-3", 0.001),  # PyYAML: the string '1e-3'; dumped plain, rcl's strtod reads the double
        ("20", 20),
        ("20.0", 20.0),
        ("off", False),  # PyYAML (YAML 1.1) reads off as false
        ("'off'", "off"),  # quoted inside the value: a string
        ("y", True),  # PyYAML: the string 'y'; dumped plain, rcl reads the bool
        ("inf", math.inf),
        ("[1, 2]", [1, 2]),
        ("", ""),  # an empty result stays the empty string
    ],
)
def test_1_substitution_values_are_typed_by_yaml_then_by_rcl(tmp_path: Path, given: str, expected: object) -> None:
    """ROS2: launch reads the substituted text with yaml.safe_load (launch/utilities/type_utils.py coerce_to_type,
    via launch_ros/parameter_descriptions.py ParameterValue.evaluate), launch_ros writes it with yaml.dump
    (launch_ros/actions/node.py Node._create_params_file_from_dict), and rcl types the file's scalars
    (rcl_yaml_param_parser/src/parse.c get_value). Both our backends read the file with rcl's rules, so they agree.
    """
    text = "launch:\n- arg: {name: x}\n" + clock_node("    - {name: value, value: $(var x)}\n")
    value = parameters_of(read_launch_file(write_launch(tmp_path, text), {"x": given}))["value"]
    assert value == expected
    assert type(value) is type(expected)


def test_1_the_expert_gets_the_double_noise_on_both_backends(tmp_path: Path) -> None:
    """ROS2: collect_demos.launch.yaml noise:=1e-3 gives the expert action_noise_std = 0.001 (a double)."""
    plan = read_launch_file(REPO / "launch" / "collect_demos.launch.yaml", {"out": str(tmp_path), "noise": "1e-3"})
    expert = next(index for index, spec in enumerate(plan.nodes) if spec.executable == "expert_node")
    assert parameters_of(plan, expert)["action_noise_std"] == 0.001


def test_1_a_command_line_double_is_typed_like_rcl() -> None:
    """ROS2: ``-p x:=1e-3`` is the double 0.001 (rcl/src/rcl/arguments.c _rcl_parse_param_rule -> get_value)."""
    assert parse_parameter_value("1e-3") == 0.001
    assert parse_parameter_value("0x10") == 16
    assert parse_parameter_value("'5'") == "5"


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        ("1e-3", 0.001),
        ("y", True),
        ("Off", False),
        ("tRue", "tRue"),
        ("0x10", 16),
        ("010", 8),  # strtoll base 0: octal
        ("08", 8.0),  # not octal, but strtod reads it
        ("1_000", "1_000"),
        ("null", "null"),
        ("~", "~"),
        (".inf", math.inf),
        ("0x1p3", 8.0),
        ("1e999", "1e999"),  # out of range: strtod's ERANGE keeps the string
        ("9223372036854775808", 9.223372036854776e18),  # beyond int64: a double
        ("'off'", "off"),
        ("!!str 5", "5"),
        ("0b101", "0b101"),
    ],
)
def test_1_params_files_are_typed_like_rcl(scalar: str, expected: object) -> None:
    """ROS2: rcl_yaml_param_parser/src/parse.c get_value (measured on rcl 9.2, the rclpy tier re-checks it)."""
    value = load_params_text(f"/**:\n  ros__parameters:\n    p: {scalar}\n", "test")["/**"]["p"]
    assert value == expected
    assert type(value) is type(expected)


# -- 2. literal values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"off"', "off"),
        ('"0x10"', "0x10"),
        ('"5"', "5"),
        ("off", False),  # unquoted, the launch file's own YAML reads a bool
        ("2.5", 2.5),
        ('"1e-3"', 0.001),  # a literal string, but yaml.dump writes it plain and rcl reads a double
        ("[1, 2.5]", [1.0, 2.5]),  # a list of ints and floats becomes floats
    ],
)
def test_2_literal_values_keep_their_type(tmp_path: Path, literal: str, expected: object) -> None:
    """ROS2: a value without substitution is not parsed again (launch/frontend/parse_substitution.py
    parse_if_substitutions returns the text; launch/utilities/type_utils.py normalize_typed_substitution keeps a
    scalar and turns a list of ints and floats into floats); yaml.dump then quotes what PyYAML would retype."""
    text = "launch:\n" + clock_node(f"    - {{name: value, value: {literal}}}\n")
    value = parameters_of(read_launch_file(write_launch(tmp_path, text)))["value"]
    assert value == expected
    assert type(value) is type(expected)


# -- 3. order of param entries ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name_first", "expected"), [(True, True), (False, False)])
def test_3_param_entries_apply_in_the_order_written(tmp_path: Path, name_first: bool, expected: bool) -> None:
    """ROS2: one params file per entry, in order (launch_ros/actions/node.py Node.parse_nested_parameters makes
    one dict per ``name`` entry; Node._perform_substitutions adds one --params-file each, in order); rcl merges
    the files in command-line order, later values winning."""
    params = tmp_path / "sim_time.yaml"
    params.write_text("/**:\n  ros__parameters:\n    use_sim_time: true\n")
    entries = ["    - {name: use_sim_time, value: false}\n", f"    - {{from: {params}}}\n"]
    text = "launch:\n" + clock_node("".join(entries if name_first else entries[::-1]))
    assert parameters_of(read_launch_file(write_launch(tmp_path, text)))["use_sim_time"] is expected


def test_3_launch_name_value_entry_uses_the_node_key_only_for_a_fully_specified_node(tmp_path: Path) -> None:
    """ROS2: the generated file's key is the node's name when name and namespace are given, else /**
    (launch_ros/actions/node.py Node._create_params_file_from_dict)."""
    text = (
        "launch:\n"
        + clock_node("    - {name: step_s, value: 0.5}\n")
        + clock_node("    - {name: step_s, value: 0.5}\n", extra="    namespace: ns\n", name="other")
    )
    plan = read_launch_file(write_launch(tmp_path, text))
    keys = [next(iter(yaml.safe_load(generated))) for generated in plan.generated.values()]
    assert keys == ["/**", "/ns/other"]


# -- 4. includes and required arguments ---------------------------------------------------------------------


def test_4_include_must_pass_a_required_argument_even_if_the_parent_has_it(tmp_path: Path) -> None:
    """ROS2: RuntimeError "Included launch description missing required argument 'base'"
    (launch/actions/include_launch_description.py IncludeLaunchDescription.execute): only the include's own
    ``arg`` names count."""
    write_launch(tmp_path, "launch:\n- arg: {name: base}\n", "child.launch.yaml")
    parent = "launch:\n- arg: {name: base}\n- include: {file: child.launch.yaml}\n"
    with pytest.raises(LaunchError, match="included launch description missing required argument 'base'"):
        read_launch_file(write_launch(tmp_path, parent), {"base": "/models/x"})
    passing = "launch:\n- arg: {name: base}\n- include: {file: child.launch.yaml, arg: [{name: base, value: b}]}\n"
    assert read_launch_file(write_launch(tmp_path, passing), {"base": "/models/x"}).arguments["base"] == "b"


def test_4_an_argument_with_a_default_keeps_a_value_set_before(tmp_path: Path) -> None:
    """ROS2: DeclareLaunchArgument.execute applies the default only when the configuration is not set
    (launch/actions/declare_launch_argument.py): an include inherits the parent's value."""
    write_launch(tmp_path, "launch:\n- arg: {name: rate, default: '1'}\n", "child.launch.yaml")
    parent = "launch:\n- let: {name: rate, value: '5'}\n- include: {file: child.launch.yaml}\n"
    assert read_launch_file(write_launch(tmp_path, parent)).arguments["rate"] == "5"


def test_4_a_conditional_required_argument_is_not_checked_at_the_include(tmp_path: Path) -> None:
    """ROS2: arguments under a condition are skipped by the include's check (``_conditionally_included``
    in launch/launch_description.py get_launch_arguments_with_include_launch_description_actions)."""
    write_launch(tmp_path, "launch:\n- arg: {name: base, if: 'true'}\n", "child.launch.yaml")
    parent = "launch:\n- let: {name: base, value: b}\n- include: {file: child.launch.yaml}\n"
    assert read_launch_file(write_launch(tmp_path, parent)).arguments["base"] == "b"


# -- 5. a missing from: file ---------------------------------------------------------------------------------


def test_5_a_missing_params_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """ROS2: "Parameter file path is not a file: ..." is logged and the file skipped (launch_ros/actions/node.py
    Node._perform_substitutions)."""
    text = "launch:\n" + clock_node(f"    - {{from: {tmp_path / 'missing.yaml'}}}\n")
    plan = read_launch_file(write_launch(tmp_path, text))
    assert "--params-file" not in plan.nodes[0].argv
    assert "parameter file path is not a file" in plan.warnings[0]


def test_5_allow_substs_makes_a_params_file_required_and_substitutes_it(tmp_path: Path) -> None:
    """ROS2: with ``allow_substs: true`` ParameterFile.evaluate opens the file (a missing one fails the launch)
    and substitutes ``$(...)`` in its text (launch_ros/parameter_descriptions.py)."""
    missing = "launch:\n" + clock_node(f"    - {{from: {tmp_path / 'missing.yaml'}, allow_substs: true}}\n")
    with pytest.raises(LaunchError, match=r"missing\.yaml: No such file"):
        read_launch_file(write_launch(tmp_path, missing))
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    step_s: $(var step)\n")
    text = "launch:\n- arg: {name: step, default: '0.5'}\n" + clock_node(
        f"    - {{from: {params}, allow_substs: true}}\n"
    )
    assert parameters_of(read_launch_file(write_launch(tmp_path, text)))["step_s"] == 0.5


def test_5_shipped_safety_limits_are_required(tmp_path: Path) -> None:
    """The safety gate and the robot driver cannot run safely without their params files: the shipped files
    mark them ``allow_substs: true``, so a missing one stops ros2 launch and robot-rl alike."""
    for name in ("stack.launch.yaml", "collect_demos.launch.yaml", "real.launch.yaml"):
        entries = yaml.safe_load((REPO / "launch" / name).read_text())["launch"]
        gates = [e["node"] for e in entries if "node" in e and e["node"]["exec"] in ("safety_node", "driver_node")]
        assert gates, name
        for gate in gates:
            assert any(item.get("allow_substs") is True for item in gate["param"] if "from" in item), name


def test_5_override_params_files_layer_on_the_shipped_ones(tmp_path: Path) -> None:
    """train.launch.yaml's safety_params and learner_params are applied after config/safety.yaml and
    config/learner.yaml: the benchmark's one-key files change that key and keep every other shipped value."""
    params = REPO / "benchmarks" / "params"
    arguments = {
        "out": str(tmp_path / "out"),
        "base": str(tmp_path / "base"),
        "demos": str(tmp_path / "demos"),
        "steps": "100",
    }
    gate = {"safety_params": str(params / "safety_gripper_residual.yaml")}
    for overrides, gripper, penalty in (
        ({}, 0.2, 0.0),
        (gate | {"learner_params": str(params / "learner_gripper_residual.yaml")}, 2.0, 0.0),
        (gate | {"learner_params": str(params / "learner_gripper_takeover_penalty.yaml")}, 2.0, 1.0),
    ):
        plan = read_launch_file(REPO / "launch" / "train.launch.yaml", arguments | overrides)
        index = {spec.executable: i for i, spec in enumerate(plan.nodes)}
        safety, learner = parameters_of(plan, index["safety_node"]), parameters_of(plan, index["learner_node"])
        assert (safety["gripper_residual_scale"], safety["residual_scale"]) == (gripper, 0.2)
        assert safety["timeout_s"] == 0.1  # the rest of config/safety.yaml and config/sim_stack.yaml
        assert (learner["td3.gripper_residual_scale"], learner["td3.residual_scale"]) == (gripper, 0.2)
        assert learner["td3.actor_lr"] == 1e-5  # config/learner.yaml's, not TD3Config's default
        assert learner["trainer.takeover_penalty"] == penalty


def test_5_the_training_seed_seeds_the_learner_and_the_residuals_exploration(tmp_path: Path) -> None:
    """train.launch.yaml's seed reaches the learner and the residual node (its exploration noise's seed)."""
    arguments = {
        "out": str(tmp_path / "out"),
        "base": str(tmp_path / "base"),
        "demos": str(tmp_path / "demos"),
        "steps": "100",
    }
    for seed in (0, 3):
        plan = read_launch_file(REPO / "launch" / "train.launch.yaml", arguments | {"seed": str(seed)})
        index = {spec.executable: i for i, spec in enumerate(plan.nodes)}
        residual, learner = parameters_of(plan, index["residual_node"]), parameters_of(plan, index["learner_node"])
        assert (residual["seed"], learner["seed"], residual["explore"]) == (seed, seed, True)


# -- 6. undeclared command-line arguments --------------------------------------------------------------------


def test_6_an_undeclared_argument_is_a_warning_and_still_a_configuration(tmp_path: Path) -> None:
    """ROS2: ros2 launch passes every name:=value to an IncludeLaunchDescription (ros2launch/api/api.py
    launch_a_launch_file), which sets them all as launch configurations and says nothing of undeclared ones."""
    text = "launch:\n- let: {name: seen, value: $(var typo)}\n"
    plan = read_launch_file(write_launch(tmp_path, text), {"typo": "1"})
    assert "undeclared launch argument(s) typo" in plan.warnings[0]


# -- 7. choices ----------------------------------------------------------------------------------------------


def test_7_choice_values_are_literal(tmp_path: Path) -> None:
    """ROS2: DeclareLaunchArgument.parse takes each choice with escape_characters only, no substitution
    (launch/actions/declare_launch_argument.py)."""
    text = (
        "launch:\n- let: {name: a, value: x}\n- arg: {name: m, default: x, choice: [{value: $(var a)}, {value: y}]}\n"
    )
    with pytest.raises(LaunchError, match="is not one of its choices"):
        read_launch_file(write_launch(tmp_path, text))
    assert read_launch_file(write_launch(tmp_path, text.replace("default: x", "default: y"))).arguments["m"] == "y"
    literal = "launch:\n- arg: {name: m, choice: [{value: $(var a)}]}\n"
    assert read_launch_file(write_launch(tmp_path, literal), {"m": "$(var a)"}).arguments["m"] == "$(var a)"


# -- 8. on_exit: shutdown, and group forwarding -------------------------------------------------------------


def two_clocks(on_exit: str) -> str:
    """Clock a ends at 0.1 s of sim time, clock b at 0.3 s; ``on_exit`` goes on the named one."""
    text = "launch:\n"
    for name, duration in (("a", 0.1), ("b", 0.3)):
        extra = "    on_exit: shutdown\n" if name == on_exit else ""
        text += clock_node(f"    - {{name: duration_s, value: {duration}}}\n", extra, name)
    return text


@pytest.mark.parametrize(("on_exit", "reason", "ended"), [("b", "0.30", ["/a"]), ("a", "0.10", [])])
def test_8_on_exit_shutdown_ends_the_launch_in_process(
    tmp_path: Path, on_exit: str, reason: str, ended: list[str]
) -> None:
    """ROS2: ``on_exit: shutdown`` gives the process the Shutdown action on exit (launch/actions/execute_process.py
    ExecuteProcess.parse); a node without it ends alone and the others go on."""
    context = run_inproc(read_launch_file(write_launch(tmp_path, two_clocks(on_exit))))
    assert context.shutdown_reason == f"sim time reached {reason} s"
    assert [node.get_fully_qualified_name() for node in context.ended] == ended


def test_8_on_exit_shutdown_stops_the_other_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ROS2: Shutdown stops every other process (SIGINT, then SIGTERM, then SIGKILL)."""
    monkeypatch.setenv("ROBOT_RL_BACKEND", "inproc")  # each node process runs in-process
    text = clock_node("    - {name: duration_s, value: 0.1}\n", "    on_exit: shutdown\n", "short")
    text += clock_node("    - {name: duration_s, value: 1000000.0}\n", "", "endless")
    start = time.monotonic()
    assert run_processes(read_launch_file(write_launch(tmp_path, "launch:\n" + text))) == 0
    assert time.monotonic() - start < 60


def test_8_the_stop_escalation_waits_come_from_the_top_level_launch_configurations(tmp_path: Path) -> None:
    """ROS2: ExecuteLocal's sigterm_timeout and sigkill_timeout default to the launch configurations of those names,
    5 s each (launch/actions/execute_local.py), read when the process is stopped: an arg or let at the top level,
    or ``name:=value`` on the command line, declared or not."""
    default = read_launch_file(write_launch(tmp_path, "launch:\n" + clock_node("    - {name: step_s, value: 0.5}\n")))
    assert (default.sigterm_timeout_s, default.sigkill_timeout_s) == (5.0, 5.0)
    text = "launch:\n- arg: {name: sigterm_timeout, default: '60'}\n- let: {name: sigkill_timeout, value: '2.5'}\n"
    plan = read_launch_file(write_launch(tmp_path, text))
    assert (plan.sigterm_timeout_s, plan.sigkill_timeout_s) == (60.0, 2.5)
    given = read_launch_file(write_launch(tmp_path, "launch: []\n"), {"sigterm_timeout": "0.5"})
    assert given.sigterm_timeout_s == 0.5
    assert given.warnings == []  # launch reads it: not a misspelled argument
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(LaunchError, match=f"launch configuration sigterm_timeout must be .* got '{bad}'"):
            read_launch_file(write_launch(tmp_path, "launch: []\n"), {"sigterm_timeout": bad})


def test_8_a_process_that_outlives_sigint_gets_sigterm_after_sigterm_timeout_then_sigkill() -> None:
    """ROS2: SIGINT, SIGTERM sigterm_timeout s later, SIGKILL sigkill_timeout s after that, to those still running."""
    ignore = "import signal, time; {} print('ready', flush=True); time.sleep(60)"
    sigint = "signal.signal(signal.SIGINT, signal.SIG_IGN);"
    sigterm = "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    stubborn = [
        subprocess.Popen([sys.executable, "-c", ignore.format(handlers)], stdout=subprocess.PIPE, text=True)
        for handlers in (sigint, sigint + sigterm)
    ]
    for process in stubborn:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"  # its handlers are installed
        process.stdout.close()
    start = time.monotonic()
    assert launcher._stop(stubborn, 0.5, 0.5) == [-signal.SIGTERM, -signal.SIGKILL]
    assert 0.9 < time.monotonic() - start < 4.0  # both waits, and not launch's default 5 s each


def test_8_the_training_launch_gives_the_learners_last_checkpoint_time_before_sigterm() -> None:
    """train.launch.yaml ends itself (the driver's on_exit: shutdown); the learner writes its last checkpoint on
    SIGINT, after its trainer process has caught up: a minute before SIGTERM, not launch's 5 s."""
    plan = read_launch_file(
        REPO / "launch" / "train.launch.yaml", {"base": "b", "demos": "d", "out": "o", "steps": "1"}
    )
    assert plan.sigterm_timeout_s == 60.0


@pytest.mark.parametrize(
    ("name", "node"),
    [
        ("sim_bridge.launch.yaml", "sim"),
        ("demo.launch.yaml", "demo_clock"),
        ("collect_demos.launch.yaml", "recorder"),
        ("teleop_correction.launch.yaml", "recorder"),
        ("stack.launch.yaml", "intervention"),
    ],
)
def test_8_nodes_that_end_a_session_say_on_exit_shutdown(name: str, node: str) -> None:
    """Every shipped node that ends a session (robot_rl's request_shutdown) ends the whole launch under ros2
    launch too: the sim after max_episodes, the demo clock, the recorder, a person's stop key."""
    entries = yaml.safe_load((REPO / "launch" / name).read_text())["launch"]
    (entry,) = [e["node"] for e in entries if "node" in e and e["node"]["name"] == node]
    assert entry["on_exit"] == "shutdown"


def test_8_group_without_forwarding_starts_from_its_keep_entries(tmp_path: Path) -> None:
    """ROS2: ``forwarding: false`` clears every launch configuration in the group, the pushed ROS namespace
    too, and sets the ``keep`` entries (launch/actions/group_action.py GroupAction, ResetLaunchConfigurations)."""
    body = "- push_ros_namespace: {namespace: outer}\n- let: {name: a, value: '1'}\n- let: {name: b, value: '2'}\n"
    group = "- group:\n    forwarding: false\n    keep: [{name: a, value: $(var a)}]\n    children:\n"
    inner = clock_node("    - {name: step_s, value: 0.5}\n", name="n$(var a)")
    text = "launch:\n" + body + group + "\n".join("    " + line for line in inner.splitlines()) + "\n"
    plan = read_launch_file(write_launch(tmp_path, text))
    assert [(spec.name, spec.namespace) for spec in plan.nodes] == [("n1", None)]
    with pytest.raises(LaunchError, match="'b' is not set"):
        read_launch_file(write_launch(tmp_path, text.replace("n$(var a)", "n$(var b)")))
    forwarded = read_launch_file(write_launch(tmp_path, text.replace("forwarding: false", "forwarding: true")))
    assert [(spec.name, spec.namespace) for spec in forwarded.nodes] == [("n1", "/outer")]


# -- 9. dead arguments ---------------------------------------------------------------------------------------

REQUIRED = {"out": "out", "base": "base", "demos": "demos", "hand_eye_file": "he.yaml", "workspace_file": "ws.yaml"}
REQUIRED_VALUES = {"steps": "100"}  # required arguments that are not paths


def _choices(path: Path) -> dict[str, list[str]]:
    """The valid values of each argument that has a choice list (the first declaration of a name counts)."""
    found: dict[str, list[str]] = {}
    for launch_file in [path, *LAUNCH_FILES]:
        for argument in launch_arguments(launch_file):
            if argument.choices is not None:
                found.setdefault(argument.name, list(argument.choices))
    return found


def _alternatives(name: str, value: str, choices: dict[str, list[str]], marker: Path) -> list[str]:
    if name in choices:
        return [choice for choice in choices[name] if choice != value]
    if value in ("true", "false"):
        return ["false" if value == "true" else "true"]
    try:
        return [str(float(value) + 1.5) if "." in value else str(int(value) + 1)]
    except ValueError:
        return [str(marker)] if value.endswith(".yaml") and Path(value).is_file() else [value + "_other"]


def _graph(path: Path, arguments: dict[str, str]) -> list[tuple[object, ...]]:
    """Each node: its entry, executable, argv without the params files (their names change), values, on_exit; and
    how the launch stops them (sigterm_timeout, sigkill_timeout)."""
    plan = read_launch_file(path, arguments)
    graph: list[tuple[object, ...]] = [("stop escalation", plan.sigterm_timeout_s, plan.sigkill_timeout_s)]
    for index, spec in enumerate(plan.nodes):
        argv = [arg for i, arg in enumerate(spec.argv) if "--params-file" not in spec.argv[max(0, i - 1) : i + 1]]
        graph.append((spec.where, spec.executable, argv, parameters_of(plan, index), spec.on_exit))
    return graph


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_9_every_argument_can_change_the_graph(path: Path, tmp_path: Path) -> None:
    """An argument that cannot change anything is a bug (demo_sensors' rate_hz was one: a node-specific entry of
    config/demo.yaml beat the launch file's /** entry under rcl's precedence, in ROS2 and here alike). Each
    argument a file declares must change a node, a parameter value, a remap or the node set, alone or after
    one choice argument was changed."""
    marker = tmp_path / "marker.yaml"
    marker.write_text("/**:\n  ros__parameters:\n    marker: 1\n")
    own = [e["arg"]["name"] for e in yaml.safe_load(path.read_text())["launch"] if "arg" in e]
    declared = {argument.name for argument in launch_arguments(path)}
    base = {name: str(tmp_path / value) for name, value in REQUIRED.items() if name in declared}
    base |= {name: value for name, value in REQUIRED_VALUES.items() if name in declared}
    choices = _choices(path)
    plan = read_launch_file(path, base)
    contexts = [base] + [
        {**base, name: other}
        for name in own
        if name in choices
        for other in _alternatives(name, plan.arguments[name], choices, marker)
    ]
    dead = []
    for name in own:
        live = False
        for context in contexts:
            value = read_launch_file(path, context).arguments[name]
            graph = _graph(path, context)
            if any(
                _graph(path, {**context, name: other}) != graph for other in _alternatives(name, value, choices, marker)
            ):
                live = True
                break
        if not live:
            dead.append(name)
    assert dead == [], f"{path.name}: arguments that change nothing: {dead}"


# -- and the rules we always followed, or follow now without an issue item -----------------------------------


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ("- node: {pkg: robot_rl, exec: demo_clock, if: false}", "if"),
        ("- arg: {name: n, default: 5}", "default"),
        ("- let: {name: n, value: true}", "value"),
        ("- include: {file: x.launch.yaml, arg: [{name: n, value: 1}]}", "arg 'n' value"),
        ("- arg: {name: n, default: 'true', choice: [{value: true}]}", "choice value"),
    ],
)
def test_string_attributes_refuse_other_yaml_types(tmp_path: Path, entry: str, key: str) -> None:
    """ROS2: launch_yaml's Entity.get_attr checks the type (data_type=str by default): an unquoted false, 5 or
    true where launch reads a string is "expected to be of type str" (launch_yaml/launch_yaml/entity.py)."""
    with pytest.raises(LaunchError, match=f"{key} must be a string"):
        read_launch_file(write_launch(tmp_path, f"launch:\n{entry}\n"))


def test_scoped_group_forgets_and_include_arguments_leak_into_the_including_scope(tmp_path: Path) -> None:
    """ROS2: a group is scoped by default (PushLaunchConfigurations ... PopLaunchConfigurations, GroupAction);
    an include sets its args with SetLaunchConfiguration in the including scope
    (launch/actions/include_launch_description.py IncludeLaunchDescription.execute)."""
    write_launch(tmp_path, "launch:\n- arg: {name: who, default: nobody}\n", "child.launch.yaml")
    text = (
        "launch:\n- group:\n  - include: {file: child.launch.yaml, arg: [{name: who, value: a}]}\n"
        "- let: {name: after_group, value: $(var who)}\n"
    )
    with pytest.raises(LaunchError, match="'who' is not set"):
        read_launch_file(write_launch(tmp_path, text))
    leaking = "launch:\n- include: {file: child.launch.yaml, arg: [{name: who, value: a}]}\n"
    assert read_launch_file(write_launch(tmp_path, leaking)).arguments == {"who": "a"}


@pytest.mark.parametrize(("value", "started"), [("'true'", True), ("'1'", True), ("'False'", False), ("'0'", False)])
def test_conditions_take_true_false_1_0(tmp_path: Path, value: str, started: bool) -> None:
    """ROS2: IfCondition accepts true/false/1/0 in any case, nothing else (launch/conditions/
    evaluate_condition_expression.py)."""
    text = "launch:\n" + clock_node("    - {name: step_s, value: 0.5}\n", f"    if: {value}\n")
    assert len(read_launch_file(write_launch(tmp_path, text)).nodes) == int(started)


def test_a_node_specific_section_beats_an_earlier_wildcard_one(tmp_path: Path) -> None:
    """ROS2 (rcl): the files' sections merge into one table in command-line order, a node pattern keeps its first
    place, a node applies every matching pattern in table order (measured on rclpy Jazzy, test_params.py)."""
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters: {step_s: 1.0}\nclock:\n  ros__parameters: {step_s: 2.0}\n")
    text = "launch:\n" + clock_node(f"    - {{from: {params}}}\n    - {{name: step_s, value: 3.0}}\n")
    assert parameters_of(read_launch_file(write_launch(tmp_path, text)))["step_s"] == 2.0


# -- 10 and 11. topics from the launch description -----------------------------------------------------------


def test_11_topics_lists_the_clock_subscriptions_of_sim_time_nodes() -> None:
    """ROS2: a node with use_sim_time subscribes /clock (rclpy/time_source.py TimeSource, on use_sim_time)."""
    _nodes, topics = describe_graph(read_launch_file(REPO / "launch" / "demo.launch.yaml"))
    clock = next(topic for topic in topics if topic.name == "/clock")
    assert clock.publishers == ("/demo_clock",)
    assert clock.subscribers == ("/demo_joint_publisher", "/demo_monitor")  # config/demo.yaml: all but the clock


def test_10_describing_a_graph_builds_nothing(tmp_path: Path) -> None:
    """``ros2 launch --print`` describes without executing; so does describe_graph (no node is built)."""
    code = (
        "import sys\n"
        "from robot_rl.runtime.launch_file import read_launch_file\n"
        "from robot_rl.runtime.launcher import describe_graph\n"
        f"plan = read_launch_file(__import__('pathlib').Path({str(REPO / 'launch' / 'sim.launch.yaml')!r}),"
        f" {{'base': {str(tmp_path / 'no_base')!r}, 'calibration_dir': {str(tmp_path / 'calibration')!r}}})\n"
        "describe_graph(plan)\n"
        "heavy = sorted(m for m in ('torch', 'robosuite', 'mujoco', 'lerobot', 'pyrealsense2') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "ROBOT_RL_BACKEND": "inproc", "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no calibration, no params file


def test_10_building_writes_the_generated_params_files(tmp_path: Path) -> None:
    """Launching (not describing) writes the generated params files the argv names, as launch_ros does."""
    plan = read_launch_file(REPO / "launch" / "demo.launch.yaml")
    assert not plan.params_dir.exists()
    _context, nodes = build_inproc(plan)
    for node in nodes:
        node.destroy_node()
    assert all(path.is_file() for path in plan.generated)


# -- the robot description: $(command) and a parameter's type -------------------------------------------------


def test_command_substitution_gives_the_commands_stdout(tmp_path: Path) -> None:
    """ROS2: $(command 'cmd' [on_stderr]) splits the command with shlex, runs it without a shell and gives its stdout;
    a non-zero exit fails, and so does output on stderr unless on_stderr is ignore, warn or capture (stdout and
    stderr together) (launch/substitutions/command.py Command.perform)."""
    urdf = tmp_path / "robot.urdf"
    urdf.write_text("<robot name='r'/>\n")
    cases = {
        f"$(command 'cat {urdf}')": "<robot name='r'/>\n",
        "$(command 'sh -c \"echo out; echo err >&2\"' ignore)": "out\n",
        "$(command 'sh -c \"echo out; echo err >&2\"' capture)": "out\nerr\n",
    }
    for expression, expected in cases.items():
        text = "launch:\n" + clock_node(f"    - {{name: value, value: {json.dumps(expression)}, type: str}}\n")
        assert parameters_of(read_launch_file(write_launch(tmp_path, text)))["value"] == expected
    for expression, error in [
        ("$(command 'sh -c \"echo err >&2\"')", "wrote to stderr: err"),
        ("$(command 'false')", "failed with exit code 1"),
        ("$(command 'no-such-program-here')", "file not found"),
        ("$(command 'true' loudly)", "on_stderr must be one of"),
    ]:
        text = "launch:\n" + clock_node(f"    - {{name: value, value: {json.dumps(expression)}, type: str}}\n")
        with pytest.raises(LaunchError, match=error):
            read_launch_file(write_launch(tmp_path, text))


def test_a_str_parameter_keeps_its_text(tmp_path: Path) -> None:
    """ROS2: a param entry's ``type: str`` gives ParameterValue(value, value_type=str), whose substituted text is kept
    as it is (launch_ros/actions/node.py Node.parse_nested_parameters, launch/utilities/type_utils.py coerce_to_type);
    without it the text is read as YAML, which fails on a URDF with ': ' in a comment. launch_ros writes it with
    yaml.dump and rcl reads it back as that string. Other types (bool, int, float, list_of_*) are not supported here."""
    urdf = tmp_path / "robot.urdf"
    urdf.write_text("<?xml version='1.0'?>\n<!-- x: y # z -->\n<robot name='r'>\n  <link name='a'/>\n</robot>\n")

    def launch(extra: str) -> Path:
        entry = f"    - {{name: robot_description, value: \"$(command 'cat {urdf}')\"{extra}}}\n"
        return write_launch(tmp_path, "launch:\n" + clock_node(entry))

    assert parameters_of(read_launch_file(launch(", type: str")))["robot_description"] == urdf.read_text()
    with pytest.raises(LaunchError, match="is not valid YAML"):
        read_launch_file(launch(""))
    with pytest.raises(LaunchError, match="type 'int' is not supported here"):
        read_launch_file(launch(", type: int"))
    literal = "launch:\n" + clock_node("    - {name: value, value: 'off', type: str}\n")
    assert parameters_of(read_launch_file(write_launch(tmp_path, literal)))["value"] == "off"
