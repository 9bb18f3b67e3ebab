"""The optimizers' colours and markers (report/palette.py): for the optimizers of every
shipped suite, every pair is told apart under simulated deuteranopia and protanopia (Machado
et al. 2009, severity 1.0) by colour (CIE76 delta E >= MIN_DELTA_E) or by marker/dashes, and
every line colour has a WCAG contrast of at least 3:1 on white. The colour math is checked
against published values first."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from report.palette import (
    COLORS,
    EXTRA,
    MIN_CONTRAST,
    MIN_DELTA_E,
    assign,
    contrast,
    delta_e,
    lab,
    simulate,
    srgb,
    to_linear,
)

SUITES = sorted((Path(__file__).parents[1] / "suites").glob("*.yaml"))
VISION = (None, "deuteranopia", "protanopia")


def _optimizers(path: Path) -> tuple[list[str], str | None]:
    data = yaml.safe_load(path.read_text())
    listed = data.get("optimizers") or (data.get("convex") or {}).get("optimizers") or []
    names = [o if isinstance(o, str) else o["name"] for o in listed]
    return names, data.get("reference", "bop" if data.get("task", "train") == "train" else None)


# ----------------------------------------------------------------------------- the math
def test_contrast_matches_wcag_reference_values() -> None:
    assert contrast("#000000") == pytest.approx(21.0)
    assert contrast("#ffffff") == pytest.approx(1.0)
    assert contrast("#777777") == pytest.approx(4.48, abs=0.01)  # WebAIM's checker: 4.48
    assert contrast("#0000ff") == pytest.approx(8.59, abs=0.01)  # WebAIM: 8.59


def test_lab_matches_published_values() -> None:
    # sRGB red, green, blue in CIELAB (D65): Lindbloom's calculator
    for hex_color, expected in (
        ("#ff0000", (53.24, 80.09, 67.20)),
        ("#00ff00", (87.73, -86.18, 83.18)),
        ("#0000ff", (32.30, 79.19, -107.86)),
        ("#ffffff", (100.0, 0.0, 0.0)),
    ):
        assert lab(to_linear(srgb(hex_color))) == pytest.approx(expected, abs=0.05)


def test_machado_simulation_collapses_red_green() -> None:
    # rows of each matrix sum to 1: white and greys stay where they are
    for deficiency in ("deuteranopia", "protanopia"):
        assert simulate("#808080", deficiency) == pytest.approx(simulate("#808080"), abs=0.5)
    # a red and a green far apart for normal vision are close for a deuteranope
    assert delta_e("#cc3333", "#669933") > 60
    assert delta_e("#cc3333", "#669933", "deuteranopia") < 25
    assert np.isfinite(delta_e("#d55e00", "#0072b2", "tritanopia"))


# ----------------------------------------------------------------------------- the palette
def test_every_colour_has_3_to_1_contrast_on_white() -> None:
    for color in COLORS + EXTRA:
        assert contrast(color) >= MIN_CONTRAST, color


@pytest.mark.parametrize("suite", SUITES, ids=[p.stem for p in SUITES])
def test_every_pair_of_a_shipped_suite_is_told_apart_without_hue(suite: Path) -> None:
    names, reference = _optimizers(suite)
    labels = names + [f"{n} (defaults)" for n in names]  # a tuned suite's defaults rows
    styles = assign(labels, reference)
    for a, b in itertools.combinations(labels, 2):
        sa, sb = styles[a], styles[b]
        by_shape = (sa.marker, sa.linestyle) != (sb.marker, sb.linestyle)
        worst = min(delta_e(sa.color, sb.color, v) for v in VISION)
        assert by_shape or worst >= MIN_DELTA_E, (a, b, worst)
        if a.removesuffix(" (defaults)") != b.removesuffix(" (defaults)"):
            assert sa.marker != sb.marker  # every optimizer its own marker
    for label in labels:
        assert contrast(styles[label].color) >= MIN_CONTRAST


def test_the_first_five_colours_differ_by_colour_alone() -> None:
    """Up to five optimizers (sensitivity) need no marker to be told apart."""
    for a, b in itertools.combinations(COLORS[:5], 2):
        assert min(delta_e(a, b, v) for v in VISION) >= MIN_DELTA_E, (a, b)


def test_bamsprod_and_the_reference_get_the_two_most_distinct_colours() -> None:
    for suite in SUITES:
        names, reference = _optimizers(suite)
        styles = assign(names, reference)
        if "bamsprod" in styles and reference in styles:
            a, b = styles["bamsprod"].color, styles[reference].color
            distance = min(delta_e(a, b, v) for v in VISION)
            others = [min(delta_e(x, y, v) for v in VISION)
                      for x, y in itertools.combinations(COLORS + EXTRA, 2)]  # fmt: skip
            assert distance == pytest.approx(max(others)), suite.name
