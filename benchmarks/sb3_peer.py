"""The from-scratch peer of ``benchmarks/residual_rl.py``: Stable-Baselines3 SAC on the residual's observations.

:class:`ResidualObservationEnv` is a gymnasium Env over the robosuite sim without rendering and the sim slot source,
built as the training graph builds them (``launch/train.launch.yaml``): the same observation vector as the residual
(:func:`robot_rl.policies.features.residual_observation_names`: ``observation.state`` then the K slots), the same
sparse reward (robosuite's, 1 on success), the same horizon, an episode that ends on success or timeout, the same
slot noise model, reseeded per episode from ``(seed, episode seed)``. Differences from the residual, on purpose:
no base policy (the action is the whole 7-dim normalized command, clipped to [-1, 1] by the sim) and no safety gate
(the gate's residual bound needs a base action, its watchdog and workspace a ROS graph).

:func:`train_sac` trains SAC (SB3 defaults except the replay buffer, sized to the budget) for a number of env steps,
evaluates the deterministic policy every ``eval_every_steps`` on fixed unseen seeds (as the residual's curve does,
written as the same ``curve.csv``), checkpoints the model and its replay buffer at each evaluation, and resumes from
that checkpoint after an interruption.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from robot_rl.action_space import ACTION_DIM
from robot_rl.policies.features import residual_observation_names
from robot_rl.policies.learning_curve import CURVE_FILE, PLOT_FILE, CurvePoint, plot_curve, read_curve, write_curve
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS, Observation, RobosuiteAdapter, SimConfig
from robot_rl.sim.slot_source import SimSlotSource, load_slot_table, yaw_about_z
from robot_rl.sim.slot_source_node import default_table_path

NUM_SLOTS = 6  # K: the sim slot source node's and perception's num_slots (config/sim_perception.yaml)
MODEL_FILE = "sac.zip"
REPLAY_FILE = "replay_buffer.pkl"
STATE_FILE = "peer_state.json"  # counters a resumed run needs besides the model: training episodes, wall time


class ResidualObservationEnv(gym.Env[np.ndarray, np.ndarray]):
    """Robosuite (state only) + sim slot source as a gymnasium Env with the residual's observation vector.

    Episode ``i`` uses the sim seed ``train_seed + i`` unless ``reset(options={"episode_seed": s})`` names one.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        task: str,
        horizon_steps: int | None = None,
        slot_noise: str = "perception_v1",
        noise_seed: int = 0,
        train_seed: int = 0,
    ) -> None:
        self.task = task
        self.horizon_steps = horizon_steps or RECOMMENDED_HORIZON_STEPS.get(task, 200)
        self.adapter = RobosuiteAdapter(SimConfig(task=task, horizon_steps=self.horizon_steps, render_camera=False))
        self.slots = SimSlotSource(
            load_slot_table(default_table_path()), task, NUM_SLOTS, noise=slot_noise, seed=noise_seed
        )
        self.names = residual_observation_names(NUM_SLOTS, self.slots.slot_size)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (len(self.names),), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), dtype=np.float32)
        self.next_train_seed = train_seed

    def _vector(self, observation: Observation) -> np.ndarray:
        poses = [observation.object_poses[name] for name in TASK_OBJECTS[self.task]]
        positions = np.array([pose.position_m for pose in poses])
        yaws = [yaw_about_z(pose.quaternion_xyzw) for pose in poses]
        slots = self.slots.update(positions, observation.ee_position_m, yaws_rad=yaws)
        state = np.concatenate(
            [observation.ee_position_m, observation.ee_quaternion_xyzw, observation.gripper_finger_positions_m]
        )
        return np.concatenate([state, slots.reshape(-1)]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode on the requested sim seed, or the next training seed."""
        super().reset(seed=seed)
        episode_seed = (options or {}).get("episode_seed")
        if episode_seed is None:
            episode_seed, self.next_train_seed = self.next_train_seed, self.next_train_seed + 1
        self.slots.reset(int(episode_seed))
        return self._vector(self.adapter.reset(seed=int(episode_seed))), {"episode_seed": episode_seed}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One control step: terminated on success, truncated at the horizon."""
        observation, reward, flags = self.adapter.step(np.asarray(action, dtype=np.float64))
        return self._vector(observation), reward, flags.success, flags.timeout and not flags.success, {}

    def close(self) -> None:
        """Release the simulator."""
        self.adapter.close()


def evaluate_model(model: Any, env: ResidualObservationEnv, seeds: range) -> tuple[int, int]:
    """Successes and episodes of the deterministic policy on the given sim seeds."""
    successes = 0
    for episode_seed in seeds:
        observation, _ = env.reset(options={"episode_seed": episode_seed})
        while True:
            action, _ = model.predict(observation, deterministic=True)
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                successes += int(terminated)
                break
    return successes, len(seeds)


@dataclass(frozen=True)
class PeerConfig:
    """What :func:`train_sac` runs."""

    task: str
    out: Path  # curve.csv, curve.png, the checkpoint (sac.zip, replay_buffer.pkl, peer_state.json)
    steps: int  # training env steps
    eval_every_steps: int = 10_000
    eval_episodes: int = 50
    eval_seed: int = 100_000  # the residual's evaluation seeds
    train_seed: int = 300_000  # the residual's training seeds (TrainResidualConfig.train_seed)
    seed: int = 0  # SAC and slot-noise seed
    horizon_steps: int | None = None
    slot_noise: str = "perception_v1"


@dataclass(frozen=True)
class PeerResult:
    """The learning curve and the training throughput of a SAC run."""

    curve: list[CurvePoint]
    env_steps: int
    updates: int
    train_wall_s: float  # training wall time without the evaluations, s (resumed runs included)
    model_path: Path


def train_sac(config: PeerConfig) -> PeerResult:
    """Train (or resume) SAC from scratch; returns its learning curve, evaluated as the residual's is."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)  # as the residual learner (config/learner.yaml): one torch thread
    config.out.mkdir(parents=True, exist_ok=True)
    state_path, model_path = config.out / STATE_FILE, config.out / MODEL_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() and model_path.exists() else None
    env = ResidualObservationEnv(
        config.task,
        config.horizon_steps,
        config.slot_noise,
        config.seed,
        config.train_seed + (state or {}).get("episodes", 0),
    )
    eval_env = ResidualObservationEnv(config.task, config.horizon_steps, config.slot_noise, config.seed)
    eval_seeds = range(config.eval_seed, config.eval_seed + config.eval_episodes)
    if state is not None:
        model = SAC.load(model_path, env=env, seed=config.seed)
        model.load_replay_buffer(config.out / REPLAY_FILE)
    else:
        model = SAC("MlpPolicy", env, buffer_size=max(config.steps, 1), seed=config.seed, verbose=0)
    wall_offset_s = (state or {}).get("wall_s", 0.0)
    eval_offset_s = (state or {}).get("eval_s", 0.0)
    curve = read_curve(config.out / CURVE_FILE, model.num_timesteps)

    class EvalCallback(BaseCallback):
        """Evaluate when due (and at the end of the budget) and checkpoint."""

        def __init__(self) -> None:
            super().__init__()
            self.started = time.monotonic()
            self.eval_s = eval_offset_s
            self.next_eval_at = curve[-1].env_steps + config.eval_every_steps if curve else 0

        def wall_s(self) -> float:
            return wall_offset_s + time.monotonic() - self.started

        def evaluate_now(self) -> None:
            start = time.monotonic()
            successes, episodes = evaluate_model(self.model, eval_env, eval_seeds)
            self.eval_s += time.monotonic() - start
            steps = self.model.num_timesteps
            curve.append(CurvePoint(steps, self.wall_s(), successes, episodes, self.model._n_updates))
            self.next_eval_at = steps + config.eval_every_steps
            write_curve(config.out / CURVE_FILE, curve)
            title = f"SAC from scratch on {config.task}"
            plot_curve(config.out / PLOT_FILE, curve, title, label="SAC (deterministic)", base_line=False)
            self.model.save(model_path)
            self.model.save_replay_buffer(config.out / REPLAY_FILE)
            episodes_done = env.next_train_seed - config.train_seed
            payload = {"episodes": episodes_done, "wall_s": self.wall_s(), "eval_s": self.eval_s}
            state_path.write_text(json.dumps(payload))

        def _on_training_start(self) -> None:
            if not curve:
                self.evaluate_now()  # 0 steps: the untrained policy

        def _on_step(self) -> bool:
            if self.model.num_timesteps >= self.next_eval_at:
                self.evaluate_now()
            return True

        def _on_training_end(self) -> None:
            if not curve or curve[-1].env_steps != self.model.num_timesteps:
                self.evaluate_now()

    callback = EvalCallback()
    remaining = config.steps - model.num_timesteps
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=False)
    elif not curve or curve[-1].env_steps != model.num_timesteps:
        callback.init_callback(model)
        callback.evaluate_now()
    env.close()
    eval_env.close()
    train_wall_s = callback.wall_s() - callback.eval_s
    return PeerResult(curve, model.num_timesteps, model._n_updates, train_wall_s, model_path)


def final_success(config: PeerConfig, model_path: Path, episodes: int, seed: int) -> tuple[int, int]:
    """Successes and episodes of the saved deterministic policy on sim seeds ``seed``..

    The slots come from the exact sim slot source (noise ``none``), as in ``evaluate(..., slot_source="sim")``.
    """
    from stable_baselines3 import SAC

    env = ResidualObservationEnv(config.task, config.horizon_steps, "none", config.seed)
    try:
        return evaluate_model(SAC.load(model_path), env, range(seed, seed + episodes))
    finally:
        env.close()
