"""The ``robot-rl`` command: ``launch``, ``node``, ``topics``, ``collect-demos``, ``train-base``, ``train-residual``,
``eval`` and ``recover-dataset``.

Every user error (a bad launch file, a missing file, a wrong parameter type, an
unknown executable) is printed as one line starting with ``error:`` and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from robot_rl.errors import RobotRLError
from robot_rl.runtime.backend import BACKENDS, select_backend, selected_backend_name

# The sim slot source's noise models (robot_rl.sim.slot_source.NOISE_MODELS, not imported here: it pulls numpy and
# the perception package into every command's start-up; a test keeps the two equal).
SLOT_NOISE_MODELS = ("none", "perception_v1", "perception_v2")
SAFETY_PARAMS_HELP = (
    "params file of the safety gate, applied after config/safety.yaml (overrides; in sim, config/sim_stack.yaml's"
    " speed and acceleration limits, timeout_s and tcp_offset_m still win)"
)


def _launch_target(items: list[str]) -> tuple[object, dict[str, str]]:
    from robot_rl.runtime.launch_file import parse_launch_arguments, resolve_launch_path

    if not items:
        raise RobotRLError("give a launch file, or a package and a launch file name")
    if len(items) > 1 and ":=" not in items[1]:
        path = resolve_launch_path(items[0], items[1])
        rest = items[2:]
    else:
        path = resolve_launch_path(items[0])
        rest = items[1:]
    return path, parse_launch_arguments(rest)


def _backend(args: argparse.Namespace) -> str:
    """Apply ``--backend`` if given, else validate ROBOT_RL_BACKEND / auto-detection."""
    return select_backend(args.backend) if args.backend else selected_backend_name()


def _cmd_launch(args: argparse.Namespace) -> int:
    from robot_rl.runtime.launch_file import read_launch_file
    from robot_rl.runtime.launcher import run_inproc, run_processes

    backend = _backend(args)
    path, arguments = _launch_target(args.target)
    plan = read_launch_file(path, arguments)  # type: ignore[arg-type]
    if backend == "inproc":
        context = run_inproc(plan, realtime=args.realtime)
        print(f"launch finished: {context.shutdown_reason}", file=sys.stderr)
        return 0
    return run_processes(plan)


def _cmd_node(args: argparse.Namespace) -> int:
    from robot_rl.runtime.executables import node_class
    from robot_rl.runtime.node import NodeMain

    _backend(args)
    return NodeMain(node_class("robot_rl", args.name))(args.node_args)


def _cmd_topics(args: argparse.Namespace) -> int:
    select_backend("inproc")
    from robot_rl.runtime.launch_file import read_launch_file
    from robot_rl.runtime.launcher import describe_graph

    path, arguments = _launch_target(args.target)
    if args.show_args:
        return _show_args(path)  # type: ignore[arg-type]
    nodes, topics = describe_graph(read_launch_file(path, arguments))  # type: ignore[arg-type]
    print(f"launch file: {path}")
    print("nodes:")
    for fqn, executable in nodes:
        print(f"  {fqn}  [{executable}]")
    print("topics:")
    for topic in topics:
        print(f"  {topic.name}  ({topic.type_name})")
        print(f"    publishers:  {', '.join(topic.publishers) or '-'}")
        print(f"    subscribers: {', '.join(topic.subscribers) or '-'}")
    return 0


def _show_args(path: Path) -> int:
    """Print the launch file's arguments as ``ros2 launch --show-args`` does (defaults as written)."""
    from robot_rl.runtime.launch_file import launch_arguments

    arguments = launch_arguments(path)
    print("Arguments (pass arguments as '<name>:=<value>'):")
    for argument in arguments:
        print(f"\n    '{argument.name}':{'*' if argument.conditional else ''}\n        {argument.description}")
        if argument.default is not None:
            print(f"        (default: '{argument.default}')")
    if not arguments:
        print("\n  No arguments.")
    elif any(argument.conditional for argument in arguments):
        print("\n* argument(s) which are only used if specific conditions occur")
    return 0


