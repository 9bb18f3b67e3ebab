r"""The small accuracy table of ``bnnbench show`` (the report's numbers: report/analysis.py).

Per cell (model x dataset x optimizer), over its seeds (final runs, ``split == "test"``):

- final test accuracy: mean, standard deviation (ddof 1), 95% Student-t interval of the mean
  (:func:`report.inference.mean_interval`; none with one seed); diverged runs count with
  their last measured accuracy (never silently dropped), and failed runs are listed apart;
- mean wall time per run (training + evaluation).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from report.inference import mean_interval

CELL = ["model", "dataset", "optimizer"]


def final_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Training runs scored on the test split."""
    if runs.empty or "task" not in runs:
        return runs.iloc[0:0]
    train = runs[runs["task"] == "train"]
    if "split" in train:
        train = train[train["split"] == "test"]
    return train


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: seeds, statuses, final test accuracy mean/std/CI, mean seconds."""
    rows = []
    for key, group in final_runs(runs).groupby(CELL, sort=True):
        ok = group[group["status"] != "failed"]
        acc = ok.get("summary.final_test_accuracy", pd.Series(dtype=float)).astype(float).to_numpy()
        interval = mean_interval(acc)
        low, high = interval.ci_low, interval.ci_high
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                "seeds": len(group),
                "diverged": int((group["status"] == "diverged").sum()),
                "failed": int((group["status"] == "failed").sum()),
                "test_acc_mean": float(np.nanmean(acc)) if acc.size else math.nan,
                "test_acc_std": float(np.std(acc, ddof=1)) if acc.size > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "seconds": float((group["train_seconds"] + group["eval_seconds"]).mean()),
            }
        )
    return pd.DataFrame(rows)
