"""Across cells: Dolan-Moré performance profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, LogLocator

from report.figures.common import _finish, _line_handles, _path
from report.plotting import line_style, new_grid, optimizer_order

BEYOND = 1.25
"""Profiles are drawn to this factor past the largest ratio (a quarter of a doubling more on
the log-2 axis)."""


def profile_lines(data: pd.DataFrame, end: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The step curve drawn per optimizer: its ``(tau, fraction)`` sorted by tau, continued
    flat to ``end`` (past the largest tau, so the last step is not on the frame)."""
    lines = {}
    for opt in optimizer_order(data["optimizer"]):
        curve = data[data["optimizer"] == opt].sort_values("tau")
        tau, frac = curve["tau"].to_numpy(float), curve["fraction"].to_numpy(float)
        lines[opt] = (np.append(tau, end), np.append(frac, frac[-1]))
    return lines


def draw_profile(ax: Axes, data: pd.DataFrame, reference: str | None = "bop") -> float:
    """Draw the profile ``data`` (``optimizer, tau, fraction``; finite, tau > 0) on ``ax``:
    the step curves of :func:`profile_lines`, a marker where a fraction steps up, log-2 x
    from the smallest tau to the end of the lines, :data:`BEYOND` past the largest tau;
    returns that end."""
    names = optimizer_order(data["optimizer"])
    low, high = float(data["tau"].min()), float(data["tau"].max())
    end = BEYOND * (high if high > low else 2.0 * low)
    for opt, (tau, frac) in profile_lines(data, end).items():
        style = line_style(opt, names, reference, points=len(tau))
        # a marker where the fraction steps up (and at the start), none on the flat stretches
        style["markevery"] = [0] + [i for i in range(1, len(tau) - 1) if frac[i] != frac[i - 1]]
        ax.step(tau, frac, where="post", **style)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=2, subs=(1.0, 1.5) if high <= 16 * low else None))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(low, end)
    ax.set_ylim(-0.02, 1.02)
    return end


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
    log-2 x axis, each curve continued past the largest ``tau`` to :data:`BEYOND` times it (so
    a step at the largest ratio is drawn inside the frame, not on it); ``<name>.png``
    (``title`` defaults to "Performance profile: " and the name without its ``profile_``
    prefix)."""
    needed = {"optimizer", "tau", "fraction"}
    if profile is None or profile.empty or not needed <= set(profile.columns):
        return None
    data = profile.astype({"tau": float, "fraction": float})
    data = data[np.isfinite(data["tau"]) & (data["tau"] > 0) & np.isfinite(data["fraction"])]
    if data.empty:
        return None
    data = data.assign(optimizer=data["optimizer"].astype(str))
    fig, axes = new_grid(1, panel_width=4.4, panel_height=3.0, grow=False)
    ax = axes[0]
    draw_profile(ax, data, reference)
    ax.set(xlabel=xlabel, ylabel="fraction of cells (ratio <= tau)")
    handles, labels = _line_handles(data["optimizer"], reference=reference)
    heading = title or f"Performance profile: {name.removeprefix('profile_').replace('_', ' ')}"
    return _finish(fig, heading, handles, labels, _path(out_dir, name))
