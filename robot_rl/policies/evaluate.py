"""``robot-rl eval``: run a frozen base policy in the simulated graph and report its success rate.

The graph is ``launch/sim.launch.yaml`` on the in-process backend (sim -> perception -> base
policy -> residual -> intervention arbiter -> safety -> sim, in lockstep). An :class:`EpisodeMonitor`
node listens to the episode events, the intervention flag, the safety gate's diagnostics and, for
the first episodes, the camera, to collect per-episode results and videos.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import trajectory_to_actions
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import MessageError, PolicyError
from robot_rl.intervention.node import TAKEOVER_PREFIX
from robot_rl.policies.residual_node import ResidualNode
from robot_rl.runtime import SENSOR_DATA, Node, diagnostics, msg
from robot_rl.runtime.backend import select_backend
from robot_rl.runtime.msg_numpy import image_to_numpy, joint_state_to_numpy
from robot_rl.runtime.node_interfaces import OBJECT_POSES
from robot_rl.safety.filter import PANDA_JOINT_LIMITS_RAD
from robot_rl.safety.node import SafetyNode
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.stats import wilson_interval

SAFETY_NODE = "/safety"  # the safety gate's diagnostic status name (its fully qualified node name)
INTERVENTION_NODE = "/intervention"  # the intervention arbiter's diagnostic status name


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluated episode."""

    episode: int  # index in the run, from 0
    seed: int  # the sim seed of the episode
    success: bool  # the task's success check held before the horizon
    steps: int  # control steps until success or timeout
    intervention_ticks: int = 0  # ticks in which a person (or the simulated human) drove
    safety_events: int = 0  # safety-gate reports that it changed or held a command (WARN or ERROR)
    # Height of the task's first object (the one to pick) above where it was on the episode's first tick, m:
    # the most it reached and where it ended (None: no /robot_rl/sim/object_poses, e.g. on a real robot). How a
    # failed episode failed: never lifted (a missed grasp), lifted and back down (dropped), still up at the end.
    max_rise_m: float | None = None
    final_rise_m: float | None = None
    # Ticks whose applied gripper command (/robot_rl/safe_command) had the other sign than the base's: the gripper
    # opened or closed against the base (robosuite moves it by the sign), by the residual, a person, or a safety
    # hold (a hold keeps the last applied gripper command while the base changes its sign).
    gripper_overrides: int = 0
    # Ticks whose policy action (/robot_rl/policy_action: base + residual, before the arbiter and the gate) had the
    # other gripper sign than the base's: the residual's own flips, which ``gripper_overrides`` cannot tell apart.
    residual_gripper_flips: int = 0
    # The first takeover of the episode (None / '': nobody drove): its control step (1 = the first tick), the reason
    # the arbiter reported (for the simulated person: the rule that fired and the expert's phase then), and the first
    # object then: its height above its start, m, and its tilt from how it stood at the start, degrees (a can on
    # its side: about 90).
    takeover_step: int | None = None
    takeover_reason: str = ""
    takeover_rise_m: float | None = None
    takeover_tilt_deg: float | None = None
    # The arm's joint positions (name -> rad, the joints of /joint_states with a limit in the safety gate's Panda
    # table) at the first takeover and at the episode's end; None: no such joint state arrived.
    takeover_joint_positions_rad: dict[str, float] | None = None
    final_joint_positions_rad: dict[str, float] | None = None
    # Where the TCP was against the task's first object (TCP - object origin, base_link x, y, z, m) on the episode's
    # first tick whose applied gripper command closed (> 0): how a grasp was placed (a close 3 cm above a cube's
    # centre closes on its top edge); None: the gripper never closed, or no TCP pose or object pose arrived.
    first_close_offset_m: tuple[float, float, float] | None = None


