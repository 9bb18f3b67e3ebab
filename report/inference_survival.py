r"""Time-to-target as a censored measurement.

- :func:`time_to_target`: the first evaluation at or above the target, linearly
  interpolated between the last evaluation below it and that one: with :math:`(s_0, v_0)` the
  last point below and :math:`(s_1, v_1)` the first at/above,
  :math:`t = s_0 + (s_1 - s_0)\,\frac{\tau - v_0}{v_1 - v_0}`; the first point itself when the
  curve starts at/above the target. A run that never reaches it is *censored* at the budget:
  we know only that its time exceeds the budget.
- :func:`kaplan_meier_median`: the Kaplan-Meier median time-to-target
  (``statsmodels.duration.survfunc.SurvfuncRight(time, status).quantile(0.5)``): ``inf`` when
  the estimated share of runs not yet at the target never falls below one half, e.g. when at
  most half of the runs reached it (the median lies beyond the budget; with exactly half,
  statsmodels' quantile, the first time the survival is below 0.5, does not exist).
- :func:`restricted_mean`: the restricted mean time-to-target up to the budget :math:`B`, the
  area under the Kaplan-Meier curve, :math:`\mathrm{RMST} = \int_0^B \hat S(t)\,dt`. When
  every censored run is censored at :math:`B` (as here: a run trains the whole budget) this
  equals the plain mean of :math:`\min(T_i, B)`, so the speed comparisons, which count a run
  that never reached the target at the budget, compare restricted times (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from statsmodels.duration.survfunc import SurvfuncRight


def time_to_target(
    steps: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, target: float
) -> float:
    """The interpolated first crossing of ``target`` by the curve (module docstring);
    ``inf`` if it never reaches it (``nan`` values never do), ``nan`` for a ``nan`` target.
    Points are sorted by step (stably)."""
    if math.isnan(target):
        return math.nan
    s = np.asarray(steps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if s.size != v.size:
        raise ValueError(f"steps and values differ in length: {s.size} and {v.size}")
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    hit = np.flatnonzero(v >= target)
    if hit.size == 0:
        return math.inf
    i = int(hit[0])
    if i == 0 or not math.isfinite(v[i - 1]):
        return float(s[i])
    s0, v0, s1, v1 = s[i - 1], v[i - 1], s[i], v[i]
    return float(s0 + (s1 - s0) * (target - v0) / (v1 - v0))


def _km(times: np.ndarray, reached: np.ndarray) -> SurvfuncRight:
    return SurvfuncRight(times, reached.astype(int))


def _clean(times: Sequence[float], reached: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=float).ravel()
    r = np.asarray(reached, dtype=bool).ravel()
    if t.size != r.size:
        raise ValueError(f"times and reached differ in length: {t.size} and {r.size}")
    keep = np.isfinite(t)
    return t[keep], r[keep]


def kaplan_meier_median(times: Sequence[float], reached: Sequence[bool]) -> float:
    """Kaplan-Meier median of ``times`` (``reached[i]`` False: censored at ``times[i]``);
    ``inf`` when the estimated survival never falls below 0.5 (at most half reached), ``nan``
    with no runs. Non-finite times are dropped."""
    t, r = _clean(times, reached)
    if t.size == 0:
        return math.nan
    if not r.any():
        return math.inf
    q = float(_km(t, r).quantile(0.5))
    return q if math.isfinite(q) else math.inf


def restricted_mean(times: Sequence[float], reached: Sequence[bool], budget: float) -> float:
    r""":math:`\int_0^B \hat S(t)\,dt` with :math:`\hat S` the Kaplan-Meier survival of
    ``times`` (censored where ``reached`` is False) and :math:`B` = ``budget``: the sum over
    the step function's pieces below :math:`B`. ``nan`` with no runs."""
    t, r = _clean(times, reached)
    if t.size == 0 or not math.isfinite(budget):
        return math.nan
    if r.any():
        sf = _km(t, r)
        jumps, surv = np.asarray(sf.surv_times, dtype=float), np.asarray(sf.surv_prob, dtype=float)
    else:
        jumps, surv = np.array([]), np.array([])
    edges = np.concatenate(([0.0], np.minimum(jumps, budget), [budget]))
    heights = np.concatenate(([1.0], surv))
    return float(np.sum(np.diff(edges) * heights))
