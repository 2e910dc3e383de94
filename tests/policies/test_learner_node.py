"""The learner node on the in-process backend: one tick's messages in the graph's order become steps, and an
episode is logged and checkpointed only once its last step is stored."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_rl.action_space import actions_to_trajectory
from robot_rl.errors import LearnerError
from robot_rl.perception.slot_msgs import slots_to_pointcloud2
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import FINGER_JOINTS
from robot_rl.policies.learner_node import TICK_TOPIC, LearnerNode
from robot_rl.policies.residual_node import WEIGHTS_TOPIC, UInt8MultiArray
from robot_rl.rl.trainer import METRICS_FILE
from robot_rl.runtime import LATCHED, Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state
from robot_rl.runtime.node import Context

NUM_SLOTS = 6  # the session's demos (collect-demos' perception) and the checkpoint trained on them
ACTION = np.array([0.1, 0.0, -0.1, 0.0, 0.0, 0.0, -1.0])


class Graph(Node):
    """Publishes what the sim, base, arbiter and safety gate publish on one control tick."""

    def __init__(self, context: Context, settle: Callable[[], object]) -> None:
        """``settle`` runs every callback the graph's messages trigger (the backend's own way)."""
        super().__init__("graph", context=context)
        self.context = context
        self.settle = settle
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.slots = self.create_publisher(msg.PointCloud2, "/robot_rl/slots", 10)
        self.reward = self.create_publisher(msg.Float32, "/robot_rl/reward", 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.base = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.intervention = self.create_publisher(msg.Bool, "/robot_rl/intervention", 10)
        self.safe = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def event(self, **payload: Any) -> None:
        self.publish_event(**payload)
        self.settle()

    def publish_event(self, **payload: Any) -> None:
        """Publish an episode event, without spinning."""
        self.episode.publish(msg.String(data=json.dumps(payload)))

    def observation(self, tick: int, reward: float | None) -> None:
        """The sim's new observation, with the reward of the previous tick's command; the learner takes it."""
        self.publish_observation(tick, reward)
        self.settle()

    def publish_observation(self, tick: int, reward: float | None) -> None:
        """Publish the sim's new observation and the reward of the previous tick's command, without spinning."""
        header = msg.Header(frame_id="base_link")
        pose = msg.Pose(position=msg.Point(x=0.5 + 0.01 * tick, y=0.0, z=0.1), orientation=msg.Quaternion(w=1.0))
        self.ee.publish(msg.PoseStamped(header=header, pose=pose))
        self.joints.publish(numpy_to_joint_state(list(FINGER_JOINTS), np.array([0.02, -0.02]), header=header))
        slots = np.zeros((NUM_SLOTS, len(SLOT_FIELDS)), dtype=np.float32)
        slots[0, :4] = [1.0, 0.6, 0.05, -0.08]
        self.slots.publish(slots_to_pointcloud2(slots, header))
        if reward is not None:
            self.reward.publish(msg.Float32(data=reward))

    def act(self, command: bool = True) -> None:
        """The base action for the latest observation, then (unless the episode ended) the applied command."""
        self.publish_act(command)
        self.settle()

    def publish_act(self, command: bool = True, intervening: bool = False) -> None:
        """Publish what :meth:`act` publishes (``intervening``: the arbiter's flag), without spinning."""
        self.base.publish(actions_to_trajectory(ACTION, 0.05))
        if command:
            self.intervention.publish(msg.Bool(data=intervening))
            self.safe.publish(actions_to_trajectory(ACTION, 0.05))

    def run_episode(self, seed: int, ticks: int, end: str, final_base_action: bool = True) -> None:
        """A training episode of ``ticks`` commands that ends with ``end``."""
        self.event(event="start", episode=seed, seed=seed, mode="train")
        for tick in range(ticks):
            self.observation(tick, reward=None if tick == 0 else 0.0)
            self.act()
        self.observation(ticks, reward=1.0 if end == "success" else 0.0)
        self.event(event=end, episode=seed)
        if final_base_action:
            self.act(command=False)  # the graph still computes the base action on the final observation


def learner_args(demos: Path, checkpoint: Path, out: Path, overrides: dict[str, Any] | None = None) -> list[str]:
    """The learner's command line: a tiny TD3 on the session's demos and base, no update unless overridden."""
    params: dict[str, Any] = {
        "out_dir": str(out),
        "base_path": str(checkpoint),
        "demos": str(demos),
        "task": "Lift",
        "num_slots": NUM_SLOTS,
        "td3.batch_size": 8,
        "td3.actor_hidden": [16],
        "td3.critic_hidden": [16],
        "trainer.own_process": False,
        "trainer.learning_starts_steps": 1000,  # no updates: these tests are about what is stored when
        "trainer.checkpoint_every_steps": 1,  # a checkpoint after every training episode
        **(overrides or {}),
    }
    args = ["--ros-args"]
    for name, value in params.items():
        args += ["-p", f"{name}:={json.dumps(value) if not isinstance(value, str) else value}"]
    return args


def build(
    demos: Path, checkpoint: Path, out: Path, overrides: dict[str, Any] | None = None
) -> tuple[LearnerNode, Graph]:
    context = InprocContext()
    learner = LearnerNode(context=context, cli_args=learner_args(demos, checkpoint, out, overrides))
    return learner, Graph(context, context.spin_until_quiet)


def metrics_rows(out: Path) -> list[dict[str, str]]:
    with open(out / METRICS_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_time_out_is_checkpointed_with_its_last_steps(demos: Path, checkpoint: Path, tmp_path: Path) -> None:
    learner, graph = build(demos, checkpoint, tmp_path)
    graph.run_episode(seed=1, ticks=5, end="timeout")
    assert [row["length"] for row in metrics_rows(tmp_path)] == ["5"]
    assert metrics_rows(tmp_path)[0]["env_steps"] == "5"  # logged after the last step, not at the event
    resumed, _ = build(demos, checkpoint, tmp_path)
    assert resumed.trainer.env_steps == 5
    assert len(resumed.trainer.online) == 5  # the held step and the n-step tail were in the checkpoint
    assert (resumed.trainer.online.arrays["discount"][:5] > 0).all()  # a time-out: every one bootstraps
    learner.destroy_node()
    resumed.destroy_node()


def test_a_success_is_logged_and_checkpointed_at_its_event(demos: Path, checkpoint: Path, tmp_path: Path) -> None:
    learner, graph = build(demos, checkpoint, tmp_path)
    graph.run_episode(seed=1, ticks=4, end="success", final_base_action=False)
    assert metrics_rows(tmp_path)[0]["success"] == "1"
    resumed, _ = build(demos, checkpoint, tmp_path)
    assert resumed.trainer.env_steps == 4
    assert len(resumed.trainer.online) == 4
    assert resumed.trainer.online.arrays["discount"][3] == 0.0  # a success: the last one does not bootstrap
    learner.destroy_node()
    resumed.destroy_node()


def test_a_time_out_without_its_final_base_action_is_finished_by_the_next_start(
    demos: Path, checkpoint: Path, tmp_path: Path
) -> None:
    learner, graph = build(demos, checkpoint, tmp_path)
    graph.run_episode(seed=1, ticks=3, end="timeout", final_base_action=False)
    assert not (tmp_path / METRICS_FILE).exists()  # still waiting for the last step
    graph.event(event="start", episode=2, seed=2, mode="train")
    assert [row["env_steps"] for row in metrics_rows(tmp_path)] == ["2"]  # the last step never closed
    assert learner.steps.dropped == 1
    learner.destroy_node()


def test_a_persons_success_key_ends_the_episode_on_the_tick_the_person_judged(
    demos: Path, checkpoint: Path, tmp_path: Path
) -> None:
    """The arbiter publishes a key after its tick's command, before the gate passes it: that tick's base action has
    closed the tick before, which becomes the episode's last step, terminated with the success reward."""
    learner, graph = build(demos, checkpoint, tmp_path)
    graph.event(event="start", episode=1, seed=1, mode="train")
    for tick in range(3):
        graph.observation(tick, reward=None if tick == 0 else 0.0)
        graph.act()
    graph.observation(3, reward=0.0)  # the sim saw no success; the person does
    graph.base.publish(actions_to_trajectory(ACTION, 0.05))
    graph.intervention.publish(msg.Bool(data=False))
    graph.publish_event(event="success", source="human")
    graph.safe.publish(actions_to_trajectory(ACTION, 0.05))  # the gate passes the command after the key
    graph.settle()
    assert [(row["success"], row["length"]) for row in metrics_rows(tmp_path)] == [("1", "3")]
    online = learner.trainer.online
    assert len(online) == 3
    assert online.arrays["reward"][2] == 1.0  # the last step: the person's success
    assert online.arrays["discount"][2] == 0.0  # terminated
    assert learner.steps.dropped == 0  # the key's tick: its command was never to be executed
    learner.destroy_node()


@pytest.mark.parametrize("own_process", [False, True])
def test_a_failed_checkpoint_ends_training_and_keeps_the_last_good_one(
    demos: Path, checkpoint: Path, tmp_path: Path, own_process: bool
) -> None:
    """A checkpoint that cannot be written (a full disk, a path taken) ends training with one error, in either
    placement of the trainer, and the stop writes nothing over the last good checkpoint."""
    learner, graph = build(demos, checkpoint, tmp_path, {"trainer.own_process": own_process})
    graph.run_episode(seed=1, ticks=3, end="timeout")
    shutil.rmtree(tmp_path / "residual")
    (tmp_path / "residual").write_text("a file where the actor's directory goes")
    with pytest.raises(LearnerError, match=r"checkpoint to .* failed: "):
        graph.run_episode(seed=2, ticks=3, end="timeout")
    learner.destroy_node()  # the stop that follows: no second error, no checkpoint
    (tmp_path / "residual").unlink()
    resumed, _ = build(demos, checkpoint, tmp_path)
    assert resumed.trainer.env_steps == 3  # the first episode's checkpoint, not the failed one's
    assert [row["episode"] for row in metrics_rows(tmp_path)] == ["1"]
    resumed.destroy_node()


@pytest.mark.parametrize("own_process", [False, True])
def test_a_stop_in_the_middle_of_an_episode_keeps_its_steps_and_moves_on_to_the_next_seed(
    demos: Path, checkpoint: Path, tmp_path: Path, own_process: bool
) -> None:
    """Ctrl-C mid-episode: the episode ends at its last complete step, as a time-out would, and is counted, so the
    resumed run neither loses its last steps nor replays its seed."""
    learner, graph = build(demos, checkpoint, tmp_path, {"trainer.own_process": own_process})
    graph.event(event="start", episode=1, seed=1, mode="train")
    for tick in range(3):
        graph.observation(tick, reward=None if tick == 0 else 0.0)
        graph.act()
    graph.observation(3, reward=0.0)
    graph.act()  # tick 3 executed, never scored: it is dropped
    learner.destroy_node()  # the stop
    resumed, _ = build(demos, checkpoint, tmp_path)
    assert resumed.trainer.env_steps == 3
    assert len(resumed.trainer.online) == 3  # ticks 0-2, the n-step tail included
    assert (resumed.trainer.online.arrays["discount"][:3] > 0).all()  # truncated: every one bootstraps
    assert resumed.trainer.episodes == 1  # the next run starts the next seed
    assert [(row["success"], row["length"]) for row in metrics_rows(tmp_path)] == [("0", "3")]
    resumed.destroy_node()


def test_a_first_actor_update_on_an_episodes_last_step_publishes_the_weights(
    demos: Path, checkpoint: Path, tmp_path: Path
) -> None:
    """The trainer in its own process acknowledges steps late; the episode's end must still see that update."""
    overrides = {
        "trainer.own_process": True,
        "trainer.learning_starts_steps": 3,  # the 4th and last step of the episode runs the first update
        "td3.utd_ratio": 1,
        "td3.critic_warmup_updates": 0,
        "td3.actor_update_every": 1,  # so that update moves the actor too
    }
    learner, graph = build(demos, checkpoint, tmp_path, overrides)
    received: list[Any] = []
    graph.create_subscription(UInt8MultiArray, WEIGHTS_TOPIC, received.append, LATCHED)
    graph.run_episode(seed=1, ticks=4, end="success", final_base_action=False)
    assert learner.trainer.actor_updates == 1
    assert len(received) == 1  # published at the episode's end, not one episode late
    learner.destroy_node()


def test_subscriptions_follow_the_order_a_transition_needs(demos: Path, checkpoint: Path, tmp_path: Path) -> None:
    """rclpy runs callbacks that are ready together in subscription order: reward and events before the base action
    that closes the last tick, the flag before the executed command."""
    learner, graph = build(demos, checkpoint, tmp_path / "out")
    topics = [sub.topic_name for sub in graph.context.graph.all_subscriptions() if sub.node.fqn == "/learner"]
    assert topics == [
        "/robot_rl/reward",
        "/robot_rl/episode",
        "/robot_rl/ee_pose",
        "/joint_states",
        "/robot_rl/slots",
        "/robot_rl/base_action",
        "/robot_rl/intervention",
        "/robot_rl/safe_command",
    ]
    learner.destroy_node()


def test_each_executed_command_is_answered_with_the_stamp_of_its_ticks_observation(
    demos: Path, checkpoint: Path, tmp_path: Path
) -> None:
    """A sim with wait_for_learner steps only once the learner has taken in the last observation's tick."""
    learner, graph = build(demos, checkpoint, tmp_path / "out")
    ticks: list[int] = []
    graph.create_subscription(msg.Header, TICK_TOPIC, lambda h: ticks.append(h.stamp.sec * 10**9 + h.stamp.nanosec), 10)
    graph.event(event="start", episode=0, seed=0, mode="train")
    for tick, stamp in enumerate((msg.Time(sec=3, nanosec=50_000_000), msg.Time(sec=3, nanosec=100_000_000))):
        graph.observation(tick, reward=None if tick == 0 else 0.0)
        graph.base.publish(actions_to_trajectory(ACTION, 0.05, msg.Header(stamp=stamp)))
        graph.settle()
        assert ticks == [3_050_000_000] * tick  # not before the tick's command
        graph.safe.publish(actions_to_trajectory(ACTION, 0.05, msg.Header(stamp=msg.Time(sec=9))))
        graph.settle()
    assert ticks == [3_050_000_000, 3_100_000_000]  # the observation's stamp, not the command's
    learner.destroy_node()
