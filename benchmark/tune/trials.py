r"""What a trial is and how it scores, computed from the stored runs alone (no Optuna): the
same functions drive a tuning run and rebuild its outcome for ``show``, the report and
:func:`benchmark.load_results`.

A *trial* is one point of a cell's search space. It is ``tuning.seeds_per_trial`` runs at
each rung it reaches (:mod:`benchmark.tune.halving`; one rung of ``tuning.epochs`` without
halving), with seeds :math:`s_0, s_0 + 1, \dots` (:func:`trial_seeds`: :math:`s_0` =
:data:`TUNING_SEED_BASE` + ``tuning.seed``, a range of its own, apart from the final runs'
seeds), scored on the validation split:

- a run's score is its final validation accuracy; a diverged run (or one without a finite
  accuracy) scores :data:`WORST` = 0, never dropped;
- a trial's score at a rung is the mean of its seeds' scores there,
  :math:`\bar a = \frac1S \sum_s a_s` (its spread, the sample standard deviation, is kept);
  a run that failed (an error, not a result) fails the trial at that rung;
- the best trial of a cell is the highest score among the trials that reached the last rung,
  ties to the lower trial number; its point is the cell's tuned hyper-parameters.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark.records import RunSpec
from benchmark.suite import Cell, Suite, expand_tuning_trial
from benchmark.trial_seeds import TUNING_SEED_BASE, trial_seed_list
from benchmark.tune.halving import promote, rungs

TUNING_METRIC = "final_val_accuracy"
WORST = 0.0
"""The score of a diverged run: the worst possible validation accuracy."""
Outcomes = Mapping[str, tuple[str, Mapping[str, float]]]
"""``run_id -> (status, summary)`` of stored runs (:meth:`benchmark.store.Store.outcomes`)."""


def trial_score(outcome: tuple[str, Mapping[str, float]] | None) -> float | None:
    """The score of one run from its ``(status, summary)``: the final validation accuracy;
    :data:`WORST` if it diverged (or has no finite accuracy); ``None`` if it failed or is not
    stored."""
    if outcome is None or outcome[0] == "failed":
        return None
    status, summary = outcome
    value = summary.get(TUNING_METRIC)
    if status == "diverged" or value is None or not math.isfinite(value):
        return WORST
    return float(value)


def trial_seeds(suite: Suite) -> list[int]:
    """The run seeds of every trial, the one place that says which seeds trials train with:
    :data:`TUNING_SEED_BASE` ``+ tuning.seed + i`` for ``i < seeds_per_trial`` (1,000,000,
    1,000,001, ... with ``tuning.seed: 0``). Every trial of every cell uses the same seeds, so
    every optimizer's trials see the same data order; no final run uses one of them (the
    loader checks, :func:`benchmark.suite.checks.check_training_suite`)."""
    return trial_seed_list(suite.tuning)


def rung_epochs(suite: Suite) -> list[int]:
    """The epochs of each rung of the suite's trials (``[tuning epochs]`` without halving)."""
    halving = suite.tuning.halving
    if halving is None:
        return [suite.tuning_epochs]
    return rungs(suite.tuning_epochs, halving.min_epochs, halving.eta)


def trial_run_specs(
    suite: Suite, cell: Cell, point: Mapping[str, Any], epochs: int
) -> list[RunSpec]:
    """The runs of a trial at the rung of ``epochs`` epochs, one per seed: the full
    ``tuning epochs`` run, stopped after ``epochs`` when that is fewer."""
    full = suite.tuning_epochs
    stop = epochs if epochs < full else None
    return [
        expand_tuning_trial(suite, cell, point, seed, stop_epoch=stop)
        for seed in trial_seeds(suite)
    ]


