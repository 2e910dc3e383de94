"""Checkpoints of the residual learner: the actor for the residual node, and the full state for resuming training.

**Actor checkpoint** (a directory; what the residual node loads, nothing else):

- ``model.safetensors``: ``obs_mean``, ``obs_std`` (the normalizer, (obs_dim,)) and ``actor.<param>`` (the
  :class:`~robot_rl.rl.networks.ResidualActor` state, ``actor.residual_scale`` and
  ``actor.gripper_residual_scale`` included);
- ``config.json``: the observation feature names (one per observation dimension, in order), the action feature
  names, the dimensions, ``residual_scale`` and ``gripper_residual_scale``, the hidden widths, the task, the
  sha256 of the base policy's weights it was trained against (``FrozenBasePolicy.loaded_hash``), robot_rl and
  torch versions, the full TD3 config for people, and the sha256 of ``model.safetensors``.

:func:`load_residual` never unpickles (``safetensors.torch.load_file`` and ``json`` only) and raises
:class:`~robot_rl.errors.PolicyError` with a one-line message on any missing, corrupt, modified or mismatched part.

**Training state** (a directory; for resuming): ``learner.safetensors`` (``ResidualTD3.state_dict``: networks,
targets, AdamW moments, the learner's generator and counters), ``buffers.npz`` (the replay buffers, written with
``np.savez`` and read with ``allow_pickle=False``) and ``training.json`` (the caller's counters, the numpy rng
state, the config and the files' sha256). It is written to ``<dir>.tmp`` and swapped in with ``os.replace``, so a
kill mid-save leaves the previous complete checkpoint (as ``<dir>`` or, during the swap, ``<dir>.old``, which
:func:`load_training_state` falls back to).

**Versions**: format 2 added the gripper's own residual bound. A format-1 file (actor or training state) had one
bound on every component, so it loads as format 2 with ``gripper_residual_scale = residual_scale``, exactly.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save, save_file

import robot_rl
from robot_rl.action_space import ACTION_NAMES
from robot_rl.errors import LearnerError, PolicyError
from robot_rl.policies.checkpoint_info import file_sha256
from robot_rl.rl.networks import ObservationNormalizer, ResidualActor, act_numpy
from robot_rl.rl.replay import ReplayBuffer
from robot_rl.rl.td3 import ResidualTD3

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "robot_rl.residual_actor"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # format 1: one residual bound on every component (no gripper_residual_scale)
LEARNER_FILE = "learner.safetensors"
BUFFERS_FILE = "buffers.npz"
TRAINING_FILE = "training.json"
TRAINING_FORMAT = "robot_rl.residual_td3_training"
RUNTIME_FIELDS = ("num_threads", "device")  # TD3Config fields a resumed run may change
WEIGHTS_CONFIG_KEY = "robot_rl_config"  # the weights message's safetensors metadata key holding its config
_BUFFER_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class ResidualMetadata:
    """What an actor checkpoint was trained for, recorded in ``config.json`` and checked at load."""

    obs_features: tuple[str, ...]  # name of each observation dimension, in order (obs_dim names)
    task: str  # the task it was trained on (robosuite name, e.g. "Lift")
    base_weights_hash: str  # sha256 hex of the base policy's weights (FrozenBasePolicy.loaded_hash)
    action_features: tuple[str, ...] = ACTION_NAMES  # name of each action dimension, in order


@dataclass
class ResidualActorBundle:
    """A loaded actor checkpoint: the actor in eval mode without gradients, its normalizer and metadata."""

    actor: ResidualActor  # eval mode, requires_grad False
    normalizer: ObservationNormalizer  # the training run's observation statistics
    metadata: ResidualMetadata  # features, task and base hash from config.json
    config: dict[str, Any]  # the whole parsed config.json
    source: Path | None  # the checkpoint directory (None: from a weights message)

    @property
    def residual_scale(self) -> float:
        """Bound on each motion component of the residual, normalized action units."""
        return float(self.actor.residual_scale)

    @property
    def gripper_residual_scale(self) -> float:
        """Bound on the gripper component of the residual, normalized action units."""
        return float(self.actor.gripper_residual_scale)

    @property
    def exploration_noise(self) -> float | None:
        """Std of the Gaussian exploration noise the actor was trained with (``td3_config``), normalized action
        units; None when the checkpoint does not record it (one written by hand)."""
        td3_config = self.config.get("td3_config")
        return None if td3_config is None else float(td3_config["exploration_noise"])

    @property
    def model_sha256(self) -> str:
        """sha256 hex of ``model.safetensors`` (verified at load)."""
        return str(self.config["model_sha256"])

    def act(self, obs: np.ndarray, base_action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(obs_dim,) raw observation, (action_dim,) base action -> ``(clip(base + r, -1, 1), r)``, deterministic."""
        return act_numpy(self.normalizer, self.actor, obs, base_action)


