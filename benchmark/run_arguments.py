"""The checks ``bnnbench run`` applies to its options, for :func:`benchmark.run_suite`'s
arguments too (issue 22): a Python caller gets the same one-line :class:`BnnBenchError`
instead of failed runs (``threads=-3``), a crash (``workers=10**6``) or a ``TypeError``."""

from __future__ import annotations

from typing import Any

from benchmark.errors import BnnBenchError

#: run_suite's bounded counts: argument -> (the CLI option, the suite's LIMITS key)
COUNTS = {
    "workers": ("--workers", "executor.workers"),
    "threads": ("--threads-per-worker", "executor.threads_per_worker"),
}
#: run_suite's text arguments (``None`` allowed: the suite's setting)
TEXTS = ("executor", "scheduler", "device", "data_root", "store")
#: run_suite's switches
SWITCHES = ("download", "fresh", "report", "progress", "tune_only")


def check_run_arguments(**arguments: Any) -> None:
    """Refuse, with one line naming the argument, the option and what is allowed, what the
    CLI's parser would refuse: counts outside ``LIMITS`` or not integers, texts that are
    not strings, switches that are not booleans, and a ``scheduler`` without the Dask
    executor (an explicit ``executor`` other than ``"dask"``)."""
    from benchmark.suite import LIMITS

    for name, (option, limit) in COUNTS.items():
        value = arguments.get(name)
        if value is None:
            continue
        low, high, _ = LIMITS[limit]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BnnBenchError(
                f"run_suite: {name} (the CLI's {option}) must be an integer in "
                f"[{low}, {high}], got {value!r}"
            )
    for name in TEXTS:
        value = arguments.get(name)
        if value is not None and not isinstance(value, str):
            raise BnnBenchError(
                f"run_suite: {name} must be a string (or None), got {type(value).__name__}"
            )
    for name in SWITCHES:
        value = arguments.get(name)
        if value is not None and not isinstance(value, bool):
            raise BnnBenchError(f"run_suite: {name} must be True or False, got {value!r}")
    if arguments.get("scheduler") and arguments.get("executor") not in (None, "dask"):
        raise BnnBenchError(
            f"--scheduler needs the Dask executor (--executor dask), got executor "
            f"'{arguments['executor']}'; allowed: drop --scheduler, or add --executor dask"
        )
