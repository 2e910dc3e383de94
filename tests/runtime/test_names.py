"""Name resolution against ROS2's rules.

Expected values are written from the ROS2 design article "Topic and Service name
mapping to DDS" and rcl's documented behaviour: relative names get the namespace,
'~' the node's fully qualified name, the first matching remap rule wins, and
node-specific rules match the node's (remapped) name.
"""

import pytest

from robot_rl.errors import InvalidNameError
from robot_rl.runtime.names import (
    RemapRule,
    expand_topic_name,
    make_namespace_absolute,
    prefix_namespace,
    resolve_topic_name,
    validate_namespace,
    validate_node_name,
)


@pytest.mark.parametrize(
    ("name", "node", "namespace", "expected"),
    [
        ("chatter", "talker", "/", "/chatter"),
        ("chatter", "talker", "/ns", "/ns/chatter"),
        ("/chatter", "talker", "/ns", "/chatter"),
        ("~/priv", "talker", "/", "/talker/priv"),
        ("~/priv", "talker", "/a/b", "/a/b/talker/priv"),
        ("~", "talker", "/ns", "/ns/talker"),
        ("foo/bar", "talker", "/ns", "/ns/foo/bar"),
        ("{node}/x", "talker", "/ns", "/ns/talker/x"),
        ("{ns}/x", "talker", "/ns", "/ns/x"),
        ("{namespace}/x", "talker", "/ns", "/ns/x"),
        ("ok_1/_x", "talker", "/", "/ok_1/_x"),
    ],
)
def test_expand_topic_name(name: str, node: str, namespace: str, expected: str) -> None:
    assert expand_topic_name(name, node, namespace) == expected


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("bad name", "only alphanumerics"),
        ("a//b", "repeated '/'"),
        ("/a/", "end with '/'"),
        ("1abc", "must not start with a number"),
        ("/ns/1a", "must not start with a number"),
        ("a/~", "'~' is only allowed"),
        ("{unknown}/x", "unknown substitution"),
        ("{ns}/x", "repeated '/'"),  # with namespace '/', {ns}/x expands to //x
    ],
)
def test_invalid_topic_names(name: str, fragment: str) -> None:
    with pytest.raises(InvalidNameError, match=fragment):
        expand_topic_name(name, "talker", "/")


def test_node_and_namespace_validation() -> None:
    assert validate_node_name("talker_1") == "talker_1"
    for bad in ("", "bad-name", "1node", "a/b"):
        with pytest.raises(InvalidNameError):
            validate_node_name(bad)
    assert validate_namespace("/a/b") == "/a/b"
    for bad in ("rel", "/bad ns", "/a/", "/a//b"):
        with pytest.raises(InvalidNameError):
            validate_namespace(bad)
    assert make_namespace_absolute("") == "/"
    assert make_namespace_absolute("ns") == "/ns"
    assert make_namespace_absolute("/ns") == "/ns"


def test_prefix_namespace_like_launch_ros() -> None:
    assert prefix_namespace(None, "ns") == "ns"
    assert prefix_namespace("/robot", "arm") == "/robot/arm"
    assert prefix_namespace("/robot", "/abs") == "/abs"
    assert prefix_namespace("/robot", None) == "/robot"
    assert prefix_namespace("/", "arm") == "/arm"


def test_remap_first_matching_rule_wins() -> None:
    rules = [RemapRule("chatter", "first"), RemapRule("chatter", "second")]
    assert resolve_topic_name("chatter", "talker", "/", rules) == "/first"


def test_remap_matches_expanded_names() -> None:
    # '/ns/chatter:=other' matches the relative name 'chatter' in namespace /ns,
    # and the replacement is expanded in the node's namespace too.
    assert resolve_topic_name("chatter", "talker", "/ns", [RemapRule("/ns/chatter", "other")]) == "/ns/other"
    assert resolve_topic_name("chatter", "talker", "/ns", [RemapRule("chatter", "/other")]) == "/other"
    assert resolve_topic_name("~/priv", "talker", "/ns", [RemapRule("~/priv", "pub")]) == "/ns/pub"
    assert resolve_topic_name("other", "talker", "/ns", [RemapRule("chatter", "/x")]) == "/ns/other"


def test_node_specific_rules_match_only_their_node() -> None:
    rules = [RemapRule("chatter", "hit", node="talker"), RemapRule("chatter", "miss", node="listener")]
    assert resolve_topic_name("chatter", "talker", "/", rules) == "/hit"
    assert resolve_topic_name("chatter", "listener", "/", rules) == "/miss"
    assert resolve_topic_name("chatter", "other", "/", rules) == "/chatter"
