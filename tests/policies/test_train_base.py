"""train_base: ACT and Diffusion train on a tiny LeRobotDataset and load back with LeRobot's own loaders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from robot_rl.errors import DatasetError, PolicyError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.checkpoint_info import layouts_from_features, read_checkpoint_info
from robot_rl.policies.features import ACTION_KEY, ENVIRONMENT_STATE_KEY, IMAGE_KEY, STATE_KEY, dataset_features
from robot_rl.policies.train_base import TrainConfig, TrainResult, train_base
from robot_rl.torch_env import prepare_torchvision

SLOT_SIZE = len(SLOT_FIELDS)
# A small transformer so a few dozen updates take a few seconds on 2 CPU cores.
TINY_ACT = {"dim_model": 64, "n_heads": 4, "dim_feedforward": 128, "n_encoder_layers": 1, "chunk_size": 8}


def _make_dataset(root: Path, episodes: int = 4, frames: int = 30, image_hw: tuple[int, int] | None = None) -> Path:
    """A LeRobotDataset at 20 Hz whose action is a fixed function of the state and the first of two object slots."""
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    rng = np.random.default_rng(0)
    features = dataset_features(num_slots=2, image_shape_hw=image_hw)
    dataset = LeRobotDataset.create(repo_id="test/lift", fps=20, features=features, root=root, use_videos=False)
    for _ in range(episodes):
        state = rng.uniform(-0.5, 0.5, 9).astype(np.float32)
        slots = rng.uniform(-0.5, 0.5, features[ENVIRONMENT_STATE_KEY]["shape"]).astype(np.float32)
        slots[SLOT_SIZE:] = 0.0  # the second slot is always empty: constant dimensions
        for _ in range(frames):
            action = np.tanh(4.0 * np.concatenate([slots[1:4] - state[:3], -state[3:6], state[7:8]]))
            frame = {STATE_KEY: state.copy(), ENVIRONMENT_STATE_KEY: slots, ACTION_KEY: action.astype(np.float32)}
            if image_hw is not None:
                frame[IMAGE_KEY] = rng.integers(0, 256, (*image_hw, 3), dtype=np.uint8)
            dataset.add_frame({**frame, "task": "lift the cube"})
            state[:3] += 0.05 * action[:3]
        dataset.save_episode()
    dataset.finalize()
    return root


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_dataset(tmp_path_factory.mktemp("data") / "lift")


def _observation(dataset_dir: Path, with_image: bool = False) -> dict:
    """One unbatched observation of the dataset, as the base-policy node would feed it."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    item = LeRobotDataset("test/lift", root=dataset_dir)[5]
    keys = [STATE_KEY, ENVIRONMENT_STATE_KEY] + ([IMAGE_KEY] if with_image else [])
    return {key: item[key] for key in keys}


@pytest.mark.slow
def test_act_trains_and_loads_with_lerobot(dataset_dir: Path, tmp_path: Path) -> None:
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    calls: list[tuple[int, float]] = []
    config = TrainConfig(
        policy="act", steps=30, batch_size=16, learning_rate=1e-3, n_action_steps=4, log_every_steps=10, **TINY_ACT
    )
    result = train_base(dataset_dir, tmp_path / "act", config, progress=lambda step, loss: calls.append((step, loss)))

    assert isinstance(result, TrainResult)
    assert [step for step, _ in result.loss_history] == [1, 10, 20, 30]
    assert calls == result.loss_history
    assert all(math.isfinite(loss) for _, loss in result.loss_history)
    assert result.final_loss == result.loss_history[-1][1] < 0.5 * result.loss_history[0][1]
    assert result.steps == 30
    assert result.wall_time_s > 0
    assert result.num_parameters > 10_000
    files = {path.name for path in result.checkpoint_dir.iterdir()}
    assert {"config.json", "model.safetensors", "policy_preprocessor.json", "policy_postprocessor.json"} <= files
    assert result.checkpoint_size_bytes == sum(path.stat().st_size for path in result.checkpoint_dir.iterdir())
    record = json.loads((result.checkpoint_dir / "train_config.json").read_text())
    assert record["config"]["policy"] == "act"
    assert record["dataset"] == {"fps": 20, "episodes": 4, "frames": 120}
    assert record["result"]["loss_history"] == [list(entry) for entry in result.loss_history]
    info = read_checkpoint_info(result.checkpoint_dir)  # what the checkpoint is for, checked at load
    assert info is not None
    assert info.tasks == ("lift the cube",)
    assert info.features == layouts_from_features(dataset_features(num_slots=2))
    assert set(info.files) == {path.name for path in result.checkpoint_dir.glob("*.safetensors")}
    info.verify_files(result.checkpoint_dir)

    policy = ACTPolicy.from_pretrained(result.checkpoint_dir)
    assert policy.config.pretrained_backbone_weights is None
    assert policy.config.dim_model == 64
    assert set(policy.config.input_features) == {STATE_KEY, ENVIRONMENT_STATE_KEY}
    assert policy.config.normalization_mapping["ENV"] == policy.config.normalization_mapping["STATE"]
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=str(result.checkpoint_dir))
    observation = _observation(dataset_dir)
    observation[ENVIRONMENT_STATE_KEY][SLOT_SIZE] = 1.0  # a second object appears: never seen in the demos
    batch = preprocessor(observation)
    assert batch[ENVIRONMENT_STATE_KEY].abs().max() <= 1.0 / 1e-2 + 10  # std floored at min_norm_spread, not 1e-8
    policy.eval()
    with torch.no_grad():
        chunk = postprocessor(policy.predict_action_chunk(batch))
    assert chunk.shape == (1, 8, 7)
    assert torch.isfinite(chunk).all()


