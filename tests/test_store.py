"""The results store on a real SQLite database."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
import torch

from benchmark.environment import capture_environment
from benchmark.errors import BnnBenchError
from benchmark.records import RunRecord, RunSpec
from benchmark.store import Store


def _record(seed: int = 0, status: str = "completed") -> RunRecord:
    spec = RunSpec(model="mlp", dataset="digits", optimizer="adam", hparams={"lr": 1e-3}, seed=seed)
    rec = RunRecord(spec.run_id, "train", spec.to_dict(), status, steps=20, train_seconds=1.5)
    rec.add(0, 0.0, "test", "accuracy", 0.1)
    rec.add(10, 1.0, "test", "accuracy", 0.8)
    rec.add(10, 1.0, "", "flip_rate/layers.1.weight", 0.25)
    rec.add(10, 1.0, "", "flip_rate", math.nan)
    rec.summary = {"final_test_accuracy": 0.8}
    return rec


def test_round_trip_keeps_spec_metrics_and_summary(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/a/bnnbench.db")
    rec = _record()
    store.write(rec, suite="s")
    runs = store.runs_frame("s")
    assert list(runs["run_id"]) == [rec.run_id]
    row = runs.iloc[0]
    assert (row["model"], row["optimizer"], row["seed"], row["hparams"]) == (
        "mlp",
        "adam",
        0,
        {"lr": 1e-3},
    )
    assert row["summary.final_test_accuracy"] == 0.8
    assert (row["steps"], row["train_seconds"], row["status"]) == (20, 1.5, "completed")
    metrics = store.metrics_frame([rec.run_id])
    assert len(metrics) == 4
    acc = metrics[(metrics.split == "test") & (metrics.name == "accuracy")]
    assert acc["value"].tolist() == [0.1, 0.8]
    assert math.isnan(metrics[metrics.name == "flip_rate"]["value"].iloc[0])


def test_writes_are_idempotent_per_run_id(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/bnnbench.db")
    rec = _record()
    store.write(rec, suite="s")
    store.write(rec, suite="s")
    rec.metrics = rec.metrics[:1]
    store.write(rec, suite="s")
    assert len(store.runs_frame()) == 1
    assert len(store.metrics_frame()) == 1  # the old metrics were replaced, not appended


def test_finished_ids_excludes_failed_runs_so_they_are_retried(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/bnnbench.db")
    ok, diverged, failed = _record(0), _record(1, "diverged"), _record(2, "failed")
    for rec in (ok, diverged, failed):
        store.write(rec, suite="s")
    assert store.finished_ids() == {ok.run_id, diverged.run_id}
    assert store.finished_ids([failed.run_id, ok.run_id]) == {ok.run_id}


def test_shared_runs_survive_fresh_of_one_suite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/bnnbench.db")
    shared, own = _record(0), _record(1)
    store.write(shared, suite="a")
    store.write(own, suite="a")
    store.link("b", [shared.run_id])
    assert store.suites() == ["a", "b"]
    assert store.delete_suite("a") == 1
    assert list(store.runs_frame()["run_id"]) == [shared.run_id]
    assert list(store.runs_frame("b")["run_id"]) == [shared.run_id]
    assert store.runs_frame("a").empty


def test_environment_is_captured_with_every_run(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/bnnbench.db")
    store.write(_record(), suite="s")
    env = store.runs_frame("s")["environment"].iloc[0]
    assert env["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert env["cpu_count"] >= 1 and env["hostname"] and env["python"].startswith("3.")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    if head.returncode == 0:
        assert env["git_commit"].startswith(head.stdout.strip())
    assert capture_environment() == env


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        BnnBenchError,
        match=r"cannot open results store 'postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:9/x'",
    ):
        Store("postgresql+psycopg://u:p@127.0.0.1:9/x")
    with pytest.raises(BnnBenchError, match="is not a database URL"):
        Store("not a url")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BnnBenchError, match="cannot open results store .*Not a directory"):
        Store(f"sqlite:///{blocker}/sub/bnnbench.db")
