"""Residual TD3: a bounded residual on a frozen base policy, learned off-policy (one readable file, CleanRL style).

The executed action is ``clip(base + r, -1, 1)`` with ``r = bound * tanh(actor(obs, base))`` (``bound``:
``residual_scale`` on the motion components, ``gripper_residual_scale`` on the gripper); the critic
ensemble scores the EXECUTED action ``Q_h(obs, a)`` (what the safety gate applied, a person's takeover included),
so it needs no separate base input. One :meth:`ResidualTD3.update` call is one critic update on a batch of n-step
transitions (``robot_rl.rl.replay``):

    next_r = clip(actor_target(next_obs, next_base) + clip(N(0, target_noise), +-target_noise_clip), +-bound)
    next_a = clip(next_base + next_r, -1, 1)
    y      = n_step_return + discount * min(Q'_i, Q'_j)(next_obs, next_a)      with {i, j} a random pair of heads
    L_Q    = mean over heads and batch of (Q_h(obs, action) - y)^2

and, every ``actor_update_every`` critic updates once ``critic_warmup_updates`` have passed, one actor update
``L_pi = -mean_h Q_h(obs, clip(base + actor(obs, base), -1, 1))`` followed by the Polyak update of the targets.
With ``residual_penalty`` or ``offline_imitation`` the Q term is divided by its batch scale and the actor is also
pulled towards the base (every row) and towards the residual the offline data applied (demonstrations and a
person's corrections), as TD3+BC does.
The training loop (not here) decides how many updates per env step (``utd_ratio``) and what to sample.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from robot_rl.errors import LearnerError
from robot_rl.rl.networks import (
    CriticEnsemble,
    ObservationNormalizer,
    ResidualActor,
    act_numpy,
    check_hidden,
    polyak_update,
)
from robot_rl.rl.replay import ACTION_FIELDS, OBS_FIELDS, OFFLINE_FIELD, SCALAR_FIELDS

BATCH_FIELDS = ("obs", "base_action", "action", "next_obs", "next_base_action", "discount", "n_step_return")


@dataclass
class TD3Config:
    """Hyperparameters of :class:`ResidualTD3` (actions and noises in normalized action units, [-1, 1])."""

    gamma: float = 0.99  # discount per control tick, in (0, 1] (ResFiT: 0.99; 0.995 on long tasks)
    n_step: int = 3  # control ticks per TD backup (n-step return), >= 1; 1 = one-step TD
    batch_size: int = 256  # transitions per update (half online, half offline with sample_mixed), >= 2
    actor_hidden: tuple[int, ...] = (256, 256)  # actor MLP hidden widths (Linear -> LayerNorm -> ReLU each)
    critic_hidden: tuple[int, ...] = (256, 256)  # critic hidden widths, the same for every head
    num_critics: int = 2  # critic heads; the target takes the min of a random pair of them, >= 2
    # Learning rates, > 0. ResFiT uses critic 1e-4 / actor 1e-6 with 2x1024 nets and 10 heads. Adam moves each
    # weight by about lr per step whatever the width, so a 1024-wide layer's output moves ~4x more per step than
    # a 256-wide one's: 3e-4 is the usual Adam step for 256-wide TD3 critics (CleanRL, TD3 paper), and the
    # actor stays 3x slower than the critic (two timescales). 1e-6 on our nets would hardly move the residual
    # in a CPU budget of ~1e5 env steps; the zero-initialized, tanh-bounded residual, the policy delay and
    # the critic warm-up keep it conservative instead. Measure and lower if the residual oscillates.
    critic_lr: float = 3e-4  # AdamW learning rate of the critic ensemble, > 0
    actor_lr: float = 1e-4  # AdamW learning rate of the residual actor, > 0
    weight_decay: float = 0.0  # AdamW decoupled weight decay of both networks, >= 0
    tau: float = 0.005  # Polyak rate of the target networks per target update, in (0, 1]
    target_noise: float = 0.1  # std of the Gaussian smoothing noise on the target action, >= 0
    target_noise_clip: float = 0.3  # the target noise is clipped to +-this, >= 0 (then the residual to its bound)
    exploration_noise: float = 0.05  # std of the Gaussian noise on the residual when act(explore=True), >= 0
    residual_scale: float = 0.2  # bound on each motion component of the residual (tanh * scale), in (0, 2]
    # Bound on the gripper component, in (0, 2]. robosuite's gripper moves by the SIGN of its command, so with a
    # base at +-1 a gripper residual below 1 never changes what the gripper does; 2 lets the residual open or
    # close it against the base (re-grasp after a miss). The safety gate bounds it again (its own
    # gripper_residual_scale), so a larger value here needs the gate's too.
    gripper_residual_scale: float = 0.2
    utd_ratio: int = 2  # critic updates per env step (read by the training loop), >= 1
    actor_update_every: int = 2  # policy delay: one actor + target update per this many critic updates, >= 1
    # Critic-only updates before the actor first moves, >= 0 (ResFiT: 10k; at utd_ratio 2 this is 1k env
    # steps, a few episodes, so the critic has seen real returns before it steers the residual).
    critic_warmup_updates: int = 2000
    grad_clip_norm: float = 1.0  # max global L2 norm of each network's gradient per step, > 0
    # Weight of mean((r / bound)^2) in the actor loss (each component over its own bound), >= 0; the Q term is
    # divided by the batch's mean |Q| (TD3+BC's normalization), so the weight does not depend on the reward
    # scale. 0 = ResFiT's plain -Q.
    # Without it, Adam's per-weight steps add up coherently over a layer: a first Stack run at actor_lr 3e-6
    # drove the residual to 0.15 of its 0.2 bound in 3,000 actor updates, following the critic's extrapolation
    # outside the data, and success fell from 53 % to 0 % (docs/rl.md). At weight 1 the penalty's pull on one
    # component, 2 r / (action_dim * bound^2) (the mean runs over the 7 components), balances a normalized Q
    # gradient of 1 per unit action at r = 7 * bound^2 / 2: 0.14 for a 0.2 bound (70 % of it); with a gripper
    # bound of 2.0 that point lies beyond the bound, so on the gripper the penalty never outweighs such a Q slope.
    residual_penalty: float = 0.0
    # Weight of the imitation term on the batch's OFFLINE rows, >= 0: mean((r - r_data) / bound)^2 with
    # r_data = clip(action - base_action, +-bound), the residual the demonstrator or the person who
    # corrected applied on top of the base (TD3+BC's behaviour cloning towards the data's own action). This is
    # how a person's corrections teach the actor directly instead of only through the sparse-reward critic.
    # 0 = off; with it the Q term is normalized as with residual_penalty.
    offline_imitation: float = 0.0
    seed: int = 0  # seeds the network init and the learner's torch generator (target noise, head pair), >= 0
    num_threads: int | None = None  # torch.set_num_threads at construction, >= 1; None = leave torch alone
    device: str = "cpu"  # torch device of the networks ("cpu", "cuda", "cuda:0", ...)

    def __post_init__(self) -> None:
        self.actor_hidden = check_hidden(_fielded(self.actor_hidden, "actor_hidden"), "TD3Config.actor_hidden")
        self.critic_hidden = check_hidden(_fielded(self.critic_hidden, "critic_hidden"), "TD3Config.critic_hidden")
        for name, minimum in (
            ("n_step", 1),
            ("batch_size", 2),
            ("num_critics", 2),
            ("utd_ratio", 1),
            ("actor_update_every", 1),
            ("critic_warmup_updates", 0),
            ("seed", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise LearnerError(f"TD3Config.{name} must be an int >= {minimum}, got {value!r}")
        if self.num_threads is not None and (
            isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) or self.num_threads < 1
        ):
            raise LearnerError(f"TD3Config.num_threads must be None or an int >= 1, got {self.num_threads!r}")
        _check_float(self, "gamma", 0.0, 1.0, "in (0, 1]", low_open=True)
        _check_float(self, "tau", 0.0, 1.0, "in (0, 1]", low_open=True)
        _check_float(self, "residual_scale", 0.0, 2.0, "in (0, 2]", low_open=True)
        _check_float(self, "gripper_residual_scale", 0.0, 2.0, "in (0, 2]", low_open=True)
        for name in ("critic_lr", "actor_lr", "grad_clip_norm"):
            _check_float(self, name, 0.0, math.inf, "finite and > 0", low_open=True)
        for name in (
            "weight_decay",
            "target_noise",
            "target_noise_clip",
            "exploration_noise",
            "residual_penalty",
            "offline_imitation",
        ):
            _check_float(self, name, 0.0, math.inf, "finite and >= 0", low_open=False)
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as error:
            raise LearnerError(f"TD3Config.device {self.device!r} is not a torch device: {error}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise LearnerError(f"TD3Config.device {self.device!r} is not available on this machine")

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (tuples as lists)."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TD3Config:
        """The config from :meth:`to_dict`'s output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise LearnerError(f"TD3Config has no field(s) {', '.join(unknown)}")
        return cls(**values)