@pytest.mark.slow
def test_act_imitation_loss_decreases_and_training_is_seeded(dataset_dir: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=30, batch_size=16, learning_rate=1e-3, use_vae=False, n_action_steps=4, **TINY_ACT)
    history = train_base(dataset_dir, tmp_path / "a", config).loss_history
    assert history[-1][1] < 0.6 * history[0][1]  # L1 on normalized actions: ~0.7 at init, ~0.3 after 30 updates
    assert train_base(dataset_dir, tmp_path / "b", config).loss_history == history


@pytest.mark.slow
def test_diffusion_trains_and_loads_replacing_a_previous_run(dataset_dir: Path, tmp_path: Path) -> None:
    import torch
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors

    out_dir = tmp_path / "diffusion"
    out_dir.mkdir()
    (out_dir / "train_config.json").write_text("{}")  # a previous run
    (out_dir / "stale.safetensors").write_text("old")
    config = TrainConfig(
        policy="diffusion", steps=4, batch_size=8, chunk_size=8, n_action_steps=4, down_dims=(32, 64),
        num_inference_steps=3, log_every_steps=2,
    )  # fmt: skip
    result = train_base(dataset_dir, out_dir, config, overwrite=True)

    assert not (out_dir / "stale.safetensors").exists()
    assert [step for step, _ in result.loss_history] == [1, 2, 4]
    assert all(math.isfinite(loss) for _, loss in result.loss_history)
    policy = DiffusionPolicy.from_pretrained(out_dir)
    assert policy.config.horizon == 8
    assert policy.config.num_inference_steps == 3
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=str(out_dir))
    policy.eval()
    with torch.no_grad():
        action = postprocessor(policy.select_action(preprocessor(_observation(dataset_dir))))
    assert action.shape == (1, 7)
    assert torch.isfinite(action).all()


@pytest.mark.slow
def test_act_uses_the_image_only_when_asked(tmp_path: Path) -> None:
    from lerobot.configs.policies import PreTrainedConfig

    # (PreTrainedConfig, not ACTConfig: ACTConfig.from_pretrained rejects the "type" field of LeRobot's config.json.)
    image_dataset = _make_dataset(tmp_path / "images", episodes=2, frames=10, image_hw=(32, 32))
    tiny = {**TINY_ACT, "steps": 2, "batch_size": 4, "n_action_steps": 4}
    with_image = train_base(image_dataset, tmp_path / "with", TrainConfig(use_image=True, **tiny))
    without = train_base(image_dataset, tmp_path / "without", TrainConfig(**tiny))

    config = PreTrainedConfig.from_pretrained(with_image.checkpoint_dir)
    assert IMAGE_KEY in config.input_features
    assert config.pretrained_backbone_weights is None
    assert IMAGE_KEY not in PreTrainedConfig.from_pretrained(without.checkpoint_dir).input_features
    assert with_image.num_parameters > without.num_parameters + 10_000_000  # the resnet18 backbone


@pytest.mark.parametrize("path_kind", ["missing", "empty"])
def test_no_dataset_raises_dataset_error(tmp_path: Path, path_kind: str) -> None:
    dataset_dir = tmp_path / "nothing"
    if path_kind == "empty":
        dataset_dir.mkdir()
    with pytest.raises(DatasetError, match="no LeRobot dataset at") as error:
        train_base(dataset_dir, tmp_path / "out", TrainConfig())
    assert str(dataset_dir) in str(error.value)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_dataset_without_state_raises_dataset_error(tmp_path: Path) -> None:
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {key: ft for key, ft in dataset_features(num_slots=1).items() if key != STATE_KEY}
    dataset = LeRobotDataset.create("test/nostate", fps=20, features=features, root=tmp_path / "ds", use_videos=False)
    for _ in range(3):
        dataset.add_frame(
            {ENVIRONMENT_STATE_KEY: np.zeros(SLOT_SIZE, np.float32), ACTION_KEY: np.zeros(7, np.float32), "task": "t"}
        )
    dataset.save_episode()
    dataset.finalize()
    with pytest.raises(DatasetError, match=r"lacks observation\.state"):
        train_base(tmp_path / "ds", tmp_path / "out", TrainConfig())


def test_unknown_policy_raises_one_line_policy_error() -> None:
    with pytest.raises(
        PolicyError, match=r"^unknown policy 'bc_mlp'; supported: act, diffusion \(LeRobot's others, .*pi0.*\)$"
    ):
        TrainConfig(policy="bc_mlp")
    with pytest.raises(PolicyError) as error:
        TrainConfig(policy="pi0")
    assert (
        str(error.value) == "policy 'pi0' is a LeRobot policy that train_base does not train; supported: act, diffusion"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"n_action_steps": 20, "chunk_size": 16}, "n_action_steps"),
        ({"dim_model": 100, "n_heads": 8}, "must divide dim_model"),
        ({"policy": "diffusion", "chunk_size": 12}, "multiple of 2\\*\\*len\\(down_dims\\)"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"noise_scheduler": "euler"}, "noise_scheduler"),
    ],
)
def test_bad_config_raises_policy_error(fields: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        TrainConfig(**fields)


def test_non_empty_out_dir_raises_policy_error(dataset_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("keep me")
    with pytest.raises(PolicyError, match="is not empty"):
        train_base(dataset_dir, out_dir, TrainConfig())
    with pytest.raises(PolicyError, match="holds no previous run"):
        train_base(dataset_dir, out_dir, TrainConfig(), overwrite=True)
    assert (out_dir / "notes.txt").read_text() == "keep me"
