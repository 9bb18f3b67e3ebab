r"""Points of a search space: the seeded Sobol design (``sampler: qmc``), the grid
(``sampler: grid``) and the Optuna distributions every study records its points with.

A search space maps hyper-parameter names to :class:`benchmark.search_space.Dimension` s
(``{low, high, log}``, ``{low, high, int}``, ``{choices}``).

- **Sobol** (:func:`qmc_points`): the first ``n`` points of a scrambled Sobol sequence in
  :math:`[0, 1)^d` (``scipy.stats.qmc.Sobol``, seeded; dimensions in sorted key order), each
  coordinate mapped by :meth:`Dimension.value`: :math:`\exp(\log l + u(\log h - \log l))` for
  a log range, :math:`l + u(h - l)` for a linear one, ``choices[floor(u k)]`` for choices.
- **Grid** (:func:`grid_axes`): a choices dimension contributes its ``c`` choices; the ``d``
  range dimensions get ``k`` values each, with :math:`k^d \prod c = n` (``n`` = the trial
  budget), so that every optimizer of a suite evaluates exactly ``n`` points whatever the
  dimension of its space. Range values include both ends: :math:`l (h/l)^{i/(k-1)}` on a log
  axis, :math:`l + i (h - l)/(k - 1)` on a linear one (rounded on an integer one), ``i = 0..k-1``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from benchmark.grid_rungs import GridError, grid_axes
from benchmark.search_space import Dimension


def unit_to_value(u: float, rng: Mapping[str, Any]) -> Any:
    """Map ``u`` in [0, 1) onto one range of a search space
    (:meth:`benchmark.search_space.Dimension.value`)."""
    return Dimension.parse(rng).value(u)


def qmc_points(space: Mapping[str, Mapping[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` points of the seeded, scrambled Sobol sequence, mapped onto ``space``
    (keys in sorted order are the dimensions)."""
    from scipy.stats import qmc

    keys = sorted(space)
    if not keys or n <= 0:
        return [{} for _ in range(max(n, 0))]
    sobol = qmc.Sobol(d=len(keys), scramble=True, seed=seed)
    with warnings.catch_warnings():  # n need not be a power of two
        warnings.simplefilter("ignore", UserWarning)
        units = sobol.random(n)
    dims = [Dimension.parse(space[k]) for k in keys]
    return [{k: d.value(float(u)) for k, d, u in zip(keys, dims, row, strict=True)}
            for row in units]  # fmt: skip


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Optuna distributions of ``space`` (the study records each trial's point with them)."""
    return {key: Dimension.parse(rng).distribution() for key, rng in space.items()}


__all__ = ["GridError", "distributions", "grid_axes", "qmc_points", "unit_to_value"]
