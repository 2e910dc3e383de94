"""The training driver node: requests every episode of a residual training run and records its learning curve.

It runs in ``launch/train.launch.yaml`` beside the learner, in-process (``robot-rl train-residual``) or as a
process of its own (``ros2 launch``, ``robot-rl launch --backend rclpy``); it talks to the graph through topics
only. It asks the sim for every episode (``{"event": "reset", "seed": s, "mode": "train" | "eval"}`` on
``/robot_rl/episode``): training episodes on seeds ``train_seed + i``, and every ``eval_every_steps`` env steps an
evaluation of the deterministic residual on the same ``eval_episodes`` unseen seeds (``eval_seed + j``), and once
more when the budget is spent. The first evaluation, at 0 steps, runs before any update: the residual is zero, so
it measures the base alone through the same graph.

The learner's counters come from its progress reports (:data:`~robot_rl.policies.learner_node.PROGRESS_TOPIC`,
latched): the driver starts once it has the first (so a resumed run continues its schedule) and every node of the
command path publishes (``wait_for_publishers``, up to ``startup_timeout_s``), and requests the next
episode only when it has both the episode's outcome and the learner's report that it logged that episode (a
training time-out's last step is stored a tick after the sim's outcome). When the budget and its final evaluation
are done, the node asks the launch to end (``on_exit: shutdown`` in the launch file). Training episodes that store
no transition ``max_empty_episodes`` times in a row stop the run with an error: a node of the graph is down.

As separate processes (DDS) two waits are bounded by wall time: a reset request no start event answers within
``request_retry_s`` is sent again with the same id (the sim's process may not have been up; the sim ignores a
repeat, and a start event the driver missed is made up for by the outcome event, which echoes the request id), and
a learner report that does not come within ``learner_wait_s`` of the episode's outcome is given up with a warning
(the learner missed the episode's start on discovery) and the run goes on from its last report. In-process, in
lockstep, every node is up before the first report, both answers come in the same cascade of messages, and no
timer fires.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import LearnerError
from robot_rl.policies.evaluate import EpisodeMonitor, EpisodeResult, ending
from robot_rl.policies.learning_curve import CURVE_FILE, PLOT_FILE, CurvePoint, plot_curve, read_curve, write_curve
from robot_rl.rl.trainer import discard_evaluation_rows
from robot_rl.runtime import LATCHED, NodeMain, msg

PROGRESS_TOPIC = "/robot_rl/learner/progress"  # std_msgs/String, JSON: the learner's counters after each episode
# The outputs of the command path, sim observation to sim command: slots (perception or the sim slot source), base,
# residual actor, arbiter, safety gate. Each node creates its publisher once its model and calibration are loaded.
COMMAND_PATH_TOPICS = (
    "/robot_rl/slots",
    "/robot_rl/base_action",
    "/robot_rl/policy_action",
    "/robot_rl/command",
    "/robot_rl/safe_command",
)


@dataclass(frozen=True)
class TrainingSchedule:
    """Which episodes a training run asks for."""

    steps: int  # training env steps (the budget), >= 1
    eval_every_steps: int = 10_000  # env steps between evaluations, >= 1
    eval_episodes: int = 50  # episodes per evaluation (the same unseen seeds every time), >= 1
    eval_seed: int = 100_000  # seed of evaluation episode 0 (far from the demonstrations' and training seeds), >= 0
    # seed of training episode 0 (episode i uses train_seed + i), >= 0; away from the demonstrations' seeds (0, 1,
    # ...), on which the base is at its best, and from the evaluation seeds
    train_seed: int = 300_000

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every_steps", "eval_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LearnerError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("eval_seed", "train_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LearnerError(f"{name} must be an int >= 0, got {value!r}")


@dataclass(frozen=True)
class LearnerProgress:
    """One progress report of the learner (:data:`PROGRESS_TOPIC`)."""

    env_steps: int  # online env steps stored
    episodes: int  # training episodes finished
    updates: int  # critic updates done
    wall_s: float  # wall time of the run, resumed runs included, s
    finished: tuple[int, str] | None  # (seed, mode) of the episode just logged; None: the report at startup
    drops: dict[str, int]  # ticks the learner lost to a missing piece since it started, by reason (none in lockstep)

    @property
    def dropped_ticks(self) -> int:
        """Ticks the learner lost since it started, whatever the reason."""
        return sum(self.drops.values())

    def describe_drops(self) -> str:
        """``"45 ticks dropped by the learner: 30 no command, 15 no reward"`` (most frequent reason first)."""
        reasons = sorted(((reason, n) for reason, n in self.drops.items() if n), key=lambda item: (-item[1], item[0]))
        because = ": " + ", ".join(f"{count} {reason}" for reason, count in reasons) if reasons else ""
        return f"{self.dropped_ticks} ticks dropped by the learner{because}"

    def to_message(self) -> Any:
        """The report as a std_msgs/String."""
        return msg.String(data=json.dumps(asdict(self)))

    @classmethod
    def from_message(cls, message: Any) -> LearnerProgress:
        """Raises LearnerError if the message is not a learner's progress report."""
        try:
            payload = json.loads(message.data)
            finished = payload["finished"]
            return cls(
                int(payload["env_steps"]),
                int(payload["episodes"]),
                int(payload["updates"]),
                float(payload["wall_s"]),
                None if finished is None else (int(finished[0]), str(finished[1])),
                {str(reason): int(count) for reason, count in payload["drops"].items()},
            )
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            raise LearnerError(f"malformed learner progress {message.data!r}: {error}") from None


