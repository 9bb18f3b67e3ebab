"""The words and numbers of the verdicts, one place: how a comparison, a claim and an interval
read in the report (the rules are :mod:`report.inference`'s and docs/protocol.md's).

Accuracy is shown in points (percent, one decimal), speed-ups as ratios with two decimals,
p-values with two significant digits (three near 0.05). A verdict reads ``better``, ``worse``, ``equivalent
within ±1.0 point`` / ``equivalent within ±10%`` (the margin), or ``undetermined (detectable:
2.3 points)`` with the minimum detectable effect at 80% power.
"""

from __future__ import annotations

import math

from report.inference import NO_INTERVAL


def points(value: float, *, signed: bool = False) -> str:
    """An accuracy (a fraction) in points with one decimal: ``0.9712`` -> ``97.1``; ``n/a``
    for nan. ``signed``: a difference with its sign (``+3.7``, ``-0.4``, ``0.0``)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    v = 100.0 * value
    if abs(v) < 0.05:
        v = 0.0
    return f"{v:+.1f}" if signed and v != 0.0 else f"{v:.1f}"


def ratio(value: float) -> str:
    """A ratio with two decimals and an ``x``: ``1.2`` -> ``1.20x``; ``n/a`` for nan."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2f}x"


def p_value(value: float) -> str:
    """Two significant digits; below 1e-4 as ``<0.0001``; ``n/a`` for nan."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value < 1e-4:
        return "<0.0001"
    if 0.045 <= value < 0.055:  # near the level, two digits could round across it
        return f"{value:.3g}"
    return f"{value:.2g}"


def interval(low: float, high: float, metric: str) -> str:
    """``[low, high]`` in the metric's units, or :data:`NO_INTERVAL`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NO_INTERVAL
    if metric == "accuracy":
        return f"[{points(low, signed=True)}, {points(high, signed=True)}]"
    return f"[{ratio(low)}, {ratio(high)}]"


def effect(value: float, metric: str) -> str:
    """An effect: signed points for accuracy, a ratio for speed."""
    return points(value, signed=True) if metric == "accuracy" else ratio(value)


def margin(metric: str, value: float) -> str:
    """The equivalence margin: ``±1.0 point`` (value a fraction) or ``±10%`` (value the
    ratio 1.1)."""
    if metric == "accuracy":
        return f"±{100 * value:.1f} point{'s' if abs(100 * value - 1) > 1e-9 else ''}"
    return f"±{100 * (value - 1):.0f}%"


def mde(value: float, metric: str) -> str:
    """A minimum detectable effect: ``2.3 points`` or ``1.35x``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{points(value)} points" if metric == "accuracy" else ratio(value)


def verdict(word: str, metric: str, margin_value: float, mde_value: float) -> str:
    """The verdict in words: ``better``, ``worse``, ``equivalent within ±m``, or
    ``undetermined (detectable: d)``."""
    if word == "equivalent":
        return f"equivalent within {margin(metric, margin_value)}"
    if word == "undetermined":
        return f"undetermined (detectable: {mde(mde_value, metric)})"
    return word
