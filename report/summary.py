r"""The final runs of a runs frame, and the small accuracy table of ``bnnbench show`` as a
frame (for PostgreSQL stores and the task interface; the numbers are
:mod:`report.show_table`'s, which documents them: per cell, seeds, diverged and failed runs,
the final test accuracy's mean, sd and 95% Student-t interval, seconds per run).
"""

from __future__ import annotations

import pandas as pd


def final_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Training runs scored on the test split."""
    if runs.empty or "task" not in runs:
        return runs.iloc[0:0]
    train = runs[runs["task"] == "train"]
    if "split" in train:
        train = train[train["split"] == "test"]
    return train


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: seeds, statuses, final test accuracy mean/std/CI, mean seconds
    (:data:`report.show_table.RAW`), computed by :func:`report.show_table.accuracy_rows`, the
    plain-Python table of ``show``'s light path: one implementation for both of its paths."""
    from report.show_table import accuracy_rows

    return pd.DataFrame(accuracy_rows(runs.to_dict("records") if not runs.empty else []))
