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

The package, along its seams:

- :mod:`~benchmark.store.store`: :class:`Store` (open, write, link, delete_suite, the reads);
- :mod:`~benchmark.store.schema`: the tables, the rows a run becomes, :data:`SCHEMA_VERSION`,
  :data:`FINAL_STATUSES`;
- :mod:`~benchmark.store.errors`: :func:`display_url` and database errors -> one line;
- :mod:`~benchmark.store.sqlite`: SQLite's URIs, integrity check, read-only opening, -wal/-shm
  tidy-up and pragmas;
- :mod:`~benchmark.store.postgres`: :func:`server_options` (connect timeout, pre-ping) and
  the privileges a writer needs, checked at opening;
- :mod:`~benchmark.store.locking`: the per-suite run lock (flock file, advisory lock), and
  table creation one process at a time on PostgreSQL;
- :mod:`~benchmark.store.layout`: the tables' and columns' names, :data:`SCHEMA_VERSION` and
  :data:`FINAL_STATUSES` as plain data (SQLAlchemy-free);
- :mod:`~benchmark.store.summary_read`: ``bnnbench show``'s read of a SQLite store through the
  standard library's sqlite3 (no SQLAlchemy, no pandas: docs/performance.md).

The names below are imported on first use (PEP 562), so that importing a light submodule
(:mod:`~benchmark.store.summary_read`, :mod:`~benchmark.store.layout`) does not import
SQLAlchemy and pandas through this package.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the submodule that defines it
_LAZY = {
    "display_url": "benchmark.store.errors",
    "_advisory_key": "benchmark.store.locking",
    "server_options": "benchmark.store.postgres",
    "FINAL_STATUSES": "benchmark.store.layout",
    "SCHEMA_TABLES": "benchmark.store.layout",
    "SCHEMA_VERSION": "benchmark.store.layout",
    "info_table": "benchmark.store.schema",
    "metadata_obj": "benchmark.store.schema",
    "metrics_table": "benchmark.store.schema",
    "runs_table": "benchmark.store.schema",
    "suite_runs_table": "benchmark.store.schema",
    "Store": "benchmark.store.store",
}
_SOURCE_NAME = {"_advisory_key": "advisory_key"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'benchmark.store' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name]), _SOURCE_NAME.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "FINAL_STATUSES",
    "SCHEMA_TABLES",
    "SCHEMA_VERSION",
    "Store",
    "_advisory_key",
    "display_url",
    "info_table",
    "metadata_obj",
    "metrics_table",
    "runs_table",
    "server_options",
    "suite_runs_table",
]
