"""A report that cannot be written leaves the previous one intact (issue 22): the files are
staged beside the report folder and moved in only once all are written
(benchmark/report_files.py). A full disk is simulated with ``RLIMIT_FSIZE`` in the child
(writes past it fail with EFBIG, as they would with ENOSPC), SIGXFSZ ignored."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import run_suite
from tests.conftest import REPO, write_suite

LIMIT = 48_000  # bytes per file: the store's 32 KiB -shm fits, index.html (~80 KB) does not


def _small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.slow  # 60-90 s under load: two `bnnbench report` processes
def test_a_report_that_cannot_be_written_keeps_the_previous_one(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "full.yaml", epochs=1)
    result = run_suite(
        suite, results_dir=tmp_path, workers=1, progress=False, on_event=lambda e: None
    )
    assert result.exit_code == 0 and result.report is not None
    folder = result.report.markdown.parent
    (folder / "notes.txt").write_text("the user's own file\n")
    before = _snapshot(folder)
    assert max(len(b) for b in before.values()) > LIMIT  # the limit really bites
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark.cli",
            "report",
            str(suite),
            "--results-dir",
            str(tmp_path),
        ],
        preexec_fn=_small_files,  # noqa: PLW1509 - no threads in this test process's children
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(
        f"bnnbench: error: cannot write the report to '{folder}': File too large"
    )
    assert lines[0].endswith("the previous report there is unchanged")
    assert _snapshot(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".report")) == []
    # and without the limit the report is rebuilt in place, the user's file kept
    again = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "report", str(suite), "--results-dir", str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert (folder / "notes.txt").read_text() == "the user's own file\n"
    assert set(_snapshot(folder)) == set(before)
