"""Small LeRobot checkpoints for the base-policy tests, saved as lerobot-train saves ``pretrained_model/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.action_space import ACTION_DIM
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.features import ACTION_KEY, ENVIRONMENT_STATE_KEY, IMAGE_KEY, STATE_KEY, STATE_NAMES
from robot_rl.torch_env import prepare_torchvision

prepare_torchvision()

import torch  # noqa: E402
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature  # noqa: E402
from lerobot.policies.factory import make_pre_post_processors  # noqa: E402

STATE_DIM = len(STATE_NAMES)
SLOT_SIZE = len(SLOT_FIELDS)


def stats(num_slots: int, image: bool = False) -> dict[str, dict[str, torch.Tensor]]:
    """Dataset statistics with distinct, known values per feature (so de-normalization is visible)."""

    def entry(size: int, mean: float, std: float) -> dict[str, torch.Tensor]:
        means = torch.full((size,), mean) + 0.01 * torch.arange(size)
        stds = torch.full((size,), std)
        return {"mean": means, "std": stds, "min": means - 2 * stds, "max": means + 2 * stds}

    table = {
        STATE_KEY: entry(STATE_DIM, 0.3, 0.2),
        ENVIRONMENT_STATE_KEY: entry(num_slots * SLOT_SIZE, 0.1, 0.5),
        ACTION_KEY: entry(ACTION_DIM, 0.05, 0.4),
    }
    if image:  # per channel, as LeRobot's image stats
        table[IMAGE_KEY] = {key: value[:3, None, None] for key, value in entry(3, 0.5, 0.25).items()}
    return table


def features(
    num_slots: int, image_hw: tuple[int, int] | None = None
) -> tuple[dict[str, PolicyFeature], dict[str, PolicyFeature]]:
    inputs = {
        STATE_KEY: PolicyFeature(FeatureType.STATE, (STATE_DIM,)),
        ENVIRONMENT_STATE_KEY: PolicyFeature(FeatureType.ENV, (num_slots * SLOT_SIZE,)),
    }
    if image_hw is not None:
        inputs[IMAGE_KEY] = PolicyFeature(FeatureType.VISUAL, (3, *image_hw))
    return inputs, {ACTION_KEY: PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))}


def save_checkpoint(policy: torch.nn.Module, directory: Path, num_slots: int) -> Path:
    """Save weights, config and both processor pipelines: the layout lerobot-train writes."""
    table = stats(num_slots, image=bool(policy.config.image_features))
    preprocessor, postprocessor = make_pre_post_processors(policy.config, dataset_stats=table)
    policy.save_pretrained(directory)
    preprocessor.save_pretrained(directory)
    postprocessor.save_pretrained(directory)
    return directory


def make_act_checkpoint(
    directory: Path,
    num_slots: int = 4,
    chunk_size: int = 10,
    n_action_steps: int = 5,
    image_hw: tuple[int, int] | None = None,
) -> Path:
    """A tiny ACT (state + slots -> 7-d actions), about 25k parameters (+ 11M: a resnet18 for an image)."""
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy

    torch.manual_seed(0)
    inputs, outputs = features(num_slots, image_hw)
    config = ACTConfig(
        input_features=inputs,
        output_features=outputs,
        chunk_size=chunk_size,
        n_action_steps=n_action_steps,
        dim_model=32,
        n_heads=2,
        dim_feedforward=64,
        n_encoder_layers=1,
        n_decoder_layers=1,
        use_vae=False,
        pretrained_backbone_weights=None,
        device="cpu",
        # ACT's default mapping leaves ENV features un-normalized; normalize the slots like the state
        normalization_mapping={
            "VISUAL": NormalizationMode.MEAN_STD,
            "STATE": NormalizationMode.MEAN_STD,
            "ENV": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD,
        },
    )
    return save_checkpoint(ACTPolicy(config), directory, num_slots)


def make_diffusion_checkpoint(directory: Path, num_slots: int = 4) -> Path:
    """A tiny Diffusion policy: 2 observation steps, horizon 8, 4 executed actions, 5 DDIM steps."""
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy

    torch.manual_seed(0)
    inputs, outputs = features(num_slots)
    config = DiffusionConfig(
        input_features=inputs,
        output_features=outputs,
        n_obs_steps=2,
        horizon=8,
        n_action_steps=4,
        drop_n_last_frames=3,
        down_dims=(16, 32),
        kernel_size=3,
        n_groups=4,
        diffusion_step_embed_dim=16,
        noise_scheduler_type="DDIM",
        num_train_timesteps=20,
        num_inference_steps=5,
        device="cpu",
    )
    return save_checkpoint(DiffusionPolicy(config), directory, num_slots)


@pytest.fixture(scope="session")
def act_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ACT with 4 slots, chunk_size 10, n_action_steps 5. Do not modify: copy it first."""
    return make_act_checkpoint(tmp_path_factory.mktemp("act") / "pretrained_model")


@pytest.fixture(scope="session")
def act_image_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ACT with 4 slots and a 24 x 32 colour image. Do not modify: copy it first."""
    return make_act_checkpoint(tmp_path_factory.mktemp("act_image") / "pretrained_model", image_hw=(24, 32))


@pytest.fixture(scope="session")
def diffusion_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Diffusion with 4 slots. Do not modify: copy it first."""
    return make_diffusion_checkpoint(tmp_path_factory.mktemp("diffusion") / "pretrained_model")
