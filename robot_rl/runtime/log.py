"""The ROS-style logger of the in-process backend and of the launcher: ``[LEVEL] [unix time] [name]: message``."""

from __future__ import annotations

import sys
import time

from robot_rl.runtime.ros_args import LOG_LEVELS


class InprocLogger:
    """A ROS-style logger: ``[LEVEL] [unix time] [logger]: message`` on stderr."""

    def __init__(self, name: str, level: str) -> None:
        self.name = name
        self.level = level

    def _log(self, level: str, message: str) -> None:
        if LOG_LEVELS.index(level) >= LOG_LEVELS.index(self.level):
            print(f"[{level.upper()}] [{time.time():.9f}] [{self.name}]: {message}", file=sys.stderr, flush=True)

    def debug(self, message: str) -> None:
        """Log at DEBUG."""
        self._log("debug", message)

    def info(self, message: str) -> None:
        """Log at INFO."""
        self._log("info", message)

    def warning(self, message: str) -> None:
        """Log at WARN."""
        self._log("warn", message)

    warn = warning

    def error(self, message: str) -> None:
        """Log at ERROR."""
        self._log("error", message)

    def fatal(self, message: str) -> None:
        """Log at FATAL."""
        self._log("fatal", message)
