"""Reading results back: what a suite asks for now, and the tidy frames of what was stored.

:func:`load_results` is the entry point for notebooks and scripts (the CLI's ``show`` and the
report read through the same functions)::

    from benchmark import load_results

    res = load_results("quick")            # a shipped suite's name, a suite file, or a Suite
    res.runs                               # one row per final run (spec columns, summary.*,
                                           # variant: "tuned" or "defaults")
    res.metrics                            # one row per run and evaluation (wide)
    res.values                             # the same values, one row each (long, tidy)
    res.trials                             # one row per tuning trial: point, status, score
    load_results("results/quick/bnnbench.db")   # every run in a store, no suite needed

The store is opened read-only: reading never creates or changes anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.current import DEFAULTS as DEFAULTS
from benchmark.current import FINAL as FINAL
from benchmark.current import TUNING as TUNING
from benchmark.current import CurrentRuns as CurrentRuns
from benchmark.current import current_runs as current_runs
from benchmark.current import defaults_specs as defaults_specs
from benchmark.errors import BnnBenchError
from benchmark.store import Store
from benchmark.tasks.registry import get_task

#: how a row of the defaults' runs names its optimizer: ``"adam (defaults)"``
#: (report/plotting.py strips it to colour the row like its optimizer)
DEFAULTS_SUFFIX = " (defaults)"
#: the ``variant`` of a final run's row: tuned (its cell's best point), or the registry
#: defaults (an untuned suite's final runs, and a tuned suite's ``tuning.defaults`` runs)
TUNED_VARIANT, DEFAULTS_VARIANT = "tuned", "defaults"


def final_rows(linked: pd.DataFrame, current: CurrentRuns, *, grid: bool = True) -> pd.DataFrame:
    """The rows of a suite's final runs, from ``linked`` (its runs frame, every role): its
    final runs (``variant`` ``"tuned"``, or ``"defaults"`` when it does not tune), then its
    runs at the defaults (``tuning.defaults``; ``variant`` ``"defaults"``, ``optimizer``
    ``"<name> (defaults)"``). A run in both (the best point was the defaults) is stored once
    and gives one row of each. ``grid``: a task with a model x dataset grid (others get no
    ``variant`` column)."""
    main = linked[linked["run_id"].isin(current.final_ids)]
    if not grid:
        return main.reset_index(drop=True)
    main = main.assign(variant=TUNED_VARIANT if current.tuning is not None else DEFAULTS_VARIANT)
    extra = linked[linked["run_id"].isin(current.defaults_ids)]
    if extra.empty:
        return main.reset_index(drop=True)
    extra = extra.assign(
        optimizer=extra["optimizer"].astype(str) + DEFAULTS_SUFFIX, variant=DEFAULTS_VARIANT
    )
    return pd.concat([main, extra], ignore_index=True)


def wide_metrics(values: pd.DataFrame) -> pd.DataFrame:
    """One row per ``(run_id, step)`` (with its ``epoch``), one column per metric: dataset
    metrics as ``"<split>/<name>"`` (``test/accuracy``), the rest by name (``lr``,
    ``flip_rate``, ``flip_rate/<layer>``)."""
    if values.empty:
        return pd.DataFrame(columns=["run_id", "step", "epoch"])
    column = values["name"].where(values["split"] == "", values["split"] + "/" + values["name"])
    frame = values.assign(metric=column).pivot_table(
        index=["run_id", "step"], columns="metric", values="value", aggfunc="first"
    )
    epochs = values.groupby(["run_id", "step"])["epoch"].first()
    frame.insert(0, "epoch", epochs)
    frame.columns.name = None
    return frame.reset_index()


TRIAL_COLUMNS = [
    "model", "dataset", "optimizer", "trial", "status", "score", "score_sd", "seeds", "rung",
    "epochs", "stopped", "epochs_spent", "seconds", "run_id", "best",
]  # fmt: skip
"""The columns of :func:`trials_frame` (plus one ``param.<name>`` per tuned key)."""


def trials_frame(
    current: CurrentRuns, store: Store, runs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per tuning trial the studies hold: its cell, number, point (``param.<name>``),
    ``status`` (of its runs at the last rung it reached: ``missing`` > ``failed`` >
    ``diverged`` > ``completed``), ``score`` (the mean validation accuracy of its seeds there,
    :mod:`benchmark.tune.trials`), ``score_sd`` (their sample standard deviation; NaN with one
    seed), ``seeds``, ``rung`` (rungs reached, 1-based) and its ``epochs``, ``stopped`` (by
    halving), ``epochs_spent`` and ``seconds`` (training + evaluation) over all its stored
    runs, ``run_id`` (its first run at the last rung) and whether it is its cell's ``best``.
    ``runs``: the suite's runs frame, if at hand (read from ``store`` otherwise)."""
    tuning = current.tuning
    if tuning is None or not any(tuning.trials.values()):  # e.g. its studies were deleted
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    outcomes = store.outcomes(current.trial_ids)
    if runs is None:
        runs = store.runs_frame()
    spent = runs.drop_duplicates("run_id").set_index("run_id")
    seconds = (spent["train_seconds"] + spent["eval_seconds"]).astype(float).to_dict()
    rows = []
    for key, trials in tuning.trials.items():
        cell = tuning.cells[key]
        for trial in trials:
            last = trial.last
            rows.append(
                {
                    "model": cell.model.name,
                    "dataset": cell.dataset.name,
                    "optimizer": cell.optimizer.name,
                    "trial": trial.number,
                    **{f"param.{k}": v for k, v in sorted(trial.point.items())},
                    "status": last.status,
                    "score": math.nan if trial.score is None else trial.score,
                    "score_sd": last.spread,
                    "seeds": len(last.specs),
                    "rung": len(trial.rungs),
                    "epochs": last.epochs,
                    "stopped": trial.stopped,
                    "epochs_spent": trial.epochs_spent(outcomes),
                    "seconds": float(sum(seconds.get(s.run_id, 0.0) for s in trial.specs)),
                    "run_id": last.specs[0].run_id,
                    "best": tuning.best_trial.get(key) == trial.number,
                }
            )
    frame = pd.DataFrame(rows)
    params = sorted(c for c in frame.columns if c.startswith("param."))
    return frame[TRIAL_COLUMNS[:4] + params + TRIAL_COLUMNS[4:]]