@dataclass
class EvalResult:
    """Success rate with its 95 % Wilson interval, mean episode length and per-episode results."""

    task: str  # robosuite task
    base: str  # the evaluated pretrained-policy directory
    episodes: list[EpisodeResult]  # per-episode results, in order
    wall_time_s: float  # wall time of the whole run, s
    videos: list[str] = field(default_factory=list)  # MP4 files written
    safety_reasons: dict[str, int] = field(default_factory=dict)  # safety-gate reason -> ticks it applied
    residual: str = ""  # the residual actor checkpoint on top of the base ('' = none)
    slot_source: str = "perception"  # where the slots came from: perception (rendered) or sim (privileged)
    slot_noise: str = "none"  # noise model of the sim slot source (slot_source sim)
    safety_params: str = ""  # the safety-gate params file layered on config/safety.yaml ('' = none)

    @property
    def successes(self) -> int:
        """Number of successful episodes."""
        return sum(result.success for result in self.episodes)

    @property
    def success_rate(self) -> float:
        """Fraction of successful episodes."""
        return self.successes / len(self.episodes) if self.episodes else 0.0

    @property
    def interval_95(self) -> tuple[float, float]:
        """95 % Wilson score interval of the success rate."""
        return wilson_interval(self.successes, len(self.episodes)) if self.episodes else (0.0, 1.0)

    @property
    def intervention_ticks(self) -> int:
        """Ticks driven by a person, over all episodes."""
        return sum(result.intervention_ticks for result in self.episodes)

    @property
    def safety_events(self) -> int:
        """Safety-gate interventions (a command changed or held), over all episodes."""
        return sum(result.safety_events for result in self.episodes)

    @property
    def mean_steps(self) -> float:
        """Mean episode length in control steps."""
        return float(np.mean([result.steps for result in self.episodes])) if self.episodes else 0.0

    def to_json(self) -> str:
        """The result as JSON, with the summary figures first."""
        low, high = self.interval_95
        summary = {
            "task": self.task,
            "base": self.base,
            "residual": self.residual,
            "slot_source": self.slot_source,
            "slot_noise": self.slot_noise,
            "safety_params": self.safety_params,
            "episodes": len(self.episodes),
            "successes": self.successes,
            "success_rate": self.success_rate,
            "ci95": [low, high],
            "mean_steps": self.mean_steps,
            "intervention_ticks": self.intervention_ticks,
            "safety_events": self.safety_events,
            "safety_reasons": self.safety_reasons,
            "failure_modes": failure_modes([asdict(result) for result in self.episodes]),
            "wall_time_s": self.wall_time_s,
            "videos": self.videos,
            "per_episode": [asdict(result) for result in self.episodes],
        }
        return json.dumps(summary, indent=2)


def per_seed(result: Mapping[str, Any]) -> dict[int, bool]:
    """{seed: success} of an evaluation's JSON (:meth:`EvalResult.to_json`'s ``per_episode``)."""
    return {int(episode["seed"]): bool(episode["success"]) for episode in result["per_episode"]}


LIFTED_M = 0.02  # the first object counts as lifted this far above its start, m (a cube is 4-5 cm)
FAILURE_MODES = ("never lifted", "dropped", "up at the end", "unknown")


