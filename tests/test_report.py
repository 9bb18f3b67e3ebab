"""The report folder of a real (small) suite: every file and section, summary.json against its
schema, the page's numbers against summary.json, and index.html in a real headless browser
(Debian's chromium driven by playwright; no browser download)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from benchmark import run_suite
from report import inference_words as words
from report.markup import md_text, number
from report.summary_json import schema
from tests.conftest import write_suite

DESCRIPTION = "<script>alert(1)</script> & a BAMSProd test"
SECTIONS = (
    "The answer",
    "The paper's claims",
    "Final test accuracy",
    "Speed of convergence",
    "Across cells",
    "Inside the binary network",
    "Tuning",
    "Methods",
    "Environment",
)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tuned two-cell suite with BAMSProd, Bop and Adam (3 seeds), run once."""
    tmp = tmp_path_factory.mktemp("report")
    suite = write_suite(
        tmp / "rep.yaml",
        description=DESCRIPTION,
        models=[{"name": "mlp", "options": {"hidden": [32, 32]}}],
        datasets=[
            {"name": "synthetic", "options": {"n_samples": 400, "n_features": 16, "n_classes": 4}},
            {"name": "digits", "subset": 400},
        ],
        optimizers=["bamsprod", "bop", "adam"],
        seeds=[0, 1, 2],
        epochs=3,
        evals_per_epoch=2,
        tuning={"trials": 2, "epochs": 1},
    )
    result = run_suite(suite, results_dir=tmp, workers=1, progress=False, on_event=lambda e: None)
    assert result.exit_code == 0 and result.report is not None
    return result.report.folder


def test_the_folder_holds_every_file(report_dir: Path) -> None:
    names = {p.name for p in report_dir.iterdir()}
    assert {
        "index.html",
        "REPORT.md",
        "summary.json",
        "runs.csv",
        "metrics.csv",
        "figures",
    } <= names
    pngs = list((report_dir / "figures").glob("*.png"))
    assert len(pngs) >= 6
    markdown = (report_dir / "REPORT.md").read_text()
    assert len(markdown.encode()) + sum(p.stat().st_size for p in pngs) < 1024 * 1024
    for png in pngs:  # every figure REPORT.md needs is in the folder, linked relatively
        assert f"](figures/{png.name})" in markdown


def test_every_section_is_there(report_dir: Path) -> None:
    markdown = (report_dir / "REPORT.md").read_text()
    html = (report_dir / "index.html").read_text()
    for title in SECTIONS:  # numbered: "## 3. Final test accuracy"
        assert re.search(rf"^## \d+\. {re.escape(title)}$", markdown, re.M), title
        assert re.search(rf"<h2>\d+\. {re.escape(title.replace(chr(39), '&#39;'))}</h2>", html)
    assert "reconstruction" in markdown


