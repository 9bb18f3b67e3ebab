"""Report blocks (report.blocks) and their one rendering (report.markup): each block's Markdown
and HTML, the escaping rule, the number formatter, and sections built from blocks only."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import report
from benchmark.tune import TuningResult
from report.blocks import Figure, Note, Paragraph, Section, Table
from report.convex import convex_section
from report.markup import (
    assignments,
    md_text,
    number,
    render_block,
    render_page,
    render_section,
)
from report.render import report_header, training_sections, write_report
from report.training import SECTION_NUMBERS
from report.tuning import tuning_section

EVIL = "<script>&\"'"
EVIL_HTML = "&lt;script&gt;&amp;&#34;&#39;"
FRAME = pd.DataFrame({"name": ["adam", "sgd"], "seeds": [2, 1], "acc": [0.123456, math.nan]})


# ----------------------------------------------------------------------------- blocks
def test_paragraph_and_note() -> None:
    assert render_block(Paragraph("R_T/T <= 0.05, x_1 = 1")) == (
        r"R\_T/T \<= 0.05, x\_1 = 1",  # Markdown: escaped, shown as written (test_markdown_escape)
        "<p>R_T/T &lt;= 0.05, x_1 = 1</p>",
    )
    assert render_block(Note("No runs.")) == (
        "_No runs._",
        '<p class="note"><em>No runs.</em></p>',
    )


def test_table() -> None:
    markdown, html = render_block(Table(FRAME))
    assert markdown == (
        "| name | seeds | acc |\n|---|---|---|\n| adam | 2 | 0.1235 |\n| sgd | 1 | n/a |"
    )
    assert html == (
        '<div class="table-wrap"><table class="dataframe">\n'
        "  <thead>\n"
        '    <tr style="text-align: right;">\n'
        "      <th>name</th>\n"
        "      <th>seeds</th>\n"
        "      <th>acc</th>\n"
        "    </tr>\n"
        "  </thead>\n"
        "  <tbody>\n"
        "    <tr>\n"
        "      <td>adam</td>\n"
        "      <td>2</td>\n"
        "      <td>0.1235</td>\n"
        "    </tr>\n"
        "    <tr>\n"
        "      <td>sgd</td>\n"
        "      <td>1</td>\n"
        "      <td>n/a</td>\n"
        "    </tr>\n"
        "  </tbody>\n"
        "</table></div>"
    )


def test_a_header_puts_its_unit_on_a_second_line_in_html() -> None:
    """``restricted mean (epochs)`` is two lines in HTML (a narrow column does not stack one
    word a line), one in Markdown; the text is escaped either way."""
    frame = pd.DataFrame({"restricted mean (epochs)": [1.5], "<b> (a&b)": [1], "P(x > y)": [2]})
    markdown, html = render_block(Table(frame))
    assert "      <th>restricted mean<br>(epochs)</th>\n" in html
    assert "      <th>&lt;b&gt;<br>(a&amp;b)</th>\n" in html
    assert "      <th>P(x &gt; y)</th>\n" in html
    assert markdown.startswith("| restricted mean (epochs) | \\<b\\> (a\\&b) | P(x \\> y) |")


def test_an_empty_table_is_a_note() -> None:
    assert render_block(Table(pd.DataFrame())) == (
        "_(no rows)_",
        '<p class="note"><em>(no rows)</em></p>',
    )


def test_a_table_cell_is_one_line() -> None:
    markdown, html = render_block(Table(pd.DataFrame({"message": ["  Error:\n  boom \t"]})))
    assert markdown.splitlines()[-1] == "| Error: boom |"
    assert "      <td>Error: boom</td>\n" in html


def test_figure_is_linked_relative_to_the_report(tmp_path: Path) -> None:
    figure = Figure(tmp_path / "figs" / "regret.png", "average regret")
    assert render_block(figure, tmp_path) == (
        "![average regret](figs/regret.png)",
        '<figure><img src="figs/regret.png" alt="average regret"></figure>',
    )


def test_captions_go_under_tables_and_figures(tmp_path: Path) -> None:
    figure = Figure(tmp_path / "f.png", "curves", caption="Mean over 3 seeds, 95% bootstrap band.")
    markdown, html = render_block(figure, tmp_path)
    assert markdown == "![curves](f.png)\n\n_Mean over 3 seeds, 95% bootstrap band._"
    assert html.endswith("<figcaption>Mean over 3 seeds, 95% bootstrap band.</figcaption></figure>")
    markdown, html = render_block(Table(FRAME, caption="n = 2 <seeds>"), tmp_path)
    assert markdown.endswith("| sgd | 1 | n/a |\n\n_n = 2 \\<seeds\\>_")
    # under the scrolling wrapper, not inside the table: on a phone it stays on screen
    assert html.startswith('<figure class="table"><div class="table-wrap"><table')
    assert html.endswith("</table></div><figcaption>n = 2 &lt;seeds&gt;</figcaption></figure>")


def test_section_and_page(tmp_path: Path) -> None:
    section = Section("Results", [Paragraph("Intro."), Note("None failed.")])
    assert render_section(section, tmp_path) == (
        "Intro.\n\n_None failed._",
        '<p>Intro.</p>\n<p class="note"><em>None failed.</em></p>',
    )
    markdown, html = render_page("s", ["one", "two"], [section], tmp_path)
    assert markdown == (
        "# bnnbench: s\n\n"
        "- [1. Results](#1-results)\n- [2. About this report](#2-about-this-report)\n\n"
        "## 1. Results\n\nIntro.\n\n_None failed._\n\n"
        "## 2. About this report\n\none\n\ntwo\n"
    )
    assert html.startswith("<!doctype html>\n")
    assert '<li><a href="#1-results">1. Results</a></li>' in html
    assert html.endswith(
        '<section id="1-results" class="answer">\n<h2>1. Results</h2>\n<p>Intro.</p>\n'
        '<p class="note"><em>None failed.</em></p>\n</section>\n'
        '<section id="2-about-this-report">\n<h2>2. About this report</h2>\n'
        "<p>one</p>\n<p>two</p>\n</section>\n</body></html>"
    )


def test_sections_keep_their_fixed_numbers_when_others_are_absent(tmp_path: Path) -> None:
    """A section's own number is kept (an absent optional section leaves a gap, in the
    headings, the anchors and both tables of contents); an unnumbered one follows the
    previous; numbers must increase."""
    sections = [Section("Answer", [Note("a")], number=1), Section("Methods", [Note("m")], number=9)]
    markdown, html = render_page("s", ["about"], sections, tmp_path)
    assert "- [1. Answer](#1-answer)\n- [9. Methods](#9-methods)\n" in markdown
    assert "- [10. About this report](#10-about-this-report)" in markdown
    assert "\n## 9. Methods\n" in markdown and "\n## 10. About this report\n" in markdown
    assert '<section id="9-methods">\n<h2>9. Methods</h2>' in html
    assert '<li><a href="#9-methods">9. Methods</a></li>' in html
    # the Markdown contents are not an ordered list, which a renderer would renumber 1, 2, 3
    rendered = pytest.importorskip("markdown_it").MarkdownIt("commonmark").render(markdown)
    assert "<ol" not in rendered and '<a href="#9-methods">9. Methods</a>' in rendered
    with pytest.raises(ValueError, match="numbered 2 after section 9"):
        render_page("s", [], [*sections, Section("Late", [Note("x")], number=2)], tmp_path)


def test_a_training_report_numbers_its_sections_the_same_with_or_without_the_optional_ones(
    tmp_path: Path,
) -> None:
    runs, metrics = _train_frames()
    full = training_sections(runs, metrics, "bop", tmp_path)  # a failed run: section 8
    clean = training_sections(runs[runs["status"] != "failed"], metrics, "bop", tmp_path)
    numbers = {s.title: s.number for s in full}
    assert [s.number for s in full] == [1, 2, 3, 4, 5, 6, 8, 9, 10]  # no Tuning here
    assert "Diverged and failed runs" not in {s.title for s in clean}
    assert all(s.number == numbers[s.title] for s in clean)  # Methods stays 9
    assert numbers == {t: n for t, n in SECTION_NUMBERS.items() if t != "Tuning"}


def test_one_cell_draws_no_performance_profile(tmp_path: Path) -> None:
    """A profile over one cell is two steps repeating the matrix: a note instead."""
    runs, metrics = _train_frames()
    across = training_sections(runs, metrics, "bop", tmp_path)[4]
    assert across.title == "Across cells" and across.figures == []
    assert Note("No performance profiles: they compare optimizers across cells, and this "
                "suite has 1 cell (the matrix above says the same).") in across.blocks  # fmt: skip
    assert not list((tmp_path / "figures").glob("profile_*.png"))


def test_a_section_holds_blocks_only() -> None:
    with pytest.raises(TypeError, match="not str"):
        Section("Raw", ["<p>hand-written</p>"])  # type: ignore[list-item]
    figure = Figure(Path("a.png"), "a")
    assert Section("F", [Paragraph("x"), figure]).figures == [Path("a.png")]


# ----------------------------------------------------------------------------- escaping
def test_every_text_is_escaped_in_html_and_in_markdown(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (2, 2)).save(tmp_path / "f.png")
    table = pd.DataFrame({EVIL: [EVIL, 1.5]})
    section = Section(
        EVIL, [Paragraph(EVIL), Note(EVIL), Table(table), Figure(tmp_path / "f.png", EVIL)]
    )
    files = write_report(EVIL, [EVIL], [section], tmp_path)
    md, html = files.markdown.read_text(), files.html.read_text()
    assert 'src="data:image/png;base64,' in html and "](f.png)" in md  # embedded / linked
    assert "<script>" not in html and "&amp;&#34;" in html
    # page title (HTML: twice), contents, header line, section title, paragraph, note, column,
    # cell, alt
    assert html.count(EVIL_HTML) == 10
    # Markdown: every text backslash-escaped (rendered back in tests/test_markdown_escape.py)
    assert md.count(md_text(EVIL)) == 9 and EVIL not in md


def test_markdown_characters_are_not_interpreted_in_either_format() -> None:
    assert render_block(Paragraph("_a_ *b* `c`")) == (
        r"\_a\_ \*b\* \`c\`",
        "<p>_a_ *b* `c`</p>",
    )


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (math.nan, "n/a"),
        (np.float64("nan"), "n/a"),
        (None, "n/a"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (3, "3"),
        (np.int64(12345678), "12345678"),
        (True, "True"),
        (2.0, "2"),
        (0.123456, "0.1235"),
        (1234.5678, "1235"),
        (1234567.0, "1.235e+06"),
        (0.00012345, "0.0001234"),
        (np.float32(0.5), "0.5"),
        ("2/3", "2/3"),
    ],
)
def test_number(value: object, text: str) -> None:
    assert number(value) == text


def test_number_fixed_and_digits() -> None:
    assert number(0.5, 3, fixed=True) == "0.500"
    assert number(-1.0, 3, fixed=True) == "-1.000"
    assert number(0.0, 3, fixed=True) == "0.000"
    assert number(0.000123456, 3, fixed=True) == "0.000123"  # small: significant digits
    assert number(math.nan, 3, fixed=True) == "n/a"
    assert number(math.inf, 3, fixed=True) == "inf"
    assert number(0.1 + 0.2, 6) == "0.3"


def test_tables_and_text_share_the_formatter() -> None:
    assert (
        assignments({"lr": 0.123456, "steps": 3, "beta2": 0.1}) == "lr=0.1235, steps=3, beta2=0.1"
    )
    cell = pd.DataFrame({"lr": [0.123456]})
    markdown, html = render_block(Table(cell))
    assert "| 0.1235 |" in markdown and "<td>0.1235</td>" in html


# ----------------------------------------------------------------------------- sections
def _train_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        ("b0", "bop", "completed", 0.8, ""),
        ("a0", "adam", "completed", 0.9, ""),
        ("a1", "adam", "failed", math.nan, "RuntimeError: <boom>"),
    ]
    runs = pd.DataFrame(
        [
            {
                "run_id": r,
                "task": "train",
                "split": "test",
                "model": "mlp",
                "dataset": "digits",
                "optimizer": o,
                "seed": i,
                "status": s,
                "summary.final_test_accuracy": a,
                "train_seconds": 1.0,
                "eval_seconds": 0.5,
                "message": m,
            }
            for i, (r, o, s, a, m) in enumerate(rows)
        ]  # fmt: skip
    )
    metrics = pd.DataFrame(
        [
            {
                "run_id": r,
                "step": step,
                "epoch": step / 10,
                "split": "test",
                "name": "accuracy",
                "value": v,
            }
            for r, values in (("b0", [0.5, 0.8]), ("a0", [0.85, 0.9]))
            for step, v in zip((10, 20), values, strict=True)
        ]
    )
    return runs, metrics


def _tuning_trials() -> pd.DataFrame:
    """The trials frame's shape (benchmark.results.trials_frame): one row per trial."""
    return pd.DataFrame(
        [
            {
                "model": "mlp",
                "dataset": "digits",
                "optimizer": o,
                "trial": t,
                "param.lr": lr,
                "status": s,
                "score": score,
                "score_sd": math.nan,
                "seeds": 1,
                "rung": 1,
                "epochs": 2,
                "stopped": False,
                "epochs_spent": 2,
                "seconds": 3.0,
                "run_id": f"{o}{t}",
                "best": best,
            }
            for o, t, lr, s, score, best in (
                ("adam", 0, 0.00123456, "completed", 0.9, True),
                ("adam", 1, 0.1, "diverged", 0.0, False),
                ("bop", 0, 0.001, "completed", 0.8, True),
            )
        ]
    )


