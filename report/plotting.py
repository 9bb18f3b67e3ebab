"""Small helpers for report figures: matplotlib on the Agg backend, seaborn styling, PNG files
(which the sections reference as :class:`report.blocks.Figure` blocks).

- :func:`new_figure`: a row of panels (the convex section); :func:`new_grid`: panels wrapped
  in a grid of at most :data:`MAX_COLUMNS` columns, at most :data:`MAX_WIDTH` inches wide, for
  figures read on a laptop or a phone; :func:`legend_below`: one legend under the panels;
  :func:`save_figure`: the PNG file.
- :func:`optimizer_colors`: one colour per optimizer in every figure and report (seaborn's
  colour-blind palette in the registry's order, :data:`REGISTRY_ORDER`); :func:`palette` gives
  the same colours to any labels; :func:`emphasis`: BAMSProd and the reference optimizer drawn
  thicker and on top. A row at the registry defaults (``"adam (defaults)"``, a tuned suite's
  ``tuning.defaults``) takes its optimizer's colour, dashed (:func:`base_optimizer`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from report.analysis import DEFAULTS_SUFFIX  # noqa: E402  (" (defaults)")

DPI = 120
MAX_COLUMNS = 3
"""Panels per row of a :func:`new_grid` figure."""
MAX_WIDTH = 12.0
"""Widest figure, inches (1440 px at :data:`DPI`)."""
PANEL_WIDTH, PANEL_HEIGHT = 3.9, 2.9

#: the keys of :data:`benchmark.optim.OPTIMIZERS`, in order (kept here so that drawing a report
#: does not import torch; tests/test_report_figures.py checks that the two agree)
REGISTRY_ORDER: tuple[str, ...] = (
    "bamsprod",
    "bop",
    "bop2nd",
    "adam",
    "amsgrad",
    "adamw",
    "sgd",
    "adabound",
    "amsbound",
    "radam",
)
#: BAMSProd's name in the registry (always drawn thick, see :func:`emphasis`)
BAMSPROD = "bamsprod"
THICK, THIN = 2.2, 1.2
#: the line style of a row at the registry defaults (its optimizer's colour, dashed)
DEFAULTS_STYLE = "--"


def new_figure(ncols: int = 1, width: float = 4.2, height: float = 3.3) -> tuple[Figure, Any]:
    """A figure with ``ncols`` side-by-side axes (a 1-d array, or one Axes if ``ncols == 1``),
    in seaborn's ``whitegrid`` style."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0] if ncols > 1 else axes[0, 0]


def save_figure(fig: Figure, path: Path, dpi: int = DPI, *, compact: bool = False) -> Path:
    """Save ``fig`` as a PNG at ``path`` (parents created), close it, return ``path``.

    ``compact``: an 8-bit palette PNG (the figure flattened on white, quantized to 256
    colours, zlib-optimized), about a quarter of the size of matplotlib's RGBA PNG and
    indistinguishable for line plots; keeps a report with many figures small."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not compact:
        fig.savefig(path, dpi=dpi, bbox_inches="tight", format="png")
        plt.close(fig)
        return path
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, bbox_inches="tight", format="png", facecolor="white")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        rgb = image.convert("RGB")
    rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, "PNG", optimize=True)
    return path


def palette(labels: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per label (so one optimizer keeps its colour across figures): the
    colours of :func:`optimizer_colors`, keyed by ``labels`` in their order."""
    colors = optimizer_colors(labels)
    return {label: colors[label] for label in labels}


# ----------------------------------------------------------------------------- optimizers
def _theme() -> None:
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.8)


def is_defaults(label: str) -> bool:
    """Whether ``label`` names a row of runs at the registry defaults (``"adam (defaults)"``)."""
    return str(label).endswith(DEFAULTS_SUFFIX)


def base_optimizer(label: str) -> str:
    """The optimizer a label names: ``"adam (defaults)"`` -> ``"adam"``; others unchanged."""
    return str(label).removesuffix(DEFAULTS_SUFFIX)


