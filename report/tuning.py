"""The tuning section of a training report: what each cell's tuning found and what it cost.

From the tidy runs frame of a suite's tuning trials (role ``"tuning"``, ``split == "val"``):

- per cell: trials (of which diverged / failed), the best trial's validation accuracy and
  point as :func:`benchmark.tune.select` picks them (the same selection the final runs use),
  and the tuning compute (training + evaluation seconds of all the cell's trials);
- per optimizer: its total tuning compute over every cell, so the cost of tuning each
  optimizer can be compared.
"""

from __future__ import annotations

import math

import pandas as pd

from benchmark.tune import TuningResult
from report.blocks import Paragraph, Section, Table
from report.markup import assignments

CELL = ["model", "dataset", "optimizer"]
TITLE = "Tuning"
INTRO = (
    "Every optimizer of a cell got the same trials (seeded Sobol points of its search space, "
    "drawn up front) of the same epochs, scored on the validation split; a diverged trial "
    "scores 0. The final runs use each cell's best point. Tuning seconds: training + "
    "evaluation time of all the cell's trials."
)


def tuning_table(trials: pd.DataFrame, result: TuningResult) -> pd.DataFrame:
    """One row per cell (see the module docstring)."""
    trials = trials[trials["split"] == "val"] if "split" in trials else trials
    rows = []
    for key, group in trials.groupby(CELL, sort=True):
        cell = "/".join(key)
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                "trials": len(group),
                "diverged": int((group["status"] == "diverged").sum()),
                "failed": int((group["status"] == "failed").sum()),
                "best val acc": result.best_score.get(cell, math.nan),
                "best point": assignments(dict(sorted(result.best_params.get(cell, {}).items()))),
                "tuning seconds": float((group["train_seconds"] + group["eval_seconds"]).sum()),
            }
        )
    return pd.DataFrame(rows)


def tuning_section(trials: pd.DataFrame, result: TuningResult) -> Section:
    """The tuning section: the per-cell table and each optimizer's total tuning compute."""
    if trials.empty:
        return Section(
            TITLE, [Paragraph("No tuning trials in the store yet."), Table(pd.DataFrame())]
        )
    table = tuning_table(trials, result)
    cost = table.groupby("optimizer", sort=True)["tuning seconds"].sum().reset_index()
    return Section(
        TITLE,
        [
            Paragraph(INTRO),
            Table(table),
            Paragraph("Tuning compute per optimizer, over all cells:"),
            Table(cost),
        ],
    )
