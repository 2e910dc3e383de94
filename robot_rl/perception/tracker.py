"""A slot tracker that keeps one slot per object and its identity across frames.

There are K slots. Each frame:

1. **Duplicates** are suppressed: of two detections whose centroids are closer than
   ``duplicate_distance_m``, or where the smaller one (by pixel area) has under
   ``duplicate_area_ratio`` of the larger's pixels and their 3D boxes overlap by an
   intersection-over-union of at least ``duplicate_iou``, only the larger is kept (a
   colour-split sliver is the same object as the segment it was cut from).
2. **Assignment**: detections are assigned to live slots by the Hungarian algorithm on
   ``distance / position_scale_m + colour distance / color_scale``. A pair is refused when
   the colour distance exceeds ``color_gate`` (chromaticity, so shading does not matter and a
   grey finger never takes a red cube's slot; a detection whose 3D box lies inside the slot's box,
   at least ``appearance_change_containment`` of its volume, gets the wider ``contained_color_gate``:
   the same object, whose visible colour shifted as its parts merged or the gripper hid some of
   it) or the distance exceeds the slot's position gate,
   ``max_step_m`` for a slot seen on the previous frame, growing by ``missed_gate_growth_m``
   per missed frame up to ``max_gate_m`` (an object carried while unseen comes back to its slot).
3. **Missing**: a live slot without a detection keeps its last state and identity for
   ``max_missed_frames`` frames with a stale presence, ``stale_presence`` on the first missed
   frame decaying linearly towards 0; then it is emptied (all zeros).
4. **Partial views**: each slot remembers the largest extent it has seen in x and in y (its full
   size). A matched detection ``occlusion_shrink_m`` or more narrower than that on x or y is a
   part of the object (the gripper or another object hides the rest, as while grasping): the slot
   keeps the full extent there and places its centre, instead of at the visible part's centre, half
   of it in from the visible edge that lies nearer where the slot's predicted box has it; when
   neither edge is within ``partial_view_edge_tolerance_m`` of that, the box narrowed from both sides
   (the arm in front of the object's middle) and the centre stays at the prediction. The prediction
   is the previous centre plus the slot's motion per frame, measured on each axis only when both
   edges of the visible box moved the same way by about as much (within half of
   ``occlusion_shrink_m``), or neither moved; while only one edge moves, the last such motion is kept:
   a carried object keeps its velocity, and a still one that the gripper starts to hide stays still.
5. **New slots**: unassigned detections, largest first, take the lowest empty slot, unless one
   lies within ``new_slot_min_distance_m`` of a live slot (matched or missing): no two slots for
   one object. When all K slots are live, extra detections are dropped.

Segments wider than ``scene_extent_m`` in x or y (a bin, a wall) have their centre in empty
space, so they suppress nothing by proximity (steps 1 and 5).

Presence: 1 = detected this frame, in (0, ``stale_presence``] (at most 0.5) = missing but its
identity is kept, 0 = empty slot; ``presence > 0.5`` is "detected this frame".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from robot_rl.errors import PerceptionError
from robot_rl.perception.slots import SLOT_FIELDS, Detection

_PRESENCE = SLOT_FIELDS.index("presence")
_POSITION = slice(SLOT_FIELDS.index("x"), SLOT_FIELDS.index("z") + 1)  # m, base_link
_EXTENT = slice(SLOT_FIELDS.index("extent_x"), SLOT_FIELDS.index("extent_z") + 1)  # m
_COLOR = slice(SLOT_FIELDS.index("r"), SLOT_FIELDS.index("b") + 1)  # 0..1
_AREA = SLOT_FIELDS.index("area_px")  # pixels
_REFUSED = 1e6  # cost of a gated-out pair: above any sum of accepted costs, so the most pairs are matched first
_DARK = 1.0 / 255.0  # added to each channel before the chromaticity: near-black reads as grey, not as noise
_MIN_SIDE_M = 0.001  # smallest box side in the overlap test, m (a flat box still has a volume)
# partial views are completed on x and y only: z runs from the support plane (or the object's bottom) to its top
# (SlotEncoder), and an object dropped at reset is taller from the plane before it lands
_PARTIAL_VIEW_AXES = np.array([True, True, False])


@dataclass(frozen=True)
class TrackerConfig:
    """Parameters of the slot tracker (distances are 3D, in base_link)."""

    num_slots: int = 6  # K, the fixed number of slots (count)
    max_step_m: float = 0.08  # position gate of a slot seen on the previous frame, m (5 cm/frame lifted + noise)
    missed_gate_growth_m: float = 0.05  # the position gate grows by this per missed frame, m/frame
    max_gate_m: float = 0.3  # the largest position gate of a missing slot, m
    color_gate: float = 0.1  # largest chromaticity distance accepted, rgb/(r+g+b) Euclidean (unitless, 0..1.41)
    position_scale_m: float = 0.05  # distance that costs 1.0 in the assignment, m
    color_scale: float = 0.05  # chromaticity distance that costs 1.0 in the assignment (unitless)
    max_missed_frames: int = 30  # frames a slot keeps its identity without a detection (frames; 1.5 s at 20 Hz)
    stale_presence: float = 0.5  # presence on the first missed frame, then linear decay; 0 = report 0 (unitless)
    duplicate_distance_m: float = 0.01  # detections with centroids closer than this are one object, m
    duplicate_iou: float = 0.5  # ... or their 3D boxes overlap at least this (intersection over union, fraction)
    duplicate_area_ratio: float = 0.25  # ... and the smaller has under this share of the larger's pixels (fraction)
    new_slot_min_distance_m: float = 0.03  # no new slot for a detection closer than this to a live slot, m
    scene_extent_m: float = 0.2  # wider segments (x or y extent, m) suppress nothing by proximity
    occlusion_shrink_m: float = 0.005  # an axis this much narrower than the slot's full size is part-hidden, m; 0 = off
    # a part-hidden axis whose visible edges both lie farther than this from where the slot's predicted full box
    # has them is hidden on both sides: the centre stays at the prediction rather than anchoring on an edge, m
    partial_view_edge_tolerance_m: float = 0.01
    # a detection with at least this share of its box volume inside a live slot's box (fraction; 0 = never) ...
    appearance_change_containment: float = 0.8
    # ... is refused that slot only beyond this wider chromaticity distance (the same object seen differently:
    # parts merged, partly hidden; a grey finger is still refused a red object's slot) (unitless, >= color_gate)
    contained_color_gate: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.num_slots, bool) or not isinstance(self.num_slots, int) or self.num_slots < 1:
            raise PerceptionError(f"TrackerConfig.num_slots must be an integer >= 1, got {self.num_slots!r}")
        if isinstance(self.max_missed_frames, bool) or not isinstance(self.max_missed_frames, int):
            raise PerceptionError(f"TrackerConfig.max_missed_frames must be an integer, got {self.max_missed_frames!r}")
        if self.max_missed_frames < 0:
            raise PerceptionError(f"TrackerConfig.max_missed_frames must be >= 0, got {self.max_missed_frames}")
        for name in ("max_step_m", "color_gate", "position_scale_m", "color_scale", "duplicate_iou", "scene_extent_m"):
            if not getattr(self, name) > 0:  # also refuses NaN
                raise PerceptionError(f"TrackerConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in (
            "missed_gate_growth_m",
            "duplicate_distance_m",
            "new_slot_min_distance_m",
            "occlusion_shrink_m",
            "partial_view_edge_tolerance_m",
        ):
            if not getattr(self, name) >= 0:
                raise PerceptionError(f"TrackerConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.max_gate_m >= self.max_step_m:
            raise PerceptionError(
                f"TrackerConfig.max_gate_m ({self.max_gate_m}) must be >= max_step_m ({self.max_step_m})"
            )
        if not 0 <= self.stale_presence <= 0.5:  # so that presence > 0.5 always means "detected this frame"
            raise PerceptionError(f"TrackerConfig.stale_presence must be in [0, 0.5], got {self.stale_presence}")
        if not 0 <= self.appearance_change_containment <= 1:
            raise PerceptionError(
                "TrackerConfig.appearance_change_containment must be in [0, 1], got"
                f" {self.appearance_change_containment}"
            )
        if not self.contained_color_gate >= self.color_gate:
            raise PerceptionError(
                f"TrackerConfig.contained_color_gate ({self.contained_color_gate}) must be >= color_gate"
                f" ({self.color_gate})"
            )
        if not self.duplicate_iou <= 1 or not 0 <= self.duplicate_area_ratio <= 1:
            raise PerceptionError("TrackerConfig.duplicate_iou must be in (0, 1], duplicate_area_ratio in [0, 1]")


def stale_presence(missed: int, max_missed_frames: int, first_value: float) -> float:
    """Presence of a live slot missed for ``missed`` >= 1 frames (<= ``max_missed_frames``).

    ``first_value * (max_missed_frames + 1 - missed) / max_missed_frames``: ``first_value`` (TrackerConfig's
    ``stale_presence``) on the first missed frame, ``first_value / max_missed_frames`` on the last. The sim
    slot source uses the same rule, so a policy sees the same presence for a missed object in both.
    """
    return first_value * (max_missed_frames + 1 - missed) / max(max_missed_frames, 1)


def chromaticity(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) mean colours in 0..1 -> (..., 3) chromaticity rgb / (r + g + b): brightness-invariant."""
    rgb = np.asarray(rgb, dtype=np.float64) + _DARK
    return rgb / rgb.sum(axis=-1, keepdims=True)


