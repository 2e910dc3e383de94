"""The slot tracker: identity across motion, occlusion, appearance and capacity."""

import numpy as np
import pytest

from robot_rl.errors import PerceptionError
from robot_rl.perception.slots import SLOT_FIELDS, Detection
from robot_rl.perception.tracker import SlotTracker, TrackerConfig

SIZE = len(SLOT_FIELDS)


def detection(
    label: int,
    position: tuple[float, float, float],
    color: tuple[float, float, float],
    extent: tuple[float, float, float] = (0.0, 0.0, 0.0),
    area_px: float = 0.0,
) -> Detection:
    features = np.zeros(SIZE, dtype=np.float32)
    features[0] = 1.0
    features[1:4] = position
    features[4:7] = extent
    features[7:10] = color
    features[10] = area_px
    return Detection(label=label, features=features)


RED, BLUE = (0.9, 0.1, 0.1), (0.1, 0.1, 0.9)
# mean colours perception measured in the sim (config/sim_slots.yaml) and the Panda's grey fingers
CUBE_RED, CUBE_GREEN, FINGER_GREY = (0.52, 0.18, 0.21), (0.26, 0.41, 0.27), (0.3, 0.3, 0.3)
CUBE = (0.046, 0.05, 0.042)  # extents of a Lift cube, m


def cube(label: int, position: tuple[float, float, float], color: tuple[float, float, float] = CUBE_RED) -> Detection:
    return detection(label, position, color, CUBE, 1800.0)


def live_slots(slots: np.ndarray) -> int:
    return int(np.count_nonzero(slots[:, 0] > 0))


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
    for missed in range(1, 4):
        slots = tracker.update([detection(1, (0.4, -0.1, 0.02), BLUE)])
        # red hidden: stale presence 0.5 * (5 + 1 - missed) / 5, state kept
        np.testing.assert_allclose(slots[:, 0], [0.5 * (6 - missed) / 5, 1, 0])
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
    assert list(slots[:, 0]) == [0.5, 1]  # the old slot is stale, not taken


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


def test_colour_split_sliver_is_not_a_second_slot() -> None:
    """A 70 px sliver cut off the cube's outline, with a box spanning the cube, 3 mm away."""
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    for step in range(10):
        real = cube(2, (0.40 + 0.001 * step, 0.10, 0.021))
        sliver = detection(1, (0.403 + 0.001 * step, 0.10, 0.021), (0.45, 0.32, 0.3), CUBE, 70.0)
        slots = tracker.update([sliver, real])  # the sliver first in label order
        assert live_slots(slots) == 1
        np.testing.assert_allclose(slots[0], real.features)  # the larger segment is kept
        assert tracker.suppressed_labels == [1]


def test_small_segment_with_the_same_box_is_a_duplicate() -> None:
    """A sliver 1.2 cm off-centre whose box spans the cube's: suppressed by the box overlap alone."""
    tracker = SlotTracker(TrackerConfig(num_slots=4, new_slot_min_distance_m=0.0), SIZE)
    sliver = detection(1, (0.412, 0.10, 0.021), (0.45, 0.32, 0.3), CUBE, 70.0)  # IoU 0.59
    slots = tracker.update([sliver, cube(2, (0.40, 0.10, 0.021))])
    assert live_slots(slots) == 1
    assert tracker.assigned_labels[0] == 2
    assert tracker.suppressed_labels == [1]


def test_highlight_split_off_the_cube_does_not_take_its_slot() -> None:
    """A specular highlight on the cube's top (label 1, 2 cm off-centre, small box) at the first frame."""
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    highlight = detection(1, (0.41, 0.115, 0.021), (0.8, 0.7, 0.7), (0.015, 0.015, 0.042), 70.0)
    for _ in range(3):
        slots = tracker.update([highlight, cube(2, (0.40, 0.10, 0.021))])
        assert live_slots(slots) == 1
        assert tracker.assigned_labels[0] == 2


def test_object_in_a_bin_is_not_a_duplicate_of_the_bin() -> None:
    """PickPlaceCan: the bin segment (41 x 51 cm) has its centre in empty space, where the can may stand."""
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    bin_segment = detection(1, (0.603, -0.15, -0.051), (0.52, 0.43, 0.34), (0.41, 0.51, 0.08), 19478.0)
    can = detection(2, (0.608, -0.15, -0.046), (0.54, 0.14, 0.17), (0.044, 0.046, 0.09), 874.0)
    for _ in range(2):
        slots = tracker.update([bin_segment, can])
        assert list(slots[:, 0]) == [1, 1, 0, 0]
        assert list(tracker.assigned_labels) == [1, 2, 0, 0]


