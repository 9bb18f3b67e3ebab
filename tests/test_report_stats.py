"""report.stats against values worked out by hand on small fixed arrays (the arithmetic is in
the comments), plus one Monte Carlo test against scipy's permutation test."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import permutation_test

from report.stats import (
    CLAIM_RULE,
    PAIRED_RULE,
    PairedComparison,
    bootstrap_ci,
    claim_verdict,
    expected_max,
    expected_max_curve,
    holm,
    mean_difference,
    min_attainable_p,
    normalised_auc,
    paired_bootstrap_ci,
    paired_comparison,
    performance_profile,
    profile_taus,
    ratio_of_means,
    sign_flip_p,
    steps_to_target,
    verdict,
    win_tie_loss,
)

NAN = math.nan
INF = math.inf


# ----------------------------------------------------------------------------- bootstrap_ci
def test_bootstrap_ci_kept() -> None:
    # one finite value (the nan is dropped): no interval
    assert all(math.isnan(x) for x in bootstrap_ci(np.array([5.0, NAN])))
    # constant sample: every resampled mean is 1
    assert bootstrap_ci(np.array([1.0, 1.0, 1.0])) == (1.0, 1.0)
    # [0, 1]: resampled means are 0 (p 1/4), 0.5 (1/2), 1 (1/4); the 2.5% and 97.5% quantiles
    # of 2000 draws are 0 and 1
    assert bootstrap_ci(np.array([0.0, 1.0, NAN])) == (0.0, 1.0)
    # the same positionally / by the brief's names
    assert bootstrap_ci(np.array([0.0, 1.0]), 0.95, 2000, 0) == (0.0, 1.0)
    assert bootstrap_ci(np.array([0.0, 1.0]), level=0.95, n_boot=2000, seed=0) == (0.0, 1.0)


# ----------------------------------------------------------------------------- steps_to_target
def test_steps_to_target() -> None:
    steps, values = [0, 10, 20, 30], [0.1, 0.5, 0.7, 0.9]
    assert steps_to_target(steps, values, 0.6) == 20.0  # 0.5 < 0.6 <= 0.7 at step 20
    assert steps_to_target(steps, values, 0.7) == 20.0  # exactly equal counts as reached
    assert steps_to_target(steps, values, 0.1) == 0.0  # reached at the first point
    assert steps_to_target(steps, values, 0.95) == INF  # never reached
    assert steps_to_target([], [], 0.5) == INF
    assert math.isnan(steps_to_target(steps, values, NAN))


def test_steps_to_target_sorts_and_skips_nan() -> None:
    # sorted by step: (0, 0.1), (10, nan), (20, 0.5), (30, 0.7): nan never reaches, so 20
    assert steps_to_target([30, 0, 20, 10], [0.7, 0.1, 0.5, NAN], 0.5) == 20.0
    with pytest.raises(ValueError):
        steps_to_target([0, 1], [0.5], 0.5)


# ----------------------------------------------------------------------------- paired bootstrap
def test_mean_difference_and_ratio_of_means() -> None:
    # mean([1, 2, 3, 4]) = 2.5, mean([0, 2, 1, 5]) = 2.0
    assert mean_difference(np.array([1.0, 2, 3, 4]), np.array([0.0, 2, 1, 5])) == 0.5
    # speed-up: mean(ref) = (100 + 300) / 2 = 200, mean(opt) = (50 + 150) / 2 = 100 -> 2
    assert ratio_of_means(np.array([100.0, 300.0]), np.array([50.0, 150.0])) == 2.0
    # over the last axis: rows [1, 3] / [1, 1] = 2 and [2, 2] / [4, 4] = 0.5
    rows = ratio_of_means(np.array([[1.0, 3.0], [2.0, 2.0]]), np.array([[1.0, 1.0], [4.0, 4.0]]))
    np.testing.assert_array_equal(rows, [2.0, 0.5])
    assert ratio_of_means(np.array([1.0]), np.array([0.0])) == INF  # mean(b) = 0


def test_paired_bootstrap_ci_point_and_bounds() -> None:
    a, b = np.array([1.0, 2, 3, 4]), np.array([0.0, 2, 1, 5])
    point, low, high = paired_bootstrap_ci(a, b, mean_difference)
    assert point == 0.5  # 2.5 - 2.0
    # the differences are [1, 0, 2, -1]: every resampled mean lies in [-1, 2]
    assert -1.0 <= low <= point <= high <= 2.0
    assert low < high
    # deterministic for a seed
    assert paired_bootstrap_ci(a, b, mean_difference, seed=3) == paired_bootstrap_ci(
        a, b, mean_difference, seed=3
    )


def test_paired_bootstrap_ci_pairs_by_position() -> None:
    # a = [1, 3], b = [1, 2]: differences [0, 1]. The same index is used for a and b, so a
    # resample is (0, 0) -> 1 - 1 = 0 (p 1/4), mixed -> 2 - 1.5 = 0.5 (p 1/2) or (1, 1) -> 3 - 2
    # = 1 (p 1/4); the 2.5% / 97.5% quantiles of 10000 draws are 0 and 1, the point 2 - 1.5.
    assert paired_bootstrap_ci([1.0, 3.0], [1.0, 2.0], mean_difference) == (0.5, 0.0, 1.0)


def test_paired_bootstrap_ci_constant_difference_collapses() -> None:
    a = np.array([1.0, 2.0, 4.0, 8.0])
    point, low, high = paired_bootstrap_ci(a, a - 0.25, mean_difference)
    assert (point, low, high) == pytest.approx((0.25, 0.25, 0.25), abs=1e-12)
    # ref = 2 * opt on every seed: mean(2x) / mean(x) = 2 exactly, for every resample
    opt = np.array([50.0, 150.0, 80.0])
    assert paired_bootstrap_ci(2 * opt, opt, ratio_of_means) == (2.0, 2.0, 2.0)


def test_paired_bootstrap_ci_edge_cases() -> None:
    point, low, high = paired_bootstrap_ci([3.0], [1.0], mean_difference)
    assert point == 2.0 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0, 2.0], [1.0], mean_difference)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([], [], mean_difference)
    with pytest.raises(ValueError, match="last axis"):
        paired_bootstrap_ci([1.0, 2.0], [1.0, 0.0], lambda x, y: float(np.mean(x - y)))


# ----------------------------------------------------------------------------- sign-flip test
def test_sign_flip_p_exact() -> None:
    # [1, 2, 3]: the 8 signed sums are +-6 (all +, all -), +-4, +-2, 0, 0; only 2 of 8 reach
    # |sum| = 6, so p = 2/8
    assert sign_flip_p([1.0, 2.0, 3.0]) == 0.25
    # [1, 2, -0.5]: observed |sum| 2.5; |+-1 +-2 +-0.5| takes 3.5, 2.5, 1.5, 0.5 twice each,
    # so 4 of 8 reach it
    assert sign_flip_p([1.0, 2.0, -0.5]) == 0.5
    # [1, -1]: sums 0, 2, -2, 0 all reach |0|
    assert sign_flip_p([1.0, -1.0]) == 1.0
    assert sign_flip_p([0.0, 0.0]) == 1.0
    # one pair: both patterns have the same |mean|
    assert sign_flip_p([0.3]) == 1.0
    # six same-sign differences: only the identity and its negation, 2/64
    assert sign_flip_p([0.1, 0.2, 0.1, 0.3, 0.05, 0.2]) == 2 / 64
    assert math.isnan(sign_flip_p([1.0, NAN]))
    with pytest.raises(ValueError):
        sign_flip_p([])


def test_sign_flip_p_monte_carlo() -> None:
    # 20 equal differences: a random pattern reaches |mean| = 1 only if it is all + or all -
    # (probability 2/2^20 per draw); none of the 20000 does, so p = (1 + 0) / (20000 + 1)
    assert sign_flip_p(np.ones(20)) == 1 / 20001
    # mean 0: every pattern reaches it, p = (1 + 20000) / 20001
    assert sign_flip_p([1.0] * 10 + [-1.0] * 10) == 1.0
    # fewer patterns: (1 + 0) / (100 + 1)
    assert sign_flip_p(np.ones(20), n_perm=100) == 1 / 101


def test_sign_flip_p_monte_carlo_matches_scipy() -> None:
    d = np.array([0.3, -0.1, 0.5, 0.2, -0.4, 0.6, 0.1, -0.2, 0.4, 0.3])
    d = np.concatenate([d, [-0.5, 0.2, 0.1, -0.3, 0.7, 0.0, 0.2, -0.1, 0.4, -0.6]])
    reference = permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",  # one sample: scipy flips signs
        vectorized=True,
        n_resamples=200_000,
        alternative="two-sided",
        rng=np.random.default_rng(1),
    ).pvalue  # about 0.305 (exact enumeration of the 2^20 patterns gives 0.3055)
    p = sign_flip_p(d, seed=0)
    assert p == pytest.approx(reference, abs=0.015)  # Monte Carlo SE ~ 0.0033
    assert sign_flip_p(d, seed=0) == p


def test_min_attainable_p() -> None:
    assert min_attainable_p(1) == 1.0  # 2 / 2
    assert min_attainable_p(3) == 0.25  # 2 / 8
    assert min_attainable_p(5) == 0.0625  # 2 / 32: five seeds can never reach p < 0.05
    assert min_attainable_p(16) == 2 / 65536
    assert min_attainable_p(17) == 1 / 20001  # Monte Carlo beyond 16 pairs
    with pytest.raises(ValueError):
        min_attainable_p(0)


# ----------------------------------------------------------------------------- holm
def test_holm() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> running
    # max 0.02, 0.03, 0.06, 0.06; back in input order:
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # nan stays nan and m = 2: 0.01 * 2 = 0.02, 0.04 * 1 = 0.04
    np.testing.assert_allclose(holm([0.01, NAN, 0.04]), [0.02, NAN, 0.04])
    # capped at 1: 0.6 * 2 = 1.2 -> 1, then max(1, 0.7) = 1
    np.testing.assert_allclose(holm([0.7, 0.6]), [1.0, 1.0])
    # ties: 0.01 * 2 = 0.02, 0.01 * 1 = 0.01 -> running max 0.02 for both
    np.testing.assert_allclose(holm([0.01, 0.01]), [0.02, 0.02])
    assert holm([]).size == 0
    assert np.isnan(holm([NAN, NAN])).all()
    with pytest.raises(ValueError):
        holm([0.5, 1.5])


# ----------------------------------------------------------------------------- win/tie/loss
def test_win_tie_loss() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 3.05, 5.0]  # a - b = [1, 0, -0.05, -1]
    assert win_tie_loss(a, b) == (1, 1, 2)
    assert win_tie_loss(a, b, tolerance=0.1) == (1, 2, 1)  # |-0.05| <= 0.1 is a tie
    assert win_tie_loss(a, b, tolerance=1.0) == (0, 4, 0)  # |d| <= 1 everywhere
    assert win_tie_loss([1.0, NAN], [0.0, 0.0]) == (1, 0, 0)  # the nan pair counts nowhere
    with pytest.raises(ValueError):
        win_tie_loss([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        win_tie_loss([1.0], [1.0], tolerance=-0.1)


# ----------------------------------------------------------------------------- paired_comparison
def test_paired_comparison() -> None:
    # d = a - b = [2, 0, 2, -1]; mean(a) = 18/4 = 4.5, mean(b) = 15/4 = 3.75, difference 0.75.
    # Sign flips: the 0 does not matter; |+-2 +-2 +-1| is 5, 3, 1, 1, 1, 1, 3, 5, and 4 of 8
    # reach the observed 3, so p = 0.5; min_p = 2 / 2^4 = 0.125.
    c = paired_comparison([3.0, 5.0, 4.0, 6.0], [1.0, 5.0, 2.0, 7.0])
    assert (c.n, c.mean_a, c.mean_b, c.difference) == (4, 4.5, 3.75, 0.75)
    assert (c.p_value, c.min_p) == (0.5, 0.125)
    assert (c.wins, c.ties, c.losses) == (2, 1, 1)
    assert -1.0 <= c.ci_low <= 0.75 <= c.ci_high <= 2.0  # resampled means lie in [min d, max d]
    assert [f.name for f in dataclasses.fields(PairedComparison)] == [
        "n",
        "mean_a",
        "mean_b",
        "difference",
        "ci_low",
        "ci_high",
        "p_value",
        "min_p",
        "wins",
        "ties",
        "losses",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n = 5  # type: ignore[misc]


def test_paired_comparison_one_seed() -> None:
    c = paired_comparison([0.9], [0.8])
    assert c.n == 1 and c.difference == pytest.approx(0.1)
    assert math.isnan(c.ci_low) and math.isnan(c.ci_high)
    assert (c.p_value, c.min_p, c.wins, c.ties, c.losses) == (1.0, 1.0, 1, 0, 0)


# ----------------------------------------------------------------------------- verdicts
def test_verdict() -> None:
    assert verdict(0.01, 0.5) == "better"
    assert verdict(0.01, -0.5) == "worse"
    assert verdict(0.2, 0.5) == "indistinguishable"
    assert verdict(0.05, 0.5) == "indistinguishable"  # strict: p < alpha
    assert verdict(0.01, 0.0) == "indistinguishable"
    assert verdict(NAN, 0.5) == "indistinguishable"
    assert verdict(0.08, 0.5, alpha=0.1) == "better"
    assert "Holm" in PAIRED_RULE and "sign-flip" in PAIRED_RULE and "0.05" in PAIRED_RULE


def test_claim_verdict_accuracy() -> None:
    # claim: +3.7 points of accuracy; no effect is 0
    assert claim_verdict(0.01, 0.05, 0.037, 0.0) == "supported"
    assert claim_verdict(0.01, 0.037, 0.037, 0.0) == "supported"  # high reaches the claim
    assert claim_verdict(0.005, 0.03, 0.037, 0.0) == "contradicted"  # real but too small
    assert claim_verdict(-0.02, 0.01, 0.037, 0.0) == "contradicted"
    assert claim_verdict(-0.01, 0.05, 0.037, 0.0) == "inconclusive"  # includes no effect
    assert claim_verdict(0.0, 0.05, 0.037, 0.0) == "inconclusive"  # low must be > null
    assert claim_verdict(NAN, NAN, 0.037, 0.0) == "inconclusive"
    assert claim_verdict(0.01, NAN, 0.037, 0.0) == "inconclusive"


def test_claim_verdict_speedup() -> None:
    # claim: 1.2x fewer steps; no effect is a ratio of 1
    assert claim_verdict(1.1, 1.5, 1.2, 1.0) == "supported"
    assert claim_verdict(0.9, 1.1, 1.2, 1.0) == "contradicted"
    assert claim_verdict(0.95, 1.3, 1.2, 1.0) == "inconclusive"
    with pytest.raises(ValueError):
        claim_verdict(0.9, 1.1, 1.0, 1.0)  # the claim must lie above no effect
    assert "supported" in CLAIM_RULE and "contradicted" in CLAIM_RULE
    assert "inconclusive" in CLAIM_RULE


# ----------------------------------------------------------------------------- profiles
COSTS = pd.DataFrame(
    {"adam": [10.0, 30.0, INF], "bop": [20.0, 15.0, 40.0]}, index=["p1", "p2", "p3"]
)


def test_performance_profile() -> None:
    # best per problem: p1 10, p2 15, p3 40 -> ratios adam [1, 2, inf], bop [2, 1, 1]
    # adam: tau 1 -> {p1} 1/3, 1.5 -> 1/3, 2 -> {p1, p2} 2/3, 3 -> 2/3
    # bop:  tau 1 -> {p2, p3} 2/3, 1.5 -> 2/3, 2 -> all 3/3, 3 -> 1
    profile = performance_profile(COSTS, [2.0, 1.0, 3.0, 1.5])  # taus get sorted
    assert list(profile.columns) == ["optimizer", "tau", "fraction"]
    assert profile["optimizer"].tolist() == ["adam"] * 4 + ["bop"] * 4
    assert profile["tau"].tolist() == [1.0, 1.5, 2.0, 3.0] * 2
    np.testing.assert_allclose(
        profile["fraction"], [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 1.0, 1.0]
    )
    # nan (absent) is a failure like inf; a failure never counts, not even at tau = inf
    absent = COSTS.copy()
    absent.loc["p3", "adam"] = NAN
    pd.testing.assert_frame_equal(performance_profile(absent, [2.0, 1.0, 3.0, 1.5]), profile)
    assert performance_profile(COSTS, [INF])["fraction"].tolist() == [2 / 3, 1.0]


def test_performance_profile_all_failed_problem_stays() -> None:
    # p4 failed by both: every ratio inf, but P = 4: at tau 2 adam 2/4, bop 3/4
    costs = pd.concat([COSTS, pd.DataFrame({"adam": [INF], "bop": [INF]}, index=["p4"])])
    profile = performance_profile(costs, [2.0])
    assert profile["fraction"].tolist() == [0.5, 0.75]
    with pytest.raises(ValueError):
        performance_profile(pd.DataFrame({"adam": [0.0], "bop": [1.0]}), [1.0])


def test_profile_taus() -> None:
    taus = profile_taus(COSTS, n=5)  # largest finite ratio 2 -> geomspace(1, 2, 5)
    np.testing.assert_allclose(taus, [2 ** (i / 4) for i in range(5)])
    assert taus[0] == 1.0 and taus[-1] == 2.0
    # largest finite ratio 50 / 10 = 5
    wide = pd.DataFrame({"adam": [10.0, 2.0], "bop": [50.0, 3.0]})
    assert profile_taus(wide, n=3)[-1] == 5.0
    assert np.all(np.diff(profile_taus(wide)) > 0) and profile_taus(wide).size == 50
    # largest finite ratio 1.5 < 2: the grid still reaches 2
    assert profile_taus(pd.DataFrame({"adam": [2.0], "bop": [3.0]}), n=3)[-1] == 2.0


# ----------------------------------------------------------------------------- expected max
def test_expected_max() -> None:
    scores = [0.3, NAN, 0.1, 0.2]  # the nan (failed trial) is dropped: N = 3
    assert expected_max(scores, 1) == pytest.approx(0.2)  # k = 1: the mean
    # k = 2: 0.1 * (1/9) + 0.2 * (4/9 - 1/9) + 0.3 * (1 - 4/9) = (0.1 + 0.6 + 1.5) / 9 = 0.2444
    assert expected_max(scores, 2) == pytest.approx(2.2 / 9)
    # k = 3: 0.1 * (1/27) + 0.2 * (8/27 - 1/27) + 0.3 * (1 - 8/27) = (0.1 + 1.4 + 5.7) / 27
    assert expected_max(scores, 3) == pytest.approx(7.2 / 27)
    # k = 200: weight of 0.3 is 1 - (2/3)^200 ~ 1 - 6e-36
    assert expected_max(scores, 200) == pytest.approx(0.3, abs=1e-15)
    np.testing.assert_allclose(expected_max_curve(scores), [0.2, 2.2 / 9, 7.2 / 27])
    assert expected_max([0.5, 0.5], 7) == pytest.approx(0.5)  # ties
    assert math.isnan(expected_max([NAN], 1))
    assert expected_max_curve([]).size == 0
    with pytest.raises(ValueError):
        expected_max(scores, 0)


# ----------------------------------------------------------------------------- normalised AUC
def test_normalised_auc() -> None:
    # step function 0 -> 1 at step 2 (two points at step 2), budget 4: 0 * 2 + 1 * 2 = 2 -> 0.5
    assert normalised_auc([0, 2, 2, 4], [0.0, 0.0, 1.0, 1.0], 4) == 0.5
    # unsorted input with the jump's two points in order: the same curve
    assert normalised_auc([4, 0, 2, 2], [1.0, 0.0, 0.0, 1.0], 4) == 0.5
    # the curve stops at 4 of a budget of 8: last value 1 held flat, (2 + 4 * 1) / 8 = 0.75
    assert normalised_auc([0, 2, 2, 4], [0.0, 0.0, 1.0, 1.0], 8) == 0.75
    # ramp 0 -> 1 over [0, 4]: triangle 4 * 1 / 2 = 2 -> 2 / 4 = 0.5
    assert normalised_auc([0, 4], [0.0, 1.0], 4) == 0.5
    # the same ramp cut at budget 2: triangle 2 * 0.5 / 2 = 0.5 -> 0.5 / 2 = 0.25
    assert normalised_auc([0, 4], [0.0, 1.0], 2) == 0.25
    # starts at step 2: 0.5 held back to 0 (2 * 0.5 = 1), then 2 * (0.5 + 1) / 2 = 1.5 -> 2.5/4
    assert normalised_auc([2, 4], [0.5, 1.0], 4) == 0.625
    assert normalised_auc([0], [0.3], 10) == pytest.approx(0.3)  # one point, held flat
    assert math.isnan(normalised_auc([0, 1], [0.5, NAN], 2))
    assert math.isnan(normalised_auc([], [], 2))
    with pytest.raises(ValueError):
        normalised_auc([0, 1], [0.5, 0.6], 0)
    with pytest.raises(ValueError):
        normalised_auc([-1, 1], [0.5, 0.6], 2)
