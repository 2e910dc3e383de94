"""The perception emulator: inputs, fitting, the file, and the emulated sim slot source (perception_v3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import SimError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.sim.perception_emulator import (
    OUTPUT_FIELDS,
    FitConfig,
    PerceptionEmulator,
    TrainingRows,
    emulator_inputs,
    fit_emulator,
    input_size,
    load_emulator,
    save_emulator,
    training_rows,
)
from robot_rl.sim.slot_source import STALE_PRESENCE, SimSlotSource, load_slot_table
from robot_rl.sim.slot_source_node import default_table_path

COLUMN = {name: index for index, name in enumerate(SLOT_FIELDS)}
PLANE_Z_M = -0.1115
CUBES = np.array([[0.55, 0.05, PLANE_Z_M + 0.02], [0.62, -0.05, PLANE_Z_M + 0.025]])  # cubeA, cubeB resting
TCP = np.array([0.5, 0.0, 0.1])
OPEN = np.array([0.04, -0.04])


def constant_emulator(task: str, detected_logit: float, difference: list[float], hidden: int = 4) -> PerceptionEmulator:
    """An emulator whose hidden layers output 0 (zero weights and biases): it predicts ``b2`` for every input."""
    width, outputs = input_size(2 if task == "Stack" else 1), len(OUTPUT_FIELDS)
    weights = {
        "w0": np.zeros((width, hidden), np.float32), "b0": np.zeros(hidden, np.float32),
        "w1": np.zeros((hidden, hidden), np.float32), "b1": np.zeros(hidden, np.float32),
        "w2": np.zeros((hidden, 1 + outputs), np.float32),
        "b2": np.array([detected_logit, *difference], np.float32),
    }  # fmt: skip
    ones = np.ones(outputs, np.float32)
    return PerceptionEmulator(
        task, weights, np.zeros(width, np.float32), np.ones(width, np.float32), 0 * ones, ones, 0 * ones, {}
    )


def test_inputs_put_each_object_relative_to_the_tcp_and_the_others() -> None:
    rows = emulator_inputs(CUBES, TCP, OPEN, PLANE_Z_M)
    assert rows.shape == (2, input_size(2)) == (2, 14)
    np.testing.assert_allclose(rows[0, :3], CUBES[0] - TCP, atol=1e-6)
    np.testing.assert_allclose(rows[0, 3:6], TCP, atol=1e-6)
    np.testing.assert_allclose(rows[0, 6:8], OPEN, atol=1e-6)
    assert rows[0, 8] == pytest.approx(0.02, abs=1e-6)  # height above the plane
    np.testing.assert_allclose(rows[0, 9:12], CUBES[1] - CUBES[0], atol=1e-6)
    np.testing.assert_array_equal(rows[:, 12:], np.eye(2))


def _synthetic_rows(count: int, seed: int) -> TrainingRows:
    """A perception that loses half of a cube's area and misses it under a closed gripper right above it."""
    rng = np.random.default_rng(seed)
    inputs, detected, differences = [], [], []
    for _ in range(count):
        tcp = rng.uniform([0.4, -0.2, -0.08], [0.7, 0.2, 0.1])
        fingers = np.full(2, rng.uniform(0.0, 0.04)) * [1, -1]
        row = emulator_inputs(CUBES, tcp, fingers, PLANE_Z_M)[0]
        near = np.linalg.norm(CUBES[0] - tcp) < 0.08
        inputs.append(row)
        detected.append(not (near and fingers[0] < 0.02))
        differences.append([0.0, 0.0, -0.05 * near, 0.0, 0.0, -900.0 * near])
    group = np.arange(count) // 20
    detected_array = np.asarray(detected)
    return TrainingRows(
        np.asarray(inputs, np.float32), detected_array, np.asarray(differences, np.float32), detected_array, group
    )


def test_fit_learns_a_state_dependent_area_and_detection() -> None:
    rows = _synthetic_rows(1200, seed=0)
    emulator, figures = fit_emulator(rows, "Stack", FitConfig(steps=600, hidden=32, seed=0))
    assert figures["detection_accuracy"] > 0.9
    assert figures["explained_variance"]["area_px"] > 0.5  # a step in 3D distance, learnt smoothly
    near = emulator_inputs(CUBES, CUBES[0] + [0, 0, 0.03], np.array([0.03, -0.03]), PLANE_Z_M)
    far = emulator_inputs(CUBES, np.array([0.45, 0.15, 0.09]), np.array([0.03, -0.03]), PLANE_Z_M)
    assert emulator.predict(near)[1][0, OUTPUT_FIELDS.index("area_px")] < -600
    assert abs(emulator.predict(far)[1][0, OUTPUT_FIELDS.index("area_px")]) < 300
    assert emulator.residual_std.shape == (len(OUTPUT_FIELDS),)


def test_training_rows_take_each_object_from_its_calibrated_slot() -> None:
    exact = np.zeros((1, 6, len(SLOT_FIELDS)), np.float32)
    exact[0, :2, 0] = 1.0
    exact[0, 0, 1:4], exact[0, 1, 1:4] = CUBES[1], CUBES[0]  # slot 0 = cubeB, slot 1 = cubeA
    perception = exact.copy()
    perception[0, 1, COLUMN["area_px"]] = -700.0  # cubeA seen smaller
    perception[0, 0, 0] = STALE_PRESENCE  # cubeB missed
    state = np.concatenate([TCP, [0, 0, 0, 1], OPEN])[None].astype(np.float32)
    recording = {"state": state, "positions": CUBES[None], "perception": perception, "exact": exact}
    recording["seed"] = np.zeros(1)
    rows = training_rows(recording, object_slots=[1, 0], plane_z_m=PLANE_Z_M)
    assert rows.detected.tolist() == [True, False]
    assert rows.matched.tolist() == [True, False]
    assert rows.differences[0, OUTPUT_FIELDS.index("area_px")] == -700.0


