"""The results store on a real PostgreSQL server: a suite stores, tunes, reports and resumes
there exactly as on SQLite; its lock holds across processes; its password never shows; and a
database server killed mid-suite costs one clear error line, nothing else.

The server is a fresh cluster started by :mod:`tests.pg_server` (PostgreSQL 15's ``initdb``
and ``pg_ctl``, on PATH or in Debian's ``/usr/lib/postgresql/15/bin``; ``.ci/run`` installs
them where they are missing): 127.0.0.1 only, password authentication, and the store
connects as a role that only owns its database. Each test gets a fresh database; tests that
stop the server get a server of their own.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmark.errors import BnnBenchError, SuiteBusy
from benchmark.store import Store, _advisory_key
from tests.conftest import REPO, write_suite
from tests.pg_server import PASSWORD, QUOTED_PASSWORD, PgServer, find_bindir, start_server
from tests.test_store_reliability import _HOLD_LOCK  # the same holder process

pytestmark = pytest.mark.postgres
pytest.importorskip("psycopg", reason="the test extra installs psycopg[binary]")

#: what neither the raw nor the URL-quoted password may show anywhere ("s3cr" begins both)
SECRETS = (PASSWORD, QUOTED_PASSWORD, PASSWORD[:4])
OPTUNA_CLI = Path(sys.executable).with_name("optuna")


def assert_no_password(text: str, where: str = "") -> None:
    for secret in SECRETS:
        assert secret not in text, f"password ({secret!r}) in {where or 'text'}: {text[-2000:]}"


def hidden(url: str) -> str:
    """``url`` as messages must show it: ``user:***@``."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url, count=1)


def new_server() -> PgServer:
    bindir = find_bindir()
    if bindir is None:
        message = (
            "no PostgreSQL binaries (initdb, pg_ctl, postgres) on PATH or in "
            "/usr/lib/postgresql/*/bin; install Debian's postgresql package"
        )
        if os.environ.get("CI"):  # .ci/run installs them: a skip there would hide a gap
            pytest.fail(message)
        pytest.skip(message)
    return start_server(bindir)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One server for the session (stopped and deleted at the end, whatever happens)."""
    with new_server() as server:
        yield server


@pytest.fixture
def private_server() -> Iterator[PgServer]:
    """A server of the test's own, for tests that stop it."""
    with new_server() as server:
        yield server


def fresh_database(server: PgServer) -> str:
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database (owned by the unprivileged role) on the server."""
    return fresh_database(pg_server)


@dataclass
class Ran:
    """What one ``bnnbench`` command did."""

    returncode: int
    stdout: str
    stderr: str


def cli(capfd: pytest.CaptureFixture[str], *args: str) -> Ran:
    """``bnnbench ARGS`` in this process (as tests/test_cli.py does: no second torch import),
    its output captured at the file descriptors."""
    from benchmark.cli import main

    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return Ran(code, out, err)


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """``query``'s rows, read straight from the database (not through the store)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def assert_one_error_line(stderr: str, *needles: str) -> str:
    """stderr holds exactly one ``bnnbench: error:`` line (returned), no traceback, no
    password, and the line holds every needle."""
    errors = [ln for ln in re.split(r"[\r\n]+", stderr) if ln.startswith("bnnbench: error:")]
    assert len(errors) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert_no_password(stderr, "stderr")
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


# ---------------------------------------------------------------------- a suite end to end
@dataclass
class Stored:
    """The small tuned suite, run once on PostgreSQL and once on SQLite."""

    suite: Path
    url: str
    sqlite_url: str
    result: Any
    events: list[Any]
    seconds: dict[str, float]
    results_dir: Path


