"""Launch substitutions: ``$(var)``, ``$(env)``, ``$(find-pkg-share)``, ``$(find-pkg-prefix)``,
``$(eval)``, ``$(dirname)`` and ``$(command)``, with ROS2 launch's syntax.

A substitution is ``$(name arg arg ...)``. Arguments are separated by spaces, may be
quoted with ``'`` or ``"``, and may contain nested substitutions, as in
``$(eval '$(var rate) * 2')``.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from robot_rl.errors import LaunchError

PACKAGE = "robot_rl"


@dataclass(frozen=True)
class Substitution:
    """One parsed ``$(name args...)``; each argument is a list of text and substitutions."""

    name: str  # e.g. "var", "env", "find-pkg-share"
    args: tuple[tuple[Union[str, Substitution], ...], ...]  # the arguments, unevaluated


Parts = list[Union[str, Substitution]]


@dataclass
class SubstitutionContext:
    """What substitutions can read: launch configurations, the current file and the environment."""

    variables: dict[str, str] = field(default_factory=dict)  # launch configurations (args and lets)
    current_file: Path | None = None  # the launch file being read, for $(dirname)


def _parse_parts(text: str, pos: int, stop: str) -> tuple[Parts, int]:
    """Parse text and substitutions until a character in ``stop`` (outside nesting)."""
    parts: Parts = []
    buffer = ""
    while pos < len(text):
        char = text[pos]
        if text.startswith("$(", pos):
            if buffer:
                parts.append(buffer)
                buffer = ""
            substitution, pos = _parse_substitution(text, pos + 2)
            parts.append(substitution)
            continue
        if char in stop:
            break
        buffer += char
        pos += 1
    if buffer:
        parts.append(buffer)
    return parts, pos


def _parse_substitution(text: str, pos: int) -> tuple[Substitution, int]:
    start = pos
    while pos < len(text) and text[pos] not in " )":
        pos += 1
    name = text[start:pos]
    if not name:
        raise LaunchError(f"empty substitution '$()' in {text!r}")
    args: list[tuple[Union[str, Substitution], ...]] = []
    while True:
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos >= len(text):
            raise LaunchError(f"unterminated substitution '$({name}' in {text!r}")
        if text[pos] == ")":
            return Substitution(name, tuple(args)), pos + 1
        if text[pos] in "'\"":
            quote = text[pos]
            parts, pos = _parse_parts(text, pos + 1, quote)
            if pos >= len(text):
                raise LaunchError(f"unterminated quote in {text!r}")
            pos += 1
        else:
            parts, pos = _parse_parts(text, pos, " )")
        args.append(tuple(parts))


def parse_substitutions(text: str) -> Parts:
    """Parse a launch string into literal text and substitutions.

    Raises:
        LaunchError: On an unterminated ``$(`` or quote.
    """
    parts, pos = _parse_parts(text, 0, "")
    if pos != len(text):
        raise LaunchError(f"could not parse {text!r}")
    return parts


def _source_checkout() -> Path | None:
    """Return the repository root when robot_rl runs from a source checkout."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "package.xml").is_file() and (checkout / "launch").is_dir() else None


def _ament_lookup(package: str, prefix: bool) -> Path:
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_prefix,
            get_package_share_directory,
        )
    except ImportError:
        raise LaunchError(f"package {package!r} not found: without ROS2 only {PACKAGE!r} is known") from None
    try:
        return Path(get_package_prefix(package) if prefix else get_package_share_directory(package))
    except PackageNotFoundError:
        raise LaunchError(f"package {package!r} not found in the ament index") from None
    except OSError as error:  # ament_index_python: AMENT_PREFIX_PATH not set (no ROS2 environment sourced)
        raise LaunchError(f"package {package!r} not found: {error}") from None


def package_share(package: str) -> Path:
    """Return the share directory of a package (``$(find-pkg-share)``).

    robot_rl resolves to the source checkout when run from one, else to
    ``<prefix>/share/robot_rl`` of an installed package. Other packages need ROS2's
    ament index.
    """
    if package != PACKAGE:
        return _ament_lookup(package, prefix=False)
    checkout = _source_checkout()
    if checkout is not None:
        return checkout
    installed = Path(sys.prefix) / "share" / PACKAGE
    if not installed.is_dir():
        raise LaunchError(f"package {PACKAGE!r} has no share directory {installed} (is it installed?)")
    return installed


