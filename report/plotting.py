"""Small helpers for report figures: matplotlib on the Agg backend, seaborn styling, PNG files
(which the sections reference as :class:`report.blocks.Figure` blocks)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 120


def new_figure(ncols: int = 1, width: float = 4.2, height: float = 3.3) -> tuple[Figure, Any]:
    """A figure with ``ncols`` side-by-side axes (a 1-d array, or one Axes if ``ncols == 1``),
    in seaborn's ``whitegrid`` style."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0] if ncols > 1 else axes[0, 0]


def save_figure(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    """Save ``fig`` as a PNG at ``path`` (parents created), close it, return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def palette(labels: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per label (so one optimizer keeps its colour across figures)."""
    colors = sns.color_palette("tab10", n_colors=max(len(labels), 1))
    return {label: colors[i % len(colors)] for i, label in enumerate(labels)}
