"""The Dask executor against a real local distributed cluster (the `distributed` extra)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.errors import BnnBenchError
from benchmark.execute import execute
from benchmark.store import Store
from benchmark.suite import expand_final_runs, load_suite
from tests.conftest import write_suite

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_cluster_runs_the_suite_like_the_local_executor(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path / "d.yaml", seeds=[0], optimizers=["adam", "bop"]))
    specs = expand_final_runs(suite)
    local = Store(f"sqlite:///{tmp_path}/local.db")
    execute(specs, local, suite="d", workers=1, progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = Store(f"sqlite:///{tmp_path}/dask.db")
        report = execute(
            specs,
            remote,
            suite="d",
            executor="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert report.completed == len(specs)

    def comparable(store: Store) -> pd.DataFrame:
        m = store.metrics_frame()
        return m[~m["name"].isin(["train_seconds", "eval_seconds"])].reset_index(drop=True)

    pd.testing.assert_frame_equal(comparable(local), comparable(remote))


def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(tmp_path / "d.yaml", seeds=[0], optimizers=["adam"], reference="adam")
    )
    store = Store(f"sqlite:///{tmp_path}/d.db")
    with pytest.raises(BnnBenchError, match="cannot reach Dask scheduler 'tcp://127.0.0.1:9'"):
        execute(
            expand_final_runs(suite),
            store,
            executor="dask",
            scheduler="tcp://127.0.0.1:9",
            progress=False,
        )
