"""The worker side of execution: what a pool worker or a Dask worker runs (issue 22).

:func:`run_unit` runs one unit of work through its task and returns one record per run,
recording an exception instead of raising it (:func:`failed_record`). Its own module, so
that a worker unpickling ``run_unit`` imports only what running needs (the task registry,
the records, the environment capture), not the store, pandas or the executors; and so that
:mod:`benchmark.execute` and :mod:`benchmark.dask_executor` both import it without
importing each other (the cycle issue 22 cut).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import Any

from benchmark.environment import run_environment
from benchmark.records import RunRecord
from benchmark.tasks.registry import get_task

__all__ = ["failed_record", "one_line", "run_unit"]


def one_line(exc: BaseException) -> str:
    """``exc`` as the last line of its traceback (``"ValueError: bad value"``)."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def failed_record(
    spec: Any, exc: BaseException, started: float, message: str | None = None
) -> RunRecord:
    """The ``failed`` record of a run that raised ``exc`` (its last traceback line kept,
    unless ``message`` says it better)."""
    return RunRecord(
        spec.run_id,
        spec.task,
        {**spec.to_dict(), "label": spec.label()},
        "failed",
        started_at=started,
        finished_at=time.time(),
        message=message or one_line(exc),
    )


def run_unit(
    specs: Sequence[Any], data_root: str | None = None, download: bool = False
) -> list[RunRecord]:
    """Run one unit through its task (in whatever process calls it) and return one record per
    spec. An exception is recorded, never raised: a unit that raises is retried in the parts
    :meth:`~benchmark.tasks.base.Task.split_unit` gives, and what still raises becomes one
    ``failed`` record per run."""
    from benchmark.optim.fused import compiled_calls

    task = get_task(specs[0].task)
    started = time.time()
    calls = compiled_calls()
    try:
        records = task.run_unit(specs, data_root, download)
    except Exception as exc:  # noqa: BLE001 - any run error is recorded, the suite goes on
        parts = task.split_unit(specs) if len(specs) > 1 else [list(specs)]
        if len(parts) == 1:
            records = [failed_record(spec, exc, started) for spec in specs]
        else:
            done = {r.run_id: r for part in parts for r in run_unit(part, data_root, download)}
            records = [done[spec.run_id] for spec in specs]
    for spec, record in zip(specs, records, strict=True):
        if not record.environment:  # captured here, in the process that ran it
            record.environment = run_environment(getattr(spec, "threads", 1))
            record.environment["optimizer_implementation"] = _implementation(
                spec, compiled_calls() > calls
            )
    return records


def _implementation(spec: Any, ran_compiled: bool = False) -> str:
    """Which code ran the run's optimizer update (the registry's statement for its device);
    ``ran_compiled``: the unit ran compiled updates (for ``fused=None``, the auto rule chose
    them on the run's planned steps)."""
    from benchmark.optim.fused import compile_failure
    from benchmark.optim.registry import implementation_of

    hparams = getattr(spec, "hparams", None) or {}
    fused = hparams.get("fused")
    if fused is None and ran_compiled:
        fused = True
    return implementation_of(
        getattr(spec, "optimizer", ""),
        getattr(spec, "device", "cpu"),
        hparams.get("fp_optimizer"),
        fused=fused,
        compile_failure=compile_failure() if fused is True else None,
    )
