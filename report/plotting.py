"""Small helpers for report figures: matplotlib on the Agg backend, seaborn styling, PNG files
(which the sections reference as :class:`report.blocks.Figure` blocks).

- :func:`new_figure`: a row of panels (the convex section); :func:`new_grid`: panels wrapped
  in a grid of at most :data:`MAX_COLUMNS` columns, at most :data:`MAX_WIDTH` inches wide, so
  a figure shown at the full width of a phone (390 px) keeps text of 8 to 9 px (9-10 pt
  fonts on a 5.6 inch figure scaled to 358 px); :func:`legend_below`: one legend under the
  panels; :func:`save_figure`: the PNG file.
- :func:`optimizer_colors` and :func:`line_style`: one colour and marker per optimizer
  present (:mod:`report.palette`: BAMSProd and the reference in the two most distinct
  colours, every line >= 3:1 on white, a marker per optimizer); :func:`palette` gives the
  same colours to any labels; :func:`emphasis`: BAMSProd and the reference optimizer drawn
  thicker and on top. A row at the registry defaults (``"adam (defaults)"``, a tuned suite's
  ``tuning.defaults``) takes its optimizer's colour and marker, dashed
  (:func:`base_optimizer`).
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
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from report import figure_pool  # noqa: E402
from report.palette import BAMSPROD, DEFAULTS_SUFFIX, REGISTRY_ORDER, assign  # noqa: E402

DPI = 170
"""Pixels per inch of the PNG files (a 5.6 inch figure: 950 px, sharp on a laptop)."""
MAX_COLUMNS = 2
"""Panels per row of a :func:`new_grid` figure (two: legible on a phone)."""
MAX_WIDTH = 5.6
"""Widest figure, inches: shown 358 px wide on a phone, a 9 pt tick label is 8 px high."""
PANEL_WIDTH, PANEL_HEIGHT = 2.8, 2.4
#: matplotlib settings of every figure (seaborn's whitegrid look, without importing seaborn)
RC = {
    "axes.facecolor": "white",
    "axes.edgecolor": "#cccccc",
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.5,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "figure.titlesize": 10.5,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.labelcolor": "#222222",
    "axes.formatter.use_mathtext": False,
    "xtick.major.size": 0.0,
    "ytick.major.size": 0.0,
}
THICK, THIN = 2.2, 1.2
#: the line style of a row at the registry defaults (its optimizer's colour, dashed)
DEFAULTS_STYLE = "--"


def new_figure(ncols: int = 1, width: float = 4.2, height: float = 3.3) -> tuple[Figure, Any]:
    """A figure with ``ncols`` side-by-side axes (a 1-d array, or one Axes if ``ncols == 1``),
    in the report's style (:data:`RC`)."""
    _theme()
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0] if ncols > 1 else axes[0, 0]


PAD_INCHES = 0.1
"""White margin around the drawn content (matplotlib's ``savefig.pad_inches``)."""


