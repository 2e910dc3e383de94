"""A perception emulator for the sim slot source: what perception reports about an object, given the privileged state.

    MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.perception_emulator --task Stack \\
        --recordings runs/emulator/stack_base.npz runs/emulator/stack_residual.npz \\
        --out config/perception_emulator_Stack.safetensors

Why: a policy trained through real perception reads more than positions. Perception's pixel features change
with the state: the gripper hides part of a cube while grasping (area, extents and mean colour change), the arm
hides cube B while it places cube A (a missed slot, stale presence). The calibration table holds one mean per
feature, so the exact sim slot source shows a constant cube where perception shows one that shrinks, darkens
and drops out, and a base trained through perception acts differently on the two (docs/perception.md,
"Perception emulator", measures by how much). This module learns those state-dependent features from rendered
rollouts (:mod:`robot_rl.sim.emulator_recording`) and the sim slot source applies them
(``noise_model perception_v3``).

Model, per task object and tick: a small MLP (two SiLU hidden layers) maps :func:`emulator_inputs` (the object
relative to the TCP, the TCP, the finger joints, the object's height above the support plane, the other
objects relative to it, the object's one-hot index) to

- ``detected``: the logit that perception detects the object in its slot this tick (presence > 0.5);
- the differences perception minus exact source of the pixel features: extents x, y (m), colour r, g, b (0..1) and
  area (px), learned only on ticks where perception detected the object in its slot within ``MATCH_RADIUS_M``.

The weights and every normalization constant are stored in one safetensors file with a JSON metadata string
(task, input and output names, fit figures, provenance); loading never unpickles. Inference is numpy.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np

from robot_rl.errors import SimError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS

EMULATOR_FORMAT = 1  # format_version in the file's metadata
# Emulated slot fields, perception minus exact source: m, 0..1, px. Positions stay with the noise model's Gaussian:
# a base trained through perception moved its actions 7x less when its slots' positions were replaced by the exact
# source's than when their pixel features were (docs/perception.md, "Perception emulator").
OUTPUT_FIELDS = ("extent_x", "extent_y", "r", "g", "b", "area_px")
OUTPUT_COLUMNS = tuple(SLOT_FIELDS.index(name) for name in OUTPUT_FIELDS)
MATCH_RADIUS_M = 0.03  # perception's slot counts as the object's when within this of the exact position, m
_LAYERS = ("w0", "b0", "w1", "b1", "w2", "b2")


def input_size(num_objects: int) -> int:
    """Length of :func:`emulator_inputs` for a task with ``num_objects`` objects."""
    return 3 + 3 + 2 + 1 + 3 * (num_objects - 1) + num_objects


def emulator_inputs(
    positions_m: np.ndarray, ee_position_m: np.ndarray, fingers_m: np.ndarray, plane_z_m: float
) -> np.ndarray:
    """(N, input_size) inputs, one row per task object (TASK_OBJECTS order).

    Args:
        positions_m: (N, 3) object origins, base_link, m.
        ee_position_m: (3,) TCP position, base_link, m.
        fingers_m: (2,) finger joint positions, m.
        plane_z_m: the support plane's height, base_link, m.
    """
    positions = np.asarray(positions_m, dtype=np.float64).reshape(-1, 3)
    count = len(positions)
    ee = np.asarray(ee_position_m, dtype=np.float64).reshape(3)
    fingers = np.asarray(fingers_m, dtype=np.float64).reshape(2)
    rows = []
    for index in range(count):
        others = [positions[other] - positions[index] for other in range(count) if other != index]
        rows.append(
            np.concatenate(
                [
                    positions[index] - ee,
                    ee,
                    fingers,
                    [positions[index, 2] - plane_z_m],
                    *others,
                    np.eye(count)[index],
                ]
            )
        )
    return np.stack(rows).astype(np.float32)


@dataclass(frozen=True)
class FitConfig:
    """Hyperparameters of :func:`fit_emulator`."""

    hidden: int = 64  # width of both hidden layers (units)
    steps: int = 3000  # full-batch AdamW steps at most
    lr: float = 3e-3  # AdamW learning rate
    weight_decay: float = 1e-2  # AdamW weight decay
    validation_share: float = 0.2  # share of episodes held out, by episode: early stopping and the reported fit
    check_every: int = 50  # steps between held-out checks; the weights of the best check are kept
    seed: int = 0  # torch and split seed

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.steps < 1 or self.check_every < 1:
            raise SimError(f"FitConfig: hidden, steps, check_every must be >= 1, got {self.hidden}, {self.steps}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.validation_share < 1):
            raise SimError("FitConfig: lr > 0, weight_decay >= 0 and 0 <= validation_share < 1 are required")


@dataclass
class PerceptionEmulator:
    """The fitted model: numpy weights, normalization and metadata; :meth:`predict` is the inference."""

    task: str
    weights: dict[str, np.ndarray]  # w0 (in, h), b0 (h,), w1 (h, h), b1, w2 (h, 1 + outputs), b2
    input_mean: np.ndarray
    input_std: np.ndarray
    output_mean: np.ndarray  # of the differences, OUTPUT_FIELDS units
    output_std: np.ndarray
    residual_std: np.ndarray  # held-out std of what the model does not explain, OUTPUT_FIELDS units
    metadata: dict  # provenance and fit figures

    def predict(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(detection probability (N,), perception minus exact (N, len(OUTPUT_FIELDS))) for (N, in) inputs."""
        x = (np.asarray(inputs, dtype=np.float32) - self.input_mean) / self.input_std
        w = self.weights
        for layer in (0, 1):
            x = x @ w[f"w{layer}"] + w[f"b{layer}"]
            x = x * 0.5 * (1.0 + np.tanh(0.5 * x))  # SiLU: x * sigmoid(x), without overflow
        out = x @ w["w2"] + w["b2"]
        probability = 1.0 / (1.0 + np.exp(-np.clip(out[:, 0], -30.0, 30.0)))
        return probability, out[:, 1:] * self.output_std + self.output_mean


