"""A tiny ray-cast RGB-D scene (a table plane and axis-aligned boxes) with exact ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.perception.geometry import pixel_rays
from robot_rl.perception.segmenters import Frame


@dataclass
class Box:
    """An axis-aligned box on the table (z = 0 in base_link) or ``bottom_m`` above it."""

    center_xy: tuple[float, float]  # base_link, m
    size: tuple[float, float, float]  # m
    color: tuple[int, int, int]  # rgb8
    bottom_m: float = 0.0  # height of its bottom face above the table (lifted, or stacked on another box), m

    @property
    def center(self) -> np.ndarray:
        return np.array([*self.center_xy, self.bottom_m + self.size[2] / 2])


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Optical-frame camera pose in base_link looking from eye to target (z forward, y down)."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.array([0.0, 0.0, 1.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z], axis=1)
    pose[:3, 3] = eye
    return pose


def render(boxes: list[Box], width: int = 320, height: int = 240) -> tuple[Frame, np.ndarray]:
    """Return a Frame and the ground-truth label image (i + 1 for boxes[i])."""
    k = np.array([[300.0 * width / 320, 0, width / 2], [0, 300.0 * width / 320, height / 2], [0, 0, 1]])
    pose = look_at(np.array([0.9, 0.0, 0.55]), np.array([0.35, 0.0, 0.0]))
    rays = pixel_rays(k, width, height) @ pose[:3, :3].T  # base_link directions, length per unit depth
    origin = pose[:3, 3]
    t_plane = np.where(rays[..., 2] < 0, -origin[2] / np.minimum(rays[..., 2], -1e-12), np.inf)
    best = t_plane.copy()
    labels = np.zeros((height, width), dtype=np.int32)
    color = np.full((height, width, 3), 120, dtype=np.uint8)
    for index, box in enumerate(boxes, start=1):
        lo = box.center - np.array(box.size) / 2
        hi = box.center + np.array(box.size) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (lo - origin) / rays
            t2 = (hi - origin) / rays
        t_near = np.nanmax(np.minimum(t1, t2), axis=2)
        t_far = np.nanmin(np.maximum(t1, t2), axis=2)
        hit = (t_near <= t_far) & (t_near > 0) & (t_near < best)
        best[hit] = t_near[hit]
        labels[hit] = index
        color[hit] = box.color
    depth = np.where(np.isfinite(best), best, 0.0).astype(np.float32)  # t is depth because rays have z = 1
    return Frame(color=color, depth_m=depth, k=k, t_base_camera=pose), labels
