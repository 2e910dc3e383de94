"""ResidualTD3: config validation, acting, the TD target, warm-up, the policy delay and learning on a fixed batch."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from robot_rl.errors import LearnerError
from robot_rl.rl.td3 import ResidualTD3, TD3Config

OBS_DIM, ACTION_DIM = 10, 7
SMALL = {"actor_hidden": (32, 32), "critic_hidden": (32, 32), "batch_size": 32}


def _learner(**overrides: Any) -> ResidualTD3:
    config = TD3Config(**{**SMALL, "critic_warmup_updates": 0, **overrides})
    rng = np.random.default_rng(0)
    return ResidualTD3(
        config, OBS_DIM, ACTION_DIM, obs_mean=rng.normal(size=OBS_DIM), obs_std=rng.uniform(0.5, 2, OBS_DIM)
    )


def _batch(size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.normal(size=(size, OBS_DIM)).astype(np.float32),
        "base_action": rng.uniform(-1, 1, (size, ACTION_DIM)).astype(np.float32),
        "action": rng.uniform(-1, 1, (size, ACTION_DIM)).astype(np.float32),
        "reward": rng.normal(size=size).astype(np.float32),
        "next_obs": rng.normal(size=(size, OBS_DIM)).astype(np.float32),
        "next_base_action": rng.uniform(-1, 1, (size, ACTION_DIM)).astype(np.float32),
        "discount": np.where(rng.random(size) < 0.2, 0.0, 0.99**3).astype(np.float32),
        "n_step_return": rng.normal(size=size).astype(np.float32),
    }


def _parameters(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_defaults_are_valid_and_documented() -> None:
    config = TD3Config()
    assert (config.gamma, config.n_step, config.batch_size, config.num_critics) == (0.99, 3, 256, 2)
    assert config.actor_hidden == (256, 256)
    assert config.critic_hidden == (256, 256)
    assert TD3Config.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gamma", 0.0),
        ("gamma", 1.01),
        ("gamma", math.nan),
        ("n_step", 0),
        ("batch_size", 0),
        ("batch_size", 1),  # a mixed batch needs a row from each half
        ("batch_size", 2.5),
        ("actor_hidden", ()),
        ("critic_hidden", (256, -1)),
        ("num_critics", 1),
        ("critic_lr", 0.0),
        ("actor_lr", -1e-4),
        ("weight_decay", -0.1),
        ("tau", 0.0),
        ("tau", 1.5),
        ("target_noise", -0.1),
        ("target_noise_clip", math.inf),
        ("exploration_noise", -0.05),
        ("residual_scale", 0.0),
        ("residual_scale", 2.5),
        ("gripper_residual_scale", 0.0),
        ("gripper_residual_scale", math.nan),
        ("utd_ratio", 0),
        ("actor_update_every", 0),
        ("critic_warmup_updates", -1),
        ("grad_clip_norm", 0.0),
        ("residual_penalty", -1.0),
        ("residual_penalty", math.nan),
        ("offline_imitation", -0.5),
        ("offline_imitation", math.inf),
        ("seed", -1),
        ("num_threads", 0),
        ("device", "nonsense"),
    ],
)
def test_config_rejects_out_of_range_values_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(LearnerError, match=rf"TD3Config\.{field}"):
        TD3Config(**{field: value})


def test_config_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(LearnerError, match="learning_rate"):
        TD3Config.from_dict({"learning_rate": 1e-3})


def test_same_seed_same_networks_and_the_global_rng_is_untouched() -> None:
    state = torch.get_rng_state()
    a, b, c = _learner(seed=3), _learner(seed=3), _learner(seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert _same(_parameters(a.critic), _parameters(b.critic))
    assert _same(_parameters(a.actor), _parameters(b.actor))
    assert not _same(_parameters(a.critic), _parameters(c.critic))
    assert _same(_parameters(a.critic), _parameters(a.critic_target))


def test_untrained_act_returns_the_base_action_exactly() -> None:
    learner = _learner()
    rng = np.random.default_rng(0)
    for _ in range(5):
        base = rng.uniform(-1, 1, ACTION_DIM)
        executed, residual = learner.act(rng.normal(size=OBS_DIM) * 5, base, explore=False)
        assert np.array_equal(executed, base)
        assert not residual.any()


def test_exploring_act_adds_noise_to_the_residual_and_clips() -> None:
    learner = _learner(exploration_noise=0.05)
    base = np.array([0.0, 0.5, -0.5, 0.99, -0.99, 1.0, -1.0])
    executed, residual = learner.act(np.zeros(OBS_DIM), base, explore=True, rng=np.random.default_rng(0))
    expected_noise = np.random.default_rng(0).normal(0.0, 0.05, ACTION_DIM)
    np.testing.assert_allclose(residual, expected_noise)
    np.testing.assert_allclose(executed, np.clip(base + expected_noise, -1, 1))
    assert np.abs(executed).max() <= 1.0
    with pytest.raises(LearnerError, match="rng"):
        learner.act(np.zeros(OBS_DIM), base, explore=True)
    with pytest.raises(LearnerError, match="act needs"):
        learner.act(np.zeros(OBS_DIM + 1), base)


class _ConstantHeads(nn.Module):
    """A critic whose head h returns values[h] whatever the input; records the action it was given."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = torch.tensor(values)
        self.last_action: torch.Tensor | None = None

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        self.last_action = action
        return self.values[:, None].expand(len(self.values), len(obs))


