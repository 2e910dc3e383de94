"""Read ROS2-native YAML launch files (``*.launch.yaml``) into a list of nodes to start.

Supported entries, with launch / launch_ros semantics: ``arg`` (default, description,
choice), ``let``, ``node``, ``include``, ``group`` (scoped, children),
``push_ros_namespace`` (or ``push-ros-namespace``), and the ``if`` / ``unless``
conditions on every entry. Anything else is an error naming the file and the entry:
nothing is ignored silently. The files stay valid for ``ros2 launch``.

Each node becomes a :class:`NodeSpec` whose ``argv`` is the command line that
launch_ros would build: the node's ``args``, its ``ros_args``, then ``-r __node:=``,
``-r __ns:=``, one ``--params-file`` per ``param`` entry (``from:`` files in order,
then the name/value parameters in a generated file) and the remaps.
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot_rl.errors import InvalidNameError, LaunchError
from robot_rl.runtime.names import make_namespace_absolute, prefix_namespace, validate_node_name
from robot_rl.runtime.params import LAUNCH_PARAMS_PREFIX, parse_parameter_value
from robot_rl.runtime.substitutions import SubstitutionContext, package_share, substitute

_CONDITIONS = {"if", "unless"}
_ALLOWED: dict[str, set[str]] = {
    "arg": {"name", "default", "description", "choice"},
    "let": {"name", "value"},
    "node": {"pkg", "exec", "name", "namespace", "output", "args", "ros_args", "remap", "param"},
    "include": {"file", "arg"},
    "group": {"scoped", "children"},
    "push_ros_namespace": {"namespace"},
    "push-ros-namespace": {"namespace"},
}


@dataclass
class NodeSpec:
    """One node to start: what ros2 launch would execute."""

    package: str  # the package of the executable
    executable: str  # the executable name (a console script in lib/<package>)
    name: str | None  # the node name from the launch file, None keeps the name in code
    namespace: str | None  # the absolute namespace, None keeps the namespace in code
    argv: list[str]  # the executable's arguments, including --ros-args
    output: str  # 'screen', 'log' or 'both'
    where: str  # "file: entry" for error messages


@dataclass
class LaunchPlan:
    """The result of reading a launch file: the nodes and the final launch configurations."""

    nodes: list[NodeSpec] = field(default_factory=list)  # in launch-file order
    arguments: dict[str, str] = field(default_factory=dict)  # every declared arg with its value
    params_dir: tempfile.TemporaryDirectory | None = None  # holds generated params files


@dataclass
class _Scope:
    variables: dict[str, str]
    ros_namespace: str | None


class _Reader:
    """Walks the entries of one launch file (and its includes) in order."""

    def __init__(self, plan: LaunchPlan, declared: dict[str, dict[str, Any]]) -> None:
        self.plan = plan
        self.declared = declared
        self.chain: list[Path] = []  # the files being read, outermost first: an include of one of them is a loop

    def _params_dir(self) -> Path:
        if self.plan.params_dir is None:
            self.plan.params_dir = tempfile.TemporaryDirectory(prefix="robot_rl_launch_params_")
        return Path(self.plan.params_dir.name)

    def read_file(self, path: Path, scope: _Scope) -> None:
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as error:
            raise LaunchError(f"{path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise LaunchError(f"{path}: malformed YAML{where}") from None
        if not isinstance(document, dict) or set(document) != {"launch"} or not isinstance(document["launch"], list):
            raise LaunchError(f"{path}: a launch file must be a mapping with one key 'launch' holding a list")
        self.chain.append(path.resolve())
        try:
            self.read_entries(document["launch"], path, scope)
        finally:
            self.chain.pop()

    def read_entries(self, entries: list, path: Path, scope: _Scope) -> None:
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or len(entry) != 1:
                raise LaunchError(f"{path}: entry {index + 1} must be a mapping with exactly one key (the entry type)")
            kind, body = next(iter(entry.items()))
            where = f"{path}: entry {index + 1} ({kind})"
            if kind not in _ALLOWED:
                raise LaunchError(f"{where}: unknown entry {kind!r}; supported: {', '.join(sorted(_ALLOWED))}")
            if kind == "group" and isinstance(body, list):
                body = {"children": body}
            if not isinstance(body, dict):
                raise LaunchError(f"{where}: expected a mapping of attributes")
            unknown = set(body) - _ALLOWED[kind] - _CONDITIONS
            if unknown:
                raise LaunchError(f"{where}: unsupported attribute(s) {', '.join(sorted(unknown))}")
            context = SubstitutionContext(scope.variables, path)
            if not self._condition_holds(body, context, where):
                continue
            getattr(self, "_" + kind.replace("-", "_"))(body, path, scope, context, where)

    def _text(
        self, body: dict, key: str, context: SubstitutionContext, where: str, required: bool = True
    ) -> str | None:
        if key not in body or body[key] is None:
            if required:
                raise LaunchError(f"{where}: missing attribute {key!r}")
            return None
        try:
            return substitute(str(body[key]), context)
        except LaunchError as error:
            raise LaunchError(f"{where}: {error}") from None

    def _condition_holds(self, body: dict, context: SubstitutionContext, where: str) -> bool:
        if "if" in body and "unless" in body:
            raise LaunchError(f"{where}: use either 'if' or 'unless', not both")
        for key, wanted in (("if", True), ("unless", False)):
            if key in body:
                raw = body[key]
                text = str(raw).lower() if isinstance(raw, bool) else self._text(body, key, context, where).lower()  # type: ignore[union-attr]
                if text not in ("true", "false", "1", "0"):
                    raise LaunchError(f"{where}: condition {key}: {text!r} is not one of true, false, 1, 0")
                return (text in ("true", "1")) == wanted
        return True

    def _arg(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        name = self._text(body, "name", context, where)
        default = self._text(body, "default", context, where, required=False)
        choices = None
        if "choice" in body:
            if not isinstance(body["choice"], list) or not all(
                isinstance(item, dict) and set(item) == {"value"} for item in body["choice"]
            ):
                raise LaunchError(f"{where}: 'choice' must be a list of {{value: ...}} items")
            choices = [substitute(str(item["value"]), context) for item in body["choice"]]
        description = self._text(body, "description", context, where, required=False) or ""
        self.declared[name] = {"default": default, "description": description, "choices": choices}  # type: ignore[index]
        if name not in scope.variables:
            if default is None:
                raise LaunchError(f"{where}: required launch argument {name!r} was not given (use {name}:=VALUE)")
            scope.variables[name] = default  # type: ignore[index]
        value = scope.variables[name]  # type: ignore[index]
        if choices is not None and value not in choices:
            raise LaunchError(f"{where}: argument {name}={value!r} is not one of {', '.join(map(repr, choices))}")
        self.plan.arguments[name] = value  # type: ignore[index]

    def _let(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        name = self._text(body, "name", context, where)
        scope.variables[name] = self._text(body, "value", context, where)  # type: ignore[index,assignment]

    def _push_ros_namespace(
        self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str
    ) -> None:
        namespace = self._text(body, "namespace", context, where)
        pushed = prefix_namespace(scope.ros_namespace, namespace)
        try:
            scope.ros_namespace = make_namespace_absolute(pushed or "")
        except InvalidNameError as error:
            raise LaunchError(f"{where}: {error}") from None

    def _group(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        scoped = body.get("scoped", True)
        if isinstance(scoped, str):
            scoped = substitute(scoped, context).lower()
            if scoped not in ("true", "false", "1", "0"):
                raise LaunchError(f"{where}: scoped must be true or false, got {scoped!r}")
            scoped = scoped in ("true", "1")
        children = body.get("children")
        if not isinstance(children, list):
            raise LaunchError(f"{where}: a group needs a list of children")
        if scoped:
            self.read_entries(children, path, _Scope(dict(scope.variables), scope.ros_namespace))
        else:
            self.read_entries(children, path, scope)

    def _include(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        file_text = self._text(body, "file", context, where)
        included = Path(file_text)  # type: ignore[arg-type]
        if not included.is_absolute():
            included = path.parent / included
        for item in body.get("arg") or []:
            if not isinstance(item, dict) or set(item) != {"name", "value"}:
                raise LaunchError(f"{where}: each include arg needs exactly 'name' and 'value'")
            scope.variables[substitute(str(item["name"]), context)] = substitute(str(item["value"]), context)
        if not included.is_file():
            raise LaunchError(f"{where}: included file {included} does not exist")
        if included.resolve() in self.chain:  # a file may be included twice, but not inside itself
            loop = [*self.chain[self.chain.index(included.resolve()) :], included.resolve()]
            raise LaunchError(
                f"{where}: include loop: {loop[0].name} includes itself via {' -> '.join(p.name for p in loop[1:])}"
            )
        self.read_file(included, scope)

    def _node(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        package = self._text(body, "pkg", context, where)
        executable = self._text(body, "exec", context, where)
        name = self._text(body, "name", context, where, required=False)
        namespace = self._text(body, "namespace", context, where, required=False)
        output = self._text(body, "output", context, where, required=False) or "log"
        if output not in ("screen", "log", "both"):
            raise LaunchError(f"{where}: output must be screen, log or both, got {output!r}")
        try:
            if name is not None:
                validate_node_name(name)
            full_namespace = prefix_namespace(scope.ros_namespace, namespace)
            full_namespace = make_namespace_absolute(full_namespace) if full_namespace is not None else None
        except InvalidNameError as error:
            raise LaunchError(f"{where}: {error}") from None
        argv = shlex.split(self._text(body, "args", context, where, required=False) or "")
        ros_args = shlex.split(self._text(body, "ros_args", context, where, required=False) or "")
        if ros_args:
            argv += ["--ros-args", *ros_args]
        argv.append("--ros-args")
        if name is not None:
            argv += ["-r", f"__node:={name}"]
        if full_namespace is not None:
            argv += ["-r", f"__ns:={full_namespace}"]
        fully_specified = name is not None and full_namespace is not None
        params_key = (("" if full_namespace == "/" else full_namespace) + "/" + name) if fully_specified else "/**"  # type: ignore[operator]
        for params_file in self._param_files(body.get("param"), params_key, context, where):
            argv += ["--params-file", params_file]
        for item in body.get("remap") or []:
            if not isinstance(item, dict) or set(item) != {"from", "to"}:
                raise LaunchError(f"{where}: each remap needs exactly 'from' and 'to'")
            argv += ["-r", f"{substitute(str(item['from']), context)}:={substitute(str(item['to']), context)}"]
        self.plan.nodes.append(NodeSpec(package, executable, name, full_namespace, argv, output, where))  # type: ignore[arg-type]

    def _param_values(self, items: Any, context: SubstitutionContext, where: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for item in items:
            name = substitute(str(item["name"]), context)
            if "param" in item:
                if set(item) != {"name", "param"} or not isinstance(item["param"], list):
                    raise LaunchError(f"{where}: nested param {name!r} needs 'name' and a list 'param'")
                values[name] = self._param_values(item["param"], context, where)
                continue
            if set(item) != {"name", "value"}:
                raise LaunchError(f"{where}: param {name!r} needs exactly 'name' and 'value' (or 'from')")
            values[name] = self._param_value(item["value"], context, f"{where}: param {name!r}")
        return values

    def _param_value(self, value: Any, context: SubstitutionContext, where: str) -> Any:
        if isinstance(value, list):
            return [self._param_value(item, context, where) for item in value]
        if isinstance(value, str):
            try:
                return parse_parameter_value(substitute(value, context))
            except ValueError as error:
                raise LaunchError(f"{where}: {error}") from None
        return value

    def _param_files(self, items: Any, params_key: str, context: SubstitutionContext, where: str) -> list[str]:
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise LaunchError(f"{where}: 'param' must be a list of mappings")
        files: list[str] = []
        named = []
        for item in items:
            if "from" in item:
                if set(item) != {"from"}:
                    raise LaunchError(f"{where}: a 'from' param entry takes no other keys")
                params_file = Path(substitute(str(item["from"]), context))
                if not params_file.is_file():
                    raise LaunchError(f"{where}: params file {params_file} does not exist")
                files.append(str(params_file))
            elif "name" in item:
                named.append(item)
            else:
                raise LaunchError(f"{where}: each param entry needs 'name' or 'from'")
        if named:
            values = self._param_values(named, context, where)
            generated = self._params_dir() / f"{LAUNCH_PARAMS_PREFIX}{len(list(self._params_dir().iterdir()))}.yaml"
            generated.write_text(yaml.safe_dump({params_key: {"ros__parameters": values}}))
            files.append(str(generated))
        return files


def resolve_launch_path(file_or_package: str, name: str | None = None) -> Path:
    """Resolve ``FILE`` or ``PACKAGE NAME.launch.yaml`` (like ``ros2 launch``) to a path."""
    path = Path(file_or_package) if name is None else package_share(file_or_package) / "launch" / name
    if not path.is_file():
        raise LaunchError(f"launch file {path} does not exist")
    return path.resolve()


def read_launch_file(path: Path, arguments: dict[str, str] | None = None) -> LaunchPlan:
    """Read a launch file with ``name:=value`` arguments into a :class:`LaunchPlan`.

    Raises:
        LaunchError: For malformed YAML, unknown entries or substitutions, a bad
            condition, a choice violation, a missing file or a missing required argument.
    """
    plan = LaunchPlan()
    declared: dict[str, dict[str, Any]] = {}
    given = dict(arguments or {})
    _Reader(plan, declared).read_file(path, _Scope(dict(given), None))
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise LaunchError(
            f"{path}: unknown launch argument(s) {', '.join(unknown)}; declared: {', '.join(sorted(declared))}"
        )
    return plan


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """Parse ``name:=value`` command-line items."""
    arguments = {}
    for item in items:
        if ":=" not in item:
            raise LaunchError(f"launch argument {item!r} must be written name:=value")
        name, value = item.split(":=", 1)
        arguments[name] = value
    return arguments