def emulator_path(task: str, share: Path) -> Path:
    """The package's emulator file of ``task``: ``<share>/config/perception_emulator_<task>.safetensors``."""
    return share / "config" / f"perception_emulator_{task}.safetensors"


def save_emulator(emulator: PerceptionEmulator, path: Path) -> None:
    """Write the emulator as one safetensors file (float32 tensors + a JSON metadata string)."""
    from safetensors.numpy import save_file

    tensors = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in emulator.weights.items()}
    for name in ("input_mean", "input_std", "output_mean", "output_std", "residual_std"):
        tensors[name] = np.ascontiguousarray(getattr(emulator, name), dtype=np.float32)
    metadata = {"format_version": EMULATOR_FORMAT, "task": emulator.task, "outputs": list(OUTPUT_FIELDS)}
    metadata.update(emulator.metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"robot_rl": json.dumps(metadata, sort_keys=True)})


def load_emulator(path: str | Path, task: str) -> PerceptionEmulator:
    """Read and check an emulator file for ``task``.

    Raises:
        SimError: One line naming the file: missing, not a safetensors file, another format or task, outputs
            other than OUTPUT_FIELDS, tensors missing or of the wrong shape, non-finite values.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise SimError(
            f"perception emulator {path}: no such file (fit one: python -m robot_rl.sim.perception_emulator)"
        )
    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get("robot_rl", "")
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (not a dict)
        metadata = json.loads(raw) if raw else {}
    except Exception as error:  # safetensors raises its own SafetensorError, bad JSON a ValueError
        raise SimError(f"perception emulator {path}: not a readable safetensors file ({error})") from None
    if metadata.get("format_version") != EMULATOR_FORMAT:
        raise SimError(f"perception emulator {path}: format_version {metadata.get('format_version')!r}, expected 1")
    if metadata.get("task") != task:
        raise SimError(f"perception emulator {path} was fitted on task {metadata.get('task')!r}, not {task!r}")
    if tuple(metadata.get("outputs", ())) != OUTPUT_FIELDS:
        raise SimError(f"perception emulator {path}: outputs {metadata.get('outputs')} are not {list(OUTPUT_FIELDS)}")
    needed = (*_LAYERS, "input_mean", "input_std", "output_mean", "output_std", "residual_std")
    missing = [name for name in needed if name not in tensors]
    if missing:
        raise SimError(f"perception emulator {path}: missing tensors {', '.join(missing)}")
    width, outputs = input_size(len(TASK_OBJECTS[task])), len(OUTPUT_FIELDS)
    hidden = tensors["b0"].shape[0] if tensors["b0"].ndim == 1 else -1
    shapes = {
        "w0": (width, hidden), "b0": (hidden,), "w1": (hidden, hidden), "b1": (hidden,),
        "w2": (hidden, 1 + outputs), "b2": (1 + outputs,), "input_mean": (width,), "input_std": (width,),
        "output_mean": (outputs,), "output_std": (outputs,), "residual_std": (outputs,),
    }  # fmt: skip
    for name, shape in shapes.items():
        if tensors[name].shape != shape:
            raise SimError(f"perception emulator {path}: {name} has shape {tensors[name].shape}, expected {shape}")
        if not np.all(np.isfinite(tensors[name])):
            raise SimError(f"perception emulator {path}: {name} holds non-finite values")
    if np.any(tensors["input_std"] <= 0) or np.any(tensors["output_std"] <= 0):
        raise SimError(f"perception emulator {path}: a normalization std is <= 0")
    return PerceptionEmulator(
        task=task,
        weights={name: tensors[name] for name in _LAYERS},
        input_mean=tensors["input_mean"],
        input_std=tensors["input_std"],
        output_mean=tensors["output_mean"],
        output_std=tensors["output_std"],
        residual_std=tensors["residual_std"],
        metadata=metadata,
    )


# --- fitting -----------------------------------------------------------------------------------------


@dataclass
class TrainingRows:
    """Per (tick, object): inputs, the detection label, the differences and whether they are usable."""

    inputs: np.ndarray  # (R, in)
    detected: np.ndarray  # (R,) bool: perception's slot of the object has presence > 0.5
    differences: np.ndarray  # (R, outputs) perception minus exact
    matched: np.ndarray  # (R,) bool: detected and within MATCH_RADIUS_M of the exact position
    group: np.ndarray  # (R,) episode key, for a split by episode


def training_rows(recording: dict[str, np.ndarray], object_slots: list[int], plane_z_m: float) -> TrainingRows:
    """Rows of one recording (:mod:`robot_rl.sim.emulator_recording`); ``object_slots[i]`` is object i's slot."""
    state, positions = recording["state"], recording["positions"]
    perception, exact = recording["perception"], recording["exact"]
    inputs, detected, differences, matched, group = [], [], [], [], []
    for tick in range(len(state)):
        rows = emulator_inputs(positions[tick], state[tick, :3], state[tick, 7:9], plane_z_m)
        for index, slot in enumerate(object_slots):
            seen = bool(perception[tick, slot, 0] > 0.5)
            difference = perception[tick, slot, list(OUTPUT_COLUMNS)] - exact[tick, slot, list(OUTPUT_COLUMNS)]
            near = bool(np.linalg.norm(difference[:3]) < MATCH_RADIUS_M) and bool(exact[tick, slot, 0] > 0.5)
            inputs.append(rows[index])
            detected.append(seen)
            differences.append(difference)
            matched.append(seen and near)
            group.append(int(recording["seed"][tick]))
    return TrainingRows(
        np.asarray(inputs, np.float32),
        np.asarray(detected),
        np.asarray(differences, np.float32),
        np.asarray(matched),
        np.asarray(group),
    )


