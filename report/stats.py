"""Statistics used by the reports: small pure functions over numpy arrays (pandas only for the
performance profile), no I/O, no plotting. The report's intervals, tests and verdicts are
:mod:`report.inference`'s (Student-t; no percentile bootstrap at a few seeds).

- :func:`win_tie_loss` (per-seed counts beside a paired comparison);
- :func:`examples_in_test_set` (a test set's size, from the granularity of its accuracies);
- curves and costs: :func:`steps_to_target`, :func:`normalised_auc`,
  :func:`performance_profile` / :func:`profile_taus` (Dolan & Moré 2002), and
  :func:`expected_max` / :func:`expected_max_curve` (Dodge et al. 2019).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def win_tie_loss(a: np.ndarray, b: np.ndarray, tolerance: float = 0.0) -> tuple[int, int, int]:
    """``(wins, ties, losses)`` of ``a`` against ``b``, pair by pair: with ``d = a[i] - b[i]``, a
    win if ``d > tolerance``, a loss if ``d < -tolerance``, a tie if ``|d| <= tolerance``. A pair
    with a ``nan`` counts in none of the three (so the sum can be below ``n``). ``a`` and ``b``
    must have the same length; ``tolerance`` must be ``>= 0``."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    d = x - y
    wins = int(np.count_nonzero(d > tolerance))
    losses = int(np.count_nonzero(d < -tolerance))
    ties = int(np.count_nonzero(np.abs(d) <= tolerance))
    return wins, ties, losses