def failure_modes(per_episode: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How the failed episodes of an evaluation's ``per_episode`` list failed, by the first object's height.

    ``never lifted``: it never rose ``LIFTED_M`` (a missed grasp); ``dropped``: it did, and ended lower than that;
    ``up at the end``: it ended at least that high (held, or set down on something, e.g. Stack's cube B); ``unknown``:
    no object poses (a real robot, or a result written before they were recorded).
    """
    counts = dict.fromkeys(FAILURE_MODES, 0)
    for episode in per_episode:
        if episode["success"]:
            continue
        highest, final = episode.get("max_rise_m"), episode.get("final_rise_m")
        if highest is None or final is None:
            counts["unknown"] += 1
        elif highest < LIFTED_M:
            counts["never lifted"] += 1
        else:
            counts["dropped" if final < LIFTED_M else "up at the end"] += 1
    return counts


def tilt_deg(start_xyzw: np.ndarray, now_xyzw: np.ndarray) -> float:
    """Angle between a body's z axis now and at the start, degrees, from two xyzw quaternions (any norm)."""
    axes = []
    for x, y, z, w in (start_xyzw, now_xyzw):
        n = x * x + y * y + z * z + w * w  # the body's z axis: the third column of the rotation matrix
        axes.append(np.array([2 * (x * z + w * y), 2 * (y * z - w * x), w * w - x * x - y * y + z * z]) / n)
    return float(np.degrees(np.arccos(np.clip(axes[0] @ axes[1], -1.0, 1.0))))


def ending(payload: Mapping[str, Any]) -> bool:
    """Whether an episode event ends the running episode: the sim's outcome, or a person's success or failure key."""
    kind = payload["event"]
    if "source" not in payload:
        return kind in ("success", "timeout")
    return kind in ("success", "failure") and payload.get("source") == "human"


class EpisodeMonitor(Node):
    """Collect episode outcomes, interventions and safety events; record the camera of the first episodes."""

    def __init__(
        self,
        video_dir: Path | None = None,
        video_episodes: int = 0,
        fps: int = 20,
        node_name: str = "eval_monitor",
        **kwargs: Any,
    ) -> None:
        super().__init__(node_name, **kwargs)
        self.results: list[EpisodeResult] = []
        self.seed: int | None = None
        self.video_dir = video_dir
        self.video_episodes = video_episodes if video_dir is not None else 0
        self.fps = fps
        self.writer: Any = None
        self.videos: list[str] = []
        self.on_result: Any = None  # called with each EpisodeResult (e.g. a progress bar)
        self.intervention_ticks = 0  # in the running episode
        self.safety_events = 0  # in the running episode
        self.safety_reasons: Counter[str] = Counter()  # reason -> ticks, over the whole run
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.Bool, "/robot_rl/intervention", self.on_intervention, 10)
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)
        self.create_subscription(msg.PoseArray, OBJECT_POSES, self.on_object_poses, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.on_base_action, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/policy_action", self.on_policy_action, 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/safe_command", self.on_safe_command, 10)
        self.create_subscription(msg.JointState, "/joint_states", self.on_joint_states, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.on_ee_pose, 10)
        self.tcp_m: np.ndarray | None = None  # the latest TCP position in the running episode, base_link, m
        self.object_m: np.ndarray | None = None  # the first object's latest position in the running episode, m
        self.first_close_offset_m: tuple[float, float, float] | None = None  # in the running episode
        self.arm_joints: dict[str, float] | None = None  # the latest arm joint positions, rad
        self.base_gripper_sign = 0.0  # sign of the base's latest gripper command (0: none yet or exactly 0)
        self.gripper_overrides = 0  # in the running episode
        self.residual_gripper_flips = 0  # in the running episode
        self.start_z: float | None = None  # the first object's height on the episode's first tick, m
        self.start_quaternion: np.ndarray | None = None  # its orientation then, xyzw
        self.last_tilt_deg: float | None = None  # its tilt from the start orientation on the latest tick, degrees
        self.ticks = 0  # intervention flags seen in the running episode (one per tick)
        self.takeover: dict[str, Any] = {}  # the running episode's first takeover (EpisodeResult's takeover_ fields)
        self.max_rise_m: float | None = None  # in the running episode, m
        self.last_rise_m: float | None = None  # in the running episode, m
        if self.video_episodes:
            self.create_subscription(msg.Image, "/camera/color/image_raw", self.on_image, SENSOR_DATA)

    def on_episode(self, event: Any) -> None:
        """Track starts and outcomes."""
        payload = parse_episode_event(event)
        if payload is None:
            return  # not an event of the sim; the sim's own events are well-formed
        kind = payload["event"]
        for key in ("seed", "steps"):
            if not isinstance(payload.get(key, 0), int):
                raise MessageError(f"episode event {kind!r} has a non-integer {key} {payload[key]!r}")
        if kind == "start":
            self.begin_episode(payload.get("seed"))
        elif self.seed is not None and ending(payload):
            # a key comes after its tick's flag, in a tick whose command the sim never executes
            steps = max(self.ticks - 1, 0) if "source" in payload else payload.get("steps", 0)
            result = EpisodeResult(
                len(self.results),
                int(self.seed),
                kind == "success",
                int(steps),
                self.intervention_ticks,
                self.safety_events,
                self.max_rise_m,
                self.last_rise_m,
                self.gripper_overrides,
                self.residual_gripper_flips,
                **self.takeover,
                final_joint_positions_rad=self.arm_joints,
                first_close_offset_m=self.first_close_offset_m,
            )
            self.results.append(result)
            self.seed = None
            self._close_video()
            if self.on_result is not None:
                self.on_result(result)

    def begin_episode(self, seed: int | None) -> None:
        """Start tracking an episode on ``seed`` (None: an episode whose outcome is not counted)."""
        self.seed = seed
        self.intervention_ticks = self.safety_events = self.gripper_overrides = self.residual_gripper_flips = 0
        self.base_gripper_sign = 0.0
        self.start_z = self.max_rise_m = self.last_rise_m = self.last_tilt_deg = None
        self.start_quaternion = self.arm_joints = None
        self.tcp_m = self.object_m = self.first_close_offset_m = None
        self.ticks, self.takeover = 0, {}
        self._close_video()
        if len(self.results) < self.video_episodes and self.video_dir is not None:
            import imageio.v2 as imageio

            self.video_dir.mkdir(parents=True, exist_ok=True)
            path = self.video_dir / f"episode_{len(self.results):03d}.mp4"
            self.writer = imageio.get_writer(path, fps=self.fps, macro_block_size=1)
            self.videos.append(str(path))

    def on_intervention(self, flag: Any) -> None:
        """Count the ticks a person drives while an episode runs (the tick after its end is never executed); note
        the first takeover's step and the first object's state then."""
        if self.seed is None:
            return
        self.ticks += 1
        if flag.data:
            self.intervention_ticks += 1
            if "takeover_step" not in self.takeover:
                self.takeover.update(
                    takeover_step=self.ticks,
                    takeover_rise_m=self.last_rise_m,
                    takeover_tilt_deg=self.last_tilt_deg,
                    takeover_joint_positions_rad=self.arm_joints,
                )

    def on_joint_states(self, joint_state: Any) -> None:
        """Keep the arm's latest joint positions while an episode runs (a state without them is skipped)."""
        names, positions, _, _ = joint_state_to_numpy(joint_state)
        if self.seed is not None and all(name in names for name in PANDA_JOINT_LIMITS_RAD):
            self.arm_joints = {name: float(positions[names.index(name)]) for name in PANDA_JOINT_LIMITS_RAD}

    def on_ee_pose(self, pose: Any) -> None:
        """Keep the TCP's latest position while an episode runs."""
        position = pose.pose.position
        tcp = np.array([position.x, position.y, position.z], dtype=np.float64)
        if self.seed is not None and np.all(np.isfinite(tcp)):
            self.tcp_m = tcp

    def on_base_action(self, trajectory: Any) -> None:
        """Remember the sign of the base's gripper command this tick (point 0 of its chunk)."""
        self.base_gripper_sign = float(np.sign(trajectory_to_actions(trajectory)[0, -1]))

    def on_policy_action(self, trajectory: Any) -> None:
        """Count a tick whose policy action has the other gripper sign than the base's, while an episode runs."""
        if self._against_base(trajectory_to_actions(trajectory)[0, -1]):
            self.residual_gripper_flips += 1

    def on_safe_command(self, trajectory: Any) -> None:
        """Count a tick whose applied gripper command has the other sign than the base's, while an episode runs;
        note where the TCP was against the first object at the episode's first closing command."""
        gripper = trajectory_to_actions(trajectory)[0, -1]
        if self._against_base(gripper):
            self.gripper_overrides += 1
        closes = gripper > 0
        known = self.tcp_m is not None and self.object_m is not None
        if self.seed is not None and closes and self.first_close_offset_m is None and known:
            offset = self.tcp_m - self.object_m
            self.first_close_offset_m = (float(offset[0]), float(offset[1]), float(offset[2]))

    def _against_base(self, gripper: float) -> bool:
        """Whether an episode runs and this gripper command has the other sign than the base's this tick."""
        return self.seed is not None and float(np.sign(gripper)) * self.base_gripper_sign < 0

    def on_object_poses(self, poses: Any) -> None:
        """Follow the height of the task's first object while an episode runs."""
        if self.seed is None or not poses.poses:
            return
        pose = poses.poses[0]
        z = float(pose.position.z)
        quaternion = np.array([pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w])
        if not (np.isfinite(z) and np.all(np.isfinite(quaternion)) and quaternion @ quaternion > 1e-12):
            return  # a pose the sim could not give (a non-finite or zero quaternion): nothing to follow this tick
        if self.start_z is None:
            self.start_z, self.start_quaternion = z, quaternion
        position = np.array([pose.position.x, pose.position.y, z], dtype=np.float64)
        self.object_m = position if np.all(np.isfinite(position)) else None
        self.last_rise_m = z - self.start_z
        self.last_tilt_deg = tilt_deg(self.start_quaternion, quaternion)
        self.max_rise_m = max(self.max_rise_m if self.max_rise_m is not None else 0.0, self.last_rise_m)

    def on_diagnostics(self, array: Any) -> None:
        """Count the safety gate's reports of a changed or held command."""
        for status in array.status:
            takeover = status.name == INTERVENTION_NODE and status.message.startswith(TAKEOVER_PREFIX)
            if takeover and self.seed is not None and "takeover_reason" not in self.takeover:
                self.takeover["takeover_reason"] = status.message[len(TAKEOVER_PREFIX) : -1]
            if status.name == SAFETY_NODE and diagnostics.level_of(status) in (diagnostics.WARN, diagnostics.ERROR):
                self.safety_events += 1
                self.safety_reasons.update({reason.split(":")[0] for reason in status.message.split("; ")})

    def on_image(self, image: Any) -> None:
        """Append a camera frame to the open video."""
        if self.writer is not None:
            self.writer.append_data(image_to_numpy(image))

    def _close_video(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def destroy_node(self) -> None:
        """Close an open video file."""
        self._close_video()
        super().destroy_node()


def evaluate(
    task: str,
    base: Path,
    episodes: int = 100,
    seed: int = 1000,
    horizon_steps: int | None = None,
    chunk_mode: str = "queue",
    segmenter: str = "rgbd_tabletop",
    video_dir: Path | None = None,
    video_episodes: int = 0,
    progress: bool = True,
    allow_task_mismatch: bool = False,
    residual: Path | None = None,
    slot_source: str = "perception",
    episode_lines: bool = False,
    slot_noise: str = "none",
    jobs: int = 1,
    safety_params: Path | None = None,
) -> EvalResult:
    """Run ``episodes`` episodes of the base policy at ``base`` (plus the ``residual`` actor, if given) in
    ``sim.launch.yaml`` and collect the results.

    A checkpoint that records its training task must have been trained on ``task``, unless ``allow_task_mismatch``.
    ``slot_source`` ``sim`` replaces the camera and perception by the sim slot source (no rendering), exact unless
    ``slot_noise`` names a noise model (to see how a base does in the residual's training graph).
    ``episode_lines`` prints one line per finished episode to stderr (where a progress bar cannot be shown).
    ``safety_params`` is a params file of the safety gate applied after config/safety.yaml (None = none).
    ``jobs=2`` splits the seeds in two halves, each run by its own graph in a fresh process (one core each; a line
    per episode instead of a progress bar): every episode is the one ``jobs=1`` runs for its seed (each process
    takes this one's torch threads: the base's inference rounds differently on another count), in half the time
    on two idle cores.

    Raises:
        PolicyError: On bad arguments, a residual bound beyond the gate's, or a graph that stopped before every
            episode ended (Ctrl-C, a node that ended it): a partial success rate is never returned.
    """
    if episodes < 1:
        raise PolicyError(f"--episodes must be >= 1, got {episodes}")
    if slot_noise != "none" and slot_source != "sim":
        raise PolicyError(f"--slot-noise {slot_noise} needs --slot-source sim")
    if jobs not in (1, 2):
        raise PolicyError(f"evaluate jobs must be 1 or 2, got {jobs}")
    if jobs == 2 and episodes > 1:
        first_half = (episodes + 1) // 2
        call = dict(
            task=task,
            base=base,
            horizon_steps=horizon_steps,
            chunk_mode=chunk_mode,
            segmenter=segmenter,
            allow_task_mismatch=allow_task_mismatch,
            residual=residual,
            slot_source=slot_source,
            slot_noise=slot_noise,
            safety_params=safety_params,
            progress=False,
            episode_lines=progress or episode_lines,
        )
        halves = [
            dict(call, episodes=first_half, seed=seed, video_dir=video_dir, video_episodes=video_episodes),
            dict(call, episodes=episodes - first_half, seed=seed + first_half, video_dir=None, video_episodes=0),
        ]
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            threads = _torch_threads()
            futures = [pool.submit(_evaluate_kwargs, half, threads) for half in halves]
            first, second = (future.result() for future in futures)
        return merge_results(first, second, time.perf_counter() - start)
    arguments = {
        "task": task,
        "base": str(base),
        "episodes": str(episodes),
        "seed": str(seed),
        "horizon_steps": str(horizon_steps or RECOMMENDED_HORIZON_STEPS.get(task, 200)),
        "chunk_mode": chunk_mode,
        "segmenter": segmenter,
        "allow_task_mismatch": str(allow_task_mismatch).lower(),
        "residual": str(residual) if residual is not None else "",
        "slot_source": slot_source,
        "slot_noise": slot_noise,
    }
    if safety_params is not None:
        arguments["safety_params"] = str(safety_params)
    start = time.perf_counter()
    label = f"eval {task} {'base + residual' if residual is not None else 'base'}"
    monitor = run_monitored(
        "sim.launch.yaml", arguments, episodes, video_dir, video_episodes, progress, label, episode_lines
    )
    wall_time_s = time.perf_counter() - start
    if len(monitor.results) < episodes:  # Ctrl-C, or a node ended the graph: a partial rate is not the result
        raise PolicyError(f"{label}: stopped after {len(monitor.results)} of {episodes} episodes; nothing reported")
    return EvalResult(
        task,
        str(base),
        monitor.results,
        wall_time_s,
        monitor.videos,
        dict(monitor.safety_reasons),
        str(residual) if residual is not None else "",
        slot_source,
        slot_noise,
        str(safety_params) if safety_params is not None else "",
    )


def side_by_side(
    task: str,
    base: Path,
    residual: Path,
    episodes: int = 10,
    seed: int = 1000,
    video_dir: Path | None = None,
    video_episodes: int = 1,
    progress: bool = True,
    jobs: int = 1,
    **options: Any,
) -> tuple[EvalResult, EvalResult]:
    """The base alone, then base + ``residual``, on the same ``episodes`` seeds and the same graph.

    Videos of the first ``video_episodes`` of each go to ``video_dir/base`` and ``video_dir/base_residual``.
    ``jobs=2`` runs the two evaluations at once in two fresh processes (one core each; a line per episode
    instead of progress bars);
    each runs its own graph, so the results are those of ``jobs=1``. ``options`` are :func:`evaluate`'s other
    keyword arguments (horizon, slot source, ...).
    """
    if jobs not in (1, 2):
        raise PolicyError(f"side_by_side jobs must be 1 or 2, got {jobs}")
    calls = [
        dict(
            task=task,
            base=base,
            episodes=episodes,
            seed=seed,
            video_dir=video_dir / name if video_dir is not None else None,
            video_episodes=video_episodes,
            progress=progress and jobs == 1,
            episode_lines=progress and jobs == 2,
            residual=actor,
            **options,
        )
        for name, actor in (("base", None), ("base_residual", residual))
    ]
    if jobs == 1:
        first, second = (evaluate(**call) for call in calls)
        return first, second
    # spawn: a forked child would inherit this process's renderer and torch state
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_evaluate_kwargs, call, _torch_threads()) for call in calls]
        return futures[0].result(), futures[1].result()