def test_summary_json_validates_against_the_documented_schema(report_dir: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    summary = json.loads((report_dir / "summary.json").read_text())
    jsonschema.validate(summary, schema(), format_checker=jsonschema.FormatChecker())
    assert summary["schema_version"] == 1 and summary["suite"]["description"] == DESCRIPTION
    task = summary["task"]
    # secondary family: 2 cells x 2 baselines x 2 metrics; primary: 2 baselines x 2 metrics
    assert len(task["cells"]) == 2 and len(task["comparisons"]) == 8
    assert len(task["primary"]) == 4 and {c["family"] for c in task["primary"]} == {"primary"}
    assert {c["claim"] for c in task["claims"]} == {"speed", "accuracy"}
    assert len(task["claims"]) == 6  # 2 cells x 2 claims + pooled
    methods = task["methods"]
    assert methods["families"]["primary"]["size"] == 4
    assert methods["families"]["secondary"]["size"] == 8
    assert methods["interval"]["method"] == "Student-t" and methods["alpha"] == 0.05
    assert methods["margins"] == {"accuracy": 0.01, "speed": 0.1}
    assert methods["target"]["kind"] == "best_fraction"  # the default rule
    # 3 seeds: at best 2/2^3 per cell, 2/2^6 pooled, times the family sizes (Holm)
    assert methods["min_signflip_holm_p"] == {"primary": 4 * 2 / 64, "secondary": 1.0}
    tuning = methods["protocol"]["tuning"]
    assert tuning["trials"] == 2 and tuning["epochs"] == 1 and methods["protocol"]["epochs"] == 3
    assert set(task["tuning"]["seconds_per_optimizer"]) == {"adam", "bamsprod", "bop"}
    # 2 trials x 1 seed x 1 epoch per cell and optimizer, no halving
    assert task["tuning"]["epochs_per_optimizer"] == {"adam": 4, "bamsprod": 4, "bop": 4}
    for cell in task["tuning"]["cells"].values():
        assert cell["best_seeds"] == 1 and cell["best_score_sd"] is None
        assert cell["stopped"] == 0 and cell["epochs_spent"] == 2 and cell["seconds"] > 0
        assert cell["best_trial"] in (0, 1)


def test_the_tuning_section_says_what_was_done(report_dir: Path) -> None:
    markdown = (report_dir / "REPORT.md").read_text()
    tuning = re.split(r"^## \d+\. Tuning\n", markdown, flags=re.M)[1].split("\n## ", 1)[0]
    said = md_text("seeded Sobol points of its search space (seed 0), drawn up front")
    assert said in tuning and md_text("A trial is one run (seed 1000000)") in tuning
    assert "Every trial runs 1 epoch." in tuning
    headers = [line for line in tuning.splitlines() if line.startswith("| model | dataset |")]
    columns = [c.strip() for line in headers for c in line.strip("|").split(" | ")]
    for name in ("trials", "diverged", "failed", "best val acc", "best point", "tuning epochs"):
        assert name in columns, name
    assert "](figures/tuning_sensitivity.png)" in tuning
    assert "](figures/tuning_expected_max.png)" in tuning


def test_the_pages_numbers_agree_with_summary_json(report_dir: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    markdown = (report_dir / "REPORT.md").read_text()
    html = (report_dir / "index.html").read_text()
    for cell in summary["task"]["cells"]:
        for name, opt in cell["optimizers"].items():
            mean = number(opt["accuracy"]["mean"])
            row = f"| {cell['model']} | {cell['dataset']} | {name} | 3 | "
            assert any(line.startswith(row) and f" {mean} |" in line
                       for line in markdown.splitlines()), (row, mean)  # fmt: skip
            assert f"<td>{mean}</td>" in html
    for c in summary["task"]["comparisons"]:
        metric = c["metric"]
        row = [c["model"], c["dataset"], c["vs"], str(c["n"]),
               words.verdict(c["verdict"], metric, c["margin"], c["mde"]),
               words.effect(c["estimate"], metric),
               words.interval(c["ci_low"], c["ci_high"], metric)]  # fmt: skip
        # a wide table is split into parts that repeat the model, dataset and name columns:
        # the row's other cells follow each other across its parts, each escaped as text
        prefix = "| " + " | ".join(md_text(v) for v in row[:3]) + " |"
        parts = [line[len(prefix) :].strip(" |") for line in markdown.splitlines()
                 if line.startswith(prefix)]  # fmt: skip
        assert " | ".join(md_text(v) for v in row[3:]) in " | ".join(parts), row
        assert f"<td>{words.p_value(c['p_holm'])}</td>" in html
    for claim in summary["task"]["claims"]:
        assert f" {words.effect(claim['value'], claim['claim'])} |" in markdown
        assert claim["verdict"] in html
    assert "indistinguishable" not in markdown and "inconclusive" not in markdown


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_index_html_in_a_real_browser(report_dir: Path) -> None:
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    page_url = (report_dir / "index.html").resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_url, wait_until="load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            headings = page.eval_on_selector_all(
                "h2", "hs => hs.map(h => h.textContent.replace(/^\\d+\\. /, ''))"
            )
            text = page.inner_text("body")
        finally:
            browser.close()
    assert errors == [] and dialogs == []
    assert [u for u in requests if u != page_url and not u.startswith("data:")] == []
    assert widths and all(w > 0 for w in widths)
    assert list(SECTIONS) == [h for h in headings if h in SECTIONS]
    assert DESCRIPTION in text  # shown as text, never run


def test_a_convex_report_embeds_its_figures(tmp_path: Path) -> None:
    suite = tmp_path / "cvx.yaml"
    suite.write_text(
        "name: cvx\ntask: convex\nconvex:\n  steps: 300\n  seeds: 2\n  checkpoints: 20\n"
        "  optimizers: [adam, amsgrad, sgd]\n"
    )
    result = run_suite(suite, results_dir=tmp_path, workers=1, progress=False,
                       on_event=lambda e: None)  # fmt: skip
    folder = result.report.folder
    html = (folder / "index.html").read_text()
    assert html.count('src="data:image/png;base64,') == 2
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["suite"]["task"] == "convex" and len(summary["task"]["convex"]) >= 3
    pytest.importorskip("jsonschema").validate(summary, schema())


def test_report_md_renders_with_every_text_kept_and_every_image_found(report_dir: Path) -> None:
    """REPORT.md through a CommonMark renderer: the hostile description is visible text, no
    tag but our figures' images, every image a file of the folder, every link a section."""
    markdown_it = pytest.importorskip("markdown_it")
    html = (
        markdown_it.MarkdownIt("commonmark")
        .enable("table")
        .render((report_dir / "REPORT.md").read_text())
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; a BAMSProd test" in html
    assert not re.search(r"<(script|iframe)\b", html) and "javascript:" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 6 and all((report_dir / src).is_file() for src in images)
    anchors = re.findall(r'<a href="([^"]+)"', html)
    assert anchors and all(a.startswith("#") for a in anchors)
    assert "Speed of convergence" in html
