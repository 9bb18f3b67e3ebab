"""PostgreSQL specifics: the engine options for a database server, and the privileges a
store opened for writing needs (checked when it opens, not when the first run is stored).

The per-suite advisory lock and the serialised table creation live in
:mod:`~benchmark.store.locking`; read-only transactions are the store's
(``postgresql_readonly``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from benchmark.errors import BnnBenchError

#: what ``bnnbench run`` does to bnnbench's tables (a write replaces a run: delete + insert)
WRITER_PRIVILEGES = ("SELECT", "INSERT", "DELETE")


def server_options(url: URL) -> dict[str, Any]:
    """``create_engine`` keyword arguments for a database server at ``url`` (none for SQLite).

    PostgreSQL: give up connecting after 10 s (an unreachable host is one error line, not a
    hang), and test each pooled connection before use (``pool_pre_ping``), so a connection the
    server dropped (a restart, an idle timeout during a long run) is replaced instead of
    failing the next write. :func:`benchmark.tune._storage` opens Optuna's engine with them
    too.
    """
    if url.get_backend_name() != "postgresql":
        return {}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}


def check_writer(conn: sa.Connection, tables: list[str], display: str) -> None:
    """Refuse, naming what is missing, a role that may read the store ``display`` but not
    write it: without this, ``bnnbench run`` would train a run and fail only when storing it.
    """
    query = sa.text(
        "SELECT t, p FROM unnest(CAST(:tables AS text[])) AS t, "
        "unnest(CAST(:privileges AS text[])) AS p WHERE NOT has_table_privilege(t, p)"
    )
    found = conn.execute(query, {"tables": tables, "privileges": list(WRITER_PRIVILEGES)})
    missing: dict[str, list[str]] = {}
    for table, privilege in found:
        missing.setdefault(privilege, []).append(table)
    if missing:
        lacks = "; ".join(f"{p} on {', '.join(sorted(t))}" for p, t in sorted(missing.items()))
        user = conn.execute(sa.text("SELECT current_user")).scalar()
        raise BnnBenchError(
            f"cannot write to results store '{display}': role '{user}' lacks {lacks} "
            f"(bnnbench run needs {', '.join(WRITER_PRIVILEGES)} on its tables; show and "
            "report need only SELECT)"
        )
