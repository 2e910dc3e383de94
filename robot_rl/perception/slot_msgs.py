"""Object slots on the wire: sensor_msgs/PointCloud2 with one point per slot and named fields.

Fields (all float32 except ``slot_id``, uint32): ``slot_id``, then
``presence, x, y, z, extent_x, extent_y, extent_z, r, g, b, area_px`` (x, y, z and
extents in metres in the header's frame, normally ``base_link``; colour 0..1;
area in pixels), then ``emb_0 .. emb_{E-1}``. Consumers should select fields by
name, not by offset.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from robot_rl.errors import MessageError, PerceptionError
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.runtime.msg_numpy import numpy_to_pointcloud2, pointcloud2_to_numpy


def slot_dtype(embedding_size: int) -> np.dtype:
    """Return the structured dtype of one slot point."""
    names = ["slot_id", *SLOT_FIELDS, *(f"emb_{i}" for i in range(embedding_size))]
    formats = [np.uint32] + [np.float32] * (len(names) - 1)
    return np.dtype({"names": names, "formats": formats})


def slots_to_pointcloud2(slots: np.ndarray, header: Any) -> Any:
    """Pack a (K, slot_size) slot array into a PointCloud2 with K points."""
    embedding_size = slots.shape[1] - len(SLOT_FIELDS)
    if slots.ndim != 2 or embedding_size < 0:
        raise PerceptionError(f"slots must be (K, >= {len(SLOT_FIELDS)}), got {slots.shape}")
    points = np.zeros(len(slots), dtype=slot_dtype(embedding_size))
    points["slot_id"] = np.arange(len(slots))
    for column, name in enumerate(points.dtype.names[1:]):
        points[name] = slots[:, column]
    return numpy_to_pointcloud2(points, header)


def pointcloud2_to_slots(cloud: Any) -> np.ndarray:
    """Unpack a slots PointCloud2 into a (K, slot_size) float32 array ordered by slot_id.

    Raises:
        MessageError: If the cloud is malformed, lacks a slot field or has a field of several values.
    """
    points = pointcloud2_to_numpy(cloud)
    names = points.dtype.names or ()
    missing = [name for name in ("slot_id", *SLOT_FIELDS) if name not in names]
    if missing:
        raise MessageError(f"PointCloud2 is not a slot message: missing fields {', '.join(missing)}")
    embedding = sorted((name for name in names if re.fullmatch(r"emb_\d+", name)), key=lambda n: int(n[4:]))
    several = [name for name in ("slot_id", *SLOT_FIELDS, *embedding) if points.dtype[name].shape]
    if several:
        raise MessageError(f"slot fields {', '.join(several)} hold several values per point, expected one")
    points = np.sort(points, order="slot_id")
    return np.stack([points[name].astype(np.float32) for name in (*SLOT_FIELDS, *embedding)], axis=1)
