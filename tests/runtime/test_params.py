"""Parameters: params files, override precedence and type checking.

Expected precedence is rcl's (see robot_rl.runtime.params): patterns are merged into
one ordered table in command-line order, a pattern keeps its first position, and a
node applies every matching pattern in table order. The same cases are checked
against real rclpy in test_rclpy_backend.py.
"""

from pathlib import Path

import pytest

from robot_rl.errors import ParameterError, ParameterTypeError
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.params import ParameterOverrides, ParameterType, load_params_file, parameter_type_of

FILE_1 = """
/**:
  ros__parameters:
    a: 1
    b: 1
    c: 1
/talker:
  ros__parameters:
    a: 2
"""
FILE_2 = """
talker:
  ros__parameters:
    b: 3
/**:
  ros__parameters:
    b: 4
    c: 4
"""
FILE_NS = """
/ns/*:
  ros__parameters:
    e: 1
/**:
  ros__parameters:
    e: 2
    g: 2
/ns/talker:
  ros__parameters:
    g: 3
/**/talker:
  ros__parameters:
    g: 4
"""


class Talker(Node):
    def __init__(self, names: tuple[str, ...] = ("a", "b", "c"), **kwargs: object) -> None:
        super().__init__("talker", **kwargs)  # type: ignore[arg-type]
        self.values = {name: self.declare_parameter(name, 0, f"test parameter {name}").value for name in names}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def values(cli_args: list[str], namespace: str = "", names: tuple[str, ...] = ("a", "b", "c")) -> dict:
    return Talker(names, context=InprocContext(), namespace=namespace, cli_args=cli_args).values


def test_node_specific_entry_beats_earlier_wildcard(tmp_path: Path) -> None:
    f1 = write(tmp_path, "f1.yaml", FILE_1)
    assert values(["--ros-args", "--params-file", f1]) == {"a": 2, "b": 1, "c": 1}


def test_command_line_param_after_file_wins(tmp_path: Path) -> None:
    f1 = write(tmp_path, "f1.yaml", FILE_1)
    assert values(["--ros-args", "--params-file", f1, "-p", "b:=5"])["b"] == 5


def test_command_line_param_before_file_loses(tmp_path: Path) -> None:
    f1 = write(tmp_path, "f1.yaml", FILE_1)
    assert values(["--ros-args", "-p", "b:=5", "--params-file", f1])["b"] == 1


def test_wildcard_param_does_not_beat_later_node_entry(tmp_path: Path) -> None:
    # '-p a:=5' merges into the '/**' pattern, which comes before '/talker' in the table.
    f1 = write(tmp_path, "f1.yaml", FILE_1)
    assert values(["--ros-args", "--params-file", f1, "-p", "a:=5"])["a"] == 2
    assert values(["--ros-args", "--params-file", f1, "-p", "talker:a:=5"])["a"] == 5


def test_second_file_merges_into_existing_patterns(tmp_path: Path) -> None:
    f1, f2 = write(tmp_path, "f1.yaml", FILE_1), write(tmp_path, "f2.yaml", FILE_2)
    assert values(["--ros-args", "--params-file", f1, "--params-file", f2]) == {"a": 2, "b": 3, "c": 4}


def test_wildcard_patterns_in_namespaces(tmp_path: Path) -> None:
    f = write(tmp_path, "ns.yaml", FILE_NS)
    assert values(["--ros-args", "--params-file", f], namespace="/ns", names=("e", "g")) == {"e": 2, "g": 4}


def test_node_prefixed_param_uses_the_remapped_name() -> None:
    args = ["--ros-args", "-r", "__node:=renamed", "-p", "talker:a:=5", "-p", "renamed:b:=6"]
    assert values(args) == {"a": 0, "b": 6, "c": 0}


def test_constructor_overrides_win(tmp_path: Path) -> None:
    f1 = write(tmp_path, "f1.yaml", FILE_1)
    node = Talker(context=InprocContext(), cli_args=["--ros-args", "--params-file", f1], parameter_overrides={"a": 9})
    assert node.values["a"] == 9


def test_nested_yaml_keys_become_dotted_names(tmp_path: Path) -> None:
    path = write(
        tmp_path, "nested.yaml", "/ns:\n  talker:\n    ros__parameters:\n      limits:\n        max_vel: 0.5\n"
    )
    assert load_params_file(Path(path)) == {"/ns/talker": {"limits.max_vel": 0.5}}


def test_type_mismatch_is_rejected_with_the_source() -> None:
    class Rate(Node):
        def __init__(self, **kwargs: object) -> None:
            super().__init__("rate", **kwargs)  # type: ignore[arg-type]
            self.declare_parameter("rate_hz", 10.0, "rate, Hz")

    with pytest.raises(ParameterTypeError, match=r"expects double, got integer 5 \(write 5.0\)") as info:
        Rate(context=InprocContext(), cli_args=["--ros-args", "-p", "rate_hz:=5"])
    assert "-p rate_hz" in str(info.value)
    with pytest.raises(ParameterTypeError, match="expects double, got string"):
        Rate(context=InprocContext(), cli_args=["--ros-args", "-p", "rate_hz:=fast"])


