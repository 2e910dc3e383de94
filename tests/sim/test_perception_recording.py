"""Recording perception against the truth in the rendered graph (what benchmarks/slot_source_gap.py reads)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robot_rl.errors import SimError
from robot_rl.sim.perception_recording import read_recording, record, save_recording
from robot_rl.sim.slot_source import SimSlotSource, load_slot_table
from robot_rl.sim.slot_source_node import default_table_path

REPO = Path(__file__).resolve().parents[2]


def test_a_short_rendered_episode_is_recorded_tick_by_tick(tmp_path: Path) -> None:
    arrays = record("Lift", REPO / "models" / "lift_act", episodes=1, seed=5, horizon_steps=6)
    ticks = len(arrays["tick"])
    assert ticks >= 5
    assert arrays["state"].shape == (ticks, 9)
    assert arrays["positions"].shape == (ticks, 1, 3)
    assert arrays["perception"].shape == arrays["exact"].shape == (ticks, 6, 11)
    assert arrays["tick"].tolist() == list(range(ticks))
    assert set(arrays["seed"].tolist()) == {5}
    assert arrays["outcomes"].tolist() == [[5, 0, 6]]  # a time-out after all 6 steps of the horizon
    # perception sees the resting cube where the exact source puts it (the calibration's offsets)
    assert np.all(arrays["perception"][:, 0, 0] == 1.0)
    assert np.abs(arrays["perception"][:, 0, 1:4] - arrays["exact"][:, 0, 1:4]).max() < 0.01
    # the exact slots are the sim slot source's on the recorded truth
    source = SimSlotSource(load_slot_table(default_table_path()), "Lift", noise="none")
    source.reset(5)
    truth = zip(arrays["positions"], arrays["state"], arrays["yaws"], strict=True)
    again = np.stack([source.update(position, state[:3], yaws_rad=yaws) for position, state, yaws in truth])
    np.testing.assert_allclose(again, arrays["exact"], atol=1e-6)
    save_recording(tmp_path / "lift.npz", arrays, "Lift")
    loaded = read_recording(tmp_path / "lift.npz", "Lift")
    np.testing.assert_array_equal(loaded["perception"], arrays["perception"])
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(SimError, match=r"not a readable \.npz"):
        read_recording(tmp_path / "broken.npz", "Lift")
    with pytest.raises(SimError, match="is of task Lift, not Stack"):
        read_recording(tmp_path / "lift.npz", "Stack")
