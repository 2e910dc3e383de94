"""A tiny ``robot-rl train-residual`` end to end (the whole training graph through the CLI), a resume after a
SIGKILL, and ``robot-rl eval --residual`` on the result. The learning figures live in benchmarks, not here."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from robot_rl.cli import main
from robot_rl.errors import LearnerError
from robot_rl.policies.learner_node import LearnerNode
from robot_rl.policies.learning_curve import CURVE_FILE, CurvePoint, plot_curve
from robot_rl.policies.train_residual import TrainResidualConfig
from robot_rl.policies.training_driver import COMMAND_PATH_TOPICS, TrainingDriver
from robot_rl.rl.checkpoint import load_residual
from robot_rl.rl.trainer import ACTOR_DIR, METRICS_FILE, STATE_DIR
from robot_rl.runtime import Node, launcher, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.launcher import build_inproc
from robot_rl.sim.node import SimNode
from tests.policies.test_evaluate import default_sigint
from tests.policies.test_learner_node import learner_args
from tests.rl.test_demos import correction_session

ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")
LEARNER_PARAMS = """learner:
  ros__parameters:
    td3:
      batch_size: 32
      actor_hidden: [32, 32]
      critic_hidden: [32, 32]
      critic_warmup_updates: 10
    trainer:
      learning_starts_steps: 10
      checkpoint_every_steps: 20
"""
# the simulated human takes over at the first tick of every episode and lets go after 3 ticks
INTERVENTION_PARAMS = """intervention:
  ros__parameters:
    takeover_at_step: 1
    give_up_after_ticks: 3
