"""The frozen base policy: any LeRobot PreTrainedPolicy, loaded from a local directory and used for inference only.

:func:`load_base_policy` reads the layout lerobot-train writes (``pretrained_model/``): ``config.json`` (its
``type`` picks the class through LeRobot's ``get_policy_class``), ``model.safetensors`` and the processor
pipelines ``policy_preprocessor.json`` / ``policy_postprocessor.json`` with their state files. Every file is
checked here first and the Hugging Face hub is switched off while LeRobot loads, so a missing path or file is a
:class:`PolicyError`, never a download. :class:`FrozenBasePolicy` runs preprocessor -> ``predict_action_chunk``
-> postprocessor under ``torch.inference_mode()`` and watches a sha256 of its weights; :class:`ActionChunker`
turns the predicted chunks into one action per control tick (LeRobot's action queue, or ACT temporal ensembling).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.action_space import ACTION_DIM
from robot_rl.errors import PolicyError
from robot_rl.policies.checkpoint_info import CHECKPOINT_INFO_FILE, CheckpointInfo, FeatureLayout, read_checkpoint_info

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PROCESSOR_FILES = ("policy_preprocessor.json", "policy_postprocessor.json")
CHUNK_MODES = ("queue", "ensemble")
# Policies whose predict_action_chunk reads an observation history that only their select_action fills.
_HISTORY_POLICIES = ("diffusion", "vqbet")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass
class ChunkingConfig:
    """How predicted action chunks become one action per control tick."""

    # "queue": execute the first n_action_steps actions of a chunk, predict again when they are used up
    # (LeRobot's select_action); "ensemble": predict every tick and average the overlapping predictions (ACT).
    mode: str = "queue"
    # queue mode: actions executed per predicted chunk; 0 = the whole chunk (load_base_policy: the policy
    # config's n_action_steps).
    n_action_steps: int = 0
    # ensemble mode: the i-th oldest prediction of a tick weighs exp(-ensemble_coeff * i); 0 = uniform,
    # > 0 favours older predictions (ACT's default 0.01).
    ensemble_coeff: float = 0.01

    def __post_init__(self) -> None:
        if self.mode not in CHUNK_MODES:
            raise PolicyError(f"chunk mode must be one of {', '.join(CHUNK_MODES)}, got {self.mode!r}")
        if isinstance(self.n_action_steps, bool) or not isinstance(self.n_action_steps, int) or self.n_action_steps < 0:
            raise PolicyError(f"n_action_steps must be an int >= 0 (0 = policy default), got {self.n_action_steps!r}")
        if not math.isfinite(float(self.ensemble_coeff)):
            raise PolicyError(f"ensemble_coeff must be finite, got {self.ensemble_coeff!r}")


class ActionChunker:
    """One action per tick from predicted chunks; ``step`` calls ``predict`` only when a new chunk is needed."""

    def __init__(self, config: ChunkingConfig | None = None) -> None:
        self.config = config or ChunkingConfig()
        self.predictions = 0  # chunks requested so far (not reset)
        self.reset()

    def reset(self) -> None:
        """Drop the plan (episode start, or a skipped tick: the plan assumed consecutive ticks)."""
        self._queue = np.zeros((0, 0), dtype=np.float32)  # queue mode: the actions still to execute
        self._sum = np.zeros((0, 0))  # ensemble mode, per future tick: sum of weight * prediction,
        self._weight = np.zeros(0)  # ... the sum of the weights,
        self._count = np.zeros(0, dtype=np.int64)  # ... and how many predictions cover it

    def step(self, predict: Callable[[], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Return (the action to execute now, the remaining planned chunk starting with it)."""
        if self.config.mode == "queue":
            if len(self._queue) == 0:
                chunk = self._predict(predict)
                self._queue = chunk[: self.config.n_action_steps or len(chunk)]
            plan, self._queue = self._queue, self._queue[1:]
            return plan[0].copy(), plan.copy()
        chunk = self._predict(predict).astype(np.float64)
        if self._sum.size and chunk.shape[1] != self._sum.shape[1]:
            raise PolicyError(f"chunk action size changed from {self._sum.shape[1]} to {chunk.shape[1]}")
        grow = max(0, len(chunk) - len(self._weight))
        self._sum = np.concatenate([self._sum.reshape(-1, chunk.shape[1]), np.zeros((grow, chunk.shape[1]))])
        self._weight = np.concatenate([self._weight, np.zeros(grow)])
        self._count = np.concatenate([self._count, np.zeros(grow, dtype=np.int64)])
        covered = slice(0, len(chunk))
        weights = np.exp(-float(self.config.ensemble_coeff) * self._count[covered])  # i = 0: the oldest
        self._sum[covered] += weights[:, None] * chunk
        self._weight[covered] += weights
        self._count[covered] += 1
        plan = (self._sum / self._weight[:, None]).astype(np.float32)
        self._sum, self._weight, self._count = self._sum[1:], self._weight[1:], self._count[1:]
        return plan[0].copy(), plan

    def _predict(self, predict: Callable[[], np.ndarray]) -> np.ndarray:
        chunk = np.asarray(predict(), dtype=np.float32)
        self.predictions += 1
        if chunk.ndim != 2 or len(chunk) == 0:
            raise PolicyError(f"a predicted chunk must be (steps >= 1, action_dim), got shape {chunk.shape}")
        return chunk


