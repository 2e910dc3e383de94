"""The residual actor (zero at init, bounded) and the batched critic ensemble (matches a per-head loop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from robot_rl.errors import LearnerError
from robot_rl.rl.networks import (
    CriticEnsemble,
    EnsembleLayerNorm,
    EnsembleLinear,
    ObservationNormalizer,
    ResidualActor,
    act_numpy,
    polyak_update,
)

OBS_DIM, ACTION_DIM = 12, 7


def test_untrained_actor_residual_is_exactly_zero() -> None:
    torch.manual_seed(0)
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32, 16), residual_scale=0.2)
    obs = torch.randn(64, OBS_DIM) * 10
    base = torch.rand(64, ACTION_DIM) * 2 - 1
    residual = actor(obs, base)
    assert residual.shape == (64, ACTION_DIM)
    assert torch.count_nonzero(residual) == 0
    assert torch.equal(base + residual, base)


def test_untrained_actor_act_numpy_returns_the_base_bit_for_bit() -> None:
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32,))
    normalizer = ObservationNormalizer(np.full(OBS_DIM, 3.0), np.full(OBS_DIM, 0.5))
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        base = rng.uniform(-1, 1, ACTION_DIM).astype(dtype)
        executed, residual = act_numpy(normalizer, actor, rng.normal(size=OBS_DIM), base)
        assert executed.dtype == dtype
        assert np.array_equal(executed, base)
        assert not residual.any()


def test_residual_is_bounded_by_the_scale_with_random_weights() -> None:
    torch.manual_seed(0)
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32, 32), residual_scale=0.15)
    with torch.no_grad():
        for parameter in actor.parameters():
            parameter.normal_(0.0, 3.0)
    residual = actor(torch.randn(512, OBS_DIM) * 5, torch.rand(512, ACTION_DIM) * 2 - 1)
    assert residual.abs().max() <= 0.15
    assert residual.abs().max() > 0.14  # saturates: the bound is reached, not just respected by small outputs


def test_the_gripper_component_has_its_own_bound() -> None:
    torch.manual_seed(0)
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32,), residual_scale=0.2, gripper_residual_scale=2.0)
    with torch.no_grad():
        for parameter in actor.parameters():
            parameter.normal_(0.0, 3.0)
    residual = actor(torch.randn(512, OBS_DIM) * 5, torch.rand(512, ACTION_DIM) * 2 - 1).abs().amax(dim=0)
    assert torch.all(residual[:-1] <= 0.2)
    assert torch.all(residual[:-1] > 0.19)
    assert 1.9 < residual[-1] <= 2.0  # the gripper residual can flip a base command of +-1
    assert torch.equal(actor.bound, torch.tensor([0.2] * 6 + [2.0]))


def test_exploration_noise_stays_within_the_actors_bound_on_each_axis() -> None:
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32,), residual_scale=0.2, gripper_residual_scale=2.0)
    normalizer = ObservationNormalizer(np.zeros(OBS_DIM), np.ones(OBS_DIM))
    rng = np.random.default_rng(0)
    base = np.zeros(ACTION_DIM)
    residuals = np.array(
        [act_numpy(normalizer, actor, np.zeros(OBS_DIM), base, rng.normal(0.0, 5.0, ACTION_DIM))[1] for _ in range(200)]
    )
    peak = np.abs(residuals).max(axis=0)
    np.testing.assert_allclose(peak, [0.2] * 6 + [2.0], rtol=1e-6)  # std 5 reaches each bound, goes no further


def test_actor_layers_are_linear_layernorm_relu() -> None:
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32, 16))
    kinds = [type(layer).__name__ for layer in actor.trunk]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Linear", "LayerNorm", "ReLU"]
    assert actor.trunk[0].in_features == OBS_DIM + ACTION_DIM
    assert float(actor.residual_scale) == pytest.approx(0.2)
    assert float(actor.gripper_residual_scale) == pytest.approx(0.2)  # None: the motion axes' bound
    assert {"residual_scale", "gripper_residual_scale"} <= set(actor.state_dict())


def test_actor_gets_a_gradient_despite_the_zero_last_layer() -> None:
    actor = ResidualActor(OBS_DIM, ACTION_DIM, hidden=(32,))
    actor(torch.randn(8, OBS_DIM), torch.zeros(8, ACTION_DIM)).sum().backward()
    assert actor.head.weight.grad is not None
    assert actor.head.weight.grad.abs().sum() > 0


def _reference_critic(critic: CriticEnsemble, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """The same ensemble as a Python loop of F.linear / F.layer_norm per head: (H, B)."""
    outputs = []
    for head in range(critic.num_heads):
        x = torch.cat([obs, action], dim=-1)
        for layer in critic.net:
            if isinstance(layer, EnsembleLinear):
                x = F.linear(x, layer.weight[head].T, layer.bias[head, 0])
            elif isinstance(layer, EnsembleLayerNorm):
                x = F.layer_norm(x, (layer.features,), layer.weight[head, 0], layer.bias[head, 0], layer.eps)
            else:
                x = torch.relu(x)
        outputs.append(x.squeeze(-1))
    return torch.stack(outputs)


def test_critic_ensemble_matches_a_per_head_loop() -> None:
    torch.manual_seed(0)
    critic = CriticEnsemble(OBS_DIM, ACTION_DIM, hidden=(32, 24), num_heads=3)
    with torch.no_grad():  # non-trivial LayerNorm affine params, different per head
        for layer in critic.net:
            if isinstance(layer, EnsembleLayerNorm):
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.5, 0.5)
    obs, action = torch.randn(10, OBS_DIM), torch.rand(10, ACTION_DIM) * 2 - 1
    q = critic(obs, action)
    assert q.shape == (3, 10)
    torch.testing.assert_close(q, _reference_critic(critic, obs, action), rtol=1e-5, atol=1e-5)


def test_critic_heads_differ_and_gradients_flow() -> None:
    torch.manual_seed(0)
    critic = CriticEnsemble(OBS_DIM, ACTION_DIM, hidden=(32, 32), num_heads=2)
    obs = torch.randn(16, OBS_DIM)
    action = (torch.rand(16, ACTION_DIM) * 2 - 1).requires_grad_(True)
    q = critic(obs, action)
    assert not torch.allclose(q[0], q[1])
    q.sum().backward()
    assert action.grad is not None
    assert action.grad.abs().sum() > 0
    for name, parameter in critic.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_ensemble_linear_init_matches_nn_linear_bounds() -> None:
    torch.manual_seed(0)
    layer = EnsembleLinear(4, 64, 32)
    bound = 1 / 64**0.5
    assert layer.weight.shape == (4, 64, 32)
    assert layer.bias.shape == (4, 1, 32)
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound
    assert layer.bias.abs().max() <= bound
    assert not torch.equal(layer.weight[0], layer.weight[1])


def test_polyak_update_moves_the_target_by_tau() -> None:
    torch.manual_seed(0)
    source, target = ResidualActor(OBS_DIM, hidden=(8,)), ResidualActor(OBS_DIM, hidden=(8,))
    before = target.trunk[0].weight.detach().clone()
    polyak_update(target, source, 0.25)
    torch.testing.assert_close(target.trunk[0].weight, 0.75 * before + 0.25 * source.trunk[0].weight)


def test_normalizer_floors_std_and_rejects_bad_stats() -> None:
    normalizer = ObservationNormalizer(np.array([1.0, 2.0]), np.array([0.0, 2.0]))
    assert float(normalizer.std[0]) == pytest.approx(1e-6)
    torch.testing.assert_close(normalizer(torch.tensor([[1.0, 4.0]])), torch.tensor([[0.0, 1.0]]))
    with pytest.raises(LearnerError, match="mean and std"):
        ObservationNormalizer(np.zeros(3), np.ones(2))
    with pytest.raises(LearnerError, match="finite"):
        ObservationNormalizer(np.array([np.nan]), np.ones(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs_dim": 0}, "obs_dim"),
        ({"hidden": ()}, "hidden"),
        ({"hidden": (32, 0)}, "hidden"),
        ({"residual_scale": 0.0}, "residual_scale"),
        ({"gripper_residual_scale": math.inf}, "gripper_residual_scale"),
    ],
)
def test_actor_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    arguments = {"obs_dim": OBS_DIM, **kwargs}
    with pytest.raises(LearnerError, match=match):
        ResidualActor(**arguments)


def test_act_numpy_rejects_wrong_shapes() -> None:
    actor = ResidualActor(OBS_DIM, hidden=(8,))
    normalizer = ObservationNormalizer(np.zeros(OBS_DIM), np.ones(OBS_DIM))
    with pytest.raises(LearnerError, match="act needs obs"):
        act_numpy(normalizer, actor, np.zeros(OBS_DIM + 1), np.zeros(ACTION_DIM))
    with pytest.raises(LearnerError, match="non-finite"):
        act_numpy(normalizer, actor, np.full(OBS_DIM, np.nan), np.zeros(ACTION_DIM))
