"""The learning curve of a residual training run: ``curve.csv`` (one row per evaluation of the deterministic
residual) and its plot ``curve.png`` (success vs env steps and vs wall time, with the base's rate as a line)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_rl.stats import wilson_interval

CURVE_FILE = "curve.csv"
PLOT_FILE = "curve.png"
CURVE_FIELDS = ("env_steps", "wall_s", "episodes", "successes", "success_rate", "ci_low", "ci_high", "updates")


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation of the deterministic residual."""

    env_steps: int  # training env steps before it
    wall_s: float  # training wall time before it, s
    successes: int  # successful episodes
    episodes: int  # evaluated episodes
    updates: int  # learner critic updates before it

    @property
    def success_rate(self) -> float:
        """Fraction of successful episodes."""
        return self.successes / self.episodes

    def row(self) -> dict[str, Any]:
        """The point as a curve.csv row."""
        low, high = wilson_interval(self.successes, self.episodes)
        return {
            "env_steps": self.env_steps,
            "wall_s": f"{self.wall_s:.1f}",
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": f"{self.success_rate:.4f}",
            "ci_low": f"{low:.4f}",
            "ci_high": f"{high:.4f}",
            "updates": self.updates,
        }


def read_curve(path: Path, up_to_steps: int) -> list[CurvePoint]:
    """The evaluations in curve.csv made at or before ``up_to_steps`` (a resumed run redoes the later ones)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        CurvePoint(int(r["env_steps"]), float(r["wall_s"]), int(r["successes"]), int(r["episodes"]), int(r["updates"]))
        for r in rows
        if int(r["env_steps"]) <= up_to_steps
    ]


def write_curve(path: Path, points: list[CurvePoint]) -> None:
    """Write curve.csv from scratch (small: one row per evaluation)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(point.row() for point in points)


def plot_curve(
    path: Path,
    points: list[CurvePoint],
    title: str,
    label: str = "base + residual (deterministic)",
    base_line: bool = True,
) -> None:
    """Success vs env steps and vs wall time, with 95 % Wilson bars and, with ``base_line``, the base's rate (the
    0-step point of a residual is the base alone)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    rates = [point.success_rate for point in points]
    intervals = [wilson_interval(point.successes, point.episodes) for point in points]
    errors = [
        [rate - low for rate, (low, _) in zip(rates, intervals, strict=True)],
        [high - rate for rate, (_, high) in zip(rates, intervals, strict=True)],
    ]
    for axis, xs, label in (
        (axes[0], [point.env_steps for point in points], "env steps"),
        (axes[1], [point.wall_s / 60.0 for point in points], "wall time, min"),
    ):
        axis.errorbar(xs, rates, yerr=errors, marker="o", capsize=3, label=label)
        if base_line and points and points[0].env_steps == 0:
            axis.axhline(points[0].success_rate, color="grey", linestyle="--", label="base alone (0 steps)")
        axis.set_xlabel(label)
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"success ({points[0].episodes if points else 0} unseen seeds, 95 % Wilson)")
    axes[0].legend(loc="lower right")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
