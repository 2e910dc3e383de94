"""The training driver node on its own: the schedule it requests, the learner's reports it waits for, and the two
waits that only matter across processes (a resent request, a report that never comes). The whole training graph
runs in tests/test_train_residual.py (in-process) and tests/policies/test_rl_nodes_on_rclpy.py (as processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from robot_rl.errors import LearnerError
from robot_rl.policies.learning_curve import CURVE_FILE, CurvePoint, write_curve
from robot_rl.policies.training_driver import (
    COMMAND_PATH_TOPICS,
    PROGRESS_TOPIC,
    LearnerProgress,
    TrainingDriver,
    TrainingSchedule,
)
from robot_rl.runtime import LATCHED, Node, msg
from robot_rl.runtime.inproc import InprocContext

EVAL_SEED, TRAIN_SEED = 100_000, 300_000


class Graph(Node):
    """Stands in for the sim (episode events), the learner (progress reports) and the command path (a publisher on
    each of its topics, except ``down``); records the driver's requests."""

    def __init__(self, down: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__("graph", **kwargs)
        self.requests: list[dict[str, Any]] = []
        for topic in COMMAND_PATH_TOPICS:
            if topic not in down:
                self.create_publisher(msg.PointCloud2 if topic == "/robot_rl/slots" else msg.JointTrajectory, topic, 10)
        self.episode = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.progress = self.create_publisher(msg.String, PROGRESS_TOPIC, LATCHED)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)

    def on_episode(self, message: Any) -> None:
        payload = json.loads(message.data)
        if payload["event"] == "reset":
            self.requests.append(payload)

    def event(self, **payload: Any) -> None:
        self.episode.publish(msg.String(data=json.dumps(payload)))
        self.context.spin_until_quiet()

    def report(self, env_steps: int, finished: tuple[int, str] | None, episodes: int = 0, dropped: int = 0) -> None:
        drops = {"no command": dropped} if dropped else {}
        progress = LearnerProgress(env_steps, episodes, 2 * env_steps, 0.1 * env_steps + 1.0, finished, drops)
        self.progress.publish(progress.to_message())
        self.context.spin_until_quiet()

    def run_episode(self, outcome: str = "timeout") -> None:
        """The sim starts the last requested episode and ends it."""
        last = self.requests[-1]
        self.event(event="start", seed=last["seed"], mode=last["mode"], request=last["request"])
        self.event(event=outcome, steps=5)

    def asked(self) -> list[tuple[int, str]]:
        return [(request["seed"], request["mode"]) for request in self.requests]


def start(
    tmp_path: Path, down: tuple[str, ...] = (), **parameters: object
) -> tuple[InprocContext, Graph, TrainingDriver]:
    context = InprocContext()
    graph = Graph(down, context=context)
    values = {"out_dir": tmp_path, "task": "Lift", "steps": 100, "eval_every_steps": 50, "eval_episodes": 1}
    args = ["--ros-args"]
    for name, value in {**values, **parameters}.items():
        args += ["-p", f"{name}:={value}"]
    driver = TrainingDriver(context=context, cli_args=args)
    context.spin_until_quiet()
    return context, graph, driver


def advance(context: InprocContext, seconds: float) -> None:
    context.graph.advance_virtual_time(context.graph.system_time_ns() + round(seconds * 1e9))
    context.spin_until_quiet()


def test_the_driver_waits_for_the_learners_first_report_then_measures_the_base_alone(tmp_path: Path) -> None:
    _, graph, _ = start(tmp_path)
    assert graph.requests == []  # the learner has not said where it stands
    graph.report(0, None)
    assert graph.asked() == [(EVAL_SEED, "eval")]  # the 0-step evaluation: the zero residual, the base alone
    assert graph.requests[0]["request"] == 1


def test_the_next_episode_waits_for_the_outcome_and_the_learners_log_of_that_episode(tmp_path: Path) -> None:
    _, graph, driver = start(tmp_path)
    graph.report(0, None)
    graph.run_episode()
    graph.report(0, (TRAIN_SEED, "train"))  # a report of another episode does not count
    assert graph.asked() == [(EVAL_SEED, "eval")]
    graph.report(0, (EVAL_SEED, "eval"))
    assert graph.asked() == [(EVAL_SEED, "eval"), (TRAIN_SEED, "train")]
    assert [point.env_steps for point in driver.curve] == [0]
    # the other order: the learner's report first (a training time-out's last step is stored after the outcome)
    graph.event(event="start", seed=TRAIN_SEED, mode="train", request=2)
    graph.report(40, (TRAIN_SEED, "train"), episodes=1)
    assert len(graph.requests) == 2
    graph.event(event="success", steps=40)
    assert graph.asked()[-1] == (TRAIN_SEED + 1, "train")
    assert driver.train_episodes == 1
    assert list(driver.recent) == [True]