def package_prefix(package: str) -> Path:
    """Return the install prefix of a package (``$(find-pkg-prefix)``); a source checkout is its own prefix."""
    if package != PACKAGE:
        return _ament_lookup(package, prefix=True)
    return _source_checkout() or package_share(PACKAGE).parents[1]


def _join(values: list[str]) -> str:
    return "".join(values)


def evaluate(parts: Parts | tuple, context: SubstitutionContext) -> str:
    """Evaluate parsed parts to a string."""
    return _join([part if isinstance(part, str) else _evaluate_one(part, context) for part in parts])


def _expect_args(substitution: Substitution, minimum: int, maximum: int) -> None:
    count = len(substitution.args)
    if not minimum <= count <= maximum:
        expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
        raise LaunchError(f"$({substitution.name}) takes {expected} argument(s), got {count}")


def _evaluate_one(substitution: Substitution, context: SubstitutionContext) -> str:
    args = [evaluate(arg, context) for arg in substitution.args]
    name = substitution.name
    if name == "var":
        _expect_args(substitution, 1, 1)
        if args[0] not in context.variables:
            raise LaunchError(f"$(var {args[0]}): launch configuration {args[0]!r} is not set")
        return context.variables[args[0]]
    if name == "env":
        _expect_args(substitution, 1, 2)
        if args[0] in os.environ:
            return os.environ[args[0]]
        if len(args) == 2:
            return args[1]
        raise LaunchError(f"$(env {args[0]}): environment variable {args[0]!r} is not set and has no default")
    if name == "find-pkg-share":
        _expect_args(substitution, 1, 1)
        return str(package_share(args[0]))
    if name == "find-pkg-prefix":
        _expect_args(substitution, 1, 1)
        return str(package_prefix(args[0]))
    if name == "dirname":
        _expect_args(substitution, 0, 0)
        if context.current_file is None:
            raise LaunchError("$(dirname) is only available inside a launch file")
        return str(context.current_file.parent)
    if name == "eval":
        _expect_args(substitution, 1, 1)
        return _python_expression(args[0])
    if name == "command":
        _expect_args(substitution, 1, 2)
        return _command_output(args[0], args[1] if len(args) == 2 else "fail")
    raise LaunchError(
        f"unknown substitution $({name}); supported: var, env, find-pkg-share, find-pkg-prefix, eval, dirname, command"
    )


def _command_output(command: str, on_stderr: str) -> str:
    """Run a command like launch's Command substitution (launch/substitutions/command.py) and return its stdout.

    The command is split with shlex and run without a shell. A non-zero exit is an error; output on stderr is an
    error too (``on_stderr`` fail, the default), a warning (warn), ignored (ignore) or appended to the result in
    order (capture).
    """
    if on_stderr not in ("fail", "ignore", "warn", "capture"):
        raise LaunchError(f"$(command): on_stderr must be one of fail, ignore, warn, capture, got {on_stderr!r}")
    argv = shlex.split(command)
    if not argv:
        raise LaunchError("$(command): empty command")
    stderr = subprocess.STDOUT if on_stderr == "capture" else subprocess.PIPE
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, check=False)
    except FileNotFoundError as error:
        raise LaunchError(f"$(command {command!r}): file not found: {error}") from None
    if result.returncode != 0:
        captured = f"; stderr: {result.stderr.strip()}" if result.stderr else ""
        raise LaunchError(f"$(command {command!r}) failed with exit code {result.returncode}{captured}")
    if result.stderr:
        message = f"$(command {command!r}) wrote to stderr: {result.stderr.strip()}"
        if on_stderr == "fail":
            raise LaunchError(message)
        if on_stderr == "warn":
            from robot_rl.runtime.log import InprocLogger

            InprocLogger("launch", "info").warning(message)
    return result.stdout


def _python_expression(expression: str) -> str:
    """Evaluate like launch's PythonExpression: Python with the math module's names in scope."""
    try:
        return str(eval(expression, {"math": math}, dict(vars(math))))
    except Exception as error:
        raise LaunchError(f"$(eval {expression!r}) failed: {type(error).__name__}: {error}") from None


def substitute(text: str, context: SubstitutionContext) -> str:
    """Parse and evaluate a launch string."""
    return evaluate(parse_substitutions(text), context)
