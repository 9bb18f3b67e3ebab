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
from report.markup import md_text
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
    # the test sets' sizes as the runs stored them (digits' fixed test set: 359 images)
    assert "Test sets, examples per cell: mlp/digits 359 (one = 0.28 points)" in markdown
    assert "granularity" not in markdown.split("## 2.")[0]  # stored, not inferred
    # the Methods say where the per-seed values are, and those files are there
    methods = re.split(r"^## 9\. Methods\n", markdown, flags=re.M)[1].split("\n## ", 1)[0]
    for name in ("runs.csv", "metrics.csv", "summary.json", "trials.csv"):
        assert name in methods and (report_dir / name).is_file(), name


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
    headers = [line for line in tuning.splitlines() if line.startswith("| cell | optimizer |")]
    columns = [c.strip() for line in headers for c in line.strip("|").split(" | ")]
    for name in ("trials", "diverged", "failed", "best val accuracy (points)", "best point",
                 "tuning (epochs)", "tuning (s)"):  # fmt: skip
        assert name in columns, name
    assert "](figures/tuning_sensitivity.png)" in tuning
    assert "](figures/tuning_expected_max.png)" in tuning


def test_the_pages_numbers_agree_with_summary_json(report_dir: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    markdown = (report_dir / "REPORT.md").read_text()
    html = (report_dir / "index.html").read_text()
    for cell in summary["task"]["cells"]:
        for name, opt in cell["optimizers"].items():
            acc = opt["accuracy"]  # in points, one decimal (summary.json: fractions)
            mean, sd = words.points(acc["mean"]), words.points(acc["std"])
            row = f"| {cell['model']}/{cell['dataset']} | {name} | 3 | "
            assert any(line.startswith(row) and f" | 0 | 0 | {mean} |" in line
                       for line in markdown.splitlines()), (row, mean)  # fmt: skip
            assert f"<td>{mean}</td>\n      <td>{sd}</td>" in html
    for c in summary["task"]["comparisons"]:
        metric = c["metric"]
        verdict = "undetermined" if c["verdict"] == "undetermined" else (
            words.verdict(c["verdict"], metric, c["margin"], c["mde"]))  # fmt: skip
        row = [verdict, f"{c['model']}/{c['dataset']}", c["vs"],
               words.effect(c["estimate"], metric, unit=False),
               words.interval(c["ci_low"], c["ci_high"], metric, unit=False),
               words.p_value(c["p_value"]), words.p_value(c["p_holm"]),
               words.mde(c["mde"], metric), str(c["n"])]  # fmt: skip
        # the verdict first; HTML has the whole row, in order
        assert "\n".join(f"      <td>{v}</td>" for v in row) in html, row
        # a wide Markdown table is split into parts that repeat the cell and vs columns: the
        # first part starts with the verdict, the row's other cells follow across the parts
        estimate = "difference (points)" if metric == "accuracy" else "speed-up (x)"
        parts = _split_table(markdown, f"| verdict | cell | vs | {estimate} |")
        keys = "| " + " | ".join(md_text(v) for v in row[1:3]) + " |"
        lines = [line for part in parts for line in part if keys in line]
        assert len(lines) == len(parts) >= 2, lines
        assert lines[0].startswith(f"| {md_text(verdict)} {keys}")
        assert all(line.startswith(keys) for line in lines[1:])
        cells = " | ".join(line.split(keys, 1)[1].strip(" |") for line in lines)
        wtl = f"{c['wins']}/{c['ties']}/{c['losses']}"
        assert cells == " | ".join(md_text(v) for v in [*row[3:], wtl]), (cells, row)
    for claim in summary["task"]["claims"]:
        measured = words.with_unit(words.effect(claim["value"], claim["claim"]), claim["claim"])
        assert f" {measured} |" in markdown  # a column of mixed units: each cell has its unit
        assert claim["verdict"] in html
    assert "indistinguishable" not in markdown and "inconclusive" not in markdown


#: headers of columns without a unit: names, counts, p-values, probabilities, and the two
#: columns of the claims table that mix a speed-up and a difference (each cell has its unit)
UNITLESS = {
    "verdict", "cell", "optimizer", "model", "dataset", "vs", "seeds", "diverged", "failed",
    "cells", "trials", "runs", "p", "p (Holm)", "claim vs Bop", "claim in CI", "measured",
    "95% CI", "best point", "P(BAMSProd > it)", "95% CI of P", "host", "cpu", "cores", "gpu",
    "torch", "python", "git commit",
}  # fmt: skip
UNIT = re.compile(r"\((points|x|s|steps|epochs|seeds|runs|pairs|per cell|80% power)\)$")
POINTS = re.compile(  # one decimal: 93.1, +0.8, 91.7 ± 0.4 (tie), [-0.1, +1.6]
    r"^(n/a|n too small for an interval|[-+]?\d+\.\d( ± \d+\.\d)?( \((lead|tie)\))?"
    r"|\[[-+]?\d+\.\d, [-+]?\d+\.\d\])$"
)


def _tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table (each part of a split one) as its header and rows, unescaped."""
    out = []
    for block in markdown.split("\n\n"):
        lines = block.splitlines()
        if len(lines) < 2 or not lines[0].startswith("| ") or lines[1][:4] != "|---":
            continue
        cells = [[c.replace("\\", "") for c in line[2:-2].split(" | ")] for line in lines]
        out.append((cells[0], [row for row in cells[2:]]))
    return out


def test_every_table_header_carries_its_unit_and_points_have_one_decimal(
    report_dir: Path,
) -> None:
    """One formatter, units in the headers: a header is a name or count (UNITLESS) or ends
    with its unit; every cell under a "(points)" header is an accuracy in points with one
    decimal (never a fraction such as 0.9497); p-values have two significant digits."""
    tables = _tables((report_dir / "REPORT.md").read_text())
    assert len(tables) >= 10
    for header, rows in tables:
        for i, name in enumerate(header):
            assert name in UNITLESS or UNIT.search(name), (name, header)
            if name.endswith("(points)"):
                assert all(POINTS.match(row[i]) for row in rows), (name, [r[i] for r in rows])
            if name in ("p", "p (Holm)"):
                for row in rows:
                    assert re.fullmatch(r"< 0\.001|n/a|1\.0|0\.0*[1-9]\d{1,2}", row[i]), row[i]


def _split_table(markdown: str, header: str) -> list[list[str]]:
    """The parts of the Markdown table whose first part's header starts with ``header``: that
    table and the tables right after it that repeat its key columns, each as its lines."""
    blocks = [b.splitlines() for b in markdown.split("\n\n")]
    start = next(i for i, b in enumerate(blocks) if b and b[0].startswith(header))
    keys = blocks[start][0].split(" | ")[1:3]  # the key columns after the verdict
    parts = [blocks[start]]
    for block in blocks[start + 1 :]:
        if not block or block[0].split(" | ")[:2] != ["| " + keys[0], keys[1]]:
            break
        parts.append(block)
    return parts


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
