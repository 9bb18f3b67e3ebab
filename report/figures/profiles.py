"""Across cells: Dolan-Moré performance profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator

from report.figures.common import _finish, _line_handles, _path
from report.plotting import emphasis, new_grid, optimizer_colors, optimizer_order


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
