"""The report's number formatter and its plain-text escape for Markdown, without pandas,
jinja2 or numpy: :mod:`report.markup` (which re-exports every name here) and ``bnnbench
show`` (:mod:`report.show_table`, which must start fast) format with the same functions.

The rules are :mod:`report.markup`'s: :func:`number` formats every number of a table cell;
:func:`points` (accuracy in percentage points, one decimal), :func:`ratio` (two decimals),
:func:`p_value` (two significant digits, three near 0.05, ``< 0.001`` below that),
:func:`fixed` (a quantity with a unit: seconds, steps, epochs); no float noise
(``|x| < 1e-12`` and ``-0.0`` print ``0``). :func:`md_text` escapes plain text for Markdown.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

#: what a table without rows reads as (in a note)
NO_ROWS = "(no rows)"
#: what the report says where there is no interval
NO_INTERVAL = "n too small for an interval"


# ----------------------------------------------------------------------------- numbers
NOISE = 1e-12
"""A real of smaller magnitude prints as ``0`` (float noise: ``-5.551e-17`` from a difference
of equal means, ``-0.0``)."""
P_FLOOR = 1e-3
"""p-values below this print as ``< 0.001`` (two significant digits of a smaller p say
nothing a reader can use; the exact value is in summary.json)."""


def _real(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is not a real number (``None``, a string,
    an integer or boolean is not formatted as a real)."""
    if value is None or isinstance(value, numbers.Integral) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def number(value: Any, digits: int = 4, *, fixed: bool = False) -> str:
    """The report's number formatter. ``None`` and NaN: ``n/a``; integers, booleans and
    non-numbers: ``str``; reals of magnitude below :data:`NOISE` (and ``-0.0``): zero (``0``); other
    reals: ``digits`` significant digits (``inf``/``-inf`` as such), or with ``fixed``
    ``digits`` decimals, except magnitudes below 1e-3, which keep ``digits`` significant
    digits rather than print as zero. :func:`points`, :func:`ratio` and :func:`p_value` are
    the same formatter with the precision of a kind of number."""
    if value is None:
        return "n/a"
    v = _real(value)
    if v is None:
        return str(value)
    if math.isnan(v):
        return "n/a"
    if abs(v) < NOISE:
        v = 0.0  # noise and -0.0: a plain zero ("0", or "0.000" with fixed)
    if fixed and (v == 0.0 or not abs(v) < 1e-3):
        return f"{v:.{digits}f}"
    return f"{v:.{digits}g}"


def points(fraction: Any, decimals: int = 1, *, signed: bool = False) -> str:
    """An accuracy (or a difference of accuracies) given as a fraction, in percentage points
    with ``decimals`` decimals: ``0.03528 -> "3.5"`` (``signed``: ``"+3.5"``; never
    ``"-0.0"``: a value that rounds to zero prints ``"0.0"``)."""
    v = _real(fraction)
    if v is None or math.isnan(v) or math.isinf(v):
        return number(fraction)
    text = f"{100.0 * v:.{decimals}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
        return text
    return f"+{text}" if signed and v > 0 else text


def ratio(value: Any) -> str:
    """A ratio (speedup, tau) with two decimals: ``1.2345 -> "1.23"``."""
    v = _real(value)
    if v is None or math.isnan(v) or math.isinf(v):
        return number(value)
    return number(v, 2, fixed=True) if abs(v) >= 1e-3 else number(v)


P_NEAR_LEVEL = (0.045, 0.055)
"""p-values in this range get three significant digits: two could round across the level
0.05 (``0.0496`` would print ``0.050`` beside the verdict "better")."""


def p_value(p: Any) -> str:
    """A p-value with two significant digits (three in :data:`P_NEAR_LEVEL`), ``< 0.001``
    below :data:`P_FLOOR`: ``0.04321 -> "0.043"``, ``0.0496 -> "0.0496"``, ``0.5 -> "0.50"``,
    ``1 -> "1.0"``, ``0.000012 -> "< 0.001"``."""
    v = _real(p)
    if v is None or math.isnan(v):
        return number(p)
    if v < P_FLOOR:
        return "< 0.001"
    digits = 3 if P_NEAR_LEVEL[0] <= v < P_NEAR_LEVEL[1] else 2
    return f"{v:#.{digits}g}".rstrip(".")


def fixed(value: Any, decimals: int = 1) -> str:
    """A quantity with a unit (seconds, steps, epochs) with ``decimals`` decimals: ``12.345
    -> "12.3"``, ``(85.03, 0) -> "85"``; ``n/a``, ``inf`` as :func:`number` prints them."""
    v = _real(value)
    if v is None or math.isnan(v) or math.isinf(v):
        return number(value)
    return number(round(v, decimals), decimals, fixed=True) if decimals else f"{round(v):d}"


def _cell(value: Any) -> str:
    return re.sub(r"\s+", " ", number(value)).strip()


# ----------------------------------------------------------------------------- text
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_MD_LINE_START = re.compile(r"^(\s*)(\d{0,9})([-+.)]|#{1,6}|=+(?=\s*$))(?=\s|$)")


def md_text(text: str) -> str:
    """Plain text for Markdown (GitHub's and any CommonMark renderer): every character that
    could start markup is backslash-escaped (CommonMark lets any ASCII punctuation be escaped),
    so no text makes a tag (``<optimizer>`` stays visible text, ``<script>`` stays text), an
    autolink (``<http://...>``), an entity (``&amp;``), a link or an image (``[`` and ``]``
    escaped: ``[x](javascript:...)``, ``![x](http://...)`` stay text), emphasis, code,
    strikethrough, a table cell break (``|``); at a line's start no heading (``#``), list
    item (``-``, ``+``, ``1.``, ``1)``) or setext underline. Parentheses, ``!``, ``#``
    elsewhere and ``{}`` make nothing on their own and are left as they are (the file stays
    readable as text)."""
    text = _MD_SPECIAL.sub(r"\\\1", str(text))
    return "\n".join(_MD_LINE_START.sub(_line_start, line) for line in text.split("\n"))


def _line_start(match: re.Match[str]) -> str:
    """A list marker (``-``, ``+``, ``1.``, ``1)``) or setext underline at a line's start,
    its punctuation escaped; anything else unchanged."""
    space, digits, mark = match.groups()
    if digits and mark not in (".", ")"):
        return match.group(0)
    if not digits and mark in (".", ")"):
        return match.group(0)
    return f"{space}{digits}\\{mark}"
