"""Segmenters on a ray-cast tabletop scene with exact ground truth."""

import numpy as np
import pytest

from robot_rl.calibration import FixtureBox
from robot_rl.errors import PerceptionError
from robot_rl.perception.segmenters import (
    Frame,
    RgbdTabletopSegmenter,
    SimGroundTruthSegmenter,
    TabletopConfig,
    _nearest_of_two,
)
from tests.perception.scene import Box, render

BOXES = [
    Box((0.40, 0.10), (0.05, 0.05, 0.05), (200, 30, 30)),
    Box((0.35, -0.12), (0.04, 0.06, 0.08), (30, 200, 30)),
    Box((0.50, 0.00), (0.03, 0.03, 0.03), (30, 30, 200)),
]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_tabletop_segments_match_ground_truth() -> None:
    frame, truth = render(BOXES)
    segmentation = RgbdTabletopSegmenter().segment(frame)
    assert segmentation.count == 3
    np.testing.assert_allclose(segmentation.plane, [0, 0, 1, 0], atol=1e-3)
    for label in range(1, 4):
        best = max(iou(segmentation.labels == found, truth == label) for found in range(1, 4))
        assert best > 0.85, (label, best)


def test_tabletop_is_deterministic() -> None:
    frame, _ = render(BOXES)
    first = RgbdTabletopSegmenter().segment(frame).labels
    second = RgbdTabletopSegmenter().segment(frame).labels
    np.testing.assert_array_equal(first, second)


def test_empty_table_has_no_segments() -> None:
    frame, _ = render([])
    assert RgbdTabletopSegmenter().segment(frame).count == 0


def test_all_zero_and_nan_depth_are_errors() -> None:
    frame, _ = render(BOXES)
    zero = Frame(frame.color, np.zeros_like(frame.depth_m), frame.k, frame.t_base_camera)
    with pytest.raises(PerceptionError, match="no valid depth"):
        RgbdTabletopSegmenter().segment(zero)
    nan = Frame(frame.color, np.full_like(frame.depth_m, np.nan), frame.k, frame.t_base_camera)
    with pytest.raises(PerceptionError, match="no valid depth"):
        RgbdTabletopSegmenter().segment(nan)


def test_partial_nan_depth_is_ignored() -> None:
    frame, _ = render(BOXES)
    depth = frame.depth_m.copy()
    depth[::7, :] = np.nan
    segmentation = RgbdTabletopSegmenter().segment(Frame(frame.color, depth, frame.k, frame.t_base_camera))
    assert segmentation.count == 3


def test_frame_validation() -> None:
    frame, _ = render(BOXES)
    with pytest.raises(PerceptionError, match="different sizes"):
        Frame(frame.color, frame.depth_m[:-1], frame.k, frame.t_base_camera)
    with pytest.raises(PerceptionError, match="uint8"):
        Frame(frame.color.astype(np.float32), frame.depth_m, frame.k, frame.t_base_camera)
    with pytest.raises(PerceptionError, match="intrinsics"):
        Frame(frame.color, frame.depth_m, np.eye(2), frame.t_base_camera)
    with pytest.raises(PerceptionError, match="4x4"):
        Frame(frame.color, frame.depth_m, frame.k, np.full((4, 4), np.nan))


def test_config_validation() -> None:
    with pytest.raises(PerceptionError, match="split_min_part_height_m"):
        TabletopConfig(split_min_part_height_m=-0.01)
    with pytest.raises(PerceptionError, match="voxel_m"):
        TabletopConfig(voxel_m=0)
    with pytest.raises(PerceptionError, match="min_height_m"):
        TabletopConfig(min_height_m=0.5, max_height_m=0.1)


def test_sim_gt_relabels_known_ids() -> None:
    frame, truth = render(BOXES)
    ids = np.where(truth > 0, truth + 40, 7).astype(np.int32)  # 7 = table, 41..43 = boxes
    gt = Frame(frame.color, frame.depth_m, frame.k, frame.t_base_camera, instance_ids=ids)
    segmentation = SimGroundTruthSegmenter([43, 41]).segment(gt)
    np.testing.assert_array_equal(segmentation.labels == 1, truth == 3)
    np.testing.assert_array_equal(segmentation.labels == 2, truth == 1)
    assert segmentation.source_ids == {1: 43, 2: 41}
    every_object = SimGroundTruthSegmenter().segment(
        Frame(frame.color, frame.depth_m, frame.k, frame.t_base_camera, instance_ids=truth)
    )
    np.testing.assert_array_equal(every_object.labels, truth)
    with pytest.raises(PerceptionError, match="instance segmentation"):
        SimGroundTruthSegmenter([1]).segment(frame)


def test_pipeline_tracks_slots_across_frames() -> None:
    from robot_rl.perception.pipeline import PerceptionConfig, PerceptionPipeline, overlay
    from robot_rl.perception.tracker import TrackerConfig

    pipeline = PerceptionPipeline(PerceptionConfig(tracker=TrackerConfig(num_slots=4)))
    frame, _ = render(BOXES)
    first = pipeline.process(frame).slots
    second = pipeline.process(frame).slots
    assert list(first[:, 0]) == [1, 1, 1, 0]
    np.testing.assert_array_equal(first, second)
    result = pipeline.process(frame)
    assert overlay(frame.color, result.segmentation.labels).shape == frame.color.shape
    pipeline.reset()
    assert not pipeline.tracker.alive.any()