def test_the_budget_ends_with_a_final_evaluation_and_the_launch(tmp_path: Path) -> None:
    context, graph, driver = start(tmp_path)
    graph.report(0, None)
    graph.run_episode()
    graph.report(0, (EVAL_SEED, "eval"))
    graph.run_episode()
    graph.report(120, (TRAIN_SEED, "train"), episodes=1, dropped=3)  # past the budget of 100
    assert graph.asked()[-1] == (EVAL_SEED, "eval")
    graph.run_episode(outcome="success")
    graph.report(120, (EVAL_SEED, "eval"), episodes=1, dropped=3)
    assert driver.completed
    assert context.shutdown_reason == "trained 120 env steps (3 ticks dropped by the learner: 3 no command)"
    assert [(point.env_steps, point.successes, point.updates) for point in driver.curve] == [(0, 0, 0), (120, 1, 240)]
    assert (tmp_path / CURVE_FILE).exists()


def test_a_resumed_run_continues_its_schedule_from_the_learners_first_report(tmp_path: Path) -> None:
    write_curve(tmp_path / CURVE_FILE, [CurvePoint(0, 1.0, 1, 1, 0), CurvePoint(50, 6.0, 1, 1, 100)])
    _, graph, driver = start(tmp_path)
    graph.report(70, None, episodes=4)  # a checkpoint at 70 env steps after 4 training episodes
    assert graph.asked() == [(TRAIN_SEED + 4, "train")]  # the 50-step evaluation is done; the next is due at 100
    assert [point.env_steps for point in driver.curve] == [0, 50]


def test_an_unanswered_request_is_sent_again_with_the_same_id_until_the_start(tmp_path: Path) -> None:
    """As processes the sim may not be up when the first request goes out; it ignores a repeat of a request it took."""
    context, graph, _ = start(tmp_path)
    graph.report(0, None)
    advance(context, 1.0)
    assert len(graph.requests) == 1
    advance(context, 1.5)  # past request_retry_s (2 s)
    assert graph.requests == [graph.requests[0]] * 2
    graph.event(event="start", seed=EVAL_SEED, mode="eval", request=1)
    advance(context, 10.0)
    assert len(graph.requests) == 2  # answered: no more repeats


def test_a_missed_start_event_is_made_up_for_by_the_outcome_that_echoes_the_request(tmp_path: Path) -> None:
    """DDS matches the two directions of a topic separately: the sim may take a request whose start event the driver
    never receives. The sim ignores the resent request, so the outcome's request id is what ends the wait."""
    context, graph, driver = start(tmp_path)
    graph.report(0, None)
    advance(context, 2.5)  # no start seen: the request is resent
    assert len(graph.requests) == 2
    graph.event(event="timeout", steps=200, request=1)  # the episode of request 1 ran and timed out
    graph.report(0, (EVAL_SEED, "eval"))
    assert [(point.env_steps, point.successes, point.episodes) for point in driver.curve] == [(0, 0, 1)]
    assert graph.asked()[-1] == (TRAIN_SEED, "train")
    graph.event(event="success", steps=9, request=7)  # another request's outcome, without its start: not counted
    assert driver.outcome is None
    graph.event(event="start", seed=TRAIN_SEED, mode="train", request=2)
    advance(context, 10.0)
    assert len(graph.requests) == 3  # the outcome answered request 1: no more repeats of it


def test_a_persons_key_with_the_request_id_ends_an_episode_whose_start_was_missed(tmp_path: Path) -> None:
    _, graph, driver = start(tmp_path)
    graph.report(0, None)
    graph.event(event="success", source="human", request=1)  # the arbiter echoes the request of the start it saw
    graph.report(0, (EVAL_SEED, "eval"))
    assert [(point.successes, point.episodes) for point in driver.curve] == [(1, 1)]
    assert graph.asked()[-1] == (TRAIN_SEED, "train")


def test_the_first_request_waits_until_the_command_path_publishes(tmp_path: Path) -> None:
    """As processes the base may still be loading its model when the learner first reports."""
    context, graph, _ = start(tmp_path, down=("/robot_rl/base_action", "/robot_rl/safe_command"))
    graph.report(0, None)
    advance(context, 5.0)
    assert graph.requests == []
    graph.create_publisher(msg.JointTrajectory, "/robot_rl/base_action", 10)
    graph.create_publisher(msg.JointTrajectory, "/robot_rl/safe_command", 10)
    advance(context, 2.0)  # the driver looks again every request_retry_s
    assert graph.asked() == [(EVAL_SEED, "eval")]


