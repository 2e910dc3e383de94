"""Object slots, segment-then-encode: a fixed-size feature vector per segment.

A slot holds presence, the 3D centroid and extent in ``base_link`` (metres), the
mean colour (0..1), the pixel area and an embedding reserved for a learned encoder
(zeros for now). The centroid is the centre of the object's bounding box, not the
mean of the visible surface: x and y span the robust (2nd-98th percentile) extent of
the segment's points, and z runs from the support plane to the object's top when the
object rests on the plane (its lowest points within ``support_gap_m`` of it), so a box
seen from above-front is centred where its body is; a lifted, carried or stacked object
runs from its own lowest points instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import PerceptionError
from robot_rl.perception.geometry import depth_to_points, pixel_rays, transform_points
from robot_rl.perception.segmenters import Frame, Segmentation

SLOT_FIELDS = (
    "presence",
    "x",
    "y",
    "z",
    "extent_x",
    "extent_y",
    "extent_z",
    "r",
    "g",
    "b",
    "area_px",
)  # the named features of a slot, in vector order, before the embedding


@dataclass(frozen=True)
class SlotEncoderConfig:
    """Parameters of the slot encoder."""

    embedding_size: int = 0  # learned-embedding dimensions appended to each slot (zeros for now)
    min_points: int = 20  # segments with fewer valid 3D points are dropped
    percentile: float = 2.0  # robust extent: percentile cut at each end, %
    # a segment whose lowest points are within this of the support plane rests on it (its box starts at the
    # plane); higher up (lifted, carried, stacked) its box starts at its own lowest points, m
    support_gap_m: float = 0.015

    def __post_init__(self) -> None:
        if self.embedding_size < 0 or self.min_points < 1 or not 0 <= self.percentile < 50:
            raise PerceptionError("SlotEncoderConfig needs embedding_size >= 0, min_points >= 1, 0 <= percentile < 50")
        if not self.support_gap_m >= 0:  # also refuses NaN
            raise PerceptionError(f"SlotEncoderConfig.support_gap_m must be >= 0, got {self.support_gap_m}")

    @property
    def slot_size(self) -> int:
        """Length of one slot vector."""
        return len(SLOT_FIELDS) + self.embedding_size


@dataclass
class Detection:
    """One encoded segment: its slot vector and the label it came from."""

    label: int  # the segment label in the label image
    features: np.ndarray  # (slot_size,) float32, laid out as SLOT_FIELDS + embedding

    @property
    def centroid_m(self) -> np.ndarray:
        """The (x, y, z) centroid in base_link, metres."""
        return self.features[1:4]

    @property
    def color(self) -> np.ndarray:
        """The mean colour (r, g, b) in 0..1."""
        return self.features[7:10]


class SlotEncoder:
    """Encode every segment of a frame into a slot vector."""

    def __init__(self, config: SlotEncoderConfig | None = None) -> None:
        self.config = config or SlotEncoderConfig()

    def _points(self, frame: Frame, segmentation: Segmentation) -> np.ndarray:
        if segmentation.points_base is not None:
            return segmentation.points_base
        height, width = frame.depth_m.shape
        depth = frame.depth_m.astype(np.float64)
        valid = np.isfinite(depth) & (depth > 0)
        points = transform_points(
            frame.t_base_camera, depth_to_points(np.where(valid, depth, 0.0), pixel_rays(frame.k, width, height))
        )
        return np.where(valid[..., None], points, np.nan)

    def encode(self, frame: Frame, segmentation: Segmentation) -> list[Detection]:
        """Return one Detection per usable segment, in label order."""
        points = self._points(frame, segmentation)
        low, high = self.config.percentile, 100 - self.config.percentile
        detections = []
        labels = segmentation.labels
        flat_labels = labels.reshape(-1)
        labelled = np.flatnonzero(flat_labels)  # sort only the object pixels, not the whole image
        order = labelled[np.argsort(flat_labels[labelled], kind="stable")]
        bounds = np.searchsorted(flat_labels[order], np.arange(1, segmentation.count + 2))
        flat_points = points.reshape(-1, 3)
        flat_color = frame.color.reshape(-1, 3)
        for label in range(1, segmentation.count + 1):
            pixels = order[bounds[label - 1] : bounds[label]]
            if len(pixels) == 0:
                continue
            segment_points = flat_points[pixels]
            segment_points = segment_points[np.all(np.isfinite(segment_points), axis=1)]
            if len(segment_points) < self.config.min_points:
                continue
            lo, hi = np.percentile(segment_points, [low, high], axis=0)
            centre = (lo + hi) / 2
            extent = hi - lo
            if segmentation.plane is not None:
                normal, offset = segmentation.plane[:3], segmentation.plane[3]
                plane_z = -(normal[0] * centre[0] + normal[1] * centre[1] + offset) / normal[2]
                bottom = plane_z if lo[2] - plane_z <= self.config.support_gap_m else lo[2]
                centre[2] = (hi[2] + bottom) / 2
                extent[2] = hi[2] - bottom
            color = flat_color[pixels].mean(axis=0) / 255.0
            features = np.zeros(self.config.slot_size, dtype=np.float32)
            features[: len(SLOT_FIELDS)] = [1.0, *centre, *extent, *color, float(len(pixels))]
            detections.append(Detection(label=label, features=features))
        return detections
