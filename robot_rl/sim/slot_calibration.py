"""Calibrate the sim slot source against the real perception pipeline, in the sim graph.

    MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.slot_calibration --episodes 50 --seed 0 --out config/sim_slots.yaml
    MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.slot_calibration --loop-episodes 10 --table config/sim_slots.yaml

Both measurements run ``launch/sim_perception.launch.yaml`` (the sim bridge rendering 640x480 RGB-D and
the perception node with ``config/sim_perception.yaml``) on the in-process backend, plus a probe node
that records the privileged object poses and perception's slots of the same stamp:

- :func:`measure_slot_features` renders the reset frame of ``episodes`` episodes (seeds ``seed ..``),
  where perception's tracker has just been reset, and records which slot each object got (the slot
  order), the static scene segments, and per object the mean and std of every field that cannot come
  from physics: extents, colour, area, the centre's offset from the body origin in x and y, the
  object's top above its origin and the support plane's height. ``--out`` writes the table file.
- :func:`measure_loop_errors` runs the scripted expert in the loop and compares perception's slots,
  tick by tick, with the exact source (``noise_model none``) and with the body origins, per noise phase
  (approach, contact, lifted). It sizes the ``perception_v1`` noise model; it writes nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from robot_rl.action_space import actions_to_trajectory
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import SimError
from robot_rl.perception.node import PerceptionNode
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import stamp_s
from robot_rl.runtime import Node, msg
from robot_rl.runtime.launch_file import read_launch_file
from robot_rl.runtime.launcher import build_inproc
from robot_rl.runtime.substitutions import PACKAGE, package_share
from robot_rl.sim.expert_node import ExpertInputAssembler
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS, make_expert
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS
from robot_rl.sim.slot_source import (
    OBJECT,
    OBJECT_FEATURES,
    PHASES,
    SCENE,
    SCENE_FEATURES,
    YAW_FEATURES,
    YAW_SLOPES,
    Gaussian,
    PerceptionSettings,
    SimSlotSource,
    SlotSpec,
    SlotTable,
    TaskSlots,
    load_slot_table,
    slot_table_to_yaml,
    yaw_spread,
)
from robot_rl.sim.slot_source_node import pose_array_positions, pose_array_yaws

CALIBRATED_TASKS = ("Lift", "Stack", "PickPlaceCan")
GRAPH_EPISODES = 10  # reset frames per sim graph
MATCH_RADIUS_M = 0.03  # a present slot within this x-y distance of an object's origin is that object's
_COLUMN = {name: index for index, name in enumerate(SLOT_FIELDS)}


def sim_perception_launch() -> Path:
    """The launch file of the sim graph with perception (the graph the table describes)."""
    return package_share(PACKAGE) / "launch" / "sim_perception.launch.yaml"


@dataclass
class Record:
    """One tick: the privileged state and perception's slots of the same stamp."""

    episode_seed: int
    positions_m: np.ndarray  # (N, 3) task object origins, base_link, m (TASK_OBJECTS order)
    ee_position_m: np.ndarray | None  # (3,) TCP, base_link, m
    slots: np.ndarray  # (K, slot_size) perception's slots
    yaws_rad: np.ndarray | None = None  # (N,) the objects' yaws about base_link's z, rad (None: not recorded)