def test_target_is_the_min_over_a_random_pair_of_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    learner = _learner(num_critics=3)
    learner.critic_target = _ConstantHeads([1.0, 5.0, 3.0])
    data = learner.to_tensors({**_batch(2), "n_step_return": np.array([2.0, 0.5]), "discount": np.array([0.5, 0.0])})
    monkeypatch.setattr(learner, "random_pair", lambda: torch.tensor([1, 2]))
    # y = R + discount * min(5, 3) = [2 + 0.5 * 3, 0.5 + 0]
    torch.testing.assert_close(learner.compute_target(data), torch.tensor([3.5, 0.5]))
    monkeypatch.setattr(learner, "random_pair", lambda: torch.tensor([1, 0]))
    torch.testing.assert_close(learner.compute_target(data), torch.tensor([2.5, 0.5]))  # min(5, 1) = 1


def test_random_pair_is_two_distinct_heads_covering_all_pairs() -> None:
    learner = _learner(num_critics=3)
    pairs = {tuple(sorted(learner.random_pair().tolist())) for _ in range(60)}
    assert pairs == {(0, 1), (0, 2), (1, 2)}


def test_target_action_is_the_clipped_noisy_target_residual_on_the_next_base() -> None:
    learner = _learner(target_noise=10.0, target_noise_clip=0.1, residual_scale=0.2, gripper_residual_scale=0.5)
    learner.critic_target = _ConstantHeads([0.0, 0.0])
    batch = _batch(64)
    batch["next_base_action"][:] = 0.0
    learner.compute_target(learner.to_tensors(batch))
    noise = learner.critic_target.last_action  # untrained target actor: residual 0, so this is the noise
    assert noise is not None
    assert noise.abs().max() == pytest.approx(0.1)  # clipped (std 10 saturates the clip)
    learner.config = dataclasses.replace(learner.config, target_noise_clip=0.3)
    learner.compute_target(learner.to_tensors(batch))
    smoothed = learner.critic_target.last_action.abs().amax(dim=0)
    # beyond the residual's bound the policy cannot act: the noisy residual is held to it, per component
    torch.testing.assert_close(smoothed, torch.tensor([0.2] * 6 + [0.3]))
    batch["next_base_action"][:] = 0.9
    learner.compute_target(learner.to_tensors(batch))
    assert learner.critic_target.last_action.max() == 1.0  # the action is clipped to [-1, 1]


def test_critic_only_warmup_leaves_the_actor_unchanged() -> None:
    learner = _learner(critic_warmup_updates=6, actor_update_every=1)
    actor, actor_target, critic = (_parameters(m) for m in (learner.actor, learner.actor_target, learner.critic))
    batch = _batch()
    for _ in range(6):
        stats = learner.update(batch)
        assert math.isnan(stats["actor_loss"])
        assert math.isnan(stats["residual_abs_mean"])
    assert _same(_parameters(learner.actor), actor)
    assert _same(_parameters(learner.actor_target), actor_target)
    assert not _same(_parameters(learner.critic), critic)
    assert not _same(_parameters(learner.critic_target), critic)  # the critic target follows during warm-up
    stats = learner.update(batch)
    assert math.isfinite(stats["actor_loss"])
    assert stats["actor_updates"] == 1
    assert not _same(_parameters(learner.actor), actor)


