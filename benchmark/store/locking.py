"""The per-suite run lock behind :meth:`benchmark.store.Store.suite_lock` (which documents
what it guarantees): :func:`hold` picks the mechanism, ``flock`` on a file beside a SQLite
database (:func:`file_lock`) or a PostgreSQL session advisory lock (:func:`advisory_lock`),
and raises :class:`SuiteBusy` at once when another process holds it.
:func:`creating_tables` also makes processes that open a new database at once create its
tables one after the other (an advisory lock, or ``flock`` on a SQLite database's folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.errors import BnnBenchError, SuiteBusy
from benchmark.store.errors import guard

if TYPE_CHECKING:  # SQLAlchemy is imported where a database lock is taken: a rerun with
    # nothing to do locks a SQLite store's suite by flock alone (benchmark/rerun.py)
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

try:
    import fcntl
except ImportError:  # Windows: no flock, so suite_lock does not lock there (docs/results.md)
    fcntl = None  # type: ignore[assignment]


def lock_file(database: Path, suite: str) -> Path:
    """The file :func:`file_lock` locks for ``suite`` beside the SQLite file ``database``,
    named after the suite (characters unsafe in file names replaced, plus a short hash of
    the name when any were, so that two suites never share a file)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", suite)[:64]
    if safe != suite:
        safe += "-" + hashlib.sha256(suite.encode()).hexdigest()[:8]
    return database.with_name(f"{database.name}.{safe}.lock")


@contextmanager
def hold(suite: str, engine: Engine, database: Path | None, display: str) -> Iterator[None]:
    """Hold the run lock of ``suite`` in the store ``display`` (opened for writing as
    ``engine``; ``database`` its SQLite file, if any) for the ``with`` body."""
    if engine.url.get_backend_name() == "postgresql":
        with advisory_lock(suite, engine, display):
            yield
    elif database is not None and fcntl is not None:
        with file_lock(suite, lock_file(database, suite), display):
            yield
    else:
        yield


def busy(suite: str, display: str, held: str) -> SuiteBusy:
    """The error for a ``suite`` already running against the store ``display``."""
    return SuiteBusy(
        f"suite '{suite}' is already running against store {display} ({held}); "
        "wait for it to finish, or stop it"
    )


@contextmanager
def file_lock(suite: str, path: Path, display: str) -> Iterator[None]:
    """``flock`` on ``path`` (holder's pid and host written into it for the message).

    The file is never deleted: deleting a flock file lets a third process lock a new file of
    the same name while the second still holds the old one. Processes forked inside the
    body inherit the descriptor: if the holder is killed, the lock stays until they exit too
    (they are still running the suite).
    """
    assert fcntl is not None
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
        raise busy(suite, display, f"lock {path} held by {who}") from None
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


def advisory_key(suite: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for ``suite`` (prefixed so that it cannot
    collide with keys other software derives from the bare name)."""
    return _key(f"bnnbench suite lock:{suite}")


def _key(text: str) -> int:
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: the advisory-lock key that serialises creating tables (:func:`creating_tables`)
SCHEMA_KEY = _key("bnnbench create tables")


@contextmanager
def creating_tables(engine: Engine) -> Iterator[None]:
    """Make processes that open a new store at once create its tables (bnnbench's, or
    Optuna's) one after the other, for the ``with`` body: without it, both find a table
    missing, both create it, and one fails (PostgreSQL: ``duplicate key value violates
    unique constraint "pg_type_typname_nsp_index"``; SQLite: ``table study_directions
    already exists``, ``table alembic_version already exists``: SQLite serialises each
    statement, not Optuna's check-then-create).

    PostgreSQL: a session advisory lock (key :data:`SCHEMA_KEY`), waited for. A SQLite file:
    ``flock`` on the *folder* holding it, waited for (creating tables takes milliseconds, so
    serialising every store of one folder costs nothing). Not on the database file: closing
    any descriptor of it would drop the POSIX record locks sqlite holds on it in this
    process (a later read then failed with "disk I/O error"); and not on a file of its own,
    which would be left beside every store. Other backends, in-memory SQLite, no ``flock``
    (Windows, a file system without locks): no lock. Database errors
    propagate: the caller's error guard turns them into one line."""
    from benchmark.store.sqlite import sqlite_file

    backend = engine.url.get_backend_name()
    database = sqlite_file(engine.url) if backend == "sqlite" else None
    if backend == "postgresql":
        import sqlalchemy as sa
        from sqlalchemy.exc import DBAPIError

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": SCHEMA_KEY})
            try:
                yield
            finally:
                # connection lost: the server dropped the session's locks with it
                with suppress(DBAPIError):
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEMA_KEY})
    elif database is not None and fcntl is not None:
        fd = _locked(database.parent)
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)  # releases the flock
    else:
        yield


def _locked(folder: Path) -> int | None:
    """An open descriptor of ``folder`` holding an exclusive ``flock`` (waited for); None when
    the folder cannot be opened or locked (then the tables are created without the lock)."""
    assert fcntl is not None
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextmanager
def advisory_lock(suite: str, engine: Engine, display: str) -> Iterator[None]:
    """A PostgreSQL session advisory lock (``pg_try_advisory_lock``, key
    :func:`advisory_key`) on a connection of ``engine`` held open for the ``with`` body."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    key = advisory_key(suite)
    doing = f"lock suite '{suite}' in"
    with guard(display, doing):
        # autocommit: a session lock, without keeping a transaction open for hours
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    locked = False
    try:
        with guard(display, doing):
            locked = bool(
                conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            )
        if not locked:
            holder = _advisory_holder(conn, key)
            who = f", backend pid {holder}" if holder is not None else ""
            raise busy(suite, display, f"advisory lock {key} held by another session{who}")
        yield
    finally:
        try:
            if locked:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        except DBAPIError:
            pass  # connection lost: the server dropped the session's locks with it
        finally:
            conn.close()


def _advisory_holder(conn: sa.Connection, key: int) -> int | None:
    """The server pid holding advisory lock ``key`` (pg_locks splits a bigint key into
    classid = high 32 bits, objid = low 32 bits, objsubid = 1), best effort."""
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

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
