"""What a checkpoint is for: ``robot_rl_checkpoint.json``, written next to a checkpoint's files and checked at load.

A LeRobot checkpoint does not say which task it was trained on, which named dimensions its inputs and outputs
have, or whether its files are still the bytes that training wrote. The sidecar records:

- ``tasks``: the task(s) of the training data (robot_rl's recorder stores the robosuite task name, e.g. ``Lift``);
- ``features``: per LeRobot feature name, its shape and the names of its dimensions, as the data was fed;
- ``files``: the sha256 of each listed file (the weights and normalization statistics);
- ``robot_rl_version`` and ``created`` (UTC, ISO 8601), for people.

It is generic (any checkpoint directory, any list of files), so the base policy and the residual policy share it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import robot_rl
from robot_rl.errors import PolicyError

CHECKPOINT_INFO_FILE = "robot_rl_checkpoint.json"
FORMAT_VERSION = 1
TASK_OVERRIDE_HINT = "pass --allow-task-mismatch (eval) or allow_task_mismatch:=true (launch files, base node)"


@dataclass(frozen=True)
class FeatureLayout:
    """The layout of one feature as it is fed: its shape and, where known, the name of each dimension."""

    shape: tuple[int, ...]
    names: tuple[str, ...] | None = None  # one per element of a 1-D feature; None = unnamed (images, flags)

    def __post_init__(self) -> None:
        if self.names is not None and (len(self.shape) != 1 or len(self.names) != self.shape[0]):
            raise ValueError(f"{len(self.names)} dimension names for shape {self.shape}")


@dataclass(frozen=True)
class CheckpointInfo:
    """The content of ``robot_rl_checkpoint.json``."""

    tasks: tuple[str, ...]  # the tasks of the training data
    features: dict[str, FeatureLayout]  # LeRobot feature name -> layout (observations and action)
    files: dict[str, str]  # file path relative to the checkpoint directory -> sha256 hex digest
    robot_rl_version: str  # robot_rl.__version__ of the writer
    created: str  # UTC time of writing, ISO 8601

    def verify_files(self, directory: Path) -> None:
        """Raise PolicyError if a recorded file is missing or its bytes changed since it was written."""
        for relative, recorded in self.files.items():
            path = directory / relative
            if not path.is_file():
                raise PolicyError(f"{path} is missing; {CHECKPOINT_INFO_FILE} records it")
            actual = file_sha256(path)
            if actual != recorded:
                raise PolicyError(
                    f"weights changed since training: {path} has sha256 {actual[:16]}, {CHECKPOINT_INFO_FILE}"
                    f" records {recorded[:16]} (corrupt or modified)"
                )

    def check_task(self, task: str, allow_mismatch: bool) -> str | None:
        """Compare the task the checkpoint is asked to run with its training tasks.

        Returns a warning when they differ and ``allow_mismatch`` is set, else None.

        Raises:
            PolicyError: When they differ and ``allow_mismatch`` is not set.
        """
        if task in self.tasks:
            return None
        message = f"checkpoint trained on {', '.join(self.tasks)}, asked to run {task}"
        if not allow_mismatch:
            raise PolicyError(f"{message}; {TASK_OVERRIDE_HINT} to run it anyway")
        return f"{message}: running it anyway (task mismatch allowed)"

    def layout_problems(self, fed: Mapping[str, FeatureLayout]) -> list[str]:
        """How the features ``fed`` differ from the recorded ones, one entry per difference.

        Only features present in both are compared: which inputs a policy takes is its own config's business.
        """
        problems = []
        for name in sorted(set(self.features) & set(fed)):
            trained, given = self.features[name], fed[name]
            if trained.shape != given.shape:
                problems.append(f"{name} was trained with shape {trained.shape}, gets {given.shape}")
            elif trained.names is not None and given.names is not None and trained.names != given.names:
                index = next(i for i, (a, b) in enumerate(zip(trained.names, given.names, strict=True)) if a != b)
                problems.append(
                    f"{name} dimension {index} was trained as {trained.names[index]!r}, gets {given.names[index]!r}"
                )
        return problems


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_fingerprint(directory: Path) -> str:
    """sha256 over the names and sha256 of every ``*.safetensors`` file in ``directory`` (weights and normalization
    statistics): what a residual records as the base it was trained on.

    Raises:
        PolicyError: If the directory holds no safetensors file.
    """
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise PolicyError(f"{directory} holds no *.safetensors file: not a checkpoint directory")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def layouts_from_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, FeatureLayout]:
    """Layouts from a LeRobot ``features`` dict (``{name: {"dtype", "shape", "names"}}``).

    Dimension names are kept for 1-D features whose ``names`` list one name per element (LeRobot's images
    name their axes instead).
    """
    layouts = {}
    for name, feature in features.items():
        shape = tuple(int(size) for size in feature["shape"])
        names = feature.get("names")
        per_element = isinstance(names, Sequence) and len(shape) == 1 and len(names) == shape[0]
        layouts[name] = FeatureLayout(shape, tuple(str(n) for n in names) if per_element else None)  # type: ignore[union-attr]
    return layouts


def write_checkpoint_info(
    directory: Path, tasks: Iterable[str], features: Mapping[str, FeatureLayout], files: Iterable[str]
) -> CheckpointInfo:
    """Hash ``files`` (relative to ``directory``) and write ``robot_rl_checkpoint.json`` there, atomically."""
    directory = Path(directory)
    info = CheckpointInfo(
        tasks=tuple(tasks),
        features=dict(features),
        files={relative: file_sha256(directory / relative) for relative in sorted(files)},
        robot_rl_version=robot_rl.__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    if not info.tasks:
        raise PolicyError(f"{directory}: a checkpoint's info needs at least one task")
    record = {"format_version": FORMAT_VERSION, **asdict(info)}
    temporary = directory / (CHECKPOINT_INFO_FILE + ".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, directory / CHECKPOINT_INFO_FILE)
    return info


def read_checkpoint_info(directory: Path) -> CheckpointInfo | None:
    """Read ``robot_rl_checkpoint.json`` from ``directory``; None if there is none (a checkpoint from before it).

    Raises:
        PolicyError: If the file exists but is unreadable or malformed.
    """
    path = Path(directory) / CHECKPOINT_INFO_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if record.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {record.get('format_version')!r}, this robot_rl reads {FORMAT_VERSION}")
        return CheckpointInfo(
            tasks=tuple(str(task) for task in record["tasks"]),
            features={
                name: FeatureLayout(
                    tuple(int(size) for size in layout["shape"]),
                    None if layout["names"] is None else tuple(str(n) for n in layout["names"]),
                )
                for name, layout in record["features"].items()
            },
            files={str(relative): str(digest) for relative, digest in record["files"].items()},
            robot_rl_version=str(record["robot_rl_version"]),
            created=str(record["created"]),
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise PolicyError(f"{path} is malformed ({type(error).__name__}: {error})") from None
