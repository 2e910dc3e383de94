"""Measure the in-process runtime: message delivery rate and lockstep tick rate.

    .venv/bin/python benchmarks/runtime_throughput.py [--seconds 3] [--json]

Writes a Markdown section to stdout (paste into docs/benchmarks.md) or JSON.
It measures, on one core:
- pub/sub: std_msgs/String and a 640x480 rgb8 Image (passed by reference) from one
  publisher to one subscription, messages per second;
- lockstep: a clock source on a wall timer driving a 3-node sim-time chain
  (obs -> policy -> command -> sim) with the virtual wall clock, ticks per second,
  with the median and p99 wall time of one tick.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np

from robot_rl.runtime import Node, msg
from robot_rl.runtime.inproc import InprocContext
from robot_rl.runtime.msg_numpy import numpy_to_image


def pubsub_rate(message: object, seconds: float) -> float:
    """Return delivered messages per second for one publisher and one subscription."""
    context = InprocContext()
    node = Node("bench", context=context)
    received = [0]

    def on_message(_: object) -> None:
        received[0] += 1

    node.create_subscription(type(message), "topic", on_message, 10)
    publisher = node.create_publisher(type(message), "topic", 10)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            publisher.publish(message)
            context.spin_until_quiet()
    return received[0] / (time.perf_counter() - start)


class Sim(Node):
    """Publishes /clock and an observation each tick; records per-tick wall time."""

    def __init__(self, ticks: int, **kwargs: object) -> None:
        super().__init__("sim", **kwargs)  # type: ignore[arg-type]
        self.ticks = ticks
        self.step = 0
        self.tick_durations_s: list[float] = []
        self.last_tick_start = 0.0
        self.clock_pub = self.create_publisher(msg.Clock, "/clock", 10)
        self.obs_pub = self.create_publisher(msg.JointState, "obs", 10)
        self.create_subscription(msg.Float32, "command", self.on_command, 10)
        self.create_timer(0.05, self.tick)

    def tick(self) -> None:
        if self.step == self.ticks:
            self.request_shutdown("done")
            return
        self.last_tick_start = time.perf_counter()
        self.step += 1
        sec, nanosec = divmod(self.step * 50_000_000, 1_000_000_000)
        self.clock_pub.publish(msg.Clock(clock=msg.Time(sec=sec, nanosec=nanosec)))
        self.obs_pub.publish(msg.JointState(name=["j"], position=np.array([float(self.step)])))

    def on_command(self, _: object) -> None:
        self.tick_durations_s.append(time.perf_counter() - self.last_tick_start)


class Relay(Node):
    """Subscribes to one topic and publishes a Float32 on another (a stand-in policy stage)."""

    def __init__(self, name: str, source: str, target: str, source_type: type, **kwargs: object) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        publisher = self.create_publisher(msg.Float32, target, 10)
        self.create_subscription(source_type, source, lambda m: publisher.publish(msg.Float32(data=1.0)), 10)


def lockstep(ticks: int) -> dict[str, float]:
    """Run the sim -> policy -> safety -> sim loop for ``ticks`` ticks."""
    context = InprocContext()
    sim_time = ["--ros-args", "-p", "use_sim_time:=true"]
    sim = Sim(ticks, context=context)
    Relay("policy", "obs", "action", msg.JointState, context=context, cli_args=sim_time)
    Relay("safety", "action", "command", msg.Float32, context=context, cli_args=sim_time)
    start = time.perf_counter()
    context.spin()
    elapsed = time.perf_counter() - start
    durations = np.array(sim.tick_durations_s) * 1e6
    return {
        "ticks": ticks,
        "ticks_per_s": ticks / elapsed,
        "tick_median_us": float(np.median(durations)),
        "tick_p99_us": float(np.percentile(durations, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each pub/sub measurement, s")
    parser.add_argument("--ticks", type=int, default=20_000, help="lockstep ticks to run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args()
    image = numpy_to_image(np.zeros((480, 640, 3), dtype=np.uint8), "rgb8")
    results = {
        "string_msgs_per_s": pubsub_rate(msg.String(data="hello"), args.seconds),
        "image_640x480_msgs_per_s": pubsub_rate(image, args.seconds),
        "lockstep": lockstep(args.ticks),
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "date": date.today().isoformat(),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    lock = results["lockstep"]
    print(f"Date {results['date']}; machine {results['machine']}; no randomness (no seeds).\n")
    print("| measurement | result |")
    print("|---|---|")
    print(f"| pub/sub std_msgs/String, 1 pub -> 1 sub | {results['string_msgs_per_s']:,.0f} msg/s |")
    print(f"| pub/sub 640x480 rgb8 Image (by reference) | {results['image_640x480_msgs_per_s']:,.0f} msg/s |")
    print(f"| lockstep sim -> policy -> safety -> sim, {lock['ticks']} ticks | {lock['ticks_per_s']:,.0f} ticks/s |")
    print(f"| one lockstep tick, median / p99 | {lock['tick_median_us']:.1f} / {lock['tick_p99_us']:.1f} µs |")


if __name__ == "__main__":
    main()
