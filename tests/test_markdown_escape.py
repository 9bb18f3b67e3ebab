"""REPORT.md and hostile text: every text the report did not write itself (a suite's
description, optimizer names, tuned values, messages) is shown as written and builds no tag,
link or image when REPORT.md is rendered by a CommonMark renderer (markdown-it-py, raw HTML
enabled as GitHub's renderer has it before sanitizing); the number formatter on fixed cases."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from report import inference_words as words
from report.blocks import Figure, Note, Paragraph, Section, Table
from report.markup import (
    fixed,
    md_text,
    number,
    p_value,
    points,
    ratio,
    render_page,
    slug,
    split_wide,
)

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<iframe src="http://evil.example/"></iframe>',
    "![x](http://evil.example/pixel.png)",
    "[x](javascript:alert(1))",
    "<optimizer> (defaults)",
    "a & b &amp; c | d `e` *f* _g_ # h",
    "1. not a list",
    "- not a list either",
    "<http://evil.example/>",
    "[ref]: javascript:alert(1)",
]


def _render(markdown: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)


def _text(html: str) -> str:
    """The visible text of rendered HTML (tags removed, the entities markdown-it writes
    decoded)."""
    text = re.sub(r"<[^>]+>", "", html)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_text_is_shown_as_written_and_makes_nothing(text: str) -> None:
    html = _render(md_text(text))
    assert _text(html).strip() == text  # every character survives as text
    assert not re.search(r"<(script|img|iframe|a)\b", html), html
    assert "javascript:" not in re.sub(r"(?s)<p>.*?</p>", "", html)  # only as visible text


def test_a_hostile_report_renders_inert(tmp_path: Path) -> None:
    Image.new("RGB", (2, 2)).save(tmp_path / "curves.png")
    frame = pd.DataFrame({"optimizer": HOSTILE, "best point": [f"lr={t}" for t in HOSTILE]})
    sections = [
        Section(
            HOSTILE[0],
            [
                Paragraph(" ".join(HOSTILE)),
                Note(HOSTILE[3]),
                Table(frame, caption=HOSTILE[4]),
                Figure(tmp_path / "curves.png", HOSTILE[1], caption=HOSTILE[2]),
            ],
        )
    ]
    markdown = render_page(HOSTILE[5], HOSTILE, sections, tmp_path).markdown
    html = _render(markdown)
    images = re.findall(r"<img\b[^>]*>", html)
    assert len(images) == 1 and images[0].startswith('<img src="curves.png" alt="&lt;img src=x')
    assert not re.search(r"<(script|iframe)\b", html)
    links = re.findall(r'<a href="([^"]*)"', html)
    assert links and all(href.startswith("#") for href in links)  # the contents only
    assert "javascript:" not in "".join(re.findall(r"<[^>]+>", html))  # in no tag
    text = _text(html)
    for hostile in HOSTILE:  # every text survives, visible
        assert hostile in text, hostile


def test_contents_anchors_are_githubs() -> None:
    assert slug("3. Final test accuracy") == "3-final-test-accuracy"
    assert slug("2. The paper's claims") == "2-the-papers-claims"
    assert slug("7. Tuning (tuned suites)") == "7-tuning-tuned-suites"


def test_a_wide_markdown_table_is_split_with_its_keys_repeated() -> None:
    frame = pd.DataFrame(
        {"model": ["mlp"], "dataset": ["digits"], "optimizer": ["bamsprod"]}
        | {f"a long column name {i}": [0.123456] for i in range(8)}
    )
    parts = split_wide(frame, width=700)
    assert len(parts) > 1
    assert all(list(p.columns[:3]) == ["model", "dataset", "optimizer"] for p in parts)
    assert [c for p in parts for c in p.columns[3:]] == list(frame.columns[3:])
    # explicit keys: a verdict before them stays first in the first part only
    verdicts = frame.assign(verdict="undetermined")[["verdict", *frame.columns]]
    parts = split_wide(verdicts, width=700, keys=("model", "dataset", "optimizer"))
    assert list(parts[0].columns[:4]) == ["verdict", "model", "dataset", "optimizer"]
    assert all(list(p.columns[:3]) == ["model", "dataset", "optimizer"] for p in parts[1:])
    assert [c for p in parts for c in p.columns if c not in ("model", "dataset", "optimizer")] == [
        "verdict",
        *frame.columns[3:],
    ]
    narrow = frame.iloc[:, :5]
    assert len(split_wide(narrow, width=700)) == 1 and split_wide(narrow)[0] is narrow


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("formatted", "text"),
    [
        (number(1e-17), "0"),
        (number(-5.551e-17), "0"),
        (number(-0.0), "0"),
        (number(-0.0, 3, fixed=True), "0.000"),
        (points(0.03528), "3.5"),
        (points(0.03528, signed=True), "+3.5"),
        (points(-0.0004), "0.0"),  # rounds to zero: no "-0.0"
        (points(-0.0351), "-3.5"),
        (ratio(1.2345), "1.23"),
        (ratio(0.8), "0.80"),
        (p_value(0.000012), "< 0.001"),
        (p_value(0.04321), "0.043"),
        (p_value(0.5), "0.50"),
        (p_value(1.0), "1.0"),
        (p_value(0.0999), "0.10"),
        (p_value(float("nan")), "n/a"),
        (p_value(0.0496), "0.0496"),  # near 0.05: three digits, "0.050" would cross the level
        (p_value(0.0549), "0.0549"),
        (p_value(0.0551), "0.055"),
        (fixed(85.03, 0), "85"),
        (fixed(0.7803, 2), "0.78"),
        (fixed(12.345), "12.3"),
        (fixed(-1e-17, 2), "0.00"),
        (fixed(float("inf"), 0), "inf"),
        (fixed(float("nan")), "n/a"),
        # the verdicts' words are the same formatter (report.inference_words)
        (words.points(0.03528, signed=True), "+3.5"),
        (words.ratio(1.2), "1.20x"),
        (words.ratio(1.2, unit=False), "1.20"),
        (words.p_value(0.000012), "< 0.001"),
        (words.p_value(1.0), "1.0"),
        (words.interval(0.9125, 0.9207, "accuracy", signed=False), "[91.2, 92.1]"),
        (words.with_unit(words.effect(-0.0598, "accuracy"), "accuracy"), "-6.0 points"),
        (words.with_unit(words.effect(1.124, "speed"), "speed"), "1.12x"),
    ],
)
def test_the_number_formatter_on_fixed_cases(formatted: str, text: str) -> None:
    assert formatted == text
