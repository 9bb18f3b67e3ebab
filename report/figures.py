r"""The figures of a training report: one PNG per function, drawn from the tidy frames of the
results store (:mod:`benchmark.results`) or from frames :mod:`report.analysis` computes.

Every function saves ``out_dir / "figures" / <name>.png`` and returns that path, or ``None``
when there is nothing to draw. One panel per cell (model / dataset, named in the panel's
title), wrapped in rows of at most three panels, at most 12 inches wide (:mod:`report.plotting`),
one legend under the panels. Each optimizer has one colour in every figure
(:func:`report.plotting.optimizer_colors`); BAMSProd and the reference optimizer are drawn
thicker and on top (:func:`report.plotting.emphasis`). A tuned suite with ``tuning.defaults``
has a second row per optimizer, ``"<name> (defaults)"`` (its final runs at the registry
defaults): drawn in its optimizer's colour with a dashed line. A run that is in both rows
(the best point was the defaults) is drawn in both.

- :func:`learning_curves`: test accuracy against optimizer steps or training wall seconds;
  mean over seeds with a percentile-bootstrap band (:func:`curve_bands`);
- :func:`diagnostics_figure`: flip rate, quantization error and latent saturation per cell;
- :func:`bamsprod_range_figure`: BAMSProd's step-size range ``[lower, upper]``;
- :func:`performance_profile_figure`: a Dolan-Moré profile (``optimizer, tau, fraction``);
- :func:`sensitivity_figure`: validation accuracy against each tuned hyper-parameter: per
  optimizer the slice through its best point with a t-interval band over seeds
  (:func:`sensitivity_slices`), the other trials faint, halving-stopped trials hollow;
- :func:`expected_max_figure`: expected best validation score after ``k`` trials.

Runs: failed runs are left out everywhere; a diverged run counts until it stops (its last
evaluation is marked with a cross on the learning curves).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from report.plotting import (
    BAMSPROD,
    base_optimizer,
    emphasis,
    is_defaults,
    legend_below,
    new_grid,
    optimizer_colors,
    optimizer_order,
    save_figure,
)
from report.stats import bootstrap_ci

__all__ = [
    "BAND_COLUMNS",
    "LATENT_FREE",
    "SLICE_COLUMNS",
    "bamsprod_range_figure",
    "curve_bands",
    "diagnostics_figure",
    "expected_max_figure",
    "final_runs",
    "learning_curves",
    "performance_profile_figure",
    "sensitivity_figure",
    "sensitivity_slices",
    "t_interval",
]

CELL = ["model", "dataset"]
DRAWN = ("completed", "diverged")
BAND_COLUMNS = ["model", "dataset", "optimizer", "x", "mean", "low", "high", "n"]
N_BOOT, BOOT_SEED = 1000, 0
GRID_POINTS = 80
"""Points of the common time grid of a cell (``x="seconds"``)."""
BAND_ALPHA = 0.18
#: latent-free optimizers of the registry (``kind="latent-free"``): no latent weights, so no
#: latent saturation (their stored value would only say that +-1 weights sit at the bound)
LATENT_FREE = frozenset({"bop", "bop2nd"})
X_LABELS = {"step": "optimizer steps", "seconds": "training wall time (s)"}
DIAGNOSTICS = (
    ("flip_rate", "flip rate", "fraction flipped"),
    ("quantization_error", "quantization error", "xnor_l1 error (0-1)"),
    ("saturation", "latent saturation", "fraction at the bound"),
)
LOG_SPAN = 100.0
"""A flip-rate panel gets a log y axis when its positive values span more than this factor."""


# ----------------------------------------------------------------------------- frames
def final_runs(runs: pd.DataFrame | None) -> pd.DataFrame:
    """The runs drawn: training runs (``task`` train, when the frame has it) with a model,
    dataset and optimizer, completed or diverged (failed runs left out)."""
    columns = ["run_id", "status", "model", "dataset", "optimizer"]
    if runs is None or runs.empty or not set(columns) <= set(runs.columns):
        return pd.DataFrame(columns=columns)
    keep = runs["status"].isin(DRAWN) & runs[["model", "dataset", "optimizer"]].notna().all(axis=1)
    if "task" in runs:
        keep &= runs["task"].isna() | (runs["task"] == "train")
    out = runs.loc[keep, columns].copy()
    out["optimizer"] = out["optimizer"].astype(str)
    return out.reset_index(drop=True)


def _series(values: pd.DataFrame | None, split: str, name: str, ids: Iterable[str]) -> pd.DataFrame:
    """``run_id, step, value`` of one metric for the runs ``ids`` (finite values, sorted)."""
    if values is None or values.empty or not {"run_id", "step", "split", "name"} <= set(values):
        return pd.DataFrame(columns=["run_id", "step", "value"])
    pick = (values["split"] == split) & (values["name"] == name) & values["run_id"].isin(set(ids))
    out = values.loc[pick, ["run_id", "step", "value"]].astype({"value": float})
    out = out[np.isfinite(out["value"])]
    return out.sort_values(["run_id", "step"]).drop_duplicates(["run_id", "step"], keep="last")


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


# ----------------------------------------------------------------------------- helpers
def _path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / "figures" / f"{name}.png"


def _cells(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted({(str(m), str(d)) for m, d in zip(frame["model"], frame["dataset"], strict=True)})


def _in_cell(frame: pd.DataFrame, cell: tuple[str, str]) -> pd.DataFrame:
    return frame[
        (frame["model"].astype(str) == cell[0]) & (frame["dataset"].astype(str) == cell[1])
    ]


def _title(cell: tuple[str, str]) -> str:
    return f"{cell[0]} / {cell[1]}"


def _line_handles(
    names: Iterable[str], colors: dict[str, str], reference: str | None
) -> tuple[list[Any], list[str]]:
    """Legend entries: one line per optimizer, in its colour, width and style (dashed: at
    the registry defaults)."""
    order = optimizer_order(names)
    handles = []
    for n in order:
        style = emphasis(n, reference)
        handles.append(
            Line2D([], [], color=colors[n], linewidth=style["linewidth"],
                   linestyle=style.get("linestyle", "-"))
        )  # fmt: skip
    return handles, order


def _finish(fig: Figure, title: str, handles: list[Any], labels: list[str], path: Path) -> Path:
    fig.suptitle(title, fontsize="medium")
    legend_below(fig, handles, labels)
    return save_figure(fig, path, compact=True)


def _empty_panel(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


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


def _diagnostic_means(
    runs: pd.DataFrame, values: pd.DataFrame, names: Iterable[str]
) -> pd.DataFrame:
    """``model, dataset, optimizer, name, step, value``: each metric's mean over seeds."""
    finals = final_runs(runs)
    parts = [_series(values, "", name, finals["run_id"]).assign(name=name) for name in names]
    data = pd.concat(parts, ignore_index=True).merge(finals, on="run_id")
    if data.empty:
        return pd.DataFrame(columns=[*CELL, "optimizer", "name", "step", "value"])
    keys = [*CELL, "optimizer", "name", "step"]
    return data.groupby(keys, sort=True)["value"].mean().reset_index()


