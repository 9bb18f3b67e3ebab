r"""The report's inferential standard: one set of rules for every interval and every verdict.

Everything here is a thin, documented layer over maintained libraries (docs/protocol.md,
"Statistics"): Student-t intervals and tests on :data:`scipy.stats.t`, TOST from
:func:`statsmodels.stats.weightstats.ttost_paired`, Holm as
:func:`statsmodels.stats.multitest.multipletests` computes it (:func:`holm`), power from
:class:`statsmodels.stats.power.TTestPower`. No resampling: these are exact under normality
and were checked by simulation at the seed counts a suite has (tests/test_inference.py).

- **Intervals.** A mean (or a mean paired difference) over :math:`n` seeds gets the
  Student-t interval :math:`\bar x \pm t_{0.975,\,n-1}\, s/\sqrt n`
  (:func:`mean_interval`); :math:`n < 2` gives no interval (:data:`NO_INTERVAL`). A ratio
  (speed-up) is the exponentiated t-interval of the mean paired log-ratio (:func:`log_ratios`, :func:`ratio`).
- **Tests.** A paired comparison is the one-sample t-test of the per-seed differences
  against 0 (:func:`paired_test`), and its equivalence test is TOST with margin
  :math:`\pm m` (two one-sided t-tests; :math:`p_\mathrm{eq}` the larger of the two).
- **Pooled across cells** (:func:`pooled_test`): cells are the unit, each weighted equally.
  The pooled effect is :math:`\hat\Delta = \frac1K\sum_c \bar d_c`, its standard error
  :math:`\mathrm{SE} = \sqrt{\sum_c s_c^2/n_c}/K`, and its degrees of freedom
  Welch-Satterthwaite's :math:`\nu = (\sum_c v_c)^2 / \sum_c \frac{v_c^2}{n_c - 1}` with
  :math:`v_c = s_c^2/n_c`; the interval, the t-test and TOST use :math:`t_\nu`. Cells are
  fixed (the suite chose them), seeds are the replication.
- **Families and verdicts.** p-values are Holm-adjusted over a declared family
  (:func:`holm`); TOST p-values over the same family, separately. :func:`verdict`:
  ``better``/``worse`` when the adjusted t-test p is below :data:`ALPHA`, else ``equivalent``
  (within :math:`\pm m`) when the adjusted TOST p is below it, else ``undetermined``.
- **Power.** :func:`mde`: the smallest true effect the test detects with probability
  :data:`POWER` at the family's first Holm step (:math:`\alpha/M`, conservative: later steps
  test at larger levels); :func:`seeds_needed`: the seeds for a given effect at that level.
- **Design check.** :func:`min_signflip_holm`: the smallest Holm-adjusted p an exact
  sign-flip test (distribution-free) could reach with the family's seed counts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from report.numbers import NO_INTERVAL as _NO_INTERVAL

#: Family-wise significance level of every verdict (after Holm).
ALPHA = 0.05
#: Confidence level of every interval.
LEVEL = 0.95
#: Power at which the minimum detectable effect and the seeds needed are computed.
POWER = 0.8
#: Equivalence margins (the defaults of docs/protocol.md): 1 accuracy point, 10% speed.
ACCURACY_MARGIN = 0.01
SPEED_MARGIN = 0.10
#: Resamples of the descriptive stratified bootstrap (report.inference_bootstrap).
RESAMPLES = 2000
#: How the intervals are computed, named in every caption.
INTERVAL_METHOD = "Student-t"
#: What the report says where there is no interval (defined with the number formatter).
NO_INTERVAL = _NO_INTERVAL
#: The test behind every verdict.
TEST = "paired t-test of per-seed differences (two-sided), TOST for equivalence"

VERDICTS = ("better", "worse", "equivalent", "undetermined")


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with its Student-t interval (``nan`` bounds when ``n < 2``)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float


def _no_spread(sd: float, scale: float) -> bool:
    """A sample sd at floating-point noise (``<= 1e-12 * max(1, |scale|)``, e.g. three equal
    differences whose mean rounds): no spread, so no t statistic to compute."""
    return sd <= 1e-12 * max(1.0, abs(scale))


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def t_intervals(rows: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, ...]:
    r"""Row by row of a 2-D array of ``n >= 2`` finite values per row: the mean, the sample
    sd and the Student-t interval :math:`\bar x \pm t_{(1+\ell)/2,\,n-1}\,s/\sqrt n`
    (quantile from ``scipy.stats.t.ppf``). The one computation behind every interval of the
    report (:func:`mean_interval`, :func:`paired_test`), vectorised so that its coverage can
    be simulated (tests/test_inference.py)."""
    x = np.asarray(rows, dtype=float)
    n = x.shape[-1]
    mean = x.mean(axis=-1)
    sd = x.std(axis=-1, ddof=1)
    half = float(sps.t.ppf((1.0 + level) / 2.0, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def mean_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    r"""Mean and Student-t interval :math:`\bar x \pm t_{(1+\ell)/2,\,n-1}\,s/\sqrt n` of the
    finite ``values`` (:func:`t_intervals`). ``n < 2``: no interval (``nan`` bounds, and
    ``sd`` ``nan`` too); all values equal: the zero-width interval at the mean."""
    x = _finite(values)
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    if n < 2:
        return Interval(n, float(x[0]), math.nan, math.nan, math.nan)
    mean, sd, low, high = (float(v[0]) for v in t_intervals(x[None, :], level))
    if _no_spread(sd, mean):
        return Interval(n, mean, 0.0, mean, mean)
    return Interval(n, mean, sd, low, high)


@dataclass(frozen=True)
class Effect:
    """A paired (or pooled) effect, its interval, its t-test against 0 and its TOST within
    ``+-margin`` (all on the test's scale: a difference, or a mean log-ratio)."""

    n: int
    estimate: float
    sd: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    p_equivalence: float
    margin: float


def _nan_test(n: int, estimate: float, margin: float) -> Effect:
    nan = math.nan
    return Effect(n, estimate, nan, nan, nan, nan, nan, nan, nan, margin)


def paired_test(
    differences: Sequence[float] | np.ndarray, margin: float, level: float = LEVEL
) -> Effect:
    r"""The one-sample t-test of the per-seed ``differences`` against 0 (two-sided, on
    ``scipy.stats.t``; equal to ``scipy.stats.ttest_rel`` of the two samples), their
    t-interval (:func:`t_intervals`), and TOST of :math:`|\Delta| < m`
    (``statsmodels.stats.weightstats.ttost_paired(d, 0, -m, m)``). Non-finite differences are
    dropped. ``n < 2``: no test (``nan``). Zero spread: ``p = 0`` if the mean is not 0 (else 1)
    and ``p_eq = 0`` if :math:`|\bar d| < m` (else 1), the limits of the tests as
    :math:`s \to 0`."""
    d = _finite(differences)
    n = int(d.size)
    if n < 2:
        return _nan_test(n, float(d.mean()) if n else math.nan, margin)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if _no_spread(sd, mean):
        sd = 0.0
        p = 0.0 if mean != 0.0 else 1.0
        p_eq = 0.0 if abs(mean) < margin else 1.0
        return Effect(n, mean, 0.0, 0.0, n - 1, mean, mean, p, p_eq, margin)
    se = sd / math.sqrt(n)
    _, _, low, high = (float(v[0]) for v in t_intervals(d[None, :], level))
    p = float(2.0 * sps.t.sf(abs(mean) / se, n - 1))
    p_eq = float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])
    return Effect(n, mean, sd, se, float(n - 1), low, high, p, p_eq, margin)