# ----------------------------------------------------------------------------- curves
def _sorted_curve(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` and ``values`` as float arrays sorted by step (stable: equal steps keep order)."""
    s = np.asarray(steps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if s.size != v.size:
        raise ValueError(f"steps and values differ in length: {s.size} and {v.size}")
    order = np.argsort(s, kind="stable")
    return s[order], v[order]


MAX_TEST_SIZE = 100_000
"""The largest test set :func:`examples_in_test_set` looks for (CIFAR's is 10,000)."""


def examples_in_test_set(accuracies: np.ndarray, min_values: int = 5) -> int | None:
    r"""The size :math:`N` of the test set behind final test accuracies, read from their
    granularity: each is a count of correct examples over :math:`N` (benchmark/train.py), so
    :math:`N` is the smallest integer with every :math:`aN` an integer (up to float
    rounding; the smallest, since :math:`2N` fits too). ``None`` with fewer than
    ``min_values`` distinct accuracies (``0.5`` alone fits :math:`N = 2`; a divisor of the
    true size fits only if every count shares a factor with it) or when no
    :math:`N \le` :data:`MAX_TEST_SIZE` fits."""
    a = np.unique(np.asarray(accuracies, dtype=float))
    a = a[np.isfinite(a)]
    if a.size < min_values:
        return None
    sizes = np.arange(1, MAX_TEST_SIZE + 1, dtype=float)
    for value in a:  # keep the sizes every value so far fits: the candidates shrink fast
        counts = value * sizes
        sizes = sizes[np.abs(counts - np.round(counts)) < 1e-6]
    return int(sizes[0]) if sizes.size else None


def steps_to_target(steps: np.ndarray, values: np.ndarray, target: float) -> float:
    """The first step (smallest, after a stable sort by step) whose value is ``>= target``.

    ``math.inf`` if no value reaches the target (also for an empty curve; ``nan`` values never
    reach it); ``nan`` if ``target`` is ``nan``. For a target on a decreasing metric (a loss),
    pass negated values and target.
    """
    if math.isnan(target):
        return math.nan
    s, v = _sorted_curve(steps, values)
    reached = np.flatnonzero(v >= target)
    return float(s[reached[0]]) if reached.size else math.inf


def normalised_auc(steps: np.ndarray, values: np.ndarray, budget: float) -> float:
    """Area under the curve over ``[0, budget]`` divided by ``budget``: the curve's mean value.

    Points are sorted by step (stably, so a vertical jump can be given as two points at one
    step) and joined by straight lines (trapezoidal rule). The first value extends flat back
    to step 0 when the curve starts later, the last value extends flat to ``budget`` when the
    curve stops early (a run that diverged or stopped), and the part beyond ``budget`` is cut
    off at ``budget`` (linear interpolation). So a curve with values in ``[0, 1]`` (accuracy)
    gives a number in ``[0, 1]``. ``nan`` for an empty curve or a ``nan`` value; ``budget <= 0``
    or a negative step raises ``ValueError``.
    """
    if not budget > 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    s, v = _sorted_curve(steps, values)
    if s.size == 0 or np.any(np.isnan(v)):
        return math.nan
    if s[0] < 0:
        raise ValueError(f"steps must be >= 0, got {s[0]}")
    s = np.concatenate(([0.0], s, [max(budget, s[-1])]))
    v = np.concatenate(([v[0]], v, [v[-1]]))
    x0, x1, y0, y1 = s[:-1], s[1:], v[:-1], v[1:]
    end = np.minimum(x1, budget)
    width = np.clip(end - x0, 0.0, None)
    span = np.where(x1 > x0, x1 - x0, 1.0)
    y_end = np.where(x1 > x0, y0 + (y1 - y0) * (end - x0) / span, y1)
    return float(np.sum(width * (y0 + y_end) / 2.0) / budget)


# ----------------------------------------------------------------------------- profiles
def _ratios(costs: pd.DataFrame) -> pd.DataFrame:
    """Performance ratios ``cost[p, s] / min_s cost[p, s]``; ``inf`` where ``s`` failed on ``p``
    or where every solver failed on ``p``."""
    c = costs.astype(float).fillna(math.inf)
    if (c <= 0).to_numpy().any():
        raise ValueError("performance-profile costs must be > 0 (inf for a failure)")
    best = c.min(axis=1)
    with np.errstate(invalid="ignore"):
        r = c.div(best, axis=0)
    return r.fillna(math.inf)  # inf / inf: every solver failed on that problem


def performance_profile(costs: pd.DataFrame, taus: np.ndarray) -> pd.DataFrame:
    """Dolan-Moré performance profile (Dolan & Moré 2002).

    ``costs``: one row per problem (cell), one column per solver (optimizer), values ``> 0``
    (e.g. steps to a target), ``inf`` for a failure (never reached), ``nan`` for a solver absent
    on a problem (treated as ``inf``). The ratio of solver ``s`` on problem ``p`` is
    ``r[p, s] = cost[p, s] / min_s' cost[p, s']``, and the profile is
    ``rho_s(tau) = #{p : r[p, s] <= tau} / P`` over all ``P`` problems. A failure has ratio
    ``inf`` and counts as unsolved for every ``tau`` (including ``tau = inf``); a problem every
    solver failed stays in the denominator (every ratio ``inf``). ``rho_s(1)`` is the share of
    problems ``s`` solved fastest (ties count for each), ``rho_s(tau)`` for large ``tau`` the share
    it solved at all.

    Returns a tidy frame with columns ``optimizer, tau, fraction``: one row per solver (in column
    order) and per ``tau`` (sorted ascending). With no problems the fractions are ``nan``.
    """
    r = _ratios(costs).to_numpy()
    t = np.sort(np.asarray(taus, dtype=float).ravel())
    solved = np.isfinite(r)[:, :, None] & (r[:, :, None] <= t[None, None, :])
    counts = solved.sum(axis=0)
    fraction = counts / r.shape[0] if r.shape[0] else np.full(counts.shape, math.nan)
    return pd.DataFrame(
        {
            "optimizer": np.repeat(np.asarray(costs.columns, dtype=object), t.size),
            "tau": np.tile(t, len(costs.columns)),
            "fraction": fraction.ravel().astype(float),
        }
    )


def profile_taus(costs: pd.DataFrame, n: int = 50) -> np.ndarray:
    """``n`` values of ``tau`` for :func:`performance_profile`: ``numpy.geomspace(1, upper, n)``,
    log-spaced from exactly 1 to exactly ``upper = max(2, largest finite ratio)``, so the
    profile is drawn up to the point where it stops changing. ``n < 2`` raises ``ValueError``."""
    if n < 2:
        raise ValueError(f"profile_taus needs n >= 2 points, got {n}")
    r = _ratios(costs).to_numpy()
    finite = r[np.isfinite(r)]
    upper = max(2.0, float(finite.max())) if finite.size else 2.0
    return np.geomspace(1.0, upper, n)


# ----------------------------------------------------------------------------- tuning
def _trial_scores(scores: np.ndarray) -> np.ndarray:
    """The non-nan scores, sorted ascending; an infinite score raises ``ValueError``."""
    v = np.asarray(scores, dtype=float).ravel()
    v = v[~np.isnan(v)]
    if np.any(np.isinf(v)):
        raise ValueError("expected-max scores must be finite (nan for a failed trial)")
    return np.sort(v)


def _expected_max(v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``E[max of k draws]`` for sorted ``v`` and each ``k`` (see :func:`expected_max`)."""
    n = v.size
    i = np.arange(1, n + 1, dtype=float)
    weights = (i / n) ** k[:, None] - ((i - 1) / n) ** k[:, None]
    return weights @ v


def expected_max(scores: np.ndarray, k: int) -> float:
    """Expected best validation score after ``k`` trials (Dodge et al. 2019, "Show your work").

    The ``k`` trials are drawn uniformly with replacement from the ``N`` observed scores. With
    ``v_(1) <= ... <= v_(N)`` the sorted scores, ``P(max = v_(i)) = (i/N)^k - ((i-1)/N)^k``, so
    ``E[max_k] = sum_i v_(i) * ((i/N)^k - ((i-1)/N)^k)``: the mean for ``k = 1``, tending to the
    best score as ``k`` grows. ``nan`` scores (failed trials) are dropped first and ``N`` counts
    the rest; no scores left gives ``nan``. ``k < 1`` raises ``ValueError``.
    """
    if k < 1:
        raise ValueError(f"expected_max needs k >= 1 trials, got {k}")
    v = _trial_scores(scores)
    if v.size == 0:
        return math.nan
    return float(_expected_max(v, np.array([float(k)]))[0])


def expected_max_curve(scores: np.ndarray) -> np.ndarray:
    """:func:`expected_max` for ``k = 1 .. N`` (``N`` = number of non-nan scores), as an array
    of length ``N`` (empty when no score is left)."""
    v = _trial_scores(scores)
    return _expected_max(v, np.arange(1, v.size + 1, dtype=float))
