"""Record what real perception reports, tick by tick, while a policy acts in the rendered sim graph.

    MUJOCO_GL=egl .venv/bin/python -m robot_rl.sim.perception_recording --task Stack --base models/stack_act \\
        --episodes 12 --seed 200000 --out runs/recordings/stack_base.npz \\
        [--residual models/stack_residual --safety-params benchmarks/params/safety_gripper_residual.yaml]

Runs ``launch/sim.launch.yaml`` (640x480 agentview RGB-D, the perception node, the frozen base, the
residual, lockstep on the in-process backend). A probe node in the same graph keeps, for every slots
message, the privileged truth of the same stamp and perception's answer:

- ``state`` (T, 9): the policy's state features (TCP position and quaternion, the two finger joints);
- ``positions`` (T, N, 3): the task objects' body origins, base_link, m (``TASK_OBJECTS`` order);
- ``yaws`` (T, N): their yaws about base_link's z, rad;
- ``perception`` (T, K, slot_size): perception's slots;
- ``exact`` (T, K, slot_size): the exact sim slot source (``noise_model none``) on the same truth;
- ``episode``, ``seed``, ``tick`` (T,): where the tick belongs; ``outcomes`` (E, 3): seed, success, steps.

``benchmarks/slot_source_gap.py`` reads these files to measure how far each sim slot source is from real
perception in what the base policy does with it (docs/benchmarks.md, "Sim slot sources against perception").
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import MessageError, SimError
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.policies.features import ObservationAssembler, stamp_s
from robot_rl.runtime import Node, msg
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.sim.slot_source import SimSlotSource, load_slot_table
from robot_rl.sim.slot_source_node import default_table_path, pose_array_positions, pose_array_yaws

RECORDING_FORMAT = 1  # format_version stored in each file


class RolloutProbe(Node):
    """Keep (state, object positions, perception's slots, the exact source's slots) per slots message."""

    def __init__(self, task: str, num_slots: int, **kwargs: Any) -> None:
        super().__init__("perception_recording_probe", **kwargs)
        self.exact = SimSlotSource(load_slot_table(default_table_path()), task, num_slots, noise="none")
        self.inputs = ObservationAssembler(num_slots)
        self.poses: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.rows: dict[str, list[Any]] = {name: [] for name in ("state", "positions", "yaws", "perception", "exact")}
        self.where: list[tuple[int, int, int]] = []  # (episode, seed, tick)
        self.episode, self.seed, self.tick = -1, 0, 0
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", self.inputs.on_ee_pose, 10)
        self.create_subscription(msg.JointState, "/joint_states", self.inputs.on_joint_states, 10)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self.on_object_poses, 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.on_slots, 10)

    def on_episode(self, event: Any) -> None:
        """A sim start event (no ``source``) opens an episode: reset the exact source as the sim node would."""
        payload = parse_episode_event(event)
        if payload is not None and payload["event"] == "start" and "source" not in payload:
            self.episode, self.tick = self.episode + 1, 0
            self.seed = int(payload.get("seed", 0))
            self.exact.reset(self.seed)
            self.poses.clear()

    def on_object_poses(self, poses: Any) -> None:
        self.poses[stamp_s(poses.header)] = (pose_array_positions(poses), pose_array_yaws(poses))

    def on_slots(self, cloud: Any) -> None:
        """One tick: perception's slots against the exact source on the truth of the same stamp."""
        stamp = stamp_s(cloud.header)
        if self.episode < 0 or stamp not in self.poses:
            return
        self.inputs.on_slots(cloud)
        try:
            frame = self.inputs.frame()
        except MessageError:
            return  # the first tick of a run can arrive before the ee pose
        positions, yaws = self.poses.pop(stamp)
        for old in [s for s in self.poses if s < stamp]:
            del self.poses[old]
        self.rows["state"].append(frame.state.copy())
        self.rows["positions"].append(positions)
        self.rows["yaws"].append(yaws)
        self.rows["perception"].append(pointcloud2_to_slots(cloud).astype(np.float32))
        self.rows["exact"].append(self.exact.update(positions, frame.state[:3].astype(np.float64), yaws_rad=yaws))
        self.where.append((self.episode, self.seed, self.tick))
        self.tick += 1

    def arrays(self) -> dict[str, np.ndarray]:
        """The recording as arrays (see the module docstring)."""
        if not self.where:
            raise SimError("the recording holds no tick: did the graph run?")
        where = np.asarray(self.where, dtype=np.int64)
        out = {name: np.stack(rows).astype(np.float32) for name, rows in self.rows.items()}
        out.update(episode=where[:, 0], seed=where[:, 1], tick=where[:, 2])
        return out


