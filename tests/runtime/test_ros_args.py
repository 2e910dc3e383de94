"""Parsing of the --ros-args command line (rcl syntax)."""

from pathlib import Path

import pytest

from robot_rl.errors import RosArgsError
from robot_rl.runtime.names import RemapRule
from robot_rl.runtime.ros_args import ParamRule, ParamsFileRule, parse_ros_args


def test_full_command_line_like_ros2_launch() -> None:
    parsed = parse_ros_args(
        [
            "--my-flag",
            "--ros-args",
            "-r",
            "__node:=renamed",
            "-r",
            "__ns:=/ns",
            "--params-file",
            "/tmp/p.yaml",
            "-p",
            "rate_hz:=20.0",
            "-r",
            "talker:chatter:=/out",
            "--remap",
            "a:=b",
            "--log-level",
            "debug",
            "--log-level",
            "talker:=warn",
            "--",
            "positional",
        ]
    )
    assert parsed.node_name == "renamed"
    assert parsed.namespace == "/ns"
    assert parsed.remaps == [RemapRule("chatter", "/out", node="talker"), RemapRule("a", "b")]
    assert parsed.parameter_sources == [ParamsFileRule(Path("/tmp/p.yaml")), ParamRule("rate_hz", 20.0)]
    assert parsed.log_levels == {"": "debug", "talker": "warn"}
    assert parsed.unparsed == ["--my-flag", "positional"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("5.0", 5.0),
        ("true", True),
        ("False", False),
        ("hello", "hello"),
        ("'5'", "5"),
        ("[1, 2]", [1, 2]),
        ("[1.5, 2.5]", [1.5, 2.5]),
        ("[a, b]", ["a", "b"]),
        ("null", "null"),
    ],
)
def test_param_values_are_yaml_typed(text: str, value: object) -> None:
    (rule,) = parse_ros_args(["--ros-args", "-p", f"x:={text}"]).parameter_sources
    assert rule == ParamRule("x", value)
    assert type(rule.value) is type(value)


def test_node_prefixed_param_rule() -> None:
    (rule,) = parse_ros_args(["--ros-args", "-p", "talker:a:=5"]).parameter_sources
    assert rule == ParamRule("a", 5, node="talker")


def test_first_special_remap_wins() -> None:
    parsed = parse_ros_args(["--ros-args", "-r", "__node:=first", "-r", "__node:=second"])
    assert parsed.node_name == "first"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--ros-args", "--bogus"], "unknown ROS argument '--bogus'"),
        (["--ros-args", "-r"], "missing its value"),
        (["--ros-args", "-r", "bad"], "expected \\[node:\\]name:=value"),
        (["--ros-args", "-r", "__ns:=rel"], "must be absolute"),
        (["--ros-args", "-r", "__ns:=/bad ns"], "invalid namespace"),
        (["--ros-args", "-r", "__node:=bad-name"], "invalid node name"),
        (["--ros-args", "-r", "__foo:=x"], "unknown special name"),
        (["--ros-args", "-p", "a:=[1, 2.0]"], "one scalar type"),
        (["--ros-args", "-p", "a:={x: 1}"], "unsupported parameter value"),
        (["--ros-args", "-p", "/ns/talker:b:=6"], "plain node name"),
        (["--ros-args", "--log-level", "bogus"], "level must be one of"),
    ],
)
def test_bad_ros_args(argv: list[str], fragment: str) -> None:
    with pytest.raises(RosArgsError, match=fragment):
        parse_ros_args(argv)


def test_without_ros_args_everything_is_unparsed() -> None:
    assert parse_ros_args(["-r", "x:=y"]).unparsed == ["-r", "x:=y"]
