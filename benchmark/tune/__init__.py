"""Fair tuning with Optuna: one study per cell, the same sampler and budget for every
optimizer, decisions that depend on stored scores only (docs/studies.md).

- :mod:`benchmark.tune.points`: the Sobol design, the grid, Optuna distributions;
- :mod:`benchmark.tune.samplers`: ``qmc``, ``random``, ``grid``, ``tpe``, ``cmaes``, seeded per
  trial and asked in synchronous rounds;
- :mod:`benchmark.tune.halving`: synchronous successive halving's rungs and promotions;
- :mod:`benchmark.tune.trials`: a trial's runs (seeds x rungs) and scores, from stored runs;
- :mod:`benchmark.tune.studies`: the studies in the suite's store (ask, tell, read, delete);
- :mod:`benchmark.tune.loop`: the tuning phase, and its outcome rebuilt from a store.
"""

from benchmark.tune.halving import keep_count, promote, rungs
from benchmark.tune.loop import (
    TuningResult,
    expected_trial_runs,
    preflight_specs,
    rounds,
    run_tuning,
    stored_tuning,
    summarize,
    trial_count,
    tuning_budget,
)
from benchmark.tune.points import GridError, distributions, grid_axes, qmc_points, unit_to_value
from benchmark.tune.samplers import (
    SAMPLERS,
    describe_sampler,
    make_sampler,
    round_size,
    trial_seed,
)
from benchmark.tune.studies import (
    ask_round,
    delete_studies,
    open_storage,
    open_study,
    read_points,
    storage_errors,
    study_name,
    tell_round,
)
from benchmark.tune.trials import (
    TUNING_METRIC,
    TUNING_SEED_BASE,
    WORST,
    RungResult,
    TrialResult,
    best_trial,
    evaluate_round,
    rung_epochs,
    trial_run_specs,
    trial_score,
    trial_seeds,
)

__all__ = [
    "SAMPLERS",
    "TUNING_METRIC",
    "TUNING_SEED_BASE",
    "WORST",
    "GridError",
    "RungResult",
    "TrialResult",
    "TuningResult",
    "ask_round",
    "best_trial",
    "delete_studies",
    "describe_sampler",
    "distributions",
    "evaluate_round",
    "expected_trial_runs",
    "grid_axes",
    "keep_count",
    "make_sampler",
    "open_storage",
    "open_study",
    "preflight_specs",
    "promote",
    "qmc_points",
    "read_points",
    "round_size",
    "rounds",
    "run_tuning",
    "rung_epochs",
    "rungs",
    "storage_errors",
    "stored_tuning",
    "study_name",
    "summarize",
    "tell_round",
    "trial_count",
    "trial_run_specs",
    "trial_score",
    "trial_seed",
    "trial_seeds",
    "tuning_budget",
    "unit_to_value",
]
