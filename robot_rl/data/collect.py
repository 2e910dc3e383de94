"""``robot-rl collect-demos``: scripted-expert demonstrations through the real graph into a LeRobotDataset.

The graph is ``launch/collect_demos.launch.yaml`` on the in-process backend (sim -> perception ->
expert -> safety -> sim, with the recorder), so demonstrations see exactly the observations a
policy will see: perception's slots, not privileged state. With ``slot_source="sim"`` the sim slot
source replaces the camera and perception (no rendering), for a base that will run in the
residual's training graph (``launch/train.launch.yaml``), which sees the same slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robot_rl.data.recorder_node import RecorderNode
from robot_rl.errors import DatasetError
from robot_rl.runtime.backend import select_backend
from robot_rl.sim.experts import RECOMMENDED_HORIZON_STEPS


@dataclass(frozen=True)
class CollectResult:
    """What a collection run produced."""

    saved_episodes: int  # episodes written to the dataset
    attempted_episodes: int  # episodes that ended (success or timeout)
    successes: int  # episodes that ended in success
    frames: int  # frames in the dataset
    out: Path  # the dataset directory
    stop_reason: str  # why the graph stopped


def collect_demos(
    task: str,
    episodes: int,
    out: Path,
    noise: float = 0.0,
    seed: int = 0,
    success_only: bool = True,
    use_image: bool = False,
    max_attempts: int | None = None,
    segmenter: str = "rgbd_tabletop",
    horizon_steps: int | None = None,
    progress: bool = True,
    slot_source: str = "perception",
    slot_noise: str = "none",
) -> CollectResult:
    """Run the expert until ``episodes`` episodes are saved or ``max_attempts`` (default 3x) have run.

    ``slot_source`` is ``perception`` (rendered camera) or ``sim`` (privileged object poses through the sim
    slot source, with the ``slot_noise`` model).
    """
    if episodes < 1:
        raise DatasetError(f"--episodes must be >= 1, got {episodes}")
    if slot_source not in ("perception", "sim"):
        raise DatasetError(f"--slot-source must be perception or sim, got {slot_source!r}")
    if slot_noise != "none" and slot_source != "sim":
        raise DatasetError(f"--slot-noise {slot_noise} needs --slot-source sim")
    attempts = max_attempts if max_attempts is not None else 3 * episodes
    select_backend("inproc")
    from tqdm import tqdm

    from robot_rl.runtime.launch_file import read_launch_file, resolve_launch_path
    from robot_rl.runtime.launcher import build_inproc, spin_inproc

    arguments = {
        "task": task,
        "out": str(out),
        "episodes": str(episodes),
        "max_attempts": str(attempts),
        "seed": str(seed),
        "noise": str(noise),
        "success_only": str(success_only).lower(),
        "use_image": str(use_image).lower(),
        "segmenter": segmenter,
        "slot_source": slot_source,
        "slot_noise": slot_noise,
        "horizon_steps": str(horizon_steps or RECOMMENDED_HORIZON_STEPS.get(task, 200)),
    }
    plan = read_launch_file(resolve_launch_path("robot_rl", "collect_demos.launch.yaml"), arguments)
    context, nodes = build_inproc(plan)
    recorder = next(node for node in nodes if isinstance(node, RecorderNode))
    outcomes: list[bool] = []
    with tqdm(total=episodes, desc=f"{task} demos", unit="ep", disable=not progress) as bar:

        def on_episode_end(success: bool, saved: bool) -> None:
            outcomes.append(success)
            bar.update(int(saved))
            bar.set_postfix(attempts=len(outcomes), successes=sum(outcomes))

        recorder.on_episode_end = on_episode_end
        spin_inproc(context, nodes)
    frames = recorder.recorder.dataset.meta.total_frames if recorder.recorder.saved_episodes else 0
    return CollectResult(
        saved_episodes=recorder.recorder.saved_episodes,
        attempted_episodes=len(outcomes),
        successes=sum(outcomes),
        frames=frames,
        out=out,
        stop_reason=context.shutdown_reason or "",
    )
