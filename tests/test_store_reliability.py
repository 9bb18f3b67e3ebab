"""The results store under real failure conditions: damaged files, read-only folders and
users, two processes running one suite, database errors after opening.

Everything here uses real SQLite files, real subprocesses and real signals: the point is to
prove what the operating system and sqlite do, not what a mock says they do.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmark.errors import BnnBenchError, StoreMissing, SuiteBusy
from benchmark.frames import METRIC_COLUMNS, RUN_COLUMNS
from benchmark.records import RunRecord, RunSpec
from benchmark.store import Store, _advisory_key, display_url

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


def _record(seed: int, status: str = "completed") -> RunRecord:
    spec = RunSpec(model="mlp", dataset="digits", optimizer="adam", hparams={"lr": 1e-3}, seed=seed)
    rec = RunRecord(spec.run_id, "train", spec.to_dict(), status, steps=20, train_seconds=1.5)
    for step in range(0, 20, 2):
        rec.add(step, step / 10, "test", "accuracy", 0.5 + math.sin(seed + step) / 4)
        rec.add(step, step / 10, "", "flip_rate", 0.1)
    rec.summary = {"final_test_accuracy": 0.8}
    return rec


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store of 300 runs and 6000 metric rows (a few hundred pages), built once."""
    path = tmp_path_factory.mktemp("pristine") / "bnnbench.db"
    store = Store(f"sqlite:///{path}")
    for seed in range(300):
        store.write(_record(seed), suite="s")
    store.close()  # the last connection checkpoints the WAL into the file and deletes it
    assert sorted(p.name for p in path.parent.iterdir()) == ["bnnbench.db"]
    return path