# --------------------------------------------------------------------------------------------- actor checkpoint
def _actor_tensors(learner: ResidualTD3) -> dict[str, torch.Tensor]:
    """The normalizer and actor tensors an actor checkpoint or weights message carries (finite, CPU copies)."""
    tensors = {
        "obs_mean": learner.normalizer.mean.detach().cpu().clone(),
        "obs_std": learner.normalizer.std.detach().cpu().clone(),
    }
    for name, tensor in learner.actor.state_dict().items():
        tensors[f"actor.{name}"] = tensor.detach().cpu().clone()
    for name, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise PolicyError(f"refusing to save a residual whose {name} holds NaN or Inf")
    return tensors


def _actor_config(learner: ResidualTD3, metadata: ResidualMetadata) -> dict[str, Any]:
    """config.json's content without the file hash (also the header of a weights message)."""
    if len(metadata.obs_features) != learner.obs_dim:
        raise PolicyError(f"{len(metadata.obs_features)} observation feature names for obs_dim {learner.obs_dim}")
    if len(metadata.action_features) != learner.action_dim:
        raise PolicyError(f"{len(metadata.action_features)} action feature names for action_dim {learner.action_dim}")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "obs_features": list(metadata.obs_features),
        "action_features": list(metadata.action_features),
        "obs_dim": learner.obs_dim,
        "action_dim": learner.action_dim,
        "residual_scale": float(learner.actor.residual_scale),
        "gripper_residual_scale": float(learner.actor.gripper_residual_scale),
        "actor_hidden": list(learner.actor.hidden),
        "task": metadata.task,
        "base_weights_hash": metadata.base_weights_hash,
        "robot_rl_version": robot_rl.__version__,
        "torch_version": torch.__version__,
        "td3_config": learner.config.to_dict(),
    }


