"""Reliability (issue 22): the README's Python as users run it (a script without a
``__main__`` guard, a heredoc on ``python -``, :mod:`runpy`), and ``run_suite`` from two
threads at once: the pool's workers never re-run the caller's main module, and each suite's
workers live as long as that suite (benchmark/workers.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmark import run_suite
from benchmark.store import Store
from tests.conftest import REPO, write_suite

ENV = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}


def readme_snippet(suite: Path) -> str:
    """The README's "From Python" code block, run on ``suite`` instead of ``smoke``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    snippet = code.group(1)
    assert snippet.count('"smoke"') == 3 and "workers=2" in snippet
    return snippet.replace('"smoke"', repr(str(suite)))


@pytest.mark.slow  # 27-41 s each under load (two reports of 4 runs, in a new interpreter)
@pytest.mark.parametrize("how", ["script", "stdin", "runpy"])
def test_the_readme_snippet_runs_unguarded_with_two_workers(how: str, tmp_path: Path) -> None:
    """No ``if __name__ == "__main__":`` guard, 2 workers: exit 0, one run of the suite
    (a worker re-running the script would fail on the suite lock, or run it twice)."""
    suite = write_suite(tmp_path / "readme.yaml", epochs=1, executor={"workers": 2})
    snippet = readme_snippet(suite) + "\nprint('SNIPPET DONE', result.exit_code)\n"
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    command = {
        "script": [sys.executable, str(script)],
        "stdin": [sys.executable, "-"],
        "runpy": [sys.executable, "-c", f"import runpy; runpy.run_path({str(script)!r}, "
                  "run_name='__main__')"],
    }[how]  # fmt: skip
    done = subprocess.run(
        command,
        input=snippet if how == "stdin" else None,
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("SNIPPET DONE 0") == 1, done.stdout
    assert (tmp_path / "elsewhere" / "REPORT.md").is_file()
    runs = Store(f"sqlite:///{tmp_path}/results/readme/bnnbench.db", read_only=True).runs_frame()
    assert sorted(runs["status"]) == ["completed"] * 4


def _curves(url: str) -> pd.DataFrame:
    store = Store(url, read_only=True)
    m = store.metrics_frame()
    m = m[~m["name"].isin(("train_seconds", "eval_seconds"))]
    return m.sort_values(["run_id", "step", "split", "name"], ignore_index=True)


def test_two_threads_each_run_a_suite_with_two_workers(tmp_path: Path) -> None:
    """The shorter suite ends first; the longer one's workers must outlive the thread that
    happened to start the fork server. Both stores equal serial runs of the same suites."""
    suites = [
        write_suite(tmp_path / "short.yaml", epochs=1, seeds=[0, 1]),
        write_suite(tmp_path / "long.yaml", epochs=4, seeds=[0, 1, 2]),
    ]
    outcome: dict[str, Any] = {}

    def run(path: Path) -> None:
        try:
            result = run_suite(path, results_dir=tmp_path / "threads", workers=2,
                               progress=False, report=False, on_event=lambda e: None)  # fmt: skip
            outcome[path.stem] = result.exit_code
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome[path.stem] = repr(exc)

    threads = [threading.Thread(target=run, args=(path,)) for path in suites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome == {"short": 0, "long": 0}
    for path in suites:
        run_suite(path, results_dir=tmp_path / "serial", workers=1, progress=False,
                  report=False, on_event=lambda e: None)  # fmt: skip
        both = [_curves(f"sqlite:///{tmp_path}/{d}/{path.stem}/bnnbench.db")
                for d in ("threads", "serial")]  # fmt: skip
        assert len(both[0]) > 0
        pd.testing.assert_frame_equal(*both)