def test_pipeline_config_validation() -> None:
    from robot_rl.perception.pipeline import PerceptionConfig

    with pytest.raises(PerceptionError, match="unknown segmenter 'yolo'"):
        PerceptionConfig(segmenter="yolo")
    assert PerceptionConfig(segmenter="sim_gt").sim_object_ids == ()


def test_touching_objects_of_different_colours_are_split() -> None:
    touching = [
        Box((0.40, 0.025), (0.05, 0.05, 0.05), (200, 30, 30)),
        Box((0.40, -0.025), (0.05, 0.05, 0.05), (30, 200, 30)),
    ]
    frame, truth = render(touching)
    assert RgbdTabletopSegmenter(TabletopConfig(color_split_distance=0)).segment(frame).count == 1
    segmentation = RgbdTabletopSegmenter().segment(frame)
    assert segmentation.count == 2
    for label in (1, 2):
        assert max(iou(segmentation.labels == found, truth == label) for found in (1, 2)) > 0.8


def test_a_cube_stacked_on_another_of_another_colour_is_split() -> None:
    stacked = [
        Box((0.40, 0.05), (0.05, 0.05, 0.05), (30, 200, 30)),
        Box((0.40, 0.05), (0.04, 0.04, 0.04), (200, 30, 30), bottom_m=0.05),
    ]
    frame, truth = render(stacked, width=640, height=480)
    segmentation = RgbdTabletopSegmenter().segment(frame)
    assert segmentation.count == 2
    for label in (1, 2):
        assert max(iou(segmentation.labels == found, truth == label) for found in (1, 2)) > 0.8


def test_a_thin_lid_of_another_colour_stays_with_its_body() -> None:
    can = [  # a can: a tall body and a 6 mm lid of another colour on top
        Box((0.40, 0.05), (0.06, 0.06, 0.10), (200, 30, 30)),
        Box((0.40, 0.05), (0.06, 0.06, 0.006), (170, 170, 170), bottom_m=0.10),
    ]
    frame, _ = render(can, width=640, height=480)
    assert RgbdTabletopSegmenter().segment(frame).count == 1


def test_touching_objects_of_one_colour_stay_merged() -> None:
    touching = [
        Box((0.40, 0.025), (0.05, 0.05, 0.05), (200, 30, 30)),
        Box((0.40, -0.025), (0.05, 0.05, 0.05), (200, 30, 30)),
    ]
    frame, _ = render(touching)
    assert RgbdTabletopSegmenter().segment(frame).count == 1  # a known limit: no colour or gap to split on


def test_nearest_of_two_matches_the_norm_argmin_including_ties() -> None:
    """The colour split's 2-means step agrees with np.linalg.norm(...).argmin, ties going to centre 0."""
    rng = np.random.default_rng(3)
    values = rng.random((5000, 2), dtype=np.float32) * 0.4 + 0.2
    centres = np.array([[0.3, 0.3], [0.45, 0.35]], dtype=np.float32)
    values[:50] = (centres[0] + centres[1]) / 2  # equidistant from both
    expected = np.linalg.norm(values[:, None, :] - centres[None], axis=2).argmin(axis=1)
    np.testing.assert_array_equal(_nearest_of_two(values, centres), expected)
    assert not _nearest_of_two(values[:50], centres).any()


def test_fixture_boxes_are_removed_like_the_robot() -> None:
    """A wall next to a cube is a segment; named as a fixture it is gone and the cube keeps its segment."""
    cube = Box((0.40, 0.00), (0.05, 0.05, 0.05), (200, 30, 30))
    wall = Box((0.40, 0.10), (0.30, 0.02, 0.10), (150, 110, 60))
    frame, truth = render([cube, wall])
    assert RgbdTabletopSegmenter().segment(frame).count == 2
    fixture = FixtureBox("wall", wall.center, np.array(wall.size) / 2)
    segmentation = RgbdTabletopSegmenter(TabletopConfig(fixtures=(fixture,))).segment(frame)
    assert segmentation.count == 1
    assert iou(segmentation.labels == 1, truth == 1) > 0.85  # the cube, 3.5 cm from the wall's padded face


def test_fixtures_must_be_fixture_boxes() -> None:
    with pytest.raises(PerceptionError, match=r"TabletopConfig\.fixtures must hold FixtureBox boxes"):
        TabletopConfig(fixtures=((0.4, 0.1, 0.05),))  # type: ignore[arg-type]
    with pytest.raises(PerceptionError, match="fixture_padding_m must be >= 0"):
        TabletopConfig(fixture_padding_m=-0.01)


def test_an_object_carried_high_stays_whole() -> None:
    """A can carried 12 cm up (its top 20 cm above the table) is one whole segment; the old 15 cm band cut it."""
    carried = [Box((0.40, 0.05), (0.044, 0.044, 0.08), (200, 30, 30), bottom_m=0.12)]
    frame, truth = render(carried, width=640, height=480)
    segmentation = RgbdTabletopSegmenter().segment(frame)
    assert segmentation.count == 1
    assert iou(segmentation.labels == 1, truth == 1) > 0.85
    cut = RgbdTabletopSegmenter(TabletopConfig(max_height_m=0.15)).segment(frame)
    assert iou(cut.labels == 1, truth == 1) < 0.6
