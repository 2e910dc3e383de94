"""The sim slot source: layout, noise, the table file, and agreement with perception on rendered reset frames."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robot_rl.cli import SLOT_NOISE_MODELS
from robot_rl.errors import SimError
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.perception.slots import SLOT_FIELDS
from robot_rl.runtime import Node, msg
from robot_rl.runtime.launch_file import read_launch_file
from robot_rl.runtime.launcher import build_inproc
from robot_rl.sim.robosuite_adapter import TASK_OBJECTS
from robot_rl.sim.slot_calibration import (
    Record,
    _yaw_fit,
    sim_perception_launch,
    slot_layout,
    table_from_reset_frames,
)
from robot_rl.sim.slot_source import (
    MEAN_YAW_SPREAD,
    NOISE_MODELS,
    OBJECT,
    OBJECT_FEATURES,
    PIXEL_FEATURES,
    SCENE,
    SCENE_FEATURES,
    STALE_PRESENCE,
    YAW_SLOPES,
    Gaussian,
    PerceptionSettings,
    SimSlotSource,
    SlotSpec,
    SlotTable,
    TaskSlots,
    load_slot_table,
    sigma_from_median_3d,
    slot_table_to_yaml,
    yaw_about_z,
    yaw_spread,
)
from robot_rl.sim.slot_source_node import SimSlotSourceNode, default_table_path, pose_array_positions

COLUMN = {name: index for index, name in enumerate(SLOT_FIELDS)}
PLANE_Z_M = -0.11
SETTINGS = PerceptionSettings(
    num_slots=6, workspace_min_m=(0.15, -0.45, -0.3), workspace_max_m=(0.95, 0.45, 0.3), max_height_m=0.15,
    max_missed_frames=3,
)  # fmt: skip


REPO = Path(__file__).resolve().parents[2]


def _object(name: str, top: float, r: float) -> SlotSpec:
    means = {"offset_x": 0.003, "offset_y": -0.001, "top_above_origin": top, "extent_x": 0.045, "extent_y": 0.05}
    means |= {"r": r, "g": 0.2, "b": 0.25, "area_px": 1800.0}
    stds = {"offset_x": 0.001, "offset_y": 0.001, "top_above_origin": 0.0005, "extent_x": 0.003, "extent_y": 0.004}
    stds |= {"r": 0.03, "g": 0.01, "b": 0.01, "area_px": 100.0}
    for slope in YAW_SLOPES:
        means[slope], stds[slope] = 0.0, 0.0
    return SlotSpec(name, OBJECT, {k: Gaussian(means[k], stds[k]) for k in OBJECT_FEATURES}, 1.0)


def _scene() -> SlotSpec:
    values = dict(zip(SCENE_FEATURES, (0.6, -0.15, -0.05, 0.41, 0.51, 0.08, 0.52, 0.43, 0.34, 19500.0), strict=True))
    return SlotSpec("scene_0", SCENE, {k: Gaussian(v, 0.0) for k, v in values.items()}, 1.0)


def _table() -> SlotTable:
    stack = TaskSlots(
        "Stack", 10, Gaussian(PLANE_Z_M, 0.0), (_object("cubeB", 0.025, 0.26), _object("cubeA", 0.02, 0.52))
    )
    can = TaskSlots("PickPlaceCan", 10, Gaussian(PLANE_Z_M, 0.0), (_scene(), _object("Can", 0.04, 0.55)))
    return SlotTable(SETTINGS, {"Stack": stack, "PickPlaceCan": can})


CUBE_A = np.array([0.55, 0.05, PLANE_Z_M + 0.02])  # resting on the table
CUBE_B = np.array([0.60, -0.05, PLANE_Z_M + 0.025])


def _raised(position: np.ndarray, dz_m: float) -> np.ndarray:
    return position + np.array([0.0, 0.0, dz_m])


def test_layout_matches_perception_and_noise_none_is_exact() -> None:
    source = SimSlotSource(_table(), "Stack", num_slots=6, embedding_size=2)
    slots = source.update(np.stack([CUBE_A, CUBE_B]))  # TASK_OBJECTS order: cubeA, cubeB
    assert slots.dtype == np.float32
    assert slots.shape == (6, len(SLOT_FIELDS) + 2)
    # the table's order: cubeB in slot 0, cubeA in slot 1 (as perception at reset); the rest are empty
    assert slots[0, COLUMN["r"]] == pytest.approx(0.26)
    assert slots[1, COLUMN["r"]] == pytest.approx(0.52)
    assert np.all(slots[2:] == 0)
    assert np.all(slots[:, len(SLOT_FIELDS) :] == 0)
    cube_b = slots[0]
    assert cube_b[0] == 1
    np.testing.assert_allclose(cube_b[1:3], CUBE_B[:2] + np.array([0.003, -0.001]), atol=1e-6)
    # resting: halfway between the plane and the top is the body centre; extent_z = top - plane
    assert cube_b[COLUMN["z"]] == pytest.approx(CUBE_B[2], abs=1e-6)
    assert cube_b[COLUMN["extent_z"]] == pytest.approx(0.05, abs=1e-6)
    expected = {"extent_x": 0.045, "extent_y": 0.05, "g": 0.2, "b": 0.25, "area_px": 1800.0}
    assert {name: pytest.approx(cube_b[COLUMN[name]]) for name in expected} == expected
    again = SimSlotSource(_table(), "Stack", num_slots=6, embedding_size=2, seed=5)
    again.reset(99)
    np.testing.assert_array_equal(again.update(np.stack([CUBE_A, CUBE_B])), slots)  # no randomness at all


def test_yaw_spread_and_the_yaw_of_a_quaternion() -> None:
    assert yaw_spread(0.0) == pytest.approx(0.0)
    assert yaw_spread(math.pi / 4) == pytest.approx(math.sqrt(2) - 1)
    assert yaw_spread(-math.pi / 2) == pytest.approx(0.0, abs=1e-12)  # a cube is the same every 90 degrees
    half = math.radians(30) / 2
    assert yaw_about_z([0.0, 0.0, math.sin(half), math.cos(half)]) == pytest.approx(math.radians(30))
    uniform = np.mean([yaw_spread(angle) for angle in np.linspace(0, 2 * math.pi, 10001)])
    assert uniform == pytest.approx(MEAN_YAW_SPREAD, abs=1e-4)


def _sloped_table() -> SlotTable:
    table = _table()
    stack = table.tasks["Stack"]
    slots = []
    for spec in stack.slots:
        features = dict(spec.features)
        features |= {"extent_x_yaw_slope": Gaussian(0.02, 0.001), "area_px_yaw_slope": Gaussian(600.0, 90.0)}
        slots.append(SlotSpec(spec.name, spec.kind, features, spec.order_agreement))
    return SlotTable(table.perception, {"Stack": TaskSlots("Stack", 10, stack.support_plane_z_m, tuple(slots))})


def test_extents_and_area_follow_the_objects_yaw() -> None:
    source = SimSlotSource(_sloped_table(), "Stack")
    turned = source.update(np.stack([CUBE_A, CUBE_B]), yaws_rad=[math.pi / 4, 0.0])
    cube_a, cube_b = turned[1], turned[0]
    assert cube_a[COLUMN["extent_x"]] == pytest.approx(0.045 + 0.02 * (math.sqrt(2) - 1))
    assert cube_a[COLUMN["area_px"]] == round(1800 + 600 * (math.sqrt(2) - 1))
    assert cube_a[COLUMN["extent_y"]] == pytest.approx(0.05)  # no slope on y in this table
    assert cube_b[COLUMN["extent_x"]] == pytest.approx(0.045)  # aligned
    unknown = source.update(np.stack([CUBE_A, CUBE_B]))  # no yaws: a uniform yaw's mean spread
    assert unknown[1, COLUMN["extent_x"]] == pytest.approx(0.045 + 0.02 * MEAN_YAW_SPREAD)
    with pytest.raises(SimError, match="expected 2 finite object yaws"):
        source.update(np.stack([CUBE_A, CUBE_B]), yaws_rad=[0.0, math.nan])


def test_the_calibration_fits_the_yaw_slope() -> None:
    rng = np.random.default_rng(0)
    spreads = list(rng.uniform(0, math.sqrt(2) - 1, 40))
    values = [0.038 + 0.021 * x + rng.normal(0, 0.0005) for x in spreads]
    aligned, slope = _yaw_fit(spreads, values)
    assert aligned.mean == pytest.approx(0.038, abs=0.0005)
    assert slope.mean == pytest.approx(0.021, abs=0.002)
    assert aligned.std == pytest.approx(0.0005, rel=0.3)  # the std left around the fit
    without_yaws, no_slope = _yaw_fit([None] * 40, values)
    assert no_slope == Gaussian(0.0, 0.0)
    assert without_yaws.mean == pytest.approx(np.mean(values))


def test_scene_slots_are_constant_and_come_first() -> None:
    slots = SimSlotSource(_table(), "PickPlaceCan").update(np.array([[0.7, -0.1, PLANE_Z_M + 0.04]]))
    assert list(slots[:, 0]) == [1, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(slots[0, 1:], [0.6, -0.15, -0.05, 0.41, 0.51, 0.08, 0.52, 0.43, 0.34, 19500.0])
    assert slots[1, COLUMN["x"]] == pytest.approx(0.703)


def test_lifted_object_is_centred_on_its_body_and_leaves_the_height_band() -> None:
    source = SimSlotSource(_table(), "Stack")
    lifted = _raised(CUBE_A, 0.10)
    slots = source.update(np.stack([lifted, CUBE_B]))
    assert slots[1, COLUMN["z"]] == pytest.approx(lifted[2], abs=1e-6)  # off the plane: its own box, as perception
    assert slots[1, COLUMN["extent_z"]] == pytest.approx(0.04, abs=1e-6)
    assert source.phases == ("lifted", "approach")
    resting = source.update(np.stack([CUBE_A, CUBE_B]))  # on the plane: from the plane to its top
    top = CUBE_A[2] + 0.02
    assert resting[1, COLUMN["z"]] == pytest.approx((PLANE_Z_M + top) / 2, abs=1e-6)
    band_top = PLANE_Z_M + SETTINGS.max_height_m
    partly = _raised(CUBE_A, band_top - CUBE_A[2] - 0.01)  # its top 1 cm above the band: the box stops at the band
    clipped = source.update(np.stack([partly, CUBE_B]))
    assert clipped[1, COLUMN["z"]] == pytest.approx((partly[2] - 0.02 + band_top) / 2, abs=1e-6)
    high = source.update(np.stack([_raised(CUBE_A, 0.2), CUBE_B]))  # above the 15 cm band: not segmented
    assert high[1, 0] == pytest.approx(STALE_PRESENCE)  # the tracker's stale presence on a first missed tick ...
    np.testing.assert_array_equal(high[1, 1:], clipped[1, 1:])  # ... and the last state kept
    for _ in range(SETTINGS.max_missed_frames):
        gone = source.update(np.stack([_raised(CUBE_A, 0.2), CUBE_B]))
    assert np.all(gone[1] == 0)  # forgotten after max_missed_frames, like the tracker
    assert gone[0, 0] == 1
    outside = source.update(np.stack([CUBE_A, [1.2, 0.0, CUBE_B[2]]]))  # out of the region of interest
    assert outside[1, 0] == 1
    assert outside[0, 0] == pytest.approx(STALE_PRESENCE)  # missed: stale, state kept


@pytest.mark.parametrize("name", ["perception_v1", "perception_v2"])
def test_position_noise_has_the_configured_sigma_per_phase(name: str) -> None:
    model = NOISE_MODELS[name]
    source = SimSlotSource(_table(), "Stack", noise=name, seed=3)
    exact = SimSlotSource(_table(), "Stack")
    cases = {
        "approach": (np.stack([CUBE_A, CUBE_B]), _raised(CUBE_A, 0.3)),
        "contact": (np.stack([CUBE_A, CUBE_B]), _raised(CUBE_A, 0.02)),
        "lifted": (np.stack([_raised(CUBE_A, 0.06), CUBE_B]), _raised(CUBE_A, 0.06)),
    }
    for phase, (positions, ee) in cases.items():
        reference = exact.update(positions, ee)[1, 1:4]
        draws = np.array([source.update(positions, ee)[1, 1:4] for _ in range(4000)]) - reference
        assert source.phases[0] == phase
        sigma = model.position_sigma_m[phase]
        np.testing.assert_allclose(draws.std(axis=0), sigma, rtol=0.06)
        np.testing.assert_allclose(draws.mean(axis=0), 0.0, atol=4 * sigma / np.sqrt(4000))


def test_perception_v1_draws_pixel_features_once_per_episode_reproducibly() -> None:
    positions = np.stack([CUBE_A, CUBE_B])
    source = SimSlotSource(_table(), "Stack", noise="perception_v1", seed=11)
    per_episode = []
    for episode in range(600):
        source.reset(episode)
        first, second = source.update(positions), source.update(positions)
        columns = [COLUMN[name] for name in PIXEL_FEATURES]
        np.testing.assert_array_equal(first[:, columns], second[:, columns])  # constant within an episode
        per_episode.append(first[1, [COLUMN[name] for name in ("extent_x", "r", "area_px")]])
    np.testing.assert_allclose(np.std(per_episode, axis=0), [0.003, 0.03, 100.0], rtol=0.12)
    replay = SimSlotSource(_table(), "Stack", noise="perception_v1", seed=11)
    replay.reset(599)
    np.testing.assert_array_equal(replay.update(positions), first)  # (seed, episode seed) fixes the draws
    other = SimSlotSource(_table(), "Stack", noise="perception_v1", seed=12)
    other.reset(599)
    assert not np.array_equal(other.update(positions), first)


def test_sigma_from_a_3d_median() -> None:
    draws = np.random.default_rng(0).normal(0.0, 0.002, size=(200_000, 3))
    assert sigma_from_median_3d(float(np.median(np.linalg.norm(draws, axis=1)))) == pytest.approx(0.002, rel=0.01)


def test_bad_input_raises_sim_error() -> None:
    source = SimSlotSource(_table(), "Stack")
    with pytest.raises(SimError, match=r"expected 2 finite object positions \(cubeA, cubeB\), got shape \(1, 3\)"):
        source.update(np.array([CUBE_A]))
    with pytest.raises(
        SimError, match="unknown noise_model 'gaussian'; choose one of none, perception_v1, perception_v2"
    ):
        SimSlotSource(_table(), "Stack", noise="gaussian")
    with pytest.raises(SimError, match="num_slots 1 is fewer than the 2 slots perception fills in Stack"):
        SimSlotSource(_table(), "Stack", num_slots=1)
    with pytest.raises(SimError, match="the sim slot table has no task 'Lift'; it has Stack, PickPlaceCan"):
        SimSlotSource(_table(), "Lift")


def test_table_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "sim_slots.yaml"
    path.write_text(slot_table_to_yaml(_table(), ["a header"]))
    assert path.read_text().startswith("# a header\n")
    assert load_slot_table(path) == _table()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("format_version: 2", "format_version: 7"), "format_version: expected 2, got 7"),
        (lambda t: t.replace("  max_height_m: 0.15", "  max_height: 0.15"), "perception.max_height_m: missing"),
        (lambda t: t.replace("name: cubeA", "name: cubeC"), "tasks.Stack.slots: object slots ['cubeB', 'cubeC']"),
        (lambda t: t.replace("kind: scene", "kind: wall"), "tasks.PickPlaceCan.slots[0].kind: expected 'object'"),
        (lambda t: t.replace("r: [0.52, 0.03]", "r: [0.52]"), "tasks.Stack.slots[1].r: expected [mean, std], got"),
        (lambda t: t.replace("r: [0.52, 0.03]", "r: [0.52, -1]"), "tasks.Stack.slots[1].r: must be >= 0.0, got -1"),
        (lambda t: t.replace("  Stack:", "  Stackk:"), "tasks.Stackk: unknown task; valid tasks: Lift, Stack"),
        (lambda t: t.replace("workspace_min_m: [", "workspace_min_m: [["), "malformed YAML (line"),
        (lambda t: "- 1\n", "top level: expected a mapping, got [1]"),
    ],
)
def test_a_bad_table_fails_with_one_line(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "sim_slots.yaml"
    path.write_text(edit(slot_table_to_yaml(_table())))  # type: ignore[operator]
    with pytest.raises(SimError) as error:
        load_slot_table(path)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith(f"sim slot table {path}: ")
    assert message in str(error.value)


def test_a_missing_table_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(SimError, match=r"^sim slot table .*nope\.yaml: No such file or directory$"):
        load_slot_table(tmp_path / "nope.yaml")


def test_the_shipped_table_covers_the_three_tasks() -> None:
    table = load_slot_table(default_table_path())
    assert {"Lift", "Stack", "PickPlaceCan"} <= set(table.tasks)
    assert [spec.name for spec in table.task("Stack").slots] == ["cubeB", "cubeA"]
    assert [spec.kind for spec in table.task("PickPlaceCan").slots] == [OBJECT]  # the bins are fixtures
    for task in ("Lift", "Stack", "PickPlaceCan"):
        assert table.task(task).frames >= 40
        for spec in table.task(task).slots:
            assert spec.order_agreement >= 0.9  # Lift 0.94: a highlight split off the cube can take slot 0


# --- against perception on rendered reset frames ----------------------------------------------------------

PIXEL_TOLERANCE_STD = 4.0  # a held-out frame's pixel feature lies within this many measured stds of the mean
PIXEL_TOLERANCE_FLOOR = {"extent_x": 0.002, "extent_y": 0.002, "r": 0.01, "g": 0.01, "b": 0.01, "area_px": 20.0}


class Collector(Node):
    """Keeps perception's and the source's slots of the reset frame; stops the graph when it has both."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("collector", **kwargs)  # type: ignore[arg-type]
        self.perception: list = []
        self.source: list = []
        self.poses: list = []
        self.events: list = []
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.on_perception, 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/sim_slots", self.source.append, 10)
        self.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", self.poses.append, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", lambda m: self.events.append(json.loads(m.data)), 10)

    def on_perception(self, cloud: object) -> None:
        self.perception.append(cloud)
        self.request_shutdown("perception published the reset frame's slots")


