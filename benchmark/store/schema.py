"""The store's tables (SQLAlchemy Core), the rows a run becomes, the schema version.

docs/results.md states this schema for users. :func:`run_values` and :func:`metric_values`
turn a :class:`~benchmark.records.RunRecord` into rows (spec, summary and environment as
sorted JSON, NaN stored as NULL). A store written with another :data:`SCHEMA_VERSION` is
refused (:func:`check_schema_version`), never migrated silently.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from benchmark.environment import capture_environment
from benchmark.records import RunRecord
from benchmark.store.layout import FINAL_STATUSES as FINAL_STATUSES
from benchmark.store.layout import INFO_TABLE, check_version, layout_problem
from benchmark.store.layout import SCHEMA_TABLES as SCHEMA_TABLES
from benchmark.store.layout import SCHEMA_VERSION as SCHEMA_VERSION
from benchmark.store.layout import StoreDamage as StoreDamage
from benchmark.store.layout import loads as loads

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
    INFO_TABLE,
    metadata_obj,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text),
)


def check_schema_version(conn: sa.Connection, display: str) -> str | None:
    """The schema version stored in ``conn``'s database (None for a new store); refuses,
    naming the store ``display``, a version other than :data:`SCHEMA_VERSION`."""
    found = conn.execute(
        sa.select(info_table.c.value).where(info_table.c.key == "schema_version")
    ).scalar()
    check_version(found, display)
    return found


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    return str(value)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default)


def run_values(record: RunRecord) -> dict[str, Any]:
    """The ``runs`` row of ``record``: its environment as captured where it ran
    (:func:`benchmark.environment.run_environment`; this process's when it has none), and the
    time now."""
    return {
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
        "environment": _dumps(record.environment or capture_environment()),
        "stored_at": time.time(),
    }


def metric_values(record: RunRecord) -> list[dict[str, Any]]:
    """The ``metrics`` rows of ``record`` (a NaN value stored as NULL)."""
    return [
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


def schema_problem(conn: sa.Connection) -> str | None:
    """What makes the database behind ``conn`` unusable as a bnnbench store, or None
    (:func:`benchmark.store.layout.layout_problem`, read through SQLAlchemy's inspector).

    Checked before anything is created, so that no table is added to such a database (a
    missing table recreated empty would read as "no runs stored")."""
    inspector = sa.inspect(conn)
    return layout_problem(
        inspector.get_table_names(), lambda name: (c["name"] for c in inspector.get_columns(name))
    )
