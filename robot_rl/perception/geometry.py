"""Camera geometry: back-projection of depth images and rigid transforms.

Conventions: the camera frame is the optical frame of REP-103 (z forward, x right,
y down), pixel (u, v) has u along the image width and v along the height, depth is
in metres along the optical axis, and ``T_parent_child`` is a 4x4 homogeneous
transform that maps points in ``child`` coordinates to ``parent`` coordinates.
"""

from __future__ import annotations

import math

import numpy as np

from robot_rl.errors import PerceptionError


def check_intrinsics(k: np.ndarray) -> np.ndarray:
    """Return ``k`` as a float64 3x3 pinhole matrix, or raise PerceptionError."""
    k = np.asarray(k, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise PerceptionError(f"camera intrinsics must be a finite 3x3 matrix with fx, fy > 0, got {k.tolist()}")
    return k


def pixel_rays(k: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return (H, W, 3) optical-frame rays with z = 1 for every pixel centre."""
    k = check_intrinsics(k)
    u = (np.arange(width, dtype=np.float64) - k[0, 2]) / k[0, 0]
    v = (np.arange(height, dtype=np.float64) - k[1, 2]) / k[1, 1]
    rays = np.empty((height, width, 3), dtype=np.float64)
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays


def depth_to_points(depth_m: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Back-project a depth image (H, W) in metres to optical-frame points (H, W, 3)."""
    return rays * depth_m[..., None]


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to points of shape (..., 3)."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def project_points(k: np.ndarray, points_camera: np.ndarray) -> np.ndarray:
    """Project optical-frame points (N, 3) to pixel coordinates (N, 2) as (u, v)."""
    z = points_camera[:, 2:3]
    return (points_camera[:, :2] / z) * np.array([k[0, 0], k[1, 1]]) + np.array([k[0, 2], k[1, 2]])


def quaternion_xyzw(rotation: np.ndarray) -> np.ndarray:
    """The unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix (Shepperd's method): (4,) float64."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    quat = np.array(q)
    quat /= np.linalg.norm(quat)
    return -quat if quat[3] < 0.0 else quat