@pytest.fixture(scope="module")
def stored(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Stored:
    from benchmark.pipeline import run_suite

    tmp = tmp_path_factory.mktemp("pg_suite")
    suite = write_suite(tmp / "pgsuite.yaml", tuning={"trials": 2, "epochs": 1})
    url = fresh_database(pg_server)
    sqlite_url = f"sqlite:///{tmp}/sqlite/bnnbench.db"
    seconds: dict[str, float] = {}
    outcome: dict[str, Any] = {}
    for name, store in (("sqlite", sqlite_url), ("postgresql", url)):
        events: list[Any] = []
        started = time.perf_counter()
        outcome[name] = run_suite(
            suite,
            store=store,
            results_dir=tmp / name,
            workers=1,
            progress=False,
            on_event=events.append,
        )
        seconds[name] = time.perf_counter() - started
        outcome[f"{name} events"] = events
    print(  # the numbers docs/scale-out.md quotes (pytest -s shows them)
        f"\nPostgreSQL server up in {pg_server.started_in:.2f} s; the suite took "
        f"{seconds['postgresql']:.2f} s on PostgreSQL, {seconds['sqlite']:.2f} s on SQLite "
        "(which ran first, and so includes one-time imports and warm-up)"
    )
    return Stored(
        suite,
        url,
        sqlite_url,
        outcome["postgresql"],
        outcome["postgresql events"],
        seconds,
        tmp / "postgresql",
    )


def test_the_suite_stores_on_postgres_exactly_what_sqlite_stores(stored: Stored) -> None:
    assert stored.result.exit_code == 0
    assert {k: (p.total, p.completed) for k, p in stored.result.phases.items()} == {
        "tuning": (4, 4),
        "final": (4, 4),
    }
    assert stored.result.store_url == hidden(stored.url)
    for event in stored.events:
        assert_no_password(event.message, f"event {event.kind}")
    assert any(hidden(stored.url) in e.message for e in stored.events)
    pg, lite = Store(stored.url, read_only=True), Store(stored.sqlite_url, read_only=True)
    for role in ("tuning", "final"):
        runs = pg.runs_frame("pgsuite", role=role)
        assert len(runs) == 4 and set(runs["status"]) == {"completed"}
        other = lite.runs_frame("pgsuite", role=role)
        assert list(runs["run_id"]) == list(other["run_id"])
        summaries = [c for c in runs.columns if c.startswith("summary.")]
        assert summaries and runs[summaries].equals(other[summaries])  # bit for bit
        metrics, expected = pg.metrics_frame(runs["run_id"]), lite.metrics_frame(runs["run_id"])
        timings = metrics["name"].str.endswith("_seconds")  # wall times differ run to run
        assert timings.any() and len(metrics) == len(expected)
        assert metrics[~timings].equals(expected[~timings])
    assert pg.suites() == ["pgsuite"]
    pg.close()
    lite.close()


def test_optuna_lists_the_suites_studies(stored: Stored) -> None:
    from benchmark.pipeline import load_suite_like
    from benchmark.suite import cells
    from benchmark.tune import study_name

    suite = load_suite_like(stored.suite)
    done = subprocess.run(
        [str(OPTUNA_CLI), "studies", "--storage", stored.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for cell in cells(suite):
        assert study_name(suite, cell) in done.stdout
    assert "pgsuite/" in done.stdout and done.stdout.count(" 2 ") >= 2  # n_trials per study


def test_the_report_builds_from_postgres_without_the_password(
    stored: Stored, tmp_path: Path
) -> None:
    from benchmark.pipeline import build_report

    paths = build_report(stored.suite, store=stored.url, out_dir=tmp_path / "report")
    text = paths.markdown.read_text()
    assert "adam" in text and "bop" in text
    for folder in (tmp_path / "report", stored.results_dir):  # run_suite's report too
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files
        for path in files:
            assert_no_password(path.read_bytes().decode("latin-1"), str(path))
            if path.name == "summary.json":  # names the store: as every message does
                assert json.loads(path.read_text())["store"] == hidden(stored.url)


def test_a_rerun_resumes_and_stores_nothing_new(stored: Stored) -> None:
    from benchmark.pipeline import run_suite

    count = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics), "
    count += "(SELECT count(*) FROM suite_runs), (SELECT count(*) FROM trials)"
    before = rows(stored.url, count)
    events: list[Any] = []
    result = run_suite(
        stored.suite,
        store=stored.url,
        results_dir=stored.results_dir.parent / "rerun",
        workers=1,
        progress=False,
        on_event=events.append,
    )
    assert result.exit_code == 0
    for phase in result.phases.values():
        assert phase.skipped == phase.total == 4 and phase.stored == 0
    assert not [e for e in events if e.kind == "run"]
    assert rows(stored.url, count) == before


def test_the_cli_runs_shows_and_reports_on_postgres_without_the_password(
    stored: Stored, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = stored.url
    done = cli(capfd, "run", str(stored.suite), "--store", url, "--workers", "1", "--results-dir",
               str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("4 already stored (resumed)") == 2  # tuning, final runs
    shown = cli(capfd, "show", str(stored.suite), "--store", url)
    assert shown.returncode == 0, shown.stderr
    assert f"suite 'pgsuite': 4 final runs stored in {hidden(url)} (completed: 4)" in shown.stdout
    assert "tuning: 4 trials (completed: 4), 4 runs" in shown.stdout
    report = cli(capfd, "report", str(stored.suite), "--store", url, "--out", str(tmp_path / "r"))
    assert report.returncode == 0, report.stderr
    for out, command in ((done, "run"), (shown, "show"), (report, "report")):
        assert_no_password(out.stdout + out.stderr, f"output of bnnbench {command}")
    assert list((tmp_path / "r").rglob("*.md"))
    for path in tmp_path.rglob("*"):  # the run's report and the rebuilt one
        if path.is_file():
            assert_no_password(path.read_bytes().decode("latin-1"), str(path))


def test_fresh_forgets_runs_and_studies_on_postgres(pg_url: str, tmp_path: Path) -> None:
    from benchmark.pipeline import run_suite

    suite = write_suite(
        tmp_path / "fresh.yaml",
        optimizers=["adam"],
        reference="adam",
        seeds=[0],
        tuning={"trials": 2, "epochs": 1},
    )
    count = "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM suite_runs), "
    count += "(SELECT count(*) FROM studies), (SELECT count(*) FROM trials)"
    for fresh in (False, True):
        events: list[Any] = []
        result = run_suite(suite, store=pg_url, results_dir=tmp_path, workers=1, fresh=fresh,
                           report=False, progress=False, on_event=events.append)  # fmt: skip
        assert result.exit_code == 0 and result.phases["final"].completed == 1
        assert rows(pg_url, count) == [(3, 3, 1, 2)]  # 2 trials + 1 final run, 1 study
    messages = [e.message for e in events]
    assert "--fresh: forgot 3 stored runs of suite 'fresh'" in messages
    assert "--fresh: deleted 1 tuning studies" in messages


# ---------------------------------------------------------------------- read-only
def test_show_on_postgres_is_read_only(
    pg_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """``show`` of an empty database creates no table; a read-only store's transactions are
    refused writes by the server itself."""
    suite = write_suite(tmp_path / "ro.yaml")
    shown = cli(capfd, "show", str(suite), "--store", pg_url)
    assert shown.returncode == 0, shown.stderr
    assert f"suite 'ro': no runs stored in {hidden(pg_url)}" in shown.stdout
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert rows(pg_url, tables) == [(0,)]
    Store(pg_url).close()  # now the tables exist
    store = Store(pg_url, read_only=True)
    with pytest.raises(BnnBenchError, match="it is open read-only"):
        store.delete_suite("ro")
    from sqlalchemy import text

    with store.engine.connect() as conn, pytest.raises(Exception, match="read-only transaction"):
        conn.execute(text("DELETE FROM runs"))
    store.close()


def test_what_a_role_needs_is_checked_when_the_store_opens(
    pg_server: PgServer, pg_url: str
) -> None:
    """``run`` needs CREATE on schema public (a new store) and SELECT, INSERT, DELETE on the
    tables; ``show`` and ``report`` need only SELECT. A role short of them is refused when
    the store opens, not after a run has trained."""
    database = pg_url.rsplit("/", 1)[1]
    Store(pg_url).close()  # the owner creates the tables
    reader = f"reader_{uuid.uuid4().hex[:8]}"
    pg_server.execute(f"CREATE ROLE {reader} LOGIN PASSWORD '{PASSWORD}'")
    pg_server.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}", database=database)
    url = pg_server.url(database, user=reader)
    store = Store(url, read_only=True)
    assert store.runs_frame().empty and store.suites() == []
    store.close()
    with pytest.raises(BnnBenchError) as excinfo:
        Store(url)
    assert str(excinfo.value) == (
        f"cannot write to results store '{hidden(url)}': role '{reader}' lacks DELETE on "
        f"metrics, runs, suite_runs; INSERT on metrics, runs, suite_runs (bnnbench run needs "
        "SELECT, INSERT, DELETE on its tables; show and report need only SELECT)"
    )
    other = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}").rsplit("/", 1)[1]
    pg_server.execute(f"ALTER DATABASE {other} OWNER TO postgres")
    with pytest.raises(BnnBenchError, match="permission denied for schema public$"):
        Store(pg_server.url(other, user=reader))


# ---------------------------------------------------------------------- the suite lock
def test_a_second_holder_of_the_suite_lock_is_refused_naming_the_holder(pg_url: str) -> None:
    holder_url = pg_url + "?application_name=lock-holder"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, holder_url, "quick"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    store = Store(pg_url)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == "locked", holder.stderr.read() if holder.stderr else ""
        with pytest.raises(SuiteBusy) as excinfo, store.suite_lock("quick"):
            pytest.fail("a second holder got the lock")
        message = str(excinfo.value)
        assert "\n" not in message
        key = _advisory_key("quick")
        prefix = f"suite 'quick' is already running against store {hidden(pg_url)} "
        assert message.startswith(prefix + f"(advisory lock {key} held by another session, ")
        assert message.endswith("; wait for it to finish, or stop it")
        assert_no_password(message)
        pid = int(re.search(r"backend pid (\d+)", message).group(1))  # type: ignore[union-attr]
        who = f"SELECT application_name FROM pg_stat_activity WHERE pid = {pid}"
        assert rows(pg_url, who) == [("lock-holder",)]
        with store.suite_lock("other"):  # another suite of the same store is not blocked
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    # the server drops a dead client's session, and its locks, as soon as it notices
    deadline = time.monotonic() + 10
    while True:
        try:
            with store.suite_lock("quick"):
                break
        except SuiteBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    store.close()


def test_new_database_opened_by_many_processes_at_once(pg_url: str) -> None:
    """Two suites starting on one new database both create the tables: serialised by an
    advisory lock, else one fails with 'duplicate key value violates unique constraint'."""
    from benchmark.tune import open_storage

    barrier = threading.Barrier(6)
    errors: list[str] = []

    def open_it(i: int) -> None:
        barrier.wait()
        try:
            if i % 2:
                Store(pg_url).close()
            else:
                open_storage(pg_url).engine.dispose()
        except BnnBenchError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=open_it, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert rows(pg_url, "SELECT value FROM bnnbench_info") == [("1",)]


# ---------------------------------------------------------------------- errors
def test_unreachable_or_refusing_servers_are_one_line_without_the_password(
    pg_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from benchmark.pipeline import load_suite_like
    from benchmark.suite import cells
    from benchmark.tune import delete_studies, open_storage, open_study

    def open_studies(suite: Any, url: str) -> list[Any]:
        return [open_study(suite, cell, open_storage(url), url) for cell in cells(suite)]

    port = re.search(r"@127\.0\.0\.1:(\d+)/", pg_url).group(1)  # type: ignore[union-attr]
    wrong_port = pg_url.replace(f":{port}/", ":9/")
    wrong_password = pg_url.replace(QUOTED_PASSWORD, "nope")
    no_database = pg_url.rsplit("/", 1)[0] + "/nosuchdb"
    suite = load_suite_like(write_suite(tmp_path / "e.yaml", tuning={"trials": 2, "epochs": 1}))
    cases: list[tuple[Callable[[], Any], str, str]] = []
    for url, why in (
        (wrong_port, "Connection refused"),
        (wrong_password, "password authentication failed"),
        (no_database, 'database "nosuchdb" does not exist'),
    ):
        cases += [
            (lambda u=url: Store(u), f"cannot open results store '{hidden(url)}'", why),
            (
                lambda u=url: Store(u, read_only=True),
                f"cannot open results store '{hidden(url)}'",
                why,
            ),
            (
                lambda u=url: open_studies(suite, u),
                f"tuning: cannot open tuning studies in results store '{hidden(url)}'",
                why,
            ),
            (
                lambda u=url: delete_studies("e", u),
                f"tuning: cannot open tuning studies in results store '{hidden(url)}'",
                why,
            ),
        ]
    for attempt, start, why in cases:
        with pytest.raises(BnnBenchError) as excinfo:
            attempt()
        message = str(excinfo.value)
        assert message.startswith(start) and why in message and "\n" not in message, message
        assert_no_password(message)
    done = cli(capfd, "show", str(tmp_path / "e.yaml"), "--store", wrong_port)
    assert done.returncode == 2
    assert_one_error_line(done.stderr, hidden(wrong_port), "Connection refused")


def test_every_form_of_password_is_hidden(pg_url: str) -> None:
    """Quoted in the URL, unquoted (an '@' in it), or as libpq's ``password=`` parameter."""
    from benchmark.store import display_url

    hostpart = pg_url.split("@", 1)[1]
    in_query = f"postgresql+psycopg://bnnbench@{hostpart}?password={QUOTED_PASSWORD}"
    store = Store(in_query)  # libpq takes it from the query
    assert store.display_url == f"postgresql+psycopg://bnnbench@{hostpart}?password=***"
    store.close()
    for url, shown in (
        (f"postgresql://u:{PASSWORD}@h/x", "postgresql://u:***@h/x"),
        (f"postgresql://u:{PASSWORD}@h:notaport/x", "postgresql://u:***@h:notaport/x"),
        (f"postgresql://u:{QUOTED_PASSWORD}@h/x?sslmode=require", "postgresql://u:***@h/x?sslmode=require"),
        (f"postgresql://u@h/x?sslpassword={PASSWORD}", "postgresql://u@h/x?sslpassword=***"),
        (f"postgresql//u:{PASSWORD}@h/x", "***@h/x"),  # not a URL at all
    ):  # fmt: skip
        assert display_url(url) == shown


def test_a_stopped_server_is_one_line_everywhere(
    private_server: PgServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Store methods and Optuna calls on a server that went away: one line each, password
    hidden (Optuna's own error would say "invalid data in the commit" and hide the cause)."""
    from benchmark.pipeline import load_suite_like
    from benchmark.suite import cells
    from benchmark.tune import ask_round, evaluate_round, open_storage, open_study, tell_round

    url = fresh_database(private_server)
    suite_file = write_suite(tmp_path / "gone.yaml", tuning={"trials": 2, "epochs": 1})
    suite = load_suite_like(suite_file)
    store = Store(url)
    assert store.finished_ids() == set()  # a pooled connection now exists
    cell = cells(suite)[0]
    study = open_study(suite, cell, open_storage(url), url)
    points = ask_round(suite, cell, study, [0, 1], url)
    private_server.stop()
    attempts: list[tuple[Callable[[], Any], str]] = [
        (store.finished_ids, f"cannot read runs from results store '{hidden(url)}'"),
        (lambda: store.delete_suite("gone"), "cannot delete suite 'gone' from results store"),
        (lambda: Store(url), f"cannot open results store '{hidden(url)}'"),
        (
            lambda: tell_round(study, evaluate_round(suite, cell, points, {}), url),
            f"tuning: cannot tell tuning trials to results store '{hidden(url)}'",
        ),
    ]
    for attempt, start in attempts:
        with pytest.raises(BnnBenchError) as excinfo:
            attempt()
        message = str(excinfo.value)
        assert message.startswith(start) and "\n" not in message, message
        assert "Connection refused" in message, message  # pre-ping: the real cause
        assert_no_password(message)
    done = cli(capfd, "run", str(suite_file), "--store", url, "--no-report", "--quiet",
               "--results-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 2
    assert_one_error_line(done.stderr, f"cannot open results store '{hidden(url)}'")
    private_server.start()  # a connection pool outlives a restart: pre-ping reconnects
    assert store.finished_ids() == set()
    store.close()


def _kill_suite(path: Path) -> Path:
    """Four runs (two tuning trials, two final runs) of about a second each."""
    return write_suite(
        path,
        optimizers=["adam"],
        reference="adam",
        epochs=100,
        tuning={"trials": 2, "epochs": 100},
    )


@pytest.mark.slow
def test_killing_the_server_mid_suite_is_one_error_and_the_rerun_duplicates_nothing(
    private_server: PgServer, tmp_path: Path
) -> None:
    """``pg_ctl stop -m immediate`` (a crash: no shutdown checkpoint) while a tuning trial
    trains: its write fails, the command exits 2 with one line; after a restart (crash
    recovery) the rerun keeps the trial stored before, runs the rest, and every run, link,
    metric row and Optuna trial exists exactly once."""
    from benchmark.pipeline import load_suite_like
    from benchmark.suite import cell_search_space, cells
    from benchmark.tune import qmc_points, trial_run_specs

    url = fresh_database(private_server)
    suite_file = _kill_suite(tmp_path / "killed.yaml")
    command = [sys.executable, "-m", "benchmark.cli", "run", str(suite_file), "--store", url,
               "--workers", "1", "--no-report", "--results-dir", str(tmp_path)]  # fmt: skip
    stdout_file = tmp_path / "stdout"
    with stdout_file.open("w") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
    lines: queue.Queue[str] = queue.Queue()
    stderr: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line)
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while True:  # the first per-run line: one trial is stored, the next one is training
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None and time.monotonic() < deadline, "".join(stderr)
                continue
            if re.search(r"completed\s+mlp/synthetic/adam/", line):
                break
        private_server.stop()
        stopped = time.monotonic()
        proc.wait(timeout=120)
        print(f"\nserver stopped: bnnbench exited {time.monotonic() - stopped:.2f} s later")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    err = "".join(stderr)
    assert proc.returncode == 2, err[-3000:]
    message = assert_one_error_line(err, f"results store '{hidden(url)}'")
    assert "cannot write run " in message or "tuning:" in message, message
    print(message)
    assert_no_password(stdout_file.read_text(), "stdout")

    private_server.start()  # crash recovery, then the rerun finishes the suite
    before = rows(url, "SELECT run_id, stored_at FROM runs")
    assert len(before) == 1  # the trial whose line we saw; the next one's write failed
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_no_password(done.stdout + done.stderr)
    again = f"SELECT run_id, stored_at FROM runs WHERE run_id = '{before[0][0]}'"
    assert rows(url, again) == before  # kept, not run again

    suite = load_suite_like(suite_file)
    planned = [
        spec.run_id
        for cell in cells(suite)
        for point in qmc_points(cell_search_space(cell), suite.tuning.trials, suite.tuning.seed)
        for spec in trial_run_specs(suite, cell, point, suite.tuning_epochs)
    ]
    store = Store(url, read_only=True)
    final = store.runs_frame("killed", role="final")["run_id"].tolist()
    store.close()
    assert len(planned) == 2 and len(final) == 2
    expected = sorted(planned + final)
    assert sorted(r for (r,) in rows(url, "SELECT run_id FROM runs")) == expected
    assert rows(url, "SELECT count(*), count(DISTINCT run_id) FROM suite_runs") == [(4, 4)]
    dup = "SELECT count(*) FROM metrics GROUP BY run_id, step, split, name HAVING count(*) > 1"
    assert rows(url, dup) == []
    assert rows(url, "SELECT count(DISTINCT run_id) FROM metrics") == [(4,)]
    trials = rows(
        url,
        "SELECT t.number, t.state, a.value_json FROM trials t "
        "JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'run_ids' "
        "ORDER BY t.number",
    )
    assert [(n, s) for n, s, _ in trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
    assert [json.loads(v) for *_, v in trials] == [[run_id] for run_id in planned]