def _tuning_suite(trials: int = 2) -> SimpleNamespace:
    tuning = SimpleNamespace(sampler="qmc", batch=None, seeds_per_trial=1, halving=None,
                             trials=trials, seed=0)  # fmt: skip
    return SimpleNamespace(tuning=tuning, tuning_epochs=2)


def test_every_section_of_a_small_report_is_built_from_blocks(tmp_path: Path) -> None:
    runs, metrics = _train_frames()
    sections = training_sections(runs, metrics, "bop", tmp_path)
    assert [s.title for s in sections] == [
        "The answer",
        "The paper's claims",
        "Final test accuracy",
        "Speed of convergence",
        "Across cells",
        "Inside the binary network",
        "Diverged and failed runs",
        "Methods",
        "Environment",
    ]
    result = TuningResult({"mlp/digits/adam": {"lr": 0.00123456}}, {"mlp/digits/adam": 0.9})
    sections.append(tuning_section(_tuning_suite(), _tuning_trials(), result))
    sections.append(tuning_section(_tuning_suite(), pd.DataFrame(), TuningResult()))
    sections.append(convex_section(pd.DataFrame(), pd.DataFrame(), tmp_path))
    for section in sections:
        assert isinstance(section, Section) and section.blocks
        assert all(isinstance(b, Paragraph | Note | Table | Figure) for b in section.blocks)
    header = report_header("tiny", runs, "tuning: none", "A <tiny> suite.")
    files = write_report("tiny", header, sections, tmp_path)
    md, html = files.markdown.read_text(), files.html.read_text()
    assert r"| mlp | digits | adam | 2 | failed | RuntimeError: \<boom\> |" in md
    assert "<td>RuntimeError: &lt;boom&gt;</td>" in html
    assert "lr=0.001235" in md and "<td>lr=0.001235</td>" in html
    assert "_No convex runs in the store._" in md and "A &lt;tiny&gt; suite." in html


def test_no_markup_outside_the_renderer() -> None:
    """Only report/markup.py writes HTML tags or Markdown emphasis; sections build blocks."""
    tag = re.compile(r"</?(p|em|table|thead|tbody|tr|td|th|img|h\d|a|br|div|span|html)[\s>/]")
    offenders = []
    for path in sorted(Path(report.__file__).parent.glob("*.py")):
        if path.name == "markup.py":
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {m.group(0)}" for m in tag.finditer(text)]
        offenders += [f"{path.name}: {m.group(0)}" for m in re.finditer(r'f?"_\{?[^"]*_"', text)]
    assert offenders == []


def test_the_entry_points_keep_their_import_paths() -> None:
    import report.training
    from report import render

    assert render.training_sections is report.training.training_sections
