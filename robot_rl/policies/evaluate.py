"""``robot-rl eval``: run a frozen base policy in the simulated graph and report its success rate.

The graph is ``launch/sim_base.launch.yaml`` on the in-process backend (sim -> perception -> base
policy -> safety -> sim, in lockstep). An :class:`EpisodeMonitor` node listens to the episode
events (and, for the first episodes, the camera) to collect per-episode results and videos.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.episode_events import parse_episode_event
from robot_rl.errors import PolicyError
from robot_rl.runtime import SENSOR_DATA, Node, msg
from robot_rl.runtime.backend import select_backend
from robot_rl.runtime.msg_numpy import image_to_numpy
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS
from robot_rl.stats import wilson_interval


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluated episode."""

    episode: int  # index in the run, from 0
    seed: int  # the sim seed of the episode
    success: bool  # the task's success check held before the horizon
    steps: int  # control steps until success or timeout


@dataclass
class EvalResult:
    """Success rate with its 95 % Wilson interval, mean episode length and per-episode results."""

    task: str  # robosuite task
    base: str  # the evaluated pretrained-policy directory
    episodes: list[EpisodeResult]  # per-episode results, in order
    wall_time_s: float  # wall time of the whole run, s
    videos: list[str] = field(default_factory=list)  # MP4 files written

    @property
    def successes(self) -> int:
        """Number of successful episodes."""
        return sum(result.success for result in self.episodes)

    @property
    def success_rate(self) -> float:
        """Fraction of successful episodes."""
        return self.successes / len(self.episodes) if self.episodes else 0.0

    @property
    def interval_95(self) -> tuple[float, float]:
        """95 % Wilson score interval of the success rate."""
        return wilson_interval(self.successes, len(self.episodes)) if self.episodes else (0.0, 1.0)

    @property
    def mean_steps(self) -> float:
        """Mean episode length in control steps."""
        return float(np.mean([result.steps for result in self.episodes])) if self.episodes else 0.0

    def to_json(self) -> str:
        """The result as JSON, with the summary figures first."""
        low, high = self.interval_95
        summary = {
            "task": self.task,
            "base": self.base,
            "episodes": len(self.episodes),
            "successes": self.successes,
            "success_rate": self.success_rate,
            "ci95": [low, high],
            "mean_steps": self.mean_steps,
            "wall_time_s": self.wall_time_s,
            "videos": self.videos,
            "per_episode": [asdict(result) for result in self.episodes],
        }
        return json.dumps(summary, indent=2)


class EpisodeMonitor(Node):
    """Collect episode outcomes from ``/robot_rl/episode``; record the camera of the first episodes."""

    def __init__(self, video_dir: Path | None = None, video_episodes: int = 0, fps: int = 20, **kwargs: Any) -> None:
        super().__init__("eval_monitor", **kwargs)
        self.results: list[EpisodeResult] = []
        self.seed: int | None = None
        self.video_dir = video_dir
        self.video_episodes = video_episodes if video_dir is not None else 0
        self.fps = fps
        self.writer: Any = None
        self.videos: list[str] = []
        self.on_result: Any = None  # called with each EpisodeResult (e.g. a progress bar)
        self.create_subscription(msg.String, "/robot_rl/episode", self.on_episode, 10)
        if self.video_episodes:
            self.create_subscription(msg.Image, "/camera/color/image_raw", self.on_image, SENSOR_DATA)

    def on_episode(self, event: Any) -> None:
        """Track starts and outcomes."""
        payload = parse_episode_event(event)
        if payload is None:
            return  # not an event of the sim; the sim's own events are well-formed
        kind = payload["event"]
        if kind == "start":
            self.seed = payload.get("seed")
            self._close_video()
            if len(self.results) < self.video_episodes and self.video_dir is not None:
                import imageio.v2 as imageio

                self.video_dir.mkdir(parents=True, exist_ok=True)
                path = self.video_dir / f"episode_{len(self.results):03d}.mp4"
                self.writer = imageio.get_writer(path, fps=self.fps, macro_block_size=1)
                self.videos.append(str(path))
        elif kind in ("success", "timeout") and self.seed is not None:
            result = EpisodeResult(len(self.results), int(self.seed), kind == "success", int(payload.get("steps", 0)))
            self.results.append(result)
            self.seed = None
            self._close_video()
            if self.on_result is not None:
                self.on_result(result)

    def on_image(self, image: Any) -> None:
        """Append a camera frame to the open video."""
        if self.writer is not None:
            self.writer.append_data(image_to_numpy(image))

    def _close_video(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def destroy_node(self) -> None:
        """Close an open video file."""
        self._close_video()
        super().destroy_node()


def evaluate(
    task: str,
    base: Path,
    episodes: int = 100,
    seed: int = 1000,
    horizon_steps: int | None = None,
    chunk_mode: str = "queue",
    segmenter: str = "rgbd_tabletop",
    video_dir: Path | None = None,
    video_episodes: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Run ``episodes`` episodes of the base policy at ``base`` and collect the results."""
    if episodes < 1:
        raise PolicyError(f"--episodes must be >= 1, got {episodes}")
    select_backend("inproc")
    from tqdm import tqdm

    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    arguments = {
        "task": task,
        "base": str(base),
        "episodes": str(episodes),
        "seed": str(seed),
        "horizon_steps": str(horizon_steps or RECOMMENDED_HORIZON_STEPS.get(task, 200)),
        "chunk_mode": chunk_mode,
        "segmenter": segmenter,
    }
    start = time.perf_counter()
    plan = read_launch_file(resolve_launch_path("robot_rl", "sim_base.launch.yaml"), arguments)
    context, nodes = build_inproc(plan)
    args = ["--ros-args", "-p", "use_sim_time:=true"]
    monitor = EpisodeMonitor(video_dir, video_episodes, context=context, cli_args=args)
    with tqdm(total=episodes, desc=f"eval {task}", unit="ep", disable=not progress) as bar:

        def on_result(result: EpisodeResult) -> None:
            bar.update(1)
            bar.set_postfix(successes=sum(r.success for r in monitor.results))

        monitor.on_result = on_result
        spin_inproc(context, [*nodes, monitor])
    return EvalResult(task, str(base), monitor.results, time.perf_counter() - start, monitor.videos)
