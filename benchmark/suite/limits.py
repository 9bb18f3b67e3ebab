"""The documented bounds of a suite (docs/suites.md, "Limits"): :data:`LIMITS`, the
:data:`Seed` type every seed of a suite has, and the one wording of an out-of-range error."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from benchmark.options import MAX_SEEDS, SEED_MAX

LIMITS: dict[str, tuple[int, int, str]] = {
    "seed": (0, SEED_MAX, "numpy's seed range; np.random.seed takes 0 to 2**32 - 1"),
    "seeds": (1, MAX_SEEDS, "seeds per suite, counted or listed"),
    "epochs": (1, 100_000, "a training budget far beyond any benchmark's"),
    "batch_size": (1, 1_000_000, "larger than every dataset's training pool"),
    "evals_per_epoch": (1, 10_000, "at most one evaluation per batch is made anyway"),
    "eval_schedule.points": (2, 1_000, "evaluations per run; each a full val and test pass"),
    "tuning.trials": (0, 10_000, "trials per cell; a study holds one Optuna trial each"),
    "tuning.batch": (1, 10_000, "trials asked per round; at most the trials"),
    "tuning.seeds_per_trial": (1, 100, "runs per trial; their mean is the trial's score"),
    "tuning.halving.eta": (2, 100, "the factor between rungs; 2 to 4 is usual"),
    "executor.workers": (1, 1_024, "worker processes started at once"),
    "executor.threads_per_worker": (1, 256, "torch threads per worker"),
    "runs": (1, 1_000_000, "final runs plus tuning trials; one store row each"),
    "convex.steps": (10, 10_000_000, "each run holds float64 arrays of this length"),
    "convex.checkpoints": (2, 100_000, "curve points stored per run"),
}
"""Inclusive ``(low, high, reason)`` of every bounded integer of a suite (docs/suites.md,
"Limits"). The lower bounds are the schema's own; the upper bounds reject values no benchmark
needs that would otherwise run out of memory or time before anything useful happens (a
``seeds: 10**9`` list, ``epochs: 10**12``). ``seed`` is the range of every seed (``seeds[i]``,
``tuning.seed``, ``datasets[i].split_seed``, ``convex.seeds[i]``); ``runs`` caps the runs a
grid asks for: ``cells x (seeds + tuning.trials x seeds_per_trial x rungs)`` at most, or the
convex section's runs."""
GRID_PATH = "models x datasets x optimizers x (seeds + tuning runs)"
"""The key path of the run-count error of a ``task: train`` suite."""


def within(limit: str, value: Any) -> bool:
    """Whether ``value`` (``None``: unset) lies in ``LIMITS[limit]``."""
    low, high, _ = LIMITS[limit]
    return value is None or low <= value <= high


def allowed(limit: str) -> str:
    """``allowed: <low> to <high> (<reason>)``, the tail of an out-of-range error."""
    low, high, why = LIMITS[limit]
    return f"allowed: {low} to {high} ({why})"


def _seed_in_range(value: int) -> int:
    if not within("seed", value):
        raise ValueError(f"out of range; {allowed('seed')}")
    return value


Seed = Annotated[int, AfterValidator(_seed_in_range)]
"""A seed: an integer in ``LIMITS["seed"]`` (the error names its position, e.g.
``convex.seeds[1]: out of range, got -1; allowed: 0 to 4294967295 (...)``)."""
