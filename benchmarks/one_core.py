"""Run a benchmark on one CPU core with one BLAS/OpenMP thread and headless EGL rendering.

Call :func:`pin_to_one_core` before importing numpy, torch or robosuite: they read the thread counts
and the GL platform when they load.
"""

from __future__ import annotations

import os


def pin_to_one_core() -> None:
    """One BLAS/OpenMP thread, MuJoCo on EGL, and this process on the first CPU it may use."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
