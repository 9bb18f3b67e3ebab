r"""The accuracy table of ``bnnbench show``, in plain Python (no numpy, pandas or scipy: the
command must start in well under a second; docs/performance.md).

Per cell (model x dataset x optimizer), over the cell's final runs scored on the test split:

- ``seeds`` (runs), ``diverged`` and ``failed`` (counts of those statuses);
- over the runs that did not fail (a diverged run counts with its last measured accuracy),
  the final test accuracies :math:`a_1..a_n`: ``test_acc_mean`` :math:`\bar a` (NaN values
  left out), ``test_acc_std`` :math:`s = \sqrt{\sum (a_i - \bar a)^2 / (n - 1)}` (NaN when a
  value is NaN, or :math:`n < 2`), and the 95% Student-t interval of the mean of the finite
  values, :math:`\bar a \pm t_{0.975,\,n-1}\, s / \sqrt n` (:func:`mean_interval`: none for
  :math:`n < 2`; zero width when :math:`s` is float noise);
- ``seconds``: the mean wall time per run (training + evaluation, NaN left out).

Both of ``show``'s paths print this table (the pandas read of a PostgreSQL store through
:func:`report.summary.accuracy_table`, which calls :func:`accuracy_rows`). The numbers are
the report's to the last bit: sums are numpy's pairwise summation (:func:`np_sum`), the t
quantile is scipy's (:mod:`report.t_table`); tests/test_show_light.py compares them with
pandas, numpy and :func:`report.inference.mean_interval` on stored suites.

The table prints them as the report does (:mod:`report.numbers`): accuracy in points with one
decimal, headers with units (``accuracy (points)``, ``time per run (s)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from report.numbers import NO_INTERVAL, fixed, points
from report.t_table import t975

CELL = ("model", "dataset", "optimizer")
#: the raw columns of a cell's row (:func:`report.summary.accuracy_table`'s too)
RAW = (
    *CELL, "seeds", "diverged", "failed", "test_acc_mean", "test_acc_std", "ci_low", "ci_high",
    "seconds",
)  # fmt: skip
#: the table's header: the report's names and units (report/training.py, ``accuracy_rows``)
COLUMNS = (
    *CELL, "seeds", "diverged", "failed", "accuracy (points)", "sd (points)",
    "95% CI (points)", "time per run (s)",
)  # fmt: skip
ACCURACY = "summary.final_test_accuracy"
#: the block size of numpy's pairwise summation (``PW_BLOCKSIZE``)
_BLOCK = 128


def np_sum(values: Sequence[float]) -> float:
    """The sum of ``values`` exactly as numpy's ``np.sum`` of a contiguous float64 array
    computes it (pairwise summation): fewer than 8 values added in order from 0.0; up to
    128 in 8 interleaved partial sums combined as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``
    plus the remainder in order; more split in two halves (the first a multiple of 8 long)."""
    n = len(values)
    if n < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if n <= _BLOCK:
        r = [float(v) for v in values[:8]]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += values[i + j]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for v in values[i:]:
            total += v
        return total
    half = n // 2
    half -= half % 8
    return np_sum(values[:half]) + np_sum(values[half:])


def _divide(total: float, count: int) -> float:
    return total / count if count else math.nan


def nanmean(values: Sequence[float]) -> float:
    """``np.nanmean``: the pairwise sum with NaN values as 0, over the count of the others."""
    filled = [0.0 if math.isnan(v) else v for v in values]
    return _divide(np_sum(filled), sum(not math.isnan(v) for v in values))


def sample_sd(values: Sequence[float]) -> float:
    """``np.std(values, ddof=1)``: :math:`\\sqrt{\\sum (x_i - \\bar x)^2 / (n - 1)}`, both
    sums pairwise; NaN for fewer than two values."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = np_sum(values) / n
    squares = [(v - mean) * (v - mean) for v in values]
    variance = np_sum(squares) / (n - 1)
    return math.sqrt(variance) if not math.isnan(variance) else math.nan


