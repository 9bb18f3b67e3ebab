"""The Dask executor: runs go out to a ``distributed`` cluster, records come back here.

This process is the coordinator: it keeps the Optuna ask/tell loop and every write to the
store; workers only run units (:func:`benchmark.units.run_unit`, which also captures the
environment where the unit ran) and return records. The cluster is either one someone runs
(``--scheduler tcp://host:8786``: every worker needs the same bnnbench installed, checked on
connecting) or a local one this process starts: ``workers`` single-threaded worker processes
spawned from this interpreter, stopped with it (they also die with it when it is killed).

Start-up: on connecting, every worker reports its
:func:`~benchmark.environment.software_environment` (which proves it can import bnnbench; a
worker running other versions is a warning) and starts importing what the runs need
(:func:`warm_up`, the imports the local pool's fork server does once), while this process
prepares the runs. The workers of a local cluster end with ``os._exit`` when it closes.

Faults: the scheduler reruns the units of a worker that died on another worker; the
coordinator stores each unit's records once, when its future resolves. A unit whose every
worker died (``KilledWorker``, after ``distributed.scheduler.allowed-failures`` attempts) is
stored as ``failed`` and the suite goes on; a lost scheduler ends the phase with one line.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any

from benchmark.environment import software_differences, software_environment
from benchmark.errors import BnnBenchError, WorkerCrashed
from benchmark.records import RunRecord
from benchmark.tasks.registry import preload_for
from benchmark.units import failed_record, one_line, run_unit

#: how long connecting to a Dask scheduler may take before it counts as unreachable
CONNECT_SECONDS = 10


@dataclass
class DaskCluster:
    """A connected Dask client; ``local`` is the ``LocalCluster`` this process started for it
    (``None`` for a cluster someone else runs). ``workers`` maps each worker's address to
    its :func:`~benchmark.environment.software_environment` at connection time."""

    client: Any
    local: Any = None
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return str(self.client.scheduler.address)

    def describe(self) -> str:
        """One line: which cluster, where, how many workers."""
        what = "a local Dask cluster" if self.local is not None else "Dask scheduler"
        return f"{what} at {self.address}, {len(self.workers)} worker(s)"

    def warnings(self) -> list[str]:
        """What a user should know before runs go out: no workers yet, workers running other
        code than this process (other numbers), workers running several runs at once."""
        if not self.workers:
            return [f"Dask scheduler {self.address} has no workers yet: runs wait until some join"]
        lines = []
        here = software_environment()
        for address, there in sorted(self.workers.items()):
            if diffs := software_differences(here, there):
                lines.append(
                    f"Dask worker {address} ({there.get('hostname')}) runs other code than this "
                    f"process: {'; '.join(diffs)}; its runs may give other numbers"
                )
        if crowded := sorted(a for a, n in self.client.nthreads().items() if n > 1):
            lines.append(
                f"Dask worker(s) {', '.join(crowded)} run several runs at once in one process "
                "(torch's thread count is per process): start workers with --nthreads 1"
            )
        return lines

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this process started one."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.local is not None:
            # its nannies warn when a worker still busy (importing torch, or running a unit
            # that Ctrl-C cancelled) is killed after 4 s: expected when this process stops it
            nanny = logging.getLogger("distributed.nanny")
            level = nanny.level
            nanny.setLevel(logging.ERROR)
            try:
                with contextlib.suppress(Exception):
                    self.local.close()
            finally:
                nanny.setLevel(level)


def connect_dask(
    scheduler: str | None, workers: int, tasks: Iterable[str] = ("train",)
) -> DaskCluster:
    """A :class:`DaskCluster` at ``scheduler`` (or a new local one of ``workers`` processes),
    whose workers proved they can import bnnbench (and start importing what runs of
    ``tasks`` need); one-line :class:`BnnBenchError` else."""
    try:
        import distributed
    except ImportError:
        raise BnnBenchError(
            "executor 'dask' needs the distributed extra: pip install 'bnnbench[distributed]'"
        ) from None
    if scheduler:
        _check_reachable(scheduler)
        try:
            cluster = DaskCluster(distributed.Client(scheduler, timeout=f"{CONNECT_SECONDS}s"))
        except Exception as exc:  # noqa: BLE001 - whatever the reason, one line
            raise BnnBenchError(
                f"cannot reach Dask scheduler '{scheduler}': {one_line(exc)}"
            ) from None
    else:
        cluster = _start_local_cluster(distributed, workers)
    try:
        cluster.workers = cluster.client.run(software_environment)
    except Exception as exc:  # noqa: BLE001 - typically: bnnbench is not importable there
        address = cluster.address
        cluster.close()
        raise BnnBenchError(
            f"the workers of Dask scheduler {address} cannot run bnnbench ({one_line(exc)}): "
            "install the same bnnbench on every worker"
        ) from None
    except BaseException:  # Ctrl-C while connecting: no cluster left running
        cluster.close()
        raise
    # each worker imports torch and bnnbench (seconds) while this process prepares the runs
    modules, own = preload_for(tasks), cluster.local is not None
    for address in cluster.workers:
        distributed.fire_and_forget(
            cluster.client.submit(
                warm_up,
                modules,
                own,
                key=f"bnnbench-warm-up-{address}",
                workers=[address],
                allow_other_workers=True,  # not left waiting for a worker that died
            )
        )
    return cluster


def _start_local_cluster(distributed: Any, workers: int) -> DaskCluster:
    """A local cluster of ``workers`` single-threaded worker processes, and its client.

    Its worker processes never see Ctrl-C: a terminal sends SIGINT to its whole foreground
    process group, workers included, and a Dask worker interrupted that way prints its
    traceback (four of them for two workers) while this process stops the suite anyway.
    SIGINT is blocked in this thread while the cluster and its client start, so the threads
    they start (the IO loops, which spawn every worker process, restarts included) block it
    too, and so does every worker they spawn (a signal mask survives fork and exec). This
    thread's mask is restored after: a Ctrl-C pressed meanwhile is delivered then, and the
    cluster is closed again."""
    from multiprocessing import resource_tracker

    from benchmark.workers import sigint_blocked

    # multiprocessing's resource tracker, started on first need, unblocks SIGINT in the
    # thread that starts it (instead of restoring the mask): started here, before the block
    resource_tracker.ensure_running()
    local = client = None
    try:
        with sigint_blocked():
            try:
                local = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,  # one run per process: torch's thread count is global
                    processes=True,
                    dashboard_address=None,
                    # no dashboard; its health/metrics server on any free port, not :8787
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    memory_limit=0,  # like the local pool: no worker restarted for its memory
                )
            except Exception as exc:  # noqa: BLE001
                raise BnnBenchError(
                    f"cannot start a local Dask cluster of {workers} worker(s): "
                    f"{one_line(exc)} (a script that runs suites needs "
                    "`if __name__ == '__main__':`)"
                ) from None
            client = distributed.Client(local)
    except BaseException:
        DaskCluster(client, local).close()
        raise
    return DaskCluster(client, local)


def warm_up(modules: Sequence[str], exit_fast: bool = False) -> int:
    """Import ``modules`` (the pool's fork server preloads the same: each task's modules), so
    that the first run on this worker does not wait for them; return this process's id.

    ``exit_fast`` (the workers of a local cluster, which hold nothing once it closes): end the
    process with ``os._exit`` when it exits, instead of tearing torch and scikit-learn down
    module by module, which made closing a 2-worker cluster take 3.5 s instead of 0.15 s;
    and its worker does not log a warning for each run cancelled when the suite stops
    (Ctrl-C): the coordinator's one line says what happened."""
    if exit_fast:
        logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
    for module in modules:
        importlib.import_module(module)
    if exit_fast:
        atexit.register(_exit_now)
    return os.getpid()


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _check_reachable(scheduler: str) -> None:
    """Fail at once, instead of after the connect timeout, when nothing listens at a TCP
    scheduler address (connection refused, unknown host)."""
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(scheduler)
        host, port = parse_host_port(location)
    except ValueError:
        return  # not host:port; the client says what is wrong with it
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BnnBenchError(
            f"cannot reach Dask scheduler '{scheduler}': {reason} (is `dask scheduler` running "
            "there? see --scheduler)"
        ) from None


