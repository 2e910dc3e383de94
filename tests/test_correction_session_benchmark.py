"""The takeover report of benchmarks/correction_session.py (pure; no sim, no graph)."""

from __future__ import annotations

from types import ModuleType

import pytest

from robot_rl.policies.evaluate import EpisodeResult
from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("correction_session")


def _taken(seed: int, success: bool, rise_m: float | None, tilt_deg: float | None, phase: str) -> EpisodeResult:
    reason = f"not done by step 150; the expert's phase: {phase}"
    return EpisodeResult(seed, seed, success, 300, 150, 0, None, None, 0, 0, 150, reason, rise_m, tilt_deg)


def test_the_object_state_at_takeover(bench: ModuleType) -> None:
    assert bench.object_state(_taken(1, True, 0.05, 80.0, "lift")) == "lifted"  # lifted wins over tilt
    assert bench.object_state(_taken(1, True, 0.0, 90.0, "approach")) == "tipped over"
    assert bench.object_state(_taken(1, True, 0.0, 10.0, "approach")) == "standing"
    assert bench.object_state(_taken(1, True, None, None, "approach")) == "unknown"


def test_the_expert_phase_comes_from_the_reason(bench: ModuleType) -> None:
    assert bench.expert_phase("the policy drifted 0.2 m; the expert's phase: descend") == "descend"
    assert bench.expert_phase("button") == "?"


def test_takeover_table_groups_by_object_and_phase_and_counts_completions(bench: ModuleType) -> None:
    results = [
        _taken(1, False, 0.0, 90.0, "approach"),
        _taken(2, True, 0.0, 2.0, "approach"),
        _taken(3, False, 0.0, 95.0, "approach"),
        _taken(4, True, 0.0, 1.0, "approach"),
        _taken(5, True, 0.0, 80.0, "approach"),
        EpisodeResult(6, 6, True, 90),  # nobody took over: not in the table
    ]
    assert bench.takeover_table(results) == [
        "| object at takeover | expert's phase | episodes | completed |",
        "|---|---|---|---|",
        "| tipped over | approach | 3 | 1 |",
        "| standing | approach | 2 | 2 |",
    ]
    lines = bench.takeover_lines(results)
    assert len(lines) == 5
    assert lines[0] == (
        "- seed 1: step 150 (not done by step 150; the expert's phase: approach); object up 0.0 cm, tilted 90 deg;"
        " not completed in 300 steps"
    )