class _Probe(Node):
    """Record (object poses, perception slots) per stamp; ask for a new episode after each reset frame or run
    the scripted expert."""

    def __init__(self, task: str, reset_frames: int, expert: bool, **kwargs: Any) -> None:
        super().__init__("slot_calibration_probe", **kwargs)
        self.reset_frames = reset_frames  # > 0: record only reset frames, this many, then stop
        self.expert = make_expert(task) if expert else None
        self.inputs = ExpertInputAssembler(task)
        self.records: list[Record] = []
        self.pending: dict[float, tuple[np.ndarray, np.ndarray | None, np.ndarray]] = {}
        self.episode_seed = -1
        self.await_reset_frame = False
        self.reset_stamp: float | None = None
        self.command = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        self.episode_pub = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.inputs.on_ee_pose, 10)
        self.create_subscription(msg.JointState, "/joint_states", self.inputs.on_joint_states, 10)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self.on_object_poses, 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.on_slots, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)

    def on_episode(self, event: Any) -> None:
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start":
            self.episode_seed = int(payload.get("seed", 0))
            self.await_reset_frame = True
            if self.expert is not None:
                self.expert.reset()

    def on_object_poses(self, poses: Any) -> None:
        stamp = stamp_s(poses.header)
        ee = None if self.inputs.ee is None else self.inputs.ee[0].copy()
        self.pending[stamp] = (pose_array_positions(poses), ee, pose_array_yaws(poses))
        if self.await_reset_frame:
            self.reset_stamp, self.await_reset_frame = stamp, False
        if self.expert is not None:
            state = self.inputs.on_object_poses(poses)
            if state is not None:
                self.command.publish(actions_to_trajectory(self.expert.act(state), 0.05))

    def on_slots(self, cloud: Any) -> None:
        stamp = stamp_s(cloud.header)
        if stamp not in self.pending:
            return
        positions, ee, yaws = self.pending.pop(stamp)
        if self.reset_frames == 0:
            self.records.append(Record(self.episode_seed, positions, ee, pointcloud2_to_slots(cloud), yaws))
            return
        if stamp == self.reset_stamp:
            self.records.append(Record(self.episode_seed, positions, ee, pointcloud2_to_slots(cloud), yaws))
        if len(self.records) >= self.reset_frames:
            self.request_shutdown(f"recorded {len(self.records)} reset frames")
        else:  # the next episode (also after a frame perception skipped)
            self.episode_pub.publish(msg.String(data='{"event": "reset"}'))


def _run_graph(task: str, seed: int, episodes: int, reset_frames: int) -> tuple[list[Record], PerceptionSettings]:
    """Run sim + perception + the probe; return the records and the perception node's settings."""
    if task not in TASK_OBJECTS:
        raise SimError(f"unknown task {task!r}; valid tasks: {', '.join(TASK_OBJECTS)}")
    with tempfile.TemporaryDirectory(prefix="robot_rl_slot_calibration_") as directory:
        arguments = {
            "task": task,
            "seed": str(seed),
            "max_episodes": str(episodes),
            "horizon_steps": str(RECOMMENDED_HORIZON_STEPS.get(task, 200)),
            "calibration_dir": directory,
        }
        context, nodes = build_inproc(read_launch_file(sim_perception_launch(), arguments))
        try:
            probe = _Probe(task, reset_frames, expert=not reset_frames, context=context)
            (perception,) = [node for node in nodes if isinstance(node, PerceptionNode)]
            config = perception.pipeline.config
            settings = PerceptionSettings(
                num_slots=config.tracker.num_slots,
                workspace_min_m=tuple(float(v) for v in config.tabletop.workspace_min_m),  # type: ignore[arg-type]
                workspace_max_m=tuple(float(v) for v in config.tabletop.workspace_max_m),  # type: ignore[arg-type]
                max_height_m=config.tabletop.max_height_m,
                max_missed_frames=config.tracker.max_missed_frames,
            )
            context.spin()
        finally:
            for node in nodes:
                node.destroy_node()
    return probe.records, settings


# --- reset frames: the table ----------------------------------------------------------------------------


def slot_layout(record: Record, names: tuple[str, ...]) -> tuple[str, ...]:
    """Which segment perception put in each slot: an object name, SCENE, or '' for an empty slot.

    An object's segment is the largest present segment within ``MATCH_RADIUS_M`` (x-y) of its origin, so a
    small fragment split off an object (a specular highlight) counts as an extra (scene) segment.
    """
    present = np.flatnonzero(record.slots[:, 0] == 1)
    labels = ["" for _ in record.slots]
    for slot in present:
        labels[slot] = SCENE
    if len(present):
        distance = np.linalg.norm(record.slots[present][:, None, 1:3] - record.positions_m[None, :, :2], axis=2)
        area = record.slots[present, _COLUMN["area_px"]][:, None]
        cost = np.where(distance <= MATCH_RADIUS_M, -area, 1e12)
        rows, cols = linear_sum_assignment(cost)
        for row, col in zip(rows, cols, strict=True):
            if distance[row, col] <= MATCH_RADIUS_M:
                labels[present[row]] = names[col]
    return tuple(labels)