def test_the_file_round_trips(tmp_path: Path) -> None:
    emulator, _ = fit_emulator(_synthetic_rows(200, seed=1), "Stack", FitConfig(steps=50, hidden=8))
    save_emulator(emulator, tmp_path / "emulator.safetensors")
    loaded = load_emulator(tmp_path / "emulator.safetensors", "Stack")
    inputs = emulator_inputs(CUBES, TCP, OPEN, PLANE_Z_M)
    for mine, theirs in zip(emulator.predict(inputs), loaded.predict(inputs), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    assert loaded.metadata["held_out"]["rows"] > 0


def test_a_bad_file_fails_with_one_line(tmp_path: Path) -> None:
    good = constant_emulator("Stack", 5.0, [0.0] * len(OUTPUT_FIELDS))
    path = tmp_path / "emulator.safetensors"
    with pytest.raises(SimError, match="no such file"):
        load_emulator(tmp_path / "missing.safetensors", "Stack")
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(SimError, match="not a readable safetensors file"):
        load_emulator(path, "Stack")
    save_emulator(good, path)
    with pytest.raises(SimError, match="was fitted on task 'Stack', not 'Lift'"):
        load_emulator(path, "Lift")
    good.weights["w1"][0, 0] = np.nan
    save_emulator(good, path)
    with pytest.raises(SimError, match="w1 holds non-finite values"):
        load_emulator(path, "Stack")
    good.weights["w1"] = np.zeros((3, 3), np.float32)
    save_emulator(good, path)
    with pytest.raises(SimError, match=r"w1 has shape \(3, 3\), expected \(4, 4\)"):
        load_emulator(path, "Stack")


def _source(emulator: PerceptionEmulator | None) -> SimSlotSource:
    return SimSlotSource(load_slot_table(default_table_path()), "Stack", noise="perception_v3", emulator=emulator)


def test_perception_v3_needs_an_emulator_of_the_task() -> None:
    with pytest.raises(SimError, match="noise_model perception_v3 needs a perception emulator of task Stack"):
        _source(None)
    with pytest.raises(SimError, match="needs a perception emulator of task Stack"):
        _source(constant_emulator("Lift", 5.0, [0.0] * len(OUTPUT_FIELDS)))


def test_emulated_features_are_the_table_plus_the_predicted_difference() -> None:
    difference = [0.004, -0.003, -0.05, 0.02, 0.01, -800.0]
    source = _source(constant_emulator("Stack", 5.0, difference))
    exact = SimSlotSource(load_slot_table(default_table_path()), "Stack", noise="none")
    source.reset(7)
    exact.reset(7)
    emulated, plain = source.update(CUBES, TCP, OPEN), exact.update(CUBES, TCP)
    columns = [COLUMN[name] for name in OUTPUT_FIELDS]
    change = emulated[:2, columns] - plain[:2, columns] - source.emulator_offsets
    np.testing.assert_allclose(change, [difference] * 2, atol=1e-3)
    assert np.all(emulated[:2, 0] == 1.0)
    without_fingers = source.update(CUBES, TCP)  # the emulator needs the fingers: the table's features this tick
    np.testing.assert_allclose(without_fingers[:2, columns], plain[:2, columns], atol=1e-6)


def test_an_object_the_emulator_misses_goes_stale_as_in_the_tracker() -> None:
    source = _source(constant_emulator("Stack", -5.0, [0.0] * len(OUTPUT_FIELDS)))
    source.reset(0)
    first = source.update(CUBES, TCP)  # no fingers yet: seen, from the table
    missed = source.update(CUBES, TCP, OPEN)
    assert np.all(first[:2, 0] == 1.0)
    np.testing.assert_allclose(missed[:2, 0], STALE_PRESENCE)
    np.testing.assert_array_equal(missed[:2, 1:], first[:2, 1:])  # the last state is kept


def test_the_offsets_are_drawn_per_episode_and_reproducibly() -> None:
    emulator = constant_emulator("Stack", 5.0, [0.0] * len(OUTPUT_FIELDS))
    emulator.residual_std = np.full(len(OUTPUT_FIELDS), 0.01, np.float32)
    first, second = _source(emulator), _source(emulator)
    first.reset(3)
    second.reset(3)
    np.testing.assert_array_equal(first.emulator_offsets, second.emulator_offsets)
    assert np.any(first.emulator_offsets != 0)
    second.reset(4)
    assert not np.array_equal(first.emulator_offsets, second.emulator_offsets)


def test_the_shipped_emulators_load() -> None:
    from robot_rl.runtime.substitutions import PACKAGE, package_share
    from robot_rl.sim.perception_emulator import emulator_path

    emulator = load_emulator(emulator_path("Stack", package_share(PACKAGE)), "Stack")
    probability, difference = emulator.predict(emulator_inputs(CUBES, TCP, OPEN, PLANE_Z_M))
    assert probability.shape == (2,)
    assert difference.shape == (2, len(OUTPUT_FIELDS))
    assert np.all(np.isfinite(difference))
