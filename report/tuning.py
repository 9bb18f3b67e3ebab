r"""The tuning section of a training report: what each cell's tuning did, found and cost.

Read from the trials frame (:func:`benchmark.results.trials_frame`: one row per *trial*) and
the :class:`benchmark.tune.TuningResult`. A trial is ``S = tuning.seeds_per_trial`` runs at
each rung it reached; its score is the mean final validation accuracy of its seeds at its
last rung, :math:`\bar a = \frac1S \sum_s a_s` (a diverged run scores 0), with the sample
standard deviation :math:`s = \sqrt{\frac{1}{S-1} \sum_s (a_s - \bar a)^2}` beside it.

- per cell (model x dataset x optimizer), :func:`tuning_table`: trials, of which diverged /
  failed (/ not run yet) / stopped early by halving; the best trial's score in points
  (``"93.1 ± 1.2 (3 seeds)"``: :math:`\bar a \pm s` when ``S > 1``) and point, as
  :func:`benchmark.tune.best_trial` picked them (the point the final runs use); the tuning
  epochs and seconds: sums over *every* run of the cell's trials (all seeds, all rungs,
  stopped trials included);
- per optimizer, :func:`compute_table`: the same compute summed over its cells, so what
  tuning each optimizer cost can be compared;
- the intro (:func:`tuning_intro`) says what was done, from the suite's ``tuning:``: the
  sampler, rounds, seeds per trial, halving's rungs and rule.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from benchmark.tune import TuningResult, describe_sampler, rung_epochs, trial_seeds
from report.blocks import Block, Paragraph, Section, Table
from report.markup import assignments, fixed, points

CELL = ["model", "dataset", "optimizer"]
TITLE = "Tuning"
TABLE_CAPTION = (
    "Per cell: trials by outcome; the best trial's validation accuracy in points (with several "
    "seeds per trial: mean ± sample sd over its seeds) and point; tuning epochs and seconds "
    "summed over every run of its trials."
)
COMPUTE_CAPTION = "Per optimizer: tuning epochs and seconds summed over its cells' trials."
#: the headers of the score and compute columns (their units)
BEST = "best val accuracy (points)"
EPOCHS = "tuning (epochs)"
SECONDS = "tuning (s)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def tuning_intro(suite: Any) -> str:
    """The section's first paragraph, built from ``suite.tuning`` and ``suite.tuning_epochs``:
    the budget, the sampler (:func:`benchmark.tune.describe_sampler`), what a trial is (``S`` seeds, score =
    their mean), halving's rungs :math:`r_0, r_0\\eta, \\dots, E` and rule (the best
    :math:`\\max(1, \\lfloor n/\\eta \\rfloor)` of a rung go on, decided at the rung's barrier),
    and that a diverged run scores 0."""
    t = suite.tuning
    epochs = int(suite.tuning_epochs)
    seeds = int(t.seeds_per_trial)
    parts = [
        f"Every optimizer of a cell got the same budget: {_plural(int(t.trials), 'trial')}; "
        f"points: {describe_sampler(t)}."
    ]
    seed_list = ", ".join(str(s) for s in trial_seeds(suite))
    if seeds > 1:
        parts.append(
            f"A trial is {seeds} runs of the same point with seeds {seed_list}; its score is "
            "their mean final validation accuracy (shown as mean ± sample standard deviation)."
        )
    else:
        parts.append(
            f"A trial is one run (seed {seed_list}); its score is its final validation accuracy."
        )
    halving = t.halving
    steps = rung_epochs(suite)
    if halving is not None and len(steps) > 1:
        eta = int(halving.eta)
        parts.append(
            "Synchronous successive halving: every trial of a round first runs "
            f"{_plural(steps[0], 'epoch')}; rungs at {', '.join(map(str, steps))} epochs (factor "
            f"{eta}). At each rung "
            f"the best 1/{eta} of the round's trials there, by score (at least one; ties: the lower "
            "trial number) go on to the next, the rest stop; decisions are taken at rung "
            "barriers, once every run of the rung is stored, so they depend on scores alone. A "
            "stopped trial keeps its last rung's score (at fewer epochs) and its runs count in "
            "the tuning cost."
        )
    else:
        parts.append(f"Every trial runs {_plural(epochs, 'epoch')}.")
    parts.append(
        "Scored on the validation split; a diverged run scores 0 and a failed run fails its "
        "trial. The final runs use each cell's best point: the best trial that ran the full "
        f"{_plural(epochs, 'epoch')}. Tuning epochs and seconds (training + evaluation): sums "
        "over all runs of the cell's trials, every seed and rung, stopped trials included."
    )
    return " ".join(parts)


def best_score_text(score: float, sd: float, seeds: int) -> str:
    """The best trial's score as the table shows it, in points: ``"93.1 ± 1.2 (3 seeds)"``
    with more than one seed (``n/a`` for an undefined sd), ``"93.1"`` with one."""
    if seeds > 1 and not math.isnan(score):
        return f"{points(score)} ± {points(sd)} ({seeds} seeds)"
    return points(score)


def _count(group: pd.DataFrame, status: str) -> int:
    return int((group["status"] == status).sum()) if "status" in group else 0


def _sum(group: pd.DataFrame, column: str) -> float:
    if column not in group:
        return math.nan
    return float(pd.to_numeric(group[column], errors="coerce").fillna(0).sum())


def _best_row(group: pd.DataFrame) -> pd.Series | None:
    if "best" not in group:
        return None
    best = group[group["best"].fillna(False).astype(bool)]
    return best.iloc[0] if not best.empty else None


def tuning_table(
    trials: pd.DataFrame, result: TuningResult, *, halving: bool = False
) -> pd.DataFrame:
    """One row per cell of the trials frame (module docstring): ``model, dataset, optimizer,
    trials, diverged, failed`` (``not run``: when a trial is missing), ``stopped early``
    (``halving`` only), :data:`BEST` (points), ``best point``, :data:`EPOCHS`,
    :data:`SECONDS` (a number; the section prints it with one decimal). Counts are of trials
    (a trial's status is its runs' worst at its last rung)."""
    missing = bool((trials["status"] == "missing").any()) if "status" in trials else False
    rows = []
    for key, group in trials.groupby(CELL, sort=True):
        cell = "/".join(map(str, key))
        best = _best_row(group)
        if best is not None:
            seeds = int(best.get("seeds", 1) or 1)
            sd = float(best.get("score_sd", math.nan))
            score = best_score_text(float(best["score"]), sd, seeds)
        else:
            score = points(result.best_score.get(cell, math.nan))
        row: dict[str, Any] = {
            **dict(zip(CELL, key, strict=True)),
            "trials": len(group),
            "diverged": _count(group, "diverged"),
            "failed": _count(group, "failed"),
        }
        if missing:
            row["not run"] = _count(group, "missing")
        if halving:
            stopped = group["stopped"] if "stopped" in group else pd.Series(dtype=bool)
            row["stopped early"] = int(stopped.fillna(False).astype(bool).sum())
        row |= {
            BEST: score,
            "best point": assignments(dict(sorted(result.best_params.get(cell, {}).items()))),
            EPOCHS: int(_sum(group, "epochs_spent")),
            SECONDS: _sum(group, "seconds"),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def compute_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer, over all its cells (rows of :func:`tuning_table`): ``cells``,
    ``trials``, :data:`EPOCHS`, :data:`SECONDS` (sums)."""
    if table.empty:
        return pd.DataFrame(columns=["optimizer", "cells", "trials", EPOCHS, SECONDS])
    grouped = table.groupby("optimizer", sort=True)
    out = grouped.agg(
        cells=("trials", "size"),
        trials=("trials", "sum"),
        **{EPOCHS: (EPOCHS, "sum"), SECONDS: (SECONDS, "sum")},
    )
    return out.reset_index()


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as the section prints it: ``model`` and ``dataset`` as one ``cell`` column
    (``mlp/digits``, as in the other sections), :data:`SECONDS` with one decimal."""
    out = table.assign(**{SECONDS: table[SECONDS].map(lambda v: fixed(v, 1))})
    if {"model", "dataset"} <= set(out.columns):
        cell = out["model"].astype(str) + "/" + out["dataset"].astype(str)
        out = out.drop(columns=["model", "dataset"])
        out.insert(0, "cell", cell)
    return out


def tuning_section(suite: Any, trials: pd.DataFrame | None, result: TuningResult) -> Section:
    """The tuning section: the intro (:func:`tuning_intro`), the per-cell table and each
    optimizer's total tuning compute. ``suite``: the suite (its ``tuning`` and
    ``tuning_epochs``); ``trials``: :func:`benchmark.results.trials_frame`."""
    intro = Paragraph(tuning_intro(suite))
    if trials is None or trials.empty:
        return Section(
            TITLE, [intro, Paragraph("No tuning trials in the store yet."), Table(pd.DataFrame())]
        )
    table = tuning_table(trials, result, halving=suite.tuning.halving is not None)
    blocks: list[Block] = [
        intro,
        Table(_shown(table), caption=TABLE_CAPTION),
        Paragraph("Tuning compute per optimizer, over all cells (every run of every trial):"),
        Table(_shown(compute_table(table)), caption=COMPUTE_CAPTION),
    ]
    return Section(TITLE, blocks)
