"""Measure perception latency at 640x480 on one core, and the sim bridge's steps/s against raw robosuite.

    MUJOCO_GL=egl .venv/bin/python benchmarks/perception_throughput.py [--frames 100] [--steps 150]

Everything runs pinned to one CPU core with one BLAS/OpenMP thread.

Perception: frames of ``--task`` (640x480, RGB + depth) are rendered first while the scripted expert
reaches, grasps and carries (so the arm is at the objects, as in a real grasp), with the arm's joint
positions; then each frame goes through the perception node on the in-process backend (/joint_states and
Image messages in, decode, robot self-filter from the URDF, segment, encode, track, PointCloud2 out) and,
separately, through the ROS-free pipeline only (with the same self-filter). The two alternate ``--repeats``
times (a fresh node and pipeline each time, so warm-up and drift in machine speed hit both alike); reported:
frames/s, median and p99 latency per frame over all repeats, and the pipeline's time per stage
(``PerceptionResult.stage_times_ms``: median and mean per frame, and each stage's share of the summed means).

Sim bridge: the same Lift task stepped ``--steps`` times (a) raw, calling robosuite's
``env.step`` (plus the same camera renders when rendering), (b) through the bridge
node in a lockstep graph with a stand-in policy node that answers every observation
with a command (messages built, published and delivered); (a) and (b) alternate
``--repeats`` times and the medians are compared. Overhead = (b) time per step / (a)
time per step - 1.
"""

from __future__ import annotations

from one_core import pin_to_one_core

pin_to_one_core()

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

import numpy as np  # noqa: E402

from robot_rl.action_space import ACTION_DIM, actions_to_trajectory  # noqa: E402
from robot_rl.calibration import HandEyeCalibration, save_hand_eye  # noqa: E402
from robot_rl.perception.geometry import quaternion_xyzw  # noqa: E402
from robot_rl.perception.node import PerceptionNode  # noqa: E402
from robot_rl.perception.pipeline import PerceptionConfig, PerceptionPipeline  # noqa: E402
from robot_rl.perception.segmenters import Frame, TabletopConfig  # noqa: E402
from robot_rl.robot_model import RobotModel, default_urdf_path  # noqa: E402
from robot_rl.runtime import Node, msg  # noqa: E402
from robot_rl.runtime.inproc import InprocContext  # noqa: E402
from robot_rl.runtime.msg_numpy import numpy_to_image, numpy_to_joint_state  # noqa: E402
from robot_rl.sim import RobosuiteAdapter, SimConfig  # noqa: E402
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS, ExpertInput, make_expert  # noqa: E402
from robot_rl.sim.node import SimNode, urdf_joint_positions  # noqa: E402
from robot_rl.sim.robosuite_adapter import Observation  # noqa: E402

ROI = {"workspace_min_m": (0.15, -0.45, -0.3), "workspace_max_m": (0.95, 0.45, 0.3)}  # as config/sim_perception.yaml


def render_frames(task: str, count: int, seed: int) -> tuple[list[Observation], np.ndarray, np.ndarray]:
    """Render ``count`` observations of ``task`` while the scripted expert acts (episodes seed, seed + 1, ...)."""
    observations: list[Observation] = []
    horizon = RECOMMENDED_HORIZON_STEPS.get(task, 200)
    with RobosuiteAdapter(SimConfig(task=task, depth=True, seed=seed, horizon_steps=horizon)) as adapter:
        k, pose = adapter.camera_intrinsics(), adapter.camera_pose_in_base()
        episode = 0
        while len(observations) < count:
            observation, expert = adapter.reset(seed=seed + episode), make_expert(task)
            for _ in range(horizon):
                observations.append(observation)
                observation, _, flags = adapter.step(expert.act(ExpertInput.from_observation(observation)))
                if flags.success or flags.timeout or len(observations) == count:
                    break
            episode += 1
    return observations, k, pose


def stats_ms(durations_s: list[float]) -> dict[str, float]:
    values = np.array(durations_s) * 1000
    return {
        "fps": 1000 / values.mean(),
        "median_ms": float(np.median(values)),
        "p99_ms": float(np.percentile(values, 99)),
    }