def _rendered(fig: Figure, dpi: int) -> Image.Image:
    """The figure drawn once at ``dpi`` and cropped to its content plus :data:`PAD_INCHES`,
    as an RGB image flattened on white: the crop of ``savefig(bbox_inches="tight")`` (the
    layout of the same single layout pass, cut to the same box, to the pixel), at less
    cost: ``savefig`` lays a constrained-layout figure out twice and draws it twice. Content
    reaching past the canvas (beyond the padding) is not on the canvas: then ``savefig``
    draws the larger box itself."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    fig.patch.set_facecolor("white")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the layout engine runs once, inside this draw
    box = fig.get_tightbbox(canvas.get_renderer()).padded(PAD_INCHES)
    width, height = canvas.get_width_height()
    if (
        box.x0 < -PAD_INCHES
        or box.y0 < -PAD_INCHES
        or (box.x1 * dpi > width + PAD_INCHES * dpi or box.y1 * dpi > height + PAD_INCHES * dpi)
    ):  # content outside the canvas (not drawn there): let savefig draw the larger box
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, bbox_inches="tight", format="png", facecolor="white")
        buffer.seek(0)
        with Image.open(buffer) as image:
            return image.convert("RGB")
    drawn = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    # the box in pixels from the canvas' top left; its padding may reach past the canvas
    left, top = round(box.x0 * dpi), round(height - box.y1 * dpi)
    size = (max(1, round(box.width * dpi)), max(1, round(box.height * dpi)))
    out = Image.new("RGB", size, "white")
    out.paste(drawn.convert("RGB"), (-left, -top))
    return out


def save_figure(fig: Figure, path: Path, dpi: int = DPI, *, compact: bool = False) -> Path:
    """Save ``fig`` as a PNG at ``path`` (parents created), close it, return ``path``.

    ``compact``: an 8-bit palette PNG (the figure flattened on white, quantized to 256
    colours), about a quarter of the size of matplotlib's RGBA PNG and indistinguishable for
    line plots; keeps a report with many figures small. Otherwise an RGB PNG. Both drawn
    once (:func:`_rendered`) and written with zlib level 6 (``optimize`` would try every
    filter for a few percent of the size at several times the time). Inside
    :func:`report.figure_pool.parallel_figures` the file is written by a child process, and
    exists once the block is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.close(fig)  # out of pyplot's registry; the figure itself is drawn below

    def draw() -> None:
        image = _rendered(fig, dpi)
        if compact:
            image = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        image.save(path, "PNG", compress_level=6)

    if not figure_pool.submit(draw):  # in a child when figures are drawn in parallel
        draw()
    return path


def palette(labels: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per label (so one optimizer keeps its colour across figures): the
    colours of :func:`optimizer_colors`, keyed by ``labels`` in their order."""
    colors = optimizer_colors(labels)
    return {label: colors[label] for label in labels}


# ----------------------------------------------------------------------------- optimizers
def _theme() -> None:
    plt.rcParams.update(RC)


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


def optimizer_colors(names: Iterable[str], reference: str | None = "bop") -> dict[str, str]:
    """One colour (hex) per label of ``names``, assigned to the optimizers present
    (:func:`report.palette.assign`: BAMSProd and ``reference`` in the two most distinct
    colours); a ``"<name> (defaults)"`` row gets its optimizer's colour. Keys in
    :func:`optimizer_order`."""
    styles = assign(optimizer_order(names), reference)
    return {n: styles[n].color for n in optimizer_order(names)}


def line_style(
    optimizer: str, names: Iterable[str], reference: str | None = "bop", points: int = 0
) -> dict[str, Any]:
    """Every keyword of one optimizer's line among the labels ``names``: colour and marker
    (:func:`report.palette.assign`), width, dashes and ``zorder`` (:func:`emphasis`); with
    ``points`` (the line's number of points) a marker on about six of them."""
    style = assign(optimizer_order(names), reference)[str(optimizer)]
    kwargs = {"color": style.color, **emphasis(optimizer, reference)}
    if points:
        kwargs |= {"marker": style.marker, "markersize": 4.5, "markevery": max(1, points // 6),
                   "markerfacecolor": style.color, "markeredgewidth": 0}  # fmt: skip
    return kwargs


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
    With ``grow``, a one-column figure gets a panel 1.4 times as large (a lone panel is not
    drawn tiny)."""
    _theme()
    panels = max(1, int(panels))
    ncols = max(1, min(ncols, MAX_COLUMNS, panels))
    nrows = math.ceil(panels / ncols)
    scale = 1.0 + 0.4 * (MAX_COLUMNS - ncols) if grow else 1.0
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


LEGEND_ROW = 0.2
"""Inches a legend row takes (at :data:`RC`'s 9 pt legend font)."""


def legend_below(fig: Figure, handles: Sequence[Any], labels: Sequence[str], ncol: int = 3) -> None:
    """One legend for the whole figure, centred under the panels; the figure grows by the
    legend's height, so the panels keep their size (the constrained layout places it)."""
    if not handles:
        return
    if fig.get_figwidth() < 5.0:  # a narrow figure: two columns keep the legend inside it
        ncol = min(ncol, 2)
    ncol = max(1, min(ncol, len(handles)))
    rows = math.ceil(len(handles) / ncol)
    fig.set_figheight(fig.get_figheight() + rows * LEGEND_ROW + 0.1)
    fig.legend(list(handles), list(labels), loc="outside lower center", frameon=False, ncol=ncol)
