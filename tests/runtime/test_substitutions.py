"""Launch substitutions, with the syntax and results of ROS2 launch's frontend."""

from pathlib import Path

import pytest

from robot_rl.errors import LaunchError
from robot_rl.runtime.substitutions import (
    Substitution,
    SubstitutionContext,
    package_prefix,
    package_share,
    parse_substitutions,
    substitute,
)

REPO = Path(__file__).resolve().parents[2]


def run(text: str, **variables: str) -> str:
    return substitute(text, SubstitutionContext(variables, REPO / "launch" / "x.launch.yaml"))


def test_parse_nested_and_quoted() -> None:
    parts = parse_substitutions("a $(eval '$(var x) + 1') b")
    assert parts == ["a ", Substitution("eval", ((Substitution("var", (("x",),)), " + 1"),)), " b"]


def test_var_and_plain_text() -> None:
    assert run("rate=$(var rate)Hz", rate="20") == "rate=20Hz"
    assert run("no substitution") == "no substitution"


def test_env_with_and_without_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOT_RL_TEST_ENV", "set")
    monkeypatch.delenv("ROBOT_RL_TEST_UNSET", raising=False)
    assert run("$(env ROBOT_RL_TEST_ENV)") == "set"
    assert run("$(env ROBOT_RL_TEST_UNSET fallback)") == "fallback"
    assert run("$(env ROBOT_RL_TEST_UNSET '')") == ""
    with pytest.raises(LaunchError, match="is not set and has no default"):
        run("$(env ROBOT_RL_TEST_UNSET)")


def test_eval_has_math_names() -> None:
    assert run("$(eval '2 * 3')") == "6"
    assert run("$(eval 'pi > 3')") == "True"
    assert run("$(eval '$(var a) + 1')", a="41") == "42"
    assert run("$(eval \"'$(var s)' == 'sim'\")", s="sim") == "True"
    with pytest.raises(LaunchError, match="ZeroDivisionError"):
        run("$(eval '1/0')")


def test_find_pkg_share_and_prefix_and_dirname() -> None:
    assert run("$(find-pkg-share robot_rl)/config") == f"{REPO}/config"
    assert package_share("robot_rl") == REPO
    assert package_prefix("robot_rl") == REPO  # a source checkout is its own prefix
    assert run("$(find-pkg-prefix robot_rl)") == str(REPO)
    assert run("$(dirname)/other.yaml") == f"{REPO}/launch/other.yaml"
    with pytest.raises(LaunchError, match="not found"):
        run("$(find-pkg-share no_such_package)")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("$(bogus x)", "unknown substitution \\$\\(bogus\\)"),
        ("$(var missing)", "'missing' is not set"),
        ("$(var a b)", "takes 1 argument"),
        ("$(var x", "unterminated substitution"),
        ("$(eval 'unclosed)", "unterminated quote"),
        ("$()", "empty substitution"),
        ("$(dirname x)", "takes 0 argument"),
    ],
)
def test_errors(text: str, fragment: str) -> None:
    with pytest.raises(LaunchError, match=fragment):
        run(text, x="1")