def perception_frame(observation: Observation, k: np.ndarray, pose: np.ndarray) -> Frame:
    """The perception frame of a rendered observation, with the arm's joints for the self-filter."""
    depth = np.where(np.isfinite(observation.depth_m), observation.depth_m, 0.0).astype(np.float32)
    return Frame(observation.color, depth, k, pose, joint_positions=urdf_joint_positions(observation))


def perception_pipeline(
    observations: list[Observation], k: np.ndarray, pose: np.ndarray
) -> tuple[list[float], list[dict[str, float]]]:
    """Seconds per frame of a fresh ROS-free pipeline over ``observations``, and each frame's stage times (ms)."""
    pipeline = PerceptionPipeline(PerceptionConfig(tabletop=TabletopConfig(**ROI)), RobotModel(default_urdf_path()))
    durations, stages = [], []
    for observation in observations:
        frame = perception_frame(observation, k, pose)
        start = time.perf_counter()
        result = pipeline.process(frame)
        durations.append(time.perf_counter() - start)
        stages.append(result.stage_times_ms)
    return durations, stages


class CameraStub(Node):
    """Publishes pre-rendered frames as the sim would, and times the slots that come back."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("camera_stub", **kwargs)  # type: ignore[arg-type]
        self.color = self.create_publisher(msg.Image, "/camera/color/image_raw", 5)
        self.depth = self.create_publisher(msg.Image, "/camera/aligned_depth_to_color/image_raw", 5)
        self.info = self.create_publisher(msg.CameraInfo, "/camera/color/camera_info", 5)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 5)
        self.received = 0
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.on_slots, 5)

    def on_slots(self, _: object) -> None:
        self.received += 1


def perception_node(observations: list[Observation], k: np.ndarray, pose: np.ndarray) -> list[float]:
    """Seconds per frame of a fresh perception node over ``observations`` (messages in to slots out)."""
    with tempfile.TemporaryDirectory() as directory:
        hand_eye = os.path.join(directory, "hand_eye.yaml")
        save_hand_eye(
            HandEyeCalibration("base_link", "camera_color_optical_frame", pose[:3, 3], quaternion_xyzw(pose[:3, :3])),
            hand_eye,
        )
        context = InprocContext()
        camera = CameraStub(context=context)
        roi = [
            "-p",
            f"workspace_min_m:={list(ROI['workspace_min_m'])}",
            "-p",
            f"workspace_max_m:={list(ROI['workspace_max_m'])}",
        ]
        PerceptionNode(context=context, cli_args=["--ros-args", "-p", f"hand_eye_file:={hand_eye}", *roi])
        durations = []
        for index, observation in enumerate(observations):
            header = msg.Header(stamp=msg.Time(sec=index + 1), frame_id="camera_color_optical_frame")
            depth = np.where(np.isfinite(observation.depth_m), observation.depth_m, np.nan).astype(np.float32)
            color_msg = numpy_to_image(observation.color, "rgb8", header)
            depth_msg = numpy_to_image(depth, "32FC1", header)
            joints = urdf_joint_positions(observation)
            joint_msg = numpy_to_joint_state(list(joints), np.array(list(joints.values())), header=header)
            start = time.perf_counter()
            camera.joints.publish(joint_msg)
            camera.info.publish(msg.CameraInfo(header=header, k=k.reshape(-1), width=640, height=480))
            camera.color.publish(color_msg)
            camera.depth.publish(depth_msg)
            context.spin_until_quiet()
            durations.append(time.perf_counter() - start)
        if camera.received != len(observations):
            raise RuntimeError(f"perception published {camera.received} slot messages for {len(observations)} frames")
    return durations


def raw_robosuite(steps: int, render: bool, seed: int) -> float:
    """Steps/s of robosuite's env.step (plus the camera renders the bridge does, if rendering)."""
    config = SimConfig(
        task="Lift", render_camera=render, depth=render, segmentation=render, seed=seed, horizon_steps=steps + 5
    )
    with RobosuiteAdapter(config) as adapter:
        adapter.reset(seed=seed)
        env = adapter._env  # the raw robosuite environment behind the adapter
        action = np.zeros(ACTION_DIM)
        start = time.perf_counter()
        for _ in range(steps):
            env.step(action)
            if render:
                adapter._render()
        return steps / (time.perf_counter() - start)


