"""A slot tracker that keeps object identity stable across frames.

There are K slots. Each frame, detections are assigned to slots by the Hungarian
algorithm on a cost that mixes distance (m) and colour difference; assignments
costlier than the gate are refused. A slot that gets no detection keeps its last
state and loses presence; it keeps its identity for ``max_missed_frames`` frames, so
an object that is occluded briefly comes back to the same slot. New detections take
the lowest free slot. When all K slots are taken, extra detections are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from robot_rl.errors import PerceptionError
from robot_rl.perception.slots import Detection


@dataclass(frozen=True)
class TrackerConfig:
    """Parameters of the slot tracker."""

    num_slots: int = 6  # K, the fixed number of slots
    position_scale_m: float = 0.05  # distance that costs 1.0
    color_scale: float = 0.3  # colour distance (0..1 RGB, Euclidean) that costs 1.0
    gate_cost: float = 3.0  # assignments above this cost are refused
    max_missed_frames: int = 30  # frames a slot keeps its identity without a detection

    def __post_init__(self) -> None:
        if self.num_slots < 1 or self.position_scale_m <= 0 or self.color_scale <= 0 or self.gate_cost <= 0:
            raise PerceptionError("TrackerConfig needs num_slots >= 1 and positive scales and gate")
        if self.max_missed_frames < 0:
            raise PerceptionError("TrackerConfig.max_missed_frames must be >= 0")


class SlotTracker:
    """Assign detections to K persistent slots."""

    def __init__(self, config: TrackerConfig, slot_size: int) -> None:
        self.config = config
        self.slots = np.zeros((config.num_slots, slot_size), dtype=np.float32)  # last features per slot
        self.alive = np.zeros(config.num_slots, dtype=bool)  # the slot holds an identity
        self.missed = np.zeros(config.num_slots, dtype=np.int64)  # frames since the last detection
        self.assigned_labels = np.zeros(config.num_slots, dtype=np.int32)  # segment label per slot, 0 = none

    def reset(self) -> None:
        """Forget every identity (episode start)."""
        self.slots[:] = 0
        self.alive[:] = False
        self.missed[:] = 0
        self.assigned_labels[:] = 0

    def _cost(self, detections: list[Detection]) -> np.ndarray:
        positions = np.stack([d.centroid_m for d in detections])
        colors = np.stack([d.color for d in detections])
        slot_positions = self.slots[:, 1:4]
        slot_colors = self.slots[:, 7:10]
        distance = np.linalg.norm(slot_positions[:, None, :] - positions[None, :, :], axis=2)
        color_distance = np.linalg.norm(slot_colors[:, None, :] - colors[None, :, :], axis=2)
        cost = distance / self.config.position_scale_m + color_distance / self.config.color_scale
        cost[~self.alive] = np.inf
        return cost

    def update(self, detections: list[Detection]) -> np.ndarray:
        """Update with one frame's detections; return the (K, slot_size) slot array.

        Slots without a detection this frame have presence 0 but keep their last state.
        """
        self.assigned_labels[:] = 0
        matched_slots: set[int] = set()
        matched_detections: set[int] = set()
        if detections and self.alive.any():
            cost = self._cost(detections)
            finite = np.where(np.isfinite(cost), cost, 1e9)
            rows, cols = linear_sum_assignment(finite)
            for slot, index in zip(rows, cols, strict=True):
                if cost[slot, index] <= self.config.gate_cost:
                    matched_slots.add(int(slot))
                    matched_detections.add(int(index))
                    self._assign(int(slot), detections[index])
        for index, detection in enumerate(detections):
            if index in matched_detections:
                continue
            free = np.flatnonzero(~self.alive)
            if len(free) == 0:
                break
            slot = int(free[0])
            matched_slots.add(slot)
            self._assign(slot, detection)
        for slot in range(self.config.num_slots):
            if slot in matched_slots or not self.alive[slot]:
                continue
            self.missed[slot] += 1
            self.slots[slot, 0] = 0.0
            if self.missed[slot] > self.config.max_missed_frames:
                self.alive[slot] = False
                self.slots[slot] = 0
        return self.slots.copy()

    def _assign(self, slot: int, detection: Detection) -> None:
        self.slots[slot] = detection.features
        self.alive[slot] = True
        self.missed[slot] = 0
        self.assigned_labels[slot] = detection.label