@dataclass
class RungResult:
    """A trial at one rung: its runs, their statuses and scores, the trial's score there."""

    epochs: int
    specs: list[RunSpec]
    statuses: list[str]
    scores: list[float | None]

    @property
    def stored(self) -> bool:
        return "missing" not in self.statuses

    @property
    def status(self) -> str:
        """``missing`` > ``failed`` > ``diverged`` > ``completed`` over the seeds' runs."""
        for status in ("missing", "failed", "diverged"):
            if status in self.statuses:
                return status
        return "completed"

    @property
    def score(self) -> float | None:
        """The mean of the seeds' scores; ``None`` if a run failed or is missing."""
        if any(s is None for s in self.scores):
            return None
        return statistics.fmean(self.scores)  # type: ignore[arg-type]

    @property
    def spread(self) -> float:
        """Sample standard deviation of the seeds' scores (NaN with one seed)."""
        if len(self.scores) < 2 or self.score is None:
            return math.nan
        return statistics.stdev(self.scores)  # type: ignore[arg-type]


@dataclass
class TrialResult:
    """One trial as far as the stored runs take it. ``rungs``: one entry per rung it was sent
    to; ``stopped``: halving stopped it below the last rung; ``final``: it reached the last
    rung with every run stored (its score competes for the best)."""

    number: int
    point: dict[str, Any]
    rungs: list[RungResult] = field(default_factory=list)
    stopped: bool = False
    final: bool = False

    @property
    def last(self) -> RungResult:
        return self.rungs[-1]

    @property
    def score(self) -> float | None:
        return self.last.score

    @property
    def specs(self) -> list[RunSpec]:
        """Every run the trial asked for, rung by rung, seed by seed."""
        return [spec for rung in self.rungs for spec in rung.specs]

    def epochs_spent(self, outcomes: Outcomes) -> int:
        """Epochs trained by its stored runs (all rungs and seeds)."""
        return sum(s.trained_epochs for s in self.specs if s.run_id in outcomes)


def _rung(
    suite: Suite, cell: Cell, point: Mapping[str, Any], epochs: int, outcomes: Outcomes
) -> RungResult:
    specs = trial_run_specs(suite, cell, point, epochs)
    found = [outcomes.get(s.run_id) for s in specs]
    return RungResult(
        epochs,
        specs,
        [o[0] if o is not None else "missing" for o in found],
        [trial_score(o) for o in found],
    )


def evaluate_round(
    suite: Suite, cell: Cell, points: Mapping[int, Mapping[str, Any]], outcomes: Outcomes
) -> list[TrialResult]:
    """The trials of one round (``number -> point``) as far as ``outcomes`` take them: every
    trial at the first rung; at each rung whose runs are all stored, the promoted (:func:`promote`)
    trials go on (:mod:`benchmark.tune.halving`) and the rest are stopped."""
    results = {n: TrialResult(n, dict(p)) for n, p in sorted(points.items())}
    epochs = rung_epochs(suite)
    alive = list(results)
    for k, rung_epoch in enumerate(epochs):
        for number in alive:
            results[number].rungs.append(
                _rung(suite, cell, results[number].point, rung_epoch, outcomes)
            )
        if not all(results[n].last.stored for n in alive):
            break  # the barrier: no decision before every run of the rung is stored
        if k == len(epochs) - 1:
            for number in alive:
                results[number].final = True
            break
        going_on = promote({n: results[n].score for n in alive}, suite.tuning.halving.eta)
        for number in alive:  # a failed trial is not "stopped": it ends failed
            results[number].stopped = number not in going_on and results[number].score is not None
        alive = sorted(going_on)
    return list(results.values())


def best_trial(trials: Sequence[TrialResult]) -> TrialResult | None:
    """The highest-scoring trial that reached the last rung; ties to the lower number."""
    finished = [t for t in trials if t.final and t.score is not None]
    if not finished:
        return None
    return max(finished, key=lambda t: (t.score, -t.number))


__all__ = [
    "TUNING_METRIC",
    "TUNING_SEED_BASE",
    "WORST",
    "Outcomes",
    "RungResult",
    "TrialResult",
    "best_trial",
    "evaluate_round",
    "rung_epochs",
    "trial_run_specs",
    "trial_score",
    "trial_seeds",
]
