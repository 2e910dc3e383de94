"""The metric functions of benchmarks/perception_in_loop.py (pure; no sim, no graph)."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from robot_rl.perception.slots import SLOT_FIELDS
from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("perception_in_loop")


def slots(*rows: tuple[float, float, float, float]) -> np.ndarray:
    """(presence, x, y, z) rows -> a slot array in the real field layout."""
    array = np.zeros((len(rows), len(SLOT_FIELDS)), dtype=np.float32)
    for index, (presence, x, y, z) in enumerate(rows):
        array[index, [SLOT_FIELDS.index(name) for name in ("presence", "x", "y", "z")]] = (presence, x, y, z)
    return array


def test_present_slots_by_presence_threshold(bench: ModuleType) -> None:
    ids, xyz = bench.present_slots(slots((1.0, 0.5, 0.0, 0.0), (0.0, 9, 9, 9), (0.6, 0.6, 0.1, 0.0)))
    assert ids.tolist() == [0, 2]
    np.testing.assert_allclose(xyz, [[0.5, 0.0, 0.0], [0.6, 0.1, 0.0]], atol=1e-6)


def test_kept_slots_include_stale_presence(bench: ModuleType) -> None:
    ids, _ = bench.present_slots(slots((1.0, 0.5, 0.0, 0.0), (0.0, 9, 9, 9), (0.4, 0.6, 0.1, 0.0)), threshold=0.0)
    assert ids.tolist() == [0, 2]  # detected, and kept while missing; the empty slot is neither


def test_phase_priority_lifted_then_contact_then_approach(bench: ModuleType) -> None:
    objects, rest = np.array([[0.5, 0.0, 0.0]]), np.array([0.0])
    assert bench.tick_phase(np.array([0.5, 0.0, 0.2]), objects, rest) == "approach"
    assert bench.tick_phase(np.array([0.5, 0.0, 0.04]), objects, rest) == "contact"
    assert bench.tick_phase(np.array([0.5, 0.0, 0.04]), objects + np.array([0, 0, 0.025]), rest) == "lifted"


def test_duplicates_and_nearest_distances(bench: ModuleType) -> None:
    assert not bench.has_duplicate(np.zeros((1, 3)))
    assert bench.has_duplicate(np.array([[0.0, 0, 0], [0.02, 0, 0]]))
    assert not bench.has_duplicate(np.array([[0.0, 0, 0], [0.04, 0, 0]]))
    objects = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    np.testing.assert_allclose(
        bench.nearest_distances(objects, np.array([[0.0, 0.01, 0]])), [0.01, math.hypot(1, 0.01)]
    )
    assert np.isinf(bench.nearest_distances(objects, np.zeros((0, 3)))).all()


def test_identity_changes_ignore_lost_objects(bench: ModuleType) -> None:
    objects = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    assigned = bench.assign_slots(objects, np.array([[0.01, 0, 0], [0.5, 0, 0]]), np.array([3, 4]))
    assert assigned == [3, None]  # the second object's nearest slot is 50 cm away
    changes, last = bench.identity_changes([None, None], assigned)
    assert changes == (0, 0)
    assert last == [3, None]
    changes, last = bench.identity_changes(last, [None, 1])  # lost, then found: no change
    assert changes == (0, 0)
    assert last == [3, 1]
    changes, last = bench.identity_changes(last, [2, 1])
    assert changes == (1, 0)
    assert last == [2, 1]


def test_visibility_counts_pixels_per_object(bench: ModuleType) -> None:
    segmentation = np.zeros((10, 10), dtype=np.int64)
    segmentation[:3, :3] = 1  # 9 px of object 1, none of object 2
    assert bench.visible_objects(segmentation, 2, 5).tolist() == [True, False]
    assert bench.visible_objects(segmentation, 2, 10).tolist() == [False, False]


def test_summary_rates(bench: ModuleType) -> None:
    tick = bench.TickStats
    ticks = [
        tick(0, "approach", 2, 1, False, (True,), (0.004,), (0,), 40.0),
        tick(0, "approach", 1, 1, True, (True,), (0.03,), (1,), 60.0),  # missed (3 cm) and changed
        tick(1, "approach", 0, 1, False, (False,), (math.inf,), (0,), math.nan),  # unseen: not a miss
    ]
    row = bench.summarize(ticks, episodes=2)
    assert row["ticks"] == 3
    assert row["slots_per_tick"] == pytest.approx(1.0)
    assert row["extra_slot_rate"] == pytest.approx(1 / 3)
    assert row["duplicate_rate"] == pytest.approx(1 / 3)
    assert row["missed_visible_rate"] == pytest.approx(1 / 3)
    assert row["visible_object_ticks"] == 2
    assert row["error_median_cm"] == pytest.approx(1.7)
    assert row["identity_changes_per_episode"] == pytest.approx(0.5)
    assert row["perception_ms_median"] == pytest.approx(50.0)
    by_object = bench.identity_by_object(ticks, ["cube"], episodes=2)
    assert by_object == {"cube": {"episodes_changed": 1, "changes_per_episode": 0.5}}
    assert bench.summarize([], episodes=1) == {"ticks": 0}
    assert math.isnan(row["lost_visible_rate"])  # ticks without kept-slot distances: unknown


def test_lost_counts_objects_without_a_present_or_kept_slot(bench: ModuleType) -> None:
    tick = bench.TickStats
    ticks = [  # (visible, nearest present slot, nearest present-or-kept slot)
        tick(0, "contact", 0, 1, False, (True,), (math.inf,), (0,), 40.0, kept_errors_m=(0.004,)),  # hidden, kept
        tick(0, "contact", 0, 1, False, (True,), (math.inf,), (0,), 40.0, kept_errors_m=(0.05,)),  # kept 5 cm off
        tick(0, "contact", 1, 1, False, (True,), (0.004,), (0,), 40.0, kept_errors_m=(0.004,)),
        tick(0, "contact", 0, 1, False, (False,), (math.inf,), (0,), 40.0, kept_errors_m=(math.inf,)),  # unseen
    ]
    row = bench.summarize(ticks, episodes=1)
    assert row["missed_visible_rate"] == pytest.approx(2 / 4)
    assert row["lost_visible_rate"] == pytest.approx(1 / 4)


def test_nearest_offsets_are_slot_minus_object(bench: ModuleType) -> None:
    objects = np.array([[0.5, 0.0, 0.0], [0.0, 0.3, 0.0]])
    offsets = bench.nearest_offsets(objects, np.array([[0.51, 0.0, 0.02], [0.0, 0.2, 0.0]]))
    np.testing.assert_allclose(offsets, [[0.01, 0.0, 0.02], [0.0, -0.1, 0.0]])
    assert np.isnan(bench.nearest_offsets(objects, np.zeros((0, 3)))).all()


def test_ticks_csv_has_a_row_per_object_and_tick(bench: ModuleType, tmp_path: Path) -> None:
    tick = bench.TickStats
    ticks = [
        tick(
            0, "contact", 1, 2, False, (True, True), (0.004, 0.031), (0, 0), 40.0, 7, (850, 120), ((0.004, 0, 0),) * 2
        ),
        tick(0, "lifted", 1, 2, False, (True, False), (0.004, math.inf), (1, 0), 40.0, 8, (), slot_ids=(2, None)),
    ]
    path = tmp_path / "ticks.csv"
    bench.write_ticks(path, ticks, ["cubeA", "cubeB"])
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert rows[0][:8] == ["episode", "tick", "phase", "object", "visible_px", "error_cm", "missed", "present_slots"]
    assert rows[0][8:] == ["dx_cm", "dy_cm", "dz_cm", "slot", "identity_change"]
    assert [row[:8] for row in rows[1:]] == [
        ["0", "7", "contact", "cubeA", "850", "0.40", "0", "1"],
        ["0", "7", "contact", "cubeB", "120", "3.10", "1", "1"],  # visible, nearest slot 3.1 cm away: missed
        ["0", "8", "lifted", "cubeA", "", "0.40", "0", "1"],
        ["0", "8", "lifted", "cubeB", "", "inf", "0", "1"],  # not visible: not a miss
    ]
    assert rows[1][8:] == ["0.40", "0.00", "0.00", "", "0"]  # no slot ids recorded
    assert rows[3][8:] == ["nan", "nan", "nan", "2", "1"]  # cubeA took slot 2, a change
    assert rows[4][8:] == ["nan", "nan", "nan", "", "0"]


def test_outcome_split_keeps_each_episodes_ticks_with_its_outcome(bench: ModuleType) -> None:
    tick = bench.TickStats
    ticks = [
        tick(0, "contact", 1, 1, False, (True,), (0.004,), (0,), 40.0),  # episode 0 succeeded
        tick(1, "contact", 1, 1, False, (True,), (0.05,), (0,), 40.0),  # episode 1 failed: a 5 cm miss
        tick(1, "approach", 1, 1, False, (True,), (0.002,), (0,), 40.0),
        tick(2, "contact", 1, 1, False, (True,), (0.5,), (0,), 40.0),  # episode 2 has no result: left out
    ]
    split = bench.outcome_split(ticks, [True, False])
    assert list(split) == ["approach, succeeded", "approach, failed", "contact, succeeded", "contact, failed"]
    assert split["contact, succeeded"]["ticks"] == 1
    assert split["contact, succeeded"]["error_median_cm"] == pytest.approx(0.4)
    assert split["contact, failed"]["missed_visible_rate"] == pytest.approx(1.0)
    assert split["contact, failed"]["error_median_cm"] == pytest.approx(5.0)
    assert split["approach, succeeded"] == {"ticks": 0, "episodes": 1}
    assert split["approach, failed"]["episodes"] == 1


def test_a_residual_goes_to_the_launch_file(bench: ModuleType, tmp_path: Path) -> None:
    import argparse

    args = argparse.Namespace(
        task="Stack", base=Path("b"), episodes=2, seed=5, horizon_steps=0, segmenter="rgbd_tabletop", policy="base"
    )
    assert "residual" not in bench.launch_arguments(argparse.Namespace(**vars(args), residual=None), tmp_path)
    with_residual = bench.launch_arguments(argparse.Namespace(**vars(args), residual=Path("r")), tmp_path)
    assert with_residual["residual"] == "r"