def test_touching_objects_are_not_duplicates() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    slots = tracker.update([cube(1, (0.40, 0.0, 0.021)), cube(2, (0.445, 0.0, 0.021), CUBE_GREEN)])
    assert list(slots[:, 0]) == [1, 1, 0, 0]


def test_no_new_slot_next_to_a_live_slot() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    tracker.update([cube(1, (0.40, 0.10, 0.021))])
    # two red segments 2.5 cm apart (not duplicates of each other): one continues the slot, the other
    # is within new_slot_min_distance_m of it and opens no slot
    slots = tracker.update([cube(1, (0.40, 0.10, 0.021)), cube(2, (0.40, 0.125, 0.021))])
    assert live_slots(slots) == 1
    assert tracker.suppressed_labels == [2]
    # an unmatched grey segment next to a missing (stale) slot opens none either
    slots = tracker.update([detection(3, (0.41, 0.10, 0.03), FINGER_GREY, CUBE, 900.0)])
    assert live_slots(slots) == 1
    assert slots[0, 0] == 0.5


def test_grey_finger_never_takes_the_cube_slot() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    tracker.update([cube(1, (0.40, 0.10, 0.021))])
    # the cube is hidden, a grey finger segment sits exactly where it was
    finger = detection(1, (0.40, 0.10, 0.021), FINGER_GREY, CUBE, 1800.0)
    slots = tracker.update([finger])
    assert slots[0, 0] == 0.5
    assert live_slots(slots) == 1
    np.testing.assert_allclose(slots[0, 7:10], CUBE_RED, rtol=1e-6)
    # the finger right on the old position, the cube 3 cm away: the cube keeps its slot
    slots = tracker.update([finger, cube(2, (0.43, 0.10, 0.021))])
    assert tracker.assigned_labels[0] == 2
    assert slots[0, 0] == 1


def test_touching_cubes_keep_their_slots_through_grasp_and_lift() -> None:
    """Stack: red cube A is grasped beside the touching green cube B and lifted 5 cm per frame (20 Hz).

    At the grasp (frames 2 and 3) A merges with the fingers into one grey segment where A was and
    B's centroid is pulled 1.5 cm towards A by the occlusion.
    """
    tracker = SlotTracker(TrackerConfig(num_slots=6), SIZE)
    a, b = (0.40, 0.0, 0.021), (0.445, 0.0, 0.026)
    tracker.update([cube(1, b, CUBE_GREEN), cube(2, a)])  # B larger: slot 0, A slot 1
    rng = np.random.default_rng(0)
    last_a = a
    for step in range(12):
        lift = max(0, step - 3) * 0.05  # grasp for 4 frames, then up 5 cm a frame
        noise = rng.normal(0, 0.009, size=3)  # contact/lifted noise of perception
        a_now = (a[0] + 0.01 + noise[0], a[1] + noise[1], a[2] + lift / 2 + noise[2])  # z: halfway to the top
        fingers = [
            detection(3, (a_now[0], a_now[1] - 0.03, a_now[2] + 0.05), FINGER_GREY, (0.02, 0.01, 0.1), 400.0),
            detection(4, (a_now[0], a_now[1] + 0.03, a_now[2] + 0.05), FINGER_GREY, (0.02, 0.01, 0.1), 400.0),
        ]
        grasping = step in (2, 3)
        if grasping:
            merged = detection(2, a_now, FINGER_GREY, (0.06, 0.08, 0.12), 2200.0)
            segments = [cube(1, (b[0] - 0.015, b[1], b[2]), CUBE_GREEN), merged, *fingers]
        else:
            segments = [cube(1, b, CUBE_GREEN), cube(2, a_now), *fingers]
            last_a = a_now
        slots = tracker.update(segments[::-1] if step % 2 else segments)
        np.testing.assert_allclose(slots[0, 7:10], CUBE_GREEN, rtol=1e-6)
        np.testing.assert_allclose(slots[1, 7:10], CUBE_RED, rtol=1e-6)
        np.testing.assert_allclose(slots[1, 1:4], last_a, rtol=1e-6)
        assert slots[0, 0] == 1
        assert slots[1, 0] == pytest.approx({2: 0.5, 3: 0.5 * 29 / 30}.get(step, 1.0))
        assert live_slots(slots) == 4  # the fingers are segments of their own (the self-filter's job), no more


