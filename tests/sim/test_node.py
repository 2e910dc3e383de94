"""The sim bridge and sim_perception.launch.yaml, run in lockstep on the in-process backend."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robot_rl.action_space import ACTION_DIM, actions_to_trajectory
from robot_rl.errors import SimError
from robot_rl.perception.slot_msgs import pointcloud2_to_slots
from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.launch_file import read_launch_file
from robot_rl.runtime.launcher import build_inproc
from robot_rl.runtime.msg_numpy import image_to_numpy
from robot_rl.sim.node import SimNode

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "sim_perception.launch.yaml"


class Driver(Node):
    """Answers every observation with one safe command and records what the graph publishes."""

    def __init__(self, ticks: int, **kwargs: object) -> None:
        super().__init__("driver", **kwargs)  # type: ignore[arg-type]
        self.ticks = ticks
        self.clock_ns: list[int] = []
        self.slots: list = []
        self.events: list[dict] = []
        self.images: list = []
        self.command = self.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
        self.create_subscription(msg.JointState, "/joint_states", self.on_state, 10)
        self.create_subscription(msg.Clock, "/clock", self.on_clock, 10)
        self.create_subscription(msg.PointCloud2, "/robot_rl/slots", self.slots.append, 10)
        self.create_subscription(msg.String, "/robot_rl/episode", lambda m: self.events.append(json.loads(m.data)), 10)
        self.create_subscription(msg.Image, "/camera/segmentation/image_raw", self.images.append, 10)

    def on_clock(self, clock: object) -> None:
        self.clock_ns.append(clock.clock.sec * 10**9 + clock.clock.nanosec)  # type: ignore[attr-defined]

    def on_state(self, _: object) -> None:
        if len(self.clock_ns) > self.ticks:  # stop at the start of tick ticks + 1
            self.request_shutdown("enough ticks")
            return
        action = np.zeros(ACTION_DIM)
        action[0] = 0.3  # move +x slowly: the robot moves while perception runs
        self.command.publish(actions_to_trajectory(action, 0.05))


def test_sim_perception_launch_in_lockstep(tmp_path: Path) -> None:
    plan = read_launch_file(LAUNCH, {"calibration_dir": str(tmp_path), "max_episodes": "1"})
    context, (sim, _perception) = build_inproc(plan)
    driver = Driver(8, context=context, cli_args=["--ros-args", "-p", "use_sim_time:=true"])
    try:
        context.spin()
    finally:
        sim.destroy_node()
    assert context.shutdown_reason == "enough ticks"
    assert len(driver.clock_ns) == 9
    # lockstep: the clock advances by exactly one control period per tick ...
    assert np.all(np.diff(driver.clock_ns) == 50_000_000)
    # ... and each of ticks 2..9 consumed exactly the one safe command answering the tick before
    assert sim.commands_consumed == 8
    assert sim.ticks_without_command == 0
    assert driver.events[0]["event"] == "start"
    # perception saw every frame of ticks 1..8 (tick 9 was cut by the shutdown), and its
    # cube slot sits on the simulated cube
    assert len(driver.slots) == 8
    slots = pointcloud2_to_slots(driver.slots[-1])
    cube = sim.last_observation.object_poses["cube"].position_m
    present = slots[slots[:, 0] == 1]
    assert len(present) >= 1
    assert np.min(np.linalg.norm(present[:, 1:4] - cube, axis=1)) < 0.02
    # the sim-only segmentation holds task-object indices (1 = the cube) and nothing else
    assert set(np.unique(image_to_numpy(driver.images[-1]))) <= {0, 1}


def test_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(SimError, match="unknown task 'Juggle'"):
        SimNode(context=InprocContext(), cli_args=["--ros-args", "-p", "task:=Juggle", "-p", "render_camera:=false"])


def test_state_only_sim_publishes_no_images_and_holds_without_commands() -> None:
    context = InprocContext()
    sim = SimNode(
        context=context,
        cli_args=["--ros-args", "-p", "render_camera:=false", "-p", "max_episodes:=1", "-p", "horizon_steps:=5"],
    )
    events: list[dict] = []
    listener = Node("listener", context=context)
    listener.create_subscription(msg.String, "/robot_rl/episode", lambda m: events.append(json.loads(m.data)), 10)
    try:
        context.spin()
    finally:
        sim.destroy_node()
    assert context.shutdown_reason == "ran 1 episode(s)"
    assert sim.ticks_without_command == 5
    assert "color" not in sim.image_pubs
    # the timeout counts the steps taken: all 5 of the horizon
    assert [(event["event"], event.get("steps")) for event in events] == [("start", None), ("timeout", 5)]


def test_object_poses_are_published_in_task_object_order() -> None:
    context = InprocContext()
    args = ["--ros-args", "-p", "task:=Stack", "-p", "render_camera:=false", "-p", "max_episodes:=1"]
    sim = SimNode(context=context, cli_args=[*args, "-p", "horizon_steps:=2"])
    listener = Node("listener", context=context)
    arrays: list = []
    listener.create_subscription(msg.PoseArray, "/robot_rl/sim/object_poses", arrays.append, 10)
    try:
        context.spin()
    finally:
        sim.destroy_node()
    assert len(arrays) == 3  # the reset, then two steps
    assert arrays[-1].header.frame_id == "base_link"
    for pose, name in zip(arrays[-1].poses, ("cubeA", "cubeB"), strict=True):
        expected = sim.last_observation.object_poses[name]
        position = [pose.position.x, pose.position.y, pose.position.z]
        np.testing.assert_allclose(position, expected.position_m)
        quaternion = [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w]
        np.testing.assert_allclose(quaternion, expected.quaternion_xyzw)


class RequestedSim:
    """A sim that starts episodes only on request (no rendering), and what it says on ``/robot_rl/episode``."""

    def __init__(self, horizon_steps: int) -> None:
        self.context = InprocContext()
        args = ["--ros-args", "-p", "render_camera:=false", "-p", "auto_reset:=false"]
        self.sim = SimNode(context=self.context, cli_args=[*args, "-p", f"horizon_steps:={horizon_steps}"])
        graph = Node("graph", context=self.context)
        self.events: list[dict] = []
        graph.create_subscription(msg.String, "/robot_rl/episode", lambda m: self.events.append(json.loads(m.data)), 10)
        self.requests = graph.create_publisher(msg.String, "/robot_rl/episode", 10)

    def request(self, seed: int, request_id: int, ticks: int = 1) -> None:
        """Request an episode on ``seed`` with ``request_id``, then run ``ticks`` ticks."""
        payload = {"event": "reset", "seed": seed, "mode": "train", "request": request_id}
        self.requests.publish(msg.String(data=json.dumps(payload)))
        self.tick(ticks)

    def tick(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.context.spin_until_quiet()
            self.sim.tick()
        self.context.spin_until_quiet()

    def said(self) -> list[tuple[str, int, int | None]]:
        """(event, seed or steps, request id) of every event the sim published."""
        sim_events = (event for event in self.events if event["event"] != "reset")
        return [(event["event"], event.get("seed", event.get("steps")), event.get("request")) for event in sim_events]


def test_a_repeated_reset_request_is_ignored_and_its_id_echoed() -> None:
    """The training driver resends a request no start answered (the sim's process may not be up yet): a repeat of the
    request taken last must not restart the episode, a new request does."""
    sim = RequestedSim(horizon_steps=50)
    try:
        sim.request(5, 1)
        sim.tick()
        sim.request(5, 1)  # the same request again: the episode goes on
        sim.request(6, 2)
    finally:
        sim.sim.destroy_node()
    assert sim.said() == [("start", 5, 1), ("start", 6, 2)]
    assert sim.sim.episode == 1


def test_the_outcome_echoes_the_request_id_for_a_requester_that_missed_the_start() -> None:
    sim = RequestedSim(horizon_steps=3)
    try:
        sim.request(5, 4, ticks=4)  # the start, then three steps to the time-out
    finally:
        sim.sim.destroy_node()
    assert sim.said() == [("start", 5, 4), ("timeout", 3, 4)]


def test_with_command_wait_a_tick_waits_for_its_command_and_sim_time_stands_still() -> None:
    """As separate processes the policy may be slower than the control rate: with command_wait_s the sim waits for
    the command of the last observation (up to that long) instead of stepping on a hold."""
    context = InprocContext()
    args = ["--ros-args", "-p", "render_camera:=false", "-p", "command_wait_s:=1.0", "-p", "horizon_steps:=50"]
    sim = SimNode(context=context, cli_args=args)
    commands = Node("policy", context=context).create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)

    def after(seconds: float) -> None:
        """The sim's 20 Hz timer fires once, ``seconds`` after the latest observation went out."""
        context.graph.advance_virtual_time(sim.published_at_ns + round(seconds * 1e9))
        context.spin_until_quiet()

    try:
        context.graph.advance_virtual_time(context.graph.system_time_ns() + 50_000_000)
        context.spin_until_quiet()  # the first tick starts the episode: its first observation goes out
        assert sim.running
        start_ns, steps = sim.sim_time_ns, sim.steps
        after(0.5)  # no command yet: the tick waits, the sim neither steps nor advances its clock
        assert (sim.sim_time_ns, sim.steps, sim.ticks_waited) == (start_ns, steps, 1)
        commands.publish(actions_to_trajectory(np.zeros(ACTION_DIM), 0.05))
        context.spin_until_quiet()
        after(0.6)  # the command came: the tick steps with it
        assert (sim.sim_time_ns, sim.steps, sim.commands_consumed) == (start_ns + sim.period_ns, steps + 1, 1)
        after(1.0)  # no command within command_wait_s: the tick holds, as without waiting
        assert (sim.steps, sim.ticks_without_command) == (steps + 2, 1)
    finally:
        sim.destroy_node()
    with pytest.raises(SimError, match="command_wait_s must be a finite number >= 0 s"):
        SimNode(context=InprocContext(), cli_args=["--ros-args", "-p", "command_wait_s:=-1.0"])


def test_with_wait_for_learner_a_tick_also_waits_for_the_learners_tick_of_its_observation() -> None:
    """As separate processes a learner slower than the graph would get several ticks' messages at once, which
    rclpy's executor runs in subscription order, not publish order: the sim waits for the learner's tick too."""
    context = InprocContext()
    args = ["--ros-args", "-p", "render_camera:=false", "-p", "command_wait_s:=1.0", "-p", "horizon_steps:=50"]
    sim = SimNode(context=context, cli_args=[*args, "-p", "wait_for_learner:=true"])
    graph = Node("graph", context=context)
    commands = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
    learner_ticks = graph.create_publisher(msg.Header, "/robot_rl/learner/tick", 10)

    def after(seconds: float) -> None:
        """The sim's 20 Hz timer fires once, ``seconds`` after the latest observation went out."""
        context.graph.advance_virtual_time(sim.published_at_ns + round(seconds * 1e9))
        context.spin_until_quiet()

    def learner_tick(stamp_ns: int) -> None:
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        learner_ticks.publish(msg.Header(stamp=msg.Time(sec=sec, nanosec=nanosec)))
        context.spin_until_quiet()

    try:
        context.graph.advance_virtual_time(context.graph.system_time_ns() + 50_000_000)
        context.spin_until_quiet()  # the episode's first observation goes out
        start_ns, steps = sim.sim_time_ns, sim.steps
        commands.publish(actions_to_trajectory(np.zeros(ACTION_DIM), 0.05))
        learner_tick(start_ns - sim.period_ns)  # the learner is a tick behind
        after(0.5)  # the command is in, the learner's tick of this observation is not: the tick waits
        assert (sim.sim_time_ns, sim.steps, sim.ticks_waited, sim.ticks_waited_for_learner) == (start_ns, steps, 1, 1)
        learner_tick(start_ns)
        after(0.6)
        assert (sim.sim_time_ns, sim.steps, sim.commands_consumed) == (start_ns + sim.period_ns, steps + 1, 1)
        commands.publish(actions_to_trajectory(np.zeros(ACTION_DIM), 0.05))
        context.spin_until_quiet()
        after(1.0)  # no learner tick within command_wait_s: the sim steps anyway
        assert (sim.steps, sim.commands_consumed) == (steps + 2, 2)
    finally:
        sim.destroy_node()


def test_with_command_wait_the_final_observations_command_is_waited_for_and_discarded() -> None:
    """Across processes the command computed on an episode's final observation may come after the next episode's
    reset request: it must not become the new episode's first action."""
    context = InprocContext()
    args = ["--ros-args", "-p", "render_camera:=false", "-p", "command_wait_s:=1.0", "-p", "horizon_steps:=1"]
    args += ["-p", "auto_reset:=false"]
    sim = SimNode(context=context, cli_args=args)
    graph = Node("graph", context=context)
    commands = graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
    requests = graph.create_publisher(msg.String, "/robot_rl/episode", 10)

    def after(seconds: float) -> None:
        """Let ``seconds`` of wall time pass: the sim's 20 Hz timer fires once."""
        context.graph.advance_virtual_time(context.graph.system_time_ns() + round(seconds * 1e9))
        context.spin_until_quiet()

    def command(x: float) -> None:
        action = np.zeros(ACTION_DIM)
        action[0] = x
        commands.publish(actions_to_trajectory(action, 0.05))
        context.spin_until_quiet()

    def reset(seed: int, request: int) -> None:
        payload = {"event": "reset", "seed": seed, "request": request}
        requests.publish(msg.String(data=json.dumps(payload)))
        context.spin_until_quiet()

    try:
        reset(1, 1)
        after(0.05)  # the episode starts
        command(0.1)
        after(0.1)  # its one step: the episode times out, and its final observation goes out
        assert (sim.running, sim.commands_consumed) == (False, 1)
        reset(2, 2)
        after(0.5)  # the reset waits for the command of the final observation
        assert (sim.episode, sim.ticks_waited) == (0, 1)
        command(0.9)  # computed on the previous episode's final observation
        after(0.6)
        assert sim.episode == 1  # reset now, and that command discarded
        after(0.5)  # the new episode's first tick waits for a command of its own
        assert (sim.steps, sim.commands_consumed) == (0, 1)
    finally:
        sim.destroy_node()
