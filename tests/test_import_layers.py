"""The import cycles issue 22 cut stay cut: measured in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=True)  # fmt: skip
    return set(json.loads(done.stdout))


def test_a_worker_unpickling_run_unit_imports_no_store_pandas_or_executor() -> None:
    loaded = _loaded_after("from benchmark.units import run_unit")
    for module in ("pandas", "sqlalchemy", "benchmark.store", "benchmark.execute",
                   "benchmark.dask_executor", "benchmark.pipeline"):  # fmt: skip
        assert module not in loaded, module


def test_dask_executor_and_execute_do_not_import_each_other() -> None:
    assert "benchmark.execute" not in _loaded_after("import benchmark.dask_executor")


def test_the_suite_checks_do_not_import_tune() -> None:
    loaded = _loaded_after(
        "from benchmark.suite import load_suite; load_suite('suites/smoke.yaml')"
    )
    assert not {m for m in loaded if m.startswith("benchmark.tune")}
