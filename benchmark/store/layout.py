"""The store's layout as plain data: table and column names, the schema version, the final
statuses, and the check that a database holds bnnbench's tables (SQLAlchemy-free).

:mod:`~benchmark.store.schema` defines the same tables with SQLAlchemy (a test keeps
:data:`TABLE_COLUMNS` equal to its columns); :mod:`~benchmark.store.summary_read` reads a
SQLite store with these names through the standard library's sqlite3.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from benchmark.errors import BnnBenchError

SCHEMA_VERSION = 1
#: statuses that are final results: a resumed suite does not rerun them
FINAL_STATUSES: tuple[str, ...] = ("completed", "diverged")
#: the tables a store must have before it holds anything (read-only stores without them are empty)
SCHEMA_TABLES = frozenset({"runs", "metrics", "suite_runs"})
#: the table holding ``schema_version``
INFO_TABLE = "bnnbench_info"
#: every table of the store and its columns, in the order :mod:`~benchmark.store.schema`
#: declares them
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": (
        "run_id", "task", "status", "label", "spec", "summary", "started_at", "finished_at",
        "train_seconds", "eval_seconds", "steps", "message", "environment", "stored_at",
    ),
    "metrics": ("run_id", "step", "epoch", "split", "name", "value"),
    "suite_runs": ("suite", "run_id", "role"),
    INFO_TABLE: ("key", "value"),
}  # fmt: skip


def layout_problem(tables: Iterable[str], columns: Callable[[str], Iterable[str]]) -> str | None:
    """What makes a database with ``tables`` (``columns(name)``: a table's column names)
    unusable as a bnnbench store, or None (a new database, or one holding bnnbench's tables,
    with or without other tables beside them).

    - a table named like one of bnnbench's without bnnbench's columns (another program's
      ``runs`` table): the store is not bnnbench's;
    - some of bnnbench's tables without ``bnnbench_info`` (a foreign database), or
      ``bnnbench_info`` without some of bnnbench's tables (one was dropped): damaged."""
    tables = set(tables)
    present = sorted(tables & set(TABLE_COLUMNS))
    if not present:
        return None
    for name in present:
        found = set(columns(name))
        if missing := [c for c in TABLE_COLUMNS[name] if c not in found]:
            return f"table '{name}' is not bnnbench's (it lacks the column(s) {', '.join(missing)})"
    if INFO_TABLE not in tables:
        return f"it holds table(s) {', '.join(present)} but no '{INFO_TABLE}': not a bnnbench store"
    if absent := sorted(SCHEMA_TABLES - tables):
        return f"table(s) {', '.join(absent)} missing (dropped?)"
    return None


def check_version(found: object, display: str) -> None:
    """Refuse a store (``display``) whose stored schema version is not :data:`SCHEMA_VERSION`
    (``found`` None: a new store, accepted)."""
    if found is not None and str(found) != str(SCHEMA_VERSION):
        raise BnnBenchError(
            f"store '{display}' has schema version {found}; this bnnbench writes "
            f"version {SCHEMA_VERSION}"
        )


def not_a_store(display: str, problem: str) -> BnnBenchError:
    """The error for a database whose tables are damaged or not bnnbench's."""
    return BnnBenchError(
        f"results store '{display}' is damaged or not a bnnbench store: {problem}; "
        "nothing was written to it: restore a backup, or use another store (--store)"
    )


def loads(text: str | None, run_id: str, column: str) -> Any:
    """The JSON object in ``column`` of run ``run_id``; text that is not one (bad JSON, a
    number, a list) raises :class:`StoreDamage` naming both."""
    try:
        value = json.loads(text) if text is not None else {}
    except (json.JSONDecodeError, TypeError, RecursionError) as exc:
        raise StoreDamage(f"run {run_id}: its {column} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise StoreDamage(f"run {run_id}: its {column} is not a JSON object")
    return value


class StoreDamage(Exception):  # noqa: N818 - a reason, turned into the damaged-store error
    """Content damage found while reading (the store names itself in the error it raises)."""