def _box_overlap(first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """Intersection and the two volumes of two slot vectors' boxes (centre x y z, extent; sides >= 1 mm), m^3."""
    extents = [np.maximum(np.abs(box[_EXTENT].astype(np.float64)), _MIN_SIDE_M) for box in (first, second)]
    lows = [box[_POSITION] - extent / 2 for box, extent in zip((first, second), extents, strict=True)]
    highs = [box[_POSITION] + extent / 2 for box, extent in zip((first, second), extents, strict=True)]
    intersection = float(np.prod(np.clip(np.minimum(*highs) - np.maximum(*lows), 0, None)))
    return intersection, float(np.prod(extents[0])), float(np.prod(extents[1]))


def _box_iou(first: np.ndarray, second: np.ndarray) -> float:
    """3D intersection over union of two slot vectors' boxes."""
    intersection, first_volume, second_volume = _box_overlap(first, second)
    return intersection / (first_volume + second_volume - intersection)


def _box_containment(inner: np.ndarray, outer: np.ndarray) -> float:
    """The share of ``inner``'s box volume that lies inside ``outer``'s box (0..1)."""
    intersection, inner_volume, _ = _box_overlap(inner, outer)
    return intersection / inner_volume


def _largest_first(detections: list[Detection], indices: Iterable[int]) -> list[int]:
    """The indices by decreasing pixel area; ties keep their order (label order)."""
    return sorted(indices, key=lambda index: -float(detections[index].features[_AREA]))


class SlotTracker:
    """Assign detections to K persistent slots."""

    def __init__(self, config: TrackerConfig, slot_size: int) -> None:
        self.config = config
        self.slots = np.zeros((config.num_slots, slot_size), dtype=np.float32)  # last features per slot
        self.alive = np.zeros(config.num_slots, dtype=bool)  # the slot holds an identity
        self.missed = np.zeros(config.num_slots, dtype=np.int64)  # frames since the last detection
        self.assigned_labels = np.zeros(config.num_slots, dtype=np.int32)  # segment label per slot, 0 = none
        self.seen = np.zeros(config.num_slots, dtype=bool)  # the slot got a detection this frame
        self.full_extent = np.zeros((config.num_slots, 3), dtype=np.float32)  # largest extent seen per axis, m
        self.motion = np.zeros((config.num_slots, 3), dtype=np.float64)  # per frame, from edges that moved alike, m
        self.visible_box = np.zeros((config.num_slots, 2, 3), dtype=np.float64)  # last detection's low, high corner
        self.suppressed_labels: list[int] = []  # labels dropped as duplicates or as too close to a live slot

    def reset(self) -> None:
        """Forget every identity (episode start)."""
        self.slots[:] = 0
        self.alive[:] = False
        self.missed[:] = 0
        self.assigned_labels[:] = 0
        self.seen[:] = False
        self.full_extent[:] = 0
        self.motion[:] = 0
        self.visible_box[:] = 0
        self.suppressed_labels = []

    def _is_scene(self, features: np.ndarray) -> bool:
        return bool(np.abs(features[_EXTENT][:2]).max() > self.config.scene_extent_m)  # x or y

    def _is_duplicate(self, small: Detection, large: Detection) -> bool:
        config = self.config
        if self._is_scene(large.features):
            return False
        if np.linalg.norm(small.centroid_m - large.centroid_m) < config.duplicate_distance_m:
            return True
        return (
            small.features[_AREA] < config.duplicate_area_ratio * large.features[_AREA]
            and _box_iou(small.features, large.features) >= config.duplicate_iou
        )

    def _suppress_duplicates(self, detections: list[Detection]) -> list[Detection]:
        """Keep the larger of each duplicate pair (largest first), in the input (label) order."""
        kept: list[int] = []
        for index in _largest_first(detections, range(len(detections))):
            if any(self._is_duplicate(detections[index], detections[other]) for other in kept):
                self.suppressed_labels.append(detections[index].label)
            else:
                kept.append(index)
        return [detections[index] for index in sorted(kept)]

    def _assign_live(self, detections: list[Detection]) -> set[int]:
        """Hungarian assignment to live slots within the gates; returns the matched detection indices."""
        config = self.config
        live = np.flatnonzero(self.alive)
        if not detections or len(live) == 0:
            return set()
        positions = np.stack([d.centroid_m for d in detections]).astype(np.float64)
        colors = chromaticity(np.stack([d.color for d in detections]))
        distance = np.linalg.norm(self.slots[live, None, _POSITION] - positions[None], axis=2)
        color_distance = np.linalg.norm(chromaticity(self.slots[live, _COLOR])[:, None] - colors[None], axis=2)
        gate_m = np.minimum(config.max_step_m + config.missed_gate_growth_m * self.missed[live], config.max_gate_m)
        same_color = color_distance <= config.color_gate
        if config.appearance_change_containment > 0:
            near = (distance <= gate_m[:, None]) & (color_distance <= config.contained_color_gate)
            for row, col in zip(*np.nonzero(~same_color & near), strict=True):
                inside = _box_containment(detections[col].features, self.slots[live[row]])
                same_color[row, col] = inside >= config.appearance_change_containment
        allowed = (distance <= gate_m[:, None]) & same_color
        cost = distance / config.position_scale_m + color_distance / config.color_scale
        rows, cols = linear_sum_assignment(np.where(allowed, cost, _REFUSED))
        matched = set()
        for row, col in zip(rows, cols, strict=True):
            if allowed[row, col]:
                self._assign(int(live[row]), detections[col])
                matched.add(int(col))
        return matched

    def update(self, detections: list[Detection]) -> np.ndarray:
        """Update with one frame's detections; return the (K, slot_size) slot array.

        Column 0 (presence) is 1 for a slot detected this frame, the stale presence for a live slot
        that was not, and 0 for an empty slot.
        """
        config = self.config
        self.assigned_labels[:] = 0
        self.seen[:] = False
        self.suppressed_labels = []
        detections = self._suppress_duplicates(detections)
        matched = self._assign_live(detections)
        unseen = self.alive & ~self.seen  # live before this frame and not detected now (new slots are seen)
        unmatched = [index for index in range(len(detections)) if index not in matched]
        for index in _largest_first(detections, unmatched):
            detection = detections[index]
            live = [slot for slot in np.flatnonzero(self.alive) if not self._is_scene(self.slots[slot])]
            distance = np.linalg.norm(self.slots[live, _POSITION] - detection.centroid_m, axis=1)
            if len(live) and distance.min() < config.new_slot_min_distance_m:
                self.suppressed_labels.append(detection.label)  # next to a live slot: the same object
                continue
            free = np.flatnonzero(~self.alive)
            if len(free) == 0:
                break
            self._assign(int(free[0]), detection)
        for slot in np.flatnonzero(unseen):
            self.missed[slot] += 1
            if self.missed[slot] > config.max_missed_frames:
                self.alive[slot] = False
                self.slots[slot] = 0
                self.missed[slot] = 0
            else:
                self.slots[slot, _PRESENCE] = stale_presence(
                    int(self.missed[slot]), config.max_missed_frames, config.stale_presence
                )
        return self.slots.copy()

    def _assign(self, slot: int, detection: Detection) -> None:
        features = detection.features.copy()
        centre, extent = features[_POSITION].astype(np.float64), features[_EXTENT].astype(np.float64)
        box = np.stack([centre - extent / 2, centre + extent / 2])
        if self.alive[slot]:
            self._track_motion(slot, box)
            self._complete_partial_view(slot, features)
        else:
            self.full_extent[slot] = features[_EXTENT]
            self.motion[slot] = 0.0
        self.visible_box[slot] = box
        self.slots[slot] = features
        self.slots[slot, _PRESENCE] = 1.0
        self.alive[slot] = True
        self.seen[slot] = True
        self.missed[slot] = 0
        self.assigned_labels[slot] = detection.label

    def _track_motion(self, slot: int, box: np.ndarray) -> None:
        """Update the slot's motion on the axes whose two visible edges moved alike since the last frame."""
        if self.missed[slot] > 0:  # not seen on the last frame: no displacement to measure
            self.motion[slot] = 0.0
            return
        low_moved, high_moved = box - self.visible_box[slot]
        tolerance = self.config.occlusion_shrink_m / 2
        # both edges moved the same way by about as much, or neither moved; one edge moving alone is the edge
        # of what hides the object (or of what comes back into view), not the object's motion
        smaller = np.minimum(np.abs(low_moved), np.abs(high_moved))
        moving = (
            (np.abs(low_moved - high_moved) <= tolerance) & (low_moved * high_moved > 0) & (smaller > tolerance / 2)
        )
        still = np.maximum(np.abs(low_moved), np.abs(high_moved)) <= tolerance / 2
        self.motion[slot] = np.where(moving | still, (low_moved + high_moved) / 2, self.motion[slot])

    def _complete_partial_view(self, slot: int, features: np.ndarray) -> None:
        """Give a live slot's detection its full extent on the axes where only part of the object shows."""
        extent = features[_EXTENT].copy()
        full = np.maximum(self.full_extent[slot], extent)
        self.full_extent[slot] = full
        shrunk = (full - extent >= self.config.occlusion_shrink_m) & _PARTIAL_VIEW_AXES
        if self.config.occlusion_shrink_m <= 0 or not shrunk.any() or self._is_scene(features):
            return
        centre = features[_POSITION].astype(np.float64)
        predicted = self.slots[slot, _POSITION].astype(np.float64) + self.motion[slot]
        # the centre anchored on the visible high or low edge; the full box contains the visible one between them
        lowest = centre + extent / 2 - full / 2
        highest = centre - extent / 2 + full / 2
        to_low, to_high = np.abs(highest - predicted), np.abs(lowest - predicted)
        anchored = np.where(to_low <= to_high, highest, lowest)  # one side hidden: the edge where it is expected
        # neither edge where it is expected (the arm in front of the object's middle): keep the prediction
        both_hidden = np.minimum(to_low, to_high) > self.config.partial_view_edge_tolerance_m
        position = np.where(both_hidden, np.clip(predicted, lowest, highest), anchored)
        features[_POSITION] = np.where(shrunk, position, centre)
        features[_EXTENT] = np.where(shrunk, full, extent)
