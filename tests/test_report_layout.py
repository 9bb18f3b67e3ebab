"""The report page in a real browser (Debian's chromium driven by playwright; no browser
download): at a phone's 390 px nothing but a table's scrolling wrapper is wider than the
viewport and every figure spans at least 90% of the content; the contents link to every
section, and every table and figure has its caption under it; at 1400x900 the first section
(the answer: section.answer) starts in the first screen with its first paragraph and its
first table. Two pages, neither needing a suite run: a synthetic one with hostile texts, a
wide table and wide figures, and a training report of the quick suite's size (12 rows, 2
cells, 10 seeds) built by report.training from synthetic run frames."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from report.blocks import Figure, Note, Paragraph, Section, Table
from report.plotting import legend_below, new_grid, save_figure
from report.render import write_report

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def _browser_or_skip() -> str:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    return executable


def _figure(folder: Path, name: str, panels: int) -> Path:
    fig, axes = new_grid(panels)
    for ax in axes:
        for i in range(6):
            ax.plot(np.arange(40), np.sqrt(np.arange(40)) * (1 + i / 10), label=f"optimizer {i}")
        ax.set(title="mlp / digits", xlabel="optimizer steps", ylabel="test accuracy")
    handles, labels = axes[0].get_legend_handles_labels()
    legend_below(fig, handles, labels)
    return save_figure(fig, folder / "figures" / f"{name}.png", compact=True)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("layout")
    wide = pd.DataFrame(
        {"model": ["mlp"] * 3, "dataset": ["digits"] * 3, "optimizer": ["bamsprod", "bop", "adam"]}
        | {f"a long column header {i} (units)": [0.123456, 1.5, 2e-5] for i in range(10)}
    )
    matrix = pd.DataFrame({"cell": ["mlp/digits"], "bamsprod": ["94.1 ± 0.3"], "bop": ["93.0"]})
    sections = [
        Section(
            "Answer",
            [
                Paragraph("BAMSProd leads on mlp/digits by 1.1 points [0.2, 2.0]."),
                Table(matrix, caption="Mean test accuracy (%), 95% CI."),
            ],
        ),  # fmt: skip
        Section("Accuracy", [Paragraph("x" * 400), Table(wide, caption="A wide table.")]),
        Section(
            "Curves",
            [
                Figure(_figure(folder, "one", 1), "one panel", caption="One."),
                Figure(_figure(folder, "four", 4), "four panels", caption="Four."),
            ],
        ),  # fmt: skip
        Section("Nothing", [Note("<optimizer> (defaults) <script>alert(1)</script>")]),
    ]
    header = ["A description with a_very_long_unbroken_token_" + "z" * 120, "Measured on ..."]
    return write_report("layout", header, sections, folder).html


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training report as the quick suite's: 2 cells, 6 optimizers tuned and at their
    defaults (12 rows), 10 seeds, every section built by report.training from synthetic run
    frames (tests/test_inference_verdicts.py's), so the opening has its real length."""
    from report.render import report_header, training_sections
    from tests.test_inference_verdicts import frames

    folder = tmp_path_factory.mktemp("real")
    effects = {"bamsprod": 0.01, "bop": 0.0, "adam": 0.005, "amsgrad": 0.0, "amsbound": -0.01,
               "sgd": -0.02}  # fmt: skip
    effects |= {f"{name} (defaults)": e - 0.01 for name, e in effects.items()}
    runs, values = frames(effects, 10, spread=0.01)
    sections = training_sections(runs, values, "bop", folder)
    header = report_header("quick", runs, "tuning: 8 trials per cell", "A quick-sized suite.")
    return write_report("quick", header, sections, folder).html


@pytest.fixture(params=["synthetic", "report"])
def any_page(request: pytest.FixtureRequest) -> Path:
    """Both pages: the synthetic one (hostile texts, wide table and figures) and the report."""
    return request.getfixturevalue("page_file" if request.param == "synthetic" else "report_page")


def _measure(page_file: Path, width: int, height: int) -> dict:
    executable = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            return page.evaluate(
                """() => {
                const vw = document.documentElement.clientWidth;
                const body = document.body, style = getComputedStyle(body);
                const content = body.clientWidth - parseFloat(style.paddingLeft)
                    - parseFloat(style.paddingRight);
                const overflowing = [];
                for (const e of document.querySelectorAll('body *')) {
                    const r = e.getBoundingClientRect();
                    const inWrap = e.closest('.table-wrap') && !e.classList.contains('table-wrap');
                    if (r.right > vw + 0.5 && !inWrap) overflowing.push(e.tagName);
                }
                const wraps = [...document.querySelectorAll('.table-wrap')].map(w => ({
                    scrolls: getComputedStyle(w).overflowX, width: w.getBoundingClientRect().width,
                    inner: w.scrollWidth}));
                const answer = document.querySelector('section.answer');
                const first = s => answer.querySelector(s).getBoundingClientRect().bottom;
                const captions = [...document.querySelectorAll('.table-wrap')].map(
                    w => !!(w.parentElement.matches('figure.table')
                            && w.nextElementSibling && w.nextElementSibling.tagName == 'FIGCAPTION'));
                return {
                    vw, content, overflowing, wraps,
                    pageWidth: document.documentElement.scrollWidth,
                    figures: [...document.querySelectorAll('figure img')].map(
                        i => i.getBoundingClientRect().width),
                    toc: [...document.querySelectorAll('nav#toc a')].map(a => a.getAttribute('href')),
                    sections: [...document.querySelectorAll('section[id]')].map(s => '#' + s.id),
                    answerFirst: document.querySelector('section').classList.contains('answer'),
                    answerTop: answer.getBoundingClientRect().top,
                    paragraphBottom: first('p'), tableBottom: first('table'),
                    matrixBottom: first('figure.table'), captions,
                    figureCaptions: [...document.querySelectorAll('figure img')].map(
                        i => !!i.parentElement.querySelector('figcaption')),
                    scripts: document.querySelectorAll('script').length,
                };
            }"""
            )
        finally:
            browser.close()


def test_a_phone_reads_the_page_without_sideways_scrolling(any_page: Path) -> None:
    m = _measure(any_page, 390, 844)
    assert m["pageWidth"] <= m["vw"] and m["overflowing"] == []
    # a wide table scrolls inside its own wrapper, which itself fits
    assert m["wraps"] and all(w["scrolls"] == "auto" and w["width"] <= m["vw"] for w in m["wraps"])
    assert any(w["inner"] > w["width"] for w in m["wraps"])
    assert len(m["figures"]) >= 2
    assert all(width >= 0.9 * m["content"] for width in m["figures"]), (m["figures"], m["content"])
    assert m["scripts"] == 0
    # every table and figure has its caption under it, outside the scrolling wrapper
    assert all(m["captions"]) and all(m["figureCaptions"])


def test_the_contents_link_to_every_section(any_page: Path) -> None:
    m = _measure(any_page, 1400, 900)
    assert m["toc"] == m["sections"] and len(m["sections"]) >= 5  # the last: "About this report"
    assert m["sections"][-1].endswith("-about-this-report")


def test_the_answer_is_in_the_first_screen(any_page: Path) -> None:
    """The first section (class "answer": the report's opening) starts within the first
    1400x900 screen, its first paragraph and its table (the matrix, with its caption)
    inside it."""
    m = _measure(any_page, 1400, 900)
    assert m["answerFirst"]
    assert m["answerTop"] >= 0 and m["paragraphBottom"] <= 900 and m["tableBottom"] <= 900
    assert m["matrixBottom"] <= 900, m["matrixBottom"]