def test_declare_errors() -> None:
    node = Talker(context=InprocContext())
    with pytest.raises(ParameterError, match="already declared"):
        node.declare_parameter("a", 1)
    with pytest.raises(ParameterError, match="not declared"):
        node.get_parameter("missing")
    with pytest.raises(ParameterError, match="bad default"):
        node.declare_parameter("d", None)  # type: ignore[arg-type]
    assert node.get_parameter("use_sim_time").value is False


def test_empty_list_override_fits_any_array_type() -> None:
    class Arrays(Node):
        def __init__(self, **kwargs: object) -> None:
            super().__init__("arrays", **kwargs)  # type: ignore[arg-type]
            self.names = self.declare_parameter("names", ["x"], "names").value

    assert Arrays(context=InprocContext(), cli_args=["--ros-args", "-p", "names:=[]"]).names == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: [1\n", "malformed YAML"),
        ("- 1\n", "expected a mapping"),
        ("ros__parameters: {a: 1}\n", "must be under a node name"),
        ("talker:\n  ros__parameters: 5\n", "must be a mapping"),
        ("talker:\n  ros__parameters:\n    a:\n", "no value"),  # rcl: "No value at line 3"
        ("talker:\n  ros__parameters:\n    a: [1, x]\n", "one scalar type"),  # rcl: "Sequence should be of same type"
    ],
)
def test_bad_params_files_name_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=fragment) as info:
        load_params_file(path)
    assert str(path) in str(info.value)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="No such file"):
        load_params_file(tmp_path / "missing.yaml")


def test_parameter_types() -> None:
    assert parameter_type_of(True) == ParameterType.BOOL
    assert parameter_type_of(1) == ParameterType.INTEGER
    assert parameter_type_of(1.0) == ParameterType.DOUBLE
    assert parameter_type_of("x") == ParameterType.STRING
    assert parameter_type_of([1.0, 2.0]) == ParameterType.DOUBLE_ARRAY
    with pytest.raises(ValueError, match="one scalar type"):
        parameter_type_of([1, "x"])


def test_override_table_keeps_first_position() -> None:
    table = ParameterOverrides()
    table.add("/**", {"a": 1})
    table.add("/talker", {"a": 2})
    table.add("/**", {"a": 3})
    assert table.for_node("/talker") == {"a": 2}
    assert table.for_node("/other") == {"a": 3}


class Gate(Node):
    """A node with strict parameters, like the safety gate and the robot driver."""

    strict_parameters = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__("gate", **kwargs)  # type: ignore[arg-type]
        self.max_lin_vel_mps = self.declare_parameter("max_lin_vel_mps", 0.25, "speed limit, m/s").value
        self.publisher = self.create_publisher(msg.String, "out", 10)


@pytest.mark.parametrize(
    ("source", "params_file"),
    [
        ("-p", None),
        ("-p node prefix", None),
        ("params file, node key", "gate:\n  ros__parameters:\n    max_lin_vel: 0.1\n"),
        ("params file, /**/node key", "/**/gate:\n  ros__parameters:\n    max_lin_vel: 0.1\n"),
        ("launch-generated file", "/**:\n  ros__parameters:\n    max_lin_vel: 0.1\n"),
        ("parameter_overrides", None),
    ],
)
def test_strict_node_refuses_an_undeclared_override(tmp_path: Path, source: str, params_file: str | None) -> None:
    cli_args = {"-p": ["-p", "max_lin_vel:=0.1"], "-p node prefix": ["-p", "gate:max_lin_vel:=0.1"]}.get(source, [])
    if params_file is not None:
        name = "launch_params_0.yaml" if source == "launch-generated file" else "gate.yaml"
        cli_args = ["--params-file", write(tmp_path, name, params_file)]
    overrides = {"max_lin_vel": 0.1} if source == "parameter_overrides" else {}
    context = InprocContext()
    with pytest.raises(ParameterError) as info:
        Gate(context=context, cli_args=["--ros-args", *cli_args], parameter_overrides=overrides)
    message = str(info.value)
    assert message.startswith("/gate: unknown parameter 'max_lin_vel' (from ")
    assert "did you mean 'max_lin_vel_mps'?" in message
    assert "\n" not in message
    assert context.graph.publishers == []  # the refused node was destroyed: it can never publish


def test_strict_node_only_warns_about_wildcard_sections_of_shared_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A '/**' section is shared by every node of a launch: its names may be meant for other nodes."""
    shared = write(tmp_path, "stack.yaml", "/**:\n  ros__parameters:\n    use_sim_time: true\n    rate_hz: 5.0\n")
    gate = Gate(context=InprocContext(), cli_args=["--ros-args", "--params-file", shared])
    assert gate.get_parameter("use_sim_time").value is True
    warnings = [line for line in capsys.readouterr().err.splitlines() if "[WARN]" in line]
    assert len(warnings) == 1
    assert warnings[0].endswith("[gate]: parameters set but never declared by this node: rate_hz")


def test_strict_node_error_lists_every_unknown_name() -> None:
    args = ["--ros-args", "-p", "max_lin_vel:=0.1", "-p", "zzz:=1"]
    with pytest.raises(ParameterError) as info:
        Gate(context=InprocContext(), cli_args=args)
    assert str(info.value) == (
        "/gate: unknown parameters 'max_lin_vel' (from -p max_lin_vel:=...; did you mean 'max_lin_vel_mps'?),"
        " 'zzz' (from -p zzz:=...): this node accepts only the parameters it declares"
    )