def record(
    task: str,
    base: Path,
    episodes: int,
    seed: int,
    residual: Path | None = None,
    num_slots: int = 6,
    horizon_steps: int | None = None,
    safety_params: Path | None = None,
) -> dict[str, np.ndarray]:
    """Run the rendered graph for ``episodes`` episodes (seeds ``seed ..``) and return the recording arrays.

    ``horizon_steps``: control steps before a time-out (default: the task's recommended horizon).
    ``safety_params``: a safety-gate params file applied after config/safety.yaml (None = none).
    """
    from robot_rl.policies.evaluate import run_monitored

    probes: list[RolloutProbe] = []

    def attach(**kwargs: Any) -> list[RolloutProbe]:
        probes.append(RolloutProbe(task, num_slots, **kwargs))
        return probes

    with tempfile.TemporaryDirectory(prefix="robot_rl_perception_recording_") as workdir:
        arguments = {
            "task": task,
            "base": str(base),
            "episodes": str(episodes),
            "seed": str(seed),
            "calibration_dir": str(Path(workdir) / "calibration"),
            "residual": "" if residual is None else str(residual),
            "horizon_steps": str(horizon_steps or RECOMMENDED_HORIZON_STEPS.get(task, 200)),
        }
        if safety_params is not None:
            arguments["safety_params"] = str(safety_params)
        monitor = run_monitored(
            "sim.launch.yaml", arguments, episodes, progress=False, description=f"record {task}",
            episode_lines=True, probes=attach,
        )  # fmt: skip
    arrays = probes[0].arrays()
    outcomes = [(result.seed, int(result.success), result.steps) for result in monitor.results]
    arrays["outcomes"] = np.asarray(outcomes, dtype=np.int64).reshape(-1, 3)
    return arrays


def save_recording(path: Path, arrays: dict[str, np.ndarray], task: str) -> None:
    """Write a recording as a plain .npz (no pickled objects: ``np.load(allow_pickle=False)`` reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, task=np.array(task), format_version=np.array(RECORDING_FORMAT), **arrays)


def read_recording(path: Path, task: str) -> dict[str, np.ndarray]:
    """A recording file of ``task``.

    Raises:
        SimError: One line for an unreadable file, another task or another format version.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            recording = {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise SimError(f"recording {path}: not a readable .npz ({error})") from None
    if str(recording.get("task")) != task:
        raise SimError(f"recording {path} is of task {recording.get('task')!s}, not {task}")
    if int(recording.get("format_version", -1)) != RECORDING_FORMAT:
        version = recording.get("format_version")
        raise SimError(f"recording {path}: format_version {version}, expected {RECORDING_FORMAT}")
    return recording


def main(argv: list[str] | None = None) -> int:
    """Record one file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=("Lift", "Stack", "PickPlaceCan"))
    parser.add_argument("--base", type=Path, required=True, help="frozen base policy directory")
    parser.add_argument("--residual", type=Path, default=None, help="residual actor directory (default: none)")
    parser.add_argument(
        "--safety-params", type=Path, default=None, help="safety-gate params file after config/safety.yaml"
    )
    parser.add_argument("--episodes", type=int, default=30, help="episodes to run (seeds --seed ..)")
    parser.add_argument("--seed", type=int, default=300000, help="seed of the first episode")
    parser.add_argument("--out", type=Path, required=True, help=".npz file to write")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    arrays = record(args.task, args.base, args.episodes, args.seed, args.residual, safety_params=args.safety_params)
    save_recording(args.out, arrays, args.task)
    wins = int(arrays["outcomes"][:, 1].sum())
    print(f"{args.out}: {len(arrays['tick'])} ticks, {len(arrays['outcomes'])} episodes, {wins} successes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
