"""What a render setting of the camera costs and what it changes in perception's slots.

    MUJOCO_GL=egl .venv/bin/python benchmarks/render_samples.py [--setting samples|reflections] [--task Stack]
        [--episodes 5] [--renders 30]

The setting is compared at MuJoCo's default and at robot_rl's (``SimConfig``):

- ``samples``: multisample anti-aliasing at 4 samples per pixel (MuJoCo's default) against 0
  (``render_samples``);
- ``reflections``: mirror reflections of reflective planes on (MuJoCo's default) against off
  (``render_reflections``).

Render time: one 640x480 RGB + depth render of the sim camera (what the sim bridge does every tick) at each
value, alternating ``--repeats`` times, pinned to one core with one BLAS thread.

Slots: two simulations of the same seed run in lockstep with the scripted expert acting on the first one's
observations (physics does not depend on rendering, so both see the same states), one rendering at each
value, each feeding its own perception pipeline (the sim graph's region of interest, the robot self-filter,
the tracker). Per tick: whether they report the same number of slots, and per slot field the absolute
difference on the slots present in both.
"""

from __future__ import annotations

from one_core import pin_to_one_core
from perception_throughput import ROI, perception_frame

pin_to_one_core()

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date  # noqa: E402

import numpy as np  # noqa: E402

from robot_rl.perception.pipeline import PerceptionConfig, PerceptionPipeline  # noqa: E402
from robot_rl.perception.segmenters import TabletopConfig  # noqa: E402
from robot_rl.perception.slots import SLOT_FIELDS  # noqa: E402
from robot_rl.robot_model import RobotModel, default_urdf_path  # noqa: E402
from robot_rl.sim import RobosuiteAdapter, SimConfig  # noqa: E402
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS, ExpertInput, make_expert  # noqa: E402

# setting -> (SimConfig field, MuJoCo's default value, robot_rl's default value, what the report calls it)
SETTINGS: dict[str, tuple[str, int | bool, int | bool, str]] = {
    "samples": ("render_samples", 4, 0, "anti-aliasing samples per pixel"),
    "reflections": ("render_reflections", True, False, "mirror reflections"),
}


def render_ms(task: str, setting: dict[str, int | bool], renders: int, seed: int) -> float:
    """Median time of one RGB + depth render, ms (the arm and objects as after reset)."""
    with RobosuiteAdapter(SimConfig(task=task, depth=True, seed=seed, **setting)) as adapter:
        adapter.reset(seed=seed)
        adapter._render()  # the first render allocates buffers
        durations = []
        for _ in range(renders):
            start = time.perf_counter()
            adapter._render()
            durations.append(time.perf_counter() - start)
    return 1000 * float(np.median(durations))


@dataclass
class Comparison:
    """What the two simulations of :func:`compare` saw, tick by tick."""

    slot_differences: np.ndarray  # (slots present in both, SLOT_FIELDS) |difference|, slot units
    same_count: np.ndarray  # (ticks,) both reported the same number of slots
    changed_pixels: np.ndarray  # (ticks,) fraction of the RGB image's pixels that differ
    max_color_change: int  # largest |difference| of one RGB channel value on any tick, grey levels (0-255)
    same_depth: np.ndarray  # (ticks,) the depth images are identical
    successes: int  # expert episodes that succeeded


