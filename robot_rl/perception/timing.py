"""Wall time of a frame's consecutive stages, for the perception node's diagnostics and its benchmark."""

from __future__ import annotations

from time import perf_counter


class StageTimer:
    """Laps of consecutive stages: each :meth:`lap` charges the time since the previous one to ``stage``."""

    def __init__(self) -> None:
        self.times_ms: dict[str, float] = {}  # stage -> wall time, ms (a stage lapped twice adds up)
        self._last = perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the wall time since the last lap (or the timer's creation) to ``stage``."""
        now = perf_counter()
        self.times_ms[stage] = self.times_ms.get(stage, 0.0) + (now - self._last) * 1000.0
        self._last = now
