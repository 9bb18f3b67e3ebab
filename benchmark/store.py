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
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from benchmark.environment import capture_environment
from benchmark.errors import BnnBenchError
from benchmark.frames import METRIC_COLUMNS, RUN_COLUMNS, run_row
from benchmark.records import RunRecord

SCHEMA_VERSION = 1
#: statuses that are final results: a resumed suite does not rerun them
FINAL_STATUSES: tuple[str, ...] = ("completed", "diverged")

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


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    return str(value)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default)


class Store:
    """A results database at ``url``; creates the schema on first use.

    Raises :class:`BnnBenchError` (one line, naming the URL) when the database cannot be
    opened, instead of a driver traceback.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = self._connect(url)

    @staticmethod
    def _connect(url: str) -> Engine:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise BnnBenchError(f"store URL '{url}' is not a database URL: {exc}") from None
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BnnBenchError(f"cannot open results store '{url}': {exc}") from None
            connect_args["timeout"] = 60
        elif parsed.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = 10
        try:
            engine = sa.create_engine(url, connect_args=connect_args)
            if parsed.get_backend_name() == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            metadata_obj.create_all(engine)
            with engine.begin() as conn:
                found = conn.execute(
                    sa.select(info_table.c.value).where(info_table.c.key == "schema_version")
                ).scalar()
                if found is None:
                    conn.execute(
                        info_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                    )
                elif int(found) != SCHEMA_VERSION:
                    raise BnnBenchError(
                        f"store '{url}' has schema version {found}; this bnnbench writes "
                        f"version {SCHEMA_VERSION}"
                    )
        except NoSuchModuleError as exc:
            raise BnnBenchError(f"store URL '{url}': no driver for it ({exc})") from None
        except (DBAPIError, sa.exc.OperationalError, ModuleNotFoundError) as exc:
            raise BnnBenchError(f"cannot open results store '{url}': {_one_line(exc)}") from None
        return engine

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
        with self.engine.begin() as conn:
            conn.execute(metrics_table.delete().where(metrics_table.c.run_id == record.run_id))
            conn.execute(runs_table.delete().where(runs_table.c.run_id == record.run_id))
            conn.execute(runs_table.insert(), [row])
            if metric_rows:
                conn.execute(metrics_table.insert(), metric_rows)
            if suite is not None:
                self._link(conn, suite, [record.run_id], role)

    def link(self, suite: str, run_ids: Iterable[str], role: str = "final") -> None:
        """Record that ``suite`` uses ``run_ids`` (already stored, e.g. by another suite)."""
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
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
        with self.engine.connect() as conn:
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
        if run_ids is not None:
            ids = list(run_ids)
            found: set[str] = set()
            with self.engine.connect() as conn:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    found |= set(
                        conn.execute(query.where(runs_table.c.run_id.in_(chunk))).scalars()
                    )
            return found
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

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
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
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
        with self.engine.connect() as conn:
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
        with self.engine.connect() as conn:
            return sorted(
                set(conn.execute(sa.select(suite_runs_table.c.suite).distinct()).scalars())
            )

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
