"""The residual actor, the critic ensemble and the observation normalizer (torch modules).

Shapes: ``B`` is the batch, ``H`` the number of critic heads, ``obs_dim`` the observation size and
``action_dim`` the action size (7: ``[dx, dy, dz, droll, dpitch, dyaw, gripper]``). Actions and residuals are
in normalized action units ([-1, 1]); observations are normalized by :class:`ObservationNormalizer` before
they reach a network.

- :class:`ResidualActor`: ``r = bound * tanh(MLP([obs, base_action]))`` with the last layer zero-initialized,
  so an untrained residual is exactly 0 and ``base + r == base`` bit for bit. ``bound`` is ``residual_scale`` on
  every component but the last (the gripper), which has its own ``gripper_residual_scale``.
- :class:`CriticEnsemble`: ``H`` Q-functions ``Q_h(obs, executed_action)`` computed in one batched pass
  (stacked weights and ``torch.baddbmm``, not a loop over heads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from robot_rl.errors import LearnerError

STD_FLOOR = 1e-6  # smallest observation std the normalizer divides by, observation units


def check_hidden(hidden: Sequence[int], name: str) -> tuple[int, ...]:
    """``hidden`` as a tuple of layer widths; LearnerError unless it is a non-empty sequence of ints >= 1."""
    sizes = tuple(hidden)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise LearnerError(f"{name} must be a non-empty sequence of ints >= 1, got {hidden!r}")
    return sizes


def _check_dim(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LearnerError(f"{name} must be an int >= 1, got {value!r}")
    return value


class ObservationNormalizer(nn.Module):
    """``(obs - mean) / std`` with fixed statistics kept as buffers, so checkpoints carry them.

    Args:
        mean: (obs_dim,) observation mean, observation units.
        std: (obs_dim,) observation standard deviation, observation units; floored at ``STD_FLOOR``.
    """

    def __init__(self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor) -> None:
        super().__init__()
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32))
        if mean_t.ndim != 1 or std_t.shape != mean_t.shape or len(mean_t) == 0:
            raise LearnerError(
                f"observation mean and std must both be (obs_dim,), got {tuple(mean_t.shape)} and {tuple(std_t.shape)}"
            )
        if not bool(torch.isfinite(mean_t).all() and torch.isfinite(std_t).all()):
            raise LearnerError("observation mean and std must be finite")
        if bool((std_t < 0).any()):
            raise LearnerError("observation std must be >= 0")
        self.register_buffer("mean", mean_t.clone())
        self.register_buffer("std", std_t.clamp_min(STD_FLOOR))

    @property
    def obs_dim(self) -> int:
        """The observation size."""
        return int(self.mean.shape[0])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(..., obs_dim) raw observation -> (..., obs_dim) normalized observation."""
        return (obs - self.mean) / self.std


class ResidualActor(nn.Module):
    """The residual policy ``r = bound * tanh(last(h))``, ``h = MLP([obs, base_action])``.

    ``bound`` is ``residual_scale`` on every component but the last and ``gripper_residual_scale`` on the last
    (the gripper in ``robot_rl.action_space``). robosuite's gripper moves by the sign of its command, so a
    gripper residual below 1 changes the gripper only where the base commands less than it in magnitude.

    Each hidden layer is Linear -> LayerNorm -> ReLU. The last Linear's weight and bias are zero, so an
    untrained actor outputs exactly 0 and its residual always lies within ``[-bound, bound]``.

    Args:
        obs_dim: Size of the normalized observation.
        action_dim: Size of the base action and of the residual (7).
        hidden: Widths of the hidden layers.
        residual_scale: Bound on each motion component of the residual, normalized action units (e.g.
            0.1-0.2); kept as a buffer so the checkpoint carries it.
        gripper_residual_scale: Bound on the gripper component, normalized action units; None = residual_scale.
            Kept as a buffer too.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int = 7,
        hidden: Sequence[int] = (256, 256),
        residual_scale: float = 0.2,
        gripper_residual_scale: float | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = _check_dim(obs_dim, "obs_dim")
        self.action_dim = _check_dim(action_dim, "action_dim")
        self.hidden = check_hidden(hidden, "actor hidden")
        gripper_scale = residual_scale if gripper_residual_scale is None else gripper_residual_scale
        for name, value in (("residual_scale", residual_scale), ("gripper_residual_scale", gripper_scale)):
            if not (math.isfinite(value) and value > 0):
                raise LearnerError(f"{name} must be finite and > 0, got {value!r}")
        layers: list[nn.Module] = []
        width = obs_dim + action_dim
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.LayerNorm(size), nn.ReLU()]
            width = size
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, action_dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("residual_scale", torch.tensor(float(residual_scale), dtype=torch.float32))
        self.register_buffer("gripper_residual_scale", torch.tensor(float(gripper_scale), dtype=torch.float32))

    @property
    def bound(self) -> torch.Tensor:
        """(action_dim,) bound on each residual component, normalized action units."""
        motion = self.residual_scale.expand(self.action_dim - 1)
        return torch.cat([motion, self.gripper_residual_scale.reshape(1)])

    def forward(self, obs: torch.Tensor, base_action: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) normalized observation, (B, action_dim) base action in [-1, 1] -> (B, action_dim) residual."""
        features = self.trunk(torch.cat([obs, base_action], dim=-1))
        return self.bound * torch.tanh(self.head(features))