def fit_emulator(rows: TrainingRows, task: str, config: FitConfig) -> tuple[PerceptionEmulator, dict]:
    """Fit the MLP; return the emulator and held-out figures (detection accuracy, explained variance per output)."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    groups = np.unique(rows.group)
    held = set(rng.choice(groups, size=round(config.validation_share * len(groups)), replace=False).tolist())
    validation = np.isin(rows.group, list(held))
    train = ~validation
    if not train[rows.matched].any():
        raise SimError("the recordings hold no tick where perception detected an object in its slot")
    input_mean = rows.inputs[train].mean(axis=0)
    input_std = np.maximum(rows.inputs[train].std(axis=0), 1e-3)
    targets = rows.differences
    output_mean = targets[train & rows.matched].mean(axis=0)
    output_std = np.maximum(targets[train & rows.matched].std(axis=0), 1e-4)

    def tensors(mask: np.ndarray) -> tuple:
        x = torch.from_numpy((rows.inputs[mask] - input_mean) / input_std)
        y = torch.from_numpy((targets[mask] - output_mean) / output_std)
        return x, y, torch.from_numpy(rows.detected[mask].astype(np.float32)), torch.from_numpy(rows.matched[mask])

    width = rows.inputs.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(width, config.hidden),
        torch.nn.SiLU(),
        torch.nn.Linear(config.hidden, config.hidden),
        torch.nn.SiLU(),
        torch.nn.Linear(config.hidden, 1 + len(OUTPUT_FIELDS)),
    )
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def loss_of(batch: tuple) -> torch.Tensor:
        x, y, label, use = batch
        out = net(x)
        detection = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], label)
        # Huber: a tick where another segment sits in the object's slot within 3 cm is an outlier, not a target
        regression = torch.nn.functional.huber_loss(out[use, 1:], y[use]) if bool(use.any()) else out.sum() * 0
        return detection + regression

    fitting, checking = tensors(train), tensors(validation if validation.any() else train)
    best = (math.inf, copy.deepcopy(net.state_dict()))
    for step in range(1, config.steps + 1):
        optimizer.zero_grad()
        loss_of(fitting).backward()
        optimizer.step()
        if step % config.check_every == 0:
            with torch.no_grad():
                held_loss = float(loss_of(checking))
            if held_loss < best[0]:
                best = (held_loss, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[1])
    weights = {}
    for layer, module in zip((0, 1, 2), (net[0], net[2], net[4]), strict=True):
        weights[f"w{layer}"] = module.weight.detach().numpy().T.copy()
        weights[f"b{layer}"] = module.bias.detach().numpy().copy()
    emulator = PerceptionEmulator(
        task, weights, input_mean, input_std, output_mean, output_std, np.zeros(len(OUTPUT_FIELDS)), {}
    )
    figures = _held_out_figures(emulator, rows, validation if validation.any() else train)
    emulator.residual_std = np.asarray(figures.pop("residual_std"), dtype=np.float32)
    emulator.metadata = {
        "fit": asdict(config),
        "held_out": figures,
        "held_out_seeds": sorted(int(seed) for seed in held),  # episodes (by seed) the fit never saw
        "date": date.today().isoformat(),
    }
    return emulator, figures


def _held_out_figures(emulator: PerceptionEmulator, rows: TrainingRows, mask: np.ndarray) -> dict:
    probability, predicted = emulator.predict(rows.inputs[mask])
    detected = rows.detected[mask]
    matched = rows.matched[mask]
    truth = rows.differences[mask][matched]
    guess = predicted[matched]
    explained = {}
    for column, name in enumerate(OUTPUT_FIELDS):
        variance = float(np.var(truth[:, column]))
        left = float(np.var(truth[:, column] - guess[:, column]))
        explained[name] = round(1.0 - left / variance, 3) if variance > 0 else 0.0
    return {
        "rows": int(mask.sum()),
        "detected_share": round(float(detected.mean()), 4),
        "detection_accuracy": round(float(((probability > 0.5) == detected).mean()), 4),
        "explained_variance": explained,
        "residual_std": (truth - guess).std(axis=0).tolist() if len(truth) else [0.0] * len(OUTPUT_FIELDS),
    }


def read_recording(path: Path, task: str) -> dict[str, np.ndarray]:
    """A recording file of ``task``; SimError for another task or format."""
    try:
        with np.load(path, allow_pickle=False) as data:
            recording = {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise SimError(f"recording {path}: not a readable .npz ({error})") from None
    if str(recording.get("task")) != task:
        raise SimError(f"recording {path} is of task {recording.get('task')!s}, not {task}")
    return recording


def main(argv: list[str] | None = None) -> int:
    """Fit one task's emulator on recordings and write it."""
    from robot_rl.sim.slot_source import load_slot_table
    from robot_rl.sim.slot_source_node import default_table_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=tuple(TASK_OBJECTS))
    parser.add_argument("--recordings", type=Path, nargs="+", required=True, help="emulator_recording .npz files")
    parser.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    parser.add_argument("--steps", type=int, default=FitConfig.steps, help="full-batch Adam steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task_slots = load_slot_table(default_table_path()).task(args.task)
    object_slots = [task_slots.object_slot(name) for name in TASK_OBJECTS[args.task]]
    parts = [
        training_rows(read_recording(path, args.task), object_slots, task_slots.support_plane_z_m.mean)
        for path in args.recordings
    ]
    rows = TrainingRows(
        *(np.concatenate([getattr(part, name) for part in parts]) for name in TrainingRows.__annotations__)
    )
    emulator, figures = fit_emulator(rows, args.task, FitConfig(steps=args.steps, seed=args.seed))
    emulator.metadata["recordings"] = [path.name for path in args.recordings]
    save_emulator(emulator, args.out)
    print(json.dumps(figures, indent=1))
    residual = dict(zip(OUTPUT_FIELDS, (f"{v:.4g}" for v in emulator.residual_std), strict=True))
    print(f"wrote {args.out} ({len(rows.group)} rows); held-out residual std {residual}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
