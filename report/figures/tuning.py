"""Tuning figures: validation accuracy against each tuned parameter (sensitivity) and the
expected best validation accuracy after k trials."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

from report.figures.common import (
    BAND_ALPHA,
    _cells,
    _finish,
    _in_cell,
    _line_handles,
    _path,
    _title,
)
from report.plotting import emphasis, line_style, new_grid, optimizer_colors, optimizer_order

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
    colors = optimizer_colors(slices["optimizer"], reference)
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
            ax.xaxis.set_minor_formatter(NullFormatter())
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
    names = optimizer_order(data["optimizer"])
    cells = _cells(data)
    fig, axes = new_grid(len(cells))
    for ax, cell in zip(axes, cells, strict=True):
        sub = _in_cell(data, cell)
        for opt in optimizer_order(sub["optimizer"]):
            curve = sub[sub["optimizer"] == opt].sort_values("k")
            ax.plot(curve["k"], curve["expected_max"],
                    **line_style(opt, names, reference, points=len(curve)))  # fmt: skip
        if sub["k"].max() > 20:
            ax.set_xscale("log")
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=_title(cell), xlabel="trials k", ylabel="expected best val. accuracy")
    handles, labels = _line_handles(data["optimizer"], names, reference)
    title = (
        "Expected best validation accuracy after k trials (Dodge et al. 2019), "
        "of the trials that ran the full tuning epochs"
    )
    return _finish(fig, title, handles, labels, _path(out_dir, "tuning_expected_max"))
