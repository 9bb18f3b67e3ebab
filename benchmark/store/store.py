"""The :class:`Store` class: opening a results database, writing runs, reading frames.

It composes the package's other modules (:mod:`~benchmark.store.schema` for the tables,
:mod:`~benchmark.store.errors` for one-line errors, :mod:`~benchmark.store.sqlite` for
SQLite's opening rules, :mod:`~benchmark.store.locking` for the run lock) and holds no
database knowledge of its own beyond the queries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from benchmark.errors import BnnBenchError, StoreMissing
from benchmark.frames import METRIC_COLUMNS, RUN_COLUMNS, run_row
from benchmark.records import RunRecord
from benchmark.store import locking
from benchmark.store.errors import display_url, guard, line, mask
from benchmark.store.layout import not_a_store
from benchmark.store.postgres import check_writer, server_options
from benchmark.store.schema import (
    FINAL_STATUSES,
    SCHEMA_TABLES,
    SCHEMA_VERSION,
    StoreDamage,
    check_schema_version,
    info_table,
    loads,
    metadata_obj,
    metric_values,
    metrics_table,
    run_values,
    runs_table,
    schema_problem,
    suite_runs_table,
)
from benchmark.store.sqlite import (
    quick_check,
    read_only_engine,
    sqlite_engine,
    sqlite_file,
    sqlite_pragmas,
)


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
                f"store URL '{self.display_url}' is not a database URL: {mask(line(exc))}"
            ) from None
        self._path = sqlite_file(self._parsed)
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
                    f"cannot open results store '{self.display_url}': {line(exc)}"
                ) from None
            connect_args["timeout"] = 60
            self._check_writable()
            if self._path.is_file() and self._path.stat().st_size > 0:
                # before anything (even the journal-mode pragma) touches a file that may be damaged
                check = sqlite_engine(self._parsed, self._path, mode="rw")
                try:
                    with self._guard("open", opening=True), check.connect() as conn:
                        quick_check(conn, self.display_url, self._path)
                        self._check_content(conn)  # before WAL mode changes the header
                finally:
                    check.dispose()
        options = server_options(self._parsed)
        connect_args.update(options.pop("connect_args", {}))
        with self._guard("open", opening=True):
            engine = sa.create_engine(self._parsed, connect_args=connect_args, **options)
            if self._parsed.get_backend_name() == "sqlite":
                sa.event.listen(engine, "connect", sqlite_pragmas)
            with locking.creating_tables(engine):
                if self._path is None:
                    with engine.connect() as conn:
                        self._check_content(conn)
                metadata_obj.create_all(engine)
                with engine.begin() as conn:
                    if check_schema_version(conn, self.display_url) is None:
                        conn.execute(
                            info_table.insert().values(
                                key="schema_version", value=str(SCHEMA_VERSION)
                            )
                        )
                    if self._parsed.get_backend_name() == "postgresql":
                        check_writer(conn, sorted(SCHEMA_TABLES), self.display_url)
        return engine

    def _open_read_only(self) -> Engine:
        backend = self._parsed.get_backend_name()
        if self._path is not None:
            if not self._path.exists():
                raise StoreMissing(
                    f"no results store at {self._path} (nothing has been run for this suite yet?)"
                )
            with self._guard("open", opening=True):
                self.engine, self._immutable = read_only_engine(
                    self._parsed, self._path, self.display_url
                )
        else:
            execution: dict[str, Any] = {}
            if backend == "postgresql":
                # every transaction READ ONLY, enforced by the server (and no create_all)
                execution["postgresql_readonly"] = True
            with self._guard("open", opening=True):
                self.engine = sa.create_engine(
                    self._parsed, execution_options=execution, **server_options(self._parsed)
                )
        with self._connection("open", opening=True) as conn:
            if self._path is not None:
                quick_check(conn, self.display_url, self._path)
            self._check_content(conn)
            tables = set(sa.inspect(conn).get_table_names())
            self._schema_present = tables >= SCHEMA_TABLES
            if info_table.name in tables:
                check_schema_version(conn, self.display_url)
        return self.engine

    def _check_writable(self) -> None:
        """An existing SQLite file this process cannot write, or whose folder it cannot write
        (sqlite creates the -wal/-shm files there), is refused at opening: before, it was
        found at the first write, after a run had trained."""
        assert self._path is not None
        if not self._path.exists():
            return
        for path, what in ((self._path, "the file"), (self._path.parent, "its folder")):
            if not os.access(path, os.W_OK):
                raise BnnBenchError(
                    f"cannot open results store '{self.display_url}' for writing: {what} "
                    f"{path} is not writable by this user; run as its owner, or use another "
                    "store (--store); show and report only read it"
                )

    def _check_content(self, conn: sa.Connection) -> None:
        """Refuse a database whose tables are damaged or not bnnbench's
        (:func:`~benchmark.store.schema.schema_problem`), before anything is written."""
        if problem := schema_problem(conn):
            raise self._damaged(problem)

    def _damaged(self, problem: str) -> BnnBenchError:
        return not_a_store(self.display_url, problem)

    def _loads(self, text: str | None, run_id: str, column: str) -> Any:
        try:
            return loads(text, run_id, column)
        except StoreDamage as exc:
            raise self._damaged(str(exc)) from None

    # ------------------------------------------------------------------ connections
    def _guard(self, doing: str, opening: bool = False) -> AbstractContextManager[None]:
        """Database errors -> one line naming this store (:func:`benchmark.store.errors.guard`)."""
        return guard(self.display_url, doing, path=self._path, opening=opening)

    @contextmanager
    def _connection(self, doing: str, opening: bool = False) -> Iterator[sa.Connection]:
        """A connection for reading, inside the error guard (a read-only engine's connections
        tidy after themselves: :func:`benchmark.store.sqlite.tidying_connection`)."""
        with self._guard(doing, opening), self.engine.connect() as conn:
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
        return None if self._path is None else locking.lock_file(self._path, suite)

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
        with locking.hold(suite, self.engine, self._path, self.display_url):
            yield

    # ------------------------------------------------------------------ writing
    def write(self, record: RunRecord, suite: str | None = None, role: str = "final") -> None:
        """Store ``record`` (replacing any earlier version of the same run) in one transaction."""
        row, metric_rows = run_values(record), metric_values(record)
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
            # IN lists of at most CHUNK ids: PostgreSQL takes at most 65,535 bind parameters
            still_used: set[str] = set()
            for chunk in _chunks(ids):
                still_used |= set(
                    conn.execute(
                        sa.select(suite_runs_table.c.run_id).where(
                            suite_runs_table.c.run_id.in_(chunk)
                        )
                    ).scalars()
                )
            orphans = [r for r in ids if r not in still_used]
            for chunk in _chunks(orphans):
                conn.execute(metrics_table.delete().where(metrics_table.c.run_id.in_(chunk)))
                conn.execute(runs_table.delete().where(runs_table.c.run_id.in_(chunk)))
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
                    out[run_id] = (status, self._loads(summary, run_id, "summary"))
        return out

    def read_points(self, study: str) -> dict[int, dict[str, Any]]:
        """``number -> point`` of the Optuna study ``study`` stored here
        (:func:`benchmark.tune.studies.read_points`; empty without it)."""
        from benchmark.tune.studies import read_points

        return read_points(self.engine, study)

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
            run_id = r["run_id"]
            fields["environment"] = self._loads(r["environment"], run_id, "environment")
            spec = self._loads(r["spec"], run_id, "spec")
            summary = self._loads(r["summary"], run_id, "summary")
            records.append(run_row(run_id, r["task"], r["status"], spec, summary, **fields))
        if not records:
            return pd.DataFrame(columns=list(RUN_COLUMNS))
        return pd.DataFrame(records)

    def run_states(self, suite: str) -> list[tuple[str, str, float | None]]:
        """``(run_id, status, finished_at)`` of every run linked to ``suite`` (any role), by
        run id: what a report depends on (benchmark/report_stamp.py). No JSON is parsed."""
        query = (
            sa.select(runs_table.c.run_id, runs_table.c.status, runs_table.c.finished_at)
            .join(suite_runs_table, suite_runs_table.c.run_id == runs_table.c.run_id)
            .where(suite_runs_table.c.suite == suite)
            .distinct()
            .order_by(runs_table.c.run_id)
        )
        with self._connection("read runs from") as conn:
            if not self._has_schema(conn):
                return []
            return [(r[0], r[1], r[2]) for r in conn.execute(query).all()]

    def role_counts(self, suite: str) -> dict[str, int]:
        """How many runs are linked to ``suite`` in each role (``tuning``, ``final``,
        ``defaults``; roles without runs are absent)."""
        query = (
            sa.select(suite_runs_table.c.role, sa.func.count())
            .join(runs_table, suite_runs_table.c.run_id == runs_table.c.run_id)
            .where(suite_runs_table.c.suite == suite)
            .group_by(suite_runs_table.c.role)
        )
        with self._connection("read runs from") as conn:
            if not self._has_schema(conn):
                return {}
            return {str(role): int(n) for role, n in conn.execute(query).all()}

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


#: ids per IN list of a query (PostgreSQL binds at most 65,535 parameters per statement)
CHUNK = 500


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
