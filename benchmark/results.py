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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import BnnBenchError
from benchmark.store import Store
from benchmark.tasks.registry import get_task

#: the role a suite's final runs, tuning trials and runs at the defaults (``tuning.defaults``)
#: are linked with in the store's ``suite_runs``. A run is linked to a suite once, with the
#: role of the phase that first asked for it: a defaults run whose spec equals a tuned final
#: run's (the best point was the defaults) is one run, linked ``final``. So which row a run
#: belongs to is computed from the specs (:func:`current_runs`), never read from the role.
FINAL, TUNING, DEFAULTS = "final", "tuning", "defaults"
#: how a row of the defaults' runs names its optimizer: ``"adam (defaults)"``
#: (report/plotting.py strips it to colour the row like its optimizer)
DEFAULTS_SUFFIX = " (defaults)"
#: the ``variant`` of a final run's row: tuned (its cell's best point), or the registry
#: defaults (an untuned suite's final runs, and a tuned suite's ``tuning.defaults`` runs)
TUNED_VARIANT, DEFAULTS_VARIANT = "tuned", "defaults"


@dataclass
class CurrentRuns:
    """What a suite file asks for *now*: its final runs' ids, its tuning trials' ids, the
    tuning outcome (``None`` without tuning) and the ids of its runs at the defaults
    (``tuning.defaults``; they may share ids with the final runs). Runs that earlier versions
    of the file asked for stay in the store (and linked), but reports and ``show`` leave them
    out."""

    final_ids: set[str]
    trial_ids: set[str] = field(default_factory=set)
    tuning: Any = None
    planned: list[Any] = field(default_factory=list)
    defaults_ids: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        """Every run the suite asks for now."""
        return self.final_ids | self.trial_ids | self.defaults_ids


def defaults_specs(suite: Any, task: Any = None) -> list[Any]:
    """The runs ``tuning.defaults`` adds: the suite's final runs at the registry defaults
    (+ the suite's fixed ``hparams``), when it tunes and asks for them; else none."""
    task = task or get_task(suite.task)
    if not (task.tunes(suite) and getattr(suite.tuning, "defaults", False)):
        return []
    return list(task.final_specs(suite))


def current_runs(suite: Any, store: Store) -> CurrentRuns:
    """The runs ``suite`` asks for now; a tuned suite's final runs follow the best points
    the stored trials give (:func:`benchmark.tune.select`, as the run itself chose them)."""
    task = get_task(suite.task)
    if not task.tunes(suite):
        return CurrentRuns({s.run_id for s in task.final_specs(suite)})
    from benchmark.tune import planned_trials, select

    planned = planned_trials(suite)
    trial_ids = {spec.run_id for _, trials in planned for _, _, spec in trials}
    best = select(planned, store.outcomes(trial_ids))
    final = {s.run_id for s in task.final_specs(suite, best.best_params)}
    defaults = {s.run_id for s in defaults_specs(suite, task)}
    return CurrentRuns(final, trial_ids, best, planned, defaults)


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


def trials_frame(current: CurrentRuns, store: Store) -> pd.DataFrame:
    """One row per planned tuning trial: its cell, number, point (``param.<name>``), run id,
    stored status (``missing`` when not run yet) and score (:func:`benchmark.tune.trial_score`),
    and whether it is its cell's best."""
    from benchmark.tune import trial_score

    if not current.planned:
        return pd.DataFrame(
            columns=["model", "dataset", "optimizer", "trial", "run_id", "status", "score"]
        )
    outcomes = store.outcomes(current.trial_ids)
    rows = []
    for cell, trials in current.planned:
        best = current.tuning.best_params.get(cell.key) if current.tuning else None
        for number, point, spec in trials:
            outcome = outcomes.get(spec.run_id)
            score = trial_score(outcome)
            rows.append(
                {
                    "model": cell.model.name,
                    "dataset": cell.dataset.name,
                    "optimizer": cell.optimizer.name,
                    "trial": number,
                    **{f"param.{k}": v for k, v in sorted(point.items())},
                    "run_id": spec.run_id,
                    "status": outcome[0] if outcome else "missing",
                    "score": math.nan if score is None else score,
                    "best": best is not None and dict(point) == dict(best),
                }
            )
    return pd.DataFrame(rows)


@dataclass
class Results:
    """Tidy frames of a suite's (or a whole store's) stored results."""

    store_url: str
    runs: pd.DataFrame
    values: pd.DataFrame
    trials: pd.DataFrame
    suite: Any = None

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
    runs = final_rows(db.runs_frame(suite.name), current, grid=get_task(suite.task).grid)
    values = db.metrics_frame(list(dict.fromkeys(runs["run_id"])), names=metric_names)
    return Results(db.display_url, runs, values, trials_frame(current, db), suite)
