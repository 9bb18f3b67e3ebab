"""The command line: exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from tests.conftest import REPO, write_suite

MALFORMED = {
    "unknown optimizer": ({"optimizers": ["adam", "adamm"]}, "adamm"),
    "wrong type": ({"epochs": "ten"}, "epochs"),
    "negative epochs": ({"epochs": -1}, "epochs"),
    "typo'd key": ({"seedz": [0]}, "seeds"),
    "empty grid": ({"optimizers": []}, "optimizers"),
    "unknown dataset": ({"datasets": ["digitz"]}, "digits"),
    "bad search space": (
        {
            "optimizers": [
                {"name": "adam", "search_space": {"lr": {"low": 1.0, "high": 0.1, "log": True}}}
            ]
        },
        "lr",
    ),
    "unknown model": ({"models": ["resnet"]}, "mlp"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_suite_exits_2_with_one_line_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides, expected = MALFORMED[case]
    path = write_suite(tmp_path / "bad.yaml", **overrides)
    results = tmp_path / "results"
    code = main(["run", str(path), "--results-dir", str(results), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnnbench: error: ")
    assert str(path) in lines[0] and expected in lines[0]
    assert not results.exists()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "suite file not found" in capsys.readouterr().err


def test_missing_data_root_names_root_files_and_download(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_suite(tmp_path / "m.yaml", datasets=["mnist"])
    root = tmp_path / "empty_root"
    root.mkdir()
    results = tmp_path / "results"
    code = main(["run", str(path), "--data-root", str(root), "--results-dir", str(results)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(root) in err and "--download" in err
    assert not results.exists()


def test_unreachable_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_suite(tmp_path / "s.yaml", seeds=[0], optimizers=["adam"], reference="adam")
    code = main(["run", str(path), "--store", "postgresql+psycopg://u:p@127.0.0.1:9/x"])
    assert code == 2
    assert "cannot open results store" in capsys.readouterr().err


def test_run_then_show_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_suite(tmp_path / "tiny.yaml", seeds=[0, 1], optimizers=["adam", "bop"])
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "4 completed" in out and "report:" in out
    md = (results / "tiny" / "report" / "REPORT.md").read_text()
    assert "Final test accuracy" in md and "reconstruction" in md
    assert "| mlp/synthetic | adam | 2 |" in md  # the accuracy table: cell, optimizer, seeds
    assert (results / "tiny" / "report" / "index.html").read_text().startswith("<!doctype html>")
    assert main(["show", str(path), "--results-dir", str(results)]) == 0
    assert "4 final runs stored" in capsys.readouterr().out
    assert main(["run", str(path), "--results-dir", str(results), "--quiet"]) == 0
    assert "4 already stored" in capsys.readouterr().out


def test_console_script_help_and_list() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    ).stdout
    for name in (
        "bamsprod",
        "bop2nd",
        "amsbound",
        "binarynet",
        "bireal_resnet18",
        "mnist1d",
        "cifar100",
        "quick",
        "smoke",
    ):
        assert name in out


def test_peek_task_reads_the_raw_yaml_and_falls_back_to_train(tmp_path: Path) -> None:
    from benchmark.cli import peek_task

    (tmp_path / "c.yaml").write_text("name: c\ntask: convex\n")
    (tmp_path / "t.yaml").write_text("name: t\nmodels: [mlp]\n")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    assert peek_task(tmp_path / "c.yaml") == "convex"
    assert peek_task(tmp_path / "t.yaml") == "train"
    assert peek_task(tmp_path / "bad.yaml") == "train"
    assert peek_task(tmp_path / "missing.yaml") == "train"


def test_reports_leave_out_runs_an_earlier_version_of_the_suite_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_suite(tmp_path / "v.yaml", seeds=[0], epochs=1)
    args = ["run", str(path), "--results-dir", str(tmp_path / "r"), "--quiet"]
    assert main(args) == 0
    write_suite(tmp_path / "v.yaml", seeds=[0], epochs=2)  # the file changes: new runs
    assert main(args) == 0
    capsys.readouterr()
    report = (tmp_path / "r" / "v" / "report" / "REPORT.md").read_text()
    assert "Not reported: 2 stored runs that an earlier version of this suite file" in report
    assert "2 runs (completed: 2)" in report  # only the two runs at 2 epochs
    assert main(["show", str(path), "--results-dir", str(tmp_path / "r")]) == 0
    assert "2 final runs stored" in capsys.readouterr().out
