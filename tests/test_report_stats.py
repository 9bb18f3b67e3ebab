"""report.stats against values worked out by hand on small fixed arrays (the arithmetic is in
the comments). The intervals, tests and verdicts are report.inference's: tests/test_inference.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from report.stats import (
    examples_in_test_set,
    expected_max,
    expected_max_curve,
    normalised_auc,
    performance_profile,
    profile_taus,
    steps_to_target,
    win_tie_loss,
)

NAN = math.nan
INF = math.inf


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


def test_the_test_set_size_is_read_from_the_accuracies_granularity() -> None:
    # counts of correct examples over 1,000 (mnist1d's test pool) and over 359 (digits')
    assert examples_in_test_set(np.array([412, 389, 455, 401, 377, 430]) / 1000) == 1000
    assert examples_in_test_set(np.array([350, 352, 349, 355, 351]) / 359) == 359
    # 0.1 .. 0.5 are counts of 1 .. 5 of 10: the smallest size that fits
    assert examples_in_test_set(np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == 10
    # too few distinct values to tell (0.5 alone fits 2), or no count at all (pi / 10)
    assert examples_in_test_set(np.array([0.5, 0.5, 0.5, 0.25, 0.75])) is None
    assert examples_in_test_set(np.array([0.1, 0.2, 0.3, 0.4, math.pi / 10])) is None
    assert examples_in_test_set(np.array([0.1, 0.2, NAN, 0.3, 0.4, 0.7])) == 10


def test_a_stored_test_set_size_wins_over_the_granularity_and_old_runs_fall_back() -> None:
    from report.analysis import RunPoint
    from report.training import test_set_size

    def runs(accuracies: list[float], stored: float = math.nan) -> list[RunPoint]:
        return [
            RunPoint(f"r{i}", i, "completed", a, 1.0, 1.0, 1.0, True, 0.5, stored)
            for i, a in enumerate(accuracies)
        ]

    # counts over 20 that all happen to be even: the granularity alone says 10
    halves = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert test_set_size(runs(halves, 20.0)) == (20, True)
    assert test_set_size(runs(halves)) == (10, False)  # stored before issue 21
    assert test_set_size(runs([0.5, 0.75])) == (None, False)  # too few values to tell
    # runs disagreeing on the size (a changed dataset): not trusted, the granularity decides
    mixed = runs(halves, 20.0)
    mixed[0].test_examples = 30.0
    assert test_set_size(mixed) == (10, False)
