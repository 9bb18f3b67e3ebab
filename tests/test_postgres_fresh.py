"""``--fresh`` of a suite with more runs than PostgreSQL binds per statement (issue 22)."""

from __future__ import annotations

import pytest

from benchmark.store import Store
from tests.test_postgres import pg_server, pg_url  # noqa: F401 - the server fixtures
from tests.test_store_reliability import _link_many


@pytest.mark.postgres
def test_fresh_deletes_70000_runs_on_postgres(pg_url: str) -> None:  # noqa: F811
    """PostgreSQL binds at most 65,535 parameters per statement: one IN list of 70,000 ids
    failed; the store deletes in chunks of 500."""
    store = Store(pg_url)
    _link_many(store, "huge", 70_000)
    assert store.delete_suite("huge") == 70_000
    assert store.runs_frame().empty
