"""The rclpy tier for the residual RL nodes: the actor and the learner on real rclpy (ROS2 Jazzy, Fast DDS).

Messages here cross DDS, and rclpy's executor runs the callbacks that are ready together in subscription order,
not in publish order as the in-process backend does. So every check publishes a whole tick's messages before
spinning (as they wait in a node that fell behind on a robot) and compares the result with the in-process one.
Run with ``make test-rclpy``.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.rclpy_tier import settle, skip_without_rclpy

try:
    import rclpy.node  # noqa: F401  (loads rclpy's C extension, not just the package)
except ImportError as _error:
    skip_without_rclpy(_error)

# Imported after the rclpy check: robot_rl.runtime.msg picks rclpy's message classes at import.
from robot_rl.policies.learner_node import LearnerNode
from robot_rl.policies.residual_node import ResidualNode, UInt8MultiArray
from robot_rl.rl.checkpoint import encode_actor_weights, load_residual, save_residual
from robot_rl.rl.replay import FIELDS
from robot_rl.rl.trainer import ACTOR_DIR, METRICS_FILE
from robot_rl.runtime import Node
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.rclpy_backend import RclpyContext
from tests.policies.test_learner_node import Graph, learner_args
from tests.policies.test_residual_node import BASE, METADATA, NUM_SLOTS, Harness, trained_learner

pytestmark = pytest.mark.rclpy


def wait_for_subscribers(node: Node, context: RclpyContext, count: int = 1) -> None:
    """Wait until every publisher of ``node`` has ``count`` subscriptions (DDS discovery), spinning meanwhile."""
    publishers = [value for value in vars(node).values() if hasattr(value, "get_subscription_count")]
    deadline = time.monotonic() + 10.0
    while min(pub.get_subscription_count() for pub in publishers) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("DDS discovery took more than 10 s")
        context.spin_once(timeout_s=0.05)


def actor_node(context: RclpyContext, residual: Path | None = None) -> ResidualNode:
    args = ["--ros-args", "-p", f"num_slots:={NUM_SLOTS}"]
    if residual is not None:
        args += ["-p", f"residual_path:={residual}"]
    return ResidualNode(context=context, cli_args=args)


def test_the_actor_acts_on_the_observation_of_its_own_tick_on_real_rclpy(
    rclpy_context: RclpyContext, tmp_path: Path
) -> None:
    """A tick's observation and base action wait together: the residual must use this tick's observation."""
    save_residual(tmp_path / "actor", trained_learner(), METADATA)
    bundle = load_residual(tmp_path / "actor")
    actor_node(rclpy_context, tmp_path / "actor")
    harness = Harness(rclpy_context, lambda: settle(rclpy_context))
    wait_for_subscribers(harness, rclpy_context)
    expected = []
    for x in (0.5, 0.62, 0.44):  # end-effector x, m: a residual computed on the last tick's would differ
        observation = harness.publish_observation(x)
        harness.publish_base(BASE)
        time.sleep(0.1)  # every message of the tick arrives before the node spins
        harness.settle()
        expected.append(bundle.act(observation, BASE))
    assert len(harness.actions) == 3
    for action, residual, (want_action, want_residual) in zip(
        harness.actions, harness.residuals, expected, strict=True
    ):
        np.testing.assert_allclose(action[0], want_action, atol=1e-6)
        np.testing.assert_allclose(residual[0], want_residual, atol=1e-6)
    assert not np.allclose(expected[0][1], expected[1][1], atol=1e-4)  # the ticks are told apart


def test_learner_weights_cross_dds_and_are_taken_at_the_next_episode_on_real_rclpy(
    rclpy_context: RclpyContext,
) -> None:
    """A full-size actor (the default TD3Config's) through the latched weights topic, as the learner sends it."""
    node = actor_node(rclpy_context)
    harness = Harness(rclpy_context, lambda: settle(rclpy_context))
    wait_for_subscribers(harness, rclpy_context)
    harness.event(event="start", episode=0)
    learner = trained_learner()
    blob = encode_actor_weights(learner, METADATA, version=3)
    harness.weights.publish(UInt8MultiArray(data=list(blob)))
    harness.settle()
    observation = harness.observation()
    harness.tick(BASE)
    assert harness.actions[-1][0].tobytes() == BASE.tobytes()  # mid-episode: still the zero residual
    assert node.pending is not None, f"{len(blob)} bytes of weights did not arrive"
    harness.event(event="success", episode=0)
    harness.event(event="start", episode=1)
    assert node.version == 3
    observation = harness.observation()
    harness.tick(BASE)
    assert node.actor is not None
    want, _ = node.actor.act(observation, BASE)
    np.testing.assert_allclose(harness.actions[-1][0], want, atol=1e-6)
    assert not np.allclose(harness.actions[-1][0], BASE)
    assert any(status.message == "took learner weights v3" for status in harness.statuses)
    # an actor started later (a restarted node) gets the latched weights at once, between episodes
    late = actor_node(rclpy_context)
    deadline = time.monotonic() + 10.0
    while late.version is None and time.monotonic() < deadline:
        rclpy_context.spin_once(timeout_s=0.1)
    assert late.version == 3


def drive_episode(graph: Graph, queued_ticks: int) -> None:
    """A 5-tick training episode that times out, a person driving tick 2; the messages of each tick are published
    together before the learner spins, and those of ticks 1 and 2 too when ``queued_ticks`` is 2."""
    graph.event(event="start", episode=1, seed=1, mode="train")
    for tick in range(5):
        graph.publish_observation(tick, reward=None if tick == 0 else 0.25 * tick)
        graph.publish_act(intervening=tick == 2)
        if not (queued_ticks == 2 and tick == 1):
            time.sleep(0.05)
            graph.settle()
    graph.publish_observation(5, reward=0.0)
    graph.publish_event(event="timeout", episode=1)
    graph.publish_act(command=False)  # the base action on the final observation closes the last step
    time.sleep(0.05)
    graph.settle()


@pytest.mark.parametrize("queued_ticks", [1, 2])
def test_the_learner_stores_the_steps_it_stores_in_process_on_real_rclpy(
    rclpy_context: RclpyContext, demos: Path, checkpoint: Path, tmp_path: Path, queued_ticks: int
) -> None:
    inproc = InprocContext()
    reference = LearnerNode(context=inproc, cli_args=learner_args(demos, checkpoint, tmp_path / "inproc"))
    drive_episode(Graph(inproc, inproc.spin_until_quiet), queued_ticks=1)
    learner = LearnerNode(context=rclpy_context, cli_args=learner_args(demos, checkpoint, tmp_path / "rclpy"))
    graph = Graph(rclpy_context, lambda: settle(rclpy_context))
    wait_for_subscribers(graph, rclpy_context)
    drive_episode(graph, queued_ticks)
    assert learner.steps.dropped == reference.steps.dropped == 0
    counters = {name: value for name, value in reference.trainer.summary().items() if name != "critic_loss"}
    assert counters["online"] == 5
    assert counters["corrections"] == 1  # tick 2, the person's
    assert {name: learner.trainer.summary()[name] for name in counters} == counters
    for buffer in ("online", "corrections"):  # corrections: the transition the person's flag labelled
        ours, theirs = getattr(learner.trainer, buffer), getattr(reference.trainer, buffer)
        for name in FIELDS:
            np.testing.assert_array_equal(
                ours.arrays[name][: len(theirs)], theirs.arrays[name][: len(theirs)], err_msg=f"{buffer} {name}"
            )
    learner.destroy_node()
    reference.destroy_node()


def test_the_whole_training_graph_trains_as_separate_processes_on_real_rclpy(
    demos: Path, checkpoint: Path, tmp_path: Path
) -> None:
    """train.launch.yaml under `robot-rl launch --backend rclpy`: one process per node (sim, sim slot source, base,
    residual actor, arbiter, safety gate, learner, training driver) as ros2 launch starts them, every message over
    Fast DDS, and the sim stepping on its wall timer instead of in lockstep. The driver requests every episode,
    waits for the learner's reports, and ends the launch once the budget and its final evaluation are done."""
    import signal
    import subprocess
    import sys

    from tests.test_train_residual import LEARNER_PARAMS, curve_steps

    params = tmp_path / "learner.yaml"
    params.write_text(LEARNER_PARAMS)
    out = tmp_path / "run"
    command = [
        str(Path(sys.executable).parent / "robot-rl"),
        "launch",
        "--backend",
        "rclpy",
        "launch/train.launch.yaml",
        "task:=Lift",
        f"base:={checkpoint}",
        f"demos:={demos}",
        f"out:={out}",
        "steps:=60",
        "eval_every_steps:=1000",
        "eval_episodes:=1",
        "horizon_steps:=25",
        f"learner_params:={params}",
        f"calibration_dir:={tmp_path / 'calibration'}",
    ]
    repo = Path(__file__).resolve().parents[2]
    launcher = subprocess.Popen(command, cwd=repo, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        output = launcher.communicate(timeout=600)[1]  # no Ctrl-C: the driver ends the launch
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)  # the launcher and every node it started
    assert "[training_driver]: shutdown requested: trained" in output, output[-5000:]
    assert launcher.returncode == 0, output[-5000:]
    steps = curve_steps(out)
    assert steps[0] == 0, steps  # the base alone, before any update
    assert steps[-1] >= 60, steps  # the final evaluation, at the budget
    with open(out / METRICS_FILE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    train = [row for row in rows if row["mode"] == "train"]
    assert train
    assert int(train[-1]["env_steps"]) >= 60
    assert int(train[-1]["updates"]) > 0  # the learner trained on what crossed DDS
    assert load_residual(out / ACTOR_DIR).metadata.task == "Lift"