def _cmd_collect_demos(args: argparse.Namespace) -> int:
    from robot_rl.data.collect import collect_demos

    result = collect_demos(
        task=args.task,
        episodes=args.episodes,
        out=args.out,
        noise=args.noise,
        seed=args.seed,
        success_only=not args.keep_failures,
        use_image=args.image,
        max_attempts=args.max_attempts,
        segmenter=args.segmenter,
        horizon_steps=args.horizon_steps,
        slot_source=args.slot_source,
        slot_noise=args.slot_noise,
    )
    print(
        f"saved {result.saved_episodes} episode(s), {result.frames} frames, to {result.out}"
        f" ({result.successes}/{result.attempted_episodes} attempts succeeded; stopped: {result.stop_reason})"
    )
    if result.saved_episodes < args.episodes:
        print(f"error: only {result.saved_episodes} of {args.episodes} episodes were saved", file=sys.stderr)
        return 1
    return 0


def _cmd_train_base(args: argparse.Namespace) -> int:
    from robot_rl.policies.train_base import TrainConfig, train_base

    config = TrainConfig(policy=args.policy, steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    from tqdm import tqdm

    bars: list[Any] = []  # the bar opens with the first progress report, after the inputs were checked

    def progress(step: int, loss: float) -> None:
        if not bars:
            bars.append(tqdm(total=config.steps, desc=f"train {config.policy}", unit="step"))
        bars[0].update(step - bars[0].n)
        bars[0].set_postfix(loss=f"{loss:.4f}")

    try:
        result = train_base(args.dataset, args.out, config, progress=progress, overwrite=args.overwrite)
    finally:
        for bar in bars:
            bar.close()
    print(
        f"trained {config.policy} for {result.steps} steps in {result.wall_time_s:.0f} s"
        f" (final loss {result.final_loss:.4f}, {result.num_parameters} parameters,"
        f" checkpoint {result.checkpoint_size_bytes / 1e6:.1f} MB at {result.checkpoint_dir})"
    )
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from robot_rl.policies.evaluate import comparison_table, evaluate, side_by_side

    if args.side_by_side:
        if args.residual is None:
            print("error: --side-by-side compares the base with --residual DIR: give --residual", file=sys.stderr)
            return 2
        pair = side_by_side(
            args.task,
            args.base,
            args.residual,
            args.episodes,
            args.seed,
            video_dir=args.video_dir,
            video_episodes=args.video_episodes,
            progress=not args.json,
            horizon_steps=args.horizon_steps,
            chunk_mode=args.chunk_mode,
            segmenter=args.segmenter,
            allow_task_mismatch=args.allow_task_mismatch,
            slot_source=args.slot_source,
            slot_noise=args.slot_noise,
            jobs=args.jobs,
            safety_params=args.safety_params,
        )
        if args.json:
            print("[" + ",\n".join(result.to_json() for result in pair) + "]")
            return 0
        seeds = f"seeds {args.seed}..{args.seed + args.episodes - 1}"
        print(f"task {args.task}, base {args.base}, residual {args.residual}, slots {args.slot_source}, {seeds}")
        print(comparison_table(pair))
        return 0
    result = evaluate(
        task=args.task,
        base=args.base,
        episodes=args.episodes,
        seed=args.seed,
        horizon_steps=args.horizon_steps,
        chunk_mode=args.chunk_mode,
        segmenter=args.segmenter,
        video_dir=args.video_dir,
        video_episodes=args.video_episodes,
        progress=not args.json,
        allow_task_mismatch=args.allow_task_mismatch,
        residual=args.residual,
        slot_source=args.slot_source,
        slot_noise=args.slot_noise,
        jobs=args.jobs,
        safety_params=args.safety_params,
    )
    if args.json:
        print(result.to_json())
        return 0
    low, high = result.interval_95
    print(f"task {result.task}, base {result.base}, residual {result.residual or 'none'}")
    for episode in result.episodes:
        print(
            f"  episode {episode.episode} (seed {episode.seed}): {'success' if episode.success else 'timeout'}"
            f" after {episode.steps} steps; {episode.safety_events} safety events,"
            f" {episode.intervention_ticks} intervention ticks"
        )
    print(
        f"success {result.successes}/{len(result.episodes)} = {result.success_rate:.1%}"
        f" (95% Wilson CI {low:.1%}-{high:.1%}), mean length {result.mean_steps:.1f} steps,"
        f" wall time {result.wall_time_s:.0f} s"
    )
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(result.safety_reasons.items()))
    print(
        f"safety events {result.safety_events} (ticks the safety gate changed or held the command"
        f"{': ' + reasons if reasons else ''}), intervention ticks {result.intervention_ticks}"
    )
    for video in result.videos:
        print(f"video: {video}")
    return 0