@pytest.fixture(scope="module", params=["Lift", "Stack", "PickPlaceCan"])
def reset_frame(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """One rendered reset frame (held-out seed 1000) through perception and through the source node."""
    task = request.param
    arguments = {
        "task": task,
        "seed": "1000",
        "max_episodes": "1",
        "calibration_dir": str(tmp_path_factory.mktemp(task)),
    }
    context, nodes = build_inproc(read_launch_file(sim_perception_launch(), arguments))
    args = [
        "--ros-args",
        "-p",
        f"task:={task}",
        "-p",
        "use_sim_time:=true",
        "-r",
        "/robot_rl/slots:=/robot_rl/sim_slots",
    ]
    source = SimSlotSourceNode(context=context, cli_args=args)
    collector = Collector(context=context)
    try:
        context.spin()
    finally:
        for node in nodes:
            node.destroy_node()
    assert collector.events[0]["event"] == "start"
    return task, collector, source


def test_source_matches_perception_on_a_rendered_reset_frame(reset_frame: tuple) -> None:
    task, collector, source = reset_frame
    (seen_cloud,), (made_cloud,) = collector.perception[:1], collector.source[:1]
    stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in (made_cloud, seen_cloud, collector.poses[0])}
    assert len(stamps) == 1  # the source publishes with the stamp of the poses, perception with the frame's
    assert made_cloud.header.frame_id == seen_cloud.header.frame_id == "base_link"
    assert [f.name for f in made_cloud.fields] == [f.name for f in seen_cloud.fields]
    seen, made = pointcloud2_to_slots(seen_cloud), pointcloud2_to_slots(made_cloud)
    assert seen.shape == made.shape
    np.testing.assert_array_equal(made[:, 0], seen[:, 0])  # the same slots present, the rest empty
    assert np.all(seen[seen[:, 0] == 0] == 0)
    assert np.all(made[made[:, 0] == 0] == 0)
    positions = pose_array_positions(collector.poses[0])
    layout = slot_layout(Record(1000, positions, None, seen), TASK_OBJECTS[task])
    for name in TASK_OBJECTS[task]:  # perception's slot of each object: its largest segment
        slot = source.source.task_slots.object_slot(name)
        assert layout.index(name) == slot, f"{task}: perception put {name} in slot {layout.index(name)}, source {slot}"
    for slot, spec in enumerate(source.source.task_slots.slots):
        assert np.linalg.norm(made[slot, 1:4] - seen[slot, 1:4]) < 0.01, f"{task} {spec.name}"
        for name in PIXEL_FEATURES:
            tolerance = PIXEL_TOLERANCE_STD * spec.features[name].std + PIXEL_TOLERANCE_FLOOR[name]
            difference = abs(made[slot, COLUMN[name]] - seen[slot, COLUMN[name]])
            assert difference <= tolerance, f"{task} {spec.name} {name}: {difference:.4g} > {tolerance:.4g}"


