"""ROS2 name validation, expansion and remapping (rcl's rules, without rcl).

References: the ROS2 design article "Topic and Service name mapping", and rcl's
``rcl_expand_topic_name`` / ``rcl_remap_topic_name``. A topic name is expanded in
the context of a node: ``~`` becomes the node's fully qualified name, ``{node}``
and ``{ns}`` / ``{namespace}`` are substituted, and a relative name is prefixed
with the node's namespace. Remap rules are matched against the expanded name and
the first matching rule wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from robot_rl.errors import InvalidNameError

_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SUBSTITUTION = re.compile(r"\{([^{}]*)\}")


def validate_node_name(name: str) -> str:
    """Return ``name`` if it is a valid ROS2 node name (a single token), else raise."""
    if not name:
        raise InvalidNameError("invalid node name: must not be empty")
    if not _NODE_NAME.match(name):
        raise InvalidNameError(
            f"invalid node name {name!r}: only alphanumerics and '_' are allowed, and it must not start with a number"
        )
    return name


def validate_namespace(namespace: str) -> str:
    """Return ``namespace`` if it is a valid absolute ROS2 namespace, else raise."""
    if namespace == "/":
        return namespace
    if not namespace.startswith("/"):
        raise InvalidNameError(f"invalid namespace {namespace!r}: must be absolute (start with '/')")
    _validate_tokens(namespace[1:].split("/"), namespace, "namespace")
    return namespace


def make_namespace_absolute(namespace: str) -> str:
    """Turn a namespace given to a node ('', 'ns', '/ns') into its absolute form, as rclpy does."""
    if namespace in ("", "/"):
        return "/"
    absolute = namespace if namespace.startswith("/") else "/" + namespace
    return validate_namespace(absolute)


def prefix_namespace(base: str | None, namespace: str | None) -> str | None:
    """Join a pushed namespace and a node namespace the way launch_ros does.

    An absolute ``namespace`` ignores the ``base``; a relative one is appended to it.
    """
    if not namespace:
        return base
    if namespace.startswith("/") or base is None:
        return namespace
    return base.rstrip("/") + "/" + namespace


def fully_qualified_node_name(namespace: str, node_name: str) -> str:
    """Return ``/ns/node`` for an absolute namespace and a node name."""
    return ("" if namespace == "/" else namespace) + "/" + node_name


def _validate_tokens(tokens: list[str], whole: str, kind: str) -> None:
    for token in tokens:
        if token == "":
            raise InvalidNameError(f"invalid {kind} {whole!r}: must not contain repeated '/' or end with '/'")
        if not _TOKEN.match(token):
            if token[0].isdigit():
                raise InvalidNameError(f"invalid {kind} {whole!r}: token {token!r} must not start with a number")
            raise InvalidNameError(
                f"invalid {kind} {whole!r}: only alphanumerics, '_' and '/' are allowed (token {token!r})"
            )


def validate_fully_qualified_topic_name(name: str) -> str:
    """Return ``name`` if it is a valid fully qualified topic name (after expansion)."""
    if not name.startswith("/"):
        raise InvalidNameError(f"invalid topic name {name!r}: not fully qualified")
    if name == "/":
        raise InvalidNameError("invalid topic name '/': must not end with '/'")
    _validate_tokens(name[1:].split("/"), name, "topic name")
    return name


def expand_topic_name(name: str, node_name: str, namespace: str) -> str:
    """Expand a topic name in the context of a node, following rcl_expand_topic_name.

    Args:
        name: The name as written in code or config: relative (``chatter``), absolute
            (``/chatter``), private (``~/chatter``), or with ``{node}`` / ``{ns}``.
        node_name: The node's (remapped) name.
        namespace: The node's absolute namespace.

    Returns:
        The fully qualified, validated topic name.
    """
    if not name:
        raise InvalidNameError("invalid topic name: must not be empty")
    if "~" in name[1:]:
        raise InvalidNameError(f"invalid topic name {name!r}: '~' is only allowed as the first character")
    expanded = name
    if expanded.startswith("~"):
        expanded = fully_qualified_node_name(namespace, node_name) + expanded[1:]

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "node":
            return node_name
        if key in ("ns", "namespace"):
            return namespace
        raise InvalidNameError(f"invalid topic name {name!r}: unknown substitution {{{key}}}")

    expanded = _SUBSTITUTION.sub(substitute, expanded)
    if "{" in expanded or "}" in expanded:
        raise InvalidNameError(f"invalid topic name {name!r}: unbalanced '{{' or '}}'")
    if not expanded.startswith("/"):
        expanded = ("" if namespace == "/" else namespace) + "/" + expanded
    try:
        return validate_fully_qualified_topic_name(expanded)
    except InvalidNameError as error:
        raise InvalidNameError(f"{error} (expanded from {name!r})") from None


@dataclass(frozen=True)
class RemapRule:
    """One ``-r [node:]from:=to`` rule. ``node`` limits the rule to a node name."""

    from_name: str  # the name to match, as written (expanded in each node's context)
    to_name: str  # the replacement, as written (expanded in each node's context)
    node: str | None = None  # only nodes with this (remapped) name use the rule; None = all


def remap_topic_name(expanded: str, rules: list[RemapRule], node_name: str, namespace: str) -> str:
    """Apply the first remap rule that matches the expanded topic name (rcl semantics)."""
    for rule in rules:
        if rule.node is not None and rule.node != node_name:
            continue
        if rule.from_name.startswith("__"):
            continue
        if expand_topic_name(rule.from_name, node_name, namespace) == expanded:
            return expand_topic_name(rule.to_name, node_name, namespace)
    return expanded


def resolve_topic_name(name: str, node_name: str, namespace: str, rules: list[RemapRule]) -> str:
    """Expand a topic name in a node's context, then apply remap rules."""
    return remap_topic_name(expand_topic_name(name, node_name, namespace), rules, node_name, namespace)
