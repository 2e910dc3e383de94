"""The base-policy pipeline end to end, tiny: collect-demos -> train-base -> eval, through the CLI.

This checks the plumbing (files, formats, graph wiring, error lines), not the success rate; the
figures come from benchmarks/base_policy.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robot_rl.cli import main
from robot_rl.torch_env import prepare_torchvision


@pytest.mark.slow
def test_demos_load_with_lerobot(demos: Path) -> None:
    prepare_torchvision()
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/robot_rl", root=demos)
    assert dataset.num_episodes == 2
    frame = dataset[0]
    assert tuple(frame["observation.state"].shape) == (9,)
    assert tuple(frame["observation.environment_state"].shape) == (6 * 11,)
    assert tuple(frame["action"].shape) == (7,)
    assert bool(dataset[dataset.num_frames - 1]["next.done"])


@pytest.mark.slow
def test_checkpoint_loads_with_lerobot(checkpoint: Path) -> None:
    prepare_torchvision()
    from lerobot.policies.act.modeling_act import ACTPolicy

    policy = ACTPolicy.from_pretrained(checkpoint)
    assert policy.config.input_features["observation.environment_state"].shape == (66,)


@pytest.mark.slow
def test_eval_runs_the_graph_and_reports_json(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "--task", "Lift", "--base", str(checkpoint), "--episodes", "2", "--horizon-steps", "15"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2
    assert [episode["seed"] for episode in result["per_episode"]] == [1000, 1001]
    assert all(episode["steps"] >= 1 for episode in result["per_episode"])
    low, high = result["ci95"]
    assert 0.0 <= low <= result["success_rate"] <= high <= 1.0


def test_dataset_path_without_dataset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-base", "--dataset", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no LeRobot dataset at")
    assert "\n" not in err


def test_unknown_policy_type_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-base", "--dataset", str(tmp_path), "--policy", "gpt", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:")
    assert "gpt" in err
    assert "\n" not in err


def test_eval_of_missing_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--base", str(tmp_path / "nothing"), "--episodes", "1"]) == 1
    lines = capsys.readouterr().err.splitlines()  # node logs come first; then one error line, no traceback
    assert lines[-1].startswith("error:")
    assert "nothing does not exist" in lines[-1]
    assert not any("Traceback" in line for line in lines)
