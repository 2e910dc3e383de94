"""torch_env: torchvision and LeRobot import next to the CPU build of torch (each check in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_torchvision_models_and_lerobot_policies_import_after_prepare() -> None:
    out = _run(
        """
        import torch
        from robot_rl.torch_env import prepare_torchvision, torchvision_ops_available
        prepare_torchvision()
        prepare_torchvision()  # idempotent
        import torchvision
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.datasets.lerobot_dataset import LeRobotDataset
        features = torchvision.models.resnet18(weights=None).eval()(torch.zeros(1, 3, 64, 64))
        print(tuple(features.shape), torchvision_ops_available())
        """
    )
    shape, ops_available = out.split(")")
    assert shape == "(1, 1000"
    assert ops_available.strip() in {"True", "False"}


def test_compiled_op_without_kernels_raises_torchvision_error() -> None:
    out = _run(
        """
        import torch
        from robot_rl.torch_env import prepare_torchvision, torchvision_ops_available
        prepare_torchvision()
        import torchvision
        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        try:
            kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
            print("ran", kept.tolist(), torchvision_ops_available())
        except RuntimeError as error:
            print("error", "custom C++ ops" in str(error), torchvision_ops_available())
        """
    )
    # With compiled ops nms keeps the higher-scoring box; without them torchvision's own error surfaces.
    assert out.strip() in {"ran [0] True", "error True False"}
