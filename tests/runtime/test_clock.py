"""Time, Duration and Clock arithmetic (integer nanoseconds, like rclpy)."""

from robot_rl.runtime import msg
from robot_rl.runtime.clock import Clock, ClockType, Duration, Time


def test_time_message_round_trip() -> None:
    stamp = Time(1_500_000_001).to_msg()
    assert (stamp.sec, stamp.nanosec) == (1, 500_000_001)
    assert Time.from_msg(stamp) == Time(1_500_000_001)
    assert isinstance(stamp, msg.Time)


def test_arithmetic_and_ordering() -> None:
    assert Time(10) + Duration(5) == Time(15)
    assert Time(15) - Time(10) == Duration(5)
    assert Duration.from_seconds(0.05) == Duration(50_000_000)
    assert Time(1) < Time(2)
    assert Time(3_000_000_002).seconds_nanoseconds() == (3, 2)


def test_clock_reads_its_source() -> None:
    now = [7]
    clock = Clock(ClockType.ROS_TIME, lambda: now[0])
    assert clock.now() == Time(7)
    now[0] = 9
    assert clock.now().nanoseconds == 9