def unit_key(unit: Sequence[Any]) -> str:
    """The start of a unit's Dask task key: ``run-<first run id>`` (and how many runs)."""
    more = f"+{len(unit) - 1}" if len(unit) > 1 else ""
    return f"run-{unit[0].run_id}{more}"


def run_dask(
    units: Iterable[Sequence[Any]],
    accept: Callable[[RunRecord], None],
    dask: DaskCluster,
    data_root: str | None,
    download: bool,
) -> None:
    """Submit every unit to ``dask`` and accept each unit's records as it finishes (here, in
    the coordinator: workers never write). The scheduler reruns the units of a worker that
    died on another one; a unit whose every worker died (``KilledWorker``) becomes ``failed``
    records, so the suite goes on and a rerun retries them. Ctrl-C stops it between two
    records (:func:`_sigint_seen`), with ``KeyboardInterrupt``, the units still pending
    cancelled."""
    started = time.time()
    batch = uuid.uuid4().hex[:8]
    with _sigint_seen() as seen:
        pending = {
            # the key names the unit's first run, for the scheduler's logs and dashboard
            dask.client.submit(
                run_unit, unit, data_root, download, key=f"{unit_key(unit)}-{batch}"
            ): unit
            for unit in units
        }
        _accept_all(pending, accept, dask, started, seen)