def _gaussian(values: list[float]) -> Gaussian:
    array = np.asarray(values, dtype=np.float64)
    return Gaussian(float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0)


def _spread(record: Record, index: int) -> float | None:
    """The yaw spread of object ``index`` in a record, None when its yaw was not recorded."""
    return None if record.yaws_rad is None else yaw_spread(float(record.yaws_rad[index]))


def _yaw_fit(spreads: list[float | None], values: list[float]) -> tuple[Gaussian, Gaussian]:
    """Least squares value = aligned + slope * spread: (Gaussian(aligned, std around the fit), Gaussian(slope,
    its standard error)); without yaws (or too few frames, or one spread only) the slope is 0 and the value the mean.
    """
    if any(spread is None for spread in spreads) or len(values) < 3 or np.ptp(np.asarray(spreads, float)) < 1e-3:
        return _gaussian(values), Gaussian(0.0, 0.0)
    x, y = np.asarray(spreads, dtype=np.float64), np.asarray(values, dtype=np.float64)
    slope, aligned = np.polyfit(x, y, 1)
    residual = y - (aligned + slope * x)
    std = float(np.sqrt(np.sum(residual**2) / (len(y) - 2)))
    slope_error = std / float(np.sqrt(np.sum((x - x.mean()) ** 2)))
    return Gaussian(float(aligned), std), Gaussian(float(slope), slope_error)


def table_from_reset_frames(task: str, records: list[Record], perception: PerceptionSettings) -> TaskSlots:
    """Build a task's slots from reset-frame records: the majority slot order and its feature statistics.

    Raises:
        SimError: If no frame shows every task object.
    """
    names = TASK_OBJECTS[task]
    orders = [slot_layout(record, names) for record in records]
    complete = [order for order in orders if all(name in order for name in names)]
    if not complete:
        raise SimError(f"{task}: perception found the task objects in none of the {len(records)} reset frames")
    majority, _ = Counter(complete).most_common(1)[0]
    used = [record for record, order in zip(records, orders, strict=True) if order == majority]
    samples: dict[int, dict[str, list[float]]] = {slot: {} for slot, label in enumerate(majority) if label}
    planes: list[float] = []
    for record in used:
        for slot, label in enumerate(majority):
            row = record.slots[slot]
            values = samples.get(slot)
            if values is None:
                continue
            if label == SCENE:
                for name in SCENE_FEATURES:
                    values.setdefault(name, []).append(float(row[_COLUMN[name]]))
                continue
            origin = record.positions_m[names.index(label)]
            plane = row[_COLUMN["z"]] - row[_COLUMN["extent_z"]] / 2
            top = row[_COLUMN["z"]] + row[_COLUMN["extent_z"]] / 2
            planes.append(float(plane))
            measured = {
                "offset_x": row[_COLUMN["x"]] - origin[0],
                "offset_y": row[_COLUMN["y"]] - origin[1],
                "top_above_origin": top - origin[2],
                **{name: row[_COLUMN[name]] for name in ("extent_x", "extent_y", "r", "g", "b", "area_px")},
            }
            for name, value in measured.items():
                values.setdefault(name, []).append(float(value))
    slots = []
    for slot, label in enumerate(majority):
        if not label:
            continue
        agreement = sum(order[slot] == label for order in orders) / len(orders)
        kind = SCENE if label == SCENE else OBJECT
        if kind == SCENE:
            features = {name: _gaussian(samples[slot][name]) for name in SCENE_FEATURES}
        else:
            spreads = [_spread(record, names.index(label)) for record in used]
            features = {name: _gaussian(samples[slot][name]) for name in OBJECT_FEATURES if name not in YAW_SLOPES}
            for name, slope in zip(YAW_FEATURES, YAW_SLOPES, strict=True):
                features[name], features[slope] = _yaw_fit(spreads, samples[slot][name])
        slots.append(
            SlotSpec(
                name=f"scene_{slot}" if kind == SCENE else label,
                kind=kind,
                features=features,
                order_agreement=agreement,
            )
        )
    if any(not label for label in majority[: len(slots)]):
        raise SimError(f"{task}: perception's slots at reset are not contiguous from slot 0: {majority}")
    return TaskSlots(task=task, frames=len(used), support_plane_z_m=_gaussian(planes), slots=tuple(slots))


