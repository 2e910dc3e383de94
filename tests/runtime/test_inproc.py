"""The in-process backend: delivery order, queue depth, QoS, sim time and lockstep."""

import pytest

from robot_rl.errors import GraphError, RobotRLError
from robot_rl.runtime import LATCHED, SENSOR_DATA, Node, QoSProfile, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.qos import HistoryPolicy


class Probe(Node):
    """A node that records what it receives, per topic."""

    def __init__(self, name: str = "probe", **kwargs: object) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        self.received: list[tuple[str, object]] = []

    def listen(self, topic: str, depth: int | QoSProfile = 10, msg_type: type = msg.String) -> None:
        self.create_subscription(msg_type, topic, lambda m: self.received.append((topic, m)), depth)


def strings(n: int) -> list:
    return [msg.String(data=str(i)) for i in range(n)]


def test_messages_arrive_in_publish_order_across_topics() -> None:
    context = InprocContext()
    node = Probe(context=context)
    node.listen("a")
    node.listen("b")
    pub_a = node.create_publisher(msg.String, "a", 10)
    pub_b = node.create_publisher(msg.String, "b", 10)
    pub_a.publish(msg.String(data="1"))
    pub_b.publish(msg.String(data="2"))
    pub_a.publish(msg.String(data="3"))
    assert context.spin_until_quiet() == 3
    assert [(t, m.data) for t, m in node.received] == [("a", "1"), ("b", "2"), ("a", "3")]


def test_deliver_pending_reaches_an_observer_after_shutdown() -> None:
    """The message that shut the graph down still reaches an observer queued behind the stopping node."""
    context = InprocContext()
    stopper = Probe("stopper", context=context)
    stopper.create_subscription(msg.String, "done", lambda m: context.shutdown(m.data), 10)
    observer = Probe("observer", context=context)
    observer.listen("before")
    observer.listen("done")
    stopper.create_publisher(msg.String, "before", 10).publish(msg.String(data="1"))
    stopper.create_publisher(msg.String, "done", 10).publish(msg.String(data="2"))
    context.spin()
    assert [m.data for _, m in observer.received] == ["1"]  # the stopper ran first and ended the spin
    assert context.deliver_pending("/stopper") == 0
    assert context.deliver_pending("/observer") == 1
    assert [(t, m.data) for t, m in observer.received] == [("before", "1"), ("done", "2")]


def test_keep_last_depth_drops_the_oldest() -> None:
    context = InprocContext()
    node = Probe(context=context)
    node.listen("a", depth=3)
    publisher = node.create_publisher(msg.String, "a", 10)
    for message in strings(5):
        publisher.publish(message)
    context.spin_until_quiet()
    assert [m.data for _, m in node.received] == ["2", "3", "4"]


def test_keep_all_keeps_everything() -> None:
    context = InprocContext()
    node = Probe(context=context)
    node.listen("a", depth=QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL))
    publisher = node.create_publisher(msg.String, "a", 1)
    for message in strings(50):
        publisher.publish(message)
    context.spin_until_quiet()
    assert len(node.received) == 50


def test_callbacks_that_publish_run_until_quiet() -> None:
    context = InprocContext()
    relay = Probe("relay", context=context)
    sink = Probe("sink", context=context)
    out = relay.create_publisher(msg.String, "out", 10)
    relay.create_subscription(msg.String, "in", lambda m: out.publish(msg.String(data=m.data + "!")), 10)
    sink.listen("out")
    relay.create_publisher(msg.String, "in", 10).publish(msg.String(data="x"))
    assert context.spin_until_quiet() == 2
    assert [m.data for _, m in sink.received] == ["x!"]


def test_transient_local_reaches_late_joiners_and_volatile_does_not() -> None:
    context = InprocContext()
    node = Probe(context=context)
    latched = node.create_publisher(msg.Bool, "estop", LATCHED)
    volatile = node.create_publisher(msg.String, "chatter", 10)
    latched.publish(msg.Bool(data=True))
    volatile.publish(msg.String(data="lost"))
    node.listen("estop", LATCHED, msg.Bool)
    node.listen("chatter")
    context.spin_until_quiet()
    assert [(t, m.data) for t, m in node.received] == [("estop", True)]