def compare(
    task: str, settings: tuple[dict[str, int | bool], dict[str, int | bool]], episodes: int, seed: int
) -> Comparison:
    """Run two simulations of the same seeds in lockstep, one per setting, and compare images and slots."""
    model = RobotModel(default_urdf_path())
    horizon = RECOMMENDED_HORIZON_STEPS.get(task, 200)
    differences: list[np.ndarray] = []
    same_count: list[bool] = []
    changed_pixels: list[float] = []
    same_depth: list[bool] = []
    max_color_change = 0
    successes = 0
    for episode in range(episodes):
        episode_seed = seed + episode
        configs = [
            SimConfig(task=task, depth=True, seed=episode_seed, horizon_steps=horizon, **setting)
            for setting in settings
        ]
        with RobosuiteAdapter(configs[0]) as first, RobosuiteAdapter(configs[1]) as second:
            k, pose = first.camera_intrinsics(), first.camera_pose_in_base()
            pipelines = [PerceptionPipeline(PerceptionConfig(tabletop=TabletopConfig(**ROI)), model) for _ in settings]
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
                color_change = np.abs(observations[0].color.astype(np.int16) - observations[1].color)
                changed_pixels.append(float(np.any(color_change > 0, axis=2).mean()))
                max_color_change = max(max_color_change, int(color_change.max()))
                same_depth.append(np.array_equal(observations[0].depth_m, observations[1].depth_m, equal_nan=True))
                action = expert.act(ExpertInput.from_observation(observations[0]))
                (observations[0], _, flags), (observations[1], _, _) = first.step(action), second.step(action)
                if flags.success or flags.timeout:
                    successes += flags.success
                    break
    return Comparison(
        np.concatenate(differences),
        np.array(same_count),
        np.array(changed_pixels),
        max_color_change,
        np.array(same_depth),
        successes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="samples", help="render setting to compare")
    parser.add_argument("--task", default="Stack", help="robosuite task (the scripted expert acts)")
    parser.add_argument("--episodes", type=int, default=5, help="expert episodes of the slot comparison")
    parser.add_argument("--renders", type=int, default=30, help="timed renders per setting and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timing runs per setting (median)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first episode")
    args = parser.parse_args()
    if args.episodes < 1 or args.renders < 1 or args.repeats < 1:
        parser.error("--episodes, --renders and --repeats must be >= 1")
    field, mujoco_default, ours, label = SETTINGS[args.setting]
    values = (mujoco_default, ours)
    settings = ({field: mujoco_default}, {field: ours})
    timings: list[list[float]] = [[], []]
    for _ in range(args.repeats):  # alternate, so drift in machine speed hits both alike
        for timing, setting in zip(timings, settings, strict=True):
            timing.append(render_ms(args.task, setting, args.renders, args.seed))
    result = compare(args.task, settings, args.episodes, args.seed)
    differences, same_count = result.slot_differences, result.same_count

    print(f"Date {date.today().isoformat()}; {platform.machine()}, Python {platform.python_version()}; one core,")
    print(
        f"one BLAS thread; task {args.task}; render time: median of {args.repeats} alternating runs of"
        f" {args.renders} renders; slots: {args.episodes} expert episodes from seed {args.seed}"
        f" ({result.successes} successful), {len(same_count)} ticks, {len(differences)} slots present in both.\n"
    )
    print(f"| {label} | RGB + depth render, 640x480 |")
    print("|---|---|")
    for value, timing in zip(values, timings, strict=True):
        print(f"| {value} | {np.median(timing):.1f} ms |")
    ratio = np.median(timings[0]) / np.median(timings[1])
    print(f"\nRender time with {label} {values[0]} / {values[1]}: {ratio:.2f}.\n")
    print(
        f"Images: RGB pixels that differ, median {np.median(result.changed_pixels):.1%} of a frame (max"
        f" {result.changed_pixels.max():.1%}), by up to {result.max_color_change} grey levels; depth images"
        f" identical on {result.same_depth.mean():.1%} of the ticks.\n"
    )
    print(f"Ticks on which both report the same number of slots: {same_count.mean():.1%}.\n")
    print(f"| slot field | median abs. difference, {values[0]} vs {values[1]} | p95 | max |")
    print("|---|---|---|---|")
    for index, field in enumerate(SLOT_FIELDS):
        column = differences[:, index]
        scale, unit = (100.0, " cm") if field in ("x", "y", "z", "extent_x", "extent_y", "extent_z") else (1.0, "")
        values = [scale * np.median(column), scale * np.percentile(column, 95), scale * column.max()]
        print(f"| {field} | " + " | ".join(f"{value:.3f}{unit}" for value in values) + " |")


if __name__ == "__main__":
    main()