def measure_slot_features(task: str, episodes: int, seed: int) -> SlotTable:
    """Render ``episodes`` reset frames of ``task`` through the sim graph with perception; return the table.

    Episode i uses seed ``seed + i``. The frames come from sim graphs of ``GRAPH_EPISODES`` episodes each. The
    shipped tables were measured when each graph's first seed also drew Lift's cube half size (2.0-2.2 cm), so
    they cover that spread; since ``SimConfig.model_seed`` every sim builds the same cube.
    The returned table holds the one task; ``frames`` counts the frames whose slot order was the majority
    order (the statistics use only those).
    """
    if episodes < 1:
        raise SimError(f"episodes must be >= 1, got {episodes}")
    records: list[Record] = []
    for start in range(0, episodes, GRAPH_EPISODES):
        count = min(GRAPH_EPISODES, episodes - start)
        chunk, perception = _run_graph(task, seed + start, count, reset_frames=count)
        records += chunk
    return SlotTable(perception=perception, tasks={task: table_from_reset_frames(task, records, perception)})


def merge_tables(tables: list[SlotTable]) -> SlotTable:
    """One table holding every task; SimError if they were measured with different perception settings."""
    if not tables:
        raise SimError("no tables to merge")
    if any(table.perception != tables[0].perception for table in tables):
        raise SimError("the tables were measured with different perception settings")
    return SlotTable(perception=tables[0].perception, tasks={k: v for t in tables for k, v in t.tasks.items()})


# --- in the loop: the noise model ----------------------------------------------------------------------


@dataclass
class PhaseErrors:
    """Perception against the exact source and against the body origin, for one phase (m)."""

    to_source_m: list[float] = field(default_factory=list)  # |perception centre - exact source centre|
    to_body_m: list[float] = field(default_factory=list)  # |perception centre - body origin|
    residuals_m: list[np.ndarray] = field(default_factory=list)  # perception - source, per axis
    absent: int = 0  # object-ticks whose slot had presence 0 while the source had it present
    elsewhere: int = 0  # ... of those, the object was in another present slot (an identity change)

    def summary(self) -> dict[str, float]:
        """Counts, medians and 95th percentiles (cm) and the per-axis residual std (cm)."""
        source = np.asarray(self.to_source_m) * 100
        body = np.asarray(self.to_body_m) * 100
        per_axis = np.std(np.asarray(self.residuals_m), axis=0) * 100 if self.residuals_m else np.zeros(3)
        stats = {"n": float(len(source)), "absent": float(self.absent), "elsewhere": float(self.elsewhere)}
        for name, values in (("source", source), ("body", body)):
            stats[f"{name}_median_cm"] = float(np.median(values)) if len(values) else float("nan")
            stats[f"{name}_p95_cm"] = float(np.percentile(values, 95)) if len(values) else float("nan")
        stats.update({f"residual_std_{axis}_cm": float(v) for axis, v in zip("xyz", per_axis, strict=True)})
        return stats


