"""A rerun with nothing to do (issue 21): it starts no process, imports no torch and leaves an
up-to-date report alone; a changed store, a changed suite or ``rebuild_report`` rebuild it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from benchmark.pipeline import build_report, run_suite
from benchmark.report_stamp import STAMP_NAME
from tests.conftest import REPO, write_suite

#: run_suite in a fresh interpreter, then report what it left behind: child processes, a
#: fork server, torch imported
PROBE = """
import json, sys
import psutil
from multiprocessing import forkserver
from benchmark.pipeline import run_suite
result = run_suite(sys.argv[1], results_dir=sys.argv[2], workers=2, progress=False)
print(json.dumps({
    "exit": result.exit_code,
    "children": len(psutil.Process().children(recursive=True)),
    "forkserver": forkserver._forkserver._forkserver_pid is not None,
    "torch": "torch" in sys.modules,
    "pandas": "pandas" in sys.modules,
    "sqlalchemy": "sqlalchemy" in sys.modules,
    "phases": sorted(result.phases),
}))
"""


def _probe(suite: Path, results: Path) -> dict:
    import json

    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(suite), str(results)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """``name -> (inode, mtime_ns)`` of every file of a report folder but the stamp."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != STAMP_NAME
    }


@pytest.fixture(scope="module")
def finished_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny suite (2 workers) run to the end, report included (once for the module)."""
    tmp_path = tmp_path_factory.mktemp("noop")
    suite = write_suite(tmp_path / "tiny.yaml", seeds=[0], epochs=1, executor={"workers": 2})
    results = tmp_path / "results"
    first = _probe(suite, results)
    assert first["exit"] == 0 and first["phases"] == ["final"]
    assert first["torch"]  # it trained
    return suite, results


@pytest.fixture
def finished_copy(finished_once: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the finished suite (file, store, report), for a test that changes
    it; its report rebuilt once (the suite file's path and the store's URL differ)."""
    suite, results = finished_once
    shutil.copy2(suite, tmp_path / suite.name)
    shutil.copytree(results, tmp_path / "results")
    moved = run_suite(tmp_path / suite.name, results_dir=tmp_path / "results", progress=False)
    assert moved.exit_code == 0 and moved.phases["final"].skipped == 2
    return tmp_path / suite.name, tmp_path / "results"


def test_a_noop_rerun_starts_no_process_imports_no_torch_and_keeps_the_report(
    finished_once: tuple[Path, Path],
) -> None:
    suite, results = finished_once
    folder = results / "tiny" / "report"
    before = _files(folder)
    assert {"REPORT.md", "index.html", "summary.json"} <= set(before)
    again = _probe(suite, results)
    assert again == {
        "exit": 0,
        "children": 0,
        "forkserver": False,
        "torch": False,
        "pandas": False,  # the SQLite store read with sqlite3 (benchmark/pipeline.py)
        "sqlalchemy": False,
        "phases": [],
    }
    assert _files(folder) == before


def test_the_store_and_the_light_reader_fingerprint_a_suite_alike(
    finished_once: tuple[Path, Path],
) -> None:
    """The stamp is written after a report through a Store and checked by a rerun through
    the light reader: both must hash the same rows; a run's new finish time changes both."""
    from benchmark.report_stamp import fingerprint
    from benchmark.store import Store
    from benchmark.store.summary_read import SqliteReader
    from benchmark.suite import load_suite

    suite_path, results = finished_once
    suite = load_suite(suite_path)
    db_path = results / "tiny" / "bnnbench.db"
    url = f"sqlite:///{db_path}"
    reader = SqliteReader(url, db_path)
    try:
        states = reader.run_states(suite.name)
        assert len(states) == 2 and all(isinstance(s[2], float) for s in states)
        assert reader.role_counts(suite.name) == {"final": 2}
        assert fingerprint(suite, reader) == fingerprint(suite, Store(url, read_only=True))
    finally:
        reader.close()
    assert Store(url, read_only=True).run_states(suite.name) == states


def test_the_cli_rerun_has_no_child_process_at_any_time(
    finished_once: tuple[Path, Path],
) -> None:
    """The console command, watched from outside with psutil every few milliseconds."""
    suite, results = finished_once
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    args = [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--quiet"]
    proc = psutil.Popen(
        [*args, "--results-dir", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: set[int] = set()
    while proc.poll() is None:
        try:
            seen.update(c.pid for c in proc.children(recursive=True))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.005)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert seen == set()
    assert "nothing to do" in out and "(up to date)" in out


def test_a_changed_store_suite_or_flag_rebuilds_the_report(
    finished_copy: tuple[Path, Path],
) -> None:
    suite, results = finished_copy
    folder = results / "tiny" / "report"
    before = _files(folder)
    # rebuild_report: rebuilt though nothing changed
    forced = run_suite(suite, results_dir=results, workers=1, progress=False, rebuild_report=True)
    assert forced.exit_code == 0 and forced.phases  # the normal path, every phase skipping
    after_forced = _files(folder)
    assert after_forced["index.html"] != before["index.html"]
    # the store changed: a run marked failed is retried, and the report rebuilt
    db = sqlite3.connect(results / "tiny" / "bnnbench.db")
    with db:
        (run_id,) = db.execute("SELECT run_id FROM runs ORDER BY run_id LIMIT 1").fetchone()
        db.execute("UPDATE runs SET status = 'failed' WHERE run_id = ?", (run_id,))
    db.close()
    retried = run_suite(suite, results_dir=results, workers=1, progress=False)
    assert retried.exit_code == 0 and retried.phases["final"].completed == 1
    after_retry = _files(folder)
    assert after_retry["index.html"] != after_forced["index.html"]
    # and now a rerun is a no-op again
    noop = run_suite(suite, results_dir=results, workers=1, progress=False)
    assert noop.phases == {} and _files(folder) == after_retry
    # an edited suite file (a description) rebuilds it
    suite.write_text(suite.read_text() + "description: edited\n")
    edited = run_suite(suite, results_dir=results, workers=1, progress=False)
    assert edited.phases and _files(folder)["index.html"] != after_retry["index.html"]
    # `bnnbench report` always rebuilds, and a rerun after it is still a no-op
    after_edit = _files(folder)
    build_report(suite, results_dir=results)
    rebuilt = _files(folder)
    assert rebuilt["index.html"] != after_edit["index.html"]
    assert run_suite(suite, results_dir=results, workers=1, progress=False).phases == {}
    assert _files(folder) == rebuilt