"""


def command(base: Path, demos: Path, out: Path, params: Path, steps: int) -> list[str]:
    return [
        "train-residual",
        "--task",
        "Lift",
        "--base",
        str(base),
        "--demos",
        str(demos),
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--eval-every",
        "40",
        "--eval-episodes",
        "1",
        "--horizon-steps",
        "25",
        "--learner-params",
        str(params),
        "--quiet",
    ]


def driver_args(config: TrainResidualConfig) -> list[str]:
    """The training driver's parameters for ``config``'s schedule, as train.launch.yaml passes them."""
    schedule = config.schedule()
    args = ["--ros-args", "-p", f"out_dir:={config.out}", "-p", f"task:={config.task}"]
    for name in ("steps", "eval_every_steps", "eval_episodes", "eval_seed", "train_seed"):
        args += ["-p", f"{name}:={getattr(schedule, name)}"]
    return args


def stand_in_for_the_command_path(node: Node) -> None:
    """A publisher on each topic the driver waits for before its first request (these tests drive the episodes)."""
    for topic in COMMAND_PATH_TOPICS:
        node.create_publisher(msg.PointCloud2 if topic == "/robot_rl/slots" else msg.JointTrajectory, topic, 10)


def curve_steps(out: Path) -> list[int]:
    with open(out / "curve.csv", newline="") as handle:
        return [int(row["env_steps"]) for row in csv.DictReader(handle)]


def test_a_learner_bound_beyond_the_gate_is_one_error_line(
    checkpoint: Path, demos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "learner.yaml"
    wide = "      batch_size: 32\n      gripper_residual_scale: 2.0\n"  # the gate keeps config/safety.yaml's 0.2
    params.write_text(LEARNER_PARAMS.replace("      batch_size: 32\n", wide))
    assert main(command(checkpoint, demos, tmp_path / "out", params, 10)) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: the learner's gripper_residual_scale 2.0 exceeds the safety gate's 0.2")
    out = tmp_path / "out"
    assert not (out / "metrics.csv").exists()  # nothing trained
    # and nothing saved: a checkpoint would hold the refused bound and block the corrected rerun's resume
    assert not (out / "training_state").exists()
    assert not (out / "residual").exists()


@pytest.mark.slow  # about a minute: the training graph (sim, sim slots, base, residual, safety, learner)
def test_train_residual_end_to_end_then_eval(
    checkpoint: Path, demos: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Node] = []  # the graph's nodes, kept to read the sim's counters after the run

    def build_and_keep(plan: Any) -> tuple[Any, list[Node]]:
        context, nodes = build_inproc(plan)
        built.extend(nodes)
        return context, nodes

    monkeypatch.setattr(launcher, "build_inproc", build_and_keep)
    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    intervention = tmp_path / "intervention.yaml"
    intervention.write_text(INTERVENTION_PARAMS)
    out = tmp_path / "run"
    person = ["--device", "simulated", "--intervention-params", str(intervention)]
    session = correction_session(tmp_path / "session", {(0, 3), (0, 4), (0, 7), (1, 0)})  # a past session
    assert main([*command(checkpoint, demos, out, params, 60), *person, "--corrections", str(session)]) == 0
    assert "learner: 4 corrected ticks from 2 episodes of" in capfd.readouterr().err
    # lockstep: every command and the learner's tick arrive before the sim's next tick (train.launch.yaml sets
    # command_wait_s and wait_for_learner for processes; in-process they must never make a tick wait)
    sim = next(node for node in built if isinstance(node, SimNode))
    assert sim.commands_consumed > 60
    assert (sim.ticks_waited, sim.ticks_waited_for_learner, sim.ticks_without_command) == (0, 0, 0)
    steps = curve_steps(out)
    assert steps[0] == 0  # the base alone, before any update
    assert steps[-1] >= 60  # the final evaluation, after the budget
    assert (out / "curve.png").stat().st_size > 0
    with open(out / METRICS_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["mode"] for row in rows} == {"train", "eval"}
    assert int(rows[-1]["updates"]) > 0
    assert int(rows[-1]["actor_updates"]) > 0
    train_episodes = sum(row["mode"] == "train" for row in rows)
    # the person's ticks of training episodes became corrections (none from the evaluations: nobody takes over)
    assert 0 < int(rows[-1]["corrections"]) <= 3 * train_episodes
    bundle = load_residual(out / ACTOR_DIR)
    assert bundle.metadata.task == "Lift"
    args = ["eval", "--task", "Lift", "--base", str(checkpoint), "--residual", str(out / ACTOR_DIR)]
    capfd.readouterr()
    # as make run does it: both at once, one line per episode from each process, then the table
    one = [*args, "--episodes", "1", "--horizon-steps", "10", "--slot-source", "sim", "--side-by-side", "--jobs", "2"]
    assert main(one) == 0
    table, lines = capfd.readouterr()
    assert "| base alone | " in table
    assert "| base + residual | " in table
    for policy in ("base", "base + residual"):
        assert f"eval Lift {policy}: episode 1/1 (seed 1000) " in lines
    # the same two evaluations in two processes give the same rows, whatever this process's torch threads: the
    # workers take them (the base's inference rounds differently on another thread count); 1 here, unlike a fresh
    # process's default on 2 cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        side_by_side = [*args, "--episodes", "2", "--horizon-steps", "10", "--slot-source", "sim", "--side-by-side"]
        assert main([*side_by_side, "--json"]) == 0
        serial = json.loads(capfd.readouterr().out)
        assert main([*side_by_side, "--json", "--jobs", "2"]) == 0
        parallel = json.loads(capfd.readouterr().out)
        assert [r["residual"] for r in parallel] == ["", str(out / ACTOR_DIR)]
        assert [r["per_episode"] for r in parallel] == [r["per_episode"] for r in serial]
        # one policy's seeds split over two processes: the same episodes, numbered in seed order
        # (with a gate params file that restates config/safety.yaml's residual bounds: recorded, nothing changes)
        gate = tmp_path / "gate.yaml"
        gate.write_text("safety:\n  ros__parameters:\n    residual_scale: 0.2\n    gripper_residual_scale: 0.2\n")
        halves = [*args, "--episodes", "2", "--horizon-steps", "10", "--slot-source", "sim", "--json", "--jobs", "2"]
        assert main([*halves, "--safety-params", str(gate)]) == 0
        split = json.loads(capfd.readouterr().out)
        assert (split["safety_params"], serial[1]["safety_params"]) == (str(gate), "")
        # every sim of Lift builds the same cube (SimConfig.model_seed) and the gate starts each sim episode afresh, so
        # the half that starts at seed 1001 runs what the whole run runs there, to the last bit
        assert split["per_episode"] == serial[1]["per_episode"]
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow  # about a minute: the training graph with the rendered camera and the real perception node
def test_train_residual_through_real_perception(
    checkpoint: Path, demos: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    out = tmp_path / "run"
    assert main([*command(checkpoint, demos, out, params, 20), "--slot-source", "perception"]) == 0
    assert "fixture box(es) from" in capfd.readouterr().err  # the perception node ran in the training graph
    assert curve_steps(out) == [0, 25]  # the base alone, then the residual after the budget (one 25-step episode)
    with open(out / METRICS_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert int(rows[-1]["updates"]) > 0


@pytest.mark.slow  # about two minutes: a run killed after its first checkpoint, then the same command again
def test_train_residual_resumes_after_a_kill(checkpoint: Path, demos: Path, tmp_path: Path) -> None:
    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    out = tmp_path / "run"
    argv = [ROBOT_RL, *command(checkpoint, demos, out, params, 2000)]
    process = subprocess.Popen(argv, env={**os.environ, "MUJOCO_GL": "egl"}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / STATE_DIR / "training.json").exists():
        assert process.poll() is None, "train-residual ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_from = load_residual(out / ACTOR_DIR)  # the actor of the checkpoint loads after the kill
    assert resumed_from.metadata.task == "Lift"
    with open(out / STATE_DIR / "training.json") as handle:
        checkpointed = json.load(handle)["counters"]["env_steps"]
    assert checkpointed >= 20
    # the same command with a smaller budget resumes from the checkpoint and finishes
    assert main(command(checkpoint, demos, out, params, checkpointed + 30)) == 0
    with open(out / METRICS_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    train_steps = [int(row["env_steps"]) for row in rows if row["mode"] == "train"]
    assert train_steps == sorted(train_steps)  # rows after the checkpoint were dropped, then run again
    assert train_steps[-1] >= checkpointed + 30


@pytest.mark.slow  # about two minutes: the same 80-step run straight through, and stopped at 40 then resumed
def test_a_resumed_run_learns_what_the_uninterrupted_one_learns(checkpoint: Path, demos: Path, tmp_path: Path) -> None:
    """Every episode is seeded and starts from a fresh state of every node (the safety gate included), and a
    checkpoint holds the learner, its buffers and its generator: stopping and resuming must not change the run."""
    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(command(checkpoint, demos, straight, params, 80)) == 0
    assert main(command(checkpoint, demos, resumed, params, 40)) == 0
    assert main(command(checkpoint, demos, resumed, params, 80)) == 0

    def training(out: Path) -> list[tuple[str, ...]]:
        with open(out / METRICS_FILE, newline="") as handle:
            fields = ("env_steps", "mode", "success", "return", "length", "updates", "critic_loss", "q_mean")
            return [tuple(row[name] for name in fields) for row in csv.DictReader(handle)]

    assert training(resumed) == training(straight)
    with open(straight / CURVE_FILE, newline="") as a, open(resumed / CURVE_FILE, newline="") as b:
        assert [row["successes"] for row in csv.DictReader(a)] == [row["successes"] for row in csv.DictReader(b)]
    assert (resumed / ACTOR_DIR / "model.safetensors").read_bytes() == (
        straight / ACTOR_DIR / "model.safetensors"
    ).read_bytes()


@pytest.mark.slow  # about a minute: a run stopped with Ctrl-C in its first training episodes
def test_a_run_stopped_by_ctrl_c_is_an_error_not_a_result(checkpoint: Path, demos: Path, tmp_path: Path) -> None:
    """A partial curve must not pass for the run's result (benchmarks/residual_rl.py would record it as done)."""
    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    out = tmp_path / "run"
    argv = [ROBOT_RL, *command(checkpoint, demos, out, params, 2000)]
    process = subprocess.Popen(
        argv,
        env={**os.environ, "MUJOCO_GL": "egl"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 300
    while not (out / METRICS_FILE).exists():  # training episodes are running
        assert process.poll() is None, "train-residual ended before its first training episode"
        assert time.monotonic() < deadline, "no training episode within 300 s"
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    # Ctrl-C lands anywhere in the tick: usually the one-line stop error (exit 1); the exact line can differ when it
    # cuts a request to the learner process short, so only "an error, no result" is asserted
    assert process.returncode != 0, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("error: ") or process.returncode == 130, stderr[-2000:]
    assert "residual:" not in stdout  # no result printed
    assert (out / STATE_DIR / "training.json").exists()  # and the stop was checkpointed, for the rerun


def test_a_persons_key_ends_a_training_episode_and_the_driver_requests_the_next(
    checkpoint: Path, demos: Path, tmp_path: Path
) -> None:
    """The sim ends an episode on a person's key and publishes no outcome of its own: the driver must count the key
    (it used to wait for the sim's outcome forever)."""
    context = InprocContext()
    learner = LearnerNode(context=context, cli_args=learner_args(demos, checkpoint, tmp_path))
    config = TrainResidualConfig("Lift", checkpoint, demos, tmp_path, steps=100, eval_episodes=1, progress=False)
    graph = Node("graph", context=context)
    stand_in_for_the_command_path(graph)
    events: list[dict[str, object]] = []
    graph.create_subscription(msg.String, "/robot_rl/episode", lambda m: events.append(json.loads(m.data)), 10)
    episode = graph.create_publisher(msg.String, "/robot_rl/episode", 10)
    flag = graph.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
    driver = TrainingDriver(context=context, cli_args=driver_args(config))
    context.spin_until_quiet()

    def publish(**event: object) -> None:
        episode.publish(msg.String(data=json.dumps(event)))
        context.spin_until_quiet()

    publish(event="start", seed=config.eval_seed, mode="eval")  # the base alone, at 0 env steps
    publish(event="timeout", steps=5)
    publish(event="start", seed=config.train_seed, mode="train")
    for _ in range(3):
        flag.publish(msg.Bool(data=True))
    publish(event="success", source="human")
    requests = [(event["seed"], event["mode"]) for event in events if event["event"] == "reset"]
    assert requests == [
        (config.eval_seed, "eval"),
        (config.train_seed, "train"),
        (config.train_seed + 1, "train"),
    ]
    assert driver.train_episodes == 1
    assert list(driver.recent) == [True]
    learner.destroy_node()


def test_an_evaluation_a_stop_cut_short_is_logged_once_when_redone(
    checkpoint: Path, demos: Path, tmp_path: Path
) -> None:
    """A stop during an evaluation checkpoints at the evaluation's step; the resumed run redoes the evaluation, and its
    rows must replace the cut one's in metrics.csv, not follow them."""

    def start() -> tuple[LearnerNode, InprocContext, Callable[..., None]]:
        context = InprocContext()
        learner = LearnerNode(context=context, cli_args=learner_args(demos, checkpoint, tmp_path))
        config = TrainResidualConfig("Lift", checkpoint, demos, tmp_path, steps=100, eval_episodes=2, progress=False)
        graph = Node("graph", context=context)
        stand_in_for_the_command_path(graph)
        episode = graph.create_publisher(msg.String, "/robot_rl/episode", 10)
        TrainingDriver(context=context, cli_args=driver_args(config))

        def publish(**event: object) -> None:
            episode.publish(msg.String(data=json.dumps(event)))
            context.spin_until_quiet()

        return learner, context, publish

    learner, _, publish = start()
    publish(event="start", seed=100_000, mode="eval")
    publish(event="timeout", steps=5)  # the first of the 2 episodes is logged, then the stop
    learner.destroy_node()
    learner, _, publish = start()
    for seed in (100_000, 100_001):
        publish(event="start", seed=seed, mode="eval")
        publish(event="timeout", steps=5)
    with open(tmp_path / METRICS_FILE, newline="") as handle:
        assert [row["mode"] for row in csv.DictReader(handle)] == ["eval", "eval"]
    with open(tmp_path / CURVE_FILE, newline="") as handle:
        assert [row["episodes"] for row in csv.DictReader(handle)] == ["2"]
    learner.destroy_node()


def test_the_curve_plot_takes_0_and_all_successes(tmp_path: Path) -> None:
    """A curve at 0/20 and 20/20 (SAC's untrained point, a solved task): the Wilson bars end exactly at the rate."""
    points = [CurvePoint(0, 10.0, 0, 20, 0), CurvePoint(10_000, 600.0, 20, 20, 20_000)]
    plot_curve(tmp_path / "curve.png", points, "SAC", label="SAC (deterministic)", base_line=False)
    assert (tmp_path / "curve.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"steps": 0}, "--steps must be an int >= 1, got 0"),
        ({"eval_every_steps": 0}, "--eval-every must be an int >= 1, got 0"),
        ({"eval_episodes": 0}, "--eval-episodes must be an int >= 1, got 0"),
        ({"train_seed": -1}, "train_seed must be an int >= 0, got -1"),
    ],
)
def test_a_bad_schedule_names_the_command_line_flag(fields: dict[str, int], error: str) -> None:
    values = {"steps": 10, **fields}
    with pytest.raises(LearnerError, match=f"^{error}$"):
        TrainResidualConfig("Lift", Path("base"), Path("demos"), Path("out"), **values)
