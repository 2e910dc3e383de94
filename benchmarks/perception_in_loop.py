"""Perception in the loop: per control tick, /robot_rl/slots against the sim's truth while a real policy acts.

    MUJOCO_GL=egl .venv/bin/python benchmarks/perception_in_loop.py --task Lift --policy base \\
        --base models/lift_act --episodes 10 [--seed 1000] [--out runs/perception_in_loop_lift_base.json]
    MUJOCO_GL=egl .venv/bin/python benchmarks/perception_in_loop.py --task Stack --policy expert --episodes 10
    MUJOCO_GL=egl .venv/bin/python benchmarks/perception_in_loop.py --task Stack --policy base \
        --base models/stack_act --residual RUN/residual/residual --seed 200000 --episodes 20
    MUJOCO_GL=egl .venv/bin/python benchmarks/perception_in_loop.py --task PickPlaceCan --policy expert --episodes 10

Runs the whole graph of ``launch/sim.launch.yaml`` on the in-process backend (sim -> perception -> base
policy -> residual -> intervention arbiter -> safety -> sim, lockstep, 640x480 agentview RGB-D), episode i
with seed ``--seed + i``. ``--policy base`` lets the frozen base at ``--base`` act (with ``--residual``, base +
that residual actor); ``--policy expert``
makes the simulated human (``device:=simulated``) take over at step 1 and never give up, so the scripted
expert acts through the intervention path on every tick (the base still runs, overridden; for a task other
than the base's, with ``allow_task_mismatch``).

A monitor node in the same graph reads, per control tick (one slots message per tick), ``/robot_rl/slots``
(present: presence > 0.5), ``/robot_rl/sim/object_poses`` (true body positions, base_link),
``/robot_rl/ee_pose`` (the TCP) and the sim's instance segmentation ``/camera/segmentation/image_raw``
(an object is visible with at least ``--min-visible-px`` pixels). Phase of a tick: *lifted* when an object
is more than 2 cm above its resting height (its lowest z so far in the episode: robosuite drops objects
from 1 cm at reset), else *contact* when the TCP is within 5 cm of an object, else *approach*.

Per phase: present slots per tick; ticks with more present slots than true objects; ticks with two present
slots within 3 cm; ticks where a visible object has no present slot within 2 cm, and ticks where it has no slot
at all within 2 cm, neither present nor kept with a stale presence (0 < presence <= 0.5: the tracker's
"missing, identity kept", e.g. an object hidden by the arm down to a few pixels); the distance from each
visible object to the nearest present slot (median, p95); identity changes (the present slot within 2 cm
nearest an object changes index from its last one), per episode; the perception pipeline's time per tick
(``pipeline.process`` wrapped with a timer). Also the success rate with its 95 % Wilson interval, and the
approach and contact figures split by the episode's outcome: whether the episodes that failed saw worse slots
where the grasp is decided.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import csv
import json
import math
import platform
import shlex
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robot_rl.episode_events import parse_episode_event
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.runtime import SENSOR_DATA, Node, msg
from robot_rl.runtime.msg_numpy import image_to_numpy
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS
from robot_rl.stats import wilson_interval

TASKS = ("Lift", "Stack", "PickPlaceCan")
PHASES = ("approach", "contact", "lifted")
CONTACT_M = 0.05  # TCP within this of an object: contact
LIFT_M = 0.02  # object this far above its resting height: lifted
DUPLICATE_M = 0.03  # two present slots this close: a duplicate
FOUND_M = 0.02  # an object with a present slot this close is found (and owns that slot's identity)
PRESENT = 0.5  # presence threshold
XYZ = [SLOT_FIELDS.index(name) for name in ("x", "y", "z")]  # by name: the layout may grow


# -- per-tick metrics (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class TickStats:
    """What one control tick's slots say against the truth."""

    episode: int  # index in the run, from 0
    phase: str  # one of PHASES
    present: int  # present slots
    objects: int  # true task objects
    duplicate: bool  # two present slots within DUPLICATE_M
    visible: tuple[bool, ...]  # per object: seen by the camera
    errors_m: tuple[float, ...]  # per object: distance to the nearest present slot (inf: none present)
    identity_changes: tuple[int, ...]  # per object: 1 if its slot index changed at this tick
    perception_ms: float  # pipeline.process of this tick's frame (nan: unknown)
    tick: int = -1  # control tick in the episode, from 0
    visible_px: tuple[int, ...] = ()  # per object: pixels in the sim's instance segmentation (empty: unknown)
    offsets_m: tuple[tuple[float, float, float], ...] = ()  # per object: nearest present slot - object, m (nan: none)
    kept_errors_m: tuple[float, ...] = ()  # per object: distance to the nearest slot with presence > 0 (empty: unknown)
    slot_ids: tuple[int | None, ...] = ()  # per object: index of its present slot within FOUND_M (None: none)