class FrozenBasePolicy:
    """A LeRobot policy in eval mode with gradients off, its processors, a weights hash and an action chunker."""

    def __init__(
        self,
        policy: Any,
        preprocessor: Any,
        postprocessor: Any,
        task_instruction: str = "",
        chunking: ChunkingConfig | None = None,
        source: str = "",
        checkpoint_info: CheckpointInfo | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        self.policy = policy.eval()
        self.policy.requires_grad_(False)
        self.preprocessor, self.postprocessor = preprocessor, postprocessor
        self.config = policy.config
        self.policy_type: str = self.config.type
        self.source = source  # where it was loaded from (for messages)
        self.checkpoint_info = checkpoint_info  # robot_rl_checkpoint.json, None for a checkpoint without one
        self.warnings = list(warnings)  # what loading could not check or let pass, for the caller to log
        self.task_instruction = task_instruction
        self.input_features = {name: tuple(ft.shape) for name, ft in self.config.input_features.items()}
        self._visual = [name for name, ft in self.config.input_features.items() if ft.type.name == "VISUAL"]
        self.action_dim = int(self.config.output_features["action"].shape[0])
        self.chunk_size = _chunk_length(self.config)  # actions per predict_action_chunk call
        steps = [type(step).__name__.lower() for step in getattr(preprocessor, "steps", [])]
        self.takes_language = any("tokenizer" in name for name in steps)
        if self.takes_language and not task_instruction:
            raise PolicyError(f"{self.policy_type} policy {source} takes a language instruction: set task_instruction")
        chunking = chunking or ChunkingConfig()
        if chunking.n_action_steps == 0:
            default = int(getattr(self.config, "n_action_steps", 0) or self.chunk_size)
            chunking = replace(chunking, n_action_steps=min(default, self.chunk_size))
        if chunking.n_action_steps > self.chunk_size:
            raise PolicyError(f"n_action_steps {chunking.n_action_steps} > the policy's chunk of {self.chunk_size}")
        self.chunker = ActionChunker(chunking)
        self.last_inference_s = float("nan")  # duration of the last chunk prediction, s
        self.loaded_hash = self.weights_hash()

    def weights_hash(self) -> str:
        """sha256 over the state_dict: names, dtypes, shapes and bytes of every tensor, in name order."""
        digest = hashlib.sha256()
        with torch.no_grad():
            for name, tensor in sorted(self.policy.state_dict().items()):
                flat = tensor.detach().to("cpu").contiguous().reshape(-1)
                digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
                digest.update(flat.view(torch.uint8).numpy())
        return digest.hexdigest()

    def verify_frozen(self) -> None:
        """Raise PolicyError if the weights changed since load, or the policy left eval mode / got gradients."""
        current = self.weights_hash()
        if current != self.loaded_hash:
            raise PolicyError(
                f"base policy weights changed since load (hash {current[:16]} != {self.loaded_hash[:16]})"
            )
        if self.policy.training or any(p.requires_grad for p in self.policy.parameters()):
            raise PolicyError("base policy was unfrozen since load (train mode or requires_grad)")

    def check_inputs(
        self,
        available: Mapping[str, tuple[int, ...] | None],
        action_dim: int | None = ACTION_DIM,
        layout: Mapping[str, FeatureLayout] | None = None,
    ) -> None:
        """Check the policy's inputs by name against the features on offer (image shapes as (H, W, 3); None =
        present, shape known only at run time), unless None its action size, and, when the checkpoint records
        its training layout, the named dimensions of ``layout`` (inputs and action); one PolicyError lists all."""
        problems = []
        for name in self.input_features:
            expected, offered = self._arriving_shape(name), available.get(name)
            if name not in available:
                problems.append(f"missing {name} {expected}")
            elif offered is not None and tuple(offered) != expected:
                problems.append(f"{name} has shape {tuple(offered)}, the policy expects {expected}")
        if action_dim is not None and self.action_dim != action_dim:
            problems.append(f"the policy outputs {self.action_dim} action dims, expected {action_dim}")
        if layout is not None and self.checkpoint_info is not None:
            problems += self.checkpoint_info.layout_problems(layout)
        if problems:
            raise PolicyError(
                f"{self.policy_type} policy {self.source} does not fit the observation: {'; '.join(problems)}"
            )

    def _arriving_shape(self, name: str) -> tuple[int, ...]:
        """A feature's shape as it arrives: images as (H, W, C) (the policy takes (C, H, W) floats in [0, 1])."""
        shape = self.input_features[name]
        return (*shape[1:], shape[0]) if name in self._visual else shape

    def reset(self) -> None:
        """Clear the policy's state (queues, history), its processors' and the chunker's (an episode starts)."""
        self.policy.reset()
        for pipeline in (self.preprocessor, self.postprocessor):
            if hasattr(pipeline, "reset"):
                pipeline.reset()
        self.chunker.reset()

    def predict_chunk(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Predict a (chunk_size, action_dim) float32 chunk of de-normalized actions for one observation."""
        with torch.inference_mode():
            return self._predict(self._observe(self._prepare(features)))

    def act(self, features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One control tick: (the action to execute now, the planned chunk starting with it), via the chunker."""
        with torch.inference_mode():
            batch = self._observe(self._prepare(features))  # every tick: policies with a history need each frame
            return self.chunker.step(lambda: self._predict(batch))

    def _prepare(self, features: Mapping[str, np.ndarray]) -> dict[str, Any]:
        missing = [name for name in self.input_features if name not in features]
        if missing:
            raise PolicyError(f"observation lacks {', '.join(missing)}")
        batch: dict[str, Any] = {}
        for name in self.input_features:
            value, expected = np.asarray(features[name]), self._arriving_shape(name)
            if value.shape != expected:
                raise PolicyError(f"{name} has shape {value.shape}, the policy expects {expected}")
            if name in self._visual:
                if value.dtype != np.uint8:
                    raise PolicyError(f"{name} must be a uint8 (H, W, 3) image, got {value.dtype}")
                batch[name] = torch.from_numpy(np.ascontiguousarray(value)).permute(2, 0, 1).float() / 255.0
            elif not np.all(np.isfinite(value)):
                raise PolicyError(f"non-finite value in {name}: the policy was not called")
            else:
                batch[name] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        if self.takes_language or self.task_instruction:
            batch["task"] = self.task_instruction
        batch = self.preprocessor(batch)
        batch.pop("action", None)  # the processors' batch has action=None; history policies would queue it
        return batch

    def _observe(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Push the frame into the history of policies whose predict_action_chunk only reads it (as select_action)."""
        if self.policy_type not in _HISTORY_POLICIES:
            return batch
        from lerobot.policies.utils import populate_queues

        batch = dict(batch)
        if self.config.image_features:
            batch["observation.images"] = torch.stack([batch[key] for key in self.config.image_features], dim=-4)
        self.policy._queues = populate_queues(self.policy._queues, batch)
        return batch

    def _predict(self, batch: dict[str, Any]) -> np.ndarray:
        start = time.perf_counter()
        chunk = self.postprocessor(self.policy.predict_action_chunk(batch))
        self.last_inference_s = time.perf_counter() - start
        chunk = chunk.detach().to("cpu", torch.float32).numpy().reshape(-1, chunk.shape[-1])
        if chunk.shape[1] != self.action_dim or not np.all(np.isfinite(chunk)):
            raise PolicyError(
                f"base policy produced a bad action chunk (shape {chunk.shape}, finite: {np.isfinite(chunk).all()})"
            )
        return chunk


def _chunk_length(config: Any) -> int:
    """How many actions predict_action_chunk returns (Diffusion and GR00T: n_action_steps, not the horizon)."""
    if config.type in ("diffusion", "groot"):
        return int(config.n_action_steps)
    for attribute in ("chunk_size", "action_chunk_size", "n_action_steps"):
        if getattr(config, attribute, None):
            return int(getattr(config, attribute))
    return 1


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyError(f"{path} is unreadable ({_one_line(error)})") from error
    if not isinstance(data, dict):
        raise PolicyError(f"{path} is not a JSON object")
    return data


def _check_files(path: Path) -> tuple[str, set[str]]:
    """Check every file LeRobot would otherwise look for on the hub; return the policy type and the
    registry names of the preprocessor's steps."""
    if not path.exists():
        raise PolicyError(f"base policy checkpoint {path} does not exist (only local directories are loaded)")
    if not path.is_dir():
        raise PolicyError(f"base policy checkpoint {path} is not a directory")
    if not (path / CONFIG_FILE).is_file():
        raise PolicyError(f"{path} has no {CONFIG_FILE}: not a LeRobot pretrained_model directory")
    policy_type = _read_json(path / CONFIG_FILE).get("type")
    if not isinstance(policy_type, str):
        raise PolicyError(f"{path / CONFIG_FILE} has no policy 'type'")
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise PolicyError(f"{path} has no {WEIGHTS_FILE} (the policy weights)")
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            handle.keys()
    except Exception as error:
        raise PolicyError(f"{weights} is corrupt or truncated ({_one_line(error)})") from error
    steps: set[str] = set()
    for name in PROCESSOR_FILES:
        if not (path / name).is_file():
            raise PolicyError(f"{path} has no {name}: save the policy's processors next to it (lerobot-train does)")
        for step in _read_json(path / name).get("steps", []):
            state_file = step.get("state_file")
            if state_file and not (path / state_file).is_file():
                raise PolicyError(f"{path} lacks {state_file}, the state of {name}'s {step.get('registry_name')}")
            if name == PROCESSOR_FILES[0]:
                steps.add(str(step.get("registry_name")))
    return policy_type, steps


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Switch the Hugging Face hub off (HF_HUB_OFFLINE) for the duration, for LeRobot and transformers."""
    import huggingface_hub.constants as hub_constants
    from huggingface_hub.utils import reset_sessions

    saved_env, saved = os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], hub_constants.HF_HUB_OFFLINE = "1", True
    reset_sessions()  # sessions are created offline from now on
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = saved
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env
        reset_sessions()


def load_base_policy(
    pretrained_path: Path,
    device: str = "cpu",
    task_instruction: str = "",
    chunking: ChunkingConfig | None = None,
    task: str = "",
    allow_task_mismatch: bool = False,
) -> FrozenBasePolicy:
    """Load a LeRobot policy and its processors from a local pretrained directory, frozen.

    When the directory has a ``robot_rl_checkpoint.json``, the recorded files' hashes are verified first and, if
    ``task`` is given, it must be one the checkpoint was trained on (``allow_task_mismatch``: a warning instead).
    Without one, nothing of this can be checked: a warning says so. Warnings end up in ``.warnings``.

    Raises:
        PolicyError: One line naming the problem: a missing path, file or processor state, an unreadable
            config, a type LeRobot does not know, weights that are corrupt, modified or do not fit the policy,
            a task the checkpoint was not trained on.
    """
    path = Path(pretrained_path).expanduser()
    policy_type, steps = _check_files(path)
    info = read_checkpoint_info(path)
    warnings: list[str] = []
    if info is None:
        warnings.append(
            f"{path} has no {CHECKPOINT_INFO_FILE} (written by train-base): its task, feature layout and"
            " weights cannot be checked"
        )
    else:
        info.verify_files(path)  # before LeRobot: corrupt bytes would only show as non-finite actions
        mismatch = info.check_task(task, allow_task_mismatch) if task else None
        if mismatch:
            warnings.append(mismatch)
    from robot_rl.torch_env import prepare_torchvision

    prepare_torchvision()
    # LeRobot prints its loading messages to stdout; stdout belongs to the command (e.g. eval --json)
    with _hub_offline(), contextlib.redirect_stdout(sys.stderr):
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors

        known = sorted(PreTrainedConfig.get_known_choices())
        if policy_type not in known:
            raise PolicyError(
                f"{path / CONFIG_FILE}: policy type {policy_type!r} is unknown to LeRobot ({', '.join(known)})"
            )
        try:
            config = PreTrainedConfig.from_pretrained(path, local_files_only=True)
            config.device = device
            torch.empty(0, device=device)  # an unavailable device fails here, with its own message
        except Exception as error:
            raise PolicyError(
                f"{path / CONFIG_FILE}: cannot use this {policy_type} config on {device} ({_one_line(error)})"
            ) from error
        config.pretrained_path = path
        try:
            policy = get_policy_class(policy_type).from_pretrained(
                path, config=config, local_files_only=True, strict=True
            )
        except Exception as error:
            raise PolicyError(
                f"{path / WEIGHTS_FILE}: cannot load the {policy_type} weights ({_one_line(error)})"
            ) from error
        device_override = {"device_processor": {"device": device}} if "device_processor" in steps else {}
        try:
            preprocessor, postprocessor = make_pre_post_processors(
                config, pretrained_path=str(path), preprocessor_overrides=device_override
            )
        except Exception as error:
            raise PolicyError(f"{path}: cannot load the policy processors ({_one_line(error)})") from error
    return FrozenBasePolicy(policy, preprocessor, postprocessor, task_instruction, chunking, str(path), info, warnings)
