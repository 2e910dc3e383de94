"""Shared pieces of the rclpy tier (``make test-rclpy``, ``.venv-ros``): the rclpy check and a settle helper.

A tier module starts with ``try: import rclpy.node`` / ``except ImportError as error: skip_without_rclpy(error)``
before anything from ``robot_rl.runtime``: ``robot_rl.runtime.msg`` picks its message classes (rclpy's or its own)
when it is first imported.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from robot_rl.runtime.rclpy_backend import RclpyContext


# Keep DDS traffic on loopback, in a domain of its own (rclpy.init reads both).
os.environ.setdefault("ROS_DOMAIN_ID", "42")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def skip_without_rclpy(error: ImportError) -> None:
    """Skip the calling tier module because rclpy failed to import, or fail if ``ROBOT_RL_REQUIRE_RCLPY=1``."""
    if os.environ.get("ROBOT_RL_REQUIRE_RCLPY") == "1":
        raise ImportError(
            f"ROBOT_RL_REQUIRE_RCLPY=1 but rclpy cannot be imported ({error}); run `make setup-ros`"
            " and use .venv-ros/bin/python"
        ) from error
    pytest.skip(f"rclpy is not installed ({error})", allow_module_level=True)


def settle(context: RclpyContext, quiet_s: float = 0.3, limit_s: float = 10.0) -> None:
    """Spin ``context`` until no callback has run for ``quiet_s`` seconds.

    rclpy's ``spin_once(timeout)`` returns early once a callback ran, so a call that lasts its whole timeout
    found nothing to do. What was published before the call arrives over loopback DDS well inside ``quiet_s``.

    Raises:
        TimeoutError: If callbacks kept running for ``limit_s`` seconds.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        started = time.monotonic()
        context.spin_once(timeout_s=quiet_s)
        if time.monotonic() - started >= quiet_s * 0.95:
            return
    raise TimeoutError(f"callbacks still running after {limit_s} s")