def measure_loop_errors(table: SlotTable, task: str, episodes: int, seed: int) -> dict[str, PhaseErrors]:
    """Run the scripted expert through sim + perception; compare perception's slots with the exact source.

    Returns the errors per phase (:data:`~robot_rl.sim.slot_source.PHASES`, as the ``perception_v1`` model
    defines them).
    """
    records, _ = _run_graph(task, seed, episodes, reset_frames=0)
    if not records:
        raise SimError(f"{task}: perception published no slots in {episodes} episode(s)")
    exact = SimSlotSource(table, task, num_slots=records[0].slots.shape[0], noise="none")
    errors = {phase: PhaseErrors() for phase in PHASES}
    names = TASK_OBJECTS[task]
    episode = None
    for record in records:
        if record.episode_seed != episode:
            episode = record.episode_seed
            exact.reset(episode)
        expected = exact.update(record.positions_m, record.ee_position_m, yaws_rad=record.yaws_rad)
        for name, phase in zip(names, exact.phases, strict=True):
            slot = exact.task_slots.object_slot(name)
            if expected[slot, 0] != 1:
                continue
            if record.slots[slot, 0] != 1:
                errors[phase].absent += 1
                others = record.slots[record.slots[:, 0] == 1, 1:4]
                near = np.linalg.norm(others - expected[slot, 1:4], axis=1) < MATCH_RADIUS_M if len(others) else []
                errors[phase].elsewhere += int(np.any(near))
                continue
            seen = record.slots[slot, 1:4].astype(np.float64)
            errors[phase].to_source_m.append(float(np.linalg.norm(seen - expected[slot, 1:4])))
            errors[phase].to_body_m.append(float(np.linalg.norm(seen - record.positions_m[names.index(name)])))
            errors[phase].residuals_m.append(seen - expected[slot, 1:4])
    return errors


# --- the script -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Measure the table (``--episodes``) and/or the in-loop errors (``--loop-episodes``); print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(CALIBRATED_TASKS), help="tasks to measure")
    parser.add_argument("--episodes", type=int, default=0, help="reset frames per task for the table; 0 = skip")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--out", type=Path, help="write the measured table here (with --episodes)")
    parser.add_argument("--loop-episodes", type=int, default=0, help="expert episodes per task in the loop")
    parser.add_argument("--table", type=Path, help="table for --loop-episodes (default: the one just measured)")
    args = parser.parse_args(argv)

    table: SlotTable | None = None
    if args.episodes > 0:
        table = merge_tables([measure_slot_features(task, args.episodes, args.seed) for task in args.tasks])
        for task, slots in table.tasks.items():
            for spec in slots.slots:
                features = ", ".join(f"{k} {v.mean:.4g}±{v.std:.2g}" for k, v in spec.features.items())
                print(f"{task} slot {spec.name} ({spec.kind}, order {spec.order_agreement:.0%}): {features}")
        if args.out is not None:
            command = (
                f"MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.slot_calibration --tasks {' '.join(args.tasks)}"
                f" --episodes {args.episodes} --seed {args.seed} --out {args.out}"
            )
            frames = ", ".join(f"{task} {slots.frames}/{args.episodes}" for task, slots in table.tasks.items())
            header = [
                "Sim slot source calibration (robot_rl/sim/slot_source.py; docs/perception.md, 'Sim slot source').",
                "Measured through the real perception pipeline: launch/sim_perception.launch.yaml (640x480 agentview,",
                "rgbd_tabletop, config/sim_perception.yaml), one reset frame per episode,"
                f" episode seeds {args.seed}..{args.seed + args.episodes - 1}.",
                f"Produced by: {command}",
                f"Date {date.today().isoformat()}; frames used per task (those in the majority slot layout): {frames}.",
            ]
            args.out.write_text(slot_table_to_yaml(table, header))
            print(f"wrote {args.out}")
    if args.loop_episodes > 0:
        if args.table is not None:
            table = load_slot_table(args.table)
        if table is None:
            raise SimError("--loop-episodes needs --table or --episodes")
        print("| task | phase | object-ticks | absent (in another slot) | perception vs source median / p95 |", end="")
        print(" vs body origin | residual std x / y / z |\n|---|---|---|---|---|---|---|")
        for task in args.tasks:
            for phase, errors in measure_loop_errors(table, task, args.loop_episodes, args.seed).items():
                s = errors.summary()
                print(
                    f"| {task} | {phase} | {int(s['n'])} | {int(s['absent'])} ({int(s['elsewhere'])}) |"
                    f" {s['source_median_cm']:.2f} / {s['source_p95_cm']:.2f} cm"
                    f" | {s['body_median_cm']:.2f} / {s['body_p95_cm']:.2f} cm"
                    f" | {s['residual_std_x_cm']:.2f} / {s['residual_std_y_cm']:.2f}"
                    f" / {s['residual_std_z_cm']:.2f} cm |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
