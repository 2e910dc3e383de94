"""Resumable benchmark stages: each stage's result is a JSON file, computed once.

A long benchmark (a training, an evaluation of hundreds of episodes) calls :func:`stage` per step; after an
interruption the same command skips the stages whose file exists and runs the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def stage(path: Path, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The JSON result at ``path``; computed by ``run`` and written there when it does not exist yet."""
    if path.exists():
        return json.loads(path.read_text())
    result = run()
    path.write_text(json.dumps(result, indent=2))
    return result