def test_incompatible_qos_does_not_deliver() -> None:
    context = InprocContext()
    node = Probe(context=context)
    node.listen("scan", QoSProfile(depth=5))  # RELIABLE subscription
    publisher = node.create_publisher(msg.String, "scan", SENSOR_DATA)  # BEST_EFFORT publisher
    assert publisher.get_subscription_count() == 0
    publisher.publish(msg.String(data="x"))
    assert context.spin_until_quiet() == 0


@pytest.mark.parametrize("publisher_first", [True, False])
def test_incompatible_qos_is_reported_to_the_subscription(publisher_first: bool) -> None:
    context = InprocContext()
    node = Probe(context=context)
    reasons: list[str] = []

    def subscribe() -> None:
        node.create_subscription(msg.Bool, "estop", lambda m: None, LATCHED, on_incompatible_qos=reasons.append)

    if not publisher_first:
        subscribe()
    node.create_publisher(msg.Bool, "estop", LATCHED)  # compatible: no event
    node.create_publisher(msg.Bool, "estop", 10)  # VOLATILE
    if publisher_first:
        subscribe()
    context.spin_until_quiet()
    assert reasons == ["/probe on /estop: a TRANSIENT_LOCAL subscription does not receive from a VOLATILE publisher"]


def test_one_type_per_topic() -> None:
    node = Probe(context=InprocContext())
    node.create_publisher(msg.String, "chatter", 10)
    with pytest.raises(GraphError, match="already has type std_msgs/msg/String"):
        node.create_subscription(msg.Bool, "chatter", lambda m: None, 10)
    publisher = node.create_publisher(msg.String, "chatter", 10)
    with pytest.raises(GraphError, match="published a Bool"):
        publisher.publish(msg.Bool())


class SimTimeCounter(Node):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("counter", **kwargs)  # type: ignore[arg-type]
        self.ticks: list[int] = []
        self.create_timer(0.1, lambda: self.ticks.append(self.get_clock().now().nanoseconds))


def publish_clock(node: Node, seconds: float) -> None:
    publisher = node.create_publisher(msg.Clock, "/clock", 10)
    sec, nanosec = divmod(round(seconds * 1e9), 1_000_000_000)
    publisher.publish(msg.Clock(clock=msg.Time(sec=sec, nanosec=nanosec)))


def test_sim_time_timers_advance_only_with_clock() -> None:
    context = InprocContext()
    node = SimTimeCounter(context=context, cli_args=["--ros-args", "-p", "use_sim_time:=true"])
    assert node.get_clock().now().nanoseconds == 0  # no /clock yet
    context.spin_until_quiet()
    assert node.ticks == []
    publish_clock(node, 0.05)
    context.spin_until_quiet()
    assert node.ticks == []
    publish_clock(node, 0.1)
    context.spin_until_quiet()
    assert node.ticks == [100_000_000]
    publish_clock(node, 0.35)  # several periods at once: rcl fires once and skips missed periods
    context.spin_until_quiet()
    assert node.ticks == [100_000_000, 350_000_000]
    publish_clock(node, 0.4)
    context.spin_until_quiet()
    assert node.ticks == [100_000_000, 350_000_000, 400_000_000]
    context.spin()  # no wall timer left: the executor stops instead of waiting forever
    assert context.shutdown_reason is not None
    assert "idle" in context.shutdown_reason


