"""Tidy pandas views of runs and metrics: the one shape every report reads.

``runs`` frame: one row per run, columns ``run_id, task, status, started_at, finished_at,
train_seconds, eval_seconds, steps, message`` plus every top-level spec field as its own
column (``model, dataset, optimizer, seed, ...`` for training runs; the convex task's fields
for convex runs). Dict-valued spec fields (``hparams``, ``dataset_options``, ...) stay dicts.
Summary values are columns prefixed ``summary.``.

``metrics`` frame: one row per value, columns ``run_id, step, epoch, split, name, value``.

The results store (:mod:`benchmark.store`) returns exactly these frames; this module builds
them from in-memory :class:`~benchmark.records.RunRecord` objects too, so a report can be
rendered straight from a run without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from benchmark.records import RunRecord

RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "task",
    "status",
    "started_at",
    "finished_at",
    "train_seconds",
    "eval_seconds",
    "steps",
    "message",
)
METRIC_COLUMNS: tuple[str, ...] = ("run_id", "step", "epoch", "split", "name", "value")


def run_row(
    run_id: str,
    task: str,
    status: str,
    spec: Mapping[str, Any],
    summary: Mapping[str, float],
    **fields: Any,
) -> dict[str, Any]:
    """One row of the runs frame: run fields, then spec fields, then ``summary.*``."""
    row: dict[str, Any] = {"run_id": run_id, "task": task, "status": status, **fields}
    for key, value in spec.items():
        row.setdefault(key, value)
    for key, value in summary.items():
        row[f"summary.{key}"] = value
    return row


def records_to_frames(records: Iterable[RunRecord]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, metrics)`` frames (see the module docstring) from in-memory records."""
    run_rows: list[dict[str, Any]] = []
    metric_rows: list[tuple[str, int, float, str, str, float]] = []
    for rec in records:
        run_rows.append(
            run_row(
                rec.run_id,
                rec.task,
                rec.status,
                rec.spec,
                rec.summary,
                started_at=rec.started_at,
                finished_at=rec.finished_at,
                train_seconds=rec.train_seconds,
                eval_seconds=rec.eval_seconds,
                steps=rec.steps,
                message=rec.message,
            )
        )
        metric_rows.extend(
            (rec.run_id, m.step, m.epoch, m.split, m.name, m.value) for m in rec.metrics
        )
    runs = pd.DataFrame(run_rows, columns=None if run_rows else list(RUN_COLUMNS))
    metrics = pd.DataFrame(metric_rows, columns=list(METRIC_COLUMNS))
    return runs, metrics
