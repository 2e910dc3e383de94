"""What the camera's anti-aliasing costs and what it changes in perception's slots.

    MUJOCO_GL=egl .venv/bin/python benchmarks/render_samples.py [--task Stack] [--episodes 5] [--renders 30]

Render time: one 640x480 RGB + depth render of the sim camera (what the sim bridge does every tick), with
MuJoCo's multisample anti-aliasing at 4 samples per pixel (MuJoCo's default) and off (0, robot_rl's default,
``SimConfig.render_samples``), alternating ``--repeats`` times, pinned to one core with one BLAS thread.

Slots: two simulations of the same seed run in lockstep with the scripted expert acting on the first one's
observations (physics does not depend on rendering, so both see the same states), one rendering with 4
samples and one with 0, each feeding its own perception pipeline (the sim graph's region of interest, the
robot self-filter, the tracker). Per tick: whether they report the same number of slots, and per slot field
the absolute difference on the slots present in both.
"""

from __future__ import annotations

from one_core import pin_to_one_core
from perception_throughput import ROI, perception_frame

pin_to_one_core()

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

import numpy as np  # noqa: E402

from robot_rl.perception.pipeline import PerceptionConfig, PerceptionPipeline  # noqa: E402
from robot_rl.perception.segmenters import TabletopConfig  # noqa: E402
from robot_rl.perception.slots import SLOT_FIELDS  # noqa: E402
from robot_rl.robot_model import RobotModel, default_urdf_path  # noqa: E402
from robot_rl.sim import RobosuiteAdapter, SimConfig  # noqa: E402
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS, ExpertInput, make_expert  # noqa: E402

SAMPLES = (4, 0)  # MuJoCo's default, robot_rl's default


def render_ms(task: str, samples: int, renders: int, seed: int) -> float:
    """Median time of one RGB + depth render, ms (the arm and objects as after reset)."""
    with RobosuiteAdapter(SimConfig(task=task, depth=True, render_samples=samples, seed=seed)) as adapter:
        adapter.reset(seed=seed)
        adapter._render()  # the first render allocates buffers
        durations = []
        for _ in range(renders):
            start = time.perf_counter()
            adapter._render()
            durations.append(time.perf_counter() - start)
    return 1000 * float(np.median(durations))


def slot_differences(task: str, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-field |difference| of the slots present in both (rows), per-tick slot-count agreement, successes."""
    model = RobotModel(default_urdf_path())
    horizon = RECOMMENDED_HORIZON_STEPS.get(task, 200)
    differences: list[np.ndarray] = []
    same_count: list[bool] = []
    successes = 0
    for episode in range(episodes):
        episode_seed = seed + episode
        configs = [
            SimConfig(task=task, depth=True, render_samples=s, seed=episode_seed, horizon_steps=horizon)
            for s in SAMPLES
        ]
        with RobosuiteAdapter(configs[0]) as first, RobosuiteAdapter(configs[1]) as second:
            k, pose = first.camera_intrinsics(), first.camera_pose_in_base()
            pipelines = [PerceptionPipeline(PerceptionConfig(tabletop=TabletopConfig(**ROI)), model) for _ in SAMPLES]
            observations = [first.reset(seed=episode_seed), second.reset(seed=episode_seed)]
            expert = make_expert(task)
            for _ in range(horizon):
                slots = [
                    pipeline.process(perception_frame(o, k, pose)).slots
                    for pipeline, o in zip(pipelines, observations, strict=True)
                ]
                present = [s[:, 0] > 0.5 for s in slots]
                same_count.append(bool(present[0].sum() == present[1].sum()))
                both = present[0] & present[1]
                differences.append(np.abs(slots[0][both] - slots[1][both])[:, : len(SLOT_FIELDS)])
                action = expert.act(ExpertInput.from_observation(observations[0]))
                (observations[0], _, flags), (observations[1], _, _) = first.step(action), second.step(action)
                if flags.success or flags.timeout:
                    successes += flags.success
                    break
    return np.concatenate(differences), np.array(same_count), successes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Stack", help="robosuite task (the scripted expert acts)")
    parser.add_argument("--episodes", type=int, default=5, help="expert episodes of the slot comparison")
    parser.add_argument("--renders", type=int, default=30, help="timed renders per setting and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timing runs per setting (median)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first episode")
    args = parser.parse_args()
    if args.episodes < 1 or args.renders < 1 or args.repeats < 1:
        parser.error("--episodes, --renders and --repeats must be >= 1")
    timings: dict[int, list[float]] = {samples: [] for samples in SAMPLES}
    for _ in range(args.repeats):  # alternate, so drift in machine speed hits both alike
        for samples in SAMPLES:
            timings[samples].append(render_ms(args.task, samples, args.renders, args.seed))
    differences, same_count, successes = slot_differences(args.task, args.episodes, args.seed)

    print(f"Date {date.today().isoformat()}; {platform.machine()}, Python {platform.python_version()}; one core,")
    print(
        f"one BLAS thread; task {args.task}; render time: median of {args.repeats} alternating runs of"
        f" {args.renders} renders; slots: {args.episodes} expert episodes from seed {args.seed}"
        f" ({successes} successful), {len(same_count)} ticks, {len(differences)} slots present in both.\n"
    )
    print("| anti-aliasing samples per pixel | RGB + depth render, 640x480 |")
    print("|---|---|")
    for samples in SAMPLES:
        print(f"| {samples} | {np.median(timings[samples]):.1f} ms |")
    ratio = np.median(timings[SAMPLES[0]]) / np.median(timings[SAMPLES[1]])
    print(f"\nRender time with {SAMPLES[0]} samples / with {SAMPLES[1]}: {ratio:.2f}.\n")
    print(f"Ticks on which both report the same number of slots: {same_count.mean():.1%}.\n")
    print(f"| slot field | median abs. difference, {SAMPLES[0]} vs {SAMPLES[1]} samples | p95 | max |")
    print("|---|---|---|---|")
    for index, field in enumerate(SLOT_FIELDS):
        column = differences[:, index]
        scale, unit = (100.0, " cm") if field in ("x", "y", "z", "extent_x", "extent_y", "extent_z") else (1.0, "")
        values = [scale * np.median(column), scale * np.percentile(column, 95), scale * column.max()]
        print(f"| {field} | " + " | ".join(f"{value:.3f}{unit}" for value in values) + " |")


if __name__ == "__main__":
    main()