def test_occluded_object_keeps_its_slot_and_comes_back_where_it_was_carried() -> None:
    config = TrackerConfig(num_slots=4, max_missed_frames=10)
    tracker = SlotTracker(config, SIZE)
    tracker.update([cube(1, (0.40, 0.10, 0.021)), cube(2, (0.40, -0.10, 0.021), CUBE_GREEN)])
    for missed in range(1, 6):  # the red cube is hidden (merged with the fingers) and carried 5 cm a frame
        slots = tracker.update([cube(1, (0.40, -0.10, 0.021), CUBE_GREEN)])
        np.testing.assert_allclose(slots[0, 0], 0.5 * (11 - missed) / 10, rtol=1e-6)
        assert 0 < slots[0, 0] < 1
        np.testing.assert_allclose(slots[0, 1:4], (0.40, 0.10, 0.021), rtol=1e-6)  # last state kept
    assert list(tracker.missed) == [5, 0, 0, 0]
    back = cube(2, (0.40, 0.10, 0.021 + 0.25 / 2))  # 12.5 cm up: inside the grown gate (0.08 + 5 * 0.05 m)
    slots = tracker.update([cube(1, (0.40, -0.10, 0.021), CUBE_GREEN), back])
    assert tracker.assigned_labels[0] == 2
    assert list(slots[:, 0]) == [1, 1, 0, 0]


def test_missing_slot_is_emptied_after_max_missed_frames() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=2, max_missed_frames=3), SIZE)
    tracker.update([cube(1, (0.40, 0.10, 0.021))])
    presences = [float(tracker.update([])[0, 0]) for _ in range(4)]
    np.testing.assert_allclose(presences, [0.5, 1 / 3, 1 / 6, 0.0], rtol=1e-6)
    assert not tracker.alive.any()
    assert not tracker.update([]).any()


def test_stale_presence_zero_reports_missing_slots_as_zero() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=2, stale_presence=0.0), SIZE)
    tracker.update([cube(1, (0.40, 0.10, 0.021))])
    slots = tracker.update([])
    assert slots[0, 0] == 0
    assert tracker.alive[0]
    np.testing.assert_allclose(slots[0, 1:4], (0.40, 0.10, 0.021), rtol=1e-6)


def test_reset_forgets_identities_and_slots_refill_in_label_order() -> None:
    tracker = SlotTracker(TrackerConfig(num_slots=3), SIZE)
    tracker.update([cube(1, (0.40, 0.10, 0.021)), cube(2, (0.40, -0.10, 0.021), CUBE_GREEN)])
    tracker.update([cube(2, (0.40, -0.10, 0.021), CUBE_GREEN)])
    tracker.reset()
    assert not tracker.alive.any()
    assert not tracker.missed.any()
    assert not tracker.slots.any()
    slots = tracker.update([cube(1, (0.40, -0.10, 0.021), CUBE_GREEN), cube(2, (0.40, 0.10, 0.021))])
    np.testing.assert_allclose(slots[0, 7:10], CUBE_GREEN, rtol=1e-6)
    np.testing.assert_allclose(slots[1, 7:10], CUBE_RED, rtol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        {"num_slots": 0},
        {"num_slots": 2.5},
        {"max_missed_frames": -1},
        {"max_step_m": 0.0},
        {"max_step_m": float("nan")},
        {"max_gate_m": 0.05},
        {"color_gate": 0.0},
        {"color_scale": -1.0},
        {"stale_presence": 0.6},
        {"duplicate_distance_m": -0.01},
        {"duplicate_iou": 1.5},
        {"scene_extent_m": 0.0},
        {"duplicate_area_ratio": 2.0},
        {"new_slot_min_distance_m": -1.0},
        {"partial_view_edge_tolerance_m": float("nan")},
        {"appearance_change_containment": 1.5},
        {"appearance_change_containment": float("nan")},
        {"contained_color_gate": 0.05},
    ],
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(PerceptionError, match="TrackerConfig"):
        TrackerConfig(**bad)