def test_wall_timers_run_in_virtual_time_and_drive_lockstep() -> None:
    """A clock-source node on a wall timer drives sim-time nodes in lockstep."""
    context = InprocContext()

    class Sim(Node):
        def __init__(self, **kwargs: object) -> None:
            super().__init__("sim", **kwargs)  # type: ignore[arg-type]
            self.step = 0
            self.seen_commands: list[int] = []
            self.clock_pub = self.create_publisher(msg.Clock, "/clock", 10)
            self.obs_pub = self.create_publisher(msg.Float32, "obs", 10)
            self.create_subscription(msg.Float32, "cmd", lambda m: self.seen_commands.append(int(m.data)), 10)
            self.create_timer(1.0, self.tick)  # one wall second per step, but virtual: instant

        def tick(self) -> None:
            if self.step == 5:
                self.request_shutdown("done")
                return
            self.step += 1
            self.clock_pub.publish(msg.Clock(clock=msg.Time(sec=self.step)))
            self.obs_pub.publish(msg.Float32(data=float(self.step)))

    class Policy(Node):
        def __init__(self, **kwargs: object) -> None:
            super().__init__("policy", **kwargs)  # type: ignore[arg-type]
            self.cmd_pub = self.create_publisher(msg.Float32, "cmd", 10)
            self.create_subscription(msg.Float32, "obs", lambda m: self.cmd_pub.publish(msg.Float32(data=m.data)), 10)

    sim = Sim(context=context)
    Policy(context=context, cli_args=["--ros-args", "-p", "use_sim_time:=true"])
    context.spin()
    assert sim.seen_commands == [1, 2, 3, 4, 5]  # each command arrives before the next step
    assert context.shutdown_reason == "done"


def test_a_canceled_timer_resets_one_period_from_now() -> None:
    """As rclpy's Timer.reset: a node re-arms one timer instead of creating one per use (the training driver)."""
    context = InprocContext()
    node = Node("waiter", context=context)
    fired: list[int] = []
    timer = node.create_timer(2.0, lambda: fired.append(node.get_clock().now().nanoseconds))
    timer.cancel()
    start = node.get_clock().now().nanoseconds
    context.graph.advance_virtual_time(start + 5 * 10**9)
    context.spin_until_quiet()
    assert fired == []  # canceled: nothing
    timer.reset()
    context.graph.advance_virtual_time(start + 6 * 10**9)
    context.spin_until_quiet()
    assert fired == []  # one period after the reset, not after the creation
    context.graph.advance_virtual_time(start + 7 * 10**9)
    context.spin_until_quiet()
    assert fired == [start + 7 * 10**9]


def test_destroyed_node_stops_receiving() -> None:
    context = InprocContext()
    node = Probe(context=context)
    node.listen("a")
    publisher = Probe("pub", context=context).create_publisher(msg.String, "a", 10)
    node.destroy_node()
    publisher.publish(msg.String(data="x"))
    context.spin_until_quiet()
    assert node.received == []


def test_runaway_publish_loop_is_reported() -> None:
    context = InprocContext()
    node = Probe(context=context)
    publisher = node.create_publisher(msg.String, "loop", 10)
    node.create_subscription(msg.String, "loop", lambda m: publisher.publish(m), 10)
    publisher.publish(msg.String())
    with pytest.raises(GraphError, match="did not settle"):
        context.spin_until_quiet(max_callbacks=100)


def test_bad_timer_period_and_qos() -> None:
    node = Probe(context=InprocContext())
    with pytest.raises(RobotRLError, match="period must be > 0"):
        node.create_timer(0.0, lambda: None)
    with pytest.raises(GraphError, match="qos must be"):
        node.create_publisher(msg.String, "x", "10")  # type: ignore[arg-type]


def test_log_level_from_ros_args(capsys: pytest.CaptureFixture[str]) -> None:
    node = Probe(context=InprocContext(), cli_args=["--ros-args", "--log-level", "probe:=warn"])
    node.get_logger().info("hidden")
    node.get_logger().warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert "[WARN]" in err
    assert "[probe]: shown" in err


def test_unused_overrides_are_warned_once_at_startup(capsys: pytest.CaptureFixture[str]) -> None:
    """A node without strict parameters keeps ROS2's behaviour (the override is ignored), with one WARN line."""
    context = InprocContext()
    node = Probe(context=context, cli_args=["--ros-args", "-p", "rate_hzz:=1.0"])
    warnings = [line for line in capsys.readouterr().err.splitlines() if "[WARN]" in line]
    assert len(warnings) == 1
    assert warnings[0].endswith("[probe]: parameters set but never declared by this node: rate_hzz")
    node.create_timer(1.0, lambda: context.shutdown("ran"))
    context.spin()
    assert context.shutdown_reason == "ran"
    assert "[WARN]" not in capsys.readouterr().err
