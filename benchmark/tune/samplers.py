"""The samplers a suite can tune with (``tuning.sampler``), built so that a trial's point
depends on the tuning seed, the trial's number and the study's *told* trials only.

- ``qmc``: the seeded Sobol design (:func:`benchmark.tune.points.qmc_points`), enqueued in the
  study: trial ``i`` is point ``i``, whatever was told before.
- ``random``: Optuna's ``RandomSampler``.
- ``grid``: Optuna's ``GridSampler`` over :func:`benchmark.tune.points.grid_axes` (the grid
  holds exactly ``tuning.trials`` points, so every point is evaluated once).
- ``tpe``: Optuna's ``TPESampler``, with the first round as its random start-up trials
  (``n_startup_trials`` = the round size instead of Optuna's 10: a round asks its trials
  before any is told, so the first round is random anyway, and with the small budgets of a
  benchmark 10 start-up trials would leave little for the model).
- ``cmaes``: Optuna's ``CmaEsSampler`` (the ``cmaes`` package; Optuna falls back to random
  points for a one-dimensional or categorical space and says so).

Reproducibility: trials are asked in synchronous rounds of ``tuning.batch`` (default: every
trial at once for the non-adaptive samplers, 4 for ``tpe`` and ``cmaes``); a round is asked
only once every trial of the rounds before it is told, and they are told in trial order. Each
trial is asked from a *fresh* sampler seeded with :func:`trial_seed` (``tuning.seed``, trial
number): Optuna's samplers keep a random state in memory, so one sampler object reused across
asks would give other points after a resume (a new process) than without it. With a fresh
sampler per trial, the point is a function of the seed, the number and the stored trials —
the same with 1 worker or 8, whichever run finished first, killed and resumed or not.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

#: every ``tuning.sampler`` value
SAMPLERS: tuple[str, ...] = ("qmc", "random", "grid", "tpe", "cmaes")
#: the samplers whose points depend on the told trials (they run in rounds of ``batch``)
ADAPTIVE: frozenset[str] = frozenset({"tpe", "cmaes"})
#: ``tuning.batch`` of an adaptive sampler when the suite does not set it
ADAPTIVE_BATCH = 4


def round_size(tuning: Any) -> int:
    """Trials asked per round: ``tuning.batch``; unset, every trial at once for ``qmc``,
    ``random`` and ``grid`` (their points do not depend on told trials) and
    :data:`ADAPTIVE_BATCH` for ``tpe`` and ``cmaes``; never more than ``tuning.trials``."""
    trials = max(int(tuning.trials), 1)
    if tuning.batch:
        return min(int(tuning.batch), trials)
    return min(ADAPTIVE_BATCH, trials) if tuning.sampler in ADAPTIVE else trials


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number``'s sampler: the first 4 bytes of SHA-256 of
    ``"<seed>/<number>"`` (stable across Python versions and processes, unlike ``hash``)."""
    digest = hashlib.sha256(f"{int(seed)}/{int(number)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def make_sampler(
    tuning: Any, space: Mapping[str, Mapping[str, Any]], number: int, *, halving: bool = False
) -> Any:
    """The Optuna sampler that asks trial ``number`` (``None`` for ``qmc``: its point is
    enqueued). ``halving``: CMA-ES counts stopped (pruned) trials by their last score."""
    import optuna

    seed = trial_seed(tuning.seed, number)
    name = tuning.sampler
    if name == "qmc":
        return None
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        from benchmark.tune.points import grid_axes

        # one seed for every trial: GridSampler shuffles its grid with it, so the grid ids of
        # all trials index one order; the point of a trial is then chosen among the unvisited
        return optuna.samplers.GridSampler(grid_axes(space, tuning.trials), seed=tuning.seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=round_size(tuning))
    if name == "cmaes":
        with warnings.catch_warnings():  # consider_pruned_trials is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.CmaEsSampler(
                seed=seed, consider_pruned_trials=halving, warn_independent_sampling=False
            )
    raise ValueError(f"unknown sampler '{name}'; allowed: {', '.join(SAMPLERS)}")


#: the Optuna sampler class of each ``tuning.sampler`` but ``qmc``
OPTUNA_SAMPLERS = {
    "random": "RandomSampler",
    "grid": "GridSampler",
    "tpe": "TPESampler",
    "cmaes": "CmaEsSampler",
}


def describe_sampler(tuning: Any) -> str:
    """How the points were chosen, in words (the run's log line, the report's tuning
    section): ``"seeded Sobol points ... drawn up front"`` (``qmc``), or ``"Optuna's
    TPESampler, seeded (seed 0), asked in synchronous rounds of 4 ..."`` (:func:`round_size`;
    "all asked in one round" when that is every trial)."""
    if tuning.sampler == "qmc":
        return f"seeded Sobol points of its search space (seed {tuning.seed}), drawn up front"
    name = OPTUNA_SAMPLERS[tuning.sampler]
    size = round_size(tuning)
    grid = " over a grid of exactly that many points" if tuning.sampler == "grid" else ""
    if size >= int(tuning.trials):
        return f"Optuna's {name}{grid}, seeded (seed {tuning.seed}), all asked in one round"
    return (
        f"Optuna's {name}{grid}, seeded (seed {tuning.seed}), asked in synchronous rounds of "
        f"{size} (a round is asked once every trial before it is scored)"
    )


__all__ = [
    "ADAPTIVE",
    "ADAPTIVE_BATCH",
    "OPTUNA_SAMPLERS",
    "SAMPLERS",
    "describe_sampler",
    "make_sampler",
    "round_size",
    "trial_seed",
]
