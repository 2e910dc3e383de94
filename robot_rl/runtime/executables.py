"""Find node executables: the ``console_scripts`` of setup.cfg that are :class:`NodeMain` objects.

setup.cfg is the one list of executables. ros2 launch finds them as scripts in
``lib/robot_rl``; the in-process launcher loads the same entry points and takes the
node class from them.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from robot_rl.errors import ExecutableNotFoundError
from robot_rl.runtime.node import Node, NodeMain
from robot_rl.runtime.substitutions import PACKAGE


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

    Raises:
        ExecutableNotFoundError: For another package, an unknown name, or a script that is not a node.
    """
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
