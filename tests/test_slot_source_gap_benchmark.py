"""benchmarks/slot_source_gap.py through its command line, on a synthetic recording whose perception is exact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from robot_rl.sim.perception_recording import save_recording
from robot_rl.sim.slot_source import SimSlotSource, load_slot_table
from robot_rl.sim.slot_source_node import default_table_path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "slot_source_gap.py"


def _exact_recording(path: Path) -> None:
    """A 2-episode Lift recording in which 'perception' reported exactly what the exact sim source gives."""
    source = SimSlotSource(load_slot_table(default_table_path()), "Lift", noise="none")
    rows: dict[str, list] = {name: [] for name in ("state", "positions", "yaws", "perception", "exact")}
    where = []
    for episode, seed in enumerate((7, 8)):
        source.reset(seed)
        for tick in range(4):
            tcp = np.array([0.45 + 0.02 * tick, 0.0, 0.05 - 0.03 * tick])
            position = np.array([[0.55, 0.01 * episode, -0.09]])
            yaws = np.array([0.3 * episode])
            slots = source.update(position, tcp, yaws_rad=yaws)
            rows["state"].append(np.concatenate([tcp, [1.0, 0.0, 0.0, 0.0], [0.04, -0.04]]))
            rows["positions"].append(position)
            rows["yaws"].append(yaws)
            rows["perception"].append(slots)
            rows["exact"].append(slots)
            where.append((episode, seed, tick))
    arrays = {name: np.asarray(values, dtype=np.float32) for name, values in rows.items()}
    index = np.asarray(where)
    arrays.update(episode=index[:, 0], seed=index[:, 1], tick=index[:, 2], outcomes=np.zeros((2, 3), np.int64))
    save_recording(path, arrays, "Lift")


def test_exact_slots_change_no_action_and_noise_does(tmp_path: Path) -> None:
    _exact_recording(tmp_path / "lift.npz")
    command = [sys.executable, str(SCRIPT), "--task", "Lift", "--base", str(REPO / "models" / "lift_act")]
    run = subprocess.run([*command, "--recordings", str(tmp_path / "lift.npz")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in run.stdout.splitlines() if "|" in line}
    assert "Ticks: 8 from 2 episodes (seeds [7, 8])" in run.stdout
    assert rows["sim source `none`"][1] == "0.0000"  # the same slots: the same chunk
    for group in ("positions", "extents", "colour", "area"):
        assert rows[f"perception, {group} from `none`"][1] == "0.0000"
    assert rows["perception, presence and layout from `none`"][1] == "0.0000"
    assert float(rows["sim source `perception_v1`"][1]) > 0  # noise moves the base's actions
    assert rows["sim source `none`"][6] == "0.0%"  # detection never differs


def test_a_recording_of_another_task_is_one_error_line(tmp_path: Path) -> None:
    _exact_recording(tmp_path / "lift.npz")
    command = [sys.executable, str(SCRIPT), "--task", "Stack", "--base", str(REPO / "models" / "stack_act")]
    run = subprocess.run([*command, "--recordings", str(tmp_path / "lift.npz")], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == f"error: recording {tmp_path / 'lift.npz'} is of task Lift, not Stack"
