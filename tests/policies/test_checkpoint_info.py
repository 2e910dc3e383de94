"""robot_rl_checkpoint.json: a checkpoint says which task, feature layout and weights it was trained with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robot_rl.errors import PolicyError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.policies.base import load_base_policy
from robot_rl.policies.base_node import BasePolicyNode
from robot_rl.policies.checkpoint_info import (
    CHECKPOINT_INFO_FILE,
    CheckpointInfo,
    FeatureLayout,
    checkpoint_fingerprint,
    layouts_from_features,
    read_checkpoint_info,
    write_checkpoint_info,
)
from robot_rl.policies.features import ENVIRONMENT_STATE_KEY, dataset_features, residual_observation_names
from robot_rl.rl.checkpoint import load_residual
from robot_rl.runtime.inproc import InprocContext

REPO = Path(__file__).resolve().parents[2]
ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")
WEIGHTS = ("model.safetensors",)
MISMATCH = "checkpoint trained on Lift, asked to run Stack"


@pytest.fixture
def lift_checkpoint(act_checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of the 4-slot ACT checkpoint with the info train-base writes: trained on Lift."""
    checkpoint = Path(shutil.copytree(act_checkpoint, tmp_path / "pretrained_model"))
    write_checkpoint_info(checkpoint, ["Lift"], layouts_from_features(dataset_features(num_slots=4)), WEIGHTS)
    return checkpoint


def node(checkpoint: Path, *params: str) -> BasePolicyNode:
    args = ["--ros-args", "-p", f"pretrained_path:={checkpoint}", "-p", "num_slots:=4"]
    for param in params:
        args += ["-p", param]
    return BasePolicyNode(context=InprocContext(), cli_args=args)


