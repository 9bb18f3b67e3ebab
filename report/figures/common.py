"""What every figure family shares: the runs drawn, one metric's series, the cell helpers, the
legend entries and the file each figure is saved to (``out_dir / "figures" / <name>.png``)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from report.plotting import (
    base_optimizer,
    is_defaults,
    legend_below,
    line_style,
    optimizer_order,
    save_figure,
)

TITLE_CHARS = 64
"""A figure title is wrapped at this many characters (it stays inside a 5.6 inch figure)."""

CELL = ["model", "dataset"]
DRAWN = ("completed", "diverged")
BAND_ALPHA = 0.18
#: latent-free optimizers of the registry (``kind="latent-free"``): no latent weights, so no
#: latent saturation and no quantization error of latent weights (not applicable, not zero)
LATENT_FREE = frozenset({"bop", "bop2nd"})


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
    names: Iterable[str],
    universe: Iterable[str] | None = None,
    reference: str | None = "bop",
    *,
    markers: bool = True,
) -> tuple[list[Any], list[str]]:
    """Legend entries: one line per optimizer of ``names``, in its colour, marker and width,
    the palette assigned over ``universe`` (default: ``names``); its row at the registry
    defaults has no entry of its own, one grey dashed entry says what dashes mean."""
    order = optimizer_order(names)
    every = optimizer_order(universe) if universe is not None else order
    handles, labels = [], []
    for n in order:
        if is_defaults(n) and base_optimizer(n) in order:
            continue  # one entry per optimizer; the dashes are explained once, below
        style = line_style(n, every, reference, points=1 if markers else 0)
        style.pop("markevery", None)
        style.pop("zorder", None)
        handles.append(Line2D([], [], **style))
        labels.append(n)
    if any(is_defaults(n) for n in order):
        handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.2))
        labels.append("dashed: at registry defaults")
    return handles, labels


def _finish(fig: Figure, title: str, handles: list[Any], labels: list[str], path: Path) -> Path:
    fig.suptitle(textwrap.fill(title, TITLE_CHARS))
    legend_below(fig, handles, labels)
    return save_figure(fig, path, compact=True)


def _empty_panel(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
