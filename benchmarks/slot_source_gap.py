"""How far each sim slot source is from real perception, measured where it matters: the base policy's actions.

    MUJOCO_GL=egl .venv/bin/python benchmarks/slot_source_gap.py --task Stack --base models/stack_act \\
        --recordings runs/emulator/stack_base.npz runs/emulator/stack_residual.npz \\
        [--emulator config/perception_emulator_Stack.safetensors] [--all-episodes]

Reads recordings of the rendered graph (:mod:`robot_rl.sim.emulator_recording`: per tick, the policy's state,
the true object positions and real perception's slots). By default only the episodes the emulator's fit held
out (their seeds are in its metadata) are used, so the emulator is scored on episodes it never saw. Along each
recorded episode it steps every sim slot source (``none``, ``perception_v2``, ``perception_v3``) on the
recorded truth, as the training graph would, and asks the frozen base for its action chunk on each source's
slots and on perception's (same state, same tick). Per source it prints:

- the mean absolute change of the chunk's first 8 actions' position part from the chunk on perception's slots
  (normalized action units), overall and per phase of the first object (approach / contact / lifted, the noise
  model's phases), and the share of ticks whose first gripper command changes sign;
- per object, the share of ticks where the source's detection (presence > 0.5 in the object's slot) differs
  from perception's, and the median absolute difference of area (px) and red (0..1) on ticks both detect.

It replays recorded states open-loop: it measures the inputs, not success. Success under each source comes
from ``robot-rl eval --slot-source sim --slot-noise ...`` and ``benchmarks/compare_finals.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import load_base_policy
from robot_rl.runtime.substitutions import PACKAGE, package_share
from robot_rl.sim.perception_emulator import emulator_path, load_emulator, read_recording
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS
from robot_rl.sim.slot_source import PHASES, SimSlotSource, load_slot_table
from robot_rl.sim.slot_source_node import default_table_path

SOURCES = ("none", "perception_v2", "perception_v3")
CHUNK_STEPS = 8  # actions of a chunk compared (the base executes 8 of its 16 before predicting again)
AREA, RED = SLOT_FIELDS.index("area_px"), SLOT_FIELDS.index("r")


def source_slots(recording: dict[str, np.ndarray], source: SimSlotSource) -> tuple[np.ndarray, list[str]]:
    """The source's slots on every recorded tick (reset at each episode), and the first object's phase per tick."""
    slots, phases = [], []
    episode = None
    for tick in range(len(recording["tick"])):
        if recording["episode"][tick] != episode:
            episode = recording["episode"][tick]
            source.reset(int(recording["seed"][tick]))
        state = recording["state"][tick]
        slots.append(source.update(recording["positions"][tick], state[:3], state[7:9]))
        phases.append(source.phases[0])
    return np.stack(slots), phases


def chunks(base: object, state: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(T, CHUNK_STEPS, action) chunks of the base on each tick's (state, slots)."""
    out = []
    for tick in range(len(state)):
        features = {"observation.state": state[tick], "observation.environment_state": slots[tick].reshape(-1)}
        out.append(base.predict_chunk(features)[:CHUNK_STEPS])  # type: ignore[attr-defined]
    return np.stack(out)


def main() -> None:
    """Print the report as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, choices=tuple(TASK_OBJECTS))
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--recordings", type=Path, nargs="+", required=True)
    parser.add_argument("--emulator", type=Path, default=None, help="default: the package's emulator of --task")
    parser.add_argument("--all-episodes", action="store_true", help="also the episodes the emulator was fitted on")
    args = parser.parse_args()
    emulator = load_emulator(args.emulator or emulator_path(args.task, package_share(PACKAGE)), args.task)
    held_out = set(emulator.metadata.get("held_out_seeds", []))
    parts = [read_recording(path, args.task) for path in args.recordings]
    recording = {
        name: np.concatenate([part[name] for part in parts])
        for name in ("state", "positions", "perception", "episode", "seed", "tick")
    }
    recording["episode"] = recording["seed"]  # episode keys unique across files
    keep = np.ones(len(recording["tick"]), bool) if args.all_episodes else np.isin(recording["seed"], list(held_out))
    if not keep.any():
        sys.exit("error: no recorded episode is among the emulator's held-out seeds (use --all-episodes)")
    recording = {name: value[keep] for name, value in recording.items()}
    table = load_slot_table(default_table_path())
    object_slots = [table.task(args.task).object_slot(name) for name in TASK_OBJECTS[args.task]]
    base = load_base_policy(args.base)
    state, perception = recording["state"], recording["perception"]
    reference = chunks(base, state, perception)
    episodes = len(np.unique(recording["seed"]))
    print(f"# Slot sources against real perception: {args.task}, base {args.base}\n")
    print(f"Command: `{shlex.join(['.venv/bin/python', *sys.argv])}`  ")
    print(f"Machine: {platform.node()}, {os.cpu_count()} cores; date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  ")
    print(
        f"Ticks: {len(state)} from {episodes} episodes ({'all' if args.all_episodes else 'held out by the fit'});"
        f" emulator fitted {emulator.metadata.get('date', '?')} on {emulator.metadata.get('recordings', '?')}\n"
    )
    names = TASK_OBJECTS[args.task]
    header = ["slot source", "action change (all)", *(f"change ({phase})" for phase in PHASES), "gripper flips"]
    header += [f"{name}: detection differs" for name in names]
    header += [f"{name}: area / red diff (median)" for name in names]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for noise in SOURCES:
        emulator_or_none = emulator if noise == "perception_v3" else None
        source = SimSlotSource(table, args.task, noise=noise, seed=0, emulator=emulator_or_none)
        slots, phases = source_slots(recording, source)
        chunk = chunks(base, state, slots)
        change = np.abs(chunk[:, :, :3] - reference[:, :, :3]).mean(axis=(1, 2))
        flips = float(np.mean(np.sign(chunk[:, 0, 6]) != np.sign(reference[:, 0, 6])))
        phase_of = np.asarray(phases)
        per_phase = [f"{change[phase_of == p].mean():.4f}" if np.any(phase_of == p) else "-" for p in PHASES]
        cells = [noise, f"{change.mean():.4f}", *per_phase, f"{flips:.1%}"]
        detections, features = [], []
        for slot in object_slots:
            seen_here, seen_there = slots[:, slot, 0] > 0.5, perception[:, slot, 0] > 0.5
            detections.append(f"{np.mean(seen_here != seen_there):.1%}")
            both = seen_here & seen_there
            area = np.median(np.abs(slots[both, slot, AREA] - perception[both, slot, AREA]))
            red = np.median(np.abs(slots[both, slot, RED] - perception[both, slot, RED]))
            features.append(f"{area:.0f} / {red:.3f}")
        print("| " + " | ".join(cells + detections + features) + " |")
    print(
        "\nAction change: mean |chunk - chunk on perception's slots| over the first 8 actions' x, y, z (normalized"
        " action units); the phase is the first object's."
    )


if __name__ == "__main__":
    main()
