"""The words and numbers of the verdicts, one place: how a comparison, a claim and an interval
read in the report (the rules are :mod:`report.inference`'s and docs/protocol.md's).

The numbers go through the report's one formatter (:mod:`report.markup`): accuracy in points
(one decimal), speed-ups as ratios with two decimals (``1.20x`` in words and in cells that
mix units; a table whose header says ``(x)`` prints the bare ratio), p-values with two
significant digits (three near 0.05, ``< 0.001`` below 0.001). A verdict reads ``better``,
``worse``, ``equivalent within ±1.0 point`` / ``equivalent within ±10%`` (the margin), or
``undetermined (detectable: 2.3 points)`` with the minimum detectable effect at 80% power.
"""

from __future__ import annotations

import math

from report import markup
from report.inference import NO_INTERVAL


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def points(value: float, decimals: int = 1, *, signed: bool = False) -> str:
    """An accuracy (a fraction) in points with one decimal: ``0.9712`` -> ``97.1``; ``n/a``
    for nan. ``signed``: a difference with its sign (``+3.7``, ``-0.4``, ``0.0``)
    (:func:`report.markup.points`)."""
    return markup.points(value, decimals, signed=signed) if _finite(value) else "n/a"


def ratio(value: float, *, unit: bool = True) -> str:
    """A ratio with two decimals and, with ``unit``, an ``x``: ``1.2`` -> ``1.20x``; ``n/a``
    for nan (:func:`report.markup.ratio`)."""
    if not _finite(value):
        return "n/a"
    return markup.ratio(value) + ("x" if unit else "")


def p_value(value: float) -> str:
    """Two significant digits, three near 0.05, ``< 0.001`` below 0.001; ``n/a`` for nan
    (:func:`report.markup.p_value`)."""
    return markup.p_value(value) if _finite(value) else "n/a"


def interval(
    low: float, high: float, metric: str, *, unit: bool = True, signed: bool = True
) -> str:
    """``[low, high]`` in the metric's units (points, ``signed`` for a difference; ratios,
    with ``unit`` each with its ``x``), or :data:`NO_INTERVAL`."""
    if not (_finite(low) and _finite(high)):
        return NO_INTERVAL
    if metric == "accuracy":
        return f"[{points(low, signed=signed)}, {points(high, signed=signed)}]"
    return f"[{ratio(low, unit=unit)}, {ratio(high, unit=unit)}]"


def effect(value: float, metric: str, *, unit: bool = True) -> str:
    """An effect: signed points for accuracy, a ratio for speed (``x`` with ``unit``)."""
    return points(value, signed=True) if metric == "accuracy" else ratio(value, unit=unit)


def with_unit(text: str, metric: str) -> str:
    """An accuracy effect or interval with its unit spelled out, for a cell of a column that
    mixes units: ``+2.1`` -> ``+2.1 points`` (a ratio already carries its ``x``)."""
    return f"{text} points" if metric == "accuracy" and text not in ("n/a", NO_INTERVAL) else text


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