class TrainingDriver(EpisodeMonitor):
    """Requests every episode (training seeds, then evaluations when due) and records the learning curve."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(node_name="training_driver", **kwargs)
        declare = self.declare_parameter
        out_dir = declare("out_dir", "", "the learner's output directory: curve.csv and curve.png go there").value
        self.task = declare("task", "", "the task, for the curve's title").value
        defaults = TrainingSchedule(steps=1)
        self.schedule = TrainingSchedule(
            steps=declare("steps", 0, "training env steps: the run's budget (required, >= 1)").value,
            eval_every_steps=declare(
                "eval_every_steps", defaults.eval_every_steps, "env steps between evaluations"
            ).value,
            eval_episodes=declare("eval_episodes", defaults.eval_episodes, "episodes per evaluation").value,
            eval_seed=declare("eval_seed", defaults.eval_seed, "seed of evaluation episode 0").value,
            train_seed=declare("train_seed", defaults.train_seed, "seed of training episode 0").value,
        )
        self.request_retry_s = declare(
            "request_retry_s", 2.0, "wall s before a reset request no start answered is sent again, > 0"
        ).value
        self.learner_wait_s = declare(
            "learner_wait_s", 60.0, "wall s to wait for the learner's report of an ended episode, > 0"
        ).value
        self.max_empty_episodes = declare(
            "max_empty_episodes", 3, "training episodes in a row that store no transition before the run stops, >= 1"
        ).value
        self.wait_for_publishers = declare(
            "wait_for_publishers",
            list(COMMAND_PATH_TOPICS),
            "topics that must each have a publisher before the first request: the command path's nodes are up",
        ).value
        self.startup_timeout_s = declare(
            "startup_timeout_s",
            120.0,
            "wall s to wait for those publishers after the learner's first report before the run stops, > 0",
        ).value
        if isinstance(self.max_empty_episodes, bool) or self.max_empty_episodes < 1:
            raise LearnerError(f"max_empty_episodes must be an int >= 1, got {self.max_empty_episodes!r}")
        for name in ("request_retry_s", "learner_wait_s", "startup_timeout_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise LearnerError(f"{name} must be a finite number > 0 s, got {value!r}")
        if not out_dir:
            raise LearnerError("parameter out_dir is empty: the training driver needs it")
        self.out = Path(out_dir)
        self.curve: list[CurvePoint] = []
        self.next_eval_at = 0
        self.train_episodes = 0
        self.evaluating: list[EpisodeResult] | None = None  # results of the running evaluation
        self.recent: deque[bool] = deque(maxlen=20)  # successes of the last training episodes
        self.empty_episodes = 0  # training episodes in a row after which the learner's env steps had not grown
        self.steps_before = 0  # the learner's env steps when the running episode was requested
        self.progress: LearnerProgress | None = None  # the learner's latest report
        self.requested: tuple[int, str] | None = None  # (seed, mode) of the running episode
        self.request_id = 0  # id of the latest reset request (the sim echoes it in the start event)
        self.started = False  # the sim started the requested episode
        # created once and re-armed (reset) when needed: a timer per episode would pile up in the node
        self.retry_timer = self.create_timer(self.request_retry_s, self._retry)  # resends an unanswered request
        self.retry_timer.cancel()
        self.wait_timer = self.create_timer(self.learner_wait_s, self._give_up_waiting)  # gives up on a report
        self.wait_timer.cancel()
        # when the learner's first report found a publisher missing (the startup wait's start); None: none missing yet
        self.first_report_ns: int | None = None
        self.running = False  # the schedule started (the learner reported and the command path is up)
        self.startup_timer = self.create_timer(self.request_retry_s, self._start_when_up)  # looks again
        self.startup_timer.cancel()
        self.outcome: EpisodeResult | None = None  # its outcome, once the sim (or a person) ended it
        self.bar: Any = None  # a tqdm progress bar, or None
        self.updates_per_s = 0.0  # learner updates per wall second between the last two reports
        self.completed = False  # the budget is spent and its final evaluation done
        self.reset_pub = self.create_publisher(msg.String, "/robot_rl/episode", 10)
        self.create_subscription(msg.String, PROGRESS_TOPIC, self.on_progress, LATCHED)
        self.on_result = self.on_episode_result

    def on_progress(self, message: Any) -> None:
        """A learner's report: the first one starts the run; a later one may complete the running episode."""
        progress = LearnerProgress.from_message(message)
        previous, self.progress = self.progress, progress
        if not self.running:
            self._start_when_up()
            return
        if progress.wall_s > previous.wall_s:
            self.updates_per_s = (progress.updates - previous.updates) / (progress.wall_s - previous.wall_s)
        self._next_when_logged()

    def _start_when_up(self) -> None:
        """Start the schedule once every topic of ``wait_for_publishers`` has a publisher (as processes the nodes
        come up in any order, and a command path still loading its models would hold the first ticks); raise
        LearnerError after ``startup_timeout_s``."""
        if self.running or self.progress is None:
            self.startup_timer.cancel()
            return
        missing = [topic for topic in self.wait_for_publishers if not self.publisher_nodes(topic)]
        if not missing:
            self.startup_timer.cancel()
            self.running = True
            self._start(self.progress)
            return
        now_ns = self.get_clock().now().nanoseconds
        if self.first_report_ns is None:  # the learner, which loads the most, is up: the others get as long again
            self.first_report_ns = now_ns
            self.get_logger().info(f"waiting for publishers on {', '.join(missing)} before the first episode")
            self.startup_timer.reset()
        elif (now_ns - self.first_report_ns) / 1e9 >= self.startup_timeout_s:
            raise LearnerError(
                f"no publisher on {', '.join(missing)} {self.startup_timeout_s:g} s after the learner's first"
                " report: is every node of the training graph running?"
            )

    def _start(self, progress: LearnerProgress) -> None:
        """Continue the schedule where the learner's checkpoint stands (0 env steps: from the start)."""
        self.curve = read_curve(self.out / CURVE_FILE, progress.env_steps)
        if not self.curve or self.curve[-1].env_steps != progress.env_steps:
            # an evaluation at the checkpoint's step that a stop cut short is redone in full: its rows go
            discard_evaluation_rows(self.out, progress.env_steps)
        self.next_eval_at = self.curve[-1].env_steps + self.schedule.eval_every_steps if self.curve else 0
        self.train_episodes = progress.episodes
        if self.bar is not None:
            self.bar.n = min(progress.env_steps, self.schedule.steps)
        self.request_next()

    def request_next(self) -> None:
        """Start an evaluation when due, else the next training episode; end the run when the budget is spent."""
        if self.progress is None:
            return  # no report from the learner yet
        steps = self.progress.env_steps
        finished = steps >= self.schedule.steps
        evaluated_now = bool(self.curve) and self.curve[-1].env_steps == steps
        if self.evaluating is None and (steps >= self.next_eval_at or finished) and not evaluated_now:
            self.evaluating = []  # due, or the final evaluation after the budget
        if self.evaluating is not None:
            self._reset(self.schedule.eval_seed + len(self.evaluating), "eval")
            return
        if finished:
            self.completed = True
            self.requested = None
            self.request_shutdown(f"trained {steps} env steps ({self.progress.describe_drops()})")
            return
        self._reset(self.schedule.train_seed + self.train_episodes, "train")

    def _reset(self, seed: int, mode: str) -> None:
        self.requested, self.outcome, self.started = (seed, mode), None, False
        self.steps_before = self.progress.env_steps if self.progress is not None else 0
        self.request_id += 1
        self._send_request()
        self.retry_timer.reset()

    def _send_request(self) -> None:
        if self.requested is None:
            return
        seed, mode = self.requested
        request = {"event": "reset", "seed": seed, "mode": mode, "request": self.request_id}
        self.reset_pub.publish(msg.String(data=json.dumps(request)))

    def _retry(self) -> None:
        if self.started or self.requested is None:
            self.retry_timer.cancel()
            return
        self.get_logger().info(f"no start for reset request {self.request_id} yet: sending it again")
        self._send_request()

    def on_episode(self, event: Any) -> None:
        """Note the start of the requested episode, then track it as an evaluation does."""
        payload = parse_episode_event(event)
        ours = payload is not None and self.requested is not None and payload.get("request") == self.request_id
        if ours and payload["event"] == "start":
            self.started = True
            self.retry_timer.cancel()
        elif ours and not self.started and ending(payload):
            # the start event was lost (DDS matches the two directions of a topic separately): the sim ignores the
            # resent request, so the outcome (the sim's, or a person's key), which echoes its id, says the episode ran
            self.get_logger().warning(
                f"missed the start of episode {self.requested} (request {self.request_id}): counting its outcome,"
                " without the episode's failure analysis"
            )
            self.started = True
            self.retry_timer.cancel()
            self.begin_episode(self.requested[0])
        super().on_episode(event)

    def on_episode_result(self, result: EpisodeResult) -> None:
        """An episode ended: wait for the learner to log it."""
        self.outcome = result
        self.wait_timer.reset()
        self._next_when_logged()

    def _give_up_waiting(self) -> None:
        self.wait_timer.cancel()
        if self.outcome is None:
            return
        self.get_logger().warning(
            f"no report from the learner {self.learner_wait_s:g} s after episode {self.requested} ended (it may have"
            " missed the episode's start): going on from its last report"
        )
        self._next_when_logged(waited=True)

    def _next_when_logged(self, waited: bool = False) -> None:
        """Record the running episode and request the next once its outcome and the learner's log of it are in
        (or, ``waited``, once the wait for that log ran out)."""
        progress, outcome = self.progress, self.outcome
        if outcome is None or progress is None or self.requested is None:
            return
        if progress.finished != self.requested and not waited:
            return
        self.outcome = None
        self.wait_timer.cancel()
        if self.evaluating is not None:
            self.evaluating.append(outcome)
            if len(self.evaluating) == self.schedule.eval_episodes:
                self._finish_evaluation(progress)
        else:
            self.train_episodes += 1
            self.recent.append(outcome.success)
            if not waited:  # a report that did not come says nothing about what the learner stored
                self._count_empty(progress)
        if self.bar is not None:
            self.bar.n = min(progress.env_steps, self.schedule.steps)
            last = self.curve[-1].success_rate if self.curve else float("nan")
            self.bar.set_postfix(
                recent=f"{sum(self.recent)}/{len(self.recent)}",
                eval=f"{last:.2f}",
                upd_s=f"{self.updates_per_s:.0f}",
                mode="eval" if self.evaluating is not None else "train",
            )
            self.bar.refresh()
        self.request_next()

    def _count_empty(self, progress: LearnerProgress) -> None:
        """Raise LearnerError after ``max_empty_episodes`` training episodes in a row that stored nothing: a node of
        the graph is down (as processes a dead node does not end the launch), and the run would go on forever."""
        self.empty_episodes = self.empty_episodes + 1 if progress.env_steps == self.steps_before else 0
        if self.empty_episodes >= self.max_empty_episodes:
            raise LearnerError(
                f"{self.empty_episodes} training episodes in a row stored no transition (the learner dropped"
                f" {progress.dropped_ticks} ticks so far): is every node of the training graph running?"
            )

    def _finish_evaluation(self, progress: LearnerProgress) -> None:
        results = self.evaluating or []
        point = CurvePoint(
            progress.env_steps,
            progress.wall_s,
            sum(result.success for result in results),
            len(results),
            progress.updates,
        )
        self.curve.append(point)
        self.evaluating = None
        self.next_eval_at = point.env_steps + self.schedule.eval_every_steps
        write_curve(self.out / CURVE_FILE, self.curve)
        plot_curve(self.out / PLOT_FILE, self.curve, f"residual TD3 on {self.task}")


main = NodeMain(TrainingDriver)
