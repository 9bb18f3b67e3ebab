"""Checks shared by the registries and the suite loader: option names (model and dataset
registries), seed lists and their range, finite numbers. Errors are :class:`BnnBenchError`
(or ``ValueError`` inside pydantic validators, which the suite loader turns into one)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from benchmark.errors import BnnBenchError, closest


def merge_options(
    kind: str, name: str, given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict:
    """``defaults`` updated with ``given``; an unknown key raises naming the allowed ones.

    ``kind`` (``"model"``, ``"dataset"``) and ``name`` prefix the message:
    ``model 'mlp': unknown option 'hiden' (did you mean 'hidden'?); allowed: ...``.
    """
    for key in given:
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "(none)"
            raise BnnBenchError(
                f"{kind} '{name}': unknown option '{key}'{closest(key, defaults)}; "
                f"allowed: {allowed}"
            )
    return {**defaults, **given}


SEED_MAX = 2**32 - 1
"""The largest run seed. Seeds are integers in ``[0, SEED_MAX]``: numpy's seed range.
:func:`benchmark.train.seed_everything` calls ``np.random.seed`` (which takes
``[0, 2**32 - 1]``) and ``torch.manual_seed``; the data order and split draws seed
``np.random.default_rng`` / ``SeedSequence``, which refuse negative seeds."""
MAX_SEEDS = 10_000
"""The most seeds a suite (or the convex section) may list or count: ``seeds: 10**9`` would
build a list of a billion runs before anything else is checked."""


def seed_list(value: Any) -> Any:
    """A suite's ``seeds``: an int ``n`` means ``[0, 1, ..., n - 1]``; anything else passes
    through for pydantic to validate (used as a ``mode="before"`` field validator).

    A count or list longer than :data:`MAX_SEEDS` raises before any list is built; the range of
    each seed (``[0, SEED_MAX]``) is checked by the suite loader, which names its position."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError("a seed count must be >= 1 (or give a list of seeds)")
        if value > MAX_SEEDS:
            raise ValueError(f"too many seeds; allowed: a seed count of 1 to {MAX_SEEDS}")
        return list(range(value))
    if isinstance(value, list | tuple) and len(value) > MAX_SEEDS:
        raise ValueError(
            f"too many seeds ({len(value)} listed); allowed: a list of at most {MAX_SEEDS} seeds"
        )
    return value


FINITE_RULE = "finite numbers only (not .inf, -.inf or .nan)"
"""What :func:`is_finite_value` allows, for error messages."""


def is_finite_value(value: Any) -> bool:
    """False if ``value`` is, or (in a list, tuple or mapping) contains, an infinite or NaN
    float. Every float hyper-parameter, search-space bound and choice must be finite: ``lr:
    .inf`` passes the ``lr >= 0`` rule and would make every run diverge (or every Sobol point
    NaN). The one finiteness rule: the optimizer registry's value checks and the suite loader
    (which names the key path) both use it."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(is_finite_value(v) for v in value)
    if isinstance(value, dict):
        return all(is_finite_value(v) for v in value.values())
    return True