def diagnostics_figure(
    runs: pd.DataFrame, values: pd.DataFrame, out_dir: Path, *, reference: str = "bop"
) -> Path | None:
    """Inside the binary network: per cell a row of three panels against optimizer steps,
    the flip rate (log y when its positive values span more than two decades), the
    quantization error and the latent saturation, each the mean over seeds per optimizer.
    Missing series are skipped, as is the saturation of latent-free optimizers (Bop: no
    latent weights). ``bnn_diagnostics.png``."""
    means = _diagnostic_means(runs, values, [name for name, _, _ in DIAGNOSTICS])
    latent_free = means["optimizer"].map(base_optimizer).isin(LATENT_FREE)
    means = means[~((means["name"] == "saturation") & latent_free)]
    if means.empty:
        return None
    colors = optimizer_colors(means["optimizer"])
    cells = _cells(means)
    fig, axes = new_grid(len(DIAGNOSTICS) * len(cells), panel_width=4.0, panel_height=2.7)
    for i, cell in enumerate(cells):
        sub = _in_cell(means, cell)
        for j, (name, title, ylabel) in enumerate(DIAGNOSTICS):
            ax = axes[len(DIAGNOSTICS) * i + j]
            series = sub[sub["name"] == name]
            ax.set(title=f"{_title(cell)}: {title}", xlabel="optimizer steps", ylabel=ylabel)
            if series.empty:
                _empty_panel(ax, "not recorded")
                continue
            positive = series["value"][series["value"] > 0]
            log = (
                name == "flip_rate"
                and positive.size > 0
                and positive.max() > LOG_SPAN * positive.min()
            )
            for opt in optimizer_order(series["optimizer"]):
                curve = series[series["optimizer"] == opt]
                y = curve["value"].where(curve["value"] > 0) if log else curve["value"]
                ax.plot(curve["step"], y, color=colors[opt], **emphasis(opt, reference))
            if log:
                ax.set_yscale("log")
    handles, labels = _line_handles(means["optimizer"], colors, reference)
    title = "Inside the binary network (mean over seeds and binary layers)"
    return _finish(fig, title, handles, labels, _path(out_dir, "bnn_diagnostics"))