def _t_from_se(
    estimate: float, se: float, df: float, margin: float, level: float
) -> tuple[float, ...]:
    """Interval, two-sided p and TOST p of ``estimate`` with standard error ``se`` and ``df``
    degrees of freedom (scipy's t distribution)."""
    if se == 0.0:
        p = 0.0 if estimate != 0.0 else 1.0
        return estimate, estimate, p, 0.0 if abs(estimate) < margin else 1.0
    q = float(sps.t.ppf((1.0 + level) / 2.0, df))
    p = float(2.0 * sps.t.sf(abs(estimate) / se, df))
    p_eq = max(float(sps.t.sf((estimate + margin) / se, df)),
               float(sps.t.cdf((estimate - margin) / se, df)))  # fmt: skip
    return estimate - q * se, estimate + q * se, p, p_eq


def pooled_test(
    per_cell: Sequence[Sequence[float] | np.ndarray], margin: float, level: float = LEVEL
) -> Effect:
    r"""The pooled effect across cells, cells weighted equally (module docstring):
    :math:`\hat\Delta = \frac1K \sum_c \bar d_c`, :math:`\mathrm{SE} = \sqrt{\sum_c
    s_c^2/n_c}/K`, Welch-Satterthwaite degrees of freedom, t-interval, two-sided t-test and
    TOST on :math:`t_\nu`. ``n`` is the total number of pairs. A cell with fewer than 2
    finite differences has no variance: then there is no test (``nan``)."""
    cells = [_finite(d) for d in per_cell]
    cells = [d for d in cells if d.size]
    n = int(sum(d.size for d in cells))
    if not cells:
        return _nan_test(0, math.nan, margin)
    k = len(cells)
    estimate = float(np.mean([d.mean() for d in cells]))
    if any(d.size < 2 for d in cells):
        return _nan_test(n, estimate, margin)
    v = np.array([d.var(ddof=1) / d.size for d in cells])
    dof = np.array([d.size - 1 for d in cells], dtype=float)
    se = float(math.sqrt(v.sum()) / k)
    df = float(v.sum() ** 2 / np.sum(v**2 / dof)) if v.sum() > 0 else float(dof.sum())
    sd = se * math.sqrt(n)  # the spread one pair contributes, for the power computations
    low, high, p, p_eq = _t_from_se(estimate, se, df, margin, level)
    return Effect(n, estimate, sd, se, df, low, high, p, p_eq, margin)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values in the input order: with the ``M`` non-nan p-values sorted,
    ``p_(1) <= ... <= p_(M)``, the adjusted ``p_(i)`` is ``min(1, max_{j <= i} (M - j + 1)
    p_(j))``; ``nan`` entries stay ``nan`` and do not count in ``M``.

    This is ``statsmodels.stats.multitest.multipletests(p, method="holm")[1]`` (the tests
    compare the two on fixed and random families), written out because statsmodels' Holm
    branch calls ``gc.collect()`` on every call: 0.3 s each in a process holding torch and
    pandas, several times per report."""
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size:
        order = valid[np.argsort(p[valid], kind="stable")]
        scaled = (valid.size - np.arange(valid.size)) * p[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def verdict(p_holm: float, p_equivalence_holm: float, estimate: float, alpha: float = ALPHA) -> str:
    """``better`` (``worse``) when the Holm-adjusted t-test p is below ``alpha`` and the
    estimate is positive (negative); else ``equivalent`` when the Holm-adjusted TOST p is
    below ``alpha``; else ``undetermined`` (also for ``nan``). The estimate is oriented so that
    positive favours BAMSProd (or whichever optimizer is first in the comparison)."""
    if p_holm < alpha and estimate != 0.0:  # False for nan
        return "better" if estimate > 0 else "worse"
    if p_equivalence_holm < alpha:
        return "equivalent"
    return "undetermined"


def first_step_alpha(family_size: int, alpha: float = ALPHA) -> float:
    """Holm's first (strictest) level: ``alpha / M`` for a family of ``M`` tests."""
    return alpha / max(1, family_size)


