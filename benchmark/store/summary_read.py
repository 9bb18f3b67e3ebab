"""``bnnbench show``'s read of a SQLite store: the standard library's sqlite3, no SQLAlchemy,
no pandas (importing those two alone costs about a CPU-second; docs/performance.md).

:class:`SqliteReader` opens a store exactly as a read-only :class:`~benchmark.store.Store`
does, with the same one-line errors: a missing file raises :class:`StoreMissing`; the file
is opened through a SQLite URI with ``mode=ro`` (``immutable=1`` where this user cannot
write it and no writer is running: :func:`benchmark.store.sqlite.read_only_engine`'s rule),
so it never creates or changes a store, and the -wal/-shm files its read made are tidied
(:func:`benchmark.store.sqlite.tidying_connection`); ``PRAGMA quick_check`` refuses a
damaged file, the layout check (:func:`benchmark.store.layout.layout_problem`) a database
that is not bnnbench's, and another schema version is refused. A file without the tables
reads as an empty store.

It reads what ``show`` prints: a suite's runs (:meth:`SqliteReader.suite_runs`: the rows of
:meth:`Store.runs_frame` as dicts), the stored outcomes of runs
(:meth:`SqliteReader.outcomes`) and a tuning study's trial points
(:meth:`SqliteReader.read_points`, Optuna's tables read by SQL as
:func:`benchmark.tune.studies.read_points` reads them), which is what
:func:`benchmark.current.current_runs` needs to rebuild a tuned suite's outcome.

Only plain SQLite file URLs (``sqlite:///PATH`` without a query or percent escapes) are read
here (:func:`plain_sqlite_path`); other URLs (PostgreSQL, SQLite URIs) take the
:class:`~benchmark.store.Store` path.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmark.errors import BnnBenchError, StoreMissing
from benchmark.store.errors import damage, damaged, line, one_line, sqlite_errorname
from benchmark.store.layout import (
    INFO_TABLE,
    SCHEMA_TABLES,
    StoreDamage,
    check_version,
    layout_problem,
    loads,
    not_a_store,
)
from benchmark.store.sqlite import check_no_pending_log, sidecars, tidying_connection

_PLAIN_SQLITE = re.compile(r"sqlite:///([^?#%@]+)")
#: ids per IN list (as :class:`~benchmark.store.Store` reads them)
CHUNK = 500
#: Optuna's tables :meth:`SqliteReader.read_points` reads
STUDY_TABLES = frozenset({"studies", "trials", "trial_params"})


def plain_sqlite_path(url: str) -> Path | None:
    """The file of a plain SQLite URL ``sqlite:///PATH`` (no query, no ``%``, ``#`` or ``@``:
    SQLAlchemy would read those specially), else None (and for ``:memory:``). Such a URL is
    its own display form: it holds no password."""
    match = _PLAIN_SQLITE.fullmatch(url)
    if match is None or match.group(1) == ":memory:":
        return None
    return Path(match.group(1))


class SqliteReader:
    """A read-only view of the SQLite store ``url`` (the file ``path``) for ``show``; one
    connection for the reader's life (:meth:`close` it: that tidies the -wal/-shm files)."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.display_url = url  # a plain SQLite URL holds no password (plain_sqlite_path)
        self.path = path
        if not path.exists():
            raise StoreMissing(
                f"no results store at {path} (nothing has been run for this suite yet?)"
            )
        with self._guard("open"):
            self._conn = self._open()
        try:
            with self._guard("open"):
                self._check()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ opening
    def _connect(self, factory: type[sqlite3.Connection] | None, **params: str) -> Any:
        uri = (
            "file:"
            + quote(os.path.abspath(self.path))
            + "?"
            + "&".join(f"{k}={v}" for k, v in params.items())
        )
        kwargs: dict[str, Any] = {"uri": True, "timeout": 60}
        if factory is not None:
            kwargs["factory"] = factory
        return sqlite3.connect(uri, **kwargs)

    def _open(self) -> Any:
        """:func:`benchmark.store.sqlite.read_only_engine`'s choice: ``mode=ro`` where this
        user may write the file (or a writer runs), else ``immutable=1``."""
        _, shm = sidecars(self.path)
        if os.access(self.path, os.W_OK) or shm.exists():
            conn = None
            try:
                conn = self._connect(tidying_connection(self.path), mode="ro")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
                return conn
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                cannot_share = sqlite_errorname(exc).startswith(
                    ("SQLITE_READONLY", "SQLITE_CANTOPEN")
                )
                if not cannot_share or shm.exists():
                    raise
        check_no_pending_log(self.path, self.display_url)
        return self._connect(None, mode="ro", immutable="1")

    def _check(self) -> None:
        rows = [str(r[0]) for r in self._conn.execute("PRAGMA quick_check(1)")]
        if rows != ["ok"]:
            problem = rows[0].replace("*** in database main ***", "") if rows else "no answer"
            raise damaged(self.display_url, self.path, line(problem, 120))
        tables = self._tables()
        if problem := layout_problem(tables, self._columns):
            raise not_a_store(self.display_url, problem)
        if INFO_TABLE in tables:
            found = self._conn.execute(
                f"SELECT value FROM {INFO_TABLE} WHERE key = 'schema_version'"
            ).fetchone()
            check_version(None if found is None else found[0], self.display_url)

    def _tables(self) -> set[str]:
        """The database's tables, as SQLAlchemy's inspector lists them (no ``sqlite_*``)."""
        query = (
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite~_%' ESCAPE '~'"
        )
        return {r[0] for r in self._conn.execute(query)}

    def _columns(self, table: str) -> list[str]:
        quoted = table.replace('"', '""')
        return [r[1] for r in self._conn.execute(f'PRAGMA main.table_info("{quoted}")')]

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """sqlite3's errors -> the one line :func:`benchmark.store.errors.guard` gives."""
        try:
            yield
        except BnnBenchError:
            raise
        except sqlite3.Error as exc:
            problem = damage(exc)
            if problem is not None:
                raise damaged(self.display_url, self.path, problem) from None
            raise BnnBenchError(
                f"cannot {doing} results store '{self.display_url}': {one_line(exc)}"
            ) from None

    def _has(self, tables: Iterable[str]) -> bool:
        return set(tables) <= self._tables()

    def _loads(self, text: str | None, run_id: str, column: str) -> Any:
        try:
            return loads(text, run_id, column)
        except StoreDamage as exc:
            raise not_a_store(self.display_url, str(exc)) from None

    # ------------------------------------------------------------------ reading
    def suite_runs(self, suite: str) -> list[dict[str, Any]]:
        """The runs linked to ``suite`` (every role), by run id: one dict each with the keys
        of a row of :meth:`Store.runs_frame` that ``show`` reads (``run_id``, ``task``,
        ``status``, ``train_seconds``, ``eval_seconds``, the spec's fields, ``summary.*``);
        environment, spec and summary are checked as the frame checks them."""
        query = (
            "SELECT r.run_id, r.task, r.status, r.train_seconds, r.eval_seconds, "
            "r.environment, r.spec, r.summary FROM runs r JOIN suite_runs s "
            "ON s.run_id = r.run_id WHERE s.suite = ? ORDER BY r.run_id"
        )
        rows: list[dict[str, Any]] = []
        with self._guard("read runs from"):
            if not self._has(SCHEMA_TABLES):
                return rows
            fetched = self._conn.execute(query, (suite,)).fetchall()
        for run_id, task, status, train, evaluation, environment, spec, summary in fetched:
            self._loads(environment, run_id, "environment")
            row: dict[str, Any] = {
                "run_id": run_id,
                "task": task,
                "status": status,
                "train_seconds": train,
                "eval_seconds": evaluation,
            }
            for key, value in self._loads(spec, run_id, "spec").items():
                row.setdefault(key, value)
            for key, value in self._loads(summary, run_id, "summary").items():
                row[f"summary.{key}"] = value
            rows.append(row)
        return rows

    def run_states(self, suite: str) -> list[tuple[str, str, float | None]]:
        """:meth:`Store.run_states <benchmark.store.Store.run_states>`: ``(run_id, status,
        finished_at)`` of every run linked to ``suite``, by run id."""
        query = (
            "SELECT DISTINCT r.run_id, r.status, r.finished_at FROM runs r JOIN suite_runs s "
            "ON s.run_id = r.run_id WHERE s.suite = ? ORDER BY r.run_id"
        )
        with self._guard("read runs from"):
            if not self._has(SCHEMA_TABLES):
                return []
            return [(r[0], r[1], r[2]) for r in self._conn.execute(query, (suite,))]

    def role_counts(self, suite: str) -> dict[str, int]:
        """:meth:`Store.role_counts <benchmark.store.Store.role_counts>`: runs linked to
        ``suite`` per role."""
        query = (
            "SELECT s.role, count(*) FROM suite_runs s JOIN runs r ON s.run_id = r.run_id "
            "WHERE s.suite = ? GROUP BY s.role"
        )
        with self._guard("read runs from"):
            if not self._has(SCHEMA_TABLES):
                return {}
            return {str(role): int(n) for role, n in self._conn.execute(query, (suite,))}

    def outcomes(self, run_ids: Iterable[str]) -> dict[str, tuple[str, dict[str, float]]]:
        """``run_id -> (status, summary)`` for the stored runs among ``run_ids``
        (:meth:`Store.outcomes`)."""
        ids = list(run_ids)
        out: dict[str, tuple[str, dict[str, float]]] = {}
        with self._guard("read runs from"):
            if not self._has(SCHEMA_TABLES):
                return out
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT run_id, status, summary FROM runs WHERE run_id IN ({marks})"
                for run_id, status, summary in self._conn.execute(query, chunk).fetchall():
                    out[run_id] = (status, self._loads(summary, run_id, "summary"))
        return out

    def read_points(self, study: str) -> dict[int, dict[str, Any]]:
        """``number -> point`` of the Optuna study ``study`` (empty without it or without
        Optuna's tables): :func:`benchmark.tune.studies.read_points`' SQL, each stored float
        turned into its value as its distribution's ``to_external_repr`` does
        (:func:`external_value`)."""
        query = (
            "SELECT t.number, p.param_name, p.param_value, p.distribution_json "
            "FROM studies s JOIN trials t ON t.study_id = s.study_id "
            "JOIN trial_params p ON p.trial_id = t.trial_id WHERE s.study_name = ?"
        )
        points: dict[int, dict[str, Any]] = {}
        with self._guard("read tuning studies from"):
            if not self._has(STUDY_TABLES):
                return points
            rows = self._conn.execute(query, (study,)).fetchall()
        for number, param, value, dist in rows:
            points.setdefault(int(number), {})[param] = external_value(dist, value)
        return points

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None


def external_value(distribution_json: str, value: float) -> Any:
    """Optuna's ``json_to_distribution(distribution_json).to_external_repr(value)`` for the
    distributions Optuna writes (``FloatDistribution``: the float as stored;
    ``IntDistribution``: ``int``; ``CategoricalDistribution``: the choice at that index);
    other forms (older Optuna's names, the abbreviated form) ask Optuna itself."""
    spec = json.loads(distribution_json)
    name = spec.get("name") if isinstance(spec, dict) else None
    if name == "FloatDistribution":
        return value
    if name == "IntDistribution":
        return int(value)
    if name == "CategoricalDistribution":
        return tuple(spec["attributes"]["choices"])[int(value)]
    from optuna.distributions import json_to_distribution

    return json_to_distribution(distribution_json).to_external_repr(value)
