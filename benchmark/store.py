"""The results database: runs, their tidy metrics, and which suites use them.

SQLAlchemy Core over any URL it supports: SQLite by default
(``sqlite:///results/<suite>/bnnbench.db``), PostgreSQL to scale out. The schema
(docs/results.md states it for users):

- ``runs``: one row per run id (a hash of the run's spec): task, status, the spec as JSON,
  timings, summary values, the environment (versions, CPU/GPU, host, git commit).
- ``metrics``: one row per ``(run_id, step, split, name)`` with ``epoch`` and ``value``.
- ``suite_runs``: which suite asked for which run (a run shared by two suites is stored once).

Writes are idempotent per run id: :meth:`Store.write` replaces a run and its metrics in one
transaction, so a kill at any moment leaves either the old state or the new one, never half.
``report`` reads only this database, so reports can be rebuilt at any time.

Reliability (docs/results.md, "Integrity, read-only access and locking"):

- an existing SQLite file is checked with ``PRAGMA quick_check`` when opened, so a damaged
  file is refused with one line instead of being read silently (wrong numbers in a report
  are worse than no report);
- every database error a :class:`Store` method meets becomes a one-line
  :class:`BnnBenchError` naming the store (never its password), not a SQLAlchemy traceback;
- ``Store(url, read_only=True)`` (``show``, ``report``) creates and changes nothing;
- :meth:`Store.suite_lock` keeps two ``bnnbench run`` of one suite from training at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from benchmark.environment import capture_environment
from benchmark.errors import BnnBenchError, StoreMissing, SuiteBusy
from benchmark.frames import METRIC_COLUMNS, RUN_COLUMNS, run_row
from benchmark.records import RunRecord

try:
    import fcntl
except ImportError:  # Windows: no flock, so suite_lock does not lock there (docs/results.md)
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
#: statuses that are final results: a resumed suite does not rerun them
FINAL_STATUSES: tuple[str, ...] = ("completed", "diverged")
#: the tables a store must have before it holds anything (read-only stores without them are empty)
SCHEMA_TABLES = frozenset({"runs", "metrics", "suite_runs"})

metadata_obj = sa.MetaData()

runs_table = sa.Table(
    "runs",
    metadata_obj,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("label", sa.String(256), nullable=False, default=""),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, default="{}"),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("train_seconds", sa.Float),
    sa.Column("eval_seconds", sa.Float),
    sa.Column("steps", sa.Integer),
    sa.Column("message", sa.Text, default=""),
    sa.Column("environment", sa.Text, nullable=False, default="{}"),
    sa.Column("stored_at", sa.Float),
)

metrics_table = sa.Table(
    "metrics",
    metadata_obj,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("epoch", sa.Float, nullable=False),
    sa.Column("split", sa.String(16), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("value", sa.Float),
)

suite_runs_table = sa.Table(
    "suite_runs",
    metadata_obj,
    sa.Column("suite", sa.String(128), primary_key=True),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False, default="final"),
)

info_table = sa.Table(
    "bnnbench_info",
    metadata_obj,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text),
)

# ``scheme://user:secret@`` in text that is not a parseable URL (so render_as_string cannot help)
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@]*@")


def _mask(text: str) -> str:
    return _PASSWORD_IN_URL.sub(r"\1***@", text)


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: safe for messages, logs and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _mask(url)


def _line(text: str, limit: int = 200) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters: driver messages
    can span lines (quick_check's do), and the CLI promises one-line errors."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _one_line(exc: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's, which appends the SQL), first line only."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return _line(text.splitlines()[0] if text else type(exc).__name__)


def _sqlite_errorname(exc: BaseException) -> str:
    return str(getattr(getattr(exc, "orig", None) or exc, "sqlite_errorname", "") or "")


def _damage(exc: BaseException) -> str | None:
    """sqlite's message when ``exc`` says the file is damaged or not a database, else None.

    Only SQLITE_CORRUPT and SQLITE_NOTADB count: "locked" or "unable to open" are not damage,
    and telling a user to move a healthy store aside would be harmful advice.
    """
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.Error):
        return None
    name = _sqlite_errorname(exc)
    text = str(orig)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or (
        not name and ("malformed" in text or "not a database" in text)
    ):
        return _line(text, 120)
    return None


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for other backends and for in-memory databases."""
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if str(url.query.get("uri", "")).lower() in ("true", "1"):
        if url.query.get("mode") == "memory":
            return None
        if name.startswith("file:"):
            name = unquote(name[len("file:") :])
            if name.startswith("//"):  # file://host/path: sqlite accepts only "" and localhost
                name = "/" + name[2:].partition("/")[2]
    if name in ("", ":memory:"):
        return None
    return Path(name)