def _solve(**kwargs: float | None) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(TTestPower().solve_power(alternative="two-sided", **kwargs))
        except (ValueError, RuntimeError, ZeroDivisionError):  # pragma: no cover - solver
            return math.nan


def mde(sd: float, df: float, alpha: float, power: float = POWER) -> float:
    r"""The minimum detectable effect: the true mean difference a two-sided t-test at level
    ``alpha`` detects with probability ``power``, given the spread ``sd`` of one pair and
    :math:`\nu` = ``df`` degrees of freedom (one sample of ``df + 1`` pairs;
    ``TTestPower().solve_power(nobs=df + 1, alpha, power)`` gives the effect in sd units).
    For a pooled test pass its ``sd`` (= SE times the square root of the pairs) and scale:
    ``mde(se * sqrt(df + 1), df, ...)`` is used (:func:`detectable_effect`). ``nan`` without spread
    or with ``df < 1``."""
    if not (math.isfinite(sd) and math.isfinite(df)) or df < 1:
        return math.nan
    if sd == 0.0:
        return 0.0
    return _solve(effect_size=None, nobs=df + 1.0, alpha=alpha, power=power) * sd


def detectable_effect(test: Effect, alpha: float, power: float = POWER) -> float:
    """:func:`mde` of a :class:`Effect` (one-sample or pooled): the effect in sd units at
    ``df + 1`` observations, times ``se * sqrt(df + 1)``."""
    if not (math.isfinite(test.se) and math.isfinite(test.df)):
        return math.nan
    return mde(test.se * math.sqrt(test.df + 1.0), test.df, alpha, power)


