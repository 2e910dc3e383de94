"""A simulated teleop correction session: a weak base policy, the simulated human, the recorder.

    MUJOCO_GL=egl .venv/bin/python benchmarks/correction_session.py [--task Lift] [--episodes 20]
        [--base DIR | --demos-dir DIR] [--train-steps 300] [--takeover-at-step 60] [--workdir DIR]

1. A deliberately weak base: ``--base`` as given, or an early ACT checkpoint (``--train-steps`` updates)
   trained on ``--demos-dir`` (or on ``--demos`` fresh scripted demonstrations, seeds 0..).
2. The base alone in ``sim.launch.yaml`` on the session's seeds: its success rate without a person
   (``--skip-base-alone``: not run, e.g. when another session on the same base and seeds measured it).
3. ``teleop_correction.launch.yaml`` in sim with ``device:=simulated``: the scripted expert takes over
   when a rule fires (``--takeover-at-step``, ``--drift-threshold-m``, and when the object left the
   gripper); the recorder writes every episode (success or not) to a LeRobotDataset.
4. The dataset is loaded with LeRobot's ``LeRobotDataset``; intervention figures come from its
   ``complementary_info.intervention`` frames and are checked against the ticks the arbiter flagged; the
   safety gate's reports are counted by reason.
5. How the takeovers went: each episode the person took over, by the first object's state then (lifted, tipped
   over, or standing) and the expert's phase then, with how many of them the person completed; and one line
   per takeover (the monitor's ``takeover_*`` fields).

Prints a markdown report with the command, machine, date, seeds and every figure.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import argparse
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from robot_rl.data.collect import collect_demos
from robot_rl.intervention.simulated_human import PHASE_MARKER
from robot_rl.policies.evaluate import LIFTED_M, EpisodeResult, evaluate, run_monitored
from robot_rl.policies.train_base import TrainConfig, train_base
from robot_rl.safety.filter import PANDA_JOINT_LIMITS_RAD
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.stats import wilson_interval
from robot_rl.torch_env import prepare_torchvision

INTERVENTION_KEY = "complementary_info.intervention"
TIPPED_DEG = 45.0  # the first object counts as tipped over when its z axis is this far from how it stood, degrees
NEAR_LIMIT_RAD = 0.1  # a joint this close to a limit of the safety gate's table is reported, rad


def _rate(successes: int, total: int) -> str:
    low, high = wilson_interval(successes, total)
    return f"{successes}/{total} = {successes / total:.1%} (95% Wilson CI {low:.1%}-{high:.1%})"


def dataset_interventions(root: Path) -> tuple[list[int], list[int], list[bool]]:
    """Per episode of the recorded dataset: frames, intervention frames, success (LeRobot's own loader)."""
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/robot_rl", root=root)
    table = dataset.hf_dataset.with_format("numpy")
    episodes = np.asarray(table["episode_index"])
    flags = np.asarray(table[INTERVENTION_KEY]).reshape(-1).astype(bool)
    success = np.asarray(table["next.success"]).reshape(-1).astype(bool)
    frames, intervened, succeeded = [], [], []
    for episode in range(dataset.meta.total_episodes):
        rows = episodes == episode
        frames.append(int(rows.sum()))
        intervened.append(int(flags[rows].sum()))
        succeeded.append(bool(success[rows][-1]))
    return frames, intervened, succeeded


def object_state(result: EpisodeResult) -> str:
    """The first object when the person took over: lifted (``LIFTED_M`` above its start), tipped over
    (``TIPPED_DEG``), standing, or unknown (no object poses)."""
    if result.takeover_rise_m is None or result.takeover_tilt_deg is None:
        return "unknown"
    if result.takeover_rise_m >= LIFTED_M:
        return "lifted"
    return "tipped over" if result.takeover_tilt_deg > TIPPED_DEG else "standing"


def expert_phase(reason: str) -> str:
    """The expert's phase in a simulated person's takeover reason ('?' for another reason, e.g. a button)."""
    return reason.split(PHASE_MARKER)[-1] if PHASE_MARKER in reason else "?"


def takeover_table(results: list[EpisodeResult]) -> list[str]:
    """Markdown rows: the episodes a person took over, by the object's state and the expert's phase then, with
    how many of them succeeded (the person completed the task)."""
    groups: dict[tuple[str, str], list[bool]] = {}
    for result in results:
        if result.takeover_step is not None:
            groups.setdefault((object_state(result), expert_phase(result.takeover_reason)), []).append(result.success)
    rows = ["| object at takeover | expert's phase | episodes | completed |", "|---|---|---|---|"]
    for (state, phase), outcomes in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        rows.append(f"| {state} | {phase} | {len(outcomes)} | {sum(outcomes)} |")
    return rows


def joints_near_limits(positions: dict[str, float] | None, within_rad: float = NEAR_LIMIT_RAD) -> str:
    """The arm joints within ``within_rad`` of a limit of the gate's Panda table ('?' when not recorded)."""
    if positions is None:
        return "?"
    near = []
    for name, position in positions.items():
        lower, upper = PANDA_JOINT_LIMITS_RAD[name]
        side, limit = ("lower", lower) if position - lower < upper - position else ("upper", upper)
        if abs(position - limit) < within_rad or not lower < position < upper:
            near.append(f"{name} {position:.3f} rad ({side} {limit:.3f})")
    return ", ".join(near) or "none"


def takeover_lines(results: list[EpisodeResult]) -> list[str]:
    """One line per episode a person took over: seed, step, reason, the object then, the joints near a limit then
    and at the end, outcome."""
    lines = []
    for result in results:
        if result.takeover_step is None:
            continue
        rise = "?" if result.takeover_rise_m is None else f"{100 * result.takeover_rise_m:.1f} cm"
        tilt = "?" if result.takeover_tilt_deg is None else f"{result.takeover_tilt_deg:.0f} deg"
        outcome = "completed" if result.success else "not completed"
        joints = (
            f"joints within {NEAR_LIMIT_RAD} rad of a limit: {joints_near_limits(result.takeover_joint_positions_rad)}"
            f", at the end {joints_near_limits(result.final_joint_positions_rad)}"
        )
        lines.append(
            f"- seed {result.seed}: step {result.takeover_step} ({result.takeover_reason}); object up {rise},"
            f" tilted {tilt}; {joints}; {outcome} in {result.steps} steps"
        )
    return lines


def main() -> None:
    """Run the session and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="Lift")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to record (and to run the base alone)")
    parser.add_argument("--base", type=Path, help="use this base checkpoint instead of training an early one")
    parser.add_argument("--demos-dir", type=Path, help="train the early base on this dataset (default: collect)")
    parser.add_argument("--demos", type=int, default=20, help="demonstrations to collect without --demos-dir")
    parser.add_argument("--train-steps", type=int, default=300, help="updates of the early (weak) base")
    parser.add_argument("--takeover-at-step", type=int, default=60, help="simulated human: take over at this step")
    parser.add_argument("--drift-threshold-m", type=float, default=0.0, help="simulated human: drift rule, m (0 off)")
    parser.add_argument("--seed", type=int, default=2000, help="sim seed of episode 0 of the session")
    parser.add_argument("--workdir", type=Path, help="keep artifacts here (default: a temp dir)")
    parser.add_argument("--skip-base-alone", action="store_true", help="do not run the base without a person")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="robot_rl_correction_"))
    workdir.mkdir(parents=True, exist_ok=True)
    horizon = RECOMMENDED_HORIZON_STEPS.get(args.task, 200)

    base = args.base
    train_note = f"given checkpoint {base}"
    if base is None:
        demos_dir = args.demos_dir
        if demos_dir is None:
            demos_dir = workdir / "demos"
            collect_demos(args.task, args.demos, demos_dir, seed=0, progress=False)
        base = workdir / "early_base"
        result = train_base(demos_dir, base, TrainConfig(steps=args.train_steps, seed=0))
        train_note = f"ACT, {result.steps} updates on {demos_dir} ({result.wall_time_s:.0f} s)"

    alone = None if args.skip_base_alone else evaluate(args.task, base, args.episodes, seed=args.seed, progress=False)

    params = {
        "intervention": {
            "ros__parameters": {
                "takeover_at_step": args.takeover_at_step,
                "drift_threshold_m": args.drift_threshold_m,
                "take_over_on_regrasp": True,
            }
        }
    }
    params_file = workdir / "simulated_human.yaml"
    params_file.write_text(yaml.safe_dump(params))
    out = workdir / "corrections"
    if out.exists():
        raise SystemExit(f"error: {out} exists; use a fresh --workdir")
    start = time.perf_counter()
    arguments = {
        "robot": "sim",
        "base": str(base),
        "out": str(out),
        "device": "simulated",
        "task": args.task,
        "episodes": str(args.episodes),
        "seed": str(args.seed),
        "horizon_steps": str(horizon),
        "intervention_params": str(params_file),
    }
    monitor = run_monitored("teleop_correction.launch.yaml", arguments, args.episodes, progress=False)
    session_s = time.perf_counter() - start

    frames, intervened, succeeded = dataset_interventions(out)
    flagged = [result.intervention_ticks for result in monitor.results[: len(frames)]]
    n = len(frames)
    with_takeover = sum(count > 0 for count in intervened)
    takeover_successes = sum(s for s, count in zip(succeeded, intervened, strict=True) if count > 0)

    command = " ".join(["benchmarks/correction_session.py", *sys.argv[1:]])
    print(f"### Simulated correction session: {args.task}\n")
    print(f"`MUJOCO_GL=egl .venv/bin/python {command}` — {date.today().isoformat()}, {platform.machine()},")
    print(f"{os.cpu_count()} CPU(s), Python {platform.python_version()}; session seeds {args.seed}..")
    print(f"{args.seed + args.episodes - 1}, horizon {horizon} steps; simulated human: take over at step")
    print(f"{args.takeover_at_step}, drift threshold {args.drift_threshold_m} m, and when the object left")
    print("the gripper.\n")
    print("| figure | value |")
    print("|---|---|")
    print(f"| weak base | {train_note} |")
    alone_rate = "not run (--skip-base-alone)" if alone is None else _rate(alone.successes, len(alone.episodes))
    print(f"| base alone, same seeds | {alone_rate} |")
    print(f"| episodes recorded (LeRobotDataset) | {n} episodes, {sum(frames)} frames, {session_s:.0f} s |")
    print(f"| episodes with a takeover (intervention rate) | {_rate(with_takeover, n)} |")
    print(f"| intervention frames | {sum(intervened)}/{sum(frames)} = {sum(intervened) / sum(frames):.1%} |")
    print(f"| success with intervention (all episodes) | {_rate(sum(succeeded), n)} |")
    if with_takeover:
        print(f"| success of the episodes with a takeover | {_rate(takeover_successes, with_takeover)} |")
    mismatches = [
        f"episode {index}: {recorded} recorded, {ticks} flagged"
        for index, (recorded, ticks) in enumerate(zip(intervened, flagged, strict=True))
        if recorded != ticks
    ]
    print(f"| dataset flags = arbiter's flagged ticks, per episode | {'; '.join(mismatches) or 'all equal'} |")
    reasons = ", ".join(f"{reason} {ticks}" for reason, ticks in monitor.safety_reasons.most_common()) or "none"
    print(f"| safety gate: ticks it changed or held, by reason | {reasons} |")
    if with_takeover:
        print(f"\nThe takeovers (object: the task's first; tipped over: > {TIPPED_DEG:.0f} deg from how it stood):\n")
        print("\n".join(takeover_table(monitor.results)))
        print()
        print("\n".join(takeover_lines(monitor.results)))
    print(f"\nArtifacts in {workdir}.")


if __name__ == "__main__":
    main()