def present_slots(slots: np.ndarray, threshold: float = PRESENT) -> tuple[np.ndarray, np.ndarray]:
    """(indices, (P, 3) centres in m) of the slots with presence > ``threshold`` (0.5: detected this frame; 0:
    detected or kept while missing)."""
    indices = np.flatnonzero(slots[:, SLOT_FIELDS.index("presence")] > threshold)
    return indices, slots[indices][:, XYZ].astype(np.float64)


def tick_phase(tcp_m: np.ndarray, objects_m: np.ndarray, resting_z_m: np.ndarray) -> str:
    """lifted (an object > 2 cm above rest), else contact (TCP within 5 cm of an object), else approach."""
    if np.any(objects_m[:, 2] - resting_z_m > LIFT_M):
        return "lifted"
    if np.min(np.linalg.norm(objects_m - tcp_m, axis=1)) <= CONTACT_M:
        return "contact"
    return "approach"


def has_duplicate(slots_m: np.ndarray, within_m: float = DUPLICATE_M) -> bool:
    """Whether two of the (P, 3) slot centres lie within ``within_m`` of each other."""
    if len(slots_m) < 2:
        return False
    distances = np.linalg.norm(slots_m[:, None] - slots_m[None], axis=-1)
    return bool(np.any(distances[np.triu_indices(len(slots_m), 1)] <= within_m))


def nearest_offsets(objects_m: np.ndarray, slots_m: np.ndarray) -> np.ndarray:
    """Per object, the nearest slot centre minus the object's position, (N, 3) m (NaN without slots)."""
    if len(slots_m) == 0:
        return np.full((len(objects_m), 3), np.nan)
    nearest = np.linalg.norm(objects_m[:, None] - slots_m[None], axis=-1).argmin(axis=1)
    return slots_m[nearest] - objects_m


def nearest_distances(objects_m: np.ndarray, slots_m: np.ndarray) -> np.ndarray:
    """Per object, the distance to the nearest slot centre, m (inf without slots)."""
    if len(slots_m) == 0:
        return np.full(len(objects_m), np.inf)
    return np.linalg.norm(objects_m[:, None] - slots_m[None], axis=-1).min(axis=1)


def assign_slots(
    objects_m: np.ndarray, slots_m: np.ndarray, slot_ids: np.ndarray, within_m: float = FOUND_M
) -> list[int | None]:
    """Per object, the index of the nearest present slot within ``within_m``, else None."""
    if len(slots_m) == 0:
        return [None] * len(objects_m)
    distances = np.linalg.norm(objects_m[:, None] - slots_m[None], axis=-1)
    nearest = distances.argmin(axis=1)
    return [int(slot_ids[j]) if distances[i, j] <= within_m else None for i, j in enumerate(nearest)]


def identity_changes(
    last: Sequence[int | None], current: Sequence[int | None]
) -> tuple[tuple[int, ...], list[int | None]]:
    """(per object 1 if its slot index changed from its last known one, the updated last known indices).

    An object without a slot this tick keeps its last known index: losing it is a miss, not a change.
    """
    changes = tuple(
        int(old is not None and new is not None and old != new) for old, new in zip(last, current, strict=True)
    )
    return changes, [new if new is not None else old for old, new in zip(last, current, strict=True)]


