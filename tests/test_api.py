"""The Python API: run_suite / load_results / build_report do what the CLI does, and the CLI
is a thin layer over them (the same stored runs either way)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark import BnnBenchError, build_report, load_results, run_suite
from benchmark.pipeline import Event
from benchmark.store import Store
from tests.conftest import REPO, write_suite

TIMING = ("train_seconds", "eval_seconds")


def _tuned_suite(path: Path) -> Path:
    return write_suite(
        path,
        optimizers=["adam", "bop"],
        seeds=[0, 1],
        epochs=2,
        tuning={"trials": 2, "epochs": 1, "seed": 3},
    )


def _stored(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = Store(f"sqlite:///{db}", read_only=True)
    runs = store.runs_frame()[["run_id", "status", "task"]].sort_values("run_id")
    metrics = store.metrics_frame()
    metrics = metrics[~metrics["name"].isin(TIMING)]
    return runs.reset_index(drop=True), metrics.reset_index(drop=True)


def test_import_is_cheap_and_exposes_the_api() -> None:
    code = (
        "import sys, benchmark; assert 'torch' not in sys.modules; "
        "from benchmark import run_suite, load_results, build_report; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.fixture(scope="module")
def api_and_cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One tuned suite run through the API (serially) and through the CLI (a pool)."""
    tmp = tmp_path_factory.mktemp("api")
    suite = _tuned_suite(tmp / "api.yaml")
    events: list[Event] = []
    result = run_suite(
        suite, results_dir=tmp / "py", workers=1, progress=False, on_event=events.append
    )
    cli = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--quiet", "--workers", "2",
         "--results-dir", str(tmp / "cli")],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return {"tmp": tmp, "suite": suite, "result": result, "events": events, "cli": cli}


def test_the_api_and_the_cli_store_the_same_runs(api_and_cli: dict) -> None:
    cli, tmp = api_and_cli["cli"], api_and_cli["tmp"]
    assert cli.returncode == 0, cli.stderr
    py_runs, py_metrics = _stored(tmp / "py" / "api" / "bnnbench.db")
    cli_runs, cli_metrics = _stored(tmp / "cli" / "api" / "bnnbench.db")
    assert len(py_runs) == 2 * 2 + 2 * 2  # 2 cells x (2 seeds + 2 trials)
    pd.testing.assert_frame_equal(py_runs, cli_runs)
    pd.testing.assert_frame_equal(py_metrics, cli_metrics)


def test_run_suite_reports_what_it_did(api_and_cli: dict) -> None:
    result, events = api_and_cli["result"], api_and_cli["events"]
    assert result.exit_code == 0 and not result.interrupted and result.failed == 0
    assert set(result.phases) == {"tuning", "final"}
    assert result.phases["tuning"].completed == 4 and result.phases["final"].completed == 4
    assert set(result.tuning.best_params) == {"mlp/synthetic/adam", "mlp/synthetic/bop"}
    assert result.report is not None and result.report.markdown.is_file()
    kinds = [e.kind for e in events]
    assert kinds.count("run") == 8 and kinds.count("phase") == 2 and kinds.count("tuned") == 2
    assert all(e.record is not None for e in events if e.kind == "run")
    assert all("\n" not in e.message for e in events if e.kind != "report")
    # the CLI printed the same lines (its per-run lines are off with --quiet)
    cli_lines = api_and_cli["cli"].stdout.splitlines()
    for event in events:
        if event.kind in ("phase", "tuned"):
            prefix = event.message.split(" done in")[0].split(": ")[0]
            assert any(line.startswith(prefix) for line in cli_lines), event.message


def test_load_results_gives_tidy_frames(api_and_cli: dict) -> None:
    tmp, suite = api_and_cli["tmp"], api_and_cli["suite"]
    res = load_results(suite, results_dir=tmp / "py")
    assert len(res.runs) == 4 and set(res.runs["status"]) == {"completed"}
    assert set(res.runs["split"]) == {"test"}
    wide = res.metrics
    assert {"run_id", "step", "epoch", "test/accuracy", "val/loss", "lr"} <= set(wide.columns)
    assert not wide.duplicated(["run_id", "step"]).any()
    assert wide["run_id"].nunique() == 4
    # wide and long agree value for value
    row = res.values[(res.values["split"] == "test") & (res.values["name"] == "accuracy")].iloc[0]
    match = wide[(wide["run_id"] == row["run_id"]) & (wide["step"] == row["step"])]
    assert match["test/accuracy"].item() == row["value"]
    trials = res.trials
    assert len(trials) == 4 and set(trials["trial"]) == {0, 1}
    assert "param.lr" in trials and set(trials["status"]) == {"completed"}
    assert trials.groupby("optimizer")["best"].sum().tolist() == [1, 1]
    best = trials[trials["best"]].set_index("optimizer")
    assert (best["score"] == trials.groupby("optimizer")["score"].max()).all()


def test_load_results_of_a_whole_store(api_and_cli: dict) -> None:
    db = api_and_cli["tmp"] / "py" / "api" / "bnnbench.db"
    res = load_results(str(db))
    assert len(res.runs) == 8 and res.trials.empty


def test_build_report_rebuilds_from_the_store(api_and_cli: dict, tmp_path: Path) -> None:
    tmp, suite = api_and_cli["tmp"], api_and_cli["suite"]
    paths = build_report(suite, results_dir=tmp / "py", out_dir=tmp_path / "out")
    assert paths.markdown.parent == tmp_path / "out"
    first = api_and_cli["result"].report.markdown.read_text().splitlines()
    again = paths.markdown.read_text().splitlines()
    drop = [line for line in first if "rendered" not in line]
    assert drop == [line for line in again if "rendered" not in line]


def test_api_errors_are_bnnbench_errors(tmp_path: Path) -> None:
    with pytest.raises(BnnBenchError, match="suite file not found"):
        run_suite(tmp_path / "nope.yaml", results_dir=tmp_path)
    with pytest.raises(
        BnnBenchError,
        match=r"workers \(the CLI.s --workers\) must be an integer in \[1, 1024\], got 0",
    ):
        run_suite(write_suite(tmp_path / "w.yaml"), results_dir=tmp_path, workers=0)
    with pytest.raises(BnnBenchError, match="no results store"):
        load_results(write_suite(tmp_path / "never.yaml"), results_dir=tmp_path)
    assert not list(tmp_path.rglob("*.db"))


def test_without_a_handler_progress_goes_to_logging(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    suite = write_suite(tmp_path / "log.yaml", optimizers=["sgd"], reference="sgd", seeds=[0],
                        epochs=1)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="bnnbench"):
        result = run_suite(suite, results_dir=tmp_path, workers=1, progress=False, report=False)
    assert result.exit_code == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "bnnbench"]
    assert any(m.startswith("suite 'log'") for m in messages)
    assert any(m.startswith("done in") for m in messages)
