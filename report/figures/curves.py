"""Learning curves: test accuracy (or error) and loss against optimizer steps or training wall
seconds, mean over seeds with a Student-t band (:func:`curve_bands`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from report.figures.common import (
    BAND_ALPHA,
    CELL,
    _cells,
    _finish,
    _in_cell,
    _line_handles,
    _path,
    _series,
    _title,
    final_runs,
)
from report.inference import mean_interval
from report.plotting import is_defaults, line_style, new_grid, optimizer_order

BAND_COLUMNS = ["model", "dataset", "optimizer", "x", "mean", "low", "high", "n"]
GRID_POINTS = 80
"""Points of the common time grid of a cell (``x="seconds"``)."""
X_LABELS = {"step": "optimizer steps", "seconds": "training wall time (s)"}


def _run_points(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    x: str,
    split: str = "test",
    name: str = "accuracy",
) -> pd.DataFrame:
    """Each drawn run's ``split`` ``name`` (test accuracy) at its evaluations: ``run_id, x,
    value`` plus the run's cell, optimizer and status; ``x`` is the step, or
    (``x="seconds"``) the run's cumulative training seconds (``train_seconds``) at that step
    (evaluations without it dropped)."""
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}, got {x!r}")
    finals = final_runs(runs)
    acc = _series(values, split, name, finals["run_id"])
    if x == "step":
        points = acc.assign(x=acc["step"].astype(float))
    else:
        secs = _series(values, "", "train_seconds", finals["run_id"])
        points = acc.merge(secs.rename(columns={"value": "x"}), on=["run_id", "step"])
    points = points[["run_id", "x", "value"]].merge(finals, on="run_id")
    return points.sort_values(["run_id", "x"]).reset_index(drop=True)


def _on_time_grid(points: pd.DataFrame, grid_points: int) -> pd.DataFrame:
    """Runs interpolated (linearly) onto a common time grid per cell: ``grid_points`` points
    from 0 to the cell's longest run. An optimizer's grid ends at its shortest *completed* run
    (its longest run when none completed), so every completed seed covers every point; a run
    contributes only within its own time span (a diverged run until it stopped)."""
    out = []
    for (model, dataset), cell in points.groupby(CELL, sort=True):
        grid = np.linspace(0.0, float(cell["x"].max()), max(2, grid_points))
        for optimizer, opt in cell.groupby("optimizer", sort=True):
            spans = opt.groupby("run_id")["x"].max()
            status = opt.groupby("run_id")["status"].first()
            completed = spans[status == "completed"]
            end = float(completed.min() if not completed.empty else spans.max())
            xs = np.union1d(grid[grid <= end], [end])
            for run_id, run in opt.groupby("run_id", sort=True):
                run = run.drop_duplicates("x", keep="last")
                t, v = run["x"].to_numpy(float), run["value"].to_numpy(float)
                inside = xs[(xs >= t[0]) & (xs <= t[-1])]
                # the row's own labels: one run can be in two rows (tuned and defaults)
                out.append(
                    pd.DataFrame({"run_id": run_id, "x": inside, "value": np.interp(inside, t, v),
                                  "model": model, "dataset": dataset, "optimizer": optimizer,
                                  "status": status[run_id]})
                )  # fmt: skip
    if not out:
        return pd.DataFrame(columns=["run_id", "x", "value", *CELL, "optimizer", "status"])
    return pd.concat(out, ignore_index=True)


def curve_bands(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    *,
    x: str = "step",
    level: float = 0.95,
    grid_points: int = GRID_POINTS,
    split: str = "test",
    name: str = "accuracy",
) -> pd.DataFrame:
    """The learning curves :func:`learning_curves` draws, one row per cell, optimizer and
    point ``x``: ``model, dataset, optimizer, x, mean, low, high, n``.

    ``mean`` is the mean test accuracy over the seeds (``n`` of them) that have a value at
    ``x``; ``low, high`` the ``level`` Student-t interval of that mean
    (:func:`report.inference.mean_interval`, the report's one interval; ``nan`` with a single
    seed). ``x="step"``: at each evaluation step. ``x="seconds"``: against the run's
    ``train_seconds`` at each evaluation, each run interpolated onto a common grid first
    (:func:`_on_time_grid`). Failed runs are left out; a diverged run counts until it stops.
    ``split``, ``name``: another metric (``"train"``, ``"loss"``: :func:`loss_curves`).
    """
    points = _run_points(runs, values, x, split, name)
    if x == "seconds" and not points.empty:
        points = _on_time_grid(points, grid_points)
    if points.empty:
        return pd.DataFrame(columns=BAND_COLUMNS)
    rows = []
    for (model, dataset, optimizer, at), group in points.groupby(
        [*CELL, "optimizer", "x"], sort=True
    ):
        v = group["value"].to_numpy(float)
        interval = mean_interval(v, level)
        low, high = interval.ci_low, interval.ci_high
        rows.append((model, dataset, optimizer, float(at), float(v.mean()), low, high, v.size))
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


# ----------------------------------------------------------------------------- training
SATURATED = 0.9
"""A panel plots test *error* (1 - accuracy) on a log axis when the median over its
optimizers of the last mean accuracy is at least this: the curves then crowd into the top
of a 0-1 accuracy axis, and a log error axis separates 0.97 from 0.98 as clearly as 0.7
from 0.8."""
ZOOM_FROM = 0.1
"""The y axis is zoomed to the curves after this fraction of the x range (the first steps'
low accuracy would otherwise set the scale; those lines leave the axis at its edge)."""


def _targets(target: float | Mapping[tuple[str, str], float] | None, cells: list) -> dict:
    if target is None:
        return {}
    if isinstance(target, Mapping):
        return {c: float(target[c]) for c in cells if c in target and np.isfinite(target[c])}
    return {c: float(target) for c in cells} if np.isfinite(target) else {}


def _panels(labels: list[str], cells: list[tuple[str, str]]) -> list[tuple[tuple, bool, str]]:
    """``(cell, defaults row?, title)`` per panel: per cell the tuned rows, then (when there
    are any) the rows at the registry defaults in their own panel beside them."""
    split = any(is_defaults(n) for n in labels) and not all(is_defaults(n) for n in labels)
    panels = []
    for cell in cells:
        if split:
            panels += [(cell, False, f"{_title(cell)}: tuned"),
                       (cell, True, f"{_title(cell)}: at defaults")]  # fmt: skip
        else:
            panels.append((cell, None, _title(cell)))
    return panels


def _zoom(ax: Axes, values: np.ndarray, log: bool, ceiling: float | None = 1.0) -> None:
    """y limits around ``values`` (a small margin; on a log axis a factor), never above
    ``ceiling`` (1 for an accuracy or an error; ``None`` for a loss, which can exceed 1). On
    a log axis the labelled ticks follow the span (:func:`_log_ticks`)."""
    values = values[np.isfinite(values)]
    if log:
        values = values[values > 0]
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    cap = ceiling if ceiling is not None and high <= ceiling else math.inf
    if log:
        ax.set_ylim(low / 1.3, min(cap, high * 1.3))
        _log_ticks(ax, *ax.get_ylim())
    else:
        pad = max(0.02 * (high - low), 0.005)
        ax.set_ylim(max(0.0, low - pad), min(cap, high + pad))


def _log_ticks(ax: Axes, low: float, high: float) -> None:
    """Labelled ticks of a log y axis from ``low`` to ``high``: 1, 2, 5 x 10^k over a decade
    or more, 1, 2, 3, 5 over a factor of 3 to 10, every integer multiple over less (an error
    axis from 0.06 to 0.12 would otherwise carry one label, 0.1)."""
    span = np.log10(high / low) if low > 0 and high > low else 1.0
    subs = (1.0, 2.0, 5.0) if span >= 1 else (1.0, 2.0, 3.0, 5.0) if span >= 0.5 else "all"
    locator = LogLocator(base=10, subs=np.arange(1.0, 10.0) if subs == "all" else subs)
    ax.yaxis.set_major_locator(locator)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _curve_figure(
    bands: pd.DataFrame,
    points: pd.DataFrame,
    *,
    x: str,
    reference: str,
    ylabel: str,
    error_scale: str,
    targets: dict,
    title: str,
    path: Path,
) -> Path:
    """The panels of :func:`learning_curves` / :func:`loss_curves`. ``error_scale``:
    ``"auto"`` (accuracy: error on a log axis where saturated), ``"log"`` (a loss), or
    ``"linear"``."""
    stops = points[points["status"] == "diverged"].groupby(["run_id", "optimizer"]).tail(1)
    names = optimizer_order(bands["optimizer"])
    cells = _cells(bands)
    panels = _panels(names, cells)
    fig, axes = new_grid(len(panels))
    for ax, (cell, defaults, heading) in zip(axes, panels, strict=True):
        sub = _in_cell(bands, cell)
        if defaults is not None:
            sub = sub[sub["optimizer"].map(is_defaults) == defaults]
        finals = sub.sort_values("x").groupby("optimizer")["mean"].last()
        as_error = error_scale == "auto" and finals.size and finals.median() >= SATURATED
        log = as_error or error_scale == "log"
        shown = []
        for opt in optimizer_order(sub["optimizer"]):
            curve = sub[sub["optimizer"] == opt].sort_values("x")
            xs = curve["x"].to_numpy(float)
            mean, low, high = (curve[c].to_numpy(float) for c in ("mean", "low", "high"))
            if as_error:
                mean, low, high = 1.0 - mean, 1.0 - high, 1.0 - low
            style = line_style(opt, names, reference, points=len(xs))
            alpha = BAND_ALPHA / 2 if is_defaults(opt) else BAND_ALPHA
            ax.fill_between(xs, low, high, color=style["color"], alpha=alpha, linewidth=0,
                            zorder=style["zorder"] - 1)  # fmt: skip
            ax.plot(xs, mean, **style)
            late = xs >= ZOOM_FROM * (xs.max() if xs.size else 0.0)
            shown.append(mean[late])
        for _, stop in _in_cell(stops, cell).iterrows():
            if defaults is not None and is_defaults(stop["optimizer"]) != defaults:
                continue
            y = 1.0 - stop["value"] if as_error else stop["value"]
            color = line_style(stop["optimizer"], names, reference)["color"]
            ax.plot(stop["x"], y, marker="x", markersize=7, markeredgewidth=1.8, color=color,
                    linestyle="none", zorder=5)  # fmt: skip
        if cell in targets:
            level = 1.0 - targets[cell] if as_error else targets[cell]
            ax.axhline(level, color="0.15", linestyle=":", linewidth=1.3, zorder=6)
            shown.append(np.array([level]))
        if log:
            ax.set_yscale("log")
            _log_ticks(ax, *ax.get_ylim())
        if shown:  # a loss can exceed 1; an accuracy or an error cannot
            _zoom(ax, np.concatenate(shown), log, None if error_scale == "log" else 1.0)
        label = "test error (1 - accuracy, log)" if as_error else ylabel
        ax.set(title=heading, xlabel=X_LABELS[x], ylabel=label)
        ax.set_xlim(left=0)
    handles, labels = _line_handles(bands["optimizer"], names, reference)
    if targets:
        handles.append(Line2D([], [], color="0.15", linestyle=":", linewidth=1.3))
        labels.append("target")
    if not stops.empty:
        handles.append(Line2D([], [], marker="x", color="0.2", linestyle="none"))
        labels.append("diverged run stops")
    return _finish(fig, title, handles, labels, path)


def learning_curves(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    out_dir: Path,
    *,
    x: str = "step",
    reference: str = "bop",
    level: float = 0.95,
    target: float | Mapping[tuple[str, str], float] | None = None,
) -> Path | None:
    """Test accuracy against optimizer steps (``x="step"``) or training wall seconds
    (``x="seconds"``): per optimizer the mean over seeds and its ``level`` Student-t band
    (:func:`curve_bands`); a cross where a diverged run stopped; ``target`` (one accuracy,
    or one per ``(model, dataset)``) a dotted line. One panel per cell, and with rows at the
    registry defaults a second panel per cell for them. A panel whose optimizers end at a
    median accuracy of :data:`SATURATED` or more shows the error 1 - accuracy on a log axis
    instead; every y axis is zoomed to the curves after the first :data:`ZOOM_FROM` of the
    x range and the target. ``learning_curves_steps.png`` / ``learning_curves_seconds.png``."""
    bands = curve_bands(runs, values, x=x, level=level)
    if bands.empty:
        return None
    points = _run_points(runs, values, x)
    against = "optimizer steps" if x == "step" else "training wall time"
    title = f"Test accuracy vs {against} (mean over seeds, {level:.0%} Student-t band)"
    name = "learning_curves_steps" if x == "step" else "learning_curves_seconds"
    return _curve_figure(
        bands, points, x=x, reference=reference, ylabel="test accuracy", error_scale="auto",
        targets=_targets(target, _cells(bands)), title=title, path=_path(out_dir, name),
    )  # fmt: skip


def loss_curves(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    out_dir: Path,
    *,
    split: str = "train",
    reference: str = "bop",
    level: float = 0.95,
) -> Path | None:
    """The ``split`` loss (cross-entropy; ``train``: the mean over the evaluation's training
    batches as stored) against optimizer steps, log y, laid out as :func:`learning_curves`
    (mean over seeds, ``level`` Student-t band). ``loss_<split>.png``; ``None`` without
    stored losses."""
    bands = curve_bands(runs, values, x="step", level=level, split=split, name="loss")
    if bands.empty:
        return None
    points = _run_points(runs, values, "step", split, "loss")
    title = f"{split.capitalize()} loss vs optimizer steps (mean over seeds, {level:.0%} band)"
    return _curve_figure(
        bands, points, x="step", reference=reference, ylabel=f"{split} loss (log)",
        error_scale="log", targets={}, title=title, path=_path(out_dir, f"loss_{split}"),
    )  # fmt: skip
