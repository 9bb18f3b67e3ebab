"""The tuning section of a training report: what each cell's tuning found and what it cost.

From the tidy runs frame of a suite's tuning trials (role ``"tuning"``, ``split == "val"``):

- per cell: trials completed / diverged / failed, the best trial's validation accuracy (the
  score of :func:`benchmark.tune.trial_score`: diverged = 0, failed = not scored; ties go to
  the first trial in draw order, :func:`benchmark.tune.trial_order`, as in
  :func:`benchmark.tune.tell_and_select`), its point (the hyper-parameters that vary across
  the cell's trials) and the tuning compute (training + evaluation seconds of all the cell's
  trials);
- per optimizer: its total tuning compute over every cell, so the cost of tuning each
  optimizer can be compared.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from benchmark.tune import trial_score
from report.render import table_section
from report.section import Section, html_table, markdown_table

CELL = ["model", "dataset", "optimizer"]
TITLE = "Tuning"


def _score(row: Any) -> float:
    summary = {k[len("summary.") :]: v for k, v in row.items() if k.startswith("summary.")}
    summary = {k: v for k, v in summary.items() if isinstance(v, float) and not math.isnan(v)}
    score = trial_score((row["status"], summary))
    return math.nan if score is None else score


def _point(best: dict[str, Any], trials: pd.Series) -> str:
    """``key=value`` of the hyper-parameters that vary across the cell's trials."""
    varying = sorted(k for k in best if len({repr(h.get(k)) for h in trials}) > 1)
    return ", ".join(
        f"{k}={best[k]:.4g}" if isinstance(best[k], float) else f"{k}={best[k]}" for k in varying
    )


def tuning_table(trials: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    """One row per cell (see the module docstring); ``order`` maps a trial's run id to its
    trial number (unknown ids sort last)."""
    trials = trials[trials["split"] == "val"] if "split" in trials else trials
    rows = []
    for key, group in trials.groupby(CELL, sort=True):
        group = group.assign(
            score=[_score(r) for _, r in group.iterrows()],
            number=[order.get(r, len(order)) for r in group["run_id"]],
        )
        scored = group.dropna(subset=["score"]).sort_values(["number", "run_id"])
        best = scored.loc[scored["score"].idxmax()] if not scored.empty else None
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                "trials": len(group),
                "diverged": int((group["status"] == "diverged").sum()),
                "failed": int((group["status"] == "failed").sum()),
                "best val acc": float(best["score"]) if best is not None else math.nan,
                "best point": _point(best["hparams"], group["hparams"]) if best is not None else "",
                "tuning seconds": float((group["train_seconds"] + group["eval_seconds"]).sum()),
            }
        )
    return pd.DataFrame(rows)


def tuning_section(trials: pd.DataFrame, order: dict[str, int]) -> Section:
    """The tuning section: the per-cell table and each optimizer's total tuning compute."""
    if trials.empty:
        return table_section(TITLE, "No tuning trials in the store yet.", pd.DataFrame())
    table = tuning_table(trials, order)
    cost = table.groupby("optimizer", sort=True)["tuning seconds"].sum().reset_index()
    intro = (
        "Every optimizer of a cell got the same trials (seeded Sobol points of its search space, "
        "drawn up front) of the same epochs, scored on the validation split; a diverged trial "
        "scores 0. The final runs use each cell's best point. Tuning seconds: training + "
        "evaluation time of all the cell's trials."
    )
    section = table_section(TITLE, intro, table)
    totals = "Tuning compute per optimizer, over all cells:"
    return Section(
        TITLE,
        f"{section.markdown}\n\n{totals}\n\n{markdown_table(cost)}",
        f"{section.html}\n<p>{totals}</p>\n{html_table(cost)}",
    )
