"""SQLite specifics: which file a URL names, opening it without creating or changing it,
the integrity check, the -wal/-shm tidy-up after a read-only read, and the writer's pragmas.

Read-only opening (docs/results.md, "Read-only opening changes nothing") goes through a
SQLite URI (``file:PATH?mode=ro``), falling back to ``immutable=1`` only where ``mode=ro``
cannot work; the engines use NullPool so that every connection closes when the
:class:`~benchmark.store.Store` method that opened it returns.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from benchmark.errors import BnnBenchError
from benchmark.store.errors import damaged, line, sqlite_errorname

if TYPE_CHECKING:  # SQLAlchemy is imported where it is used: show's read needs none of it
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Engine


def sqlite_file(url: URL) -> Path | None:
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


def sqlite_uri(url: URL, path: Path, **params: str) -> URL:
    """``url`` rewritten as a SQLite URI (``file:PATH?mode=...``) so that ``mode=ro`` and
    ``immutable=1`` apply; the path is absolute and percent-quoted (``?``, ``#``, ``%`` in
    folder names would otherwise be read as URI syntax)."""
    query = {k: v for k, v in url.query.items() if k not in ("uri", "mode", "immutable")}
    query.update(params, uri="true")
    return url.set(database="file:" + quote(os.path.abspath(path)), query=query)


def sidecars(path: Path) -> tuple[Path, Path]:
    """The -wal and -shm files of the database ``path``."""
    return Path(f"{path}-wal"), Path(f"{path}-shm")


def sqlite_engine(
    url: URL, path: Path, factory: type[sqlite3.Connection] | None = None, **uri_params: str
) -> Engine:
    """An engine on the SQLite file ``path`` through a URI (``mode=ro``/``rw``: never creates it).

    NullPool: each method's connection is closed when the method returns, which is what
    lets a read-only store tidy the -wal/-shm files its read made (``factory``: the
    connection class, :func:`tidying_connection`)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    connect_args: dict[str, Any] = {"timeout": 60}
    if factory is not None:
        connect_args["factory"] = factory
    return sa.create_engine(
        sqlite_uri(url, path, **uri_params), connect_args=connect_args, poolclass=NullPool
    )


def tidying_connection(path: Path) -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` class for read-only connections to ``path`` that, once
    closed, removes the -wal/-shm files the connection made (:func:`tidy_sidecars`' rule).

    Every connection of a read-only engine tidies after itself, whoever opens it: the
    store's methods, and SQL that reads through the engine directly (the tuning points of
    ``show`` / ``report`` / ``load_results``, :func:`benchmark.tune.read_points`)."""

    class TidyingConnection(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._bnnbench_tidy = not any(p.exists() for p in sidecars(path))
            super().__init__(*args, **kwargs)

        def close(self) -> None:
            super().close()
            if self._bnnbench_tidy and any(p.exists() for p in sidecars(path)):
                _remove_sidecars(path)

    return TidyingConnection


def read_only_engine(url: URL, path: Path, display: str) -> tuple[Engine, bool]:
    """An engine reading ``path`` (the store ``display``), and whether it is ``immutable=1``.

    ``mode=ro`` where this process may write the database file, ``immutable=1`` where it may
    not and no -shm file exists. Reading a WAL-mode database through ``mode=ro`` needs its
    -shm file, which sqlite creates beside the database when the folder is writable, owned
    by the reader and with the database's permission bits. A reader who can write the
    database removes it again after each read (:func:`tidying_connection`). One who cannot
    (another user's results in a group-writable folder) could not: the file would stay, and
    the owner's next write would fail on it ("attempt to write a readonly database"). No
    -shm means no process has the database open, so ``immutable=1`` (no locks, no files)
    reads it as it is; it is not the default because it ignores a writer that starts later
    (only someone who can write the database): a read overlapping that writer's checkpoint
    could see old and new pages mixed. NullPool keeps that window to one method call. With a
    -shm present (a writer is running), ``mode=ro`` uses it and creates nothing.
    """
    from sqlalchemy.exc import DBAPIError

    wal, shm = sidecars(path)
    if os.access(path, os.W_OK) or shm.exists():
        engine = sqlite_engine(url, path, tidying_connection(path), mode="ro")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
            return engine, False
        except DBAPIError as exc:
            cannot_share = sqlite_errorname(exc).startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
            if not cannot_share or shm.exists():
                raise
        engine.dispose()
    check_no_pending_log(path, display)
    return sqlite_engine(url, path, mode="ro", immutable="1"), True


def check_no_pending_log(path: Path, display: str) -> None:
    """Before reading ``path`` with ``immutable=1``: refuse when its -wal file holds writes
    (immutable would silently skip the runs that are only in the log)."""
    wal, _ = sidecars(path)
    if wal.exists() and wal.stat().st_size > 0:
        raise BnnBenchError(
            f"cannot open results store '{display}' read-only: {wal} holds writes "
            f"not yet copied into the database and this user cannot write {path}; "
            "open it once with write access (e.g. bnnbench show as its owner), then retry"
        )


def quick_check(conn: sa.Connection, display: str, path: Path | None) -> None:
    """``PRAGMA quick_check(1)``: every page's b-tree structure, stopping at the first
    problem (cost linear in the file size; docs/results.md gives a measurement); a problem
    raises the damaged-store error for ``display`` (the file ``path``).

    quick_check rather than integrity_check: it finds what garbage in a page causes
    (broken b-tree pages, cell pointers, free list) at a quarter of the cost, skipping
    only the cross-check of index entries against their rows."""
    rows = [str(r) for r in conn.exec_driver_sql("PRAGMA quick_check(1)").scalars()]
    if rows != ["ok"]:
        problem = rows[0].replace("*** in database main ***", "") if rows else "no answer"
        raise damaged(display, path, line(problem, 120))


@contextmanager
def tidy_sidecars(path: Path | None) -> Iterator[None]:
    """Remove the -wal/-shm files a read-only connection to ``path`` created, once it is
    closed; ``path`` is None where there is nothing to tidy (a store opened for writing, an
    ``immutable=1`` one, no SQLite file).

    A ``mode=ro`` connection to a WAL database creates them when the folder is writable,
    but cannot delete them on close (that needs write access to the database). If they
    did not exist before, a short read-write connection is opened and closed: sqlite
    then checkpoints (there is nothing to copy: we wrote nothing) and deletes them, but
    only if it is the last connection, so a writer that started meanwhile keeps them.
    The database file itself is not written.
    """
    tidy = path is not None and not any(p.exists() for p in sidecars(path))
    try:
        yield
    finally:
        if tidy and path is not None and any(p.exists() for p in sidecars(path)):
            _remove_sidecars(path)


def _remove_sidecars(path: Path) -> None:
    if not os.access(path, os.W_OK):
        return  # sqlite could not delete them either; they are harmless (docs/results.md)
    uri = "file:" + quote(os.path.abspath(path)) + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=1)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # best effort: the files stay, exactly as after a crashed reader


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Connection settings of a store opened for writing (never of a read-only one: setting
    WAL mode writes the file header, and a reader must not change the database)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