def merge_results(first: EvalResult, second: EvalResult, wall_time_s: float) -> EvalResult:
    """One evaluation from two runs of the same policy on consecutive seeds (``second``'s episodes renumbered after
    ``first``'s), with the wall time of both together."""
    offset = len(first.episodes)
    episodes = first.episodes + [replace(result, episode=result.episode + offset) for result in second.episodes]
    reasons = Counter(first.safety_reasons) + Counter(second.safety_reasons)
    videos = first.videos + second.videos
    return replace(first, episodes=episodes, wall_time_s=wall_time_s, videos=videos, safety_reasons=dict(reasons))


def _torch_threads() -> int:
    """This process's torch threads, for a worker process to use the same."""
    import torch

    return torch.get_num_threads()


def _evaluate_kwargs(call: dict[str, Any], torch_threads: int) -> EvalResult:
    """:func:`evaluate` with keyword arguments from a dict (a picklable target for a worker process).

    The worker first takes the caller's torch threads: the base policy's inference rounds differently on another
    thread count, and a worker's episodes must be the ones the caller would run itself, bit for bit.
    """
    import torch

    torch.set_num_threads(torch_threads)
    return evaluate(**call)


def comparison_table(results: tuple[EvalResult, ...]) -> str:
    """A Markdown table of evaluation results, one row per policy (success with its 95 % Wilson interval)."""
    lines = [
        "| policy | success | 95% Wilson CI | mean length (steps) | safety events | intervention ticks | video |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        low, high = result.interval_95
        name = "base + residual" if result.residual else "base alone"
        lines.append(
            f"| {name} | {result.successes}/{len(result.episodes)} = {result.success_rate:.0%}"
            f" | {low:.0%}-{high:.0%} | {result.mean_steps:.1f} | {result.safety_events}"
            f" | {result.intervention_ticks} | {result.videos[0] if result.videos else '-'} |"
        )
    return "\n".join(lines)


def check_residual_within_gate(nodes: Sequence[Node]) -> None:
    """PolicyError when the graph's residual checkpoint may go beyond its safety gate's residual bounds: the gate
    would clip those ticks, so the run would not measure the residual it names (a residual trained with a gripper
    bound of 2.0 needs the gate's raised the same way, e.g. ``--safety-params``)."""
    residuals = [node for node in nodes if isinstance(node, ResidualNode) and node.actor is not None]
    gates = [node.filter.config for node in nodes if isinstance(node, SafetyNode)]
    for residual in residuals:
        for gate in gates:
            excess = gate.residual_bound_excess(residual.actor.residual_scale, residual.actor.gripper_residual_scale)
            if excess is not None:
                raise PolicyError(
                    f"residual {residual.source}: its {excess}, which would clip it on every such tick: give a"
                    f" --safety-params file that raises the gate's (benchmarks/params/safety_gripper_residual.yaml)"
                )


def run_monitored(
    launch_file: str,
    arguments: dict[str, str],
    episodes: int,
    video_dir: Path | None = None,
    video_episodes: int = 0,
    progress: bool = True,
    description: str = "episodes",
    episode_lines: bool = False,
    probes: Callable[..., Sequence[Node]] | None = None,
) -> EpisodeMonitor:
    """Run one of robot_rl's simulated launch files in-process with an :class:`EpisodeMonitor` attached.

    The launch file must end by itself (its sim's or recorder's episode count); ``episodes`` only sizes
    the progress bar. ``episode_lines`` prints one line per finished episode to stderr. ``probes`` builds more
    nodes to attach (called with the graph's ``context`` and ``cli_args`` keywords): they see every message of
    the run, the last ones included, and are destroyed with the monitor. Returns the monitor with its per-episode
    results and videos.
    """
    select_backend("inproc")
    from tqdm import tqdm

    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    plan = read_launch_file(resolve_launch_path("robot_rl", launch_file), arguments)
    context, nodes = build_inproc(plan)
    try:
        check_residual_within_gate(nodes)
    except PolicyError:
        for node in nodes:
            node.destroy_node()
        raise
    args = ["--ros-args", "-p", "use_sim_time:=true"]
    monitor = EpisodeMonitor(video_dir, video_episodes, context=context, cli_args=args)
    with tqdm(total=episodes, desc=description, unit="ep", disable=not progress) as bar:

        def on_result(result: EpisodeResult) -> None:
            bar.update(1)
            successes = sum(r.success for r in monitor.results)
            bar.set_postfix(successes=successes)
            if episode_lines:
                outcome = "success" if result.success else "failure"
                print(
                    f"{description}: episode {len(monitor.results)}/{episodes} (seed {result.seed}) {outcome} in"
                    f" {result.steps} steps; {successes} successes so far",
                    file=sys.stderr,
                    flush=True,
                )

        monitor.on_result = on_result
        attached = [monitor, *(probes(context=context, cli_args=args) if probes is not None else ())]
        try:
            spin_inproc(context, nodes)
            # the event that ended the graph (the last outcome) may still be queued for the monitor
            for node in attached:
                context.deliver_pending(node.get_fully_qualified_name())
        finally:
            for node in attached:
                node.destroy_node()
    return monitor