def _cmd_train_residual(args: argparse.Namespace) -> int:
    from robot_rl.policies.train_residual import TrainResidualConfig, train_residual

    config = TrainResidualConfig(
        task=args.task,
        base=args.base,
        demos=args.demos,
        out=args.out,
        steps=args.steps,
        eval_every_steps=args.eval_every,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
        horizon_steps=args.horizon_steps,
        slot_source=args.slot_source,
        slot_noise=args.slot_noise,
        learner_params=args.learner_params,
        safety_params=args.safety_params,
        device=args.device,
        intervention_params=args.intervention_params,
        corrections=args.corrections,
        progress=not args.quiet,
    )
    curve = train_residual(config)
    for point in curve:
        row = point.row()
        print(
            f"  {point.env_steps:>8} env steps ({point.wall_s:.0f} s): success {point.successes}/{point.episodes}"
            f" (95% Wilson CI {float(row['ci_low']):.1%}-{float(row['ci_high']):.1%}), {point.updates} updates"
        )
    print(f"residual: {args.out / 'residual'}; learning curve: {args.out / 'curve.csv'}, {args.out / 'curve.png'}")
    return 0


def _cmd_recover_dataset(args: argparse.Namespace) -> int:
    from robot_rl.data.recorder import recover_dataset

    report = recover_dataset(args.dir)
    for path in report.removed_files:
        print(f"removed {path}")
    for path in report.rewritten_files:
        print(f"rewrote {path}")
    state = "recovered" if report.changed else "nothing to recover"
    print(f"{args.dir}: {state}; {report.episodes} episodes, {report.frames} frames")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``robot-rl``."""
    parser = argparse.ArgumentParser(prog="robot-rl", description="robot_rl: run ROS2 launch files and nodes.")
    commands = parser.add_subparsers(dest="command", required=True)

    launch = commands.add_parser(
        "launch",
        help="run a ROS2 YAML launch file",
        description="Run FILE, or PACKAGE NAME.launch.yaml, with name:=value arguments.",
    )
    launch.add_argument("target", nargs="+", help="FILE | PACKAGE NAME.launch.yaml, then name:=value ...")
    launch.add_argument(
        "--backend",
        choices=BACKENDS,
        help="runtime backend (default: $ROBOT_RL_BACKEND, else rclpy if importable, else inproc)",
    )
    launch.add_argument(
        "--realtime", action="store_true", help="inproc: run wall timers in real time instead of as fast as possible"
    )
    launch.set_defaults(func=_cmd_launch)

    node = commands.add_parser(
        "node",
        help="run one node executable",
        description="Run node executable NAME; pass ROS arguments after --ros-args.",
    )
    node.add_argument("name", help="node executable name, e.g. demo_monitor")
    node.add_argument(
        "--backend",
        choices=BACKENDS,
        help="runtime backend (default: $ROBOT_RL_BACKEND, else rclpy if importable, else inproc)",
    )
    node.add_argument("node_args", nargs=argparse.REMAINDER, help="arguments for the node, e.g. --ros-args -p x:=1")
    node.set_defaults(func=_cmd_node)

    topics = commands.add_parser(
        "topics",
        help="list the nodes and topics of a launch file without running it",
        description="Print the nodes, topics, types, publishers and subscribers, with remaps and namespaces applied,"
        " from the launch description and the nodes' declared interfaces: no node is built, nothing is loaded,"
        " opened or written (like ros2 launch --print).",
    )
    topics.add_argument("target", nargs="+", help="FILE | PACKAGE NAME.launch.yaml, then name:=value ...")
    topics.add_argument(
        "--show-args", action="store_true", help="print the launch file's arguments instead (like ros2 launch)"
    )
    topics.set_defaults(func=_cmd_topics)

    collect = commands.add_parser(
        "collect-demos",
        help="record scripted-expert demonstrations as a LeRobotDataset",
        description="Run sim -> perception (or the sim slot source) -> expert -> safety in lockstep and record"
        " episodes (LeRobot 0.4 format).",
    )
    collect.add_argument("--task", default="Lift", choices=("Lift", "Stack", "PickPlaceCan"), help="robosuite task")
    collect.add_argument("--episodes", type=int, default=50, help="episodes to save (default 50)")
    collect.add_argument("--out", type=Path, required=True, help="dataset directory to create (must not exist)")
    collect.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise on the motion axes")
    collect.add_argument("--seed", type=int, default=0, help="seed of episode 0 (episode i uses seed + i)")
    collect.add_argument("--keep-failures", action="store_true", help="also save episodes that did not succeed")
    collect.add_argument("--image", action="store_true", help="also record the colour image")
    collect.add_argument("--max-attempts", type=int, help="episodes to run at most (default 3 x --episodes)")
    collect.add_argument("--segmenter", default="rgbd_tabletop", choices=("rgbd_tabletop", "sim_gt"))
    collect.add_argument("--horizon-steps", type=int, help="control steps per episode at most (default: per task)")
    collect.add_argument(
        "--slot-source",
        default="perception",
        choices=("perception", "sim"),
        help="perception (rendered camera, default) or sim (privileged object poses, no rendering): a base for the"
        " residual's training graph",
    )
    collect.add_argument(
        "--slot-noise",
        default="none",
        choices=SLOT_NOISE_MODELS,
        help="noise model of the sim slot source (with --slot-source sim; default none)",
    )
    collect.set_defaults(func=_cmd_collect_demos)

    train = commands.add_parser(
        "train-base",
        help="train a LeRobot ACT or Diffusion base policy on a dataset (CPU)",
        description="Train with LeRobot's own policy classes; writes a LeRobot pretrained-policy directory.",
    )
    train.add_argument("--dataset", type=Path, required=True, help="LeRobotDataset directory (from collect-demos)")
    train.add_argument("--policy", default="act", help="LeRobot policy type: act or diffusion")
    train.add_argument("--out", type=Path, required=True, help="output pretrained-policy directory")
    train.add_argument("--steps", type=int, default=2000, help="optimizer updates (default 2000)")
    train.add_argument("--batch-size", type=int, default=32, help="samples per update (default 32)")
    train.add_argument("--seed", type=int, default=0, help="seed of initialization and sampling")
    train.add_argument(
        "--overwrite", action="store_true", help="replace an --out directory holding an earlier train-base run"
    )
    train.set_defaults(func=_cmd_train_base)

    evaluation = commands.add_parser(
        "eval",
        help="evaluate a base policy in simulation (success rate with a 95%% Wilson interval)",
        description="Run sim.launch.yaml (sim -> perception -> base -> residual -> arbiter -> safety -> sim) for N"
        " episodes; report the success rate, safety events and intervention ticks.",
    )
    evaluation.add_argument("--task", default="Lift", choices=("Lift", "Stack", "PickPlaceCan"), help="robosuite task")
    evaluation.add_argument("--base", type=Path, required=True, help="LeRobot pretrained-policy directory")
    evaluation.add_argument("--episodes", type=int, default=100, help="episodes to run (default 100)")
    evaluation.add_argument("--seed", type=int, default=1000, help="seed of episode 0 (default 1000: unseen in demos)")
    evaluation.add_argument("--horizon-steps", type=int, help="control steps per episode at most (default: per task)")
    evaluation.add_argument("--chunk-mode", default="queue", choices=("queue", "ensemble"), help="chunk execution")
    evaluation.add_argument("--segmenter", default="rgbd_tabletop", choices=("rgbd_tabletop", "sim_gt"))
    evaluation.add_argument("--video-dir", type=Path, help="write MP4 videos of the first episodes here")
    evaluation.add_argument("--video-episodes", type=int, default=3, help="episodes to film with --video-dir")
    evaluation.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluation.add_argument(
        "--allow-task-mismatch", action="store_true", help="run a base trained on another task (with a warning)"
    )
    evaluation.add_argument("--residual", type=Path, help="residual actor checkpoint on top of the base (default none)")
    evaluation.add_argument(
        "--side-by-side",
        action="store_true",
        help="evaluate the base alone and base + --residual on the same seeds; print both, with a video of each",
    )
    evaluation.add_argument(
        "--jobs",
        type=int,
        default=1,
        choices=(1, 2),
        help="2: with --side-by-side, the base and base + residual at once; without, the seeds split in two halves;"
        " one process each (a line per episode, no progress bars)",
    )
    evaluation.add_argument(
        "--slot-source",
        default="perception",
        choices=("perception", "sim"),
        help="perception (rendered camera, default) or sim (privileged object poses, no rendering)",
    )
    evaluation.add_argument(
        "--slot-noise",
        default="none",
        choices=SLOT_NOISE_MODELS,
        help="noise model of the sim slot source (with --slot-source sim; default none: exact)",
    )
    evaluation.add_argument("--safety-params", type=Path, help=SAFETY_PARAMS_HELP)
    evaluation.set_defaults(func=_cmd_eval)

    residual = commands.add_parser(
        "train-residual",
        help="train the residual RL corrector on a frozen base in simulation (learning curve, resumable)",
        description="Run train.launch.yaml (sim -> sim slot source -> base -> residual actor -> arbiter -> safety ->"
        " sim, plus the learner) in lockstep; evaluate the deterministic residual every --eval-every env steps on"
        " fixed unseen seeds; write OUT/residual, OUT/curve.csv, OUT/curve.png. Rerun the same command to resume.",
    )
    residual.add_argument("--task", default="Lift", choices=("Lift", "Stack", "PickPlaceCan"), help="robosuite task")
    residual.add_argument("--base", type=Path, required=True, help="frozen base: LeRobot pretrained-policy directory")
    residual.add_argument("--demos", type=Path, required=True, help="LeRobotDataset of demonstrations")
    residual.add_argument("--out", type=Path, required=True, help="output directory (resumed if it holds a run)")
    residual.add_argument("--steps", type=int, required=True, help="training env steps")
    residual.add_argument("--eval-every", type=int, default=10_000, help="env steps between evaluations")
    residual.add_argument("--eval-episodes", type=int, default=50, help="episodes per evaluation (fixed unseen seeds)")
    residual.add_argument("--seed", type=int, default=0, help="learner and exploration seed")
    residual.add_argument("--horizon-steps", type=int, help="control steps per episode at most (default: per task)")
    residual.add_argument(
        "--slot-source",
        default="sim",
        choices=("sim", "perception"),
        help="sim (privileged object poses, no rendering; default) or perception (rendered camera and real perception:"
        " what the residual meets after training; 21.4 env steps/s in Stack run 22, docs/benchmarks.md)",
    )
    residual.add_argument("--slot-noise", default="perception_v1", choices=SLOT_NOISE_MODELS)
    residual.add_argument(
        "--learner-params", type=Path, help="learner params file, applied after config/learner.yaml (overrides)"
    )
    residual.add_argument("--safety-params", type=Path, help=SAFETY_PARAMS_HELP)
    residual.add_argument(
        "--device",
        default="none",
        choices=("none", "keyboard", "joy", "spacemouse", "simulated"),
        help="a person corrects in training episodes with this teleop device (simulated: the scripted expert);"
        " their ticks are kept as corrections for the offline half",
    )
    residual.add_argument(
        "--intervention-params", type=Path, help="intervention params file (default config/intervention.yaml)"
    )
    residual.add_argument(
        "--corrections",
        type=Path,
        help="LeRobotDataset recorded in a teleop correction session: the ticks a person drove join the offline half",
    )
    residual.add_argument("--quiet", action="store_true", help="no progress bar")
    residual.set_defaults(func=_cmd_train_residual)

    recover = commands.add_parser(
        "recover-dataset",
        help="make a dataset consistent after its recording process was killed",
        description="Keep every complete episode of DIR, drop half-written files, fix info.json and stats.json;"
        " print one line per file removed or rewritten. Run it only when no recorder writes to DIR.",
    )
    recover.add_argument("dir", type=Path, help="LeRobotDataset directory (from collect-demos or the recorder)")
    recover.set_defaults(func=_cmd_recover_dataset)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``robot-rl``."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RobotRLError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
