r"""Colours and markers of the optimizers in a report's figures, assigned to the optimizers
present (not the registry's order, so an absent optimizer holds no colour):

- BAMSProd and the reference optimizer get the two most distinct colours of :data:`COLORS`
  (vermillion and indigo: far apart for normal vision and under simulated deuteranopia and
  protanopia); the others take the following colours in the registry's order;
- every optimizer also has its own marker (:data:`MARKERS`), so no two lines are told apart
  by hue alone; a row at the registry defaults (``"adam (defaults)"``) keeps its optimizer's
  colour and marker and is dashed;
- every colour has a contrast of at least 3:1 against white (WCAG 2.1's ratio
  :math:`(L_1 + 0.05) / (L_2 + 0.05)` of relative luminances, :func:`contrast`).

Colour-vision deficiency (:func:`simulate`): Machado, Oliveira and Fernandes (2009), "A
physiologically-based model for simulation of color vision deficiency", IEEE TVCG 15(6),
the severity-1.0 matrices, applied to linear RGB; differences are CIE76
:math:`\Delta E^*_{ab}` in CIELAB (D65) (:func:`delta_e`). tests/test_palette.py checks, for
the optimizers of every shipped suite, that each pair is :data:`MIN_DELTA_E` apart under
normal vision, deuteranopia and protanopia, or differs in marker.

Plain numpy: importing this module does not import matplotlib.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: the colours in the order they are handed out: BAMSProd, the reference, then the others
COLORS: tuple[str, ...] = (
    "#d55e00",  # vermillion (BAMSProd)
    "#33228b",  # indigo (the reference)
    "#000000",  # black
    "#ee3377",  # magenta-red
    "#7570b3",  # lavender
    "#117733",  # dark green
    "#882255",  # wine
    "#0f7f9b",  # teal
    "#a6611a",  # brown
    "#009e73",  # bluish green
    "#aa3377",  # purple
)
"""Vermillion and indigo: of the candidates (all >= 3:1 on white), the pair farthest apart
under normal vision, deuteranopia and protanopia alike (CIE76 >= 109). Then, from a pool of
hue-diverse colours (so normal vision sees greens and blues too, not only the reds and
purples that stay farthest apart for a deuteranope), each colour is about the one farthest
from those before it (the least distance under the three kinds of vision): the first five
are >= 27 apart under all three, so up to five optimizers are told apart by colour alone;
past five, pairs can be close for a deuteranope or protanope and are told apart by their
markers (every optimizer has its own)."""
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*")
MIN_CONTRAST = 3.0
"""Least contrast of a line colour against the white background (WCAG 2.1 for graphics)."""
MIN_DELTA_E = 20.0
"""A pair of colours this far apart (CIE76) is told apart by colour alone."""
EXTRA = ("#3b3b3b", "#7a4a1a", "#1f4e79", "#5b6b00")
"""Colours past :data:`COLORS` (more than 11 optimizers), cycled; markers still differ."""

# Machado et al. (2009), severity 1.0, linear RGB
MACHADO = {
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),  # fmt: skip
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),  # fmt: skip
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),  # fmt: skip
}


@dataclass(frozen=True)
class Style:
    """How one optimizer's lines look: colour, marker, line style."""

    color: str
    marker: str
    linestyle: str = "-"


# ----------------------------------------------------------------------------- colour math
def srgb(hex_color: str) -> np.ndarray:
    """``"#rrggbb"`` as sRGB in [0, 1]."""
    h = hex_color.lstrip("#")
    return np.array([int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4)])


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB -> linear RGB (IEC 61966-2-1)."""
    rgb = np.asarray(rgb, dtype=float)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def luminance(hex_color: str) -> float:
    """WCAG relative luminance :math:`0.2126 R + 0.7152 G + 0.0722 B` of linear RGB."""
    return float(np.dot([0.2126, 0.7152, 0.0722], to_linear(srgb(hex_color))))


def contrast(a: str, b: str = "#ffffff") -> float:
    """WCAG contrast ratio :math:`(L_{light} + 0.05) / (L_{dark} + 0.05)`, from 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def lab(linear_rgb: np.ndarray) -> np.ndarray:
    """Linear RGB (sRGB primaries) -> CIELAB, D65 white."""
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = m @ np.clip(linear_rgb, 0.0, 1.0) / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def simulate(hex_color: str, deficiency: str | None = None) -> np.ndarray:
    """The colour's CIELAB as seen with ``deficiency`` (a key of :data:`MACHADO`; ``None``:
    normal vision)."""
    rgb = to_linear(srgb(hex_color))
    if deficiency is not None:
        rgb = MACHADO[deficiency] @ rgb
    return lab(rgb)


def delta_e(a: str, b: str, deficiency: str | None = None) -> float:
    """CIE76 :math:`\\Delta E^*_{ab}` between two colours as seen with ``deficiency``."""
    return float(np.linalg.norm(simulate(a, deficiency) - simulate(b, deficiency)))


# ----------------------------------------------------------------------------- assignment
DEFAULTS_SUFFIX = " (defaults)"
#: the registry's order (benchmark.optim.OPTIMIZERS; tests check the two agree)
REGISTRY_ORDER: tuple[str, ...] = (
    "bamsprod", "bop", "bop2nd", "adam", "amsgrad", "adamw", "sgd", "adabound", "amsbound",
    "radam",
)  # fmt: skip
BAMSPROD = "bamsprod"


def _base(label: str) -> str:
    return str(label).removesuffix(DEFAULTS_SUFFIX)


def assign(names: Iterable[str], reference: str | None = "bop") -> dict[str, Style]:
    """A :class:`Style` per label of ``names``: the optimizers present (a ``"<name>
    (defaults)"`` label counts as its optimizer) in this order: BAMSProd, ``reference``, the
    others in the registry's order, then unknown names sorted; each takes the next colour of
    :data:`COLORS` (then :data:`EXTRA`, cycled) and marker of :data:`MARKERS` (cycled). A
    defaults label gets its optimizer's colour and marker, dashed."""
    labels = list(dict.fromkeys(str(n) for n in names))
    bases = list(dict.fromkeys(_base(n) for n in labels))
    rank = {name: i for i, name in enumerate(REGISTRY_ORDER)}
    first = [b for b in (BAMSPROD, reference) if b is not None and b in bases]
    known = sorted((b for b in bases if b in rank and b not in first), key=rank.__getitem__)
    unknown = sorted(b for b in bases if b not in rank and b not in first)
    styles = {}
    for i, base in enumerate(first + known + unknown):
        color = COLORS[i] if i < len(COLORS) else EXTRA[(i - len(COLORS)) % len(EXTRA)]
        styles[base] = Style(color, MARKERS[i % len(MARKERS)])
    return {
        n: Style(styles[_base(n)].color, styles[_base(n)].marker,
                 "--" if n.endswith(DEFAULTS_SUFFIX) else "-")
        for n in labels
    }  # fmt: skip