def optimizer_order(names: Iterable[str]) -> list[str]:
    """``names`` (deduplicated) in the registry's order (:data:`REGISTRY_ORDER`), then the
    names the registry does not know, sorted; a ``"<name> (defaults)"`` row right after its
    optimizer."""
    unique = {str(n) for n in names}
    bases = {base_optimizer(n) for n in unique}
    known = [n for n in REGISTRY_ORDER if n in bases]
    ordered = known + sorted(bases - set(REGISTRY_ORDER))
    out = []
    for base in ordered:
        out += [n for n in (base, base + DEFAULTS_SUFFIX) if n in unique]
    return out


def optimizer_colors(names: Iterable[str]) -> dict[str, str]:
    """One colour (hex) per optimizer, the same in every figure and report: seaborn's
    ``colorblind`` palette assigned by :data:`REGISTRY_ORDER` (BAMSProd always its first
    colour), whatever the order or subset of ``names``. Names the registry does not know get
    black, then seaborn's ``dark`` colours, in sorted order after the known ones (so a plug-in
    never takes a registry optimizer's colour). A ``"<name> (defaults)"`` row gets its
    optimizer's colour (:func:`emphasis` dashes it). Keys in :func:`optimizer_order`."""
    base = [to_hex(c) for c in sns.color_palette("colorblind", len(REGISTRY_ORDER))]
    extra = ["#000000"] + [to_hex(c) for c in sns.color_palette("dark", 10)]
    slot = {name: i for i, name in enumerate(REGISTRY_ORDER)}
    ordered = optimizer_order(names)
    bases = list(dict.fromkeys(base_optimizer(n) for n in ordered))
    unknown = [n for n in bases if n not in slot]
    colors = {n: base[slot[n] % len(base)] for n in bases if n in slot}
    colors.update({n: extra[i % len(extra)] for i, n in enumerate(unknown)})
    return {n: colors[base_optimizer(n)] for n in ordered}


def emphasis(optimizer: str, reference: str | None = None) -> dict[str, Any]:
    """Line keywords: BAMSProd and ``reference`` thick (:data:`THICK`) and on top (higher
    ``zorder``), every other optimizer thin (:data:`THIN`); a row at the registry defaults
    (``"bop (defaults)"``) as thick as its optimizer, dashed (:data:`DEFAULTS_STYLE`) and just
    below it."""
    name = base_optimizer(str(optimizer)).lower()
    if name == BAMSPROD or (reference is not None and name == str(reference).lower()):
        style: dict[str, Any] = {"linewidth": THICK, "zorder": 4.0}
    else:
        style = {"linewidth": THIN, "zorder": 3.0}
    if is_defaults(str(optimizer)):
        style.update(linestyle=DEFAULTS_STYLE, zorder=style["zorder"] - 0.5)
    return style


# ----------------------------------------------------------------------------- grids
def new_grid(
    panels: int,
    ncols: int = MAX_COLUMNS,
    *,
    panel_width: float = PANEL_WIDTH,
    panel_height: float = PANEL_HEIGHT,
    grow: bool = True,
) -> tuple[Figure, list[Axes]]:
    """A figure of ``panels`` axes wrapped in rows of at most ``ncols`` (<= :data:`MAX_COLUMNS`)
    columns, at most :data:`MAX_WIDTH` inches wide (panels narrowed to fit), constrained
    layout; returns the figure and its ``panels`` axes in reading order (spare cells hidden).
    With ``grow``, a figure of one or two columns gets panels 1.4 or 1.2 times as large."""
    _theme()
    panels = max(1, int(panels))
    ncols = max(1, min(ncols, MAX_COLUMNS, panels))
    nrows = math.ceil(panels / ncols)
    scale = 1.0 + 0.2 * (MAX_COLUMNS - ncols) if grow else 1.0
    width = min(MAX_WIDTH, panel_width * scale * ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width, panel_height * scale * nrows),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


def legend_below(fig: Figure, handles: Sequence[Any], labels: Sequence[str], ncol: int = 5) -> None:
    """One legend for the whole figure, centred under the panels (the figure's constrained
    layout makes room for it)."""
    if not handles:
        return
    fig.legend(
        list(handles), list(labels), loc="outside lower center", frameon=False,
        ncol=max(1, min(ncol, len(handles))),
    )  # fmt: skip
