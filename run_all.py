#!/usr/bin/env python3
"""The front door: run a whole suite end to end (runs -> store -> report).

    python run_all.py                 # the default suite, suites/quick.yaml (offline data)
    python run_all.py suites/smoke.yaml --workers 2
    python run_all.py nightly --fresh

Any ``bnnbench run`` option is accepted; see ``bnnbench run --help``.
"""

from __future__ import annotations

import sys

from benchmark.cli import main

DEFAULT_SUITE = "quick"  # suites/quick.yaml

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        args = [DEFAULT_SUITE, *args]
    sys.exit(main(["run", *args]))
