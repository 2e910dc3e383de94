"""Read ROS2-native YAML launch files (``*.launch.yaml``) into a list of nodes to start, with ROS2's semantics.

Supported entries, with launch 3.4 / launch_ros 0.26 (Jazzy) semantics: ``arg`` (default, description,
choice), ``let``, ``node``, ``include``, ``group`` (scoped, forwarding, keep, children),
``push_ros_namespace`` (or ``push-ros-namespace``), and the ``if`` / ``unless`` conditions on every
entry. Anything else is an error naming the file and the entry: nothing is ignored silently. The files
stay valid for ``ros2 launch``; tests/runtime/test_launch_conformance.py holds one case per rule, each
with the value ROS2 gives and where in ROS2's source the rule comes from.

Each node becomes a :class:`NodeSpec` whose ``argv`` is the command line that launch_ros would build:
the node's ``args``, its ``ros_args``, then ``-r __node:=``, ``-r __ns:=``, one ``--params-file`` per
``param`` entry in the order written (a ``from:`` file, or a generated file holding one name/value
entry) and the remaps. Generated params files are kept in memory until :meth:`LaunchPlan.write_params_files`
(reading a launch file writes nothing).
"""

from __future__ import annotations

import contextlib
import math
import shlex
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot_rl.errors import InvalidNameError, LaunchError
from robot_rl.runtime.log import InprocLogger
from robot_rl.runtime.names import make_namespace_absolute, prefix_namespace, validate_node_name
from robot_rl.runtime.params import (
    LAUNCH_PARAMS_PREFIX,
    ParameterValue,
    SafeLoader,
    load_params_file,
    load_params_text,
)
from robot_rl.runtime.substitutions import SubstitutionContext, package_share, parse_substitutions, substitute

_CONDITIONS = {"if", "unless"}
_ALLOWED: dict[str, set[str]] = {
    "arg": {"name", "default", "description", "choice"},
    "let": {"name", "value"},
    "node": {"pkg", "exec", "name", "namespace", "output", "args", "ros_args", "remap", "param", "on_exit"},
    "include": {"file", "arg"},
    "group": {"scoped", "forwarding", "keep", "children"},
    "push_ros_namespace": {"namespace"},
    "push-ros-namespace": {"namespace"},
}
# Attributes that launch reads as strings (Entity.get_attr's default data_type=str): launch_yaml refuses another
# YAML type there ("expected to be of type str"), so an unquoted true, 5 or 1.0 is an error here too.
_STRINGS: dict[str, set[str]] = {
    "arg": {"name", "default", "description"},
    "let": {"name", "value"},
    "node": {"pkg", "exec", "name", "namespace", "output", "args", "ros_args", "on_exit"},
    "include": {"file"},
    "push_ros_namespace": {"namespace"},
    "push-ros-namespace": {"namespace"},
}
SUBSTITUTED_PARAMS_PREFIX = "substituted_"  # a ``from:`` file with ``allow_substs: true``, after substitution
# launch configurations launch itself reads (launch/actions/execute_local.py: the stop escalation's waits, s)
STOP_TIMEOUTS = ("sigterm_timeout", "sigkill_timeout")
DEFAULT_STOP_TIMEOUT_S = 5.0  # both waits' default in launch


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
    on_exit: str | None = None  # 'shutdown': the whole launch ends when this node ends (else only the node)


@dataclass(frozen=True)
class ArgumentInfo:
    """A declared launch argument, as ``--show-args`` lists it (not evaluated)."""

    name: str  # the argument name
    default: str | None  # the default as written (substitutions unevaluated); None = required
    description: str  # the description, with the valid choices appended as launch does
    conditional: bool  # declared under a condition (if/unless, or in a conditional group or include)
    choices: tuple[str, ...] | None = None  # the valid values, None = any