def save_residual(directory: str | Path, learner: ResidualTD3, metadata: ResidualMetadata) -> dict[str, Any]:
    """Write the learner's actor and normalizer to ``directory`` (created if needed); returns config.json's content.

    Raises:
        PolicyError: If the feature lists do not match the learner's dimensions, or a weight is not finite.
    """
    directory = Path(directory)
    config = _actor_config(learner, metadata)
    tensors = _actor_tensors(learner)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    _save_safetensors_atomic(tensors, model_path)
    config["model_sha256"] = file_sha256(model_path)
    config["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    _write_text_atomic(directory / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return config


def encode_actor_weights(learner: ResidualTD3, metadata: ResidualMetadata, version: int) -> bytes:
    """The actor as one safetensors blob for a weights message; config.json's fields and ``version`` ride in its
    header's ``__metadata__`` (what :func:`decode_actor_weights` reads back without unpickling)."""
    config = _actor_config(learner, metadata) | {"version": int(version)}
    return save(_actor_tensors(learner), metadata={WEIGHTS_CONFIG_KEY: json.dumps(config)})


def decode_actor_weights(
    data: bytes,
    expected_obs_features: Sequence[str] | None = None,
    expected_action_dim: int | None = len(ACTION_NAMES),
    expected_base_hash: str | None = None,
) -> tuple[ResidualActorBundle, int]:
    """Read :func:`encode_actor_weights`'s blob: the actor bundle (checked as :func:`load_residual` checks a
    directory) and its version.

    Raises:
        PolicyError: On a truncated or malformed blob, or any check of :func:`load_residual`.
    """
    where = "residual weights message"
    try:
        tensors = load(bytes(data))
        header = _safetensors_header(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as error:
        raise PolicyError(f"{where} is truncated or corrupt ({' '.join(str(error).split())})") from None
    text = header.get("__metadata__", {}).get(WEIGHTS_CONFIG_KEY)
    if not isinstance(text, str):
        raise PolicyError(f"{where} has no {WEIGHTS_CONFIG_KEY} in its header")
    config = _check_config(_parse_json(text, where, WEIGHTS_CONFIG_KEY), where, WEIGHTS_CONFIG_KEY)
    version = config.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise PolicyError(f"{where}: version must be an int >= 0, got {version!r}")
    _check_expected(config, where, expected_obs_features, expected_action_dim, expected_base_hash)
    return _bundle(tensors, config, where, None), version


def _safetensors_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a safetensors blob (8-byte little-endian length, then JSON): no pickle involved."""
    if len(data) < 8:
        raise ValueError("shorter than the 8-byte header length")
    length = int.from_bytes(data[:8], "little")
    if length > len(data) - 8:
        raise ValueError(f"header of {length} bytes in a blob of {len(data)}")
    header = json.loads(data[8 : 8 + length])
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header


def load_residual(
    directory: str | Path,
    expected_obs_features: Sequence[str] | None = None,
    expected_action_dim: int | None = len(ACTION_NAMES),
    expected_base_hash: str | None = None,
) -> ResidualActorBundle:
    """Load an actor checkpoint written by :func:`save_residual` (CPU, eval mode, no gradients).

    Args:
        directory: The checkpoint directory.
        expected_obs_features: The observation feature names the caller feeds, in order; None = not checked.
        expected_action_dim: The action size the caller uses; None = not checked.
        expected_base_hash: The sha256 of the base policy the residual will sit on; None = not checked.

    Raises:
        PolicyError: On a missing directory or file, a malformed config.json, a truncated or corrupt
            model.safetensors, a sha256 mismatch, a tensor whose name or shape does not match config.json,
            NaN/Inf weights, or observation features, action size or base hash that differ from the expected.
    """
    directory = Path(directory)
    where = f"residual checkpoint {directory}"
    if not directory.is_dir():
        raise PolicyError(f"{where} does not exist or is not a directory")
    config = _read_config(directory / CONFIG_FILE, where)
    _check_expected(config, where, expected_obs_features, expected_action_dim, expected_base_hash)
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise PolicyError(f"{where}: {MODEL_FILE} is missing")
    try:
        tensors = load_file(model_path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        summary = " ".join(str(error).split())
        raise PolicyError(f"{where}: {MODEL_FILE} is truncated or corrupt ({summary})") from None
    actual = file_sha256(model_path)
    if actual != config["model_sha256"]:
        raise PolicyError(
            f"{where}: {MODEL_FILE} has sha256 {actual[:16]}, config.json records {config['model_sha256'][:16]}"
            " (corrupt or modified)"
        )
    return _bundle(tensors, config, where, directory)


def _check_expected(
    config: dict[str, Any],
    where: str,
    expected_obs_features: Sequence[str] | None,
    expected_action_dim: int | None,
    expected_base_hash: str | None,
) -> None:
    """The caller's observation features, action size and base hash against the recorded ones."""
    obs_features = tuple(config["obs_features"])
    if expected_obs_features is not None and tuple(expected_obs_features) != obs_features:
        raise PolicyError(f"{where}: {_feature_difference(obs_features, tuple(expected_obs_features))}")
    if expected_action_dim is not None and config["action_dim"] != expected_action_dim:
        raise PolicyError(f"{where} outputs {config['action_dim']} action dims, expected {expected_action_dim}")
    if expected_base_hash is not None and config["base_weights_hash"] != expected_base_hash:
        raise PolicyError(
            f"{where} was trained on base weights {config['base_weights_hash'][:16]}, this base is"
            f" {expected_base_hash[:16]}: retrain the residual for this base"
        )


def _bundle(
    tensors: dict[str, torch.Tensor], config: dict[str, Any], where: str, source: Path | None
) -> ResidualActorBundle:
    """Build the actor from checked tensors: names and shapes as config implies, finite, the bounds agreed."""
    if config["format_version"] == 1:
        tensors = _upgrade_actor_tensors(tensors, "actor")
    with torch.random.fork_rng(devices=[]):  # building the module draws an init we overwrite
        try:
            actor = ResidualActor(
                config["obs_dim"],
                config["action_dim"],
                config["actor_hidden"],
                config["residual_scale"],
                config["gripper_residual_scale"],
            )
        except LearnerError as error:
            raise PolicyError(f"{where}: config.json describes an invalid actor: {error}") from None
    expected = {f"actor.{name}": tuple(t.shape) for name, t in actor.state_dict().items()}
    expected |= {"obs_mean": (config["obs_dim"],), "obs_std": (config["obs_dim"],)}
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise PolicyError(f"{where}: {MODEL_FILE} lacks {missing} / has unexpected {unexpected} tensors")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise PolicyError(
                f"{where}: tensor {name} has shape {tuple(tensors[name].shape)}, config.json implies {shape}"
            )
        if not bool(torch.isfinite(tensors[name]).all()):
            raise PolicyError(f"{where}: tensor {name} holds NaN or Inf")
    for key in ("residual_scale", "gripper_residual_scale"):
        if not math.isclose(float(tensors[f"actor.{key}"]), config[key], rel_tol=1e-6):
            raise PolicyError(
                f"{where}: {key} is {float(tensors[f'actor.{key}'])} in {MODEL_FILE}, {config[key]} in config.json"
            )
    if bool((tensors["obs_std"] <= 0).any()):
        raise PolicyError(f"{where}: obs_std must be > 0")
    actor.load_state_dict({name[len("actor.") :]: t for name, t in tensors.items() if name.startswith("actor.")})
    actor.eval().requires_grad_(False)
    normalizer = ObservationNormalizer(tensors["obs_mean"], tensors["obs_std"]).eval()
    metadata = ResidualMetadata(
        obs_features=tuple(config["obs_features"]),
        task=config["task"],
        base_weights_hash=config["base_weights_hash"],
        action_features=tuple(config["action_features"]),
    )
    return ResidualActorBundle(actor, normalizer, metadata, config, source)


def _upgrade_actor_tensors(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Format-1 tensors with ``<prefix>.gripper_residual_scale`` added: format 1 bounded the gripper by
    ``<prefix>.residual_scale`` like every other component (a missing scale stays missing, reported later)."""
    upgraded = dict(tensors)
    scale = tensors.get(f"{prefix}.residual_scale")
    if scale is not None:
        upgraded.setdefault(f"{prefix}.gripper_residual_scale", scale.clone())
    return upgraded


_CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "format_version": int,
    "obs_features": list,
    "action_features": list,
    "obs_dim": int,
    "action_dim": int,
    "residual_scale": (int, float),
    "gripper_residual_scale": (int, float),
    "actor_hidden": list,
    "task": str,
    "base_weights_hash": str,
}


def _read_config(path: Path, where: str) -> dict[str, Any]:
    """Parse and check config.json's required fields and their consistency."""
    if not path.is_file():
        raise PolicyError(f"{where}: {path.name} is missing")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"{where}: {path.name} is not readable ({error})") from None
    config = _check_config(_parse_json(text, where, path.name), where, path.name)
    if not isinstance(config.get("model_sha256"), str):
        raise PolicyError(f"{where}: {path.name} lacks 'model_sha256'")
    return config


def _parse_json(text: str, where: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(f"{where}: {name} is not valid JSON ({error})") from None


def _check_config(config: Any, where: str, name: str) -> dict[str, Any]:
    """The actor config's required fields, their types, its format and its consistency."""
    if not isinstance(config, dict):
        raise PolicyError(f"{where}: {name} must hold a JSON object")

    def check_fields(keys: Sequence[str]) -> None:
        for key in keys:
            if key not in config:
                raise PolicyError(f"{where}: {name} lacks {key!r}")
            kind = _CONFIG_TYPES[key]
            if isinstance(config[key], bool) or not isinstance(config[key], kind):
                raise PolicyError(f"{where}: {name} field {key!r} has the wrong type ({type(config[key]).__name__})")

    check_fields(("format", "format_version"))
    if config["format"] != FORMAT or config["format_version"] not in READABLE_VERSIONS:
        raise PolicyError(
            f"{where}: {name} is format {config['format']!r} v{config['format_version']},"
            f" this robot_rl reads {FORMAT!r} v{'/'.join(map(str, READABLE_VERSIONS))}"
        )
    if config["format_version"] == 1 and "residual_scale" in config:  # format 1: one bound on every axis
        config = config | {"gripper_residual_scale": config["residual_scale"]}
    check_fields(tuple(_CONFIG_TYPES))
    for key, dim in (("obs_features", "obs_dim"), ("action_features", "action_dim")):
        names = config[key]
        if not all(isinstance(item, str) for item in names) or len(names) != config[dim]:
            raise PolicyError(f"{where}: {name} {key} must be {config[dim]} ({dim}) strings")
    if "td3_config" in config:  # optional; its exploration noise is what a residual node explores with
        td3_config = config["td3_config"]
        noise = td3_config.get("exploration_noise") if isinstance(td3_config, dict) else None
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not math.isfinite(noise) or noise < 0:
            raise PolicyError(
                f"{where}: {name} td3_config.exploration_noise must be a finite number >= 0, got {noise!r}"
            )
    return config


def _feature_difference(trained: tuple[str, ...], fed: tuple[str, ...]) -> str:
    """One line saying how the fed observation features differ from the trained ones."""
    if len(trained) != len(fed):
        return f"trained on {len(trained)} observation features, the caller feeds {len(fed)}"
    index = next(i for i, (a, b) in enumerate(zip(trained, fed, strict=True)) if a != b)
    return f"observation feature {index} was trained as {trained[index]!r}, the caller feeds {fed[index]!r}"


# ----------------------------------------------------------------------------------------------- training state
def save_training_state(
    path: str | Path,
    learner: ResidualTD3,
    buffers: Mapping[str, ReplayBuffer],
    counters: Mapping[str, int | float],
    rng: np.random.Generator | None = None,
) -> Path:
    """Write everything needed to resume training to the directory ``path``, replacing it atomically.

    Args:
        path: The checkpoint directory (replaced as a whole).
        learner: The learner (networks, targets, optimizers, generator, update counters).
        buffers: Replay buffers by name (letters, digits, underscores), e.g. {"online": ..., "offline": ...}.
        counters: The training loop's counters (env steps, episodes, ...), finite numbers.
        rng: The training loop's numpy generator (sampling, exploration), saved with its state.

    Returns:
        ``path``.
    """
    path = Path(path)
    for name in buffers:
        if not _BUFFER_NAME.match(name):
            raise PolicyError(f"replay buffer name {name!r} must be letters, digits and underscores")
    for name, value in counters.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PolicyError(f"training counter {name!r} must be a finite number, got {value!r}")
    if path.exists() and not (path / TRAINING_FILE).is_file() and (not path.is_dir() or any(path.iterdir())):
        raise PolicyError(f"refusing to replace {path}: it exists and is not a training checkpoint")
    temporary, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    _save_safetensors_atomic(learner.state_dict(), temporary / LEARNER_FILE)
    arrays = {f"{name}.{key}": value for name, buffer in buffers.items() for key, value in buffer.state_dict().items()}
    with open(temporary / BUFFERS_FILE, "wb") as handle:
        np.savez(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())
    record = {
        "format": TRAINING_FORMAT,
        "format_version": FORMAT_VERSION,
        "td3_config": learner.config.to_dict(),
        "obs_dim": learner.obs_dim,
        "action_dim": learner.action_dim,
        "buffers": {name: buffer.capacity for name, buffer in buffers.items()},
        "counters": dict(counters),
        "rng_state": rng.bit_generator.state if rng is not None else None,
        "files": {name: file_sha256(temporary / name) for name in (LEARNER_FILE, BUFFERS_FILE)},
        "robot_rl_version": robot_rl.__version__,
        "torch_version": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_text_atomic(temporary / TRAINING_FILE, json.dumps(record, indent=2) + "\n")
    _fsync_directory(temporary)
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(temporary, path)
    _fsync_directory(path.parent)
    shutil.rmtree(old, ignore_errors=True)
    return path


def training_state_exists(path: str | Path) -> bool:
    """Whether a run saved a training state at ``path``: its directory, or the ``.old`` copy that a kill between the
    two renames of :func:`save_training_state` leaves alone (:func:`load_training_state` reads it then, and says
    what is wrong with a damaged one)."""
    path = Path(path)
    return path.exists() or path.with_name(path.name + ".old").exists()


def load_training_state(
    path: str | Path,
    learner: ResidualTD3,
    buffers: Mapping[str, ReplayBuffer],
    rng: np.random.Generator | None = None,
) -> dict[str, int | float]:
    """Restore :func:`save_training_state`'s checkpoint into ``learner``, ``buffers`` and ``rng``; returns the counters.

    The learner must be built with the same config (``num_threads`` and ``device`` may differ) and dimensions,
    and ``buffers`` must name the same buffers with the same capacities.

    Raises:
        PolicyError: If the checkpoint is missing, corrupt or modified, or does not fit the learner or buffers.
    """
    path = Path(path)
    old = path.with_name(path.name + ".old")
    if not (path / TRAINING_FILE).is_file() and (old / TRAINING_FILE).is_file():
        path = old  # a kill between the two renames of a save: the previous checkpoint is complete
    where = f"training checkpoint {path}"
    if not (path / TRAINING_FILE).is_file():
        raise PolicyError(f"{where}: {TRAINING_FILE} is missing")
    try:
        record = json.loads((path / TRAINING_FILE).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("format") != TRAINING_FORMAT:
            raise ValueError(f"not a {TRAINING_FORMAT} record")
        saved_config, files, capacities = record["td3_config"], record["files"], record["buffers"]
        if not all(isinstance(value, dict) for value in (saved_config, files, capacities)):
            raise ValueError("td3_config, files and buffers must be objects")
        counters, rng_state = record["counters"], record["rng_state"]
        dims = (record["obs_dim"], record["action_dim"])
        version = record["format_version"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise PolicyError(f"{where}: {TRAINING_FILE} is malformed ({error})") from None
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        readable = "/".join(map(str, READABLE_VERSIONS))
        raise PolicyError(f"{where} is format v{version}, this robot_rl reads v{readable}")
    bad_counters = (
        [f"{name}={value!r}" for name, value in counters.items() if not _is_count(value)]
        if isinstance(counters, dict)
        else [repr(counters)]
    )
    if bad_counters:
        raise PolicyError(f"{where}: counters must be finite numbers >= 0, got {', '.join(bad_counters)}")
    if version == 1:  # format 1: one bound on every axis
        saved_config = saved_config | {"gripper_residual_scale": saved_config.get("residual_scale")}
    current = learner.config.to_dict()
    changed = sorted(
        key
        for key in set(current) | set(saved_config)
        if key not in RUNTIME_FIELDS and current.get(key) != saved_config.get(key)
    )
    if changed:
        raise PolicyError(f"{where} was saved with a different TD3Config: {', '.join(changed)} differ")
    if dims != (learner.obs_dim, learner.action_dim):
        raise PolicyError(
            f"{where} has (obs_dim, action_dim) {dims}, the learner {(learner.obs_dim, learner.action_dim)}"
        )
    given = {name: buffer.capacity for name, buffer in buffers.items()}
    if capacities != given:
        raise PolicyError(f"{where} holds buffers {capacities} (name: capacity), given {given}")
    if rng is not None and rng_state is None:
        raise PolicyError(f"{where} has no rng state to restore")
    for name in (LEARNER_FILE, BUFFERS_FILE):
        if not (path / name).is_file():
            raise PolicyError(f"{where}: {name} is missing")
        if file_sha256(path / name) != files.get(name):
            raise PolicyError(f"{where}: {name} does not match the sha256 in {TRAINING_FILE} (corrupt or modified)")
    try:
        state = load_file(path / LEARNER_FILE)
        if version == 1:
            state = _upgrade_actor_tensors(_upgrade_actor_tensors(state, "actor"), "actor_target")
        learner.load_state_dict(state)
    except (SafetensorError, OSError) as error:
        raise PolicyError(f"{where}: {LEARNER_FILE} is truncated or corrupt ({error})") from None
    except LearnerError as error:
        raise PolicyError(f"{where}: {error}") from None
    try:
        with np.load(path / BUFFERS_FILE, allow_pickle=False) as archive:
            for name, buffer in buffers.items():
                prefix = f"{name}."
                buffer.load_state_dict(
                    {key[len(prefix) :]: archive[key] for key in archive.files if key.startswith(prefix)}
                )
    except (OSError, ValueError) as error:
        raise PolicyError(f"{where}: {BUFFERS_FILE} is unreadable ({error})") from None
    except LearnerError as error:
        raise PolicyError(f"{where}: {error}") from None
    if rng is not None:
        try:
            rng.bit_generator.state = rng_state
        except (TypeError, ValueError, KeyError) as error:
            raise PolicyError(f"{where}: its rng state does not fit this generator ({error})") from None
    return dict(counters)


def _is_count(value: Any) -> bool:
    """A training counter: a finite int or float >= 0 (env steps, episodes, wall seconds)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


# -------------------------------------------------------------------------------------------------- file helpers
def _save_safetensors_atomic(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """``save_file`` to a temporary file next to ``path``, fsync, then ``os.replace``."""
    temporary = path.with_name(path.name + ".tmp")
    save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(temporary))
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _write_text_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_directory(path: Path) -> None:
    """Make the directory's entries (renames) durable; a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
