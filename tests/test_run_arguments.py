"""run_suite's arguments get the CLI's checks (issue 22, benchmark/run_arguments.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmark import BnnBenchError, run_suite
from tests.conftest import REPO, write_suite


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (
            {"threads": -3},
            "threads (the CLI's --threads-per-worker) must be an integer in [1, 256], got -3",
        ),
        (
            {"workers": 10**6},
            "workers (the CLI's --workers) must be an integer in [1, 1024], got 1000000",
        ),
        ({"workers": 0}, "got 0"),
        ({"workers": "2"}, "got '2'"),
        ({"workers": True}, "got True"),
        ({"fresh": "yes"}, "fresh must be True or False, got 'yes'"),
        ({"device": 0}, "device must be a string (or None), got int"),
        (
            {"scheduler": "tcp://127.0.0.1:1", "executor": "local"},
            "--scheduler needs the Dask executor",
        ),
        ({"scheduler": "tcp://127.0.0.1:1"}, "--scheduler needs the Dask executor"),
    ],
)
def test_run_suite_arguments_are_checked_like_the_clis(
    arguments: dict[str, Any], named: str, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path / "a.yaml")
    with pytest.raises(BnnBenchError) as excinfo:
        run_suite(suite, results_dir=tmp_path / "results", progress=False, **arguments)
    assert named in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert not (tmp_path / "results").exists()  # nothing created


def test_the_cli_refuses_a_scheduler_without_dask(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--scheduler", "tcp://127.0.0.1:1",
         "--results-dir", str(tmp_path / "results")],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "bnnbench: error: --scheduler needs the Dask executor (--executor dask)" in done.stderr
    assert not (tmp_path / "results").exists()
