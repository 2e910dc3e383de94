"""Train a LeRobot behaviour-cloning base policy (ACT or Diffusion) on a LeRobotDataset, on the CPU.

This is ``lerobot-train`` reduced to what the base policy needs, built from LeRobot's own pieces: the policy
config classes and ``make_policy``, ``make_pre_post_processors`` with the dataset's stats, the policy's
optimizer and scheduler presets, ``resolve_delta_timestamps``, ``LeRobotDataset`` and a torch ``DataLoader``
(with LeRobot's ``EpisodeAwareSampler`` where the policy drops the last frames of episodes, as lerobot-train
does). The output directory is what lerobot-train writes under ``pretrained_model/``: ``config.json``,
``model.safetensors`` and the pre/postprocessor pipelines, so ``ACTPolicy.from_pretrained(out_dir)`` and
``make_pre_post_processors(cfg, pretrained_path=out_dir)`` load it. Next to them, ``train_config.json`` holds
our :class:`TrainConfig`, the dataset path and a summary of the run, and ``robot_rl_checkpoint.json``
(:mod:`robot_rl.policies.checkpoint_info`) the dataset's task, the feature layout and the weights' sha256,
which the loader checks.

Nothing is downloaded: no pretrained vision backbone, and a dataset must be complete on local disk (LeRobot
would otherwise try the Hugging Face hub).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.data.recorder import check_dataset
from robot_rl.errors import DatasetError, PolicyError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.checkpoint_info import CheckpointInfo, layouts_from_features, write_checkpoint_info
from robot_rl.policies.features import ACTION_KEY, ENVIRONMENT_STATE_KEY, IMAGE_KEY, STATE_KEY, dataset_features
from robot_rl.torch_env import prepare_torchvision

SUPPORTED_POLICIES = ("act", "diffusion")
TRAIN_CONFIG_FILE = "train_config.json"  # our record of the run, next to LeRobot's files


@dataclass
class TrainConfig:
    """How to train the base policy. Defaults train a state-only ACT (4.3 M parameters) in ~7 min on 2 CPU cores."""

    policy: str = "act"  # LeRobot policy type: "act" or "diffusion"
    steps: int = 2000  # optimizer updates
    batch_size: int = 32  # samples per update
    learning_rate: float | None = 1e-4  # peak LR; None = the policy's LeRobot preset (ACT 1e-5, diffusion 1e-4)
    seed: int = 0  # seeds torch, numpy, random, the policy init and the sampling order
    chunk_size: int = 16  # actions predicted per inference, control ticks (0.8 s at 20 Hz); diffusion's horizon
    n_action_steps: int = 8  # actions executed per inference before predicting again, control ticks
    use_image: bool = False  # feed observation.images.color to the policy (vision backbone trained from scratch)
    # ACT (transformer) size.
    dim_model: int = 256  # transformer width
    n_heads: int = 8  # attention heads; must divide dim_model
    dim_feedforward: int = 1024  # feed-forward width
    n_encoder_layers: int = 2  # transformer encoder layers (the VAE encoder uses as many)
    n_decoder_layers: int = 1  # transformer decoder layers (LeRobot/ACT use 1)
    use_vae: bool = True  # train ACT's CVAE objective (latent style variable)
    kl_weight: float = 10.0  # weight of the KL term in ACT's loss
    dropout: float = 0.1  # dropout in the transformer layers
    # Diffusion (1D conv U-Net) size.
    n_obs_steps: int = 2  # observation history the diffusion policy sees, control ticks
    down_dims: tuple[int, ...] = (64, 128, 256)  # U-Net stage widths; chunk_size must be a multiple of 2**len
    num_train_timesteps: int = 100  # diffusion steps of the noise schedule
    num_inference_steps: int = 10  # denoising steps at inference (<= num_train_timesteps)
    noise_scheduler: str = "DDIM"  # "DDIM" or "DDPM"
    warmup_steps: int = 100  # linear LR warmup of diffusion's cosine schedule, updates (LeRobot preset: 500)
    min_norm_spread: float = 1e-2  # floor on each dimension's std and max - min in the normalizer stats, feature units
    # Runtime.
    num_workers: int = 0  # DataLoader worker processes (0 = load in the training process)
    log_every_steps: int = 100  # updates between loss_history entries and progress calls
    device: str = "cpu"  # torch device
    num_threads: int | None = 1  # torch CPU threads while training; None = torch's default (one per core)

    def __post_init__(self) -> None:
        self.down_dims = tuple(self.down_dims)
        if self.policy not in SUPPORTED_POLICIES:
            raise PolicyError(_unsupported_policy_message(self.policy))
        positive = ("steps", "batch_size", "chunk_size", "n_action_steps", "dim_model", "n_heads",
                    "dim_feedforward", "n_encoder_layers", "n_decoder_layers", "n_obs_steps", "num_train_timesteps",
                    "num_inference_steps", "log_every_steps")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise PolicyError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise PolicyError(f"TrainConfig.learning_rate must be > 0 or None, got {self.learning_rate}")
        if self.warmup_steps < 0 or self.num_workers < 0 or not 0 <= self.dropout < 1 or (self.num_threads or 1) < 1:
            raise PolicyError(
                "TrainConfig: warmup_steps, num_workers must be >= 0, num_threads >= 1, dropout in [0, 1)"
            )
        if not self.min_norm_spread > 0:
            raise PolicyError(f"TrainConfig.min_norm_spread must be > 0, got {self.min_norm_spread}")
        if self.dim_model % self.n_heads:
            raise PolicyError(f"TrainConfig.n_heads ({self.n_heads}) must divide dim_model ({self.dim_model})")
        if self.num_inference_steps > self.num_train_timesteps:
            raise PolicyError("TrainConfig.num_inference_steps must be <= num_train_timesteps")
        if self.noise_scheduler not in ("DDIM", "DDPM"):
            raise PolicyError(f"TrainConfig.noise_scheduler must be 'DDIM' or 'DDPM', got {self.noise_scheduler!r}")
        usable = self.chunk_size - (self.n_obs_steps - 1 if self.policy == "diffusion" else 0)
        if self.n_action_steps > usable:
            raise PolicyError(
                f"TrainConfig.n_action_steps ({self.n_action_steps}) must be <= {usable} for {self.policy}"
            )
        if self.policy == "diffusion" and self.chunk_size % 2 ** len(self.down_dims):
            raise PolicyError(
                f"TrainConfig.chunk_size ({self.chunk_size}) must be a multiple of 2**len(down_dims) "
                f"= {2 ** len(self.down_dims)} for diffusion"
            )
        import torch

        if torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
            raise PolicyError(f"TrainConfig.device {self.device!r} is not available on this machine")


@dataclass
class TrainResult:
    """What a training run did and wrote."""

    steps: int  # optimizer updates done
    wall_time_s: float  # training wall time (dataset and policy setup included, saving excluded), s
    final_loss: float  # mean training loss over the last logging interval
    loss_history: list[tuple[int, float]]  # (update, mean loss since the previous entry), from update 1
    checkpoint_dir: Path  # the LeRobot pretrained-policy directory (out_dir)
    checkpoint_size_bytes: int  # total size of the files in checkpoint_dir, bytes
    num_parameters: int  # trainable parameters of the policy


def train_base(
    dataset_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``config.policy`` on the LeRobotDataset at ``dataset_dir``; write a LeRobot policy dir to ``out_dir``.

    ``progress(update, mean_loss)`` is called at every loss_history entry. With ``overwrite``, an ``out_dir``
    holding a previous run (our ``train_config.json``) is replaced; any other non-empty ``out_dir`` is refused.

    Raises:
        DatasetError: If ``dataset_dir`` holds no complete local LeRobot dataset, or lacks required features.
        PolicyError: If ``out_dir`` is not empty (and may not be replaced).
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    check_dataset_files(dataset_dir)
    _check_out_dir(out_dir, overwrite)
    prepare_torchvision()
    import lerobot
    import torch
    from lerobot.configs.types import FeatureType
    from lerobot.datasets.factory import resolve_delta_timestamps
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata
    from lerobot.datasets.sampler import EpisodeAwareSampler
    from lerobot.datasets.utils import cycle, dataset_to_policy_features
    from lerobot.policies.factory import make_policy, make_pre_post_processors

    start_s = time.perf_counter()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    meta = LeRobotDatasetMetadata("local/" + dataset_dir.name, root=dataset_dir)
    features = dataset_to_policy_features(meta.features)
    _check_features(dataset_dir, features, config.use_image)
    policy_cfg = _policy_config(config)
    policy_cfg.input_features = {
        key: ft
        for key, ft in features.items()
        if key != ACTION_KEY and (config.use_image or ft.type is not FeatureType.VISUAL)
    }
    dataset = LeRobotDataset(
        meta.repo_id, root=dataset_dir, delta_timestamps=resolve_delta_timestamps(policy_cfg, meta)
    )
    policy = make_policy(policy_cfg, ds_meta=meta)
    stats = _floored_stats(meta.stats, config.min_norm_spread)
    preprocessor, postprocessor = make_pre_post_processors(policy_cfg, dataset_stats=stats)
    optimizer_cfg = policy_cfg.get_optimizer_preset()
    optimizer = optimizer_cfg.build(policy.get_optim_params())
    scheduler_cfg = policy_cfg.get_scheduler_preset()
    scheduler = scheduler_cfg.build(optimizer, config.steps) if scheduler_cfg is not None else None

    sampler = None
    if hasattr(policy_cfg, "drop_n_last_frames"):  # as lerobot-train: no samples whose chunk runs far past the end
        sampler = EpisodeAwareSampler(
            meta.episodes["dataset_from_index"],
            meta.episodes["dataset_to_index"],
            drop_n_last_frames=policy_cfg.drop_n_last_frames,
            shuffle=True,
        )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )
    batches = cycle(loader)
    history: list[tuple[int, float]] = []  # (update, mean loss since the previous entry)
    interval_losses: list[float] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads or threads)  # restored below: the setting is process-wide
    try:
        policy.train()
        for step in range(1, config.steps + 1):  # lerobot-train's update_policy, without accelerate
            loss, _ = policy.forward(preprocessor(next(batches)))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), optimizer_cfg.grad_clip_norm)
            optimizer.step()
            optimizer.zero_grad()
            if scheduler is not None:
                scheduler.step()
            interval_losses.append(loss.item())
            if step == 1 or step % config.log_every_steps == 0 or step == config.steps:
                history.append((step, float(np.mean(interval_losses))))
                interval_losses.clear()
                if progress is not None:
                    progress(*history[-1])
    finally:
        torch.set_num_threads(threads)
    wall_time_s = time.perf_counter() - start_s

    policy.eval()
    policy.save_pretrained(out_dir)
    preprocessor.save_pretrained(out_dir)
    postprocessor.save_pretrained(out_dir)
    num_parameters = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    summary = {"steps": config.steps, "wall_time_s": wall_time_s, "final_loss": history[-1][1]}
    record = {
        "config": asdict(config),
        "dataset_dir": str(dataset_dir.resolve()),
        "dataset": {"fps": meta.fps, "episodes": meta.total_episodes, "frames": meta.total_frames},
        "lerobot_version": lerobot.__version__,
        "result": {**summary, "num_parameters": num_parameters, "loss_history": history},
    }
    (out_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n")
    trained_features = [*policy_cfg.input_features, *policy_cfg.output_features]
    layout = layouts_from_features({key: meta.features[key] for key in trained_features})
    write_checkpoint_info(out_dir, meta.tasks.index, layout, _weight_files(out_dir))
    size_bytes = sum(path.stat().st_size for path in out_dir.rglob("*") if path.is_file())
    return TrainResult(
        **summary,
        loss_history=history,
        checkpoint_dir=out_dir,
        checkpoint_size_bytes=size_bytes,
        num_parameters=num_parameters,
    )


def write_info_from_config(checkpoint_dir: Path, task: str) -> CheckpointInfo:
    """Write ``robot_rl_checkpoint.json`` for a base checkpoint trained before train-base wrote one.

    The layout is derived from ``config.json``: robot_rl's own features (:func:`dataset_features`) with as many
    slots, without slot embeddings, as ``observation.environment_state`` holds; ``task`` is taken on trust.
    """
    checkpoint_dir = Path(checkpoint_dir)
    config = json.loads((checkpoint_dir / "config.json").read_text())
    trained = {**config["input_features"], **config["output_features"]}
    shapes = {name: tuple(feature["shape"]) for name, feature in trained.items()}
    image = shapes.get(IMAGE_KEY)  # LeRobot's (C, H, W); fed as (H, W, C)
    num_slots = shapes.get(ENVIRONMENT_STATE_KEY, (0,))[0] // len(SLOT_FIELDS)
    features = dataset_features(num_slots, image_shape_hw=None if image is None else image[1:])
    as_fed = {name: (*shape[1:], shape[0]) if name == IMAGE_KEY else shape for name, shape in shapes.items()}
    foreign = [name for name, shape in as_fed.items() if name not in features or features[name]["shape"] != shape]
    if foreign:
        raise PolicyError(f"{checkpoint_dir}: {', '.join(foreign)} do not match robot_rl's features")
    derived = {name: features[name] for name in shapes}
    return write_checkpoint_info(checkpoint_dir, [task], layouts_from_features(derived), _weight_files(checkpoint_dir))


def _weight_files(checkpoint_dir: Path) -> list[str]:
    """The files whose bytes the checkpoint info hashes: the weights and the normalization statistics."""
    return sorted(path.name for path in checkpoint_dir.glob("*.safetensors"))


def _policy_config(config: TrainConfig) -> Any:
    """The LeRobot policy config (ACTConfig or DiffusionConfig) for ``config``; features are set later."""
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

    common: dict[str, Any] = {"device": config.device, "push_to_hub": False, "n_action_steps": config.n_action_steps}
    if config.learning_rate is not None:  # else the preset's optimizer_lr stays
        common["optimizer_lr"] = config.learning_rate
    if config.policy == "act":
        if config.learning_rate is not None:  # the backbone (images only) trains from scratch like the rest
            common["optimizer_lr_backbone"] = config.learning_rate
        shared = ("chunk_size", "dim_model", "n_heads", "dim_feedforward", "n_encoder_layers", "n_decoder_layers",
                  "use_vae", "kl_weight", "dropout")  # fmt: skip
        policy_cfg = ACTConfig(
            **common,
            **{name: getattr(config, name) for name in shared},
            n_vae_encoder_layers=config.n_encoder_layers,
            pretrained_backbone_weights=None,  # from scratch: nothing is downloaded
        )
    else:
        policy_cfg = DiffusionConfig(
            **common,
            horizon=config.chunk_size,
            n_obs_steps=config.n_obs_steps,
            drop_n_last_frames=config.chunk_size - config.n_action_steps - config.n_obs_steps + 1,
            pretrained_backbone_weights=None,
            down_dims=config.down_dims,
            num_train_timesteps=config.num_train_timesteps,
            num_inference_steps=config.num_inference_steps,
            noise_scheduler_type=config.noise_scheduler,
            scheduler_warmup_steps=config.warmup_steps,
        )
    # LeRobot's presets leave ENV features (our object slots) unnormalized; normalize them like the state.
    policy_cfg.normalization_mapping["ENV"] = policy_cfg.normalization_mapping["STATE"]
    return policy_cfg


def _floored_stats(stats: dict[str, dict[str, np.ndarray]], min_spread: float) -> dict[str, dict[str, np.ndarray]]:
    """The dataset stats with every std and (max - min) at least ``min_spread`` (min/max widened about their middle).

    LeRobot's normalizer divides by ``std + 1e-8`` (or ``max - min``), so a dimension that never changes in the
    demos (an always-empty object slot, a fixed quaternion component) would turn any change at run time into ~1e8.
    """
    floored = {key: dict(value) for key, value in stats.items()}
    for value in floored.values():
        if any(np.asarray(array).dtype == np.bool_ for array in value.values()):
            continue  # flags such as next.done: never normalized, and bools do not subtract
        if "std" in value:
            value["std"] = np.maximum(value["std"], min_spread)
        if "min" in value and "max" in value:
            middle, half = (value["max"] + value["min"]) / 2, np.maximum(value["max"] - value["min"], min_spread) / 2
            value["min"], value["max"] = middle - half, middle + half
    return floored


def check_dataset_files(dataset_dir: Path) -> None:
    """Raise DatasetError unless ``dataset_dir`` holds a complete local LeRobot dataset (else LeRobot goes online)."""
    if not (dataset_dir / "meta" / "info.json").is_file():
        raise DatasetError(f"no LeRobot dataset at {dataset_dir} (no meta/info.json)")
    for pattern in ("meta/tasks.parquet", "meta/stats.json", "meta/episodes/*/*.parquet", "data/*/*.parquet"):
        if not any(dataset_dir.glob(pattern)):
            raise DatasetError(f"incomplete LeRobot dataset at {dataset_dir}: no {pattern} (was it finalized?)")
    check_dataset(dataset_dir)  # a recording killed while saving: the error says how to recover


def _check_features(dataset_dir: Path, features: dict[str, Any], use_image: bool) -> None:
    """Raise DatasetError if the dataset lacks a feature the policy needs."""
    from lerobot.configs.types import FeatureType

    required = [STATE_KEY, ACTION_KEY] + ([] if use_image else [ENVIRONMENT_STATE_KEY])
    missing = [key for key in required if key not in features]
    if use_image and not any(ft.type is FeatureType.VISUAL for ft in features.values()):
        missing.append("an observation.images.* feature (use_image=True)")
    if missing:
        raise DatasetError(f"dataset {dataset_dir} lacks {', '.join(missing)}; it has {', '.join(sorted(features))}")


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse a non-empty out_dir; with ``overwrite``, remove it if it holds a previous run of train_base."""
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return
    if not overwrite:
        raise PolicyError(f"output directory {out_dir} is not empty (pass overwrite=True to replace a previous run)")
    if not (out_dir / TRAIN_CONFIG_FILE).is_file():
        raise PolicyError(f"output directory {out_dir} is not empty and holds no previous run; not deleting it")
    shutil.rmtree(out_dir)


def _unsupported_policy_message(name: str) -> str:
    """One line: the policies we train, and what LeRobot itself registers."""
    prepare_torchvision()
    import lerobot.policies  # noqa: F401  (registers LeRobot's policy configs)
    from lerobot.configs.policies import PreTrainedConfig

    known = sorted(PreTrainedConfig.get_known_choices())
    supported = ", ".join(SUPPORTED_POLICIES)
    if name in known:
        return f"policy {name!r} is a LeRobot policy that train_base does not train; supported: {supported}"
    others = ", ".join(choice for choice in known if choice not in SUPPORTED_POLICIES)
    return f"unknown policy {name!r}; supported: {supported} (LeRobot's others, not trained here: {others})"
