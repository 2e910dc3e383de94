"""The slot tracker: identity across motion, occlusion, appearance and capacity."""

import numpy as np
import pytest

from robot_rl.errors import PerceptionError
from robot_rl.perception.slots import SLOT_FIELDS, Detection
from robot_rl.perception.tracker import SlotTracker, TrackerConfig

SIZE = len(SLOT_FIELDS)


def detection(label: int, position: tuple[float, float, float], color: tuple[float, float, float]) -> Detection:
    features = np.zeros(SIZE, dtype=np.float32)
    features[0] = 1.0
    features[1:4] = position
    features[7:10] = color
    return Detection(label=label, features=features)


RED, BLUE = (0.9, 0.1, 0.1), (0.1, 0.1, 0.9)


def test_identity_follows_motion_and_ignores_detection_order() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    tracker.update([detection(1, (0.4, 0.1, 0.02), RED), detection(2, (0.4, -0.1, 0.02), BLUE)])
    for step in range(1, 20):
        red = detection(1, (0.4 + 0.005 * step, 0.1, 0.02), RED)
        blue = detection(2, (0.4, -0.1 + 0.005 * step, 0.02), BLUE)
        slots = tracker.update([blue, red] if step % 2 else [red, blue])
        np.testing.assert_allclose(slots[0, 1:4], red.centroid_m)
        np.testing.assert_allclose(slots[1, 1:4], blue.centroid_m)
        assert list(slots[:, 0]) == [1, 1, 0, 0]


def test_colour_disambiguates_crossing_objects() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=2), SIZE)
    tracker.update([detection(1, (0.40, 0.0, 0.02), RED), detection(2, (0.44, 0.0, 0.02), BLUE)])
    # the two swap places: position alone would swap identities, colour keeps them
    slots = tracker.update([detection(1, (0.44, 0.0, 0.02), RED), detection(2, (0.40, 0.0, 0.02), BLUE)])
    np.testing.assert_allclose(slots[0, 7:10], RED)
    np.testing.assert_allclose(slots[1, 7:10], BLUE)


def test_brief_occlusion_keeps_the_slot() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=3, max_missed_frames=5), SIZE)
    tracker.update([detection(1, (0.4, 0.1, 0.02), RED), detection(2, (0.4, -0.1, 0.02), BLUE)])
    for _ in range(3):
        slots = tracker.update([detection(1, (0.4, -0.1, 0.02), BLUE)])
        assert list(slots[:, 0]) == [0, 1, 0]  # red hidden: presence 0, state kept
        np.testing.assert_allclose(slots[0, 1:4], (0.4, 0.1, 0.02))
    slots = tracker.update([detection(1, (0.41, 0.1, 0.02), RED), detection(2, (0.4, -0.1, 0.02), BLUE)])
    assert list(slots[:, 0]) == [1, 1, 0]


def test_long_absence_frees_the_slot_and_new_objects_take_free_slots() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=2, max_missed_frames=2), SIZE)
    tracker.update([detection(1, (0.4, 0.1, 0.02), RED)])
    for _ in range(3):
        tracker.update([])
    assert not tracker.alive.any()
    slots = tracker.update([detection(1, (0.2, 0.2, 0.02), BLUE)])
    np.testing.assert_allclose(slots[0, 7:10], BLUE)


def test_far_detection_is_a_new_object_not_a_jump() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=2), SIZE)
    tracker.update([detection(1, (0.4, 0.1, 0.02), RED)])
    slots = tracker.update([detection(1, (0.9, -0.4, 0.02), RED)])  # 64 cm away: beyond the gate
    assert list(slots[:, 0]) == [0, 1]


def test_capacity_drops_extra_detections_and_reset_forgets() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=1), SIZE)
    slots = tracker.update([detection(1, (0.4, 0.1, 0.02), RED), detection(2, (0.2, 0.1, 0.02), BLUE)])
    assert slots.shape == (1, SIZE)
    np.testing.assert_allclose(slots[0, 7:10], RED)
    tracker.reset()
    assert not tracker.alive.any()


def test_config_validation() -> None:
    with pytest.raises(PerceptionError):
        TrackerConfig(num_slots=0)