def test_object_moving_5_cm_a_frame_keeps_its_slot() -> None:
    """Lifted and carried at up to 5 cm per control tick (20 Hz), next to a still object."""
    tracker = SlotTracker(TrackerConfig(num_slots=4), SIZE)
    tracker.update([cube(1, (0.45, 0.0, 0.026), CUBE_GREEN), cube(2, (0.40, 0.0, 0.021))])
    step = np.array([0.02, -0.03, 0.0346])  # |step| = 5.0 cm
    for frame in range(1, 8):
        moving = cube(2, tuple(np.array((0.40, 0.0, 0.021)) + frame * step))
        slots = tracker.update([moving, cube(1, (0.45, 0.0, 0.026), CUBE_GREEN)])
        assert list(tracker.assigned_labels) == [1, 2, 0, 0]
        np.testing.assert_allclose(slots[1, 1:4], moving.centroid_m)


def test_a_partly_hidden_object_keeps_its_full_box_and_centre() -> None:
    tracker = SlotTracker(TrackerConfig(), SIZE)
    tracker.update([cube(1, (0.5, 0.0, 0.021))])
    # the gripper hides the cube's low-x half: the visible part is half as deep, its centre 1.15 cm further out
    half = detection(2, (0.5115, 0.0, 0.021), CUBE_RED, (0.023, 0.05, 0.042), 900.0)
    slot = tracker.update([half])[0]
    np.testing.assert_allclose(slot[1:4], (0.5, 0.0, 0.021), atol=1e-6)  # anchored on the visible (high-x) edge
    np.testing.assert_allclose(slot[4:7], CUBE, atol=1e-6)
    # the same cube moved 1 cm in y while half hidden: y and z follow the detection, x stays anchored
    moved = detection(3, (0.5115, 0.01, 0.021), CUBE_RED, (0.023, 0.05, 0.042), 900.0)
    np.testing.assert_allclose(tracker.update([moved])[0][1:4], (0.5, 0.01, 0.021), atol=1e-6)
    # the whole cube in view again: its own box
    np.testing.assert_allclose(tracker.update([cube(4, (0.502, 0.01, 0.021))])[0][1:4], (0.502, 0.01, 0.021), atol=1e-6)


def test_partial_views_can_be_switched_off() -> None:
    tracker = SlotTracker(TrackerConfig(occlusion_shrink_m=0.0), SIZE)
    tracker.update([cube(1, (0.5, 0.0, 0.021))])
    half = detection(2, (0.5115, 0.0, 0.021), CUBE_RED, (0.023, 0.05, 0.042), 900.0)
    np.testing.assert_allclose(tracker.update([half])[0][1:4], (0.5115, 0.0, 0.021), atol=1e-6)


def test_a_cube_landing_after_its_drop_is_not_a_partial_view() -> None:
    tracker = SlotTracker(TrackerConfig(), SIZE)
    # robosuite drops objects from 1 cm: the first box runs from the table to a top 1 cm higher
    tracker.update([detection(1, (0.5, 0.0, 0.026), CUBE_RED, (0.046, 0.05, 0.052), 1800.0)])
    landed = tracker.update([cube(2, (0.5, 0.0, 0.021))])[0]
    np.testing.assert_allclose(landed[1:4], (0.5, 0.0, 0.021), atol=1e-6)
    np.testing.assert_allclose(landed[4:7], CUBE, atol=1e-6)


# PickPlaceCan's can, as perception measured it at rest (its red body) and at grasp, where the fingers hide its
# low-x half and its lid and body merge into one segment of a greyer mean colour (chromaticity distance 0.16)
CAN_RED, CAN_AT_GRASP = (0.57, 0.08, 0.12), (0.47, 0.14, 0.16)
CAN = (0.044, 0.046, 0.08)  # m


def test_a_colour_shift_inside_the_slot_box_keeps_the_slot() -> None:
    tracker = SlotTracker(TrackerConfig(), SIZE)
    tracker.update([detection(1, (0.5, 0.0, 0.04), CAN_RED, CAN, 900.0)])
    grasped = detection(2, (0.51, 0.0, 0.04), CAN_AT_GRASP, (0.024, 0.046, 0.08), 740.0)
    slots = tracker.update([grasped])
    assert slots[0, 0] == 1.0  # the same can: no gap ...
    assert live_slots(slots) == 1  # ... and no new slot
    np.testing.assert_allclose(slots[0, 1:4], (0.5, 0.0, 0.04), atol=1e-6)  # completed to the full box
    np.testing.assert_allclose(slots[0, 7:10], CAN_AT_GRASP, rtol=1e-6)  # and it takes the new colour


