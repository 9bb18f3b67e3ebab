"""Statistics used by the reports: small pure functions over numpy arrays (pandas only for the
performance profile), no I/O, no plotting. Every resampling takes a ``seed`` and draws from
``numpy.random.default_rng(seed)``, so a report is reproducible number for number.

- confidence intervals: :func:`bootstrap_ci` (one sample), :func:`paired_bootstrap_ci` with the
  statistics :func:`mean_difference` and :func:`ratio_of_means` (seed-paired samples);
- paired tests: :func:`sign_flip_p`, :func:`min_attainable_p`, :func:`holm`, :func:`win_tie_loss`,
  :func:`paired_comparison`, and the wording rules :func:`verdict` / :data:`PAIRED_RULE` and
  :func:`claim_verdict` / :data:`CLAIM_RULE`;
- curves and costs: :func:`steps_to_target`, :func:`normalised_auc`,
  :func:`performance_profile` / :func:`profile_taus` (Dolan & Moré 2002), and
  :func:`expected_max` / :func:`expected_max_curve` (Dodge et al. 2019).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Significance level of the paired verdicts (after the Holm correction).
ALPHA = 0.05
#: Largest number of pairs for which :func:`sign_flip_p` enumerates all ``2**n`` sign patterns.
EXACT_MAX_N = 16
#: Default number of random sign patterns of the Monte Carlo test (``n > EXACT_MAX_N``).
N_PERM = 20000

PAIRED_RULE = (
    "Rule: one optimizer is better (worse) than another when an exact sign-flip permutation test "
    "of the seed-paired differences (Monte Carlo with 20,000 sign patterns beyond 16 seeds), "
    "Holm-corrected across all comparisons of this report, gives p < 0.05 and the mean "
    "difference is positive (negative); otherwise the two are indistinguishable."
)
CLAIM_RULE = (
    "A claim is supported when its confidence interval lies entirely above no effect "
    "(0 for a difference, 1 for a speed-up ratio) and its upper end reaches the claimed value, "
    "contradicted when its upper end falls short of the claimed value, and inconclusive "
    "otherwise."
)


# ----------------------------------------------------------------------------- intervals
def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded, so reports are reproducible).

    Non-finite values are dropped; the remaining ``n`` values are resampled with replacement
    ``n_boot`` times (``rng.choice`` with ``rng = default_rng(seed)``), and the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (numpy's default linear interpolation)
    of the resampled means. With fewer than 2 finite values the interval is ``(nan, nan)``: one
    seed carries no uncertainty estimate, and the report says so rather than printing a
    zero-width interval.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = rng.choice(x, size=(n_boot, x.size), replace=True).mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def mean_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """``mean(a) - mean(b)``, reducing over the last axis (so it also takes a batch of resamples,
    one per row, as :func:`paired_bootstrap_ci` passes it)."""
    return np.mean(a, axis=-1) - np.mean(b, axis=-1)


def ratio_of_means(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """``mean(a) / mean(b)``, reducing over the last axis (as :func:`mean_difference`).

    Speed-up of an optimizer over a reference is ``ratio_of_means(ref_steps, opt_steps)``: above
    1 the optimizer needs fewer steps. ``mean(b) == 0`` gives ``inf`` (``nan`` for ``0 / 0``)
    without a warning; an ``inf`` step count (target never reached) propagates as in IEEE
    arithmetic (``inf / x = inf``, ``x / inf = 0``, ``inf / inf = nan``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(a, axis=-1) / np.mean(b, axis=-1)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as float arrays of one and the same length ``n >= 1``."""
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    if x.size == 0:
        raise ValueError("paired samples are empty")
    return x, y


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    stat: Callable[[np.ndarray, np.ndarray], np.ndarray | float],
    level: float = 0.95,
    n_boot: int = 10000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(point, low, high)``: a paired percentile bootstrap of ``stat(a, b)``.

    ``a[i]`` and ``b[i]`` belong to the same seed. The point is ``stat(a, b)``. Each of the
    ``n_boot`` resamples draws ``n`` positions with replacement,
    ``idx = default_rng(seed).integers(0, n, size=(n_boot, n))``, and uses the *same* positions
    for both samples: ``stat(a[idx], b[idx])``. ``low`` and ``high`` are the ``(1 - level) / 2``
    and ``(1 + level) / 2`` quantiles (numpy's default linear interpolation) of the ``n_boot``
    resampled statistics.

    ``stat`` must reduce over the last axis: called with two ``(n_boot, n)`` arrays it returns
    ``n_boot`` values (:func:`mean_difference` and :func:`ratio_of_means` do). Inputs are not
    filtered: a ``nan`` in ``a`` or ``b`` gives ``nan`` bounds. With ``n == 1`` there is nothing
    to resample and the result is ``(point, nan, nan)``. ``a`` and ``b`` must have the same
    length ``n >= 1`` (``ValueError`` otherwise).
    """
    x, y = _pair(a, b)
    point = float(stat(x, y))
    if x.size == 1:
        return (point, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boot = np.asarray(stat(x[idx], y[idx]), dtype=float)
    if boot.shape != (n_boot,):
        raise ValueError(
            f"stat must reduce over the last axis: got shape {boot.shape} for {n_boot} resamples"
        )
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return point, float(low), float(high)


# ----------------------------------------------------------------------------- paired tests
def sign_flip_p(differences: np.ndarray, seed: int = 0, n_perm: int = N_PERM) -> float:
    """Two-sided paired permutation (sign-flip) p-value of ``H0: mean difference = 0``.

    Under H0 each seed-paired difference ``d_i`` is as likely to have either sign. The statistic
    is ``|mean(s * d)|`` over sign patterns ``s`` in ``{-1, +1}^n``; the p-value is the fraction
    of patterns with ``|mean(s * d)| >= |mean(d)| - tol``, where
    ``tol = 1e-12 * max(1, mean(|d|))`` absorbs floating-point rounding (1e-12 for differences
    of order 1).

    - ``n <= 16`` (:data:`EXACT_MAX_N`): exact, all ``2**n`` patterns enumerated, the identity
      pattern included, so ``p >= 2 / 2**n`` (:func:`min_attainable_p`) whenever ``mean(d) != 0``.
    - ``n > 16``: Monte Carlo, ``n_perm`` uniform random patterns from ``default_rng(seed)``
      plus the observed one, ``p = (1 + #{random patterns reaching it}) / (n_perm + 1)``.

    All-zero differences give ``p = 1.0``. A non-finite difference gives ``nan`` (no test;
    :func:`holm` leaves it out and :func:`verdict` reads it as indistinguishable). Empty input
    raises ``ValueError``.
    """
    d = np.asarray(differences, dtype=float).ravel()
    if d.size == 0:
        raise ValueError("sign_flip_p needs at least one difference")
    if not np.all(np.isfinite(d)):
        return math.nan
    if not np.any(d):
        return 1.0
    n = d.size
    observed = abs(float(np.mean(d)))
    threshold = observed - 1e-12 * max(1.0, float(np.mean(np.abs(d))))
    if n <= EXACT_MAX_N:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        means = ((2 * bits - 1) @ d) / n
        return float(np.mean(np.abs(means) >= threshold))
    rng = np.random.default_rng(seed)
    hits, chunk = 0, max(1, 2**20 // n)
    for start in range(0, n_perm, chunk):
        rows = min(chunk, n_perm - start)
        signs = 2 * rng.integers(0, 2, size=(rows, n)) - 1
        hits += int(np.count_nonzero(np.abs((signs @ d) / n) >= threshold))
    return (1 + hits) / (n_perm + 1)


def min_attainable_p(n: int, n_perm: int = N_PERM) -> float:
    """The smallest p-value :func:`sign_flip_p` can return with ``n`` pairs: ``2 / 2**n`` for the
    exact test (``n <= 16``: only the identity pattern and its negation reach the observed
    ``|mean|`` when all differences share a sign), ``1 / (n_perm + 1)`` for the Monte Carlo test
    (``n > 16``). E.g. 3 seeds: 0.25, 5 seeds: 0.0625, so with 5 or fewer seeds no single
    comparison can be significant at 0.05. ``n < 1`` raises ``ValueError``."""
    if n < 1:
        raise ValueError(f"min_attainable_p needs n >= 1 pairs, got {n}")
    if n <= EXACT_MAX_N:
        return 2.0 / 2.0**n
    return 1.0 / (n_perm + 1)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    With the ``m`` non-nan p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted
    values are ``min(1, max_{j <= i} (m - j + 1) * p_(j))`` (a running maximum, so they are
    non-decreasing in the sorted order). Rejecting ``H_(i)`` when its adjusted value is
    ``< alpha`` controls the family-wise error rate at ``alpha``. ``nan`` inputs stay ``nan`` and
    do not count in ``m``; ties are sorted stably (the running maximum makes the result
    independent of their order). Values outside ``[0, 1]`` raise ``ValueError``.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if np.any((p[valid] < 0.0) | (p[valid] > 1.0)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[valid].tolist()}")
    m = valid.size
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


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


@dataclass(frozen=True)
class PairedComparison:
    """``a`` against ``b`` on the same seeds (see :func:`paired_comparison`)."""

    n: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    min_p: float
    wins: int
    ties: int
    losses: int


def paired_comparison(
    a: np.ndarray, b: np.ndarray, level: float = 0.95, seed: int = 0
) -> PairedComparison:
    """``a`` against ``b`` on the same seeds (``a[i]``, ``b[i]`` from seed ``i``).

    ``difference = mean(a) - mean(b)`` with its paired percentile bootstrap CI
    (:func:`paired_bootstrap_ci` with :func:`mean_difference`, 10,000 resamples, ``level``,
    ``seed``); ``p_value`` is the unadjusted two-sided :func:`sign_flip_p` of ``a - b`` (``seed``
    for the Monte Carlo case) and ``min_p`` = :func:`min_attainable_p` ``(n)``, the smallest
    p-value ``n`` pairs can give; ``wins, ties, losses`` from :func:`win_tie_loss` with
    tolerance 0. Pairs are not filtered: a ``nan`` gives ``nan`` means, CI and p-value. With
    ``n == 1`` the CI is ``(nan, nan)`` and ``p = 1``. ``a`` and ``b`` must have the same length
    ``n >= 1``.
    """
    x, y = _pair(a, b)
    difference, low, high = paired_bootstrap_ci(x, y, mean_difference, level=level, seed=seed)
    wins, ties, losses = win_tie_loss(x, y)
    return PairedComparison(
        n=int(x.size),
        mean_a=float(np.mean(x)),
        mean_b=float(np.mean(y)),
        difference=difference,
        ci_low=low,
        ci_high=high,
        p_value=sign_flip_p(x - y, seed=seed),
        min_p=min_attainable_p(x.size),
        wins=wins,
        ties=ties,
        losses=losses,
    )


def verdict(p_adjusted: float, difference: float, alpha: float = ALPHA) -> str:
    """``"better"`` if ``p_adjusted < alpha`` and ``difference > 0``, ``"worse"`` if
    ``p_adjusted < alpha`` and ``difference < 0``, else ``"indistinguishable"`` (also for a
    ``nan`` p-value or difference). ``difference`` is oriented so that positive favours the
    optimizer (e.g. accuracy minus the reference's; negate it for a loss). The rule in words is
    :data:`PAIRED_RULE`."""
    if p_adjusted < alpha:  # False for nan
        if difference > 0:
            return "better"
        if difference < 0:
            return "worse"
    return "indistinguishable"


def claim_verdict(low: float, high: float, claimed: float, null: float) -> str:
    """Verdict on a claim "the effect is about ``claimed``", given the effect's CI
    ``[low, high]`` in the claim's units and the no-effect value ``null < claimed`` (accuracy
    gain: ``null = 0``, ``claimed = 0.037``; speed-up ratio: ``null = 1``, ``claimed = 1.2``):

    - ``"supported"`` if ``low > null`` and ``high >= claimed`` (a real effect, and the claimed
      size is within reach of the interval);
    - ``"contradicted"`` if ``high < claimed`` (the whole interval falls short of the claim,
      whether or not it excludes no effect);
    - ``"inconclusive"`` otherwise (the interval reaches the claim but includes no effect), and
      whenever a bound is ``nan``.

    The rule in words is :data:`CLAIM_RULE`. ``claimed <= null`` raises ``ValueError``.
    """
    if not claimed > null:
        raise ValueError(f"the claimed effect ({claimed}) must lie above no effect ({null})")
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    if high < claimed:
        return "contradicted"
    if low > null:
        return "supported"
    return "inconclusive"


# ----------------------------------------------------------------------------- curves
def _sorted_curve(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` and ``values`` as float arrays sorted by step (stable: equal steps keep order)."""
    s = np.asarray(steps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if s.size != v.size:
        raise ValueError(f"steps and values differ in length: {s.size} and {v.size}")
    order = np.argsort(s, kind="stable")
    return s[order], v[order]


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
