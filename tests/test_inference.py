"""report.inference, report.inference_bootstrap and report.inference_survival against
independent references: scipy and statsmodels on fixed arrays, hand-worked examples (the
arithmetic in the comments), a second implementation of the stratified bootstrap written
here, and the coverage of the report's intervals by simulation (docs/protocol.md quotes the
measured coverage)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from report import inference as inf
from report.inference_bootstrap import iqm, probability_of_improvement, stratified_bootstrap
from report.inference_survival import kaplan_meier_median, restricted_mean, time_to_target

A = np.array([0.912, 0.905, 0.931, 0.899, 0.921])
B = np.array([0.884, 0.902, 0.897, 0.890, 0.915])


# ----------------------------------------------------------------------------- intervals
def test_mean_interval_is_scipys_t_interval() -> None:
    got = inf.mean_interval(A)
    low, high = sps.t.interval(0.95, len(A) - 1, loc=A.mean(), scale=sps.sem(A))
    ci = sps.ttest_1samp(A, 0.0).confidence_interval(0.95)
    assert (got.n, got.mean, got.sd) == (5, pytest.approx(A.mean()), pytest.approx(A.std(ddof=1)))
    assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert (got.ci_low, got.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_no_interval_below_two_values_and_nan_dropped() -> None:
    one = inf.mean_interval([0.9, math.nan])
    assert one.n == 1 and one.mean == 0.9 and math.isnan(one.ci_low) and math.isnan(one.sd)
    assert inf.mean_interval([]).n == 0
    same = inf.mean_interval([0.5, 0.5, 0.5])  # no spread: the zero-width interval
    assert (same.ci_low, same.ci_high) == (0.5, 0.5)


def test_paired_test_is_scipys_paired_t_test_and_statsmodels_tost() -> None:
    margin = 0.01
    got = inf.paired_test(A - B, margin)
    ref = sps.ttest_rel(A, B)
    ci = ref.confidence_interval(0.95)
    assert got.p_value == pytest.approx(ref.pvalue)
    assert (got.ci_low, got.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert got.df == 4 and got.se == pytest.approx(sps.sem(A - B))
    # TOST: statsmodels on the two samples, and by hand as two one-sided scipy t-tests
    assert got.p_equivalence == pytest.approx(ttost_paired(A, B, -margin, margin)[0])
    d = A - B
    upper = sps.ttest_1samp(d, margin, alternative="less").pvalue
    lower = sps.ttest_1samp(d, -margin, alternative="greater").pvalue
    assert got.p_equivalence == pytest.approx(max(upper, lower))


def test_zero_spread_limits_and_too_few_pairs() -> None:
    assert inf.paired_test([0.05, 0.05, 0.05], 0.01).p_value == 0.0
    assert inf.paired_test([0.0, 0.0, 0.0], 0.01).p_value == 1.0
    assert inf.paired_test([0.0, 0.0, 0.0], 0.01).p_equivalence == 0.0
    single = inf.paired_test([0.05], 0.01)
    assert single.n == 1 and math.isnan(single.p_value) and math.isnan(single.ci_low)


def test_log_ratio_interval_is_the_exponentiated_t_interval_of_the_logs() -> None:
    slow, fast = np.array([120.0, 100, 140, 90]), np.array([100.0, 80, 100, 90])
    logs = inf.log_ratios(slow, fast)
    value, low, high = inf.ratio(inf.paired_test(logs, math.log(1.1)))
    ci = sps.ttest_1samp(np.log(slow / fast), 0).confidence_interval(0.95)
    assert value == pytest.approx(sps.gmean(slow / fast))
    assert (low, high) == (pytest.approx(math.exp(ci.low)), pytest.approx(math.exp(ci.high)))
    # a time of 0 or inf has no ratio: the pair is left out
    assert inf.log_ratios([1.0, 0.0, math.inf], [2.0, 1.0, 1.0]).size == 1


# ----------------------------------------------------------------------------- pooled
def test_pooled_test_by_hand() -> None:
    c1, c2 = np.array([0.01, 0.03, 0.02]), np.array([0.05, 0.01, 0.03, 0.05])
    got = inf.pooled_test([c1, c2], 0.01)
    # cell means 0.02 and 0.035 -> pooled 0.0275 (equal weight, not the pair mean 0.02857)
    assert got.estimate == pytest.approx(0.0275) and got.n == 7
    v1, v2 = c1.var(ddof=1) / 3, c2.var(ddof=1) / 4  # 0.0001/3, 0.00036/4
    se = math.sqrt(v1 + v2) / 2
    df = (v1 + v2) ** 2 / (v1**2 / 2 + v2**2 / 3)
    assert got.se == pytest.approx(se) and got.df == pytest.approx(df)
    q = sps.t.ppf(0.975, df)
    assert (got.ci_low, got.ci_high) == (
        pytest.approx(0.0275 - q * se),
        pytest.approx(0.0275 + q * se),
    )
    assert got.p_value == pytest.approx(2 * sps.t.sf(0.0275 / se, df))
    eq = max(sps.t.sf((0.0275 + 0.01) / se, df), sps.t.cdf((0.0275 - 0.01) / se, df))
    assert got.p_equivalence == pytest.approx(eq)


def test_pooled_over_one_cell_is_the_paired_test() -> None:
    one, pooled = inf.paired_test(A - B, 0.01), inf.pooled_test([A - B], 0.01)
    for field in ("estimate", "se", "df", "ci_low", "ci_high", "p_value", "p_equivalence"):
        assert getattr(pooled, field) == pytest.approx(getattr(one, field)), field
    assert math.isnan(inf.pooled_test([A - B, np.array([0.1])], 0.01).p_value)


# ----------------------------------------------------------------------------- Holm, verdicts
def test_holm_by_hand_and_against_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running
    # max 0.02, 0.03, 0.06, 0.06; back in input order:
    assert inf.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert inf.holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    with_nan = inf.holm([0.01, math.nan, 0.04])  # nan left out of the family (m = 2)
    assert with_nan[0] == pytest.approx(0.02) and math.isnan(with_nan[1])
    assert with_nan[2] == pytest.approx(0.04)
    rng = np.random.default_rng(3)  # random families, ties and ones included
    for size in (1, 2, 5, 12, 40):
        family = np.round(rng.uniform(0, 0.2, size), 3)
        assert inf.holm(family) == pytest.approx(multipletests(family, method="holm")[1])


def test_verdict_words() -> None:
    assert inf.verdict(0.01, 0.9, 0.05) == "better"
    assert inf.verdict(0.01, 0.9, -0.05) == "worse"
    assert inf.verdict(0.3, 0.01, 0.001) == "equivalent"
    assert inf.verdict(0.3, 0.3, 0.02) == "undetermined"
    assert inf.verdict(math.nan, math.nan, 0.02) == "undetermined"


# ----------------------------------------------------------------------------- power
def test_mde_and_seeds_needed_against_statsmodels_power() -> None:
    sd, n, alpha = 0.02, 5, 0.0125
    m = inf.mde(sd, n - 1, alpha)
    assert TTestPower().power(m / sd, nobs=n, alpha=alpha) == pytest.approx(0.8, abs=1e-6)
    k = inf.seeds_needed(0.037, sd, alpha)
    power = TTestPower().power
    assert (
        power(0.037 / sd, nobs=k, alpha=alpha) >= 0.8 > power(0.037 / sd, nobs=k - 1, alpha=alpha)
    )
    # large n: close to the normal approximation (z_{1-a/2} + z_{0.8}) sd / sqrt(n)
    z = sps.norm.ppf(1 - 0.05 / 2) + sps.norm.ppf(0.8)
    assert inf.mde(1.0, 9999, 0.05) == pytest.approx(z / 100, rel=1e-3)
    assert inf.seeds_needed(0.037, 0.0, alpha) == 2 and math.isnan(inf.mde(0.02, 0, alpha))
    # a pooled effect: the MDE scales with its SE at its degrees of freedom
    pooled = inf.pooled_test([A - B, A - B], 0.01)
    d = TTestPower().solve_power(nobs=pooled.df + 1, alpha=alpha, power=0.8)
    assert inf.detectable_effect(pooled, alpha) == pytest.approx(
        d * pooled.se * math.sqrt(pooled.df + 1)
    )


def test_min_signflip_holm_from_seed_counts() -> None:
    assert inf.min_signflip_p(3) == 0.25 and inf.min_signflip_p(8) == 2 / 256
    # Holm over three tests at 8 pairs each: 3 x 2/256 = 0.0234375
    assert inf.min_signflip_holm([8, 8, 8]) == pytest.approx(0.0234375)
    assert inf.min_signflip_holm([3, 3]) == 0.5 and math.isnan(inf.min_signflip_holm([]))


# ----------------------------------------------------------------------------- bootstrap
def _second_bootstrap(cells: list[np.ndarray], statistic: str, resamples: int, seed: int) -> tuple:
    """The documented draws, in plain Python loops: per cell, in order, one
    ``integers(0, n, size=(resamples, n))`` block from one generator; then the statistic of
    every resample, and linear-interpolated 2.5% / 97.5% quantiles by hand."""
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(c), size=(resamples, len(c))) for c in cells]
    values = []
    for b in range(resamples):
        rows = [[list(c[i]) for i in d[b]] for c, d in zip(cells, draws, strict=True)]
        if statistic == "iqm":
            x = sorted(r[0] for cell in rows for r in cell)
            cut = int(0.25 * len(x))
            values.append(sum(x[cut : len(x) - cut]) / (len(x) - 2 * cut))
        else:
            per_cell = []
            for cell in rows:
                wins = sum((x[0] > y[1]) + 0.5 * (x[0] == y[1]) for x in cell for y in cell)
                per_cell.append(wins / len(cell) ** 2)
            values.append(sum(per_cell) / len(per_cell))
    values.sort()

    def quantile(q: float) -> float:
        pos = q * (len(values) - 1)
        lo = math.floor(pos)
        return values[lo] + (pos - lo) * (values[min(lo + 1, len(values) - 1)] - values[lo])

    return quantile(0.025), quantile(0.975)


def test_stratified_bootstrap_matches_a_second_implementation() -> None:
    rng = np.random.default_rng(7)
    cells = [
        np.column_stack([rng.normal(0.9, 0.02, n), rng.normal(0.88, 0.02, n)]) for n in (3, 5, 4)
    ]
    for statistic in ("iqm", "probability_of_improvement"):
        got = stratified_bootstrap(cells, statistic, resamples=300, seed=11)
        low, high = _second_bootstrap(cells, statistic, 300, 11)
        assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high)), statistic
        assert got.cells == 3 and got.runs == 12


def test_probability_of_improvement_and_iqm_by_hand() -> None:
    # x = [3, 1], y = [2, 1]: pairs (3>2), (3>1), (1<2), (1=1) -> (1 + 1 + 0 + 0.5) / 4
    assert probability_of_improvement([np.array([[3.0, 2.0], [1.0, 1.0]])]) == 0.625
    # averaged over cells with equal weight: (0.625 + 1.0) / 2
    two = [np.array([[3.0, 2.0], [1.0, 1.0]]), np.array([[5.0, 0.0]])]
    assert probability_of_improvement(two) == pytest.approx(0.8125)
    # IQM of 1..8: drop 2 at each end, mean of 3..6 = 4.5
    assert iqm([np.arange(1.0, 9.0)[:, None]]) == 4.5
    single = stratified_bootstrap([np.array([[1.0, 0.0]])], "probability_of_improvement")
    assert single.estimate == 1.0 and math.isnan(single.ci_low)


# ----------------------------------------------------------------------------- survival
def test_time_to_target_interpolates() -> None:
    steps, values = [0, 10, 20, 30], [0.1, 0.5, 0.7, 0.9]
    assert time_to_target(steps, values, 0.6) == pytest.approx(15.0)  # halfway 0.5 -> 0.7
    assert time_to_target(steps, values, 0.7) == 20.0  # exactly reached at an evaluation
    assert time_to_target(steps, values, 0.05) == 0.0  # at the first point
    assert time_to_target(steps, values, 0.95) == math.inf
    assert math.isnan(time_to_target(steps, values, math.nan))
    assert time_to_target([20, 0, 10], [0.7, 0.1, 0.5], 0.6) == pytest.approx(15.0)  # sorted


def test_kaplan_meier_median_and_rmst_by_hand() -> None:
    # times 2, 4, 4+, 6, 10+ (+ = censored). At risk 5: S(2) = 4/5 = 0.8; at 4, 4 at risk
    # and 1 event: 0.8 * 3/4 = 0.6; at 6, 2 at risk: 0.6 * 1/2 = 0.3. Median: first time
    # S < 0.5 -> 6. RMST to 10: 2 * 1 + 2 * 0.8 + 2 * 0.6 + 4 * 0.3 = 6.0
    times, reached = [2, 4, 4, 6, 10], [True, True, False, True, False]
    assert kaplan_meier_median(times, reached) == 6.0
    assert restricted_mean(times, reached, 10) == pytest.approx(6.0)
    assert restricted_mean(times, reached, 5) == pytest.approx(2 + 2 * 0.8 + 1 * 0.6)
    # censored only at the budget (as in a report): RMST = mean of min(T, budget) = 28/4
    assert restricted_mean([3, 5, 10, 10], [True, True, False, False], 10) == 7.0
    # fewer than half reached: no median within the budget
    assert kaplan_meier_median([3, 10, 10], [True, False, False]) == math.inf
    # exactly half: S stays at 0.5 -> statsmodels' convention (S < 0.5 strictly): beyond
    assert kaplan_meier_median([3, 5, 10, 10], [True, True, False, False]) == math.inf


# ----------------------------------------------------------------------------- coverage
SIMULATIONS = 2000


def _coverage(rows: np.ndarray, truth: float) -> float:
    _, _, low, high = inf.t_intervals(rows)
    return float(np.mean((low <= truth) & (truth <= high)))


@pytest.mark.parametrize("n", [3, 5, 10])
def test_coverage_of_the_reports_intervals(n: int) -> None:
    """2,000 simulated data sets per n (fixed seed): the t-interval of a mean and of a mean
    paired difference covers the truth 95% +- 2% on normal data, and at least 92% on skewed
    accuracies near a ceiling (Beta(8, 2), mean 0.8)."""
    rng = np.random.default_rng(2026)
    normal = rng.normal(0.9, 0.02, (SIMULATIONS, n))
    common = rng.normal(0.0, 0.03, (SIMULATIONS, n))  # the seed's shared part cancels
    a = 0.85 + common + rng.normal(0.01, 0.01, (SIMULATIONS, n))
    b = 0.85 + common + rng.normal(0.0, 0.01, (SIMULATIONS, n))
    beta = rng.beta(8, 2, (SIMULATIONS, n))
    beta_pairs = rng.beta(8, 2, (SIMULATIONS, n)) - rng.beta(8, 2, (SIMULATIONS, n))
    assert 0.93 <= _coverage(normal, 0.9) <= 0.97
    assert 0.93 <= _coverage(a - b, 0.01) <= 0.97
    assert _coverage(beta, 0.8) >= 0.92
    assert _coverage(beta_pairs, 0.0) >= 0.92
    # the row function is the one mean_interval and paired_test use
    row = inf.mean_interval(normal[0])
    assert (row.ci_low, row.ci_high) == tuple(float(v[0]) for v in inf.t_intervals(normal[:1])[2:])


@pytest.mark.parametrize("n", [3, 5, 10])
def test_coverage_of_the_pooled_interval(n: int) -> None:
    """The pooled interval (three cells of unequal spread, Welch-Satterthwaite df) covers the
    mean of the cells' true effects 95% +- 2%."""
    rng = np.random.default_rng(2027)
    effects, spreads = (0.01, 0.02, 0.03), (0.005, 0.01, 0.03)
    hits = 0
    for _ in range(SIMULATIONS):
        cells = [rng.normal(e, s, n) for e, s in zip(effects, spreads, strict=True)]
        got = inf.pooled_test(cells, 0.01)
        hits += got.ci_low <= 0.02 <= got.ci_high
    assert 0.93 <= hits / SIMULATIONS <= 0.97