def test_policy_delay_updates_the_actor_every_other_critic_update() -> None:
    learner = _learner(actor_update_every=2)
    batch = _batch()
    stats = [learner.update(batch) for _ in range(6)]
    assert [math.isfinite(s["actor_loss"]) for s in stats] == [False, True, False, True, False, True]
    assert [s["updates"] for s in stats] == [1, 2, 3, 4, 5, 6]
    assert stats[-1]["actor_updates"] == 3
    assert set(stats[0]) >= {"critic_loss", "q_mean", "target_mean", "actor_loss", "residual_abs_mean", "updates"}


def test_repeated_updates_on_a_fixed_batch_reduce_the_td_loss() -> None:
    learner = _learner(seed=0)
    batch = _batch(32, seed=1)
    stats = [learner.update(batch) for _ in range(200)]
    losses = [s["critic_loss"] for s in stats]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.5 * losses[0]
    assert 0 < stats[-1]["residual_abs_mean"] <= 0.2  # the actor moved, bounded by residual_scale


def test_residual_penalty_keeps_the_residual_near_the_base_where_the_critic_extrapolates() -> None:
    # Returns grow with the executed action's first axis: the critic's gradient pushes that axis of the
    # residual to its bound without a penalty; with one, the residual stays a fraction of the bound.
    batch = _batch(64, seed=2)
    batch["n_step_return"] = batch["action"][:, 0].copy()
    batch["discount"][:] = 0.0
    residuals = {}
    for penalty in (0.0, 1.0):
        learner = _learner(seed=0, residual_penalty=penalty, actor_lr=1e-3, actor_update_every=1)
        for _ in range(300):
            stats = learner.update(batch)
        residuals[penalty] = stats["residual_abs_mean"]
    assert residuals[0.0] > 0.1  # most of the 0.2 bound (averaged over the 7 axes, one of them saturated)
    assert residuals[1.0] < 0.5 * residuals[0.0]


def test_offline_imitation_pulls_the_residual_towards_the_offline_rows_residual() -> None:
    # Offline rows executed base + 0.1 on axis 0 (a person's correction); online rows executed the base. The
    # returns carry no information (a constant), so only the imitation term can move the residual there.
    batch = _batch(64, seed=3)
    batch["action"] = batch["base_action"].copy()
    batch["action"][32:, 0] += 0.1
    batch["n_step_return"][:] = 1.0
    batch["offline"] = np.r_[np.zeros(32), np.ones(32)].astype(np.float32)
    offline_residual = {}
    for weight in (0.0, 1.0):
        learner = _learner(seed=0, offline_imitation=weight, residual_penalty=0.1, actor_lr=1e-3, actor_update_every=1)
        for _ in range(300):
            learner.update(batch)
        _, residual = learner.act(batch["obs"][40], batch["base_action"][40])
        offline_residual[weight] = residual[0]
    assert offline_residual[1.0] > 0.05  # most of the way to the correction's +0.1
    assert abs(offline_residual[0.0]) < 0.5 * offline_residual[1.0]


def test_offline_imitation_without_offline_rows_leaves_the_loss_as_the_penalty_alone() -> None:
    batch = _batch(32, seed=4)
    stats = {}
    for extra in ({}, {"offline": np.zeros(32, np.float32)}):
        learner = _learner(seed=0, offline_imitation=1.0, residual_penalty=0.5, actor_update_every=1)
        stats[len(extra)] = [learner.update({**batch, **extra}) for _ in range(3)]
    assert stats[0] == stats[1]
    learner = _learner(seed=0)
    with pytest.raises(LearnerError, match="offline"):
        learner.update({**batch, "offline": np.zeros(31, np.float32)})


def test_update_rejects_malformed_batches() -> None:
    learner = _learner()
    batch = _batch()
    del batch["discount"]
    with pytest.raises(LearnerError, match="discount"):
        learner.update(batch)
    batch = _batch()
    batch["action"] = batch["action"][:, :6]
    with pytest.raises(LearnerError, match="action"):
        learner.update(batch)
    batch = _batch()
    batch["n_step_return"][0] = np.inf
    with pytest.raises(LearnerError, match="non-finite"):
        learner.update(batch)


def test_state_dict_round_trip_continues_identically() -> None:
    learner = _learner(seed=5)
    batches = [_batch(seed=s) for s in range(4)]
    for batch in batches[:3]:
        learner.update(batch)
    state = learner.state_dict()
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    expected = learner.update(batches[3])
    resumed = _learner(seed=99)  # a different init, overwritten by the state
    resumed.load_state_dict(state)
    assert resumed.update(batches[3]) == expected
    with pytest.raises(LearnerError, match="critic"):
        _learner(critic_hidden=(16, 16)).load_state_dict(state)
