"""The perception pipeline without ROS: segment, encode, track.

One call per frame: :meth:`PerceptionPipeline.process` returns the K slot vectors
(presence first) and what produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import PerceptionError
from robot_rl.perception.segmenters import (
    Frame,
    RgbdTabletopSegmenter,
    Segmentation,
    Segmenter,
    SimGroundTruthSegmenter,
    TabletopConfig,
)
from robot_rl.perception.self_filter import SelfFilter, SelfFilterConfig
from robot_rl.perception.slots import Detection, SlotEncoder, SlotEncoderConfig
from robot_rl.perception.timing import StageTimer
from robot_rl.perception.tracker import SlotTracker, TrackerConfig
from robot_rl.robot_model import RobotModel

SEGMENTERS = ("rgbd_tabletop", "sim_gt")


@dataclass(frozen=True)
class PerceptionConfig:
    """Which segmenter to use and the settings of each stage."""

    segmenter: str = "rgbd_tabletop"  # one of SEGMENTERS
    tabletop: TabletopConfig = field(default_factory=TabletopConfig)  # rgbd_tabletop settings
    encoder: SlotEncoderConfig = field(default_factory=SlotEncoderConfig)  # slot vector layout
    tracker: TrackerConfig = field(default_factory=TrackerConfig)  # K and association
    sim_object_ids: tuple[int, ...] = ()  # sim_gt: object instance ids in label order; () = every non-zero id
    self_filter: SelfFilterConfig = field(default_factory=SelfFilterConfig)  # robot self-filter (with a robot model)

    def __post_init__(self) -> None:
        if self.segmenter not in SEGMENTERS:
            raise PerceptionError(f"unknown segmenter {self.segmenter!r}; choose one of {', '.join(SEGMENTERS)}")


@dataclass
class PerceptionResult:
    """The output of one frame."""

    slots: np.ndarray  # (K, slot_size) float32, tracked
    segmentation: Segmentation  # the label image and plane
    detections: list[Detection]  # the encoded segments before tracking
    # wall time of each stage, ms: the segmenter's (rgbd_tabletop: back_projection, self_filter, region, plane,
    # cluster, color_split, labels; sim_gt: segment), then encode and track
    stage_times_ms: dict[str, float] = field(default_factory=dict)


class PerceptionPipeline:
    """Segment -> encode -> track, with state only in the tracker.

    With a ``robot_model``, ``rgbd_tabletop`` removes the robot's points first (the robot self-filter); every
    frame must then carry the arm's joint positions. ``sim_gt`` needs no self-filter and ignores the model.
    """

    def __init__(self, config: PerceptionConfig, robot_model: RobotModel | None = None) -> None:
        self.config = config
        self.self_filter: SelfFilter | None = None
        if robot_model is not None and config.segmenter == "rgbd_tabletop":
            self.self_filter = SelfFilter(robot_model, config.self_filter)
        self.segmenter: Segmenter = (
            RgbdTabletopSegmenter(config.tabletop, self.self_filter)
            if config.segmenter == "rgbd_tabletop"
            else SimGroundTruthSegmenter(list(config.sim_object_ids))
        )
        self.encoder = SlotEncoder(config.encoder)
        self.tracker = SlotTracker(config.tracker, config.encoder.slot_size)

    def reset(self) -> None:
        """Forget tracked identities (call at episode start)."""
        self.tracker.reset()

    def process(self, frame: Frame) -> PerceptionResult:
        """Run one frame; raises PerceptionError on unusable input (the caller skips the frame)."""
        timer = StageTimer()
        segmentation = self.segmenter.segment(frame)
        timer.lap("segment")
        detections = self.encoder.encode(frame, segmentation)
        timer.lap("encode")
        slots = self.tracker.update(detections)
        timer.lap("track")
        # the segmenter's own stages where it times them, else its whole call
        stages = dict(segmentation.stage_times_ms) or {"segment": timer.times_ms["segment"]}
        stages.update(encode=timer.times_ms["encode"], track=timer.times_ms["track"])
        return PerceptionResult(slots, segmentation, detections, stages)


def overlay(color: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Tint each segment with a fixed colour for a debug image (rgb8)."""
    palette = np.random.default_rng(7).integers(40, 255, size=(int(labels.max(initial=0)) + 1, 3))
    palette[0] = 0
    tinted = color.astype(np.float32)
    mask = labels > 0
    tinted[mask] = (1 - alpha) * tinted[mask] + alpha * palette[labels[mask]]
    return tinted.astype(np.uint8)