def bamsprod_range_figure(runs: pd.DataFrame, values: pd.DataFrame, out_dir: Path) -> Path | None:
    """BAMSProd's clamp range per cell: the mean over seeds of ``bamsprod_lower`` and
    ``bamsprod_upper`` (themselves means over binary tensors) against optimizer steps, shaded
    between, log y (non-positive and infinite bounds not drawn): the BAMSProd row of the
    report (tuned, in a tuned suite; not its ``"bamsprod (defaults)"`` row).
    ``bamsprod_range.png``; ``None`` without BAMSProd runs or values."""
    finals = final_runs(runs)
    bams = finals[finals["optimizer"].str.lower() == BAMSPROD]
    means = _diagnostic_means(bams, values, ["bamsprod_lower", "bamsprod_upper"])
    means = means[means["value"] > 0]
    if bams.empty or means.empty:
        return None
    color = optimizer_colors([BAMSPROD])[BAMSPROD]
    cells = _cells(means)
    fig, axes = new_grid(len(cells))
    for ax, cell in zip(axes, cells, strict=True):
        wide = _in_cell(means, cell).pivot_table(
            index="step", columns="name", values="value", aggfunc="mean"
        )
        wide = wide.reindex(columns=["bamsprod_lower", "bamsprod_upper"])
        lower, upper = wide["bamsprod_lower"], wide["bamsprod_upper"]
        ax.fill_between(wide.index, lower, upper, color=color, alpha=0.2, linewidth=0)
        ax.plot(wide.index, upper, color=color, linewidth=1.8)
        ax.plot(wide.index, lower, color=color, linewidth=1.8, linestyle="--")
        ax.set(title=_title(cell), xlabel="optimizer steps", ylabel="step size", yscale="log")
    handles = [
        Line2D([], [], color=color, linewidth=1.8),
        Line2D([], [], color=color, linewidth=1.8, linestyle="--"),
        Patch(color=color, alpha=0.2),
    ]
    labels = ["upper bound", "lower bound", "range [lower, upper]"]
    title = "BAMSProd's step-size range (mean over seeds and binary tensors)"
    return _finish(fig, title, handles, labels, _path(out_dir, "bamsprod_range"))


# ----------------------------------------------------------------------------- across cells
def performance_profile_figure(
    profile: pd.DataFrame | None,
    out_dir: Path,
    *,
    name: str,
    xlabel: str,
    reference: str = "bop",
    title: str | None = None,
) -> Path | None:
    """A Dolan-Moré performance profile (tidy ``optimizer, tau, fraction``) as step curves,
    log-2 x axis, each curve continued to the largest ``tau``; ``<name>.png`` (``title``
    defaults to "Performance profile: " and the name without its ``profile_`` prefix)."""
    needed = {"optimizer", "tau", "fraction"}
    if profile is None or profile.empty or not needed <= set(profile.columns):
        return None
    data = profile.astype({"tau": float, "fraction": float})
    data = data[np.isfinite(data["tau"]) & (data["tau"] > 0) & np.isfinite(data["fraction"])]
    if data.empty:
        return None
    data = data.assign(optimizer=data["optimizer"].astype(str))
    colors = optimizer_colors(data["optimizer"])
    low, high = float(data["tau"].min()), float(data["tau"].max())
    fig, axes = new_grid(1, panel_width=6.4, panel_height=3.6, grow=False)
    ax = axes[0]
    for opt in optimizer_order(data["optimizer"]):
        curve = data[data["optimizer"] == opt].sort_values("tau")
        tau, frac = curve["tau"].to_numpy(), curve["fraction"].to_numpy()
        if tau[-1] < high:
            tau, frac = np.append(tau, high), np.append(frac, frac[-1])
        ax.step(tau, frac, where="post", color=colors[opt], **emphasis(opt, reference))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2, subs=(1.0, 1.5) if high <= 16 * low else None))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(low, high if high > low else 2 * low)
    ax.set_ylim(-0.02, 1.02)
    ax.set(xlabel=xlabel, ylabel="fraction of cells (ratio <= tau)")
    handles, labels = _line_handles(data["optimizer"], colors, reference)
    heading = title or f"Performance profile: {name.removeprefix('profile_').replace('_', ' ')}"
    return _finish(fig, heading, handles, labels, _path(out_dir, name))