def _sqlite_uri(url: URL, path: Path, **params: str) -> URL:
    """``url`` rewritten as a SQLite URI (``file:PATH?mode=...``) so that ``mode=ro`` and
    ``immutable=1`` apply; the path is absolute and percent-quoted (``?``, ``#``, ``%`` in
    folder names would otherwise be read as URI syntax)."""
    query = {k: v for k, v in url.query.items() if k not in ("uri", "mode", "immutable")}
    query.update(params, uri="true")
    return url.set(database="file:" + quote(os.path.abspath(path)), query=query)


def _sidecars(path: Path) -> tuple[Path, Path]:
    return Path(f"{path}-wal"), Path(f"{path}-shm")


def _advisory_key(suite: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for ``suite`` (prefixed so that it cannot
    collide with keys other software derives from the bare name)."""
    digest = hashlib.sha256(f"bnnbench suite lock:{suite}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    return str(value)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default)


class Store:
    """A results database at ``url``.

    Opened for writing (the default), it creates the file, its folder and the schema on first
    use. With ``read_only=True`` (``show``, ``report``) it creates and changes nothing: a
    missing SQLite file raises :class:`StoreMissing`, a file without the tables reads as an
    empty store, and every write raises :class:`BnnBenchError`.

    An existing SQLite file is checked with ``PRAGMA quick_check`` first; a damaged one (or a
    file that is not a database) is refused with one line saying what to do. Every database
    error a method meets becomes a one-line :class:`BnnBenchError` naming
    :attr:`display_url`, instead of a driver traceback.
    """

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        try:
            self._parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise BnnBenchError(
                f"store URL '{self.display_url}' is not a database URL: {_mask(_line(exc))}"
            ) from None
        self._path = _sqlite_file(self._parsed)
        self._immutable = False
        # a store opened for writing creates its tables; a read-only one looks (again) until
        # they exist, so a `show` started before a suite's first write sees its runs later
        self._schema_present = not read_only
        self.engine = self._open_read_only() if read_only else self._open_read_write()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden; the only form messages and output may show."""
        return display_url(self.url)

    # ------------------------------------------------------------------ opening
    def _open_read_write(self) -> Engine:
        connect_args: dict[str, Any] = {}
        if self._path is not None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BnnBenchError(
                    f"cannot open results store '{self.display_url}': {_line(exc)}"
                ) from None
            connect_args["timeout"] = 60
            if self._path.is_file() and self._path.stat().st_size > 0:
                # before anything (even the journal-mode pragma) touches a file that may be damaged
                check = self._sqlite_engine(mode="rw")
                try:
                    with self._guard("open", opening=True), check.connect() as conn:
                        self._quick_check(conn)
                finally:
                    check.dispose()
        elif self._parsed.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = 10
        with self._guard("open", opening=True):
            engine = sa.create_engine(self._parsed, connect_args=connect_args)
            if self._parsed.get_backend_name() == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            metadata_obj.create_all(engine)
            with engine.begin() as conn:
                if self._schema_version(conn) is None:
                    conn.execute(
                        info_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                    )
        return engine

    def _open_read_only(self) -> Engine:
        backend = self._parsed.get_backend_name()
        if self._path is not None:
            if not self._path.exists():
                raise StoreMissing(
                    f"no results store at {self._path} (nothing has been run for this suite yet?)"
                )
            with self._guard("open", opening=True):
                self.engine = self._read_only_sqlite_engine()
        else:
            connect_args: dict[str, Any] = {}
            options: dict[str, Any] = {}
            if backend == "postgresql":
                # every transaction READ ONLY, enforced by the server (and no create_all)
                connect_args["connect_timeout"] = 10
                options["postgresql_readonly"] = True
            with self._guard("open", opening=True):
                self.engine = sa.create_engine(
                    self._parsed, connect_args=connect_args, execution_options=options
                )
        with self._connection("open", opening=True) as conn:
            if self._path is not None:
                self._quick_check(conn)
            tables = set(sa.inspect(conn).get_table_names())
            self._schema_present = tables >= SCHEMA_TABLES
            if info_table.name in tables:
                self._schema_version(conn)
        return self.engine

    def _sqlite_engine(self, **uri_params: str) -> Engine:
        """An engine on the SQLite file through a URI (``mode=ro``/``rw``: never creates it).

        NullPool: each method's connection is closed when the method returns, which is what
        lets a read-only store tidy the -wal/-shm files its read made (see _connection).
        """
        assert self._path is not None
        url = _sqlite_uri(self._parsed, self._path, **uri_params)
        return sa.create_engine(url, connect_args={"timeout": 60}, poolclass=NullPool)

    def _read_only_sqlite_engine(self) -> Engine:
        """``mode=ro``; ``immutable=1`` only where ``mode=ro`` cannot work.

        Reading a WAL-mode database needs its -shm file, which sqlite creates beside the
        database. In a folder the user cannot write (a read-only share, another user's
        results) with no -shm there, ``mode=ro`` fails; no -shm also means no process has the
        database open, so ``immutable=1`` (no locks, no -shm) reads it as it is. It is the
        fallback, not the default, because immutable ignores a writer that starts later (here
        only someone who can write the folder): a read overlapping that writer's checkpoint
        could see old and new pages mixed. NullPool keeps that window to one method call.
        """
        assert self._path is not None
        engine = self._sqlite_engine(mode="ro")
        wal, shm = _sidecars(self._path)
        try:
            with self._sidecar_tidy(), engine.connect() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
            return engine
        except DBAPIError as exc:
            cannot_share = _sqlite_errorname(exc).startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
            if not cannot_share or shm.exists():
                raise
        engine.dispose()
        if wal.exists() and wal.stat().st_size > 0:
            # immutable would silently skip the runs that are only in the log
            raise BnnBenchError(
                f"cannot open results store '{self.display_url}' read-only: {wal} holds writes "
                f"not yet copied into the database and {self._path.parent} is not writable; "
                "open it once with write access (e.g. bnnbench show as its owner), then retry"
            )
        self._immutable = True
        return self._sqlite_engine(mode="ro", immutable="1")

    def _quick_check(self, conn: sa.Connection) -> None:
        """``PRAGMA quick_check(1)``: every page's b-tree structure, stopping at the first
        problem (cost linear in the file size; docs/results.md gives a measurement).

        quick_check rather than integrity_check: it finds what garbage in a page causes
        (broken b-tree pages, cell pointers, free list) at a quarter of the cost, skipping
        only the cross-check of index entries against their rows."""
        rows = [str(r) for r in conn.exec_driver_sql("PRAGMA quick_check(1)").scalars()]
        if rows != ["ok"]:
            problem = rows[0].replace("*** in database main ***", "") if rows else "no answer"
            raise self._damaged(_line(problem, 120))

    def _schema_version(self, conn: sa.Connection) -> str | None:
        """The stored schema version (None for a new store); refuses another version."""
        found = conn.execute(
            sa.select(info_table.c.value).where(info_table.c.key == "schema_version")
        ).scalar()
        if found is not None and str(found) != str(SCHEMA_VERSION):
            raise BnnBenchError(
                f"store '{self.display_url}' has schema version {found}; this bnnbench writes "
                f"version {SCHEMA_VERSION}"
            )
        return found

    # ------------------------------------------------------------------ errors
    def _damaged(self, problem: str) -> BnnBenchError:
        # the -wal file may hold committed data: whoever tries to salvage the file needs both
        where = f"{self._path} (and its -wal/-shm files if present)" if self._path else "it"
        return BnnBenchError(
            f"results store '{self.display_url}' is damaged (sqlite reports: {problem}); "
            f"move {where} aside and rerun the suite to recompute its runs, or restore a backup"
        )

    @contextmanager
    def _guard(self, doing: str, opening: bool = False) -> Iterator[None]:
        """Turn database errors into one-line :class:`BnnBenchError` naming the store.

        ``doing`` completes "cannot ... results store": "open", "read runs from", ... Damage
        found on the way (SQLITE_CORRUPT, SQLITE_NOTADB) gets the damaged-store message.
        """
        try:
            yield
        except BnnBenchError:
            raise
        except DBAPIError as exc:
            problem = _damage(exc)
            if problem is not None:
                raise self._damaged(problem) from None
            raise BnnBenchError(
                f"cannot {doing} results store '{self.display_url}': {_one_line(exc)}"
            ) from None
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            if not opening:
                raise
            raise BnnBenchError(
                f"cannot {doing} results store '{self.display_url}': no driver for it "
                f"({_line(exc)})"
            ) from None
        except ArgumentError as exc:
            if not opening:
                raise
            raise BnnBenchError(
                f"store URL '{self.display_url}' is not usable: {_one_line(exc)}"
            ) from None

    @contextmanager
    def _sidecar_tidy(self) -> Iterator[None]:
        """Remove the -wal/-shm files a read-only connection created, once it is closed.

        A ``mode=ro`` connection to a WAL database creates them when the folder is writable,
        but cannot delete them on close (that needs write access to the database). If they
        did not exist before, a short read-write connection is opened and closed: sqlite
        then checkpoints (there is nothing to copy: we wrote nothing) and deletes them, but
        only if it is the last connection, so a writer that started meanwhile keeps them.
        The database file itself is not written.
        """
        tidy = False
        if self.read_only and self._path is not None and not self._immutable:
            tidy = not any(p.exists() for p in _sidecars(self._path))
        try:
            yield
        finally:
            if tidy and any(p.exists() for p in _sidecars(self._path)):  # type: ignore[arg-type]
                self._remove_sidecars()

    def _remove_sidecars(self) -> None:
        assert self._path is not None
        if not os.access(self._path, os.W_OK):
            return  # sqlite could not delete them either; they are harmless (docs/results.md)
        uri = "file:" + quote(os.path.abspath(self._path)) + "?mode=rw"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=1)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # best effort: the files stay, exactly as after a crashed reader

    @contextmanager
    def _connection(self, doing: str, opening: bool = False) -> Iterator[sa.Connection]:
        """A connection for reading, inside the error guard (and the read-only tidy-up)."""
        with self._guard(doing, opening), self._sidecar_tidy(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sa.Connection]:
        """A write transaction, inside the error guard; refused on a read-only store."""
        if self.read_only:
            raise BnnBenchError(
                f"cannot {doing} results store '{self.display_url}': it is open read-only"
            )
        with self._guard(doing), self.engine.begin() as conn:
            yield conn

    def _has_schema(self, conn: sa.Connection) -> bool:
        if not self._schema_present:
            self._schema_present = set(sa.inspect(conn).get_table_names()) >= SCHEMA_TABLES
        return self._schema_present

    # ------------------------------------------------------------------ locking
    def lock_file(self, suite: str) -> Path | None:
        """The file :meth:`suite_lock` locks for ``suite``: beside a SQLite database, named
        after the suite (characters unsafe in file names replaced, plus a short hash of the
        name when any were, so that two suites never share a file); None when there is none
        (PostgreSQL, in-memory SQLite)."""
        if self._path is None:
            return None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", suite)[:64]
        if safe != suite:
            safe += "-" + hashlib.sha256(suite.encode()).hexdigest()[:8]
        return self._path.with_name(f"{self._path.name}.{safe}.lock")

    @contextmanager
    def suite_lock(self, suite: str) -> Iterator[None]:
        """Hold the run lock of ``suite`` for the ``with`` body, or raise :class:`SuiteBusy`.

        Two ``bnnbench run`` of one suite at once would train the same runs twice and race
        on ``--fresh``; the second one fails at once instead (never waits: a suite runs for
        hours). The lock is released by the operating system or the database server when
        the holder dies, even by SIGKILL, so a crash never leaves a suite locked:

        - SQLite file: ``flock`` on :meth:`lock_file` (holder's pid and host written into it
          for the message). The file is never deleted: deleting a flock file lets a third
          process lock a new file of the same name while the second still holds the old one.
        - PostgreSQL: a session advisory lock (``pg_try_advisory_lock``, key from a hash of
          the suite name) on a connection held open for the duration.
        - in-memory SQLite, platforms without ``fcntl``, other backends: no lock (an
          in-memory database is private to its process anyway).

        Processes forked inside the body inherit the lock file's descriptor: if the holder is
        killed, the lock stays until they exit too (they are still running the suite).
        """
        if self.read_only:
            raise BnnBenchError(
                f"cannot lock suite '{suite}' in results store '{self.display_url}': "
                "it is open read-only"
            )
        if self._parsed.get_backend_name() == "postgresql":
            with self._advisory_lock(suite):
                yield
        elif self._path is not None and fcntl is not None:
            with self._file_lock(suite):
                yield
        else:
            yield

    def _busy(self, suite: str, held: str) -> SuiteBusy:
        return SuiteBusy(
            f"suite '{suite}' is already running against store {self.display_url} ({held}); "
            "wait for it to finish, or stop it"
        )

    @contextmanager
    def _file_lock(self, suite: str) -> Iterator[None]:
        path = self.lock_file(suite)
        assert path is not None and fcntl is not None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BnnBenchError(
                f"cannot lock suite '{suite}': cannot open lock file {path} ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").split()
            os.close(fd)
            who = "another process"
            if holder and holder[0].isdigit():
                who = f"process {holder[0]}" + (f" on {holder[1]}" if len(holder) > 1 else "")
            raise self._busy(suite, f"lock {path} held by {who}") from None
        except OSError as exc:  # e.g. ENOLCK: a network file system without locks
            os.close(fd)
            raise BnnBenchError(
                f"cannot lock suite '{suite}': lock file {path}: {exc.strerror}"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
            yield
        finally:
            try:
                os.ftruncate(fd, 0)  # a stale pid would mislead whoever reads it next
                fcntl.flock(fd, fcntl.LOCK_UN)  # also for copies of fd in forked children
            finally:
                os.close(fd)

    @contextmanager
    def _advisory_lock(self, suite: str) -> Iterator[None]:
        key = _advisory_key(suite)
        doing = f"lock suite '{suite}' in"
        with self._guard(doing):
            # autocommit: a session lock, without keeping a transaction open for hours
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        locked = False
        try:
            with self._guard(doing):
                locked = bool(
                    conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                )
            if not locked:
                holder = self._advisory_holder(conn, key)
                who = f", backend pid {holder}" if holder is not None else ""
                raise self._busy(suite, f"advisory lock {key} held by another session{who}")
            yield
        finally:
            try:
                if locked:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            except DBAPIError:
                pass  # connection lost: the server dropped the session's locks with it
            finally:
                conn.close()

    @staticmethod
    def _advisory_holder(conn: sa.Connection, key: int) -> int | None:
        """The server pid holding advisory lock ``key`` (pg_locks splits a bigint key into
        classid = high 32 bits, objid = low 32 bits, objsubid = 1), best effort."""
        query = sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
        )
        try:
            found = conn.execute(query, {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF})
            return found.scalar()
        except DBAPIError:
            return None

    # ------------------------------------------------------------------ writing
    def write(self, record: RunRecord, suite: str | None = None, role: str = "final") -> None:
        """Store ``record`` (replacing any earlier version of the same run) in one transaction."""
        row = {
            "run_id": record.run_id,
            "task": record.task,
            "status": record.status,
            "label": str(record.spec.get("label", "")),
            "spec": _dumps(record.spec),
            "summary": _dumps(record.summary),
            "started_at": record.started_at,
            "finished_at": record.finished_at,
            "train_seconds": record.train_seconds,
            "eval_seconds": record.eval_seconds,
            "steps": record.steps,
            "message": record.message,
            "environment": _dumps(capture_environment()),
            "stored_at": time.time(),
        }
        metric_rows = [
            {
                "run_id": record.run_id,
                "step": m.step,
                "epoch": m.epoch,
                "split": m.split,
                "name": m.name,
                "value": m.value if m.value == m.value else None,
            }
            for m in record.metrics
        ]
        with self._transaction(f"write run {record.run_id} to") as conn:
            conn.execute(metrics_table.delete().where(metrics_table.c.run_id == record.run_id))
            conn.execute(runs_table.delete().where(runs_table.c.run_id == record.run_id))
            conn.execute(runs_table.insert(), [row])
            if metric_rows:
                conn.execute(metrics_table.insert(), metric_rows)
            if suite is not None:
                self._link(conn, suite, [record.run_id], role)

    def link(self, suite: str, run_ids: Iterable[str], role: str = "final") -> None:
        """Record that ``suite`` uses ``run_ids`` (already stored, e.g. by another suite)."""
        with self._transaction(f"link runs of suite '{suite}' in") as conn:
            self._link(conn, suite, list(run_ids), role)

    @staticmethod
    def _link(conn: sa.Connection, suite: str, run_ids: list[str], role: str) -> None:
        if not run_ids:
            return
        existing = set(
            conn.execute(
                sa.select(suite_runs_table.c.run_id).where(
                    suite_runs_table.c.suite == suite, suite_runs_table.c.run_id.in_(run_ids)
                )
            ).scalars()
        )
        new = [{"suite": suite, "run_id": r, "role": role} for r in run_ids if r not in existing]
        if new:
            conn.execute(suite_runs_table.insert(), new)

    def delete_suite(self, suite: str) -> int:
        """Forget ``suite``'s runs (for ``--fresh``); runs other suites still use are kept."""
        with self._transaction(f"delete suite '{suite}' from") as conn:
            ids = list(
                conn.execute(
                    sa.select(suite_runs_table.c.run_id).where(suite_runs_table.c.suite == suite)
                ).scalars()
            )
            conn.execute(suite_runs_table.delete().where(suite_runs_table.c.suite == suite))
            still_used = set(
                conn.execute(
                    sa.select(suite_runs_table.c.run_id).where(suite_runs_table.c.run_id.in_(ids))
                ).scalars()
            )
            orphans = [r for r in ids if r not in still_used]
            if orphans:
                conn.execute(metrics_table.delete().where(metrics_table.c.run_id.in_(orphans)))
                conn.execute(runs_table.delete().where(runs_table.c.run_id.in_(orphans)))
        return len(orphans)

    # ------------------------------------------------------------------ reading
    def outcomes(self, run_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, float]]]:
        """``run_id -> (status, summary)`` for the stored runs among ``run_ids``."""
        ids = list(run_ids)
        out: dict[str, tuple[str, dict[str, float]]] = {}
        with self._connection("read runs from") as conn:
            if not self._has_schema(conn):
                return out
            for start in range(0, len(ids), 500):
                query = sa.select(
                    runs_table.c.run_id, runs_table.c.status, runs_table.c.summary
                ).where(runs_table.c.run_id.in_(ids[start : start + 500]))
                for run_id, status, summary in conn.execute(query):
                    out[run_id] = (status, json.loads(summary))
        return out

    def finished_ids(self, run_ids: Iterable[str] | None = None) -> set[str]:
        """Ids of runs with a final status (completed or diverged) among ``run_ids`` (or all)."""
        query = sa.select(runs_table.c.run_id).where(runs_table.c.status.in_(FINAL_STATUSES))
        found: set[str] = set()
        with self._connection("read runs from") as conn:
            if not self._has_schema(conn):
                return found
            if run_ids is None:
                return set(conn.execute(query).scalars())
            ids = list(run_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                found |= set(conn.execute(query.where(runs_table.c.run_id.in_(chunk))).scalars())
        return found

    def runs_frame(
        self, suite: str | None = None, task: str | None = None, role: str | None = None
    ) -> pd.DataFrame:
        """The tidy runs frame (benchmark.frames), optionally for one suite and/or task, and for
        one ``role`` of the suite's runs (``"final"``, ``"tuning"``; needs ``suite``)."""
        query = sa.select(runs_table)
        if suite is not None:
            query = query.join(
                suite_runs_table, suite_runs_table.c.run_id == runs_table.c.run_id
            ).where(suite_runs_table.c.suite == suite)
            if role is not None:
                query = query.where(suite_runs_table.c.role == role)
        if task is not None:
            query = query.where(runs_table.c.task == task)
        query = query.order_by(runs_table.c.run_id)
        rows: list[Any] = []
        with self._connection("read runs from") as conn:
            if self._has_schema(conn):
                rows = list(conn.execute(query).mappings().all())
        records = []
        for r in rows:
            fields = {k: r[k] for k in RUN_COLUMNS if k not in ("run_id", "task", "status")}
            fields["environment"] = json.loads(r["environment"])
            records.append(
                run_row(
                    r["run_id"],
                    r["task"],
                    r["status"],
                    json.loads(r["spec"]),
                    json.loads(r["summary"]),
                    **fields,
                )
            )
        if not records:
            return pd.DataFrame(columns=list(RUN_COLUMNS))
        return pd.DataFrame(records)

    def metrics_frame(
        self, run_ids: Iterable[str] | None = None, names: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """The tidy metrics frame (run_id, step, epoch, split, name, value)."""
        query = sa.select(*[metrics_table.c[c] for c in METRIC_COLUMNS])
        if names is not None:
            query = query.where(metrics_table.c.name.in_(list(names)))
        frames = []
        with self._connection("read metrics from") as conn:
            if not self._has_schema(conn):
                return pd.DataFrame(columns=list(METRIC_COLUMNS))
            if run_ids is None:
                frames.append(pd.DataFrame(conn.execute(query).all(), columns=list(METRIC_COLUMNS)))
            else:
                ids = list(run_ids)
                for start in range(0, len(ids), 500):
                    chunk = query.where(metrics_table.c.run_id.in_(ids[start : start + 500]))
                    frames.append(
                        pd.DataFrame(conn.execute(chunk).all(), columns=list(METRIC_COLUMNS))
                    )
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if frame.empty:
            return pd.DataFrame(columns=list(METRIC_COLUMNS))
        frame["value"] = frame["value"].astype(float)
        return frame.sort_values(["run_id", "step", "split", "name"], ignore_index=True)

    def suites(self) -> list[str]:
        """The names of the suites with runs linked in this store, sorted."""
        with self._connection("read suites from") as conn:
            if not self._has_schema(conn):
                return []
            return sorted(
                set(conn.execute(sa.select(suite_runs_table.c.suite).distinct()).scalars())
            )

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Connection settings of a store opened for writing (never of a read-only one: setting
    WAL mode writes the file header, and a reader must not change the database)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