def object_pixels(segmentation: np.ndarray, count: int) -> np.ndarray:
    """Per task object (ids 1..count in the sim's segmentation image), the pixels it covers."""
    return np.bincount(np.clip(segmentation.ravel(), 0, None), minlength=count + 1)[1 : count + 1]


def visible_objects(segmentation: np.ndarray, count: int, min_px: int) -> np.ndarray:
    """Per task object, whether it covers >= ``min_px`` pixels of the sim's segmentation image."""
    return object_pixels(segmentation, count) >= min_px


# -- aggregation (pure) --------------------------------------------------------------


def _percentiles_cm(values_m: np.ndarray) -> tuple[float, float]:
    finite = values_m[np.isfinite(values_m)] * 100.0
    if not len(finite):
        return float("nan"), float("nan")
    return float(np.median(finite)), float(np.percentile(finite, 95))


def summarize(ticks: Sequence[TickStats], episodes: int) -> dict[str, Any]:
    """The figures of a set of ticks; identity changes are divided by ``episodes``."""
    if not ticks:
        return {"ticks": 0}
    present = np.array([tick.present for tick in ticks])
    objects = np.array([tick.objects for tick in ticks])
    visible = np.concatenate([np.array(tick.visible, dtype=bool) for tick in ticks])
    errors = np.concatenate([np.array(tick.errors_m, dtype=np.float64) for tick in ticks])
    missed = [any(v and e > FOUND_M for v, e in zip(tick.visible, tick.errors_m, strict=True)) for tick in ticks]
    lost = [
        any(v and e > FOUND_M for v, e in zip(tick.visible, tick.kept_errors_m, strict=True))
        for tick in ticks
        if tick.kept_errors_m
    ]
    times = np.array([tick.perception_ms for tick in ticks])
    times = times[np.isfinite(times)]
    error_median, error_p95 = _percentiles_cm(errors[visible])
    return {
        "ticks": len(ticks),
        "slots_per_tick": float(present.mean()),
        "true_objects": float(objects.mean()),
        "extra_slot_rate": float(np.mean(present > objects)),
        "duplicate_rate": float(np.mean([tick.duplicate for tick in ticks])),
        "object_ticks": len(visible),
        "visible_object_ticks": int(visible.sum()),
        "missed_visible_rate": float(np.mean(missed)),
        "lost_visible_rate": float(np.mean(lost)) if lost else float("nan"),  # no slot, present or kept
        "error_median_cm": error_median,
        "error_p95_cm": error_p95,
        "identity_changes_per_episode": sum(sum(tick.identity_changes) for tick in ticks) / max(episodes, 1),
        "perception_ms_median": float(np.median(times)) if len(times) else float("nan"),
        "perception_ms_p95": float(np.percentile(times, 95)) if len(times) else float("nan"),
    }


def identity_by_object(ticks: Sequence[TickStats], names: Sequence[str], episodes: int) -> dict[str, dict[str, Any]]:
    """Per object: episodes with at least one identity change, and changes per episode."""
    result = {}
    for index, name in enumerate(names):
        per_episode = [0] * episodes
        for tick in ticks:
            if tick.episode < episodes:
                per_episode[tick.episode] += tick.identity_changes[index]
        changed = sum(count > 0 for count in per_episode)
        result[name] = {"episodes_changed": changed, "changes_per_episode": sum(per_episode) / max(episodes, 1)}
    return result


# -- the monitor node ----------------------------------------------------------------


