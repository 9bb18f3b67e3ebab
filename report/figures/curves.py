"""Learning curves: test accuracy (or error) and loss against optimizer steps or training wall
seconds, mean over seeds with a percentile-bootstrap band (:func:`curve_bands`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

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
from report.plotting import emphasis, is_defaults, new_grid, optimizer_colors, optimizer_order
from report.stats import bootstrap_ci

BAND_COLUMNS = ["model", "dataset", "optimizer", "x", "mean", "low", "high", "n"]
N_BOOT, BOOT_SEED = 1000, 0
GRID_POINTS = 80
"""Points of the common time grid of a cell (``x="seconds"``)."""
X_LABELS = {"step": "optimizer steps", "seconds": "training wall time (s)"}


def _run_points(runs: pd.DataFrame, values: pd.DataFrame, x: str) -> pd.DataFrame:
    """Each drawn run's test accuracy at its evaluations: ``run_id, x, value`` plus the run's
    cell, optimizer and status; ``x`` is the step, or (``x="seconds"``) the run's cumulative
    training seconds (``train_seconds``) at that step (evaluations without it dropped)."""
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}, got {x!r}")
    finals = final_runs(runs)
    acc = _series(values, "test", "accuracy", finals["run_id"])
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
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    grid_points: int = GRID_POINTS,
) -> pd.DataFrame:
    """The learning curves :func:`learning_curves` draws, one row per cell, optimizer and
    point ``x``: ``model, dataset, optimizer, x, mean, low, high, n``.

    ``mean`` is the mean test accuracy over the seeds (``n`` of them) that have a value at
    ``x``; ``low, high`` the ``level`` percentile-bootstrap interval of that mean
    (:func:`report.stats.bootstrap_ci`, ``n_boot`` resamples, ``seed``; ``nan`` with a single
    seed). ``x="step"``: at each evaluation step. ``x="seconds"``: against the run's
    ``train_seconds`` at each evaluation, each run interpolated onto a common grid first
    (:func:`_on_time_grid`). Failed runs are left out; a diverged run counts until it stops.
    """
    points = _run_points(runs, values, x)
    if x == "seconds" and not points.empty:
        points = _on_time_grid(points, grid_points)
    if points.empty:
        return pd.DataFrame(columns=BAND_COLUMNS)
    rows = []
    for (model, dataset, optimizer, at), group in points.groupby(
        [*CELL, "optimizer", "x"], sort=True
    ):
        v = group["value"].to_numpy(float)
        low, high = bootstrap_ci(v, level, n_boot, seed)
        rows.append((model, dataset, optimizer, float(at), float(v.mean()), low, high, v.size))
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


# ----------------------------------------------------------------------------- training
def learning_curves(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    out_dir: Path,
    *,
    x: str = "step",
    reference: str = "bop",
    level: float = 0.95,
) -> Path | None:
    """Test accuracy against optimizer steps (``x="step"``) or training wall seconds
    (``x="seconds"``), one panel per cell: per optimizer the mean over seeds and its ``level``
    bootstrap band (:func:`curve_bands`); a cross where a diverged run stopped.
    ``learning_curves_steps.png`` / ``learning_curves_seconds.png``."""
    bands = curve_bands(runs, values, x=x, level=level)
    if bands.empty:
        return None
    points = _run_points(runs, values, x)
    stops = points[points["status"] == "diverged"].groupby(["run_id", "optimizer"]).tail(1)
    colors = optimizer_colors(bands["optimizer"])
    cells = _cells(bands)
    fig, axes = new_grid(len(cells))
    for ax, cell in zip(axes, cells, strict=True):
        sub = _in_cell(bands, cell)
        for opt in optimizer_order(sub["optimizer"]):
            curve = sub[sub["optimizer"] == opt].sort_values("x")
            style = emphasis(opt, reference)
            alpha = BAND_ALPHA / 2 if is_defaults(opt) else BAND_ALPHA  # two bands, one colour
            ax.fill_between(
                curve["x"], curve["low"], curve["high"], color=colors[opt], alpha=alpha,
                linewidth=0, zorder=style["zorder"] - 1,
            )  # fmt: skip
            ax.plot(curve["x"], curve["mean"], color=colors[opt], **style)
        for _, stop in _in_cell(stops, cell).iterrows():
            ax.plot(stop["x"], stop["value"], marker="x", markersize=7, markeredgewidth=1.8,
                    color=colors[stop["optimizer"]], linestyle="none", zorder=5)  # fmt: skip
        ax.set(title=_title(cell), xlabel=X_LABELS[x], ylabel="test accuracy")
        ax.set_xlim(left=0)
    handles, labels = _line_handles(bands["optimizer"], colors, reference)
    if not stops.empty:
        handles.append(Line2D([], [], marker="x", color="0.2", linestyle="none"))
        labels.append("diverged run stops")
    against = "optimizer steps" if x == "step" else "training wall time"
    title = f"Test accuracy vs {against}: mean over seeds, band = {level:.0%} bootstrap CI"
    name = "learning_curves_steps" if x == "step" else "learning_curves_seconds"
    return _finish(fig, title, handles, labels, _path(out_dir, name))