def test_a_command_path_that_never_comes_up_stops_the_run_naming_it(tmp_path: Path) -> None:
    context, graph, _ = start(tmp_path, down=("/robot_rl/command",), startup_timeout_s=10.0)
    graph.report(0, None)
    with pytest.raises(LearnerError, match=r"no publisher on /robot_rl/command 10 s after the learner's first report"):
        advance(context, 12.0)
    assert graph.requests == []


def test_without_the_learners_report_the_driver_goes_on_after_learner_wait_s(tmp_path: Path) -> None:
    """The learner may miss an episode's start during discovery and never report it: a warning, not a hang."""
    context, graph, driver = start(tmp_path, learner_wait_s=5.0)
    graph.report(0, None)
    graph.run_episode()
    advance(context, 4.0)
    assert len(graph.requests) == 1
    advance(context, 2.0)
    assert graph.asked() == [(EVAL_SEED, "eval"), (TRAIN_SEED, "train")]
    assert [point.env_steps for point in driver.curve] == [0]  # from the learner's last report


def test_training_episodes_that_store_nothing_stop_the_run(tmp_path: Path) -> None:
    """As processes a dead node does not end the launch: without a limit the driver would request episodes forever."""
    _, graph, _ = start(tmp_path, max_empty_episodes=2)
    graph.report(0, None)
    graph.run_episode()
    graph.report(0, (EVAL_SEED, "eval"))
    graph.run_episode()
    graph.report(5, (TRAIN_SEED, "train"), episodes=1)
    graph.run_episode()
    graph.report(5, (TRAIN_SEED + 1, "train"), episodes=2, dropped=25)  # one empty episode: goes on
    graph.run_episode()
    with pytest.raises(LearnerError, match=r"2 training episodes in a row stored no transition .* dropped 50 ticks"):
        graph.report(5, (TRAIN_SEED + 2, "train"), episodes=3, dropped=50)


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ({"steps": 0}, "steps must be an int >= 1, got 0"),
        ({"eval_episodes": 0}, "eval_episodes must be an int >= 1, got 0"),
        ({"train_seed": -1}, "train_seed must be an int >= 0, got -1"),
        ({"learner_wait_s": 0.0}, "learner_wait_s must be a finite number > 0 s, got 0.0"),
        ({"request_retry_s": float("nan")}, "request_retry_s must be a finite number > 0 s, got nan"),
        ({"out_dir": "''"}, "parameter out_dir is empty"),
        ({"max_empty_episodes": 0}, "max_empty_episodes must be an int >= 1, got 0"),
        ({"learner_wait_s": float("inf")}, "learner_wait_s must be a finite number > 0 s, got inf"),
        ({"startup_timeout_s": -1.0}, "startup_timeout_s must be a finite number > 0 s, got -1.0"),
    ],
)
def test_bad_parameters_are_one_error_each(tmp_path: Path, parameters: dict[str, object], error: str) -> None:
    with pytest.raises(LearnerError, match=error):
        start(tmp_path, **parameters)


def test_a_report_carries_the_drops_by_reason_most_frequent_first() -> None:
    report = LearnerProgress(10, 1, 20, 2.0, (7, "train"), {"no reward": 2, "no command": 5, "restart": 0})
    received = LearnerProgress.from_message(report.to_message())
    assert received == report
    assert received.dropped_ticks == 7
    assert received.describe_drops() == "7 ticks dropped by the learner: 5 no command, 2 no reward"
    assert LearnerProgress(0, 0, 0, 0.0, None, {}).describe_drops() == "0 ticks dropped by the learner"


def test_a_malformed_report_is_an_error_naming_it() -> None:
    with pytest.raises(LearnerError, match=r"malformed learner progress '\{\}'"):
        LearnerProgress.from_message(msg.String(data="{}"))
    fields = '"env_steps": 1, "episodes": 0, "updates": 0, "wall_s": 1.0, "finished": null'
    with pytest.raises(LearnerError, match="malformed learner progress"):
        LearnerProgress.from_message(msg.String(data="{" + fields + ', "drops": 3}'))  # a count, not reasons
    with pytest.raises(LearnerError, match="steps must be an int >= 1"):
        TrainingSchedule(steps=True)  # type: ignore[arg-type]
