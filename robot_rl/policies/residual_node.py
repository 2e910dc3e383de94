"""The residual node: the actor of the residual RL corrector.

Subscribes ``/robot_rl/base_action`` (the base policy's chunk; point 0 is this tick's action), the
observation inputs the base policy reads (``/robot_rl/ee_pose``, ``/joint_states``, ``/robot_rl/slots``,
assembled by :class:`ObservationAssembler` exactly as the base and the recorder assemble them),
``/robot_rl/episode`` and ``/robot_rl/residual/weights`` (std_msgs/UInt8MultiArray, latched: a safetensors
blob from the learner, :func:`~robot_rl.rl.checkpoint.encode_actor_weights`).

Publishes ``/robot_rl/policy_action`` = ``clip(base + r, -1, 1)`` with ``r = bound * tanh(MLP(obs, base))``
(``residual_scale`` on the motion axes, ``gripper_residual_scale`` on the gripper; one point),
``/robot_rl/residual`` (the residual it applied, one point) and ``/diagnostics`` (the residual's version and
source at every episode start and swap).

Without ``residual_path`` and before any weights arrive the residual is zero and the base action goes out
exactly as it came (today's pass-through); in training that holds until the learner's first actor update, so the
critic's warm-up data is the base's own behaviour. With ``explore`` (training only) Gaussian noise is added to the
residual, of the std the actor records (``td3_config.exploration_noise``: the learner's, so a learner params file
sets it), except in episodes whose start event says ``"mode": "eval"``;
an episode whose start event names its sim ``seed`` draws its noise from ``(seed parameter, episode seed)``, so a
training run resumed from a checkpoint explores as it would have without the interruption.
New weights are taken only between episodes (never mid-episode): they wait until the next ``start`` event.
A tick whose observation is incomplete or not finite publishes nothing (ERROR diagnostic): the safety
gate's watchdog then holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.action_space import actions_to_trajectory, trajectory_to_actions
from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import LearnerError, MessageError, PolicyError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.checkpoint_info import checkpoint_fingerprint
from robot_rl.policies.features import ObservationAssembler, residual_observation_names
from robot_rl.rl.checkpoint import ResidualActorBundle, decode_actor_weights, load_residual
from robot_rl.rl.networks import act_numpy
from robot_rl.runtime import LATCHED, Node, NodeMain, diagnostics, msg

WEIGHTS_TOPIC = "/robot_rl/residual/weights"
END_EVENTS = ("success", "timeout", "failure")  # episode events after which weights may be swapped in
UInt8MultiArray = msg.message_class("std_msgs/msg/UInt8MultiArray")


class ResidualNode(Node):
    """Thin ROS wrapper around a :class:`ResidualActorBundle` (or the zero residual)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("residual", **kwargs)
        declare = self.declare_parameter
        self.period_s = declare("control_period_s", 0.05, "control tick, s (time_from_start of the point)").value
        path = declare("residual_path", "", "residual actor checkpoint directory; '' = zero residual").value
        base_path = declare("base_path", "", "the base checkpoint, to check the residual was trained on it").value
        num_slots = declare("num_slots", 6, "K, object slots in /robot_rl/slots (as the base policy's)").value
        embedding_size = declare("embedding_size", 0, "learned-embedding size per slot (as perception's)").value
        self.explore = declare("explore", False, "add exploration noise to the residual (training only)").value
        self.seed = declare("seed", 0, "seed of the exploration noise, >= 0").value
        if not self.period_s > 0 or num_slots < 1 or embedding_size < 0 or self.seed < 0:
            raise PolicyError(
                "need control_period_s > 0, num_slots >= 1, embedding_size >= 0, seed >= 0;"
                f" got {self.period_s}, {num_slots}, {embedding_size}, {self.seed}"
            )
        self.obs_features = residual_observation_names(num_slots, len(SLOT_FIELDS) + embedding_size)
        self.base_hash = checkpoint_fingerprint(Path(base_path)) if base_path else None
        self.actor: ResidualActorBundle | None = None
        self.version: int | None = None  # None: a checkpoint from disk (or no residual)
        self.source = "zero residual"
        if path:
            self.actor = load_residual(Path(path), self.obs_features, expected_base_hash=self.base_hash)
            self._check_explorable(self.actor, path)
            self.source = f"{path} (sha256 {self.actor.model_sha256[:16]})"
        self.pending: tuple[ResidualActorBundle, int] | None = None  # weights waiting for the next episode
        self.in_episode = False
        self.exploring = self.explore
        self.rng = np.random.default_rng(self.seed)
        self.assembler = ObservationAssembler(num_slots)
        self.published = 0
        self.action_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/policy_action", 10)
        self.residual_pub = self.create_publisher(msg.JointTrajectory, "/robot_rl/residual", 10)
        self.report = diagnostics.Reporter(self)
        take = self.report.guard
        # weights and episode events first, the base action that triggers an action last: rclpy's executor runs
        # callbacks that are ready together in subscription order (the in-process backend in publish order)
        self.create_subscription(UInt8MultiArray, WEIGHTS_TOPIC, self.on_weights, LATCHED)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        self.create_subscription(msg.PoseStamped, "/robot_rl/ee_pose", take(self.assembler.on_ee_pose), 10)
        self.create_subscription(msg.JointState, "/joint_states", take(self.assembler.on_joint_states), 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", take(self.assembler.on_slots), 10)
        self.create_subscription(msg.JointTrajectory, "/robot_rl/base_action", self.on_base_action, 10)
        self.get_logger().info(f"residual: {self.source}; explore {str(self.explore).lower()}")

    # -- weights and episodes ------------------------------------------------------------------------

    def on_weights(self, message: Any) -> None:
        """Keep new weights from the learner; they are swapped in between episodes."""
        try:
            actor, version = decode_actor_weights(
                bytes(message.data), self.obs_features, expected_base_hash=self.base_hash
            )
            self._check_explorable(actor, f"weights v{version}")
        except PolicyError as error:
            self.report(diagnostics.ERROR, f"ignored weights: {error}")
            return
        self.pending = actor, version
        if not self.in_episode:
            self._swap()

    def on_episode(self, event: Any) -> None:
        """On ``start``: swap in pending weights, clear the observation, pick explore or eval for the episode."""
        payload = parse_episode_event(event)
        if payload is None:
            self.report(diagnostics.WARN, f"ignored malformed episode event {event.data!r}")
            return
        kind = payload["event"]
        if kind in END_EVENTS:
            self.in_episode = False
        if kind != "start":
            return
        self._swap()
        self.in_episode = True
        self.assembler.clear()
        self.exploring = self.explore and payload.get("mode") != "eval"
        episode_seed = payload.get("seed")
        if isinstance(episode_seed, int) and not isinstance(episode_seed, bool) and episode_seed >= 0:
            # the episode's own stream: a resumed run does not replay the noise its first episodes drew
            self.rng = np.random.default_rng((self.seed, episode_seed))
        self.report(
            diagnostics.OK,
            f"episode start: {self.source}",
            version=self.version,
            explore=self.exploring,
        )

    def _check_explorable(self, actor: ResidualActorBundle, name: str) -> None:
        """With ``explore``, the actor must record the noise it explores with (a learner's always does)."""
        if self.explore and actor.exploration_noise is None:
            raise PolicyError(f"explore needs the actor's td3_config.exploration_noise; {name} does not record it")

    def _swap(self) -> None:
        if self.pending is None:
            return
        self.actor, self.version = self.pending
        self.pending = None
        self.source = f"learner weights v{self.version}"
        self.report(diagnostics.OK, f"took {self.source}", version=self.version)

    # -- the tick ------------------------------------------------------------------------------------

    def on_base_action(self, trajectory: Any) -> None:
        """Add the residual to point 0 of the base chunk and publish it with the residual."""
        try:
            base = trajectory_to_actions(trajectory)[0]
        except MessageError as error:
            self.report(diagnostics.ERROR, f"dropped base action: {error}")
            return
        if self.actor is None:
            action, residual = base, np.zeros_like(base)  # exactly the base action
        else:
            try:
                observation = self.assembler.frame().vector()
                std = self.actor.exploration_noise if self.exploring else None
                noise = None if std is None else self.rng.normal(0.0, std, base.shape)
                action, residual = act_numpy(self.actor.normalizer, self.actor.actor, observation, base, noise)
            except (MessageError, LearnerError) as error:
                self.report(diagnostics.ERROR, f"no action: {error}")
                return
        self.action_pub.publish(actions_to_trajectory(action, self.period_s, trajectory.header))
        self.residual_pub.publish(actions_to_trajectory(residual, self.period_s, trajectory.header))
        self.published += 1


main = NodeMain(ResidualNode)