def warnings_logged(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[WARN]")]


def test_info_round_trips_and_records_the_weights_hash(lift_checkpoint: Path) -> None:
    info = read_checkpoint_info(lift_checkpoint)
    assert info is not None
    assert info.tasks == ("Lift",)
    assert info.features[ENVIRONMENT_STATE_KEY].shape == (44,)
    assert info.features[ENVIRONMENT_STATE_KEY].names[:2] == ("slot0_presence", "slot0_x")  # type: ignore[index]
    assert set(info.files) == {"model.safetensors"}
    assert len(info.files["model.safetensors"]) == 64
    assert load_base_policy(lift_checkpoint, task="Lift").warnings == []


def test_task_mismatch_is_refused(lift_checkpoint: Path) -> None:
    with pytest.raises(PolicyError) as error:
        load_base_policy(lift_checkpoint, task="Stack")
    assert str(error.value) == (
        "checkpoint trained on Lift, asked to run Stack; pass --allow-task-mismatch (eval) or"
        " allow_task_mismatch:=true (launch files, base node) to run it anyway"
    )
    with pytest.raises(PolicyError, match="checkpoint trained on Lift, asked to run Stack"):
        node(lift_checkpoint, "task:=Stack")


def test_task_mismatch_override_logs_one_warning(lift_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node(lift_checkpoint, "task:=Stack", "allow_task_mismatch:=true")
    warnings = warnings_logged(capsys.readouterr().err)
    assert len(warnings) == 1
    assert warnings[0].endswith(f"{MISMATCH}: running it anyway (task mismatch allowed)")


def test_a_flipped_weights_byte_is_refused_before_loading(lift_checkpoint: Path) -> None:
    weights = lift_checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0x01  # one bit of one tensor value: the safetensors header stays valid
    weights.write_bytes(bytes(data))
    with pytest.raises(PolicyError) as error:
        load_base_policy(lift_checkpoint, task="Lift")
    message = str(error.value)
    assert message.startswith(f"weights changed since training: {weights} has sha256 ")
    assert message.endswith("(corrupt or modified)")


def test_a_checkpoint_without_info_loads_with_one_warning(
    act_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_base_policy(act_checkpoint, task="Stack").warnings == [
        f"{act_checkpoint} has no {CHECKPOINT_INFO_FILE} (written by train-base): its task, feature layout and"
        " weights cannot be checked"
    ]
    node(act_checkpoint, "task:=Lift")
    warnings = warnings_logged(capsys.readouterr().err)
    assert len(warnings) == 1
    assert f"has no {CHECKPOINT_INFO_FILE}" in warnings[0]


def test_a_feature_layout_mismatch_is_refused(lift_checkpoint: Path) -> None:
    # the checkpoint was trained on slots laid out differently (x and y swapped): same shape, other meaning
    record = json.loads((lift_checkpoint / CHECKPOINT_INFO_FILE).read_text())
    names = record["features"][ENVIRONMENT_STATE_KEY]["names"]
    names[1], names[2] = names[2], names[1]
    (lift_checkpoint / CHECKPOINT_INFO_FILE).write_text(json.dumps(record))
    with pytest.raises(PolicyError) as error:
        node(lift_checkpoint, "task:=Lift")
    assert "observation.environment_state dimension 1 was trained as 'slot0_y', gets 'slot0_x'" in str(error.value)
    assert str(error.value).endswith("(num_slots=4, embedding_size=0, use_image=false)")


def test_layout_problems_compare_shapes_then_names() -> None:
    info = CheckpointInfo(("Lift",), {"a": FeatureLayout((2,), ("x", "y")), "b": FeatureLayout((3,))}, {}, "0", "")
    fed = layouts_from_features({"a": {"dtype": "float32", "shape": (2,), "names": ["x", "z"]}})
    assert fed == {"a": FeatureLayout((2,), ("x", "z"))}
    assert info.layout_problems(fed) == ["a dimension 1 was trained as 'y', gets 'z'"]
    assert info.layout_problems({"a": FeatureLayout((3,)), "c": FeatureLayout((1,))}) == [
        "a was trained with shape (2,), gets (3,)"
    ]


def test_malformed_info_is_one_line(lift_checkpoint: Path) -> None:
    (lift_checkpoint / CHECKPOINT_INFO_FILE).write_text('{"format_version": 1, "tasks": []}')
    with pytest.raises(PolicyError, match=f"{CHECKPOINT_INFO_FILE} is malformed"):
        load_base_policy(lift_checkpoint)


def test_the_shipped_checkpoint_records_lift() -> None:
    info = read_checkpoint_info(REPO / "models" / "lift_act")
    assert info is not None
    assert info.tasks == ("Lift",)
    assert info.features[ENVIRONMENT_STATE_KEY].shape == (66,)
    info.verify_files(REPO / "models" / "lift_act")


def test_the_shipped_stack_residual_loads_on_the_shipped_stack_base() -> None:
    """models/stack_residual was trained on models/stack_act: features, action size and base hash all agree."""
    info = read_checkpoint_info(REPO / "models" / "stack_act")
    assert info is not None
    assert info.tasks == ("Stack",)
    info.verify_files(REPO / "models" / "stack_act")
    features = residual_observation_names(6, len(SLOT_FIELDS))
    fingerprint = checkpoint_fingerprint(REPO / "models" / "stack_act")
    actor = load_residual(REPO / "models" / "stack_residual", features, expected_base_hash=fingerprint)
    assert actor.metadata.task == "Stack"
    with pytest.raises(PolicyError, match="retrain the residual for this base"):
        load_residual(
            REPO / "models" / "stack_residual",
            features,
            expected_base_hash=checkpoint_fingerprint(REPO / "models" / "lift_act"),
        )


def _eval_lift_base_on_stack(*options: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROBOT_RL_BACKEND": "inproc"}
    command = [ROBOT_RL, "eval", "--task", "Stack", "--base", "models/lift_act", "--episodes", "1", "--json", *options]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_eval_of_a_lift_base_on_stack_is_one_error_line() -> None:
    result = _eval_lift_base_on_stack()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].endswith(
        "checkpoint trained on Lift, asked to run Stack; pass --allow-task-mismatch (eval) or"
        " allow_task_mismatch:=true (launch files, base node) to run it anyway"
    )


@pytest.mark.slow
def test_eval_with_allow_task_mismatch_runs_with_a_warning() -> None:
    result = _eval_lift_base_on_stack("--allow-task-mismatch", "--horizon-steps", "3")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["episodes"] == 1
    warnings = [line for line in warnings_logged(result.stderr) if "[base_policy]" in line]
    assert len(warnings) == 1
    assert warnings[0].endswith(f"{MISMATCH}: running it anyway (task mismatch allowed)")
