"""Inside the binary network: flip rate, quantization error, latent saturation per cell, and
BAMSProd's step-size range."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from report.figures.common import (
    CELL,
    LATENT_FREE,
    _cells,
    _finish,
    _in_cell,
    _line_handles,
    _path,
    _series,
    _title,
    final_runs,
)
from report.plotting import (
    BAMSPROD,
    base_optimizer,
    line_style,
    new_grid,
    optimizer_colors,
    optimizer_order,
)

DIAGNOSTICS = (
    ("flip_rate", "flip rate", "fraction flipped"),
    ("quantization_error", "quantization error", "xnor_l1 error (0-1)"),
    ("saturation", "latent saturation", "fraction at the bound"),
)
LOG_SPAN = 100.0
"""A flip-rate panel gets a log y axis when its positive values span more than this factor."""


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


NOT_APPLICABLE = frozenset({"quantization_error", "saturation"})
"""Diagnostics of latent weights: not applicable to a latent-free optimizer (Bop keeps no
latent weights: its stored quantization error 0 and saturation say nothing), so omitted for
it, not drawn as 0."""


def diagnostic_series(runs: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``model, dataset, optimizer, name, step, value``: each diagnostic's mean over seeds,
    without the :data:`NOT_APPLICABLE` ones of latent-free optimizers."""
    means = _diagnostic_means(runs, values, [name for name, _, _ in DIAGNOSTICS])
    latent_free = means["optimizer"].map(base_optimizer).isin(LATENT_FREE)
    return means[~(means["name"].isin(NOT_APPLICABLE) & latent_free)].reset_index(drop=True)


def diagnostic_panels(means: pd.DataFrame) -> tuple[list[tuple[tuple, str]], list[str]]:
    """``(cell, diagnostic)`` of each panel drawn, and a note per panel left out: a panel
    whose every value is 0 carries no information (e.g. latent saturation with no latent
    weight at the clip bound) and is replaced by a line in the figure's title."""
    panels, dropped = [], []
    for cell in _cells(means):
        sub = _in_cell(means, cell)
        for name, title, _ in DIAGNOSTICS:
            series = sub[sub["name"] == name]
            if series.empty:
                continue
            if (series["value"] == 0).all():
                dropped.append(f"{_title(cell)}: {title} 0 throughout")
                continue
            panels.append((cell, name))
    return panels, dropped


def diagnostics_figure(
    runs: pd.DataFrame, values: pd.DataFrame, out_dir: Path, *, reference: str = "bop"
) -> Path | None:
    """Inside the binary network: per cell the panels against optimizer steps of the flip
    rate (log y when its positive values span more than two decades), the quantization error
    and the latent saturation, each the mean over seeds per optimizer. Not applicable
    diagnostics are omitted (:data:`NOT_APPLICABLE` for latent-free optimizers), as are
    unrecorded series and panels with no information (:func:`diagnostic_panels`, named in the
    title). ``bnn_diagnostics.png``."""
    means = diagnostic_series(runs, values)
    panels, dropped = diagnostic_panels(means)
    if not panels:
        return None
    names = optimizer_order(means["optimizer"])
    titles = {name: (title, ylabel) for name, title, ylabel in DIAGNOSTICS}
    fig, axes = new_grid(len(panels))
    for ax, (cell, name) in zip(axes, panels, strict=True):
        series = _in_cell(means, cell)
        series = series[series["name"] == name]
        title, ylabel = titles[name]
        ax.set(title=f"{_title(cell)}: {title}", xlabel="optimizer steps", ylabel=ylabel)
        positive = series["value"][series["value"] > 0]
        log = (
            name == "flip_rate" and positive.size > 0 and positive.max() > LOG_SPAN * positive.min()
        )
        for opt in optimizer_order(series["optimizer"]):
            curve = series[series["optimizer"] == opt]
            y = curve["value"].where(curve["value"] > 0) if log else curve["value"]
            ax.plot(curve["step"], y, **line_style(opt, names, reference, points=len(curve)))
        if log:
            ax.set_yscale("log")
    handles, labels = _line_handles(means["optimizer"], names, reference)
    title = "Inside the binary network (mean over seeds and binary layers)"
    if dropped:
        title += "; not drawn: " + "; ".join(dropped)
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
    color = optimizer_colors([BAMSPROD])[BAMSPROD]  # BAMSProd's colour in every figure
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
