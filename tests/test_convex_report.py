"""The convex report section (report.convex), rendered from frames of real convex runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.frames import records_to_frames
from benchmark.records import RunRecord
from benchmark.tasks.convex import ConvexSection, convex_batches, expand_convex, run_convex_batch
from report.blocks import Figure, Note, Paragraph, Section, Table
from report.convex import (
    CONVERGES,
    DOES_NOT,
    convex_section,
    convex_table,
    verdict_text,
)
from report.markup import render_section

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def records() -> list[RunRecord]:
    sec = ConvexSection.model_validate(
        {
            "steps": 3000,
            "seeds": 2,
            "checkpoints": 60,
            "optimizers": [
                {"name": "adam", "hparams": {"lr": 0.5, "beta1": 0.0, "beta2": "reddi"}},
                {"name": "sgd", "hparams": {"lr": 0.5, "momentum": 0.0}},
                "bop",
            ],
        }
    )
    return [r for b in convex_batches(expand_convex(sec)) for r in run_convex_batch(b)]


@pytest.fixture(scope="module")
def frames(records: list[RunRecord]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return records_to_frames(records)


def test_verdict_text() -> None:
    assert verdict_text(1, 1) == CONVERGES
    assert verdict_text(0, 1) == DOES_NOT
    assert verdict_text(3, 3) == f"{CONVERGES} (3/3 seeds)"
    assert verdict_text(2, 3) == f"{DOES_NOT} (2/3 seeds)"


def test_table_has_one_row_per_optimizer_and_form(frames: tuple) -> None:
    runs, _ = frames
    table = convex_table(runs)
    assert list(zip(table["optimizer"], table["form"], strict=True)) == [
        ("adam", "real"),
        ("adam", "binary"),
        ("adam", "stochastic"),
        ("sgd", "real"),
        ("sgd", "binary"),
        ("sgd", "stochastic"),
        ("bop", "binary"),
    ]
    for row in table.itertuples(index=False):
        group = runs[(runs["optimizer_label"] == row.optimizer) & (runs["form"] == row.form)]
        k, n = int(group["summary.converged"].sum()), len(group)
        assert row.runs == n and row.converged == f"{k}/{n}"
        assert row.verdict == verdict_text(k, n)
    verdicts = dict(
        zip(zip(table["optimizer"], table["form"], strict=True), table["verdict"], strict=True)
    )
    # Adam plays +1 on the deterministic forms (R_T/T >= 2/3); Bop's R_T/T is 6/T = 0.002
    assert verdicts[("adam", "real")] == DOES_NOT and verdicts[("adam", "binary")] == DOES_NOT
    assert verdicts[("bop", "binary")] == CONVERGES
    assert verdicts[("adam", "stochastic")].endswith("seeds)")
    bop = table[table["optimizer"] == "bop"].iloc[0]
    assert bop["R_T/T"] == "0.0020" and bop["final played"] == "-1.000"
    assert table.iloc[0]["hyper-parameters"] == "lr=0.5, beta1=0, beta2=0.1"


def test_section_writes_figures_and_references_them_relatively(
    frames: tuple, tmp_path: Path
) -> None:
    runs, metrics = frames
    out = tmp_path / "report"
    section = convex_section(runs, metrics, out)
    assert isinstance(section, Section) and section.title == "Convex counterexample"
    assert [type(b) for b in section.blocks] == [Paragraph] * 3 + [Table] + [Figure] * 2
    table = section.blocks[3]  # the verdict first (a phone shows the first columns), a caption
    assert table.frame.columns[0] == "verdict" and "converged" in table.caption
    assert set(table.frame.columns) == set(convex_table(runs).columns)  # summary.json's keys
    markdown, html = render_section(section, out)
    names = sorted(p.name for p in section.figures)
    assert names == ["convex_avg_regret.png", "convex_trajectories.png"]
    for path in section.figures:
        assert path.parent == out and path.read_bytes()[:8] == PNG_MAGIC
        assert f"]({path.name})" in markdown
        assert f'<img src="{path.name}"' in html
    for text in (markdown, html):
        # HTML escaped; Markdown backslash-escaped (report.markup.md_text)
        assert any(f in text for f in ("R_T/T &lt;= 0.05", r"R\_T/T \<= 0.05"))
        assert any(f in text for f in (r"\<= \-1 + 0.5", r"\<= -1 + 0.5", "&lt;= -1 + 0.5"))
        assert CONVERGES in text and DOES_NOT in text
    assert "| adam | real |" in markdown
    assert "<table" in html and "<td>bop</td>" in html
    assert "T = 3000 steps" in markdown and "2 seeds" in markdown


def test_failed_runs_are_listed_apart(records: list[RunRecord], tmp_path: Path) -> None:
    spec = dict(records[0].spec)
    failed = RunRecord("f" * 16, "convex", {**spec, "seed": 7}, "failed", message="boom")
    runs, metrics = records_to_frames([*records, failed])
    text = render_section(convex_section(runs, metrics, tmp_path), tmp_path).markdown
    assert "Failed runs" in text and "boom" in text
    table = convex_table(runs)
    first = table.iloc[0]
    assert first["runs"] == 1  # the failed run is not counted


def test_no_runs_gives_a_short_note(tmp_path: Path) -> None:
    runs, metrics = records_to_frames([])
    section = convex_section(runs, metrics, tmp_path)
    assert section.figures == [] and section.blocks == [Note("No convex runs in the store.")]
    assert not list(tmp_path.iterdir())
