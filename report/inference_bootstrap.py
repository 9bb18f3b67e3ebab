r"""Descriptive summaries across cells in the manner of rliable (Agarwal et al., NeurIPS 2021,
"Deep RL at the edge of the statistical precipice"), with a stratified bootstrap over seeds
within cells, written with numpy (rliable itself does not install beside pandas 3).

These are *descriptive*: they give no verdict (the verdicts are :mod:`report.inference`'s
t-tests), and their percentile intervals are only as good as a bootstrap over a few seeds per
cell can be; the report says so.

- :func:`probability_of_improvement`: :math:`P(X > Y) = \frac1K \sum_c \frac{1}{n_c m_c}
  \sum_{i,j} \big([x_{ci} > y_{cj}] + \tfrac12 [x_{ci} = y_{cj}]\big)`, the Mann-Whitney
  probability per cell, averaged over cells with equal weight;
- :func:`iqm`: the interquartile mean (``scipy.stats.trim_mean(x, 0.25)``) of every run of
  every cell together.

**The stratified bootstrap** (:func:`stratified_bootstrap`). Resample ``b`` draws, for each
cell in the order given, ``idx_c = rng.integers(0, n_c, size=(resamples, n_c))`` with
``rng = numpy.random.default_rng(seed)`` (all cells' draws in one pass, cell after cell), takes
the rows ``idx_c`` of every optimizer's seed-ordered values in that cell (the same seeds for
both optimizers of a pair: runs are paired by seed), and recomputes the statistic. The
interval is the percentile interval (``numpy.quantile``, linear) at ``(1 +- level) / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from report.inference import LEVEL, RESAMPLES

#: one cell: an array of shape (n_seeds, n_samples) whose columns are seed-paired samples
Cell = np.ndarray


@dataclass(frozen=True)
class Descriptive:
    """A statistic across cells and its stratified-bootstrap percentile interval."""

    estimate: float
    ci_low: float
    ci_high: float
    cells: int
    runs: int


def _pi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mann-Whitney ``P(x > y)`` over the last axis pairs, batched over leading axes."""
    gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return gt + 0.5 * eq


def probability_of_improvement(cells: Sequence[Cell]) -> float:
    """``P(X > Y)`` averaged over cells; each cell an ``(n, 2)`` array, column 0 ``X``'s values
    and column 1 ``Y``'s, one row per seed."""
    if not cells:
        return math.nan
    return float(np.mean([_pi(c[:, 0], c[:, 1]) for c in cells]))


def iqm(cells: Sequence[Cell]) -> float:
    """Interquartile mean of column 0 of every cell's rows together (25% trimmed each side)."""
    if not cells:
        return math.nan
    return float(sps.trim_mean(np.concatenate([c[:, 0] for c in cells]), 0.25))


def _batched_pi(resampled: list[np.ndarray]) -> np.ndarray:
    return np.mean([_pi(r[..., 0], r[..., 1]) for r in resampled], axis=0)


def _batched_iqm(resampled: list[np.ndarray]) -> np.ndarray:
    return sps.trim_mean(np.concatenate([r[..., 0] for r in resampled], axis=1), 0.25, axis=1)


STATISTICS: dict[str, tuple[Callable, Callable]] = {
    "probability_of_improvement": (probability_of_improvement, _batched_pi),
    "iqm": (iqm, _batched_iqm),
}


def stratified_bootstrap(
    cells: Sequence[Cell],
    statistic: str,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Descriptive:
    """``statistic`` (a key of :data:`STATISTICS`) of ``cells`` with its stratified-bootstrap
    percentile interval (module docstring). Cells with no rows are left out; a single seed in
    every cell gives no interval (``nan`` bounds)."""
    point_fn, batch_fn = STATISTICS[statistic]
    cells = [np.asarray(c, dtype=float) for c in cells if len(c)]
    runs = int(sum(c.shape[0] for c in cells))
    if not cells:
        return Descriptive(math.nan, math.nan, math.nan, 0, 0)
    point = point_fn(cells)
    if all(c.shape[0] < 2 for c in cells):
        return Descriptive(point, math.nan, math.nan, len(cells), runs)
    rng = np.random.default_rng(seed)
    resampled = [c[rng.integers(0, c.shape[0], size=(resamples, c.shape[0]))] for c in cells]
    boot = np.asarray(batch_fn(resampled), dtype=float)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return Descriptive(point, float(low), float(high), len(cells), runs)
