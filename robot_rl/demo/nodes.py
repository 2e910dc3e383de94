"""Demonstration nodes that exercise the runtime: sim time, timers, pub/sub, parameters.

``demo_clock`` plays the simulator's role: it publishes ``/clock`` from a wall timer
and stops after ``duration_s`` of sim time. ``demo_joint_publisher`` publishes a sine
wave on ``joint_states`` from a sim-time timer; ``demo_monitor`` counts and reports.
"""

from __future__ import annotations

import math

import numpy as np

from robot_rl.runtime import Node, NodeMain, msg
from robot_rl.runtime.msg_numpy import joint_state_to_numpy, numpy_to_joint_state

NS_PER_S = 1_000_000_000


class DemoClock(Node):
    """Publishes rosgraph_msgs/Clock at ``rate_hz`` until ``duration_s`` of sim time."""

    def __init__(self, **kwargs) -> None:
        super().__init__("demo_clock", **kwargs)
        rate_hz = self.declare_parameter("rate_hz", 100.0, "clock ticks per wall second, Hz").value
        self.step_ns = round(self.declare_parameter("step_s", 0.01, "sim time per tick, s").value * NS_PER_S)
        self.duration_ns = round(self.declare_parameter("duration_s", 5.0, "sim time to run, s").value * NS_PER_S)
        self.sim_ns = 0
        self.publisher = self.create_publisher(msg.Clock, "/clock", 10)
        self.create_timer(1.0 / rate_hz, self.tick)

    def tick(self) -> None:
        """Advance sim time by one step and publish it."""
        if self.sim_ns >= self.duration_ns:
            self.request_shutdown(f"sim time reached {self.duration_ns / NS_PER_S:.2f} s")
            return
        self.sim_ns += self.step_ns
        sec, nanosec = divmod(self.sim_ns, NS_PER_S)
        self.publisher.publish(msg.Clock(clock=msg.Time(sec=sec, nanosec=nanosec)))


class DemoJointPublisher(Node):
    """Publishes a sine-wave sensor_msgs/JointState for ``joint_names`` at ``rate_hz``."""

    def __init__(self, **kwargs) -> None:
        super().__init__("demo_joint_publisher", **kwargs)
        self.joint_names = self.declare_parameter(
            "joint_names", ["joint1", "joint2"], "names of the published joints"
        ).value
        self.amplitude_rad = self.declare_parameter("amplitude_rad", 0.5, "sine amplitude, rad").value
        self.frequency_hz = self.declare_parameter("frequency_hz", 0.5, "sine frequency, Hz").value
        rate_hz = self.declare_parameter("rate_hz", 20.0, "publish rate, Hz").value
        self.publisher = self.create_publisher(msg.JointState, "joint_states", 10)
        self.create_timer(1.0 / rate_hz, self.tick)

    def tick(self) -> None:
        """Publish the joint positions at the current ROS time."""
        now = self.get_clock().now()
        t = now.nanoseconds / NS_PER_S
        phases = np.arange(len(self.joint_names)) * math.pi / 4
        position = self.amplitude_rad * np.sin(2 * math.pi * self.frequency_hz * t + phases)
        header = msg.Header(stamp=now.to_msg(), frame_id="base_link")
        self.publisher.publish(numpy_to_joint_state(self.joint_names, position, header=header))


class DemoMonitor(Node):
    """Counts joint states and logs a summary every ``report_period_s``."""

    def __init__(self, **kwargs) -> None:
        super().__init__("demo_monitor", **kwargs)
        period_s = self.declare_parameter("report_period_s", 1.0, "time between reports, s").value
        self.count = 0
        self.peak_rad = 0.0
        self.last_stamp_s = 0.0
        self.create_subscription(msg.JointState, "joint_states", self.on_joint_state, 10)
        self.create_timer(period_s, self.report)

    def on_joint_state(self, state: object) -> None:
        """Record one joint state."""
        _, position, _, _ = joint_state_to_numpy(state)
        self.count += 1
        self.peak_rad = max(self.peak_rad, float(np.abs(position).max(initial=0.0)))
        self.last_stamp_s = state.header.stamp.sec + state.header.stamp.nanosec * 1e-9  # type: ignore[attr-defined]

    def report(self) -> None:
        """Log what was received so far."""
        self.get_logger().info(
            f"t={self.get_clock().now().nanoseconds / NS_PER_S:.2f} s: {self.count} joint states,"
            f" last stamp {self.last_stamp_s:.2f} s, peak |q| {self.peak_rad:.3f} rad"
        )


clock_main = NodeMain(DemoClock)
joint_publisher_main = NodeMain(DemoJointPublisher)
monitor_main = NodeMain(DemoMonitor)