@dataclass
class LaunchPlan:
    """The result of reading a launch file: the nodes and the final launch configurations."""

    nodes: list[NodeSpec] = field(default_factory=list)  # in launch-file order
    arguments: dict[str, str] = field(default_factory=dict)  # every declared arg with its value
    warnings: list[str] = field(default_factory=list)  # what was logged as a warning while reading
    # ros2 launch's escalation when it stops a process: SIGINT, SIGTERM this many s later, SIGKILL sigkill_timeout_s
    # after that (the launch configurations sigterm_timeout and sigkill_timeout at the top level, default 5 each)
    sigterm_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    sigkill_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    params_dir: Path = field(  # where generated params files go; created by write_params_files()
        default_factory=lambda: Path(tempfile.gettempdir()) / f"robot_rl_launch_params_{uuid.uuid4().hex[:12]}"
    )
    generated: dict[Path, str] = field(default_factory=dict)  # generated params file -> its YAML text
    _loaded: dict[Path, dict[str, dict[str, ParameterValue]]] = field(default_factory=dict, repr=False)

    def write_params_files(self) -> None:
        """Write the generated params files the nodes' argv names (once; removed with the plan)."""
        if not self.generated or self.params_dir.is_dir():
            return
        self.params_dir.mkdir(parents=True)
        weakref.finalize(self, shutil.rmtree, self.params_dir, ignore_errors=True)
        for path, text in self.generated.items():
            path.write_text(text)

    def load_params(self, path: Path) -> dict[str, dict[str, ParameterValue]]:
        """Load a params file of the plan: a generated one from memory, any other from disk."""
        path = Path(path)
        if path not in self._loaded:
            text = self.generated.get(path)
            loaded = load_params_file(path) if text is None else load_params_text(text, f"params file {path}")
            self._loaded[path] = loaded
        return self._loaded[path]

    def add_generated(self, stem: str, text: str) -> Path:
        """Register a generated params file's text; return the path it will have."""
        path = self.params_dir / f"{stem}{len(self.generated)}.yaml"
        self.generated[path] = text
        return path


@dataclass
class _Scope:
    variables: dict[str, str]  # launch configurations (args, lets, include args)
    ros_namespace: str | None  # what push_ros_namespace pushed (launch_ros keeps it as a launch configuration)


@dataclass(frozen=True)
class _Including:
    """The file being read and how it was reached: the names its includer gives it, for required arguments."""

    given: frozenset[str]  # the include's arg names (the command line's for the top-level file)
    where: str | None  # the include entry, None for the top-level file


def _log_warning(message: str) -> None:
    InprocLogger("launch", "info").warning(message)


def _string(value: Any, where: str, key: str) -> str:
    """A string attribute (see ``_STRINGS``); another YAML type is an error, as in launch_yaml's Entity.get_attr."""
    if not isinstance(value, str):
        raise LaunchError(
            f"{where}: {key} must be a string, got {type(value).__name__} {value!r} (ros2 launch refuses it: quote it)"
        )
    return value


def _yaml_bool(raw: Any, where: str, key: str) -> bool:
    """``scoped`` and ``forwarding``: a YAML bool. launch would take a string as is, and 'false' is then true."""
    if not isinstance(raw, bool):
        raise LaunchError(f"{where}: {key} must be true or false unquoted, got {raw!r}")
    return raw


def _bool_attribute(raw: Any, context: SubstitutionContext, where: str, key: str) -> bool:
    """``allow_substs``: a YAML bool, or a string with substitutions giving true/false/1/0 (launch_ros)."""
    if isinstance(raw, bool):
        return raw
    text = substitute(str(raw), context).lower()
    if text not in ("true", "false", "1", "0"):
        raise LaunchError(f"{where}: {key} must be true or false, got {text!r}")
    return text in ("true", "1")


def _has_substitution(text: str) -> bool:
    return any(not isinstance(part, str) for part in parse_substitutions(text))


