"""Pinned hyper-parameters: train a tuned suite's final runs at a baseline's tuned points.

``bnnbench run SUITE --hparams-from BASELINE`` (``run_suite(..., hparams_from=BASELINE)``)
reads each cell's best point from the baseline's ``summary.json`` (``task.tuning.cells[key]
.best_params``, ``key`` = ``model/dataset/optimizer``), runs **no tuning trials**, and trains
the final runs at exactly those points: the same run specs (and run ids) that the baseline's
own tuning led to. So the numbers the nightly gate compares are decided by the code, not by
which point a tuning run on another machine happened to pick (docs/nightly.md).

``BASELINE`` is a ``summary.json`` file or a report folder holding one. Every cell the suite
tunes must have a point in it: a missing cell is a one-line error naming it (refresh the
baseline when the suite gains a cell). The report and its ``summary.json`` say where the
points came from (``suite.hparams_from``: the path, the baseline's ``generated_at`` and git
commits); the summary's ``task.tuning`` holds the pinned points (so a pinned run's summary
can pin the next one) with no trials and no score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BnnBenchError


@dataclass(frozen=True)
class Pin:
    """Each cell's pinned point (``points``, by cell key), the baseline's best validation score
    of it (``scores``, for reading only) and where they came from (``source``: the path as
    given; ``generated_at`` and ``git_commits`` of the baseline)."""

    source: str
    points: dict[str, dict[str, Any]]
    scores: dict[str, float | None]
    generated_at: str | None = None
    git_commits: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """What ``summary.json`` records as ``suite.hparams_from``."""
        return {
            "path": self.source,
            "generated_at": self.generated_at,
            "git_commits": list(self.git_commits),
            "cells": len(self.points),
        }

    def note(self) -> str:
        """One sentence for the run's log and the report's header."""
        return (
            f"hyper-parameters pinned from {self.source} (the baseline's tuned point of each of "
            f"{len(self.points)} cells; no tuning trials run; docs/nightly.md)"
        )


def read_baseline(source: str | Path) -> dict[str, Any]:
    """The summary document in ``source`` (a ``summary.json`` file or a report folder),
    resolved and read as ``compare`` reads a summary (one-line errors)."""
    from report.compare import read_summary, summary_path

    return read_summary(summary_path(source, "--hparams-from: "))


def load_pin(source: str | Path, suite: Any) -> Pin:
    """The points of ``source`` for every cell ``suite`` tunes, or a one-line
    :class:`BnnBenchError`: a suite that does not tune, a baseline with no tuned points or
    without a point for one of the suite's cells."""
    from benchmark.suite import cells

    if not getattr(getattr(suite, "tuning", None), "trials", 0):
        raise BnnBenchError(
            f"--hparams-from: suite '{suite.name}' does not tune (tuning.trials is 0): its final "
            "runs use the registry defaults, there is nothing to pin"
        )
    document = read_baseline(source)
    tuned = _tuned_cells(document)
    if not tuned:
        raise BnnBenchError(
            f"--hparams-from: '{source}' holds no tuned points (task.tuning.cells is missing or "
            "empty: the summary of a suite that tuned is needed)"
        )
    keys = [cell.key for cell in cells(suite)]
    missing = [k for k in keys if not isinstance(tuned.get(k, {}).get("best_params"), Mapping)]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise BnnBenchError(
            f"--hparams-from: '{source}' has no tuned point for {len(missing)} of suite "
            f"'{suite.name}''s {len(keys)} cells ({', '.join(missing[:3])}{more}); refresh the "
            "baseline from a tuned run of this suite"
        )
    environment = document.get("environment") or {}
    return Pin(
        source=str(source),
        points={k: dict(tuned[k]["best_params"]) for k in keys},
        scores={k: tuned[k].get("best_score") for k in keys},
        generated_at=document.get("generated_at"),
        git_commits=tuple(str(c) for c in environment.get("git_commits") or ()),
    )


def _tuned_cells(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    task = document.get("task")
    tuning = task.get("tuning") if isinstance(task, Mapping) else None
    found = tuning.get("cells") if isinstance(tuning, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, Mapping)}


def pinned_tuning(suite: Any, pin: Pin) -> Any:
    """A :class:`benchmark.tune.TuningResult` holding the pinned points and no trials (the
    report's tuning section says no trial ran; ``summary.json`` keeps the points)."""
    from benchmark.suite import cells
    from benchmark.tune import TuningResult

    result = TuningResult()
    for cell in cells(suite):
        result.best_params[cell.key] = dict(pin.points[cell.key])
        result.counts[cell.key] = {"completed": 0, "diverged": 0, "failed": 0, "missing": 0}
        result.trials[cell.key] = []
        result.cells[cell.key] = cell
    return result


def pinned_current_runs(suite: Any, pin: Pin) -> Any:
    """What a pinned run of ``suite`` asks for (:class:`benchmark.results.CurrentRuns`): the
    final runs at the pinned points, no trials, and the runs at the defaults
    (``tuning.defaults``) as usual."""
    from benchmark.results import CurrentRuns, defaults_specs
    from benchmark.tasks.registry import get_task

    task = get_task(suite.task)
    final = {s.run_id for s in task.final_specs(suite, pin.points)}
    defaults = {s.run_id for s in defaults_specs(suite, task)}
    return CurrentRuns(final, set(), pinned_tuning(suite, pin), defaults_ids=defaults)


__all__ = ["Pin", "load_pin", "pinned_current_runs", "pinned_tuning", "read_baseline"]
