"""Make torchvision importable next to a CPU build of torch.

The torchvision wheels on PyPI are CUDA builds: their compiled ops (``torchvision/_C.so``) link
``libtorch_cuda.so``, which a CPU build of torch does not have. torchvision then runs without its
compiled ops (models and transforms are pure Python and work), except that torchvision 0.28 registers
fake kernels for ``torchvision::nms`` and ``torchvision::qnms`` unconditionally at import, and that fails
when the ops were never defined. :func:`prepare_torchvision` defines those two schemas, and only when the
compiled ops cannot load, so that ``import torchvision`` (and so LeRobot) works. Calling ``nms`` still
raises torchvision's own "Couldn't load custom C++ ops" error.

Call it before the first import of torchvision or lerobot; it is idempotent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# Schemas as torchvision's csrc/ops/nms.cpp and quantized/qnms define them.
_UNGUARDED_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_state: dict[str, object] = {}


def torchvision_ops_available() -> bool:
    """Whether torchvision's compiled ops load with the installed torch (False on a CPU torch + PyPI torchvision)."""
    return _load_compiled_ops()


def prepare_torchvision() -> None:
    """Define the op schemas torchvision needs at import when its compiled ops cannot be loaded."""
    if "prepared" in _state or "torchvision" in sys.modules:
        return
    if not _load_compiled_ops():
        import torch

        # Kept referenced for the life of the process: a dropped Library object unregisters its ops.
        library = torch.library.Library("torchvision", "DEF")
        for schema in _UNGUARDED_OPS:
            library.define(schema)
        _state["library"] = library
    _state["prepared"] = True


def _load_compiled_ops() -> bool:
    if "ops_loaded" in _state:
        return bool(_state["ops_loaded"])
    import torch

    spec = importlib.util.find_spec("torchvision")
    loaded = False
    if spec is not None and spec.submodule_search_locations:
        for candidate in Path(next(iter(spec.submodule_search_locations))).glob("_C*.so"):
            try:
                torch.ops.load_library(str(candidate))
                loaded = True
            except OSError:
                loaded = False
            break
    _state["ops_loaded"] = loaded
    return loaded
