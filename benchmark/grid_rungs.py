"""Budget arithmetic that both the suite checks and tuning need, below both (issue 22 cut
the import cycle ``benchmark.suite.checks`` -> ``benchmark.tune`` -> ``benchmark.suite``):
a grid sampler's axes (:func:`grid_axes`, re-exported by :mod:`benchmark.tune.points`,
whose docstring gives the rule) and halving's rungs (:func:`rungs`, re-exported by
:mod:`benchmark.tune.halving`). Standard library only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["GridError", "grid_axes", "rungs"]


def rungs(epochs: int, min_epochs: int | None = None, eta: int | None = None) -> list[int]:
    """The epochs of each rung, ending at ``epochs``; ``[epochs]`` without halving."""
    if min_epochs is None or eta is None or min_epochs >= epochs:
        return [epochs]
    out, r = [], min_epochs
    while r < epochs:
        out.append(r)
        r *= eta
    return [*out, epochs]


class GridError(ValueError):
    """The trial budget is not a full grid of a search space (the message says which budgets
    are)."""


def _axis(rng: Mapping[str, Any], k: int) -> list[Any]:
    if "choices" in rng:
        return list(rng["choices"])
    low, high = rng["low"], rng["high"]
    fractions = [0.5] if k == 1 else [i / (k - 1) for i in range(k)]
    if rng.get("log"):
        values = [math.exp(math.log(low) + f * (math.log(high) - math.log(low))) for f in fractions]
    else:
        values = [low + f * (high - low) for f in fractions]
    if rng.get("int"):
        ints = [int(round(v)) for v in values]
        if len(set(ints)) != len(ints):
            raise GridError(f"{k} distinct integers do not fit in [{low}, {high}]")
        return ints
    if k > 1:  # the ends exactly, not exp(log(high))
        values[0], values[-1] = low, high
    return [float(v) for v in values]


def grid_axes(space: Mapping[str, Mapping[str, Any]], trials: int) -> dict[str, list[Any]]:
    """The grid of ``space`` holding exactly ``trials`` points (module docstring), as the
    values of each dimension; raises :class:`GridError` when ``trials`` is no such grid."""
    choices = math.prod(len(r["choices"]) for r in space.values() if "choices" in r)
    ranges = sorted(k for k, r in space.items() if "choices" not in r)
    d = len(ranges)
    if trials % choices:
        raise GridError(f"the choices alone make {choices} combinations, which do not divide it")
    per_range = trials // choices
    k = round(per_range ** (1 / d)) if d else 1
    if (k**d if d else 1) != per_range:
        sizes = ", ".join(str(choices * j**d) for j in range(2, 7)) if d else str(choices)
        raise GridError(
            f"not a full grid: {d} range dimension(s) x {choices} choice combination(s) give "
            f"grids of {sizes} points"
        )
    return {key: _axis(rng, k) for key, rng in sorted(space.items())}