def test_table_from_reset_frames_takes_the_majority_layout() -> None:
    def frame(first: np.ndarray, second: np.ndarray, fragment: bool = False) -> np.ndarray:
        slots = np.zeros((6, len(SLOT_FIELDS)), dtype=np.float32)
        for row, (position, half, area) in enumerate(((first, 0.025, 2600.0), (second, 0.02, 1700.0))):
            top = position[2] + half
            slots[row, :6] = [1, position[0] + 0.003, position[1], (PLANE_Z_M + top) / 2, 0.05, 0.05]
            slots[row, 6:] = [top - PLANE_Z_M, 0.5, 0.2, 0.2, area]
        if fragment:  # a small piece split off the first object comes first: it is a scene segment
            slots[[0, 1, 2]] = slots[[2, 0, 1]]
            slots[0] = slots[1]
            slots[0, COLUMN["area_px"]] = 60
        return slots

    cube_a, cube_b = _raised(CUBE_A, 0.008), _raised(CUBE_B, 0.008)  # robosuite drops objects from 8 mm
    positions = np.stack([cube_a, cube_b])
    records = [Record(i, positions, None, frame(cube_b, cube_a)) for i in range(3)]
    records.append(Record(3, positions, None, frame(cube_a, cube_b)))  # the cubes the other way round
    records.append(Record(4, positions, None, frame(cube_b, cube_a, fragment=True)))
    layouts = [slot_layout(record, TASK_OBJECTS["Stack"]) for record in records]
    assert layouts[0][:2] == ("cubeB", "cubeA")
    assert layouts[4][:3] == (SCENE, "cubeB", "cubeA")
    slots = table_from_reset_frames("Stack", records, SETTINGS)
    assert slots.frames == 3
    assert [(spec.name, spec.order_agreement) for spec in slots.slots] == [("cubeB", 0.6), ("cubeA", 0.6)]
    assert slots.support_plane_z_m.mean == pytest.approx(PLANE_Z_M, abs=1e-6)
    cube_b_spec = slots.slots[0].features
    assert cube_b_spec["offset_x"].mean == pytest.approx(0.003, abs=1e-6)
    assert cube_b_spec["top_above_origin"].mean == pytest.approx(0.025, abs=1e-6)
    assert cube_b_spec["area_px"] == Gaussian(2600.0, 0.0)


def test_the_cli_and_the_launch_files_offer_exactly_the_noise_models() -> None:
    assert tuple(NOISE_MODELS) == SLOT_NOISE_MODELS
    declaring = []
    for path in sorted((REPO / "launch").glob("*.launch.yaml")):
        launch = yaml.safe_load(path.read_text())
        args = [entry["arg"] for entry in launch["launch"] if entry.get("arg", {}).get("name") == "slot_noise"]
        for slot_noise in args:
            declaring.append(path.name)
            assert tuple(choice["value"] for choice in slot_noise["choice"]) == tuple(NOISE_MODELS), path.name
    # the files that train, collect and evaluate on the sim slot source must all offer the choice
    assert {"train.launch.yaml", "collect_demos.launch.yaml", "stack.launch.yaml"} <= set(declaring)