def _choices_of(body: dict, where: str) -> list[str] | None:
    """The literal choice values (launch: ``parser.escape_characters(choice.get_attr('value'))``, no substitution)."""
    if "choice" not in body:
        return None
    if not isinstance(body["choice"], list) or not all(
        isinstance(item, dict) and set(item) == {"value"} for item in body["choice"]
    ):
        raise LaunchError(f"{where}: 'choice' must be a list of {{value: ...}} items")
    if not body["choice"]:
        raise LaunchError(f"{where}: 'choice' is empty (launch: use no choice list instead)")
    return [_string(item["value"], where, "choice value") for item in body["choice"]]


def _description_of(body: dict, choices: list[str] | None) -> str:
    """The description as DeclareLaunchArgument builds it: literal, with the choices appended."""
    description = body.get("description")
    if description is None:
        return "no description given" if choices is None else f"One of: {choices}"
    text = str(description)
    if choices is not None:
        text += ("" if text.endswith(".") else ".") + f" Valid choices are: {choices}"
    return text


class _Reader:
    """Walks the entries of one launch file (and its includes) in order."""

    def __init__(self, plan: LaunchPlan, declared: dict[str, dict[str, Any]], given: frozenset[str]) -> None:
        self.plan = plan
        self.declared = declared
        self.chain: list[Path] = []  # the files being read, outermost first: an include of one of them is a loop
        self.including: list[_Including] = [_Including(given, None)]
        self.conditional = False  # inside a conditional group of the file being read

    def warn(self, message: str) -> None:
        self.plan.warnings.append(message)
        _log_warning(message)

    def read_file(self, path: Path, scope: _Scope) -> None:
        entries = read_entries_of(path)
        self.chain.append(path.resolve())
        try:
            self.read_entries(entries, path, scope)
        finally:
            self.chain.pop()

    def read_entries(self, entries: list, path: Path, scope: _Scope) -> None:
        for index, (kind, body) in enumerate(_entries(entries, path)):
            where = f"{path}: entry {index + 1} ({kind})"
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
                text = self._text(body, key, context, where).lower()  # type: ignore[union-attr]
                if text not in ("true", "false", "1", "0"):
                    raise LaunchError(f"{where}: condition {key}: {text!r} is not one of true, false, 1, 0")
                return (text in ("true", "1")) == wanted
        return True

    def _arg(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        if body.get("name") is None:
            raise LaunchError(f"{where}: missing attribute 'name'")
        name = str(body["name"])  # literal in launch (escape_characters only)
        choices = _choices_of(body, where)
        default = body.get("default")
        literal_default = default is not None and not _has_substitution(str(default))
        if literal_default and choices is not None and str(default) not in choices:  # launch checks it at parse time
            raise LaunchError(f"{where}: default {str(default)!r} of {name!r} is not one of its choices")
        self.declared[name] = {"default": default, "description": body.get("description") or "", "choices": choices}
        conditional = self.conditional or bool(_CONDITIONS & set(body))
        if default is None:
            self._check_required(name, conditional, scope, where)
        elif name not in scope.variables:  # launch: an arg set before (by the includer, or a parent) keeps its value
            scope.variables[name] = self._text(body, "default", context, where)  # type: ignore[assignment]
        value = scope.variables[name]
        if choices is not None and value not in choices:
            raise LaunchError(f"{where}: argument {name}={value!r} is not one of {', '.join(map(repr, choices))}")
        self.plan.arguments[name] = value

    def _check_required(self, name: str, conditional: bool, scope: _Scope, where: str) -> None:
        """A required argument: the includer must give it by name (launch: IncludeLaunchDescription.execute)."""
        including = self.including[-1]
        if not conditional and name not in including.given:
            if including.where is None:
                raise LaunchError(f"{where}: required launch argument {name!r} was not given (use {name}:=VALUE)")
            given = ", ".join(sorted(including.given)) or "none"
            raise LaunchError(
                f"{including.where}: included launch description missing required argument {name!r}"
                f" (declared in {where}); the include gives: {given}"
            )
        if name not in scope.variables:  # launch: DeclareLaunchArgument.execute
            raise LaunchError(f"{where}: required launch argument {name!r} was not provided")

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
        scoped = _yaml_bool(body.get("scoped", True), where, "scoped")
        forwarding = _yaml_bool(body.get("forwarding", True), where, "forwarding")
        children = body.get("children")
        if not isinstance(children, list):
            raise LaunchError(f"{where}: a group needs a list of children")
        keep = self._keep(body.get("keep"), context, where)
        if not scoped:
            inner = scope
            inner.variables.update(keep)
        elif forwarding:
            inner = _Scope({**scope.variables, **keep}, scope.ros_namespace)
        else:  # launch: ResetLaunchConfigurations(keep): every configuration goes, the pushed namespace too
            inner = _Scope(dict(keep), keep.get("ros_namespace"))
        outer_conditional = self.conditional
        self.conditional = outer_conditional or bool(_CONDITIONS & set(body))
        try:
            self.read_entries(children, path, inner)
        finally:
            self.conditional = outer_conditional

    def _keep(self, items: Any, context: SubstitutionContext, where: str) -> dict[str, str]:
        """A group's ``keep`` entries, evaluated before the group clears anything (launch: GroupAction)."""
        if items is None:
            return {}
        if not isinstance(items, list) or not all(isinstance(i, dict) and set(i) == {"name", "value"} for i in items):
            raise LaunchError(f"{where}: 'keep' must be a list of {{name: ..., value: ...}} items")
        return {
            substitute(_string(i["name"], where, "keep name"), context): substitute(
                _string(i["value"], where, "keep value"), context
            )
            for i in items
        }

    def _include(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        file_text = self._text(body, "file", context, where)
        included = Path(file_text)  # type: ignore[arg-type]
        if not included.is_absolute():
            included = path.parent / included
        names = []
        for item in body.get("arg") or []:
            if not isinstance(item, dict) or set(item) != {"name", "value"}:
                raise LaunchError(f"{where}: each include arg needs exactly 'name' and 'value'")
            name = substitute(_string(item["name"], where, "arg name"), context)
            scope.variables[name] = substitute(_string(item["value"], where, f"arg {name!r} value"), context)
            names.append(name)
        if not included.is_file():
            raise LaunchError(f"{where}: included file {included} does not exist")
        if included.resolve() in self.chain:  # a file may be included twice, but not inside itself
            loop = [*self.chain[self.chain.index(included.resolve()) :], included.resolve()]
            raise LaunchError(
                f"{where}: include loop: {loop[0].name} includes itself via {' -> '.join(p.name for p in loop[1:])}"
            )
        outer_conditional, self.conditional = self.conditional, False
        self.including.append(_Including(frozenset(names), where))
        try:
            self.read_file(included, scope)
        finally:
            self.including.pop()
            self.conditional = outer_conditional

    def _node(self, body: dict, path: Path, scope: _Scope, context: SubstitutionContext, where: str) -> None:
        package = self._text(body, "pkg", context, where)
        executable = self._text(body, "exec", context, where)
        name = self._text(body, "name", context, where, required=False)
        namespace = self._text(body, "namespace", context, where, required=False)
        output = self._text(body, "output", context, where, required=False) or "log"
        if output not in ("screen", "log", "both"):
            raise LaunchError(f"{where}: output must be screen, log or both, got {output!r}")
        on_exit = body.get("on_exit")
        if on_exit is not None and on_exit != "shutdown":  # launch: ExecuteProcess.parse takes it literally
            raise LaunchError(f"{where}: on_exit must be 'shutdown' (the only on_exit action of the frontends)")
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
            argv += ["--params-file", str(params_file)]
        for item in body.get("remap") or []:
            if not isinstance(item, dict) or set(item) != {"from", "to"}:
                raise LaunchError(f"{where}: each remap needs exactly 'from' and 'to'")
            source, target = (substitute(_string(item[key], where, f"remap {key}"), context) for key in ("from", "to"))
            argv += ["-r", f"{source}:={target}"]
        spec = NodeSpec(package, executable, name, full_namespace, argv, output, where, on_exit)  # type: ignore[arg-type]
        self.plan.nodes.append(spec)

    def _param_files(self, items: Any, params_key: str, context: SubstitutionContext, where: str) -> list[Path]:
        """One params file per entry, in the order written (launch_ros: Node.parse_nested_parameters)."""
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise LaunchError(f"{where}: 'param' must be a list of mappings")
        files: list[Path] = []
        for item in items:
            if "from" in item:
                params_file = self._from_file(item, context, where)
                if params_file is not None:
                    files.append(params_file)
            elif "name" in item:
                values = _param_values([item], context, where)
                text = yaml.safe_dump({params_key: {"ros__parameters": values}}, default_flow_style=False)
                files.append(self.plan.add_generated(LAUNCH_PARAMS_PREFIX, text))
            else:
                raise LaunchError(f"{where}: each param entry needs 'name' or 'from'")
        return files

    def _from_file(self, item: dict, context: SubstitutionContext, where: str) -> Path | None:
        """A ``from:`` entry: a missing file is skipped with a warning, unless ``allow_substs`` makes it required.

        launch_ros: Node._perform_substitutions warns "Parameter file path is not a file" and skips it;
        with ``allow_substs: true``, ParameterFile.evaluate opens the file (a missing one fails the launch)
        and substitutes ``$(...)`` in its text.
        """
        if set(item) - {"from", "allow_substs"}:
            raise LaunchError(f"{where}: a 'from' param entry takes only 'allow_substs' besides 'from'")
        params_file = Path(substitute(_string(item["from"], where, "param from"), context))
        allow_substs = _bool_attribute(item.get("allow_substs", False), context, where, "allow_substs")
        if not allow_substs:
            if params_file.is_file():
                return params_file
            self.warn(f"{where}: parameter file path is not a file: {params_file} (skipped, as ros2 launch does)")
            return None
        try:
            text = params_file.read_text()
        except OSError as error:
            raise LaunchError(
                f"{where}: params file {params_file}: {error.strerror} (allow_substs: true makes it required)"
            ) from None
        substituted = substitute(text, context)
        if substituted == text:
            return params_file
        return self.plan.add_generated(f"{SUBSTITUTED_PARAMS_PREFIX}{params_file.stem}_", substituted)


def _entries(entries: Any, path: Path) -> Iterator[tuple[str, dict]]:
    """Yield ``(kind, attributes)`` of each entry, checking the entry type and its attributes."""
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
        for key in (_STRINGS.get(kind, set()) | _CONDITIONS) & set(body):
            if body[key] is not None:
                _string(body[key], where, key)
        yield kind, body


def read_entries_of(path: Path) -> list:
    """Return the entry list of a launch file.

    Raises:
        LaunchError: For an unreadable file, malformed YAML or a document that is not ``launch: [...]``.
    """
    try:
        document = yaml.load(path.read_text(), Loader=SafeLoader)
    except OSError as error:
        raise LaunchError(f"{path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise LaunchError(f"{path}: malformed YAML{where}") from None
    if not isinstance(document, dict) or set(document) != {"launch"} or not isinstance(document["launch"], list):
        raise LaunchError(f"{path}: a launch file must be a mapping with one key 'launch' holding a list")
    return document["launch"]


# -- parameter values: launch_ros's typing ------------------------------------------------------------------


def _yaml_typed(text: str, where: str) -> ParameterValue:
    """Type a substitution's result as launch does (launch.utilities.type_utils.coerce_to_type, no type).

    An empty result stays ''. Otherwise the text is read with ``yaml.safe_load`` (PyYAML: '20' -> 20,
    'off' -> false, '1e-3' -> the string '1e-3'), and must give a scalar or a uniform list.
    """
    if not text:
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise LaunchError(f"{where}: {text!r} is not valid YAML (quote it to pass a string)") from None
    if isinstance(value, list) and _uniform(value):
        return value
    if type(value) not in (bool, int, float, str):
        raise LaunchError(f"{where}: {text!r} gives {type(value).__name__}: a parameter value must be a scalar")
    return value


def _uniform(values: list) -> bool:
    """launch's ``is_instance_of_valid_type`` for a list: every item of the first item's type (bool counts as int)."""
    kinds = [type(value) for value in values if type(value) is not str]
    member = kinds[0] if kinds else str
    return member in (bool, int, float, str) and all(isinstance(value, member) for value in values)


def _param_value(value: Any, context: SubstitutionContext, where: str) -> ParameterValue:
    """A ``param: {name, value}`` value, typed as launch_ros types it.

    A literal keeps its YAML type and a literal string stays a string (``"off"`` is 'off', ``"0x10"`` is
    '0x10'); a string with a substitution is substituted, then read as YAML (:func:`_yaml_typed`). A list of
    integers and floats becomes floats (launch.utilities.type_utils.normalize_typed_substitution).
    """
    if isinstance(value, list):
        items = [_param_value(item, context, where) for item in value]
        literal_types = {type(item) for item in value if not (isinstance(item, str) and _has_substitution(item))}
        if literal_types == {int, float}:
            items = [float(item) for item in items]  # type: ignore[arg-type]
        if items and not _uniform(items):
            raise LaunchError(f"{where}: the list {items!r} mixes types")
        return items  # type: ignore[return-value]
    if isinstance(value, str):
        try:
            return _yaml_typed(substitute(value, context), where) if _has_substitution(value) else value
        except LaunchError as error:
            raise LaunchError(f"{where}: {error}") from None
    if type(value) not in (bool, int, float):
        raise LaunchError(f"{where}: unsupported value {value!r}")
    return value


def _param_values(items: list, context: SubstitutionContext, where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        name = substitute(_string(item["name"], where, "param name"), context)
        if "param" in item:
            if set(item) != {"name", "param"} or not isinstance(item["param"], list):
                raise LaunchError(f"{where}: nested param {name!r} needs 'name' and a list 'param'")
            values[name] = _param_values(item["param"], context, where)
            continue
        if set(item) - {"type"} != {"name", "value"}:
            raise LaunchError(f"{where}: param {name!r} needs 'name' and 'value' (or 'from'), and may have 'type'")
        value_type = item.get("type", "yaml")
        if value_type == "str":  # launch_ros: ParameterValue(value, value_type=str) keeps the text as it is
            text = _string(item["value"], where, f"param {name!r} value")
            try:
                values[name] = substitute(text, context)
            except LaunchError as error:
                raise LaunchError(f"{where}: param {name!r}: {error}") from None
        elif value_type == "yaml":
            values[name] = _param_value(item["value"], context, f"{where}: param {name!r}")
        else:
            raise LaunchError(f"{where}: param {name!r}: type {value_type!r} is not supported here (only str, yaml)")
    return values


# -- reading, and the arguments of a file ---------------------------------------------------------------------


def resolve_launch_path(file_or_package: str, name: str | None = None) -> Path:
    """Resolve ``FILE`` or ``PACKAGE NAME.launch.yaml`` (like ``ros2 launch``) to a path."""
    path = Path(file_or_package) if name is None else package_share(file_or_package) / "launch" / name
    if not path.is_file():
        raise LaunchError(f"launch file {path} does not exist")
    return path.resolve()


def read_launch_file(path: Path, arguments: dict[str, str] | None = None) -> LaunchPlan:
    """Read a launch file with ``name:=value`` arguments into a :class:`LaunchPlan` (writing no file).

    An argument that no file declares is a launch configuration all the same (ros2 launch sets it and
    says nothing); it is logged as a warning, since it is most likely a typo.

    Raises:
        LaunchError: For malformed YAML, unknown entries or substitutions, a bad condition, a choice
            violation, a missing included file or a missing required argument.
    """
    plan = LaunchPlan()
    declared: dict[str, dict[str, Any]] = {}
    given = dict(arguments or {})
    root = _Scope(dict(given), None)
    _Reader(plan, declared, frozenset(given)).read_file(path, root)
    plan.sigterm_timeout_s, plan.sigkill_timeout_s = (_stop_timeout(root, name, path) for name in STOP_TIMEOUTS)
    known = set(declared)
    if set(given) - known:  # also declared in a branch not taken (as ros2 launch --show-args lists them)?
        with contextlib.suppress(LaunchError):  # launch too skips a file it cannot read without configurations
            known |= {argument.name for argument in launch_arguments(path)}
    unknown = sorted(set(given) - known - set(STOP_TIMEOUTS))  # launch itself reads these two
    if unknown:
        message = (
            f"{path}: undeclared launch argument(s) {', '.join(unknown)}: no arg entry declares them"
            f" (ros2 launch sets them as launch configurations and says nothing); declared:"
            f" {', '.join(sorted(known)) or 'none'}"
        )
        plan.warnings.append(message)
        _log_warning(message)
    return plan


def _stop_timeout(root: _Scope, name: str, path: Path) -> float:
    """The top-level launch configuration ``name`` as launch reads it when it stops a process (float(value), s)."""
    text = root.variables.get(name)
    if text is None:
        return DEFAULT_STOP_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise LaunchError(f"{path}: launch configuration {name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0.0:
        raise LaunchError(f"{path}: launch configuration {name} must be a finite number of seconds >= 0, got {text!r}")
    return value


def launch_arguments(path: Path) -> list[ArgumentInfo]:
    """Return every argument a launch file and its includes declare, without evaluating the file.

    Like launch's ``LaunchDescription.get_launch_arguments`` (what ``ros2 launch --show-args`` prints):
    file order, depth first, the first declaration of a name wins; an include whose file name cannot be
    evaluated without launch configurations is skipped.
    """
    found: dict[str, ArgumentInfo] = {}
    _collect_arguments(path, False, found, [])
    return list(found.values())


def _collect_arguments(path: Path, conditional: bool, found: dict[str, ArgumentInfo], chain: list[Path]) -> None:
    if path.resolve() in chain:
        return
    for kind, body in _entries(read_entries_of(path), path):
        _collect_arguments_of_entry(path, kind, body, conditional, found, [*chain, path.resolve()])


def _collect_arguments_of_entry(
    path: Path, kind: str, body: dict, conditional: bool, found: dict[str, ArgumentInfo], chain: list[Path]
) -> None:
    """One entry, for :func:`launch_arguments`: an arg, or the args a group or an include holds."""
    inner = conditional or bool(_CONDITIONS & set(body))
    if kind == "arg" and body.get("name") is not None and str(body["name"]) not in found:
        choices = _choices_of(body, str(path))
        default = None if body.get("default") is None else str(body["default"])
        description = _description_of(body, choices)
        found[str(body["name"])] = ArgumentInfo(
            str(body["name"]), default, description, inner, None if choices is None else tuple(choices)
        )
    elif kind == "group" and isinstance(body.get("children"), list):
        for child_kind, child in _entries(body["children"], path):
            _collect_arguments_of_entry(path, child_kind, child, inner, found, chain)
    elif kind == "include":
        _collect_included(path, body, inner, found, chain)


def _collect_included(
    path: Path, body: dict, conditional: bool, found: dict[str, ArgumentInfo], chain: list[Path]
) -> None:
    try:
        included = Path(substitute(str(body.get("file")), SubstitutionContext({}, path)))
    except LaunchError:
        return  # launch: try_get_launch_description_without_context fails, and the arguments are not seen
    included = included if included.is_absolute() else path.parent / included
    if included.is_file():
        _collect_arguments(included, conditional, found, chain)


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """Parse ``name:=value`` command-line items."""
    arguments = {}
    for item in items:
        if ":=" not in item:
            raise LaunchError(f"launch argument {item!r} must be written name:=value")
        name, value = item.split(":=", 1)
        arguments[name] = value
    return arguments