def outcome_split(ticks: Sequence[TickStats], successes: Sequence[bool]) -> dict[str, dict[str, Any]]:
    """The approach and contact figures of the episodes that succeeded and of those that failed (``successes``
    indexed by ``TickStats.episode``; ticks of an episode with no result are left out)."""
    split: dict[str, dict[str, Any]] = {}
    for phase in ("approach", "contact"):
        for success, label in ((True, "succeeded"), (False, "failed")):
            episodes = [index for index, value in enumerate(successes) if value is success]
            chosen = set(episodes)
            rows = [t for t in ticks if t.phase == phase and t.episode in chosen]
            split[f"{phase}, {label}"] = {**summarize(rows, len(episodes)), "episodes": len(episodes)}
    return split


def _stamp(header: Any) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


def _positions(poses: Any) -> np.ndarray:
    return np.array([[p.position.x, p.position.y, p.position.z] for p in poses.poses], dtype=np.float64)


class PerceptionLoopMonitor(Node):
    """Turn each slots message into a :class:`TickStats` against the same tick's truth."""

    def __init__(self, task: str, timings: deque[float], min_visible_px: int, **kwargs: Any) -> None:
        super().__init__("perception_in_loop_monitor", **kwargs)
        self.objects = len(TASK_OBJECTS[task])
        self.timings = timings  # pipeline.process times, ms, in frame order (one per published slots message)
        self.min_visible_px = min_visible_px
        self.ticks: list[TickStats] = []
        self.episode = -1
        self.episode_tick = 0  # ticks measured in this episode
        self.unmatched = 0  # slots messages without the same tick's poses (never expected in lockstep)
        self.without_segmentation = 0  # ticks counted with every object visible
        self.latest: dict[str, tuple[tuple[int, int], Any]] = {}
        self.resting_z: np.ndarray | None = None
        self.last_ids: list[int | None] = [None] * self.objects
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self._keep("poses", _positions), 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self._keep("tcp", self._tcp), 10)
        pixels = self._keep("pixels", lambda image: object_pixels(image_to_numpy(image).astype(np.int64), self.objects))
        self.create_subscription(msg.Image, "/camera/segmentation/image_raw", pixels, SENSOR_DATA)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.on_slots, 10)

    def _keep(self, key: str, convert: Callable[[Any], Any]) -> Callable[[Any], None]:
        def callback(message: Any) -> None:
            self.latest[key] = (_stamp(message.header), convert(message))

        return callback

    @staticmethod
    def _tcp(pose: Any) -> np.ndarray:
        position = pose.pose.position
        return np.array([position.x, position.y, position.z])

    def on_episode(self, event: Any) -> None:
        """A sim start event opens a new episode (perception's tracker resets on the same event)."""
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start" and "source" not in payload:
            self.episode += 1
            self.episode_tick = 0
            self.resting_z = None
            self.last_ids = [None] * self.objects

    def _truth(self, stamp: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """(objects, TCP, per-object pixels or None) of the tick at ``stamp``, or None if the poses are not that
        tick's."""
        poses, tcp = self.latest.get("poses"), self.latest.get("tcp")
        if poses is None or tcp is None or poses[0] != stamp or tcp[0] != stamp:
            return None
        pixels = self.latest.get("pixels")
        if pixels is None or pixels[0] != stamp:
            self.without_segmentation += 1
            return poses[1], tcp[1], None
        return poses[1], tcp[1], pixels[1]

    def on_slots(self, cloud: Any) -> None:
        """Measure one tick."""
        perception_ms = self.timings.popleft() if self.timings else float("nan")
        truth = self._truth(_stamp(cloud.header)) if self.episode >= 0 else None
        if truth is None:
            self.unmatched += 1
            return
        objects_m, tcp_m, pixels = truth
        visible = np.ones(self.objects, dtype=bool) if pixels is None else pixels >= self.min_visible_px
        self.resting_z = objects_m[:, 2] if self.resting_z is None else np.minimum(self.resting_z, objects_m[:, 2])
        slots = pointcloud2_to_slots(cloud)
        ids, slots_m = present_slots(slots)
        kept_m = present_slots(slots, threshold=0.0)[1]
        slot_ids = assign_slots(objects_m, slots_m, ids)
        changes, self.last_ids = identity_changes(self.last_ids, slot_ids)
        self.ticks.append(
            TickStats(
                episode=self.episode,
                phase=tick_phase(tcp_m, objects_m, self.resting_z),
                present=len(ids),
                objects=self.objects,
                duplicate=has_duplicate(slots_m),
                visible=tuple(bool(v) for v in visible),
                errors_m=tuple(float(e) for e in nearest_distances(objects_m, slots_m)),
                identity_changes=changes,
                perception_ms=perception_ms,
                tick=self.episode_tick,
                visible_px=() if pixels is None else tuple(int(count) for count in pixels),
                offsets_m=tuple(tuple(float(v) for v in row) for row in nearest_offsets(objects_m, slots_m)),
                kept_errors_m=tuple(float(e) for e in nearest_distances(objects_m, kept_m)),
                slot_ids=tuple(slot_ids),
            )
        )
        self.episode_tick += 1


# -- running the graph ----------------------------------------------------------------


def time_process(pipeline: Any, timings: deque[float]) -> None:
    """Wrap ``pipeline.process`` (an instance attribute shadows the method) to log its time, ms."""
    process = pipeline.process

    def timed(frame: Any) -> Any:
        start = time.perf_counter()
        result = process(frame)  # a raised PerceptionError publishes nothing: log nothing either
        timings.append((time.perf_counter() - start) * 1000.0)
        return result

    pipeline.process = timed


def expert_params(workdir: Path) -> Path:
    """config/intervention.yaml with the simulated human driving from step 1 and never giving up."""
    from robot_rl.runtime.substitutions import package_share

    params = yaml.safe_load((package_share("robot_rl") / "config" / "intervention.yaml").read_text())
    params["intervention"]["ros__parameters"].update({"takeover_at_step": 1, "give_up_after_ticks": 0})
    path = workdir / "intervention_expert.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def launch_arguments(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    """sim.launch.yaml arguments; the calibration goes to ``workdir`` so parallel sim runs do not share it."""
    arguments = {
        "task": args.task,
        "base": str(args.base),
        "episodes": str(args.episodes),
        "seed": str(args.seed),
        "horizon_steps": str(args.horizon_steps or RECOMMENDED_HORIZON_STEPS.get(args.task, 200)),
        "segmenter": args.segmenter,
        "calibration_dir": str(workdir / "calibration"),
    }
    if args.residual is not None:
        arguments["residual"] = str(args.residual)
    if args.policy == "expert":
        arguments.update(
            device="simulated", intervention_params=str(expert_params(workdir)), allow_task_mismatch="true"
        )
    return arguments


def run(args: argparse.Namespace) -> tuple[PerceptionLoopMonitor, Any, float]:
    """Run the graph; return the perception monitor, the episode monitor and the wall time, s."""
    from robot_rl.perception.node import PerceptionNode
    from robot_rl.policies.evaluate import EpisodeMonitor
    from robot_rl.runtime.backend import select_backend
    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    select_backend("inproc")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="robot_rl_perception_in_loop_") as workdir:
        plan = read_launch_file(
            resolve_launch_path("robot_rl", "sim.launch.yaml"), launch_arguments(args, Path(workdir))
        )
        context, nodes = build_inproc(plan)
        timings: deque[float] = deque()
        time_process(next(node for node in nodes if isinstance(node, PerceptionNode)).pipeline, timings)
        ros_args = ["--ros-args", "-p", "use_sim_time:=true"]
        outcomes = EpisodeMonitor(context=context, cli_args=ros_args)
        outcomes.on_result = lambda r: print(
            f"episode {r.episode} seed {r.seed}: {'success' if r.success else 'failure'} in {r.steps} steps,"
            f" {r.intervention_ticks} intervention ticks ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
        )
        monitor = PerceptionLoopMonitor(args.task, timings, args.min_visible_px, context=context, cli_args=ros_args)
        try:
            spin_inproc(context, nodes)
            for node in (outcomes, monitor):  # the last frame's messages may still be queued
                context.deliver_pending(node.get_fully_qualified_name())
        finally:
            outcomes.destroy_node()
            monitor.destroy_node()
    return monitor, outcomes, time.perf_counter() - start


# -- report --------------------------------------------------------------------------


def machine() -> str:
    """CPU model, cores, load average, Python."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        model = names[0] if names else model
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load average {load:.1f}; Python {platform.python_version()}"


def build_report(args: argparse.Namespace, monitor: PerceptionLoopMonitor, outcomes: Any, wall_s: float) -> dict:
    """Everything printed, as a JSON-ready dict."""
    episodes = len(outcomes.results)
    successes = sum(result.success for result in outcomes.results)
    low, high = wilson_interval(successes, episodes) if episodes else (0.0, 1.0)
    phases = {phase: summarize([t for t in monitor.ticks if t.phase == phase], episodes) for phase in PHASES}
    by_outcome = outcome_split(monitor.ticks, [result.success for result in outcomes.results])
    return {
        "command": "MUJOCO_GL=egl .venv/bin/python " + " ".join(shlex.quote(arg) for arg in sys.argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "task": args.task,
        "policy": args.policy,
        "base": str(args.base),
        "residual": None if args.residual is None else str(args.residual),
        "segmenter": args.segmenter,
        "seeds": [result.seed for result in outcomes.results],
        "episodes": episodes,
        "successes": successes,
        "success_rate": successes / episodes if episodes else 0.0,
        "ci95": [low, high],
        "intervention_ticks": sum(result.intervention_ticks for result in outcomes.results),
        "steps": sum(result.steps for result in outcomes.results),
        "wall_time_s": wall_s,
        "min_visible_px": args.min_visible_px,
        "visibility": "sim instance segmentation"
        if not monitor.without_segmentation
        else f"sim instance segmentation; {monitor.without_segmentation} ticks without it counted all objects",
        "unmatched_slot_messages": monitor.unmatched,
        "phases": phases,
        "by_outcome": by_outcome,
        "all": summarize(monitor.ticks, episodes),
        "identity_by_object": identity_by_object(monitor.ticks, TASK_OBJECTS[args.task], episodes),
        "episode_results": [asdict(result) for result in outcomes.results],
    }


def _cm(row: dict, key: str) -> str:
    return f"{row[f'{key}_median_cm']:.1f} / {row[f'{key}_p95_cm']:.1f} cm"


def print_report(report: dict) -> None:
    """The Markdown section."""
    low, high = report["ci95"]
    who = f"base {report['base']}" if report["policy"] == "base" else "scripted expert (simulated human, every tick)"
    if report.get("residual"):
        who += f" + residual {report['residual']}"
    print(f"### Perception in the loop: {report['task']}, {who}\n")
    print(f"Command: `{report['command']}`\n")
    print(f"Date {report['date']}; {report['machine']}.")
    seeds = report["seeds"]
    print(f"Seeds {seeds[0]}..{seeds[-1]}" if seeds else "No episode finished", end="")
    print(f"; segmenter {report['segmenter']}; visibility: {report['visibility']} (>= {report['min_visible_px']} px).")
    print(
        f"Success {report['successes']}/{report['episodes']} = {report['success_rate']:.0%}"
        f" (95 % Wilson {low:.0%}-{high:.0%}); {report['steps']} steps, {report['intervention_ticks']} intervention"
        f" ticks, {report['wall_time_s']:.0f} s wall.\n"
    )
    print(
        "| phase | ticks | slots per tick (true objects) | ticks with an extra slot | two slots within 3 cm"
        " | visible object with no slot within 2 cm | ... nor a kept one | object to nearest slot, median / p95"
        " | identity changes per episode | perception ms, median / p95 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for phase, row in [*report["phases"].items(), ("**all**", report["all"])]:
        if not row["ticks"]:
            print(f"| {phase} | 0 | | | | | | | | |")
            continue
        print(
            f"| {phase} | {row['ticks']} | {row['slots_per_tick']:.2f} ({row['true_objects']:.0f})"
            f" | {row['extra_slot_rate']:.0%} | {row['duplicate_rate']:.0%} | {row['missed_visible_rate']:.0%}"
            f" | {row['lost_visible_rate']:.0%}"
            f" | {_cm(row, 'error')} | {row['identity_changes_per_episode']:.2f}"
            f" | {row['perception_ms_median']:.0f} / {row['perception_ms_p95']:.0f} |"
        )
    identity = "; ".join(
        f"{name} in {v['episodes_changed']}/{report['episodes']} episodes ({v['changes_per_episode']:.1f} per episode)"
        for name, v in report["identity_by_object"].items()
    )
    row = report["all"]
    visible = f"Visible object-ticks {row['visible_object_ticks']} of {row['object_ticks']}. " if row["ticks"] else ""
    print(f"\n{visible}Objects that changed slot identity: {identity}.")
    print("\nBy the episode's outcome:\n")
    print(
        "| phase | episodes | ticks | visible object with no slot within 2 cm | object to nearest slot, median / p95 |"
    )
    print("|---|---|---|---|---|")
    for key, row in report["by_outcome"].items():
        if not row["ticks"]:
            print(f"| {key} | {row['episodes']} | 0 | | |")
            continue
        print(
            f"| {key} | {row['episodes']} | {row['ticks']} | {row['missed_visible_rate']:.0%} | {_cm(row, 'error')} |"
        )


def write_ticks(path: Path, ticks: Sequence[TickStats], names: Sequence[str]) -> None:
    """One CSV row per object and tick: phase, visible pixels, the nearest slot's distance and offset (slot -
    object, per axis), whether the object was missed, its slot's index and whether that index changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["episode", "tick", "phase", "object", "visible_px", "error_cm", "missed", "present_slots"]
        writer.writerow([*header, "dx_cm", "dy_cm", "dz_cm", "slot", "identity_change"])
        for tick in ticks:
            for index, name in enumerate(names):
                pixels = tick.visible_px[index] if tick.visible_px else ""
                error = tick.errors_m[index]
                missed = tick.visible[index] and error > FOUND_M
                row = [tick.episode, tick.tick, tick.phase, name, pixels, f"{error * 100:.2f}", int(missed)]
                offset = tick.offsets_m[index] if tick.offsets_m else (math.nan,) * 3
                slot = tick.slot_ids[index] if tick.slot_ids else None
                change = tick.identity_changes[index]
                offsets = (f"{value * 100:.2f}" for value in offset)
                writer.writerow([*row, tick.present, *offsets, "" if slot is None else slot, change])


def _finite(value: Any) -> Any:
    """NaN -> None, for standard JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="Lift")
    parser.add_argument("--policy", choices=("base", "expert"), default="base", help="who acts")
    parser.add_argument(
        "--base", type=Path, default=Path("models/lift_act"), help="base checkpoint (runs for expert too)"
    )
    parser.add_argument("--residual", type=Path, help="residual actor checkpoint on top of the base (--policy base)")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000, help="seed of episode 0 (episode i: seed + i)")
    parser.add_argument("--horizon-steps", type=int, default=0, help="0 = the task's recommended horizon")
    parser.add_argument("--segmenter", choices=("rgbd_tabletop", "sim_gt"), default="rgbd_tabletop")
    parser.add_argument("--min-visible-px", type=int, default=20, help="pixels an object needs to count as visible")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    parser.add_argument("--ticks-csv", type=Path, help="also write one row per object and tick here")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if args.residual is not None and args.policy != "base":
        parser.error("--residual needs --policy base")
    monitor, outcomes, wall_s = run(args)
    report = build_report(args, monitor, outcomes, wall_s)
    print_report(report)
    if args.ticks_csv is not None:
        write_ticks(args.ticks_csv, monitor.ticks, TASK_OBJECTS[args.task])
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(_finite(report), indent=2))


if __name__ == "__main__":
    main()