def _fielded(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise LearnerError(f"TD3Config.{name} must be a sequence of ints >= 1, got {value!r}")
    return tuple(value)


def _check_float(config: TD3Config, name: str, low: float, high: float, valid: str, low_open: bool) -> None:
    value = getattr(config, name)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise LearnerError(f"TD3Config.{name} must be {valid}, got {value!r}")


class ResidualTD3:
    """The residual actor, the critic ensemble, their targets and optimizers, and TD3's update.

    Args:
        config: Hyperparameters.
        obs_dim: Observation size.
        action_dim: Action size (7).
        obs_mean: (obs_dim,) observation mean for normalization, observation units; None = zeros.
        obs_std: (obs_dim,) observation std, floored at 1e-6; None = ones. Both live in the normalizer's
            buffers, so checkpoints carry them.
    """

    def __init__(
        self,
        config: TD3Config,
        obs_dim: int,
        action_dim: int = 7,
        obs_mean: np.ndarray | None = None,
        obs_std: np.ndarray | None = None,
    ) -> None:
        if isinstance(obs_dim, bool) or not isinstance(obs_dim, int) or obs_dim < 1:
            raise LearnerError(f"obs_dim must be an int >= 1, got {obs_dim!r}")
        if isinstance(action_dim, bool) or not isinstance(action_dim, int) or action_dim < 1:
            raise LearnerError(f"action_dim must be an int >= 1, got {action_dim!r}")
        self.config = config
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        self.device = torch.device(config.device)
        mean = np.zeros(obs_dim, np.float32) if obs_mean is None else np.asarray(obs_mean, np.float32)
        std = np.ones(obs_dim, np.float32) if obs_std is None else np.asarray(obs_std, np.float32)
        if mean.shape != (obs_dim,) or std.shape != (obs_dim,):
            raise LearnerError(f"obs_mean and obs_std must be ({obs_dim},), got {mean.shape} and {std.shape}")
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG
            torch.manual_seed(config.seed)
            self.normalizer = ObservationNormalizer(mean, std)
            self.actor = ResidualActor(
                obs_dim, action_dim, config.actor_hidden, config.residual_scale, config.gripper_residual_scale
            )
            self.critic = CriticEnsemble(obs_dim, action_dim, config.critic_hidden, config.num_critics)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        for module in (self.normalizer, self.actor, self.critic, self.actor_target, self.critic_target):
            module.to(self.device)
        self.actor_optimizer = torch.optim.AdamW(
            self.actor.parameters(), lr=config.actor_lr, weight_decay=config.weight_decay
        )
        self.critic_optimizer = torch.optim.AdamW(
            self.critic.parameters(), lr=config.critic_lr, weight_decay=config.weight_decay
        )
        self.generator = torch.Generator().manual_seed(config.seed)  # target noise and head pairs (CPU)
        self.critic_updates = 0  # critic updates done
        self.actor_updates = 0  # actor updates done

    # ----------------------------------------------------------------------------------------------- acting
    def act(
        self, obs: np.ndarray, base_action: np.ndarray, explore: bool = False, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The executed action and the residual for ONE observation (numpy in and out, no gradients).

        Args:
            obs: (obs_dim,) raw observation.
            base_action: (action_dim,) base action, normalized units.
            explore: Add N(0, exploration_noise) to the residual (needs ``rng``); False is deterministic.
            rng: The noise source when exploring.

        Returns:
            ``(executed, residual)``: ``clip(base + residual, -1, 1)`` and the residual (noise included, within
            the actor's bound) before that clip. An untrained actor returns the base action exactly when not exploring.
        """
        noise = None
        if explore:
            if rng is None:
                raise LearnerError("act(explore=True) needs an rng for the exploration noise")
            noise = rng.normal(0.0, self.config.exploration_noise, size=self.action_dim)
        return act_numpy(self.normalizer, self.actor, obs, base_action, noise)

    # --------------------------------------------------------------------------------------------- learning
    def random_pair(self) -> torch.Tensor:
        """Two distinct critic head indices drawn from the learner's generator: (2,) int64."""
        return torch.randperm(self.config.num_critics, generator=self.generator)[:2]

    @torch.no_grad()
    def compute_target(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The TD target ``y = n_step_return + discount * min over a random head pair of Q'`` : (B,).

        ``batch`` holds tensors as :meth:`to_tensors` returns (raw observations).
        """
        next_obs = self.normalizer(batch["next_obs"])
        next_base = batch["next_base_action"]
        noise = torch.randn(next_base.shape, generator=self.generator).to(self.device) * self.config.target_noise
        noise = noise.clamp(-self.config.target_noise_clip, self.config.target_noise_clip)
        # The smoothed residual stays within the actor's bound, as TD3 keeps its target action in the action
        # space: the policy can execute nothing beyond it (the safety gate bounds the residual too), so online
        # data has no such actions and Q there is extrapolation.
        bound = self.actor_target.bound
        next_residual = (self.actor_target(next_obs, next_base) + noise).clamp(-bound, bound)
        next_action = (next_base + next_residual).clamp(-1.0, 1.0)
        next_q = self.critic_target(next_obs, next_action)  # (H, B)
        min_q = next_q[self.random_pair().to(self.device)].min(dim=0).values
        return batch["n_step_return"] + batch["discount"] * min_q

    def update(self, batch: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, float]:
        """One critic update and, when due, one actor update with the Polyak update of the targets.

        Args:
            batch: {field: (B, ...) array} with the fields of ``BATCH_FIELDS`` (``ReplayBuffer.sample`` or
                ``sample_mixed`` output, whose ``offline`` row marks the imitation term reads; other extra fields
                are ignored).

        Returns:
            ``critic_loss``, ``q_mean`` (mean Q over heads and batch), ``target_mean`` (mean TD target),
            ``actor_loss`` and ``residual_abs_mean`` (mean |residual| on the batch; both NaN without an actor
            step, which saves an actor pass), ``critic_grad_norm`` (before clipping), ``updates`` (critic
            updates so far) and ``actor_updates``.
        """
        data = self.to_tensors(batch)
        cfg = self.config
        target = self.compute_target(data)  # (B,)
        obs = self.normalizer(data["obs"])
        q = self.critic(obs, data["action"])  # (H, B)
        critic_loss = F.mse_loss(q, target.expand_as(q))
        if not torch.isfinite(critic_loss):
            raise LearnerError(f"critic loss is {critic_loss.item()} (non-finite rewards or diverged critic)")
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip_norm)
        self.critic_optimizer.step()
        self.critic_updates += 1

        base = data["base_action"]
        actor_loss = residual_abs_mean = math.nan
        delayed = self.critic_updates % cfg.actor_update_every == 0
        if delayed and self.critic_updates > cfg.critic_warmup_updates:
            residual = self.actor(obs, base)
            self.critic.requires_grad_(False)  # the actor loss needs d/da only, not the critic's weight grads
            q_actor = self.critic(obs, (base + residual).clamp(-1.0, 1.0))
            actor_loss_t = -q_actor.mean()
            if cfg.residual_penalty > 0 or cfg.offline_imitation > 0:  # TD3+BC-style: Q normalized by its scale
                actor_loss_t = actor_loss_t / q_actor.abs().mean().detach().clamp_min(1e-6)
                actor_loss_t = actor_loss_t + self._regularizer(residual, data)
            self.critic.requires_grad_(True)
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss_t.backward()
            nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip_norm)
            self.actor_optimizer.step()
            polyak_update(self.actor_target, self.actor, cfg.tau)
            self.actor_updates += 1
            actor_loss = actor_loss_t.item()
            residual_abs_mean = residual.detach().abs().mean().item()
        if delayed:  # the critic target also follows during the warm-up, else it would fit a frozen target
            polyak_update(self.critic_target, self.critic, cfg.tau)
        return {
            "critic_loss": critic_loss.item(),
            "q_mean": q.detach().mean().item(),
            "target_mean": target.mean().item(),
            "actor_loss": actor_loss,
            "residual_abs_mean": residual_abs_mean,
            "critic_grad_norm": float(grad_norm),
            "updates": float(self.critic_updates),
            "actor_updates": float(self.actor_updates),
        }

    def _regularizer(self, residual: torch.Tensor, data: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The actor loss's pull towards the base (every row) and towards the offline data's residual (offline rows)."""
        cfg = self.config
        scale = self.actor.bound  # (action_dim,): each component normalized by its own bound
        loss = cfg.residual_penalty * (residual / scale).pow(2).mean()
        offline = data.get(OFFLINE_FIELD)
        if cfg.offline_imitation > 0 and offline is not None and bool(offline.any()):
            data_residual = (data["action"] - data["base_action"]).clamp(-scale, scale)
            per_row = ((residual - data_residual) / scale).pow(2).mean(dim=1)
            loss = loss + cfg.offline_imitation * (per_row * offline).sum() / offline.sum()
        return loss

    def to_tensors(self, batch: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        """Check a batch's fields and shapes and return them as float32 tensors on the learner's device."""
        missing = [name for name in BATCH_FIELDS if name not in batch]
        if missing:
            raise LearnerError(f"update batch lacks {', '.join(missing)}")
        names = (*BATCH_FIELDS, OFFLINE_FIELD) if OFFLINE_FIELD in batch else BATCH_FIELDS
        data = {name: torch.as_tensor(batch[name], dtype=torch.float32, device=self.device) for name in names}
        size = data["n_step_return"].shape[0] if data["n_step_return"].ndim == 1 else -1
        for name, tensor in data.items():
            width = self.obs_dim if name in OBS_FIELDS else self.action_dim if name in ACTION_FIELDS else None
            expected = (size,) if name in (*SCALAR_FIELDS, OFFLINE_FIELD) else (size, width)
            if tuple(tensor.shape) != expected or size < 1:
                raise LearnerError(f"update batch field {name} must have shape {expected}, got {tuple(tensor.shape)}")
        return data

    # ------------------------------------------------------------------------------------------ checkpoints
    def _modules(self) -> dict[str, nn.Module]:
        return {
            "normalizer": self.normalizer,
            "actor": self.actor,
            "critic": self.critic,
            "actor_target": self.actor_target,
            "critic_target": self.critic_target,
        }

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything a resumed run needs as a flat {name: CPU tensor} (safetensors-ready; no pickle).

        Keys: ``<module>.<param>`` for the normalizer, actor, critic and both targets;
        ``<optimizer>.state.<param index>.<name>`` for AdamW's moments and step counts; ``generator_state``;
        ``counters`` = [critic_updates, actor_updates].
        """
        state: dict[str, torch.Tensor] = {}
        for prefix, module in self._modules().items():
            for name, tensor in module.state_dict().items():
                state[f"{prefix}.{name}"] = tensor.detach().cpu().clone()
        for prefix, optimizer in self._optimizers().items():
            for index, param_state in optimizer.state_dict()["state"].items():
                for name, value in param_state.items():
                    state[f"{prefix}.state.{index}.{name}"] = torch.as_tensor(value).detach().cpu().clone()
        state["generator_state"] = self.generator.get_state().clone()
        state["counters"] = torch.tensor([self.critic_updates, self.actor_updates], dtype=torch.int64)
        return state

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict`'s output into this learner (built with the same config and dimensions).

        Raises:
            LearnerError: If a key is missing or unexpected, or a shape does not match.
        """
        for key in ("generator_state", "counters"):
            if key not in state:
                raise LearnerError(f"learner state lacks {key}")
        claimed = {"generator_state", "counters"}
        for prefix, module in self._modules().items():
            sub = {key[len(prefix) + 1 :]: value for key, value in state.items() if key.startswith(prefix + ".")}
            claimed.update(f"{prefix}.{key}" for key in sub)
            try:
                module.load_state_dict(sub, strict=True)
            except RuntimeError as error:
                summary = " ".join(str(error).split())
                raise LearnerError(f"learner state does not fit the {prefix}: {summary}") from None
        for prefix, optimizer in self._optimizers().items():
            current = optimizer.state_dict()
            num_params = len(current["param_groups"][0]["params"])
            restored: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in state.items():
                if not key.startswith(prefix + ".state."):
                    continue
                claimed.add(key)
                index_text, _, name = key[len(prefix) + len(".state.") :].partition(".")
                if not index_text.isdigit() or int(index_text) >= num_params or not name:
                    raise LearnerError(f"learner state has an unexpected optimizer entry {key}")
                restored.setdefault(int(index_text), {})[name] = value.clone()
            try:
                optimizer.load_state_dict({"state": restored, "param_groups": current["param_groups"]})
            except (RuntimeError, ValueError, KeyError) as error:
                raise LearnerError(f"learner state does not fit the {prefix}: {error}") from None
        unexpected = sorted(set(state) - claimed)
        if unexpected:
            raise LearnerError(f"learner state has unexpected entries: {', '.join(unexpected[:5])}")
        counters = state["counters"]
        if tuple(counters.shape) != (2,):
            raise LearnerError(f"learner state counters must have shape (2,), got {tuple(counters.shape)}")
        try:
            self.generator.set_state(state["generator_state"].clone())
        except RuntimeError as error:
            raise LearnerError(f"learner state has an invalid generator_state: {error}") from None
        self.critic_updates, self.actor_updates = (int(value) for value in counters.tolist())
