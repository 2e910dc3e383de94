"""Segmenters: turn one RGB-D frame into an instance label image.

Two implementations behind one small interface:

- :class:`SimGroundTruthSegmenter` (``sim_gt``) relabels the simulator's instance
  segmentation, keeping only the object ids it is told about;
- :class:`RgbdTabletopSegmenter` (``rgbd_tabletop``) needs no learned weights: it
  expresses the depth point cloud in ``base_link`` through the hand-eye calibration,
  fits the support plane with RANSAC, clusters the points above the plane (Euclidean
  clustering on a voxel grid) and projects the clusters back to image masks. With a robot
  self-filter (:mod:`robot_rl.perception.self_filter`) the robot's own points are removed first,
  using the arm's joint positions that come with the frame; so are the points in the scene's fixture
  boxes (static furniture such as bin walls, :class:`~robot_rl.calibration.files.SceneFixtures`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from robot_rl.calibration.files import FixtureBox
from robot_rl.errors import PerceptionError, RobotModelError
from robot_rl.perception.geometry import check_intrinsics, pixel_rays
from robot_rl.perception.self_filter import SelfFilter
from robot_rl.perception.timing import StageTimer


@dataclass
class Frame:
    """One RGB-D frame with its calibration. Depth 0 or NaN means "no measurement"."""

    color: np.ndarray  # (H, W, 3) uint8, rgb8, row 0 at the top
    depth_m: np.ndarray  # (H, W) float32 depth along the optical axis, metres
    k: np.ndarray  # (3, 3) pinhole intrinsics of the (depth-aligned) colour camera
    t_base_camera: np.ndarray  # (4, 4) camera optical frame in base_link
    instance_ids: np.ndarray | None = None  # (H, W) int32 sim instance ids (sim_gt only)
    joint_positions: Mapping[str, float] | None = None  # robot joints at the frame's time, rad or m (self-filter)

    def __post_init__(self) -> None:
        if self.color.ndim != 3 or self.color.shape[2] != 3 or self.color.dtype != np.uint8:
            raise PerceptionError(f"color must be (H, W, 3) uint8, got {self.color.dtype} {self.color.shape}")
        if self.depth_m.shape != self.color.shape[:2]:
            raise PerceptionError(
                f"depth {self.depth_m.shape[::-1]} and color {self.color.shape[1::-1]} have different sizes"
                " (align depth to color first)"
            )
        check_intrinsics(self.k)
        if self.t_base_camera.shape != (4, 4) or not np.all(np.isfinite(self.t_base_camera)):
            raise PerceptionError("t_base_camera must be a finite 4x4 transform")


@dataclass
class Segmentation:
    """An instance label image: 0 is background, 1..N are segments."""

    labels: np.ndarray  # (H, W) int32
    points_base: np.ndarray | None = None  # (H, W, 3) points in base_link, NaN where invalid
    plane: np.ndarray | None = None  # (4,) support plane n.x + d = 0 in base_link (unit n, up)
    source_ids: dict[int, int] = field(default_factory=dict)  # label -> sim instance id (sim_gt)
    robot_mask: np.ndarray | None = None  # (H, W) bool, the robot's pixels in the region of interest (self-filter)
    stage_times_ms: dict[str, float] = field(default_factory=dict)  # wall time of each segmenter stage, ms

    @property
    def count(self) -> int:
        """Number of segments."""
        return int(self.labels.max(initial=0))


class Segmenter(abc.ABC):
    """Interface: one frame in, one label image out."""

    name: str

    @abc.abstractmethod
    def segment(self, frame: Frame) -> Segmentation:
        """Segment one frame."""


class SimGroundTruthSegmenter(Segmenter):
    """Relabel the simulator's instance segmentation to 1..N.

    With ``object_ids`` the labels follow that list; without, every non-zero id in the
    image is an object (the sim bridge publishes 0 for everything that is not a task
    object), labelled in increasing id order.
    """

    name = "sim_gt"

    def __init__(self, object_ids: list[int] | None = None) -> None:
        self.object_ids = list(object_ids or [])

    def segment(self, frame: Frame) -> Segmentation:
        if frame.instance_ids is None:
            raise PerceptionError("sim_gt needs the simulator's instance segmentation image")
        labels = np.zeros(frame.instance_ids.shape, dtype=np.int32)
        source = {}
        object_ids = self.object_ids or [int(i) for i in np.unique(frame.instance_ids) if i != 0]
        for label, object_id in enumerate(object_ids, start=1):
            labels[frame.instance_ids == object_id] = label
            source[label] = object_id
        return Segmentation(labels=labels, source_ids=source)


@dataclass(frozen=True)
class TabletopConfig:
    """Parameters of the rgbd_tabletop segmenter (lengths in metres)."""

    plane_inlier_m: float = 0.004  # RANSAC inlier distance to the plane
    plane_iterations: int = 80  # RANSAC hypotheses
    plane_samples: int = 3000  # points sampled for the plane fit
    max_plane_tilt_deg: float = 25.0  # reject planes whose normal leans more than this from base +z
    min_height_m: float = 0.003  # points closer to the plane than this are table
    max_height_m: float = 0.30  # points higher above the plane are ignored (an object lifted and carried stays in)
    workspace_min_m: tuple[float, float, float] = (
        -1.0,
        -1.0,
        -0.5,
    )  # lower corner of the region of interest, base_link
    workspace_max_m: tuple[float, float, float] = (1.0, 1.0, 0.5)  # upper corner of the region of interest, base_link
    voxel_m: float = 0.006  # clustering voxel size (neighbouring occupied voxels join)
    min_cluster_points: int = 60  # smaller clusters are noise
    color_split_distance: float = 0.15  # split a cluster when its 2-means chromaticities differ this much; 0 = never
    # ... and the parts lie side by side (centres this far apart in x-y, footprints overlapping less than
    # split_max_footprint_overlap), or one on the other (centres this far apart in z), m
    split_min_separation_m: float = 0.02
    split_max_footprint_overlap: float = 0.5  # x-y box intersection over the smaller part's x-y box (fraction)
    split_min_part_height_m: float = 0.02  # stacked parts are both at least this tall (a can's thin lid is not), m
    max_depth_m: float = 3.0  # farther measurements are ignored
    seed: int = 0  # RANSAC random seed (deterministic output)
    fixtures: tuple[FixtureBox, ...] = ()  # static scene boxes (bin walls) in base_link, removed like the robot
    fixture_padding_m: float = 0.01  # each fixture box grows by this on every side (depth noise, edges), m

    def __post_init__(self) -> None:
        positive = (
            "plane_inlier_m",
            "plane_iterations",
            "plane_samples",
            "voxel_m",
            "min_cluster_points",
            "max_depth_m",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise PerceptionError(f"TabletopConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.min_height_m < self.max_height_m:
            raise PerceptionError("TabletopConfig needs 0 <= min_height_m < max_height_m")
        for name in (
            "color_split_distance",
            "split_min_separation_m",
            "split_max_footprint_overlap",
            "split_min_part_height_m",
            "fixture_padding_m",
        ):
            if not getattr(self, name) >= 0:  # also refuses NaN
                raise PerceptionError(f"TabletopConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("workspace_min_m", "workspace_max_m"):  # a 3D box: checked here, not at the first frame
            corner = getattr(self, name)
            if len(corner) != 3:
                raise PerceptionError(
                    f"region of interest {name} must have 3 values (x, y, z in base_link, m), got {len(corner)}:"
                    f" {list(corner)}"
                )
        if not all(lo < hi for lo, hi in zip(self.workspace_min_m, self.workspace_max_m, strict=True)):
            raise PerceptionError("TabletopConfig workspace_min_m must be below workspace_max_m on every axis")
        if not all(isinstance(box, FixtureBox) for box in self.fixtures):
            raise PerceptionError("TabletopConfig.fixtures must hold FixtureBox boxes (load_scene_fixtures)")


class RgbdTabletopSegmenter(Segmenter):
    """Support-plane RANSAC plus Euclidean clustering, in base_link, projected back to the image."""

    name = "rgbd_tabletop"

    def __init__(self, config: TabletopConfig | None = None, self_filter: SelfFilter | None = None) -> None:
        self.config = config or TabletopConfig()
        self.self_filter = self_filter  # None: nothing removes the robot but the max_height_m band
        self._ray_planes: np.ndarray | None = None
        self._rays_key: tuple | None = None

    def _points_base(self, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
        """Return (H, W, 3) float32 base_link points (NaN where invalid) and the mask of the valid points inside
        the region of interest."""
        height, width = frame.depth_m.shape
        key = (width, height, frame.k.tobytes(), frame.t_base_camera.tobytes())
        if self._rays_key != key:
            # rays rotated into base_link once per calibration, one contiguous (H, W) plane per axis: a point is
            # origin + depth * ray
            rays = pixel_rays(frame.k, width, height) @ frame.t_base_camera[:3, :3].T
            self._ray_planes = np.ascontiguousarray(np.moveaxis(rays, 2, 0), dtype=np.float32)
            self._rays_key = key
        config = self.config
        depth = frame.depth_m.astype(np.float32, copy=False)
        with np.errstate(invalid="ignore"):
            valid = (depth > 0) & (depth < config.max_depth_m)  # False for NaN
        # NaN depth makes all three coordinates NaN, and NaN compares False: invalid points are never in the region
        depth = np.where(valid, depth, np.float32(np.nan))
        origin = frame.t_base_camera[:3, 3].astype(np.float32)
        # computed and compared plane by plane (contiguous), about five times faster than on the (H, W, 3) cloud
        planes = np.empty((3, height, width), dtype=np.float32)
        in_roi = np.ones((height, width), dtype=bool)
        for axis in range(3):
            np.multiply(self._ray_planes[axis], depth, out=planes[axis])
            planes[axis] += origin[axis]
            in_roi &= planes[axis] > np.float32(config.workspace_min_m[axis])
            in_roi &= planes[axis] < np.float32(config.workspace_max_m[axis])
        return np.stack(planes, axis=-1), in_roi

    def fit_plane(self, points: np.ndarray) -> np.ndarray:
        """RANSAC plane fit on (N, 3) base_link points; returns (a, b, c, d) with unit normal pointing up."""
        config = self.config
        if len(points) < 3:
            raise PerceptionError("too few valid depth points to fit the support plane")
        rng = np.random.default_rng(config.seed)  # reseeded per frame: the output depends on the frame only
        sample = points[rng.choice(len(points), size=min(config.plane_samples, len(points)), replace=False)]
        sample = sample.astype(np.float64)
        # all hypotheses at once: one plane through each random triple of sample points
        i, j, k = rng.integers(0, len(sample), size=(3, config.plane_iterations))
        normals = np.cross(sample[j] - sample[i], sample[k] - sample[i])
        norms = np.linalg.norm(normals, axis=1)
        usable = norms > 1e-9
        normals[usable] /= norms[usable, None]
        normals *= np.where(normals[:, 2:3] < 0, -1.0, 1.0)
        usable &= normals[:, 2] >= np.cos(np.radians(config.max_plane_tilt_deg))
        if not usable.any():
            raise PerceptionError("no support plane found (is the table in view and the calibration right?)")
        offsets = -np.einsum("ij,ij->i", normals, sample[i])
        inliers = np.abs(sample @ normals[usable].T + offsets[usable]) < config.plane_inlier_m
        best = inliers[:, np.argmax(inliers.sum(axis=0))]
        if best.sum() < 3:
            raise PerceptionError("no support plane found (is the table in view and the calibration right?)")
        # least-squares refinement on the inliers
        inlier_points = sample[best]
        centre = inlier_points.mean(axis=0)
        normal = np.linalg.svd(inlier_points - centre, full_matrices=False)[2][2]
        if normal[2] < 0:
            normal = -normal
        return np.append(normal, -normal @ centre)

    def segment(self, frame: Frame) -> Segmentation:
        config = self.config
        timer = StageTimer()
        points, in_roi = self._points_base(frame)
        timer.lap("back_projection")
        robot = self._robot_mask(frame, points)
        timer.lap("self_filter")
        if robot is not None:  # before the plane fit and the clustering: the arm is neither table nor object
            in_roi &= ~robot
        index = np.flatnonzero(in_roi)
        candidates = np.take(points.reshape(-1, 3), index, axis=0)  # several times faster than points[index]
        if config.fixtures:  # nor is fixed furniture (bin walls)
            kept = ~self._in_fixtures(candidates)
            index, candidates = index[kept], candidates[kept]
        if len(index) == 0:
            raise PerceptionError("no valid depth inside the workspace (all-zero or NaN depth?)")
        timer.lap("region")
        plane = self.fit_plane(candidates)
        height = candidates @ plane[:3].astype(np.float32) + np.float32(plane[3])
        above = (height > config.min_height_m) & (height < config.max_height_m)
        labels = np.zeros(in_roi.size, dtype=np.int32)
        selected_index = index[above]
        selected = np.take(candidates, np.flatnonzero(above), axis=0)
        timer.lap("plane")
        clusters = self._cluster(selected)
        timer.lap("cluster")
        if config.color_split_distance > 0:
            rgb = np.take(frame.color.reshape(-1, 3), selected_index, axis=0).astype(np.float32) + 1.0
            chromaticity = rgb[:, :2] / rgb.sum(axis=1, keepdims=True)  # (r, g) / (r + g + b): shading-invariant
            clusters = self._split_by_color(clusters, chromaticity, selected)
            timer.lap("color_split")
        labels[selected_index] = clusters
        timer.lap("labels")
        return Segmentation(
            labels=labels.reshape(in_roi.shape),
            points_base=points,
            plane=plane,
            robot_mask=robot,
            stage_times_ms=timer.times_ms,
        )

    def _in_fixtures(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: which (N, 3) base_link points lie in a fixture box grown by ``fixture_padding_m``."""
        inside = np.zeros(len(points), dtype=bool)
        for box in self.config.fixtures:
            reach = (box.half_extents_m + self.config.fixture_padding_m).astype(np.float32)
            inside |= np.all(np.abs(points - box.center_m.astype(np.float32)) <= reach, axis=1)
        return inside

    def _robot_mask(self, frame: Frame, points: np.ndarray) -> np.ndarray | None:
        if self.self_filter is None:
            return None
        if frame.joint_positions is None:
            raise PerceptionError("the robot self-filter needs the frame's joint positions (no /joint_states?)")
        try:
            link_poses = self.self_filter.link_poses(frame.joint_positions)
        except RobotModelError as error:
            raise PerceptionError(f"robot self-filter: {error}") from None
        region = (self.config.workspace_min_m, self.config.workspace_max_m)  # the robot outside it does not matter
        return self.self_filter.mask(points, frame.k, frame.t_base_camera, link_poses, region)

    def _cluster(self, selected: np.ndarray) -> np.ndarray:
        """Label (N, 3) points by connected occupied voxels; 0 for clusters that are too small."""
        config = self.config
        if len(selected) == 0:
            return np.zeros(0, dtype=np.int32)
        voxel = np.floor(selected / config.voxel_m).astype(np.int64)
        voxel -= voxel.min(axis=0)
        shape = tuple(voxel.max(axis=0) + 1)
        occupancy = np.zeros(shape, dtype=bool)
        occupancy[voxel[:, 0], voxel[:, 1], voxel[:, 2]] = True
        voxel_labels, count = ndimage.label(occupancy, structure=np.ones((3, 3, 3), dtype=bool))
        point_labels = voxel_labels[voxel[:, 0], voxel[:, 1], voxel[:, 2]]
        sizes = np.bincount(point_labels, minlength=count + 1)
        keep = sizes >= config.min_cluster_points
        keep[0] = False
        # renumber kept clusters 1..N, largest first, so labels are stable for equal scenes
        order = np.argsort(-sizes * keep, kind="stable")
        renumber = np.zeros(count + 1, dtype=np.int32)
        renumber[order[: int(keep.sum())]] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        return renumber[point_labels]

    def _separate(self, first: np.ndarray, second: np.ndarray) -> bool:
        """Whether two parts' (N, 3) points lie side by side or one on the other (see ``_split_by_color``)."""
        config = self.config
        bounds = np.stack([np.percentile(part, [5, 95], axis=0) for part in (first, second)])  # (part, lo/hi, xyz)
        low, high = bounds[:, 0], bounds[:, 1]
        centre_gap = np.abs(first.mean(axis=0) - second.mean(axis=0))
        # x-y boxes grown by a voxel on each side: a face seen edge-on (zero depth) still has a footprint
        low_xy, high_xy = low[:, :2] - config.voxel_m, high[:, :2] + config.voxel_m  # (2, 2) each
        overlap = np.prod(np.clip(high_xy.min(axis=0) - low_xy.max(axis=0), 0, None))
        smaller = np.prod(high_xy - low_xy, axis=1).min()
        if np.linalg.norm(centre_gap[:2]) >= config.split_min_separation_m and (
            overlap < config.split_max_footprint_overlap * smaller
        ):
            return True
        heights = high[:, 2] - low[:, 2]
        return bool(centre_gap[2] >= config.split_min_separation_m and heights.min() >= config.split_min_part_height_m)

    def _split_by_color(self, clusters: np.ndarray, chromaticity: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Split clusters that are two touching objects of clearly different colours.

        2-means on chromaticity (so a lit top and a shaded side of one object stay together),
        a few iterations from the two most different points. The split is kept when the two
        mean chromaticities are ``color_split_distance`` apart, both parts have
        ``min_cluster_points`` points, and the parts are either side by side (centres
        ``split_min_separation_m`` apart in x-y and x-y boxes overlapping less than
        ``split_max_footprint_overlap`` of the smaller one) or stacked (centres that far apart in z,
        both parts ``split_min_part_height_m`` tall): a two-coloured object (a can's body and its
        thin lid) does not split, whichever faces the camera sees.
        """
        config = self.config
        result = clusters.copy()
        next_label = int(clusters.max(initial=0)) + 1
        for label in range(1, int(clusters.max(initial=0)) + 1):
            members = np.flatnonzero(clusters == label)
            if len(members) < 2 * config.min_cluster_points:
                continue
            chroma = chromaticity[members]
            first = chroma[np.argmax(np.linalg.norm(chroma - chroma.mean(axis=0), axis=1))]
            centres = np.stack([first, chroma[np.argmax(np.linalg.norm(chroma - first, axis=1))]])
            previous = None
            for _ in range(8):
                assignment = _nearest_of_two(chroma, centres)
                # one part left, or converged: the centres would not move again
                if assignment.min() == assignment.max() or np.array_equal(assignment, previous):
                    break
                previous = assignment
                centres = np.stack([chroma[assignment == part].mean(axis=0) for part in (0, 1)])
            counts = np.bincount(assignment, minlength=2)
            if counts.min() < config.min_cluster_points:
                continue
            if np.linalg.norm(centres[0] - centres[1]) >= config.color_split_distance and self._separate(
                *(points[members[assignment == part]] for part in (0, 1))
            ):
                result[members[assignment == 1]] = next_label
                next_label += 1
        return result


def _nearest_of_two(values: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index (0 or 1, ties to 0) of the nearer of two ``centres`` (2, 2) to each (N, 2) value, Euclidean."""
    distances = [
        np.sqrt((values[:, 0] - centre[0]) ** 2 + (values[:, 1] - centre[1]) ** 2) for centre in centres
    ]  # the same float arithmetic as np.linalg.norm, so ties and rounding fall as they did
    return (distances[1] < distances[0]).astype(np.intp)