def mean_interval(values: Iterable[float]) -> tuple[float, float, float]:
    """``(mean, low, high)`` of :func:`report.inference.mean_interval` at 95%: over the finite
    ``values``, the mean and :math:`\\bar x \\pm t_{0.975,\\,n-1}\\,s/\\sqrt n`; NaN bounds for
    ``n < 2``; the zero-width interval at the mean when :math:`s \\le 10^{-12}\\max(1, |\\bar x|)`."""
    x = [v for v in values if math.isfinite(v)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    if n < 2:
        return x[0], math.nan, math.nan
    mean = np_sum(x) / n
    sd = sample_sd(x)
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return mean, mean, mean
    half = t975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def cell_row(
    key: Sequence[str], runs: Sequence[Mapping[str, Any]], accuracy: bool
) -> dict[str, Any]:
    """The raw row (:data:`RAW`) of one cell from its final test runs (dicts with ``status``,
    ``train_seconds``, ``eval_seconds`` and, if stored, :data:`ACCURACY`); ``accuracy``:
    whether any run of the table has an accuracy (else the cell has no values at all, as a
    frame without the column)."""
    ok = [r for r in runs if r["status"] != "failed"]
    acc = [_float(r.get(ACCURACY)) for r in ok] if accuracy else []
    _, low, high = mean_interval(acc)
    seconds = [_float(r.get("train_seconds")) + _float(r.get("eval_seconds")) for r in runs]
    return {
        **dict(zip(CELL, key, strict=True)),
        "seeds": len(runs),
        "diverged": sum(r["status"] == "diverged" for r in runs),
        "failed": sum(r["status"] == "failed" for r in runs),
        "test_acc_mean": nanmean(acc) if acc else math.nan,
        "test_acc_std": sample_sd(acc) if len(acc) > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "seconds": nanmean(seconds),
    }


def test_runs(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The training runs scored on the test split (:func:`report.summary.final_runs`: when
    any run names a ``split``, the others are left out too)."""
    train = [r for r in runs if r.get("task") == "train"]
    if any("split" in r for r in runs):
        train = [r for r in train if r.get("split") == "test"]
    return train


def accuracy_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One raw row per cell (sorted by model, dataset, optimizer) of the final ``runs`` (one
    dict per row of the runs frame: ``task``, ``status``, the spec's fields, ``summary.*``)."""
    finals = test_runs(runs)
    accuracy = any(ACCURACY in r for r in runs)
    cells: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for r in finals:
        cells.setdefault(tuple(r[c] for c in CELL), []).append(r)
    return [cell_row(key, cells[key], accuracy) for key in sorted(cells)]


def _points(value: float) -> str:
    return points(value) if math.isfinite(value) else "n/a"


def format_row(row: Mapping[str, Any]) -> list[str]:
    """A raw row as the table prints it (:data:`COLUMNS`): accuracy and its sd in points,
    the interval as ``low to high`` in points (no brackets: in a Markdown table they would be
    escaped, and a terminal would show the backslashes), or "n too small for an interval";
    seconds with one decimal."""
    low, high = float(row["ci_low"]), float(row["ci_high"])
    interval = (
        f"{_points(low)} to {_points(high)}"
        if math.isfinite(low) and math.isfinite(high)
        else NO_INTERVAL
    )
    return [
        *(str(row[c]) for c in CELL),
        *(str(int(row[c])) for c in ("seeds", "diverged", "failed")),
        _points(float(row["test_acc_mean"])),
        _points(float(row["test_acc_std"])),
        interval,
        fixed(float(row["seconds"]), 1),
    ]


def markdown(rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as a GitHub-flavoured Markdown table (:func:`report.markup.markdown_rows`:
    every cell escaped), the note "(no rows)" without rows."""
    from report.markup import markdown_rows

    return markdown_rows(COLUMNS, [format_row(row) for row in rows])
