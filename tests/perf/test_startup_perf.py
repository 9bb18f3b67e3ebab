"""Start-up of the light commands (issue 21): ``bnnbench --help``, ``list``, ``validate``
and ``show`` in a fresh interpreter each (pytest-benchmark, one process per round).

The plain ``pytest`` run executes each command once, untimed, and checks it succeeds; to
time them::

    pytest tests/perf/test_startup_perf.py --benchmark-enable --benchmark-only \\
        --benchmark-min-rounds=5

Figures (with hyperfine and ``python -X importtime``) are in docs/performance.md, "Start-up
of the light commands".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

COMMANDS = {
    "help": ["--help"],
    "list": ["list"],
    "validate": ["validate", "smoke"],
    "show": ["show", "smoke", "--results-dir", "{tmp}"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_command_startup(benchmark, command: str, tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[command]]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "benchmark.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    benchmark.group = "startup"
    done = benchmark.pedantic(run, rounds=1 if benchmark.disabled else 5, iterations=1)
    assert done.returncode == 0, done.stderr
