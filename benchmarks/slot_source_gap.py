"""How far each sim slot source is from real perception, measured where it matters: the base policy's actions.

    MUJOCO_GL=egl .venv/bin/python benchmarks/slot_source_gap.py --task Stack --base models/stack_act \\
        --recordings runs/recordings/stack_base.npz [--yaw-blind]

Reads recordings of the rendered graph (:mod:`robot_rl.sim.perception_recording`: per tick, the policy's state,
the true object poses and real perception's slots). Along each recorded episode it steps every sim slot source
(``none``, ``perception_v1``, ``perception_v2``) on the recorded truth, as the training graph would, and asks the
frozen base for its action chunk on each source's slots and on perception's (same state, same tick); then, to
say which fields matter, on perception's slots with one group of fields replaced by the exact source's
(positions; extents; colour; area; presence and layout). ``--yaw-blind`` steps the sources without the objects'
yaws (the extents and area of a uniform yaw's mean), as before the yaw slopes. Per row it prints:

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

from robot_rl.errors import SimError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import load_base_policy
from robot_rl.sim.perception_recording import read_recording
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS
from robot_rl.sim.slot_source import PHASES, SimSlotSource, load_slot_table
from robot_rl.sim.slot_source_node import default_table_path

SOURCES = ("none", "perception_v1", "perception_v2")
# Field groups swapped from the exact source into perception's slots (object slots only), to say which matter
SWAPS = {
    "positions": ("x", "y", "z"),
    "extents": ("extent_x", "extent_y", "extent_z"),
    "colour": ("r", "g", "b"),
    "area": ("area_px",),
}
CHUNK_STEPS = 8  # actions of a chunk compared (the base executes 8 of its 16 before predicting again)
AREA, RED = SLOT_FIELDS.index("area_px"), SLOT_FIELDS.index("r")


def source_slots(
    recording: dict[str, np.ndarray], source: SimSlotSource, use_yaws: bool = True
) -> tuple[np.ndarray, list[str]]:
    """The source's slots on every recorded tick (reset at each episode), and the first object's phase per tick."""
    slots, phases = [], []
    episode = None
    for tick in range(len(recording["tick"])):
        if recording["episode"][tick] != episode:
            episode = recording["episode"][tick]
            source.reset(int(recording["seed"][tick]))
        state = recording["state"][tick]
        yaws = recording["yaws"][tick] if use_yaws else None
        slots.append(source.update(recording["positions"][tick], state[:3], yaws_rad=yaws))
        phases.append(source.phases[0])
    return np.stack(slots), phases


def chunks(base: object, state: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(T, CHUNK_STEPS, action) chunks of the base on each tick's (state, slots)."""
    out = []
    for tick in range(len(state)):
        features = {"observation.state": state[tick], "observation.environment_state": slots[tick].reshape(-1)}
        out.append(base.predict_chunk(features)[:CHUNK_STEPS])  # type: ignore[attr-defined]
    return np.stack(out)


def row(name: str, chunk: np.ndarray, reference: np.ndarray, phases: np.ndarray) -> list[str]:
    """Table cells of one variant: action change overall and per phase, gripper sign flips."""
    change = np.abs(chunk[:, :, :3] - reference[:, :, :3]).mean(axis=(1, 2))
    flips = float(np.mean(np.sign(chunk[:, 0, 6]) != np.sign(reference[:, 0, 6])))
    per_phase = [f"{change[phases == p].mean():.4f}" if np.any(phases == p) else "-" for p in PHASES]
    return [name, f"{change.mean():.4f}", *per_phase, f"{flips:.1%}"]


def main() -> None:
    """Print the report as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, choices=tuple(TASK_OBJECTS))
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--recordings", type=Path, nargs="+", required=True)
    parser.add_argument("--yaw-blind", action="store_true", help="step the sources without the objects' yaws")
    args = parser.parse_args()
    try:
        parts = [read_recording(path, args.task) for path in args.recordings]
    except SimError as error:
        sys.exit(f"error: {error}")
    keys = ("state", "positions", "yaws", "perception", "seed", "tick")
    recording = {name: np.concatenate([part[name] for part in parts]) for name in keys}
    recording["episode"] = recording["seed"]  # episode keys unique across files
    table = load_slot_table(default_table_path())
    object_slots = [table.task(args.task).object_slot(name) for name in TASK_OBJECTS[args.task]]
    base = load_base_policy(args.base)
    state, perception = recording["state"], recording["perception"]
    reference = chunks(base, state, perception)
    episodes = len(np.unique(recording["seed"]))
    print(f"# Slot sources against real perception: {args.task}, base {args.base}\n")
    print(f"Command: `{shlex.join(['.venv/bin/python', *sys.argv])}`  ")
    print(f"Machine: {platform.node()}, {os.cpu_count()} cores; date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  ")
    print(f"Ticks: {len(state)} from {episodes} episodes (seeds {sorted(set(recording['seed'].tolist()))})\n")
    names = TASK_OBJECTS[args.task]
    header = ["slots the base sees", "action change (all)", *(f"change ({phase})" for phase in PHASES)]
    header += ["gripper flips", *(f"{name}: detection differs" for name in names)]
    header += [f"{name}: area / red diff (median)" for name in names]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    use_yaws = not args.yaw_blind
    exact, exact_phases = source_slots(recording, SimSlotSource(table, args.task, noise="none"), use_yaws)
    first_phases = np.asarray(exact_phases)
    for noise in SOURCES:
        noisy = SimSlotSource(table, args.task, noise=noise)
        slots = exact if noise == "none" else source_slots(recording, noisy, use_yaws)[0]
        cells = row(f"sim source `{noise}`", chunks(base, state, slots), reference, first_phases)
        for slot in object_slots:
            cells.append(f"{np.mean((slots[:, slot, 0] > 0.5) != (perception[:, slot, 0] > 0.5)):.1%}")
        for slot in object_slots:
            both = (slots[:, slot, 0] > 0.5) & (perception[:, slot, 0] > 0.5)
            area = np.median(np.abs(slots[both, slot, AREA] - perception[both, slot, AREA]))
            red = np.median(np.abs(slots[both, slot, RED] - perception[both, slot, RED]))
            cells.append(f"{area:.0f} / {red:.3f}")
        print("| " + " | ".join(cells) + " |")
    blanks = ["-"] * (2 * len(object_slots))
    for group, fields in SWAPS.items():
        columns = [SLOT_FIELDS.index(name) for name in fields]
        swapped = perception.copy()
        for slot in object_slots:
            swapped[:, slot, columns] = exact[:, slot, columns]
        cells = row(f"perception, {group} from `none`", chunks(base, state, swapped), reference, first_phases)
        print("| " + " | ".join(cells + blanks) + " |")
    layout = perception.copy()  # perception's values, the exact source's presence and slot layout
    keep = np.zeros(perception.shape[1], dtype=bool)
    keep[object_slots] = True
    layout[:, ~keep] = exact[:, ~keep]
    layout[:, keep, 0] = exact[:, keep, 0]
    cells = row("perception, presence and layout from `none`", chunks(base, state, layout), reference, first_phases)
    print("| " + " | ".join(cells + blanks) + " |")
    print(
        "\nAction change: mean |chunk - chunk on perception's slots| over the first 8 actions' x, y, z (normalized"
        " action units); the phase is the first object's (from the exact source)."
    )


if __name__ == "__main__":
    main()