def seeds_needed(
    effect: float, sd: float, alpha: float, power: float = POWER, *, most: int = 100_000
) -> float:
    """The number of seed pairs at which a two-sided t-test at level ``alpha`` detects a true
    mean difference ``effect`` with probability ``power``, given the per-pair spread ``sd``:
    the smallest integer ``n >= 2`` with ``TTestPower().power(|effect| / sd, nobs=n, alpha)
    >= power`` (searched over every ``n`` up to ``most``; a power the library cannot evaluate,
    ``nan`` at extreme effect sizes, counts as not reached: conservative). ``nan`` without a
    spread estimate or beyond ``most``; 2 when ``sd == 0``."""
    if not (math.isfinite(sd) and math.isfinite(effect)) or effect == 0.0:
        return math.nan
    if sd == 0.0:
        return 2.0
    low, high = 2, 16
    while low <= most:  # growing blocks: the answer is usually small
        nobs = np.arange(low, min(high, most) + 1, dtype=float)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            reached = TTestPower().power(
                abs(effect) / sd, nobs=nobs, alpha=alpha, alternative="two-sided"
            )
        hit = np.flatnonzero(np.nan_to_num(reached, nan=0.0) >= power)
        if hit.size:
            return float(nobs[hit[0]])
        low, high = high + 1, high * 8
    return math.nan


def min_signflip_p(n_pairs: int) -> float:
    """The smallest two-sided p of an exact sign-flip test on ``n_pairs`` pairs: ``2 / 2**n``
    (only the observed signs and their negation reach the largest ``|mean|``)."""
    if n_pairs < 1:
        return 1.0
    return min(1.0, 2.0 / 2.0**n_pairs)


def min_signflip_holm(n_pairs: Sequence[int]) -> float:
    """The smallest Holm-adjusted p a family of exact sign-flip tests could reach, one test
    per entry of ``n_pairs`` (its number of seed pairs; a pooled test flips every pair of every
    cell): Holm's adjustment of the tests' smallest attainable p-values, its minimum. From the
    seed counts alone, not the data: a design check (below ``ALPHA``, the family can decide
    without assuming normality). ``nan`` for an empty family."""
    if not n_pairs:
        return math.nan
    return float(np.min(holm([min_signflip_p(int(n)) for n in n_pairs])))


def log_ratios(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    """Per-pair ``log(a / b)`` of two seed-paired samples, over the pairs where both are finite
    and positive (a time-to-target of 0 has no ratio). A speed-up of ``b`` over ``a`` is
    ``a / b``: pass the slower optimizer's times first."""
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    return np.log(x[keep]) - np.log(y[keep])


def ratio(test: Effect) -> tuple[float, float, float]:
    """``(ratio, low, high)``: a log-scale :class:`Effect` back on the ratio scale (the geometric
    mean ratio and its exponentiated t-interval)."""
    return math.exp(test.estimate) if math.isfinite(test.estimate) else math.nan, *(
        math.exp(v) if math.isfinite(v) else math.nan for v in (test.ci_low, test.ci_high)
    )
