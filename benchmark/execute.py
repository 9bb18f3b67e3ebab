"""Where runs execute: in-process, a local process pool (default) or a Dask cluster.

``execute(specs, store, ...)`` skips runs the store already holds with a final status (resume
is the default), runs the rest, and writes each record to the store *in the parent process*
as soon as it arrives, in one transaction per run: a kill at any moment loses at most the
runs in flight, and a rerun picks up where it stopped. A run that raises is stored as
``failed`` (with the error) and the suite goes on; failed runs are retried on the next rerun.

Local pool: N worker processes (default: the number of cores). Workers start from a
``forkserver`` that has imported torch and bnnbench once (``spawn`` where no fork server
exists): safe with torch's thread pools, and fast. Each worker dies with its parent
(:func:`benchmark.parent_watch.die_with_parent`), so a killed command leaves no process behind.
Dask (``executor.kind: dask``): the same units submitted to a ``distributed`` cluster, either
one at ``--scheduler tcp://host:8786`` or, without a scheduler, a local cluster of ``workers``
single-threaded worker processes this process starts and stops (:func:`open_executor`;
the cluster side lives in :mod:`benchmark.dask_executor`). This process stays the only
writer either way.

Threads: every run trains with the torch thread count its spec names (``RunSpec.threads``,
set by :func:`benchmark.train.train` itself), so serial, pool and Dask execution store the
same numbers. :func:`oversubscription` says when workers x threads exceeds the cores.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmark.errors import BnnBenchError, WorkerCrashed, unknown_name
from benchmark.parent_watch import die_with_parent
from benchmark.progress import progress_bar_class
from benchmark.records import RunRecord
from benchmark.store import Store
from benchmark.tasks.registry import get_task
from benchmark.units import run_unit
from benchmark.workers import worker_context

if TYPE_CHECKING:
    from benchmark.dask_executor import DaskCluster


@dataclass
class ExecutionReport:
    """What one call of :func:`execute` did."""

    total: int = 0
    skipped: int = 0
    completed: int = 0
    diverged: int = 0
    failed: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    records: list[RunRecord] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.completed + self.diverged + self.failed


#: the executors ``executor.kind`` / ``--executor`` can name
EXECUTORS: tuple[str, ...] = ("local", "dask")


def plan_units(specs: Sequence[Any]) -> list[list[Any]]:
    """Group specs into units of work, one unit per worker call, each task planning its own
    (:meth:`benchmark.tasks.base.Task.plan_units`), tasks in order of first appearance."""
    by_task: dict[str, list[Any]] = {}
    for spec in specs:
        by_task.setdefault(spec.task, []).append(spec)
    return [unit for name, group in by_task.items() for unit in get_task(name).plan_units(group)]


def _init_worker() -> None:
    """Pool worker start-up: die with the parent; one torch thread until a run sets its own."""
    import torch  # here, not at the top: `bnnbench show` imports this module without torch

    die_with_parent()
    torch.set_num_threads(1)


def default_workers() -> int:
    """The default worker count: one per CPU core."""
    return os.cpu_count() or 1


def spec_threads(specs: Iterable[Any]) -> int:
    """The largest torch thread count among ``specs`` (1 for specs that name none)."""
    return max((int(getattr(spec, "threads", 1)) for spec in specs), default=1)


def oversubscription(workers: int, threads: int, cores: int | None = None) -> str | None:
    """A warning when ``workers x threads`` exceeds the cores (runs then compete for the CPU:
    the same numbers, more wall time), else ``None``."""
    cores = cores or default_workers()
    if workers * threads <= cores:
        return None
    return (
        f"{workers} worker(s) x {threads} torch thread(s) = {workers * threads} threads on "
        f"{cores} core(s): runs will compete for the CPU (same results, slower); "
        f"use --workers {max(1, cores // threads)}"
    )


def describe(record: RunRecord) -> str:
    """One summary line for a finished run."""
    label = record.spec.get("label", record.run_id)
    if record.status == "failed":
        return f"{'FAILED':<10}{label}: {record.message}"
    s = record.summary
    parts = [f"{record.status:<10}{label}"]
    for key, name in (
        ("final_test_accuracy", "test acc"),
        ("final_val_accuracy", "val acc"),
        ("avg_regret", "avg regret"),
        ("final_played", "played"),
    ):
        if key in s:
            parts.append(f"{name} {s[key]:.4g}")
    parts.append(f"{record.train_seconds + record.eval_seconds:.1f}s")
    return "  ".join(parts)


def execute(
    specs: Sequence[Any],
    store: Store,
    *,
    suite: str | None = None,
    role: str = "final",
    workers: int | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    data_root: str | None = None,
    download: bool = False,
    progress: bool = True,
    on_record: Callable[[RunRecord], None] | None = None,
    dask: DaskCluster | None = None,
) -> ExecutionReport:
    """Run every spec not already finished in ``store``; store each record as it arrives.

    ``workers`` is the local pool's size (default: one per core; 1 runs in this process), or
    the size of the local Dask cluster ``executor="dask"`` starts when no ``scheduler`` is
    given. ``dask`` is a cluster :func:`open_executor` opened (the pipeline opens one for
    all its phases); without it, ``executor="dask"`` opens and closes its own. Each run
    trains with its spec's thread count, wherever it executes. ``progress`` shows a progress
    bar on stderr; ``on_record`` is called with each record once it is stored (the CLI
    prints a line per run from it: this function prints nothing else)."""
    if workers is not None and workers < 1:
        raise BnnBenchError(f"workers must be >= 1, got {workers}")
    if executor not in EXECUTORS:
        raise unknown_name("executor", executor, EXECUTORS)
    report = ExecutionReport(total=len(specs))
    t0 = time.perf_counter()
    unique: dict[str, Any] = {}
    for spec in specs:
        unique.setdefault(spec.run_id, spec)
    done = store.finished_ids(unique)
    if suite is not None:
        store.link(suite, sorted(done), role)
    todo = [spec for run_id, spec in unique.items() if run_id not in done]
    report.skipped = len(unique) - len(todo)
    report.total = len(unique)
    bar = progress_bar_class()(
        total=report.total,
        initial=report.skipped,
        desc=suite or "runs",
        unit="run",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )

    def accept(record: RunRecord) -> None:
        store.write(record, suite, role)
        setattr(report, record.status, getattr(report, record.status) + 1)
        report.records.append(record)
        bar.update(1)
        if on_record is not None:
            on_record(record)

    n_workers = workers or default_workers()
    units = plan_units(todo)
    try:
        if executor == "dask" and units:
            from benchmark.dask_executor import run_dask

            with contextlib.ExitStack() as stack:
                if dask is None:  # a cluster of its own, for these units only
                    tasks = {unit[0].task for unit in units}
                    dask = stack.enter_context(
                        open_executor("dask", min(n_workers, len(units)), scheduler, tasks)
                    )
                run_dask(units, accept, dask, data_root, download)
        elif n_workers <= 1 or len(units) <= 1:
            for unit in units:
                for record in run_unit(unit, data_root, download):
                    accept(record)
        else:
            _run_pool(units, accept, n_workers, data_root, download)
    except KeyboardInterrupt:
        report.interrupted = True
        _count_stored_unseen(report, store, todo)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - t0
    return report


def _count_stored_unseen(report: ExecutionReport, store: Store, todo: Sequence[Any]) -> None:
    """Count, by status, the runs of ``todo`` that the store now holds finished but
    ``report`` does not: a Ctrl-C that lands after a run's transaction committed and before
    it was counted (the "runs stored" an interrupted command reports are then still the runs
    it stored). ``todo`` held no finished run before; a run stored as failed before cannot be
    told from one this command stored failed, so failed runs are not recounted."""
    seen = {record.run_id for record in report.records}
    unseen = [spec.run_id for spec in todo if spec.run_id not in seen]
    for status, _ in store.outcomes(unseen).values():
        if status in ("completed", "diverged"):
            setattr(report, status, getattr(report, status) + 1)


def _run_pool(
    units: Sequence[Sequence[Any]],
    accept: Callable[[RunRecord], None],
    workers: int,
    data_root: str | None,
    download: bool,
) -> None:
    context = worker_context({unit[0].task for unit in units})
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(units)),
        mp_context=context,
        initializer=_init_worker,
    )
    pending: set[Future[list[RunRecord]]] = set()
    queue = list(reversed(units))
    try:
        # Keep at most 2 x workers units submitted: a kill loses little, order stays stable.
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                pending.add(pool.submit(run_unit, queue.pop(), data_root, download))
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    records = future.result()
                except BrokenProcessPool:
                    raise WorkerCrashed(
                        "a worker process died (killed or out of memory?); finished runs are "
                        "stored, rerun the same command to resume"
                    ) from None
                for record in records:
                    accept(record)
    except BaseException:
        for future in pending:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextlib.contextmanager
def open_executor(
    kind: str,
    workers: int | None = None,
    scheduler: str | None = None,
    tasks: Iterable[str] = ("train",),
) -> Iterator[DaskCluster | None]:
    """Open what runs execute on, before anything is run or deleted, so an unreachable
    cluster is one clear error while the store is still untouched; close it at the end.

    ``"local"`` yields ``None`` (each :func:`execute` starts its own pool). ``"dask"`` yields
    a :class:`~benchmark.dask_executor.DaskCluster`: connected to ``scheduler``, or, without
    one, a local cluster of ``workers`` (default: one per core) single-threaded worker
    processes, started from this interpreter (they import bnnbench from the same
    ``sys.path``) and stopped on exit. Its workers start importing what runs of ``tasks``
    need at once."""
    if kind not in EXECUTORS:
        raise unknown_name("executor", kind, EXECUTORS)
    if kind != "dask":
        yield None
        return
    from benchmark.dask_executor import connect_dask

    cluster = connect_dask(scheduler, workers or default_workers(), tasks)
    try:
        yield cluster
    finally:
        cluster.close()
