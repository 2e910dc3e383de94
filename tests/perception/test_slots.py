"""Slot encoding on a ray-cast scene: centroids, extents and colours against ground truth."""

import numpy as np
import pytest

from robot_rl.errors import PerceptionError
from robot_rl.perception.segmenters import RgbdTabletopSegmenter
from robot_rl.perception.slots import SLOT_FIELDS, SlotEncoder, SlotEncoderConfig
from tests.perception.scene import Box, render

BOXES = [
    Box((0.40, 0.10), (0.05, 0.05, 0.05), (200, 30, 30)),
    Box((0.35, -0.12), (0.04, 0.06, 0.08), (30, 200, 30)),
]


def test_centroids_extents_and_colors() -> None:
    frame, _ = render(BOXES, width=640, height=480)
    detections = SlotEncoder(SlotEncoderConfig(embedding_size=4)).encode(frame, RgbdTabletopSegmenter().segment(frame))
    assert len(detections) == 2
    for box in BOXES:
        detection = min(detections, key=lambda d: np.linalg.norm(d.centroid_m - box.center))
        assert np.linalg.norm(detection.centroid_m - box.center) < 0.006  # body centre, not the visible surface
        extent = detection.features[4:7]
        assert extent[2] == pytest.approx(box.size[2], abs=0.006)
        np.testing.assert_allclose(detection.color, np.array(box.color) / 255, atol=0.02)
        assert detection.features[0] == 1.0
        assert detection.features.shape == (len(SLOT_FIELDS) + 4,)
        assert np.all(detection.features[len(SLOT_FIELDS) :] == 0)


@pytest.mark.parametrize(
    "boxes",
    [
        [Box((0.40, 0.05), (0.05, 0.05, 0.05), (200, 30, 30), bottom_m=0.08)],  # lifted 8 cm
        [  # stacked: a red cube on a green one
            Box((0.40, 0.05), (0.05, 0.05, 0.05), (30, 200, 30)),
            Box((0.40, 0.05), (0.04, 0.04, 0.04), (200, 30, 30), bottom_m=0.05),
        ],
    ],
)
def test_an_object_off_the_table_is_centred_on_its_body_not_halfway_to_the_table(boxes: list[Box]) -> None:
    frame, _ = render(boxes, width=640, height=480)
    detections = SlotEncoder().encode(frame, RgbdTabletopSegmenter().segment(frame))
    top = boxes[-1]
    detection = min(detections, key=lambda d: np.linalg.norm(d.centroid_m - top.center))
    assert np.linalg.norm(detection.centroid_m - top.center) < 0.006
    assert detection.features[6] == pytest.approx(top.size[2], abs=0.006)  # extent_z: its own height


def test_config_validation() -> None:
    with pytest.raises(PerceptionError):
        SlotEncoderConfig(percentile=60)
    with pytest.raises(PerceptionError, match="support_gap_m"):
        SlotEncoderConfig(support_gap_m=float("nan"))
    assert SlotEncoderConfig(embedding_size=3).slot_size == len(SLOT_FIELDS) + 3