def _copy(pristine: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(pristine, folder / "bnnbench.db"))


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder``: its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _one_line_error(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


# ---------------------------------------------------------------------- damaged stores
def _damage_middle_pages(path: Path, pages: int = 5) -> None:
    """Overwrite ``pages`` pages around the middle of the file (never page 1, the header and
    schema) with random bytes, as a bad disk sector or a torn copy would."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert page_count > 50
    rng = random.Random(1234)
    with path.open("r+b") as f:
        for i in range(pages):
            page = page_count * (3 + i) // (pages + 6)  # 1-based page numbers in the middle
            assert 1 < page < page_count
            f.seek((page - 1) * page_size)
            f.write(rng.randbytes(page_size))


def test_garbage_in_middle_pages_is_refused_with_one_line(pristine: Path, tmp_path: Path) -> None:
    path = _copy(pristine, tmp_path)
    assert not Store(f"sqlite:///{path}", read_only=True).runs_frame().empty
    _damage_middle_pages(path)
    damaged = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(BnnBenchError) as excinfo:
            Store(f"sqlite:///{path}", read_only=read_only)
        message = _one_line_error(excinfo)
        assert "is damaged" in message and str(path) in message
        assert "sqlite reports: " in message and "restore a backup" in message
    # the check did not write to the damaged file (a salvage attempt needs it as it was)
    assert path.read_bytes() == damaged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bnnbench.db"]


@pytest.mark.parametrize("content", [b"results: none yet\n" * 20, random.Random(7).randbytes(9000)])
def test_a_file_that_is_not_a_database_is_refused_with_one_line(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bnnbench.db"
    path.write_bytes(content)
    for read_only in (False, True):
        with pytest.raises(BnnBenchError) as excinfo:
            Store(f"sqlite:///{path}", read_only=read_only)
        message = _one_line_error(excinfo)
        assert "is damaged" in message and "not a database" in message and str(path) in message
    assert path.read_bytes() == content


def test_damage_met_after_opening_is_one_line(pristine: Path, tmp_path: Path) -> None:
    """quick_check passed at open; the file is damaged later (a disk failing under a long
    report): the next read names the store and says damaged, no SQLAlchemy traceback."""
    path = _copy(pristine, tmp_path)
    store = Store(f"sqlite:///{path}", read_only=True)
    _damage_middle_pages(path, pages=40)
    with pytest.raises(BnnBenchError) as excinfo:
        store.metrics_frame()
    message = _one_line_error(excinfo)
    assert "is damaged" in message and str(path) in message


def test_database_errors_of_methods_are_one_line(pristine: Path, tmp_path: Path) -> None:
    """Any driver error a method meets (here: a table dropped behind the store's back)."""
    path = _copy(pristine, tmp_path)
    store = Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE suite_runs")
    conn.close()
    with pytest.raises(BnnBenchError) as excinfo:
        store.write(_record(1000), suite="s")
    message = _one_line_error(excinfo)
    assert message.startswith(f"cannot write run {_record(1000).run_id} to results store '")
    assert str(path) in message and "no such table: suite_runs" in message
    with pytest.raises(BnnBenchError) as excinfo:
        store.runs_frame("s")
    assert _one_line_error(excinfo).startswith("cannot read runs from results store 'sqlite:///")
    # the failed write's transaction was rolled back as a whole
    assert _record(1000).run_id not in set(store.runs_frame()["run_id"])


def test_passwords_never_appear_in_messages() -> None:
    url = "postgresql+psycopg://bench:s3cret-pw@127.0.0.1:9/results"
    assert display_url(url) == "postgresql+psycopg://bench:***@127.0.0.1:9/results"
    assert "s3cret-pw" not in display_url("postgresql://bench:s3cret-pw@host:notaport/x")
    for read_only in (False, True):
        with pytest.raises(BnnBenchError) as excinfo:
            Store(url, read_only=read_only)  # no driver here, or nothing listening on port 9
        message = _one_line_error(excinfo)
        assert "s3cret-pw" not in message and "bench:***@127.0.0.1:9/results" in message


def test_advisory_lock_keys_are_signed_64_bit_and_distinct() -> None:
    keys = {_advisory_key(name) for name in ("quick", "nightly", "a/b", "a_b", "")}
    assert len(keys) == 5 and all(-(2**63) <= k < 2**63 for k in keys)
    assert _advisory_key("quick") == _advisory_key("quick")


# ---------------------------------------------------------------------- read-only
def test_read_only_open_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "results" / "quick" / "bnnbench.db"
    with pytest.raises(StoreMissing) as excinfo:
        Store(f"sqlite:///{path}", read_only=True)
    message = _one_line_error(excinfo)
    assert message == f"no results store at {path} (nothing has been run for this suite yet?)"
    assert isinstance(excinfo.value, BnnBenchError)
    assert list(tmp_path.iterdir()) == []


def test_read_only_open_leaves_the_folder_byte_identical(pristine: Path, tmp_path: Path) -> None:
    """Reading a WAL database creates -wal/-shm files beside it (as root, or in any folder
    the reader can write); the store removes them again and never writes the database."""
    path = _copy(pristine, tmp_path)
    before = _snapshot(tmp_path)
    store = Store(f"sqlite:///{path}", read_only=True)
    assert len(store.runs_frame("s")) == 300
    assert len(store.metrics_frame()) == 300 * 20
    assert len(store.finished_ids()) == 300 and store.suites() == ["s"]
    assert len(store.outcomes([_record(3).run_id])) == 1
    store.close()
    assert _snapshot(tmp_path) == before
    with sqlite3.connect(path) as conn:  # still the journal mode the writer chose
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_read_only_reads_a_store_being_written_without_disturbing_the_writer(
    pristine: Path, tmp_path: Path
) -> None:
    path = _copy(pristine, tmp_path)
    writer = Store(f"sqlite:///{path}")
    writer.write(_record(1000), suite="s")
    reader = Store(f"sqlite:///{path}", read_only=True)
    assert _record(1000).run_id in set(reader.runs_frame("s")["run_id"])
    reader.close()
    # the writer's -wal/-shm were not removed under it: it keeps writing, and the reader sees it
    writer.write(_record(1001), suite="s")
    assert len(Store(f"sqlite:///{path}", read_only=True).runs_frame("s")) == 302
    writer.close()
    assert len(Store(f"sqlite:///{path}", read_only=True).runs_frame("s")) == 302


@pytest.mark.parametrize("kind", ["empty", "foreign"])
def test_read_only_store_without_tables_reads_as_empty(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bnnbench.db"
    if kind == "empty":
        path.write_bytes(b"")
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
            conn.execute("INSERT INTO notes VALUES ('not bnnbench')")
        conn.close()
    before = _snapshot(tmp_path)
    store = Store(f"sqlite:///{path}", read_only=True)
    assert store.runs_frame("s").empty and list(store.runs_frame().columns) == list(RUN_COLUMNS)
    assert list(store.metrics_frame().columns) == list(METRIC_COLUMNS)
    assert store.metrics_frame().empty
    assert store.suites() == [] and store.finished_ids() == set() and store.outcomes(["x"]) == {}
    store.close()
    assert _snapshot(tmp_path) == before  # no tables, no schema_version row, no journal change


def test_read_only_store_refuses_writes(pristine: Path, tmp_path: Path) -> None:
    path = _copy(pristine, tmp_path)
    before = _snapshot(tmp_path)
    store = Store(f"sqlite:///{path}", read_only=True)
    attempts = [
        lambda: store.write(_record(1000), suite="s"),
        lambda: store.link("t", [_record(1).run_id]),
        lambda: store.delete_suite("s"),
        lambda: store.suite_lock("s").__enter__(),
    ]
    for attempt in attempts:
        with pytest.raises(BnnBenchError) as excinfo:
            attempt()
        assert "open read-only" in _one_line_error(excinfo)
    store.close()
    assert _snapshot(tmp_path) == before


# The child drops to an unprivileged user itself, after its imports: this checkout's venv
# python lives under /root (mode 0700 here), which user 65534 cannot execute, so
# subprocess.run(..., user=65534) would fail before Python starts. The warm-up read of a
# private copy loads every module the read path imports lazily while files are readable.
_READ_AS_NOBODY = textwrap.dedent(
    """
    import json, os, sys
    from benchmark.errors import BnnBenchError
    from benchmark.store import Store

    target, warm, nobody = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(f"sqlite:///{warm}", read_only=True)
    store.runs_frame("s"), store.metrics_frame(), store.close()
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(nobody)
        os.setuid(nobody)
    try:
        open(target, "ab").close()
        writable = True
    except PermissionError:
        writable = False
    try:
        store = Store(f"sqlite:///{target}", read_only=True)
        runs, metrics = store.runs_frame("s"), store.metrics_frame()
        store.close()
        result = {"runs": len(runs), "metrics": len(metrics)}
    except BnnBenchError as exc:
        result = {"error": str(exc)}
    print(json.dumps({"uid": os.geteuid(), "writable": writable, **result}))
    """
)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder under /tmp that user 65534 can traverse (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="bnnbench-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def _read_as_nobody(path: Path, warm: Path) -> dict[str, Any]:
    """Open ``path`` read-only and read it in a child that cannot write (user 65534 if we
    are root), after checking that it really cannot; the child's report."""
    done = subprocess.run(
        [sys.executable, "-c", _READ_AS_NOBODY, str(path), str(warm), str(NOBODY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["writable"] is False  # the scenario is real: this reader cannot write
    if os.geteuid() == 0:
        assert result["uid"] == NOBODY
    return result


def test_show_works_on_a_read_only_database_in_a_read_only_folder(
    pristine: Path, shared_tmp: Path
) -> None:
    """Results shared read-only (another user's, a read-only mount): the database is 0444 in
    a 0555 folder and the reader cannot create -shm; it must still read, and change nothing.
    As root (CI), chmod does not stop root, so the reading child runs as user 65534."""
    warm = _copy(pristine, shared_tmp / "warm")
    folder = shared_tmp / "results"
    path = _copy(pristine, folder)
    path.chmod(0o444)
    folder.chmod(0o555)
    before = _snapshot(folder)
    result = _read_as_nobody(path, warm)
    assert (result.get("runs"), result.get("metrics")) == (300, 300 * 20), result
    assert _snapshot(folder) == before  # bytes and mtimes; and no -wal/-shm appeared


def test_unmerged_log_in_a_read_only_folder_is_refused_not_skipped(
    pristine: Path, shared_tmp: Path
) -> None:
    """A -wal holding committed runs but no -shm (copied while a suite was writing): reading
    around the log would silently miss those runs, so the store says what to do instead."""
    warm = _copy(pristine, shared_tmp / "warm")
    live = _copy(pristine, shared_tmp / "live")
    writer = Store(f"sqlite:///{live}")
    writer.write(_record(1000), suite="s")  # in the log until the writer's last close
    folder = shared_tmp / "copy"
    path = _copy(live, folder)
    shutil.copy2(f"{live}-wal", f"{path}-wal")
    writer.close()
    assert Path(f"{path}-wal").stat().st_size > 0 and not Path(f"{path}-shm").exists()
    path.chmod(0o444)
    folder.chmod(0o555)
    before = _snapshot(folder)
    message = _read_as_nobody(path, warm).get("error", "")
    assert f"cannot open results store 'sqlite:///{path}' read-only: {path}-wal holds" in message
    assert "open it once with write access" in message and "\n" not in message
    assert _snapshot(folder) == before


# ---------------------------------------------------------------------- the suite lock
_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from benchmark.store import Store

    store = Store(sys.argv[1])
    with store.suite_lock(sys.argv[2]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


def test_a_second_run_of_a_suite_is_refused_until_the_holder_dies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bnnbench.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, url, "quick"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == "locked", holder.stderr.read() if holder.stderr else ""
        store = Store(url)
        lock = store.lock_file("quick")
        assert lock == tmp_path / "bnnbench.db.quick.lock"
        with pytest.raises(SuiteBusy) as excinfo, store.suite_lock("quick"):
            pytest.fail("a second holder got the lock")
        message = _one_line_error(excinfo)
        assert message.startswith(f"suite 'quick' is already running against store {url} ")
        assert f"lock {lock} held by process {holder.pid} on " in message
        assert message.endswith("; wait for it to finish, or stop it")
        with store.suite_lock("other"):  # another suite of the same store is not blocked
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    assert holder.returncode == -signal.SIGKILL
    with store.suite_lock("quick"):  # SIGKILL released it: no stale lock to clean up
        assert lock.read_text().split()[0] == str(os.getpid())
    assert lock.exists() and lock.read_text() == ""  # kept (never deleted), no stale pid


def test_suite_locks_are_per_suite_and_reusable(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/bnnbench.db")
    # names that sanitise alike still get their own files
    with store.suite_lock("a/b"), store.suite_lock("a_b"), store.suite_lock("nightly"):
        assert store.lock_file("a/b") != store.lock_file("a_b")
        # flock conflicts between two opens in one process too: a nested run is refused
        busy = pytest.raises(SuiteBusy, match=f"held by process {os.getpid()} ")
        with busy, store.suite_lock("nightly"):
            pytest.fail("a nested run got the lock")
    for _ in range(2):  # released at the end of the block, and again and again
        with store.suite_lock("nightly"):
            pass
    assert {p.name for p in tmp_path.glob("*.lock")} == {
        store.lock_file(s).name  # type: ignore[union-attr]
        for s in ("a/b", "a_b", "nightly")
    }


def test_in_memory_store_has_no_lock() -> None:
    store = Store("sqlite://")
    assert store.lock_file("s") is None
    with store.suite_lock("s"), store.suite_lock("s"):
        store.write(_record(0), suite="s")
    assert len(store.runs_frame("s")) == 1


# ---------------------------------------------------------------------- sharing a new store
_OPEN_NEW_STORES = textwrap.dedent(
    """
    import sys, time
    from benchmark.errors import BnnBenchError
    from benchmark.store import Store
    from benchmark.tune import open_storage

    folder, start = sys.argv[1], float(sys.argv[2])
    for rep in range(5):
        url = f"sqlite:///{folder}/rep{rep}.db"
        time.sleep(max(0.0, start + 2 * rep - time.time()))
        try:
            Store(url).close()
            open_storage(url)
            print("ok", flush=True)
        except BnnBenchError as exc:
            print(exc, flush=True)
    """
)


@pytest.mark.slow  # 19 s under load (processes importing the store at once)
def test_processes_opening_one_new_store_at_once_create_its_tables_once(tmp_path: Path) -> None:
    """Three processes open each of 5 new SQLite stores at the same instant, for writing and
    then Optuna's storage (what two tuned suites starting together do): every open succeeds.
    Without the table-creation lock, 3 to 4 of these 15 opens failed with "table ... already
    exists" (SQLite serialises statements, not Optuna's check-then-create)."""
    import time

    start = time.time() + 10  # after the three children's imports, on a loaded machine
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_NEW_STORES, str(tmp_path), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-3000:]
        assert out.split("\n")[:5] == ["ok"] * 5, out
    for rep in range(5):  # one set of tables, one schema version row
        with sqlite3.connect(tmp_path / f"rep{rep}.db") as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert {"runs", "study_directions", "alembic_version"} <= tables
            versions = conn.execute("SELECT count(*) FROM bnnbench_info").fetchone()[0]
        conn.close()
        assert versions == 1


@pytest.mark.slow  # 5 x two tuned suites: about a minute under load
def test_two_tuned_suites_starting_together_on_a_new_store_both_finish(tmp_path: Path) -> None:
    from tests.conftest import write_suite

    url = f"sqlite:///{tmp_path}/shared.db"
    suites = [
        write_suite(tmp_path / f"{name}.yaml", optimizers=["adam"], reference="adam",
                    seeds=[0], epochs=1, tuning={"trials": 1, "epochs": 1, "seed": 0})
        for name in ("tuned_a", "tuned_b")
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for rep in range(5):
        for old in tmp_path.glob("shared.db*"):
            old.unlink()
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmark.cli",
                    "run",
                    str(suite),
                    "--store",
                    url,
                    "--no-report",
                    "--quiet",
                    "--workers",
                    "1",
                    "--results-dir",
                    str(tmp_path),
                ],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for suite in suites
        ]
        errors = [run.communicate(timeout=600)[1] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], (rep, errors)


# ---------------------------------------------------------------------- readers of a tuned store
# The reader cannot write the database (the owner's, 0644) but can write the folder (a
# group-shared results folder): a mode=ro read would create -wal/-shm owned by the reader,
# which it cannot remove, and on which the owner's next write fails.
_SHARED_READER = textwrap.dedent(
    """
    import json, os, sys
    from benchmark import cli, load_results

    suite, results, warm, uid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    load_results(suite, results_dir=warm)  # every import, while files are readable
    cli.main(["show", suite, "--results-dir", warm])
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    res = load_results(suite, results_dir=results)
    try:
        cli.main(["show", suite, "--results-dir", results])
    except SystemExit as exc:
        assert not exc.code, exc.code
    print(json.dumps({"uid": os.geteuid(), "runs": len(res.runs), "trials": len(res.trials)}))
    """
)
_OWNER_RUNS = textwrap.dedent(
    """
    import os, sys
    from benchmark import run_suite

    suite, results, warm, uid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    run_suite(suite, results_dir=warm, workers=1, fresh=True, report=False, progress=False)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    result = run_suite(suite, results_dir=results, workers=1, fresh=True, report=False,
                       progress=False)
    print("exit", result.exit_code, sum(p.completed for p in result.phases.values()))
    """
)
OWNER = 4242


@pytest.mark.slow  # 65-100 s under load: four interpreters import torch
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as two other users")
def test_a_reader_who_cannot_write_the_database_leaves_no_file(shared_tmp: Path) -> None:
    """``show`` and ``load_results`` of a tuned store by a user who may write the folder but
    not the database (a group-shared results folder) leave no -wal/-shm behind; the owner's
    next run (``--fresh``: real writes) then succeeds. Before issue 22 the reader's files
    stayed and the owner's write failed with "attempt to write a readonly database"."""
    from tests.conftest import write_suite

    suite = write_suite(shared_tmp / "shared.yaml", optimizers=["adam"], reference="adam",
                        seeds=[0], epochs=1, tuning={"trials": 2, "epochs": 1, "seed": 0})  # fmt: skip
    suite.chmod(0o644)
    for results in ("results", "warm"):  # in a child: no connection of ours stays open
        done = subprocess.run(
            [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--workers", "1",
             "--no-report", "--quiet", "--results-dir", str(shared_tmp / results)],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    folder = shared_tmp / "results" / "shared"
    for path in [shared_tmp / "results", folder, *folder.iterdir()]:
        os.chown(path, OWNER, OWNER)
    for path in [shared_tmp / "results", folder]:
        path.chmod(0o777)  # a folder everyone may write; the database stays the owner's 0644
    assert (folder / "bnnbench.db").stat().st_mode & 0o777 == 0o644
    assert not list(folder.glob("*-wal")) + list(folder.glob("*-shm"))
    before = _snapshot(folder)
    done = subprocess.run(
        [sys.executable, "-c", _SHARED_READER, str(suite), str(shared_tmp / "results"),
         str(shared_tmp / "warm"), str(NOBODY)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"uid": NOBODY, "runs": 1, "trials": 2}
    assert _snapshot(folder) == before  # no -wal, no -shm, nothing changed
    done = subprocess.run(
        [sys.executable, "-c", _OWNER_RUNS, str(suite), str(shared_tmp / "results"),
         str(shared_tmp / "warm"), str(OWNER)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "exit 0 3"


# ---------------------------------------------------------------------- damaged content
def _alter(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _refused_unchanged(path: Path, *fragments: str) -> None:
    """Opening ``path`` read-only and for writing (and reading it through load_results)
    fails with one line holding ``fragments``; the folder's bytes do not change."""
    from benchmark import load_results

    before = _snapshot(path.parent)
    attempts = [
        lambda: Store(f"sqlite:///{path}", read_only=True).runs_frame(),
        lambda: Store(f"sqlite:///{path}").write(_record(999), suite="s"),
        lambda: load_results(str(path)),
    ]
    for attempt in attempts:
        with pytest.raises(BnnBenchError) as excinfo:
            attempt()
        message = _one_line_error(excinfo)
        for fragment in (f"results store 'sqlite:///{path}' is damaged", *fragments):
            assert fragment in message, message
    assert _snapshot(path.parent) == before


def test_a_row_with_damaged_json_is_named(pristine: Path, tmp_path: Path) -> None:
    """The row passes quick_check (its bytes are a valid text value), but its spec is not
    JSON: every read of it names the run; nothing is written."""
    path = _copy(pristine, tmp_path / "badjson")
    run_id = _record(7).run_id
    _alter(path, f"UPDATE runs SET spec = '{{\"model\": \"ml' WHERE run_id = '{run_id}'")
    from benchmark import load_results

    before = _snapshot(path.parent)
    for attempt in (
        lambda: Store(f"sqlite:///{path}", read_only=True).runs_frame("s"),
        lambda: load_results(str(path)),
    ):
        with pytest.raises(BnnBenchError) as excinfo:
            attempt()
        message = _one_line_error(excinfo)
        assert f"run {run_id}: its spec is not valid JSON" in message, message
    assert _snapshot(path.parent) == before
    _alter(path, f"UPDATE runs SET spec = '[1, 2]' WHERE run_id = '{run_id}'")
    with pytest.raises(BnnBenchError, match=f"run {run_id}: its spec is not a JSON object"):
        Store(f"sqlite:///{path}", read_only=True).runs_frame("s")


def test_a_dropped_metrics_table_is_damage_not_absence(pristine: Path, tmp_path: Path) -> None:
    path = _copy(pristine, tmp_path / "dropped")
    _alter(path, "DROP TABLE metrics")
    _refused_unchanged(path, "table(s) metrics missing")


def test_a_foreign_runs_table_gets_no_tables_added(tmp_path: Path) -> None:
    path = tmp_path / "foreign" / "bnnbench.db"
    path.parent.mkdir()
    _alter(
        path,
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO runs VALUES (1, 'x')",
    )
    _refused_unchanged(path, "table 'runs' is not bnnbench's", "run_id")
    with sqlite3.connect(path) as conn:  # still only the foreign table, still not WAL
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["runs"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_a_foreign_table_of_bnnbench_shape_without_info_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noinfo" / "bnnbench.db"
    Store(f"sqlite:///{path}").close()
    _alter(path, "DROP TABLE bnnbench_info")
    _refused_unchanged(path, "no 'bnnbench_info': not a bnnbench store")


# ---------------------------------------------------------------------- --fresh in chunks
def _link_many(store: Store, suite: str, n: int, prefix: str = "r") -> list[str]:
    """``n`` bare runs linked to ``suite``, inserted in bulk (no metrics)."""
    import sqlalchemy as sa

    from benchmark.store import runs_table, suite_runs_table

    ids = [f"{prefix}{i:07d}" for i in range(n)]
    with store.engine.begin() as conn:
        conn.execute(
            runs_table.insert(),
            [{"run_id": r, "task": "train", "status": "completed", "label": "", "spec": "{}",
              "summary": "{}", "message": "", "environment": "{}"} for r in ids],
        )  # fmt: skip
        conn.execute(
            suite_runs_table.insert(), [{"suite": suite, "run_id": r, "role": "final"} for r in ids]
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(runs_table)).scalar() >= n
    return ids


def test_fresh_deletes_more_runs_than_one_in_list_holds(tmp_path: Path) -> None:
    """1,200 runs (over the 500 per IN list), 10 of them also used by another suite: those
    10 stay, the rest go."""
    store = Store(f"sqlite:///{tmp_path}/bnnbench.db")
    ids = _link_many(store, "big", 1200)
    store.link("other", ids[:10])
    assert store.delete_suite("big") == 1190
    assert sorted(store.runs_frame()["run_id"]) == ids[:10]
    assert store.suites() == ["other"]


_OPEN_AS_NOBODY = textwrap.dedent(
    """
    import os, sys
    from benchmark.errors import BnnBenchError
    from benchmark.store import Store

    Store(f"sqlite:///{sys.argv[2]}").close()  # every import, while files are readable
    os.setgroups([])
    os.setgid(int(sys.argv[3]))
    os.setuid(int(sys.argv[3]))
    try:
        Store(f"sqlite:///{sys.argv[1]}")
        print("opened")
    except BnnBenchError as exc:
        print(exc)
    """
)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_store_this_user_cannot_write_is_refused_at_opening(
    pristine: Path, shared_tmp: Path, what: str
) -> None:
    """Before any run trains: a 0644 file of another user (or a folder this user cannot
    create -wal/-shm in) fails at opening, not at the first write."""
    path = _copy(pristine, shared_tmp / "store")
    warm = _copy(pristine, shared_tmp / "warm")
    path.parent.chmod(0o777 if what == "file" else 0o755)
    path.chmod(0o644 if what == "file" else 0o666)
    before = _snapshot(path.parent)
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_AS_NOBODY, str(path), str(warm), str(NOBODY)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    shown = path if what == "file" else path.parent
    assert done.stdout.strip() == (
        f"cannot open results store 'sqlite:///{path}' for writing: "
        f"{'the file' if what == 'file' else 'its folder'} {shown} is not writable by this "
        "user; run as its owner, or use another store (--store); show and report only read it"
    )
    assert _snapshot(path.parent) == before