# ----------------------------------------------------------------------------- tuning
SLICE_COLUMNS = [
    "model", "dataset", "optimizer", "param", "trial", "value", "score", "score_sd", "seeds",
    "low", "high", "status", "partial", "best", "in_slice",
]  # fmt: skip
"""The columns of :func:`sensitivity_slices`."""
FAINT_ALPHA = 0.3
"""Alpha of the trials off an optimizer's slice when it has one (a panel's background)."""


def t_interval(mean: float, sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    r"""The ``level`` Student-t interval of a mean over ``n`` seeds:
    :math:`\bar a \pm t_{(1+\text{level})/2,\,n-1}\, s / \sqrt{n}` (``s``: the sample standard
    deviation, ddof 1). ``(nan, nan)`` for ``n < 2`` or a non-finite ``mean`` or ``s``: one
    seed carries no spread."""
    from scipy.stats import t

    n = int(n)
    if n < 2 or not (np.isfinite(mean) and np.isfinite(sd)):
        return (float("nan"), float("nan"))
    half = float(t.ppf((1.0 + level) / 2.0, n - 1)) * float(sd) / float(np.sqrt(n))
    return (float(mean) - half, float(mean) + half)


def _same(a: Any, b: Any) -> bool:
    """Two parameter values are the same point (floats: to 1e-9 relative)."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    numeric = (int, float, np.integer, np.floating)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool | np.bool_):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0.0))
    return bool(a == b)


def _best_of(group: pd.DataFrame, full: pd.Series) -> Any:
    """The index of an optimizer's best trial: the one flagged ``best``, else the highest
    score among its trials at the full budget (``full``); ``None`` without either."""
    if "best" in group:
        flagged = group.index[group["best"].fillna(False).astype(bool)]
        if len(flagged):
            return flagged[0]
    scored = group["score"][full.reindex(group.index, fill_value=False)].dropna()
    return scored.idxmax() if not scored.empty else None


def sensitivity_slices(
    trials: pd.DataFrame | None, *, level: float = 0.95, epochs: int | None = None
) -> pd.DataFrame:
    r"""What :func:`sensitivity_figure` draws: one row per (trial with a score, tuned parameter
    of its optimizer), columns :data:`SLICE_COLUMNS`.

    ``trials``: the trials frame (one row per trial, ``score`` the mean validation accuracy of
    its ``seeds``, ``score_sd`` their sample sd). ``low, high``: the ``level`` t-interval of
    the trial's mean over its :math:`S` seeds, :math:`\bar a \pm t_{(1+\text{level})/2, S-1}
    \, s/\sqrt S` (:func:`t_interval`; NaN with one seed). ``partial``: its score is at fewer
    epochs than the tuning budget (stopped by halving, or not at the last rung yet:
    :func:`report.analysis.final_trials` with ``epochs``). ``in_slice`` (per parameter
    :math:`p`): the trial is at the full budget and every *other* parameter of its optimizer
    equals the optimizer's best point's (:func:`_best_of`), i.e. it lies on the line through
    the best point along :math:`p` (a grid's row; every full-budget trial of a
    one-dimensional space; only the best point itself for scattered points in more
    dimensions)."""
    from report.analysis import final_trials

    needed = {"model", "dataset", "optimizer", "score"}
    if trials is None or trials.empty or not needed <= set(trials.columns):
        return pd.DataFrame(columns=SLICE_COLUMNS)
    score = pd.to_numeric(trials["score"], errors="coerce").astype(float)
    data = trials[np.isfinite(score)].assign(score=score, optimizer=trials["optimizer"].astype(str))
    params = [c for c in data.columns if str(c).startswith("param.")]
    if data.empty or not params:
        return pd.DataFrame(columns=SLICE_COLUMNS)
    full = pd.Series(False, index=data.index)
    full[final_trials(data, epochs).index] = True
    rows = []
    for _, group in data.groupby(["model", "dataset", "optimizer"], sort=True):
        mine = [c for c in params if group[c].notna().any()]
        best = _best_of(group, full)
        for col in mine:
            others = [c for c in mine if c != col]
            for index, trial in group[group[col].notna()].iterrows():
                seeds = int(trial.get("seeds", 1)) if pd.notna(trial.get("seeds", 1)) else 1
                sd = float(trial.get("score_sd", np.nan))
                low, high = t_interval(float(trial["score"]), sd, seeds, level)
                on_line = bool(full[index]) and best is not None
                on_line = on_line and all(_same(trial[c], group.at[best, c]) for c in others)
                rows.append(
                    [trial["model"], trial["dataset"], trial["optimizer"],
                     col.removeprefix("param."), trial.get("trial", index), trial[col],
                     float(trial["score"]), sd, seeds, low, high, trial.get("status", "completed"),
                     not bool(full[index]), index == best, on_line]
                )  # fmt: skip
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


def _positions(column: pd.Series) -> tuple[pd.Series, list[str] | None]:
    """Numeric x values of a parameter column, or category positions and their labels."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all() and column.map(lambda v: not isinstance(v, bool)).all():
        return numeric.astype(float), None
    labels = sorted({str(v) for v in column})
    return column.map(lambda v: float(labels.index(str(v)))), labels


def _trial_markers(
    ax: Axes, xs: pd.Series, rows: pd.DataFrame, color: str, alpha: float, zorder: float
) -> set[str]:
    """One marker per trial: a dot, a cross for a diverged trial (score 0), hollow for a score
    at fewer epochs (``partial``); returns the kinds drawn (for the legend)."""
    kinds = set()
    xs = xs.loc[rows.index]
    diverged = rows["status"] == "diverged"
    partial = rows["partial"].astype(bool)
    for kind, pick in (
        ("trial", ~diverged & ~partial),
        ("partial", ~diverged & partial),
        ("diverged", diverged),
    ):
        if not pick.any():
            continue
        kinds.add(kind)
        if kind == "diverged":
            ax.scatter(xs[pick], rows["score"][pick], s=24, marker="x", color=color,
                       alpha=alpha, zorder=zorder)  # fmt: skip
        elif kind == "partial":  # hollow, a little stronger than the faint dots
            ax.scatter(xs[pick], rows["score"][pick], s=22, facecolors="none",
                       edgecolors=color, linewidths=1.1, alpha=min(1.0, 2 * alpha),
                       zorder=zorder)  # fmt: skip
        else:
            ax.scatter(xs[pick], rows["score"][pick], s=16, color=color, alpha=alpha,
                       edgecolors="none", zorder=zorder)  # fmt: skip
    return kinds


MAX_PER_PANEL = 4
"""Most optimizers drawn in one sensitivity panel: a parameter more share (``lr``) is split
over several panels with the same axes, so bands stay readable with ~10 optimizers."""


def _sensitivity_panels(
    slices: pd.DataFrame,
) -> list[tuple[tuple[str, str], str, list[str], str]]:
    """``(cell, parameter, optimizers, title)`` of each panel: per cell and parameter, its
    optimizers in registry order, split into groups of at most :data:`MAX_PER_PANEL` (as even
    as possible; the title then says which part)."""
    panels = []
    for cell in _cells(slices):
        sub = _in_cell(slices, cell)
        for param in sorted(set(sub["param"])):
            names = optimizer_order(sub.loc[sub["param"] == param, "optimizer"])
            parts = -(-len(names) // MAX_PER_PANEL)
            for i, chunk in enumerate(np.array_split(np.array(names, dtype=object), parts)):
                title = f"{_title(cell)}: {param}"
                if parts > 1:
                    title += f" ({i + 1}/{parts})"
                panels.append((cell, param, [str(n) for n in chunk], title))
    return panels


def _draw_trials(
    ax: Axes, xs: pd.Series, mine: pd.DataFrame, color: str, style: dict[str, Any]
) -> set[str]:
    """One optimizer's trials in a sensitivity panel (:func:`sensitivity_figure`); returns
    the kinds of marks drawn, for the legend."""
    drawn: set[str] = set()
    line = mine[mine["in_slice"].astype(bool)]
    if xs[line.index].nunique() >= 2:
        order = xs[line.index].sort_values().index
        # an accuracy lies in [0, 1]: the band is drawn clipped to it (few seeds give wide
        # t-intervals: t(0.975, 1) = 12.7)
        low = line.loc[order, "low"].clip(lower=0.0, upper=1.0)
        high = line.loc[order, "high"].clip(lower=0.0, upper=1.0)
        if np.isfinite(low.to_numpy(float)).any():
            ax.fill_between(xs[order], low, high, color=color, alpha=BAND_ALPHA, linewidth=0,
                            zorder=style["zorder"] - 1)  # fmt: skip
            drawn.add("band")
        ax.plot(xs[order], line.loc[order, "score"], color=color, **style)
        drawn.add("line")
        drawn |= _trial_markers(ax, xs, line, color, 0.9, style["zorder"] + 0.5)
        kinds = _trial_markers(ax, xs, mine.drop(index=line.index), color, FAINT_ALPHA, 2.0)
        drawn |= ({"faint"} if "trial" in kinds else set()) | (kinds - {"trial"})
    else:  # no slice to draw: every trial a plain point (one seed: a scatter)
        drawn |= _trial_markers(ax, xs, mine, color, 0.75, 3.0)
    best = mine[mine["best"].astype(bool)]
    if not best.empty:
        ax.scatter(xs[best.index], best["score"], s=150, marker="*", color=color,
                   edgecolors="black", linewidths=0.8, zorder=6)  # fmt: skip
        drawn.add("best")
    return drawn


def sensitivity_figure(
    trials: pd.DataFrame | None,
    out_dir: Path,
    *,
    log_params: Iterable[str] = (),
    level: float = 0.95,
    epochs: int | None = None,
    reference: str | None = None,
) -> Path | None:
    r"""Validation accuracy against each tuned parameter: one panel per (cell, parameter), one
    colour per optimizer, from :func:`sensitivity_slices`.

    Per optimizer: its *slice* through its best point along the panel's parameter (the
    trials whose other parameters equal the best point's: a grid's row, or every trial of a
    one-dimensional space), when it has two or more x values, as a line through the trials'
    mean scores with a band of their ``level`` t-intervals over seeds (one seed: no band;
    drawn clipped to [0, 1], where an accuracy lies); its
    other trials as faint points; a trial whose score is at fewer epochs (stopped by halving)
    hollow; a diverged trial (score 0) a cross; the best trial a black-edged star. Without a
    slice (scattered points in several dimensions) every trial is a plain point: with one
    seed, a scatter of the trials. A parameter more than :data:`MAX_PER_PANEL` optimizers
    share is split over panels of evenly many optimizers, with the same axes. BAMSProd and
    ``reference`` drawn thicker. Log x for the parameters in ``log_params`` (``lr`` or
    ``param.lr``; when all values are > 0); categorical parameters at evenly spaced positions.
    ``epochs``: the tuning budget (default: each cell's longest trial). ``tuning_sensitivity.png``.
    """
    slices = sensitivity_slices(trials, level=level, epochs=epochs)
    if slices.empty:
        return None
    log = {str(p).removeprefix("param.") for p in log_params}
    panels = _sensitivity_panels(slices)
    colors = optimizer_colors(slices["optimizer"])
    drawn: set[str] = set()
    fig, axes = new_grid(len(panels))
    shared: dict[tuple[tuple[str, str], str], list[Axes]] = {}
    for ax, (cell, param, names, title) in zip(axes, panels, strict=True):
        sub = _in_cell(slices, cell)
        sub = sub[sub["param"] == param]
        xs, categories = _positions(sub["value"])  # over every optimizer: the same positions
        for opt in names:
            drawn |= _draw_trials(ax, xs, sub[sub["optimizer"] == opt], colors[opt],
                                  emphasis(opt, reference))  # fmt: skip
        if categories is not None:
            ax.set_xticks(range(len(categories)), categories)
            ax.set_xlim(-0.5, len(categories) - 0.5)
        as_log = categories is None and param in log and bool((xs > 0).all())
        if as_log:
            ax.set_xscale("log")
        xlabel = f"{param} (log scale)" if as_log else param
        ax.set(title=title, xlabel=xlabel, ylabel="val. accuracy")
        shared.setdefault((cell, param), []).append(ax)
    for group in shared.values():  # one parameter's panels split by optimizer: same axes
        if len(group) > 1:
            xl = [ax.get_xlim() for ax in group]
            yl = [ax.get_ylim() for ax in group]
            for ax in group:
                ax.set_xlim(min(a for a, _ in xl), max(b for _, b in xl))
                ax.set_ylim(min(a for a, _ in yl), max(b for _, b in yl))
    marker = "o"
    handles: list[Any] = [
        Line2D([], [], marker=marker, markersize=5, color=colors[n],
               linestyle="-" if "line" in drawn else "none")
        for n in optimizer_order(slices["optimizer"])
    ]  # fmt: skip
    labels = optimizer_order(slices["optimizer"])
    seeds = int(slices["seeds"].max())
    legend = {
        "best": (Line2D([], [], marker="*", markersize=11, color="0.7", markeredgecolor="black",
                        linestyle="none"), "best trial"),
        "line": (Line2D([], [], color="0.3"), "slice through the best point"),
        "band": (Patch(color="0.3", alpha=BAND_ALPHA),
                 f"{level:.0%} t-interval over {seeds} seeds"),
        "faint": (Line2D([], [], marker="o", color="0.3", alpha=FAINT_ALPHA, linestyle="none"),
                  "trials off the slice"),
        "partial": (Line2D([], [], marker="o", markerfacecolor="none", color="0.3",
                           linestyle="none"), "stopped early (score at fewer epochs)"),
        "diverged": (Line2D([], [], marker="x", color="0.3", linestyle="none"),
                     "diverged (score 0)"),
    }  # fmt: skip
    for key, (handle, label) in legend.items():
        if key in drawn:
            handles.append(handle)
            labels.append(label)
    over = f", mean over {seeds} seeds per trial" if seeds > 1 else ""
    title = f"Tuning: validation accuracy of each trial against each parameter{over}"
    return _finish(fig, title, handles, labels, _path(out_dir, "tuning_sensitivity"))


def expected_max_figure(
    curves: pd.DataFrame | None, out_dir: Path, *, reference: str = "bop"
) -> Path | None:
    """Expected best validation score after ``k`` trials (Dodge et al. 2019; tidy ``model,
    dataset, optimizer, k, expected_max``, :func:`report.analysis.expected_max_curves`: the
    trials that reached the last rung): one panel per cell, one line per optimizer (log x
    beyond 20 trials). ``tuning_expected_max.png``."""
    needed = {"model", "dataset", "optimizer", "k", "expected_max"}
    if curves is None or curves.empty or not needed <= set(curves.columns):
        return None
    data = curves.astype({"k": float, "expected_max": float})
    data = data[np.isfinite(data["expected_max"])]
    if data.empty:
        return None
    data = data.assign(optimizer=data["optimizer"].astype(str))
    colors = optimizer_colors(data["optimizer"])
    cells = _cells(data)
    fig, axes = new_grid(len(cells))
    for ax, cell in zip(axes, cells, strict=True):
        sub = _in_cell(data, cell)
        for opt in optimizer_order(sub["optimizer"]):
            curve = sub[sub["optimizer"] == opt].sort_values("k")
            marker = "o" if len(curve) <= 25 else None
            ax.plot(curve["k"], curve["expected_max"], color=colors[opt], marker=marker,
                    markersize=3, **emphasis(opt, reference))  # fmt: skip
        if sub["k"].max() > 20:
            ax.set_xscale("log")
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=_title(cell), xlabel="trials k", ylabel="expected best val. accuracy")
    handles, labels = _line_handles(data["optimizer"], colors, reference)
    title = (
        "Expected best validation accuracy after k trials (Dodge et al. 2019), "
        "of the trials that ran the full tuning epochs"
    )
    return _finish(fig, title, handles, labels, _path(out_dir, "tuning_expected_max"))
