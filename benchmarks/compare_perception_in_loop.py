"""Side by side, runs of benchmarks/perception_in_loop.py on the same task and seeds (e.g. before and after a change).

    .venv/bin/python benchmarks/compare_perception_in_loop.py LABEL=RUN.json [LABEL=RUN.json ...]

Each RUN.json is the benchmark's ``--out`` file. Prints one Markdown row per phase (approach, contact, lifted,
all) with, per run: visible object-ticks without a present slot within 2 cm (in brackets, where the report has it:
without any slot, present or kept with a stale presence, within 2 cm), slot error median / p95, identity changes
per episode. Files of different tasks, seeds or episode counts are refused: one ``error:`` line, exit 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

PHASES = ("approach", "contact", "lifted", "all")


def cell(run: dict[str, Any], phase: str) -> str:
    """One run's figures of one phase."""
    row = run["all"] if phase == "all" else run["phases"][phase]
    lost = row.get("lost_visible_rate")  # absent from reports before the benchmark measured it
    kept = f" ({100 * lost:.0f} %)" if lost is not None and math.isfinite(lost) else ""
    return (
        f"{100 * row['missed_visible_rate']:.0f} %{kept}, {row['error_median_cm']:.1f} / {row['error_p95_cm']:.1f} cm,"
        f" {row['identity_changes_per_episode']:.2f}"
    )


def read_runs(specs: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``LABEL=PATH`` arguments -> (label, report); raises ValueError on a bad argument or mismatched runs."""
    runs = []
    for spec in specs:
        label, separator, path = spec.partition("=")
        if not separator or not label or not path:
            raise ValueError(f"expected LABEL=RUN.json, got {spec!r}")
        try:
            runs.append((label, json.loads(Path(path).read_text())))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read {path}: {error}") from error
    keys = {(run.get("task"), str(run.get("seeds")), run.get("episodes")) for _, run in runs}
    if len(keys) != 1:
        raise ValueError(f"the runs differ in task, seeds or episodes: {sorted(map(str, keys))}")
    return runs


def main() -> None:
    """Print the comparison as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN.json, in column order")
    args = parser.parse_args()
    try:
        runs = read_runs(args.runs)
        rows = [[cell(run, phase) for _, run in runs] for phase in PHASES]
    except ValueError as error:
        sys.exit(f"error: {error}")
    except (KeyError, TypeError) as error:
        sys.exit(f"error: not a perception_in_loop.py report (phases, all): {error!r}")
    task = runs[0][1]["task"]
    print("Per run: visible object-ticks without a slot within 2 cm (in brackets: nor a kept one, where measured),")
    print("slot error median / p95, identity changes per episode.\n")
    print("| task | phase | " + " | ".join(label for label, _ in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for phase, cells in zip(PHASES, rows, strict=True):
        print(f"| {task} | {phase} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
