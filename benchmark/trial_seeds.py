"""Which seeds tuning trials train with: the one rule, below both :mod:`benchmark.suite` (which
refuses a suite whose final seeds reach into the trials' range) and :mod:`benchmark.tune`
(which trains the trials), so neither imports the other (tests/test_import_layers.py).

Trial seeds are :data:`TUNING_SEED_BASE` ``+ tuning.seed + i`` for ``i < seeds_per_trial``:
a range of their own, never one of the final runs' (docs/protocol.md, "Tuning seeds apart
from evaluation seeds")."""

from __future__ import annotations

from typing import Any

TUNING_SEED_BASE = 1_000_000
"""Trial seeds start here (plus ``tuning.seed``)."""


def trial_seed_list(tuning: Any) -> list[int]:
    """``TUNING_SEED_BASE + tuning.seed + i`` for ``i < tuning.seeds_per_trial``."""
    first = TUNING_SEED_BASE + int(tuning.seed)
    return [first + i for i in range(int(tuning.seeds_per_trial))]


__all__ = ["TUNING_SEED_BASE", "trial_seed_list"]
