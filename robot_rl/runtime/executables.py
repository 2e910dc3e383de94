"""Find node executables: the ``console_scripts`` of setup.cfg that are :class:`NodeMain` objects.

setup.cfg is the one list of executables. ros2 launch finds them as scripts in
``lib/robot_rl``; the in-process launcher loads the same entry points and takes the
node class from them. A ROS2 executable that robot_rl has an equivalent of (:data:`STAND_INS`)
runs in-process as that equivalent.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from robot_rl.errors import ExecutableNotFoundError
from robot_rl.runtime.node import Node, NodeMain
from robot_rl.runtime.substitutions import PACKAGE

# ROS2 executables with a robot_rl equivalent of the same node name, parameters and topics: the in-process backend
# (which runs only robot_rl's nodes) and `robot-rl topics` use the equivalent in their place.
STAND_INS: dict[tuple[str, str], str] = {
    ("robot_state_publisher", "robot_state_publisher"): "state_publisher_node",
}


def stand_in(package: str, executable: str) -> tuple[str, str]:
    """The ``(package, executable)`` that runs in-process for ``package``'s ``executable``: itself or its equivalent."""
    equivalent = STAND_INS.get((package, executable))
    return (PACKAGE, equivalent) if equivalent is not None else (package, executable)


@functools.lru_cache(maxsize=1)
def node_executables() -> dict[str, str]:
    """Return ``{executable name: 'module:attribute'}`` for robot_rl's node executables."""
    found = {}
    for entry in entry_points(group="console_scripts"):
        if entry.value.startswith(f"{PACKAGE}.") and entry.name != "robot-rl":
            found[entry.name] = entry.value
    return found


def node_class(package: str, executable: str) -> type[Node]:
    """Return the node class behind ``package``'s ``executable``.

    A ROS2 executable of :data:`STAND_INS` gives its robot_rl equivalent.

    Raises:
        ExecutableNotFoundError: For another package, an unknown name, or a script that is not a node.
    """
    package, executable = stand_in(package, executable)
    if package != PACKAGE:
        raise ExecutableNotFoundError(
            f"package {package!r}: the in-process backend runs only {PACKAGE} nodes (use the rclpy backend)"
        )
    executables = node_executables()
    if executable not in executables:
        known = ", ".join(sorted(executables)) or "none (is robot_rl installed with pip install -e .?)"
        raise ExecutableNotFoundError(f"unknown node executable {package}/{executable}; known: {known}")
    (entry,) = [e for e in entry_points(group="console_scripts", name=executable) if e.value == executables[executable]]
    main = entry.load()
    if not isinstance(main, NodeMain):
        raise ExecutableNotFoundError(f"{package}/{executable} ({entry.value}) is not a NodeMain")
    return main.node_class