@dataclass
class Results:
    """Tidy frames of a suite's (or a whole store's) stored results."""

    store_url: str
    runs: pd.DataFrame
    values: pd.DataFrame
    trials: pd.DataFrame
    suite: Any = None
    #: the tuning outcome (:class:`benchmark.tune.TuningResult`; ``None`` without tuning)
    tuning: Any = None

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per run and evaluation (:func:`wide_metrics` of :attr:`values`)."""
        return wide_metrics(self.values)


def _is_store_url(text: str) -> bool:
    return "://" in text or text.endswith((".db", ".sqlite", ".sqlite3"))


def load_results(
    suite_or_store: Any,
    *,
    results_dir: str | Path = "results",
    store: str | None = None,
    metric_names: list[str] | None = None,
) -> Results:
    """The stored results of a suite (a :class:`~benchmark.suite.Suite`, a suite file, or a
    shipped suite's name), or of every run in a store (a database URL or a ``.db`` path).

    For a suite: its final runs as the file asks for them now (:func:`final_rows`: with
    ``tuning.defaults``, the runs at the defaults too, as rows named ``"<optimizer>
    (defaults)"``; column ``variant``), their metrics and its tuning trials; ``store``
    overrides the suite's database URL. ``metric_names`` limits the metrics loaded (all by
    default). Raises :class:`BnnBenchError` when there is no store.
    """
    from benchmark.suite import Suite, load_suite, suite_database_url

    if isinstance(suite_or_store, str) and _is_store_url(suite_or_store) and store is None:
        url = suite_or_store if "://" in suite_or_store else f"sqlite:///{suite_or_store}"
        db = Store(url, read_only=True)
        runs = db.runs_frame()
        values = db.metrics_frame(list(runs["run_id"]), names=metric_names)
        trials = db.runs_frame()
        return Results(db.display_url, runs, values, trials.iloc[0:0])
    if isinstance(suite_or_store, Suite):
        suite = suite_or_store
    elif isinstance(suite_or_store, str | Path):
        from benchmark.suite_files import resolve_suite_path

        suite = load_suite(resolve_suite_path(str(suite_or_store)))
    else:
        raise BnnBenchError(
            f"load_results: expected a suite, a suite file or a store URL, got "
            f"{type(suite_or_store).__name__}"
        )
    db = Store(store or suite_database_url(suite, results_dir), read_only=True)
    current = current_runs(suite, db)
    linked = db.runs_frame(suite.name)
    runs = final_rows(linked, current, grid=get_task(suite.task).grid)
    values = db.metrics_frame(list(dict.fromkeys(runs["run_id"])), names=metric_names)
    trials = trials_frame(current, db, linked)
    return Results(db.display_url, runs, values, trials, suite, current.tuning)