def test_a_colour_shift_outside_the_slot_box_is_refused() -> None:
    tracker = SlotTracker(TrackerConfig(), SIZE)
    tracker.update([detection(1, (0.5, 0.0, 0.04), CAN_RED, CAN, 900.0)])
    beside = detection(2, (0.5, 0.04, 0.04), CAN_AT_GRASP, (0.024, 0.046, 0.08), 740.0)  # half outside the box
    slots = tracker.update([beside])
    assert slots[0, 0] == 0.5  # the can's slot is missing, not taken
    np.testing.assert_allclose(slots[0, 7:10], CAN_RED, rtol=1e-6)


def test_a_grey_segment_inside_the_box_is_still_refused() -> None:
    tracker = SlotTracker(TrackerConfig(), SIZE)
    tracker.update([cube(1, (0.5, 0.0, 0.021))])
    finger = detection(2, (0.5, 0.0, 0.021), FINGER_GREY, (0.02, 0.02, 0.04), 300.0)  # inside the cube's box
    assert tracker.update([finger])[0, 0] == 0.5


def test_a_partial_view_of_a_moving_object_anchors_on_its_predicted_position() -> None:
    """Carried at 1 cm a frame in +y, the can loses its leading (+y) side from view: the trailing edge stays."""
    tracker = SlotTracker(TrackerConfig(), SIZE)
    for step in range(3):
        tracker.update([detection(1, (0.5, 0.01 * step, 0.1), CAN_RED, CAN, 900.0)])
    hidden_m = 0.018  # of the can's 4.6 cm in y
    visible = detection(2, (0.5, 0.03 - hidden_m / 2, 0.1), CAN_RED, (0.044, 0.046 - hidden_m, 0.08), 600.0)
    slot = tracker.update([visible])[0]
    np.testing.assert_allclose(slot[1:4], (0.5, 0.03, 0.1), atol=1e-6)
    np.testing.assert_allclose(slot[4:7], CAN, atol=1e-6)


def test_a_still_cube_the_gripper_starts_to_hide_stays_put() -> None:
    """Stack, seed 1005, ticks 24-28 as perception saw them: the hand coming down hides cube A's low-x side.

    The first frame's box narrows by 4 mm (under ``occlusion_shrink_m``) with both edges moving, 3 mm and -1
    mm: that is no motion of the cube, and the slot must not extrapolate it onto the anchor choice.
    """
    tracker = SlotTracker(TrackerConfig(), SIZE)
    start_x = 0.504
    tracker.update([detection(1, (start_x, 0.0, 0.02), CUBE_RED, (0.047, 0.051, 0.04), 1575.0)])
    for centre_cm, extent_cm in ((0.5, 4.3), (0.6, 4.1), (0.8, 3.8), (0.9, 3.6)):
        x = start_x + (centre_cm - 0.4) / 100
        slot = tracker.update([detection(2, (x, 0.0, 0.02), CUBE_RED, (extent_cm / 100, 0.051, 0.04), 1300.0)])[0]
        assert abs(slot[1] - start_x) <= 0.0025, (centre_cm, slot[1] - start_x)


def test_a_cube_hidden_on_both_sides_keeps_its_predicted_centre() -> None:
    """Stack, seed 1001, cube B as perception saw it while the arm came down in front of it (ticks 18-22, y
    relative to the cube, cm): its box narrowed from both sides, and an anchor on either edge would be 1.5-2.3 cm
    off."""
    tracker = SlotTracker(TrackerConfig(), SIZE)
    tracker.update([detection(1, (0.58, 0.0, 0.02), CUBE_GREEN, (0.05, 0.066, 0.05), 1800.0)])
    for centre_cm, extent_cm in ((0.3, 6.1), (0.8, 5.1), (0.9, 4.9), (0.4, 2.9)):
        seen = detection(2, (0.58, centre_cm / 100, 0.02), CUBE_GREEN, (0.05, extent_cm / 100, 0.05), 900.0)
        slot = tracker.update([seen])[0]
        assert abs(slot[2]) <= 0.005, (centre_cm, slot[2])
    assert slot[5] == pytest.approx(0.066)  # the full extent
