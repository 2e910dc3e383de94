"""The residual node (the actor) on the in-process backend: zero residual, a checkpoint, weights from the learner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from robot_rl.action_space import ACTION_NAMES, actions_to_trajectory, trajectory_to_actions
from robot_rl.errors import PolicyError
from robot_rl.perception.slot_msgs import slots_to_pointcloud2
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import FINGER_JOINTS, residual_observation_names
from robot_rl.policies.residual_node import WEIGHTS_TOPIC, ResidualNode, UInt8MultiArray
from robot_rl.rl.checkpoint import ResidualMetadata, encode_actor_weights, load_residual, save_residual
from robot_rl.rl.td3 import ResidualTD3, TD3Config
from robot_rl.runtime import LATCHED, Node, msg
from robot_rl.runtime.diagnostics import ERROR, level_of
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_joint_state
from robot_rl.runtime.node import Context

NUM_SLOTS = 2
NAMES = residual_observation_names(NUM_SLOTS)


def trained_learner(seed: int = 0, scale: float = 0.2, exploration_noise: float = 0.05) -> ResidualTD3:
    """A learner whose actor outputs a non-zero residual (its zero-initialized last layer set at random)."""
    config = TD3Config(seed=seed, residual_scale=scale, exploration_noise=exploration_noise)
    learner = ResidualTD3(config, obs_dim=len(NAMES))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        learner.actor.head.weight.copy_(torch.randn(learner.actor.head.weight.shape, generator=generator))
        learner.actor.head.bias.copy_(torch.randn(learner.actor.head.bias.shape, generator=generator))
    return learner


METADATA = ResidualMetadata(obs_features=tuple(NAMES), task="Lift", base_weights_hash="0" * 64)


class Harness(Node):
    """Publishes one tick's observation and base chunk; records the node's outputs."""

    def __init__(self, context: Context, settle: Callable[[], object]) -> None:
        """``settle`` runs every callback the harness's messages trigger (the backend's own way)."""
        super().__init__("harness", context=context)
        self.settle = settle
        self.actions: list[np.ndarray] = []
        self.residuals: list[np.ndarray] = []
        self.statuses: list[Any] = []
        self.ee = self.create_publisher(msg.PoseStamped, "/robot_rl/ee_pose", 10)
        self.joints = self.create_publisher(msg.JointState, "/joint_states", 10)
        self.slots = self.create_publisher(msg.PointCloud2, "/robot_rl/slots", 10)
        self.base = self.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.weights = self.create_publisher(UInt8MultiArray, WEIGHTS_TOPIC, LATCHED)
        self.create_subscription(
            msg.JointTrajectory, "/robot_rl/policy_action", lambda m: self.actions.append(trajectory_to_actions(m)), 10
        )
        self.create_subscription(
            msg.JointTrajectory, "/robot_rl/residual", lambda m: self.residuals.append(trajectory_to_actions(m)), 10
        )
        self.create_subscription(msg.DiagnosticArray, "/diagnostics", lambda m: self.statuses.extend(m.status), 10)

    def observation(self, x: float = 0.5) -> np.ndarray:
        """Publish an observation and let the node take it; return its vector as the node assembles it."""
        vector = self.publish_observation(x)
        self.settle()
        return vector

    def publish_observation(self, x: float = 0.5) -> np.ndarray:
        """Publish an observation (end-effector pose ``x`` m); return its vector as the node assembles it."""
        header = msg.Header(frame_id="base_link")
        pose = msg.Pose(position=msg.Point(x=x, y=0.0, z=0.1), orientation=msg.Quaternion(w=1.0))
        self.ee.publish(msg.PoseStamped(header=header, pose=pose))
        self.joints.publish(numpy_to_joint_state(list(FINGER_JOINTS), np.array([0.02, -0.02]), header=header))
        slots = np.zeros((NUM_SLOTS, len(SLOT_FIELDS)), dtype=np.float32)
        slots[0, :4] = [1.0, 0.6, 0.05, -0.08]
        self.slots.publish(slots_to_pointcloud2(slots, header))
        state = np.array([x, 0.0, 0.1, 0.0, 0.0, 0.0, 1.0, 0.02, -0.02], dtype=np.float32)
        return np.concatenate([state, slots.reshape(-1)])

    def tick(self, base: np.ndarray) -> None:
        """Publish a two-point base chunk starting with ``base``."""
        self.publish_base(base)
        self.settle()

    def publish_base(self, base: np.ndarray) -> None:
        """Publish a two-point base chunk starting with ``base``, without spinning."""
        self.base.publish(actions_to_trajectory(np.stack([base, np.zeros(7)]), 0.05))

    def event(self, **payload: Any) -> None:
        self.episode.publish(msg.String(data=json.dumps(payload)))
        self.settle()


def build(args: list[str] | None = None) -> tuple[ResidualNode, Harness]:
    context = InprocContext()
    node = ResidualNode(context=context, cli_args=["--ros-args", "-p", f"num_slots:={NUM_SLOTS}", *(args or [])])
    return node, Harness(context, context.spin_until_quiet)


BASE = np.array([0.3, -0.2, 0.1, 0.0, 0.05, -0.05, 0.9])


def test_zero_residual_forwards_the_base_action_bit_for_bit() -> None:
    _, harness = build()
    harness.tick(BASE)
    assert len(harness.actions) == 1
    assert harness.actions[0][0].tobytes() == BASE.tobytes()
    np.testing.assert_array_equal(harness.residuals[0][0], np.zeros(7))


def test_an_untrained_actor_checkpoint_reproduces_the_base_exactly(tmp_path: Path) -> None:
    save_residual(tmp_path / "zero", ResidualTD3(TD3Config(), obs_dim=len(NAMES)), METADATA)
    _, harness = build(["-p", f"residual_path:={tmp_path / 'zero'}"])
    harness.observation()
    harness.tick(BASE)
    assert harness.actions[0][0].tobytes() == BASE.tobytes()


def test_a_trained_actor_adds_its_bounded_residual(tmp_path: Path) -> None:
    save_residual(tmp_path / "actor", trained_learner(), METADATA)
    bundle = load_residual(tmp_path / "actor")
    _, harness = build(["-p", f"residual_path:={tmp_path / 'actor'}"])
    observation = harness.observation()
    harness.tick(BASE)
    expected, residual = bundle.act(observation, BASE)
    np.testing.assert_allclose(harness.actions[0][0], expected, atol=1e-6)
    np.testing.assert_allclose(harness.residuals[0][0], residual, atol=1e-6)
    assert np.any(np.abs(residual) > 1e-3)
    assert np.all(np.abs(residual) <= 0.2 + 1e-6)


def test_a_missing_observation_publishes_nothing(tmp_path: Path) -> None:
    save_residual(tmp_path / "actor", trained_learner(), METADATA)
    _, harness = build(["-p", f"residual_path:={tmp_path / 'actor'}"])
    harness.tick(BASE)
    assert harness.actions == []
    assert "no action: no observation yet" in harness.statuses[-1].message


def test_weights_from_the_learner_are_taken_only_between_episodes() -> None:
    node, harness = build()
    harness.event(event="start", episode=0)
    blob = encode_actor_weights(trained_learner(), METADATA, version=3)
    harness.weights.publish(UInt8MultiArray(data=list(blob)))
    harness.settle()
    harness.observation()
    harness.tick(BASE)
    assert harness.actions[-1][0].tobytes() == BASE.tobytes()  # mid-episode: still the zero residual
    harness.event(event="success", episode=0)
    harness.event(event="start", episode=1)
    assert node.version == 3
    harness.observation()
    harness.tick(BASE)
    assert not np.array_equal(harness.actions[-1][0], BASE)
    assert any(s.message == "took learner weights v3" for s in harness.statuses)


def test_malformed_weights_are_ignored_with_a_diagnostic() -> None:
    node, harness = build()
    blob = encode_actor_weights(trained_learner(), METADATA, version=1)
    harness.weights.publish(UInt8MultiArray(data=list(blob[: len(blob) // 2])))
    harness.settle()
    assert node.actor is None
    assert level_of(harness.statuses[-1]) == ERROR
    assert "ignored weights: residual weights message is truncated or corrupt" in harness.statuses[-1].message


def test_exploration_noise_only_while_exploring_and_never_in_eval_episodes(tmp_path: Path) -> None:
    save_residual(tmp_path / "actor", trained_learner(exploration_noise=0.1), METADATA)
    _, harness = build(["-p", f"residual_path:={tmp_path / 'actor'}", "-p", "explore:=true"])
    bundle = load_residual(tmp_path / "actor")
    for mode, noisy in (("train", True), ("eval", False)):
        harness.event(event="start", episode=0, mode=mode)
        observation = harness.observation()
        harness.tick(BASE)
        deterministic = bundle.act(observation, BASE)[1]
        assert (not np.allclose(harness.residuals[-1][0], deterministic, atol=1e-6)) is noisy, mode
        harness.event(event="timeout", episode=0)


def test_the_noise_std_is_the_one_the_actor_records_so_a_learner_params_file_sets_it(tmp_path: Path) -> None:
    """td3.exploration_noise reaches the residual node through the weights (a learner params file sets it)."""
    spreads = []
    for std in (0.0, 0.02, 0.1):
        # a residual well inside a wide bound, so the noise is never clipped at the bound here
        learner = trained_learner(scale=2.0, exploration_noise=std)
        with torch.no_grad():
            learner.actor.head.weight.mul_(0.01)
            learner.actor.head.bias.mul_(0.01)
        save_residual(tmp_path / f"actor{std}", learner, METADATA)
        _, harness = build(["-p", f"residual_path:={tmp_path / f'actor{std}'}", "-p", "explore:=true"])
        harness.event(event="start", episode=0, mode="train", seed=7)
        harness.observation()
        for _ in range(200):
            harness.tick(BASE)
        spreads.append(float(np.std(np.array(harness.residuals)[:, 0, :3], axis=0).mean()))
    assert spreads[0] == 0.0
    # one observation throughout: the published residual is the actor's (fixed) plus the noise
    assert 0.015 < spreads[1] < 0.025, spreads
    assert 0.07 < spreads[2] < 0.12, spreads


def test_exploring_with_a_checkpoint_that_does_not_record_its_noise_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "actor"
    save_residual(directory, trained_learner(), METADATA)
    config = json.loads((directory / "config.json").read_text())
    del config["td3_config"]
    (directory / "config.json").write_text(json.dumps(config))
    build(["-p", f"residual_path:={directory}"])  # a deterministic actor needs no noise
    with pytest.raises(PolicyError, match=r"explore needs the actor's td3_config\.exploration_noise"):
        build(["-p", f"residual_path:={directory}", "-p", "explore:=true"])


def test_exploration_noise_follows_the_episode_seed_so_a_resumed_run_explores_as_before(tmp_path: Path) -> None:
    save_residual(tmp_path / "actor", trained_learner(exploration_noise=0.1), METADATA)
    args = ["-p", f"residual_path:={tmp_path / 'actor'}", "-p", "explore:=true"]

    def residuals(seeds: list[int], node_seed: int = 0) -> list[np.ndarray]:
        _, harness = build([*args, "-p", f"seed:={node_seed}"])
        for seed in seeds:
            harness.event(event="start", episode=0, mode="train", seed=seed)
            harness.observation()
            harness.tick(BASE)
            harness.tick(BASE)
            harness.event(event="timeout", episode=0)
        return harness.residuals

    uninterrupted = residuals([300_000, 300_001])
    resumed = residuals([300_001])  # a fresh node (a resumed run) starting at the second episode
    np.testing.assert_array_equal(resumed[0], uninterrupted[2])
    np.testing.assert_array_equal(resumed[1], uninterrupted[3])
    assert not np.array_equal(uninterrupted[0], uninterrupted[1])  # the stream runs on within an episode
    assert not np.array_equal(uninterrupted[0], uninterrupted[2])  # and differs between episodes
    assert not np.array_equal(residuals([300_000], node_seed=1)[0], uninterrupted[0])  # the node's seed counts


def test_a_negative_exploration_seed_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"seed >= 0; got .* -1$"):
        build(["-p", "seed:=-1"])


def test_a_checkpoint_for_other_features_is_refused_at_startup(tmp_path: Path) -> None:
    other = ResidualMetadata(obs_features=tuple(residual_observation_names(3)), task="Lift", base_weights_hash="0")
    save_residual(tmp_path / "actor", ResidualTD3(TD3Config(), obs_dim=len(other.obs_features)), other)
    with pytest.raises(PolicyError, match="trained on 42 observation features, the caller feeds 31"):
        build(["-p", f"residual_path:={tmp_path / 'actor'}"])


def test_a_residual_trained_on_another_base_is_refused(tmp_path: Path) -> None:
    save_residual(tmp_path / "actor", trained_learner(), METADATA)
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(PolicyError, match="retrain the residual for this base"):
        build(["-p", f"residual_path:={tmp_path / 'actor'}", "-p", f"base_path:={base}"])


def test_drops_a_malformed_base_action() -> None:
    _, harness = build()
    harness.base.publish(msg.JointTrajectory(joint_names=list(ACTION_NAMES)))  # no points
    harness.settle()
    assert [(level_of(s), s.message) for s in harness.statuses] == [
        (ERROR, "dropped base action: action trajectory has no points")
    ]
    assert harness.actions == []