class PolicyStub(Node):
    """Answers each joint state with a hold command (what a policy + safety gate would send)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("policy_stub", **kwargs)  # type: ignore[arg-type]
        publisher = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        command = actions_to_trajectory(np.zeros(ACTION_DIM), 0.05)
        self.create_subscription(msg.JointState, "/joint_states", lambda _: publisher.publish(command), 10)


def bridge(steps: int, render: bool, seed: int) -> float:
    """Steps/s of the sim bridge node in a lockstep graph."""
    context = InprocContext()
    args = ["--ros-args", "-p", f"render_camera:={str(render).lower()}", "-p", f"seed:={seed}"]
    args += ["-p", f"horizon_steps:={steps + 5}", "-p", "max_episodes:=1"]
    sim = SimNode(context=context, cli_args=args)
    PolicyStub(context=context, cli_args=["--ros-args", "-p", "use_sim_time:=true"])
    for _ in range(2):  # the reset tick and one step, outside the timing
        context.spin_once()
        context.spin_until_quiet()
    start_consumed = sim.commands_consumed
    start = time.perf_counter()
    while sim.commands_consumed - start_consumed < steps:
        next_due = min(t.next_due_ns for t in context.graph.timers)
        context.graph.advance_virtual_time(next_due)
        context.spin_until_quiet()
    elapsed = time.perf_counter() - start
    sim.destroy_node()
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Stack", help="the perception frames' task (the expert acts)")
    parser.add_argument("--frames", type=int, default=100, help="perception frames")
    parser.add_argument("--steps", type=int, default=150, help="sim steps per measurement")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each measurement")
    args = parser.parse_args()
    observations, k, pose = render_frames(args.task, args.frames, args.seed)
    pipeline_s: list[float] = []
    node_s: list[float] = []
    stage_ms: list[dict[str, float]] = []
    for _ in range(args.repeats):  # alternate, as the sim rows below
        durations, stages = perception_pipeline(observations, k, pose)
        pipeline_s += durations
        stage_ms += stages
        node_s += perception_node(observations, k, pose)
    pipeline, node = stats_ms(pipeline_s), stats_ms(node_s)
    rows = []
    for render in (False, True):
        raws, bridged = [], []
        for _ in range(args.repeats):  # alternate, so drift in machine speed hits both alike
            raws.append(raw_robosuite(args.steps, render, args.seed))
            bridged.append(bridge(args.steps, render, args.seed))
        raw, bridge_rate = float(np.median(raws)), float(np.median(bridged))
        rows.append((render, raw, bridge_rate, raw / bridge_rate - 1))
    print(f"Date {date.today().isoformat()}; {platform.machine()}, Python {platform.python_version()}; one core,")
    print(
        f"one BLAS thread; seed {args.seed}; {args.frames} {args.task} frames at 640x480 (the scripted expert"
        f" acting, episodes from seed {args.seed}), node and pipeline alternating {args.repeats} times; sim rows:"
        " median of"
        f" {args.repeats} alternating runs of {args.steps} steps.\n"
    )
    print("| perception (640x480, rgbd_tabletop, robot self-filter) | frames/s | median | p99 |")
    print("|---|---|---|---|")
    print(
        f"| node: Image msgs in -> slots out | {node['fps']:.1f} | {node['median_ms']:.1f} ms"
        f" | {node['p99_ms']:.1f} ms |"
    )
    print(
        f"| pipeline only (self-filter, segment, encode, track) | {pipeline['fps']:.1f}"
        f" | {pipeline['median_ms']:.1f} ms | {pipeline['p99_ms']:.1f} ms |"
    )
    means = {stage: float(np.mean([frame.get(stage, 0.0) for frame in stage_ms])) for stage in stage_ms[-1]}
    print("\n| pipeline stage | median ms | mean ms | share |")
    print("|---|---|---|---|")
    for stage, mean in means.items():
        median = float(np.median([frame.get(stage, 0.0) for frame in stage_ms]))
        print(f"| {stage} | {median:.2f} | {mean:.2f} | {mean / sum(means.values()):.0%} |")
    print("\n| sim (Lift, Panda OSC_POSE, 20 Hz control) | raw robosuite steps/s | bridge steps/s | bridge overhead |")
    print("|---|---|---|---|")
    for render, raw, bridged, overhead in rows:
        label = "RGB + depth + segmentation 640x480" if render else "state only (no rendering)"
        print(f"| {label} | {raw:.1f} | {bridged:.1f} | {100 * overhead:+.1f} % |")


if __name__ == "__main__":
    main()
