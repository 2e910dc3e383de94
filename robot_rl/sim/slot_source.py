"""Sim slot source (training only): object slots from privileged object poses, laid out as perception lays them out.

Rendering 640x480 costs about 100 ms a tick, so training cannot run the camera and perception. This
module builds, from the simulator's object poses, the same ``(K, slot_size)`` slot array that the
perception pipeline (:mod:`robot_rl.perception`) produces in the sim graph:

- **Layout.** :data:`robot_rl.perception.slots.SLOT_FIELDS` (+ zero embedding), ``base_link``, metres.
- **Slot index.** At an episode start perception's tracker is empty, so segments take slots in the
  segmenter's label order, largest cluster first. The calibration table (``config/sim_slots.yaml``,
  written by :mod:`robot_rl.sim.slot_calibration`) lists each task's slots in the order perception
  gave them on rendered reset frames: Lift ``cube``; Stack ``cubeB`` (the larger green cube) then
  ``cubeA``; PickPlaceCan ``Can`` (its bins are fixtures that perception removes). Static scene
  segments that perception keeps (``kind: scene``) are reproduced as constant slots. Objects keep
  their slot for the whole episode (the tracker keeps identity).
- **Centre.** Perception's slot centre is the robust bounding-box centre of the segment in x and y; in z
  it runs from the support plane to the object's top while the object rests on the plane (its lowest
  points within ``SlotEncoderConfig.support_gap_m`` of it), and from its own lowest points when lifted,
  carried or stacked. The source takes x, y from the body origin plus the mean offset perception showed
  at reset, and z by the same rule: top = body z + ``top_above_origin`` (measured), clipped to the
  segmenter's height band (``max_height_m`` above the plane), bottom = body z - ``top_above_origin``.
  Resting or lifted, that is the body centre.
- **Presence.** 1 while the object is in the region of interest and inside the height band; otherwise
  the tracker's stale presence (:func:`robot_rl.perception.tracker.stale_presence`: 0.5 on the first
  missed tick, decaying) with the last state kept, and zeros after ``max_missed_frames`` ticks, as the
  tracker does. Unused slots are all zeros.
- **Pixel features** (extents x/y, colour, area) cannot come from physics: the table holds their mean
  and standard deviation per object, measured through the real perception pipeline. Extents and area follow
  the object's yaw (``YAW_FEATURES``): the table holds their value for an object aligned with base_link's axes
  and a slope per unit of :func:`yaw_spread`, fitted on the same frames, and the source applies the yaw of the
  object's pose (it did not change the Stack base's success on the exact source: docs/benchmarks.md, "Sim slot
  sources against perception").

Noise (``noise_model``, see :data:`NOISE_MODELS`): ``none`` is exact and deterministic (the table's means
and the geometric convention above); evaluation uses ``none`` or, better, real perception.
``perception_v1`` adds seeded Gaussian position noise per axis whose size depends on the phase of the
object (approach / contact / lifted, from the gripper-object distance and the height above the
support plane) and draws the pixel features once per episode from the table's N(mean, std).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robot_rl.errors import SimError
from robot_rl.perception.slots import SLOT_FIELDS, SlotEncoderConfig
from robot_rl.perception.tracker import TrackerConfig, stale_presence
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS

TABLE_FORMAT = 2  # format_version of config/sim_slots.yaml (2: the yaw slopes)
OBJECT, SCENE = "object", "scene"  # slot kinds: follows a task object's pose / a static scene segment
# Pixel features that follow the object's yaw: perception's axis-aligned box of a cube turned by 45 degrees is
# sqrt(2) wider than of one aligned with base_link's axes (measured correlation 0.89-0.995 on Stack's cubes). For
# these the table holds the value at yaw spread 0 (aligned) with the std left around the fit, and the slope.
YAW_FEATURES = ("extent_x", "extent_y", "area_px")
YAW_SLOPES = tuple(f"{name}_yaw_slope" for name in YAW_FEATURES)  # feature units per unit of yaw_spread
# Measured per object slot: perception centre minus body origin (x, y), the object's top above its origin,
# the pixel features and the yaw slopes. extent_z follows from the top and the support plane.
OBJECT_FEATURES = (
    "offset_x", "offset_y", "top_above_origin", "extent_x", "extent_y", "r", "g", "b", "area_px", *YAW_SLOPES,
)  # fmt: skip
MEAN_YAW_SPREAD = 4.0 / math.pi - 1.0  # mean of yaw_spread over a uniform yaw: used when the yaw is unknown
# Measured per scene slot: every slot field but presence.
SCENE_FEATURES = SLOT_FIELDS[1:]
PIXEL_FEATURES = ("extent_x", "extent_y", "r", "g", "b", "area_px")  # drawn per episode by a noisy model
PHASES = ("approach", "contact", "lifted")
STALE_PRESENCE = TrackerConfig().stale_presence  # presence of a missed slot on its first missed tick (then decays)
SUPPORT_GAP_M = SlotEncoderConfig().support_gap_m  # a lower bottom rests on the plane: the box starts there, m
MIN_VISIBLE_HEIGHT_M = 0.01  # an object needs this much of itself inside the height band to be segmented
_COLUMN = {name: index for index, name in enumerate(SLOT_FIELDS)}
_MAXWELL_MEDIAN = 1.5382  # median of |e| for e ~ N(0, I3): 3D error median = 1.5382 x per-axis sigma


@dataclass(frozen=True)
class Gaussian:
    """A measured quantity: mean and standard deviation (units of the quantity)."""

    mean: float
    std: float


@dataclass(frozen=True)
class SlotSpec:
    """One slot of a task, as perception gives it at an episode start."""

    name: str  # the task object's name (TASK_OBJECTS) for an object slot; a label for a scene slot
    kind: str  # OBJECT or SCENE
    features: Mapping[str, Gaussian]  # OBJECT_FEATURES or SCENE_FEATURES, m / 0..1 / px
    order_agreement: float  # share of calibration frames in which perception put this segment in this slot


@dataclass(frozen=True)
class TaskSlots:
    """The calibrated slots of one task, in slot index order."""

    task: str
    frames: int  # rendered reset frames the table was measured on
    support_plane_z_m: Gaussian  # height of perception's support plane under the objects, base_link, m
    slots: tuple[SlotSpec, ...]

    def object_slot(self, name: str) -> int:
        """The slot index of a task object."""
        for index, spec in enumerate(self.slots):
            if spec.kind == OBJECT and spec.name == name:
                return index
        raise SimError(f"task {self.task}: no slot for object {name!r}")


@dataclass(frozen=True)
class PerceptionSettings:
    """The perception settings of the sim graph the table was measured with (perception's own parameters)."""

    num_slots: int  # K
    workspace_min_m: tuple[float, float, float]  # region of interest, base_link, m
    workspace_max_m: tuple[float, float, float]
    max_height_m: float  # points higher above the support plane are not segmented, m
    max_missed_frames: int  # ticks a slot keeps its state (stale presence) without a detection


@dataclass(frozen=True)
class SlotTable:
    """The whole calibration file: perception settings and the slots of every task."""

    perception: PerceptionSettings
    tasks: Mapping[str, TaskSlots]

    def task(self, name: str) -> TaskSlots:
        """The slots of one task; SimError if the table has no such task."""
        if name not in self.tasks:
            raise SimError(f"the sim slot table has no task {name!r}; it has {', '.join(self.tasks) or 'none'}")
        return self.tasks[name]


# --- the noise models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseModel:
    """How the source perturbs the exact slots. Units: m."""

    name: str
    position_sigma_m: Mapping[str, float]  # per-axis Gaussian sigma of x, y, z by phase (PHASES), m
    contact_distance_m: float = 0.06  # TCP within this distance of the object's origin: contact phase, m
    lifted_height_m: float = 0.02  # object bottom this far above the support plane: lifted phase, m
    pixel_features: bool = False  # draw extents, colour and area once per episode from the table's N(mean, std)

    def __post_init__(self) -> None:
        if set(self.position_sigma_m) != set(PHASES):
            raise SimError(f"noise model {self.name}: position_sigma_m needs the phases {', '.join(PHASES)}")
        if not all(math.isfinite(s) and s >= 0 for s in self.position_sigma_m.values()):
            raise SimError(f"noise model {self.name}: position sigmas must be finite and >= 0")
        if not (self.contact_distance_m > 0 and self.lifted_height_m > 0):
            raise SimError(f"noise model {self.name}: contact_distance_m and lifted_height_m must be > 0")

    @property
    def is_exact(self) -> bool:
        """True when the model adds no randomness at all."""
        return not self.pixel_features and all(s == 0 for s in self.position_sigma_m.values())


def yaw_spread(yaw_rad: float) -> float:
    """|cos| + |sin| - 1 of a yaw: 0 for an object aligned with the x and y axes, sqrt(2) - 1 at 45 degrees.

    An axis-aligned box around a square of side a turned by ``yaw_rad`` is a * (1 + yaw_spread) wide.
    """
    return abs(math.cos(yaw_rad)) + abs(math.sin(yaw_rad)) - 1.0


def yaw_about_z(quaternion_xyzw: Sequence[float]) -> float:
    """Rotation about the z axis of a unit quaternion (x, y, z, w), rad (the yaw of a Z-Y-X decomposition)."""
    x, y, z, w = (float(v) for v in quaternion_xyzw)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def sigma_from_median_3d(median_m: float) -> float:
    """Per-axis sigma of an isotropic 3D Gaussian whose error norm has the given median (Maxwell), m."""
    return median_m / _MAXWELL_MEDIAN


# perception_v1's sizes, as 3D error medians (m); per-axis sigma = median / 1.5382 (Maxwell). Sources
# (docs/perception.md, "Sim slot source"): approach 0.4 cm = the in-the-loop approach median of issue 11
# (isolated frames, docs/benchmarks.md: 0.33 cm); contact 1.4 cm = issue 11's contact median; lifted 1.4 cm =
# perception's median distance from the exact source once lifted (Stack 1.48 cm, PickPlaceCan 1.19 cm,
# measured with slot_calibration --loop-episodes): issue 11's 2.9 cm lifted error against the body origin is
# mostly perception's z convention, which the exact source reproduces.
PERCEPTION_V1_MEDIAN_3D_M = {"approach": 0.004, "contact": 0.014, "lifted": 0.014}
# perception_v2's sizes: the in-the-loop slot error of the perception of 2026-11-30 (issue 11's fixes: robot
# self-filter, stacked split, partial views; docs/benchmarks.md, "Perception in the loop", after): median 0.3-0.4 cm
# in every phase, on Lift with the shipped base and on Stack with the scripted expert. Its tail (Stack contact p95
# 6.5 cm: cube B hidden by the arm, a stale slot) is not Gaussian and is not modelled.
PERCEPTION_V2_MEDIAN_3D_M = {"approach": 0.004, "contact": 0.004, "lifted": 0.004}

NOISE_MODELS: dict[str, NoiseModel] = {
    "none": NoiseModel("none", {phase: 0.0 for phase in PHASES}),
    "perception_v1": NoiseModel(
        "perception_v1",
        {phase: sigma_from_median_3d(median) for phase, median in PERCEPTION_V1_MEDIAN_3D_M.items()},
        pixel_features=True,
    ),
    "perception_v2": NoiseModel(
        "perception_v2",
        {phase: sigma_from_median_3d(median) for phase, median in PERCEPTION_V2_MEDIAN_3D_M.items()},
        pixel_features=True,
    ),
}


def noise_model(name: str) -> NoiseModel:
    """The named noise model; SimError naming the choices for an unknown one."""
    if name not in NOISE_MODELS:
        raise SimError(f"unknown noise_model {name!r}; choose one of {', '.join(NOISE_MODELS)}")
    return NOISE_MODELS[name]


# --- the source ---------------------------------------------------------------------------------------


class SimSlotSource:
    """Privileged object positions in, perception-format slots out; one instance per task and graph.

    Call :meth:`reset` at each episode start (it reseeds the noise from ``(seed, episode_seed)``, so a run
    is reproducible) and :meth:`update` once per tick with the task objects' positions.
    """

    def __init__(
        self,
        table: SlotTable,
        task: str,
        num_slots: int | None = None,
        embedding_size: int = 0,
        noise: str | NoiseModel = "none",
        seed: int = 0,
    ) -> None:
        if task not in TASK_OBJECTS:
            raise SimError(f"unknown task {task!r}; valid tasks: {', '.join(TASK_OBJECTS)}")
        self.task_slots = table.task(task)
        self.perception = table.perception
        self.object_names = TASK_OBJECTS[task]
        self.num_slots = table.perception.num_slots if num_slots is None else num_slots
        if self.num_slots < len(self.task_slots.slots):
            raise SimError(
                f"num_slots {self.num_slots} is fewer than the {len(self.task_slots.slots)} slots perception fills"
                f" in {task}"
            )
        if embedding_size < 0:
            raise SimError(f"embedding_size must be >= 0, got {embedding_size}")
        self.slot_size = len(SLOT_FIELDS) + embedding_size
        self.noise = noise_model(noise) if isinstance(noise, str) else noise
        self.seed = seed
        self._low = np.asarray(self.perception.workspace_min_m, dtype=np.float64)
        self._high = np.asarray(self.perception.workspace_max_m, dtype=np.float64)
        self.phases: tuple[str, ...] = ()  # phase of each task object at the last update
        self.reset(0)

    def reset(self, episode_seed: int) -> None:
        """Start an episode: reseed, forget the tracked state, draw this episode's pixel features."""
        self.rng = np.random.default_rng([self.seed, episode_seed])
        self.state = np.zeros((self.num_slots, self.slot_size), dtype=np.float32)
        self.alive = np.zeros(self.num_slots, dtype=bool)
        self.missed = np.zeros(self.num_slots, dtype=np.int64)
        self.features: list[dict[str, float]] = []
        for spec in self.task_slots.slots:
            drawn = {}
            for name, value in spec.features.items():
                noisy = self.noise.pixel_features and (spec.kind == SCENE or name in PIXEL_FEATURES)
                drawn[name] = value.mean + (float(self.rng.normal(0.0, value.std)) if noisy else 0.0)
            self.features.append(drawn)

    def phase(self, position_m: np.ndarray, bottom_above_plane_m: float, ee_position_m: np.ndarray | None) -> str:
        """The noise phase of one object: lifted, contact (TCP near it) or approach."""
        if bottom_above_plane_m > self.noise.lifted_height_m:
            return "lifted"
        if ee_position_m is not None and np.linalg.norm(ee_position_m - position_m) < self.noise.contact_distance_m:
            return "contact"
        return "approach"

    def update(
        self,
        object_positions_m: np.ndarray,
        ee_position_m: np.ndarray | None = None,
        yaws_rad: Sequence[float] | None = None,
    ) -> np.ndarray:
        """The (K, slot_size) float32 slots of this tick.

        Args:
            object_positions_m: (N, 3) body origins of the task objects in base_link, m, in
                ``TASK_OBJECTS[task]`` order (the order of ``/robot_rl/sim/object_poses``).
            ee_position_m: (3,) TCP position in base_link, m; None puts every object in the approach phase.
            yaws_rad: (N,) the objects' yaws about base_link's z (:func:`yaw_about_z`), rad; None uses the mean
                spread of a uniform yaw for the yaw-dependent features.

        Raises:
            SimError: For a wrong number of objects, non-finite positions or yaws.
        """
        positions = np.asarray(object_positions_m, dtype=np.float64)
        if positions.shape != (len(self.object_names), 3) or not np.all(np.isfinite(positions)):
            raise SimError(
                f"expected {len(self.object_names)} finite object positions ({', '.join(self.object_names)}),"
                f" got shape {positions.shape}"
            )
        ee = None if ee_position_m is None else np.asarray(ee_position_m, dtype=np.float64)
        if yaws_rad is not None and (len(yaws_rad) != len(self.object_names) or not np.all(np.isfinite(yaws_rad))):
            raise SimError(f"expected {len(self.object_names)} finite object yaws, got {list(yaws_rad)}")
        plane = self.task_slots.support_plane_z_m.mean
        phases: dict[str, str] = {}
        seen = np.zeros(self.num_slots, dtype=bool)
        for index, spec in enumerate(self.task_slots.slots):
            features = self.features[index]
            row = np.zeros(self.slot_size, dtype=np.float64)
            row[0] = 1.0
            if spec.kind == SCENE:
                for name in SCENE_FEATURES:
                    row[_COLUMN[name]] = features[name]
            else:
                position = positions[self.object_names.index(spec.name)]
                top = position[2] + features["top_above_origin"]
                bottom = position[2] - features["top_above_origin"]
                top_seen = min(top, plane + self.perception.max_height_m)
                phase = phases[spec.name] = self.phase(position, bottom - plane, ee)
                inside = bool(np.all(position > self._low) and np.all(position < self._high))
                if not inside or top_seen - max(bottom, plane) < MIN_VISIBLE_HEIGHT_M:
                    continue  # not segmented this tick
                row[1] = position[0] + features["offset_x"]
                row[2] = position[1] + features["offset_y"]
                base = plane if bottom - plane <= SUPPORT_GAP_M else bottom  # perception's rule (SlotEncoder)
                row[3] = (base + top_seen) / 2
                row[_COLUMN["extent_z"]] = top_seen - base
                for name in ("extent_x", "extent_y", "r", "g", "b", "area_px"):
                    row[_COLUMN[name]] = features[name]
                object_index = self.object_names.index(spec.name)
                spread = MEAN_YAW_SPREAD if yaws_rad is None else yaw_spread(float(yaws_rad[object_index]))
                for name, slope in zip(YAW_FEATURES, YAW_SLOPES, strict=True):
                    row[_COLUMN[name]] += features[slope] * spread
                sigma = self.noise.position_sigma_m[phase]
                if sigma > 0:
                    row[1:4] += self.rng.normal(0.0, sigma, 3)
            _clip_pixel_features(row)
            self.state[index] = row
            self.alive[index] = True
            self.missed[index] = 0
            seen[index] = True
        self.phases = tuple(phases[name] for name in self.object_names)
        for index in np.flatnonzero(self.alive & ~seen):  # the tracker: keep state, stale presence, then forget
            self.missed[index] += 1
            if self.missed[index] > self.perception.max_missed_frames:
                self.alive[index] = False
                self.state[index] = 0.0
            else:
                self.state[index, 0] = stale_presence(
                    int(self.missed[index]), self.perception.max_missed_frames, STALE_PRESENCE
                )
        return self.state.copy()


def _clip_pixel_features(row: np.ndarray) -> None:
    """Keep drawn features in their ranges: extents and area >= 0, colour in 0..1, area a pixel count."""
    for name in ("extent_x", "extent_y", "extent_z", "area_px"):
        row[_COLUMN[name]] = max(row[_COLUMN[name]], 0.0)
    for name in ("r", "g", "b"):
        row[_COLUMN[name]] = min(max(row[_COLUMN[name]], 0.0), 1.0)
    row[_COLUMN["area_px"]] = round(row[_COLUMN["area_px"]])


# --- the table file -------------------------------------------------------------------------------------


class _Reader:
    """Typed access to the YAML tree with one-line errors that name the file and the key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> SimError:
        return SimError(f"sim slot table {self.path}: {key}: {problem}")

    def mapping(self, value: object, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping, got {_short(value)}")
        return value

    def get(self, tree: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in tree:
            raise self.error(f"{where}.{key}".lstrip("."), "missing")
        return tree[key]

    def number(self, value: object, key: str, low: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {_short(value)}")
        if low is not None and value < low:
            raise self.error(key, f"must be >= {low}, got {value}")
        return float(value)

    def integer(self, value: object, key: str, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.error(key, f"expected an integer >= {low}, got {_short(value)}")
        return value

    def vector3(self, value: object, key: str) -> tuple[float, float, float]:
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
            raise self.error(key, f"expected 3 numbers (x, y, z), got {_short(value)}")
        x, y, z = (self.number(v, key) for v in value)
        return x, y, z

    def gaussian(self, value: object, key: str) -> Gaussian:
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise self.error(key, f"expected [mean, std], got {_short(value)}")
        return Gaussian(self.number(value[0], key), self.number(value[1], key, low=0.0))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_slot_table(path: str | Path) -> SlotTable:
    """Read and validate a sim slot table (``config/sim_slots.yaml``).

    Raises:
        SimError: One line naming the file and the offending key: a missing or unreadable file, bad YAML,
            another format version, a missing or malformed entry, or a task whose object slots are not
            exactly its task objects.
    """
    reader = _Reader(str(path))
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise SimError(f"sim slot table {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise SimError(f"sim slot table {path}: malformed YAML{f' (line {mark.line + 1})' if mark else ''}") from None
    tree = reader.mapping(tree, "top level")
    version = reader.get(tree, "format_version", "")
    if version != TABLE_FORMAT:
        raise reader.error("format_version", f"expected {TABLE_FORMAT}, got {_short(version)}")
    node = reader.mapping(reader.get(tree, "perception", ""), "perception")
    perception = PerceptionSettings(
        num_slots=reader.integer(reader.get(node, "num_slots", "perception"), "perception.num_slots", 1),
        workspace_min_m=reader.vector3(reader.get(node, "workspace_min_m", "perception"), "perception.workspace_min_m"),
        workspace_max_m=reader.vector3(reader.get(node, "workspace_max_m", "perception"), "perception.workspace_max_m"),
        max_height_m=reader.number(reader.get(node, "max_height_m", "perception"), "perception.max_height_m", 0.0),
        max_missed_frames=reader.integer(
            reader.get(node, "max_missed_frames", "perception"), "perception.max_missed_frames", 0
        ),
    )
    if not all(lo < hi for lo, hi in zip(perception.workspace_min_m, perception.workspace_max_m, strict=True)):
        raise reader.error("perception.workspace_min_m", "must be below workspace_max_m on every axis")
    tasks = {}
    for task, value in reader.mapping(reader.get(tree, "tasks", ""), "tasks").items():
        tasks[str(task)] = _read_task(reader, str(task), reader.mapping(value, f"tasks.{task}"), perception)
    return SlotTable(perception=perception, tasks=tasks)


def _read_task(reader: _Reader, task: str, tree: Mapping[str, Any], perception: PerceptionSettings) -> TaskSlots:
    where = f"tasks.{task}"
    if task not in TASK_OBJECTS:
        raise reader.error(where, f"unknown task; valid tasks: {', '.join(TASK_OBJECTS)}")
    entries = reader.get(tree, "slots", where)
    if not isinstance(entries, list) or not entries:
        raise reader.error(f"{where}.slots", f"expected a non-empty list, got {_short(entries)}")
    if len(entries) > perception.num_slots:
        raise reader.error(f"{where}.slots", f"{len(entries)} slots, more than num_slots {perception.num_slots}")
    slots = []
    for index, entry in enumerate(entries):
        key = f"{where}.slots[{index}]"
        entry = reader.mapping(entry, key)
        kind = reader.get(entry, "kind", key)
        if kind not in (OBJECT, SCENE):
            raise reader.error(f"{key}.kind", f"expected {OBJECT!r} or {SCENE!r}, got {_short(kind)}")
        name = reader.get(entry, "name", key)
        if not isinstance(name, str) or not name:
            raise reader.error(f"{key}.name", f"expected a non-empty string, got {_short(name)}")
        fields = OBJECT_FEATURES if kind == OBJECT else SCENE_FEATURES
        features = {field: reader.gaussian(reader.get(entry, field, key), f"{key}.{field}") for field in fields}
        agreement = reader.number(reader.get(entry, "order_agreement", key), f"{key}.order_agreement", 0.0)
        slots.append(SlotSpec(name=name, kind=kind, features=features, order_agreement=agreement))
    objects = sorted(spec.name for spec in slots if spec.kind == OBJECT)
    if objects != sorted(TASK_OBJECTS[task]):
        raise reader.error(
            f"{where}.slots", f"object slots {objects} are not the task objects {sorted(TASK_OBJECTS[task])}"
        )
    return TaskSlots(
        task=task,
        frames=reader.integer(reader.get(tree, "frames", where), f"{where}.frames", 1),
        support_plane_z_m=reader.gaussian(reader.get(tree, "support_plane_z_m", where), f"{where}.support_plane_z_m"),
        slots=tuple(slots),
    )


def slot_table_to_yaml(table: SlotTable, header: Sequence[str] = ()) -> str:
    """The table as YAML text that :func:`load_slot_table` reads back, with ``header`` as comment lines."""

    def pair(value: Gaussian) -> str:
        return f"[{value.mean:.6g}, {value.std:.3g}]"

    settings = table.perception
    lines = [f"# {line}".rstrip() for line in header]
    lines += [
        f"format_version: {TABLE_FORMAT}",
        "perception:  # the perception settings of the sim graph the table was measured with",
        f"  num_slots: {settings.num_slots}",
        f"  workspace_min_m: {[float(v) for v in settings.workspace_min_m]}  # region of interest, base_link, m",
        f"  workspace_max_m: {[float(v) for v in settings.workspace_max_m]}",
        f"  max_height_m: {settings.max_height_m}  # points higher above the support plane are not segmented",
        f"  max_missed_frames: {settings.max_missed_frames}  # ticks a slot keeps its state without a detection",
        "tasks:  # each feature: [mean, std] over the frames; m, colour 0..1, area px",
    ]
    for task, slots in table.tasks.items():
        lines += [
            f"  {task}:",
            f"    frames: {slots.frames}",
            f"    support_plane_z_m: {pair(slots.support_plane_z_m)}",
            "    slots:  # in slot index order at an episode start",
        ]
        for spec in slots.slots:
            lines += [
                f"    - name: {spec.name}",
                f"      kind: {spec.kind}",
                f"      order_agreement: {spec.order_agreement:.4g}",
            ]
            lines += [f"      {name}: {pair(value)}" for name, value in spec.features.items()]
    return "\n".join(lines) + "\n"