def _accept_all(
    pending: dict[Any, Sequence[Any]],
    accept: Callable[[RunRecord], None],
    dask: DaskCluster,
    started: float,
    seen: Sequence[bool],
) -> None:
    """Accept each unit's records as its future resolves (:func:`run_dask`); on any
    exception, Ctrl-C included, cancel the units still pending."""
    from distributed import KilledWorker, as_completed

    try:
        for future in _completed(as_completed(list(pending)), seen):
            unit = pending.pop(future, None)
            if unit is None:  # already accepted
                continue
            try:
                records = future.result()
            except KilledWorker as exc:
                message = (
                    "KilledWorker: its Dask worker died while running it "
                    f"({exc.allowed_failures + 1} attempt(s); killed, out of memory, or a crash "
                    "in native code?); rerun to retry"
                )
                records = [failed_record(spec, exc, started, message) for spec in unit]
            except CancelledError:
                raise WorkerCrashed(
                    f"lost the Dask scheduler at {dask.address}; finished runs are stored, "
                    "rerun the same command to resume"
                ) from None
            except Exception as exc:  # noqa: BLE001 - run errors are records: this is the worker
                raise BnnBenchError(
                    f"a Dask worker could not run {unit[0].label()}: {one_line(exc)}; every "
                    "worker needs the same bnnbench as this process"
                ) from None
            for record in records:
                accept(record)
    except BaseException:
        with contextlib.suppress(Exception):
            dask.client.cancel(list(pending))
        raise


def _completed(futures: Any, interrupted: Sequence[bool]) -> Iterator[Any]:
    """The futures of a ``distributed.as_completed`` as they finish, polled every 0.1 s (as
    ``as_completed`` itself waits); ``KeyboardInterrupt`` once ``interrupted`` (a list
    :func:`_sigint_seen` fills) is not empty."""
    while not futures.is_empty():
        if interrupted:
            raise KeyboardInterrupt
        batch = futures.next_batch(block=False)
        if not batch:
            time.sleep(0.1)
        yield from batch


@contextlib.contextmanager
def _sigint_seen() -> Iterator[list[bool]]:
    """A list that gets an item on each SIGINT (Ctrl-C) inside the block, in place of
    Python's handler raising ``KeyboardInterrupt`` wherever this thread happens to be: in a
    Dask object's ``__del__`` that ``KeyboardInterrupt`` is printed as "Exception ignored"
    with its traceback and lost (the suite then ran to its end and exited 0). The loop that
    reads the list raises it where the store is between two runs. Only in the main thread
    (the only one that may set handlers) and while SIGINT has Python's own handler; else
    the list stays empty and SIGINT does what it did."""
    seen: list[bool] = []
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield seen
        return
    signal.signal(signal.SIGINT, lambda signum, frame: seen.append(True))
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