class EnsembleLinear(nn.Module):
    """``H`` independent Linear layers as one stacked weight: (H, B, in) -> (H, B, out) with ``torch.baddbmm``.

    Each head is initialized like ``nn.Linear`` (kaiming uniform with a = sqrt(5), i.e. weight and bias
    uniform in +-1/sqrt(in)).
    """

    def __init__(self, num_heads: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_heads, in_features, out_features))  # (H, in, out)
        self.bias = nn.Parameter(torch.empty(num_heads, 1, out_features))  # (H, 1, out)
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's kaiming_uniform_(a=sqrt(5)) bound, and its bias bound
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(H, B, in) -> (H, B, out); a (B, in) input is shared by every head."""
        if x.ndim == 2:
            x = x.unsqueeze(0).expand(self.weight.shape[0], -1, -1)
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the feature dimension with a separate affine (weight, bias) per head: (H, B, F) -> (H, B, F)."""

    def __init__(self, num_heads: int, features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.features = features
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_heads, 1, features))  # (H, 1, F)
        self.bias = nn.Parameter(torch.zeros(num_heads, 1, features))  # (H, 1, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(H, B, F) -> (H, B, F)."""
        return torch.addcmul(self.bias, F.layer_norm(x, (self.features,), eps=self.eps), self.weight)


class CriticEnsemble(nn.Module):
    """``num_heads`` Q-functions of (observation, executed action), evaluated in one batched pass.

    Each head is Linear -> LayerNorm -> ReLU per hidden layer, then Linear to one value.

    Args:
        obs_dim: Size of the normalized observation.
        action_dim: Size of the executed action (7).
        hidden: Widths of the hidden layers (the same for every head).
        num_heads: Number of independent heads, >= 1.
    """

    def __init__(
        self, obs_dim: int, action_dim: int = 7, hidden: Sequence[int] = (256, 256), num_heads: int = 2
    ) -> None:
        super().__init__()
        self.obs_dim = _check_dim(obs_dim, "obs_dim")
        self.action_dim = _check_dim(action_dim, "action_dim")
        self.num_heads = _check_dim(num_heads, "num_heads")
        self.hidden = check_hidden(hidden, "critic hidden")
        layers: list[nn.Module] = []
        width = obs_dim + action_dim
        for size in self.hidden:
            layers += [EnsembleLinear(num_heads, width, size), EnsembleLayerNorm(num_heads, size), nn.ReLU()]
            width = size
        layers.append(EnsembleLinear(num_heads, width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) normalized observation, (B, action_dim) executed action -> (H, B) Q-values."""
        return self.net(torch.cat([obs, action], dim=-1)).squeeze(-1)


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) * target + tau * source`` for every parameter (the modules must match)."""
    for target_param, source_param in zip(target.parameters(), source.parameters(), strict=True):
        target_param.lerp_(source_param, tau)


def act_numpy(
    normalizer: ObservationNormalizer,
    actor: ResidualActor,
    obs: np.ndarray,
    base_action: np.ndarray,
    noise: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The executed action and the residual for ONE observation, without gradients.

    Args:
        normalizer: The observation normalizer.
        actor: The residual actor.
        obs: (obs_dim,) raw observation.
        base_action: (action_dim,) base action, normalized units.
        noise: Optional (action_dim,) noise added to the residual, normalized units.

    Returns:
        ``(executed, residual)``: ``executed = clip(base + residual, -1, 1)`` in the base action's float dtype,
        and the residual (the actor's output plus ``noise``, clipped to the actor's bound) before that clip.
        With a zero residual the executed action is the base action exactly (for a base in [-1, 1]).
    """
    obs_array = np.asarray(obs, dtype=np.float32)
    base = np.asarray(base_action)
    if not np.issubdtype(base.dtype, np.floating):
        base = base.astype(np.float64)
    if obs_array.shape != (actor.obs_dim,) or base.shape != (actor.action_dim,):
        raise LearnerError(
            f"act needs obs ({actor.obs_dim},) and base_action ({actor.action_dim},),"
            f" got {obs_array.shape} and {base.shape}"
        )
    if not (np.isfinite(obs_array).all() and np.isfinite(base).all()):
        raise LearnerError("act got a non-finite observation or base action")
    device = normalizer.mean.device
    with torch.inference_mode():
        obs_t = normalizer(torch.as_tensor(obs_array, device=device).unsqueeze(0))
        base_t = torch.as_tensor(base.astype(np.float32), device=device).unsqueeze(0)
        residual = actor(obs_t, base_t)[0].cpu().numpy().astype(base.dtype)
    if noise is not None:
        # the noise never takes the residual past the actor's own bound: the gate's may be wider, and the critic
        # learns Q only inside the bound (the learner's target smoothing clamps there too)
        bound = actor.bound.cpu().numpy().astype(base.dtype)
        residual = np.clip(residual + np.asarray(noise, dtype=base.dtype), -bound, bound)
    return np.clip(base + residual, -1.0, 1.0), residual
