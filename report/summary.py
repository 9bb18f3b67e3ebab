r"""The training-suite summary: final accuracy per cell and speed of convergence.

Per cell (model x dataset x optimizer), over its seeds (final runs, ``split == "test"``):

- final test accuracy: mean, standard deviation (ddof 1), 95% percentile-bootstrap CI of the
  mean; diverged runs count with their last measured accuracy (never silently dropped), and
  failed runs are listed apart;
- steps to target: the first evaluation step at which test accuracy reaches the target
  (the mean final test accuracy of the reference optimizer's *completed* runs in that cell;
  no target when none completed); a run that never reaches it counts as its full budget (the
  cell's longest curve) and is marked; a diverged run never reaches it, whatever its curve
  showed before it blew up; ``speedup`` = reference mean steps / optimizer mean steps (> 1:
  faster than the reference);
- mean wall time per run (training + evaluation).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from report.stats import bootstrap_ci

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
        low, high = bootstrap_ci(acc)
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


def steps_to_target(curve: pd.DataFrame, target: float) -> tuple[float, bool]:
    """First step whose test accuracy >= ``target``; ``(last step, False)`` if never reached."""
    curve = curve.sort_values("step")
    hit = curve[curve["value"] >= target]
    if not hit.empty:
        return float(hit["step"].iloc[0]), True
    return (float(curve["step"].iloc[-1]) if not curve.empty else math.nan), False


def convergence_table(runs: pd.DataFrame, metrics: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per cell: target, mean steps to target, runs reaching it, speedup vs ``reference``."""
    finals = final_runs(runs)
    finals = finals[finals["status"] != "failed"]
    if finals.empty:
        return pd.DataFrame()
    test_acc = metrics[(metrics["split"] == "test") & (metrics["name"] == "accuracy")]
    curves = dict(tuple(test_acc.groupby("run_id")))
    empty = test_acc.iloc[0:0]
    rows = []
    for (model, dataset), cell in finals.groupby(["model", "dataset"], sort=True):
        ref = cell[cell["optimizer"] == reference]
        if ref.empty:
            continue
        completed = ref[ref["status"] == "completed"]
        target = (
            float(completed["summary.final_test_accuracy"].astype(float).mean())
            if not completed.empty
            else math.nan
        )
        cell_curves = [curves.get(run_id, empty) for run_id in cell["run_id"]]
        budget = max((float(c["step"].max()) for c in cell_curves if not c.empty), default=math.nan)
        ref_steps = math.nan
        per_opt = []
        for optimizer, group in cell.groupby("optimizer", sort=True):
            steps, reached = [], 0
            for run_id, status in zip(group["run_id"], group["status"], strict=True):
                if math.isnan(target):
                    steps.append(math.nan)
                    continue
                s, ok = steps_to_target(curves.get(run_id, empty), target)
                if status == "diverged" or not ok:
                    s, ok = budget, False
                steps.append(s)
                reached += ok
            mean_steps = float(np.nanmean(steps)) if not np.isnan(steps).all() else math.nan
            if optimizer == reference:
                ref_steps = mean_steps
            per_opt.append((optimizer, mean_steps, reached, len(steps)))
        for optimizer, mean_steps, reached, n in per_opt:
            rows.append(
                {
                    "model": model,
                    "dataset": dataset,
                    "optimizer": optimizer,
                    "target_test_acc": target,
                    "steps_to_target": mean_steps,
                    "reached": f"{reached}/{n}",
                    "speedup_vs_reference": ref_steps / mean_steps if mean_steps else math.nan,
                }
            )
    return pd.DataFrame(rows)
