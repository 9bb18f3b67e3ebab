"""The worker processes' start method: a ``forkserver`` that imports torch and bnnbench once.

Torch-free on purpose: the CLI starts the fork server (:func:`start_worker_server`) before it
imports torch itself, so the server's imports (about 4 s of one core) overlap with the CLI's
own imports, suite loading and preflight on another core.

The server process imports :func:`preload_for` (each task's modules, this module last). When this module is
imported *inside the fork server*, it registers an ``atexit`` handler that ends the server with
``os._exit(0)`` when its parent is gone: otherwise the server tears down torch, torch._dynamo
and scikit-learn module by module (1-2 s) while still holding the parent's stdout and stderr,
so that anything reading the CLI's output through a pipe (CI logs, ``| tee``, tests) waits for
it after the CLI has exited. The server holds nothing to flush, and workers (forked from it)
end with ``os._exit`` in any case, without running ``atexit`` handlers.

**No orphans.** A process of the pool must never outlive the command that started it: a
worker left behind after ``kill -9`` of the CLI keeps training for nobody and keeps the CLI's
stdout and stderr open, so a CI step reading them through a pipe never sees end of file.
:func:`die_with_parent` ties a process to its parent: on Linux the kernel sends it SIGKILL when
its parent dies (``prctl(PR_SET_PDEATHSIG)``), elsewhere a daemon thread polls the parent id.
The fork server calls it as its very first preload (:data:`PARENT_WATCH`, before the seconds
of torch imports), each worker in its initializer; so killing the CLI by any signal kills the
server, and the server's death kills the workers, within milliseconds.

**The server's thread.** Linux delivers the parent-death signal when the *thread* that
started the server ends, not the process: a server started by a thread that later finished
(a second ``run_suite`` in another thread of a notebook or a service) was killed with its
workers mid-suite. :func:`ensure_server` therefore starts (and, if it died, restarts) the
server from one daemon thread of bnnbench's own that lives as long as the process.

**The caller's main module is never run again.** Python's ``forkserver`` and ``spawn``
hand each new process the path (or module name) of the parent's ``__main__`` so that the
child can unpickle functions defined there; the child re-executes that file as
``__mp_main__``. A script without ``if __name__ == "__main__":`` (the README's snippet saved
as a file, piped to ``python -`` or run with :mod:`runpy`) would thereby call ``run_suite``
again in every worker. Workers run only bnnbench's functions, so :func:`worker_context`'s
processes are started without that entry (:class:`CleanMainPopen`): they never import the
caller's main module, guarded or not.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import context as mp_context
from typing import Any

from benchmark.parent_watch import die_with_parent, in_fork_server
from benchmark.tasks.registry import preload_for as task_preload

#: imported first by the fork server: ties it to its parent before any slow import
PARENT_WATCH = "benchmark.parent_watch"
__all__ = [
    "FAST_EXIT",
    "PARENT_WATCH",
    "die_with_parent",
    "ensure_server",
    "in_fork_server",
    "preload_for",
    "sigint_blocked",
    "start_worker_server",
    "worker_context",
]


def preload_for(tasks: Iterable[str] = ("train",)) -> tuple[str, ...]:
    """The fork server's preload list for suites of ``tasks``: the parent watch first (before
    any slow import), each task's own modules (:data:`benchmark.tasks.registry.TASKS`), and
    this module last (its exit handler then runs first; see the module docstring)."""
    return (PARENT_WATCH, *task_preload(set(tasks)), __name__)


#: the preparation entries through which a new process re-executes the parent's ``__main__``
MAIN_KEYS = ("main_path", "init_main_from_name", "init_main_from_path")


def worker_preparation(name: str) -> dict[str, Any]:
    """What a new worker process is told about this one
    (``multiprocessing.spawn.get_preparation_data``) minus :data:`MAIN_KEYS`: its ``sys.path``,
    working directory, ``sys.argv`` and name, but not the main module to run again."""
    from multiprocessing import spawn

    data = spawn.get_preparation_data(name)
    for key in MAIN_KEYS:
        data.pop(key, None)
    return data


if "forkserver" in multiprocessing.get_all_start_methods():
    from multiprocessing import forkserver, popen_forkserver, reduction, util

    class CleanMainPopen(popen_forkserver.Popen):
        """``multiprocessing.popen_forkserver.Popen`` whose child does not re-run the caller's
        main module (:func:`worker_preparation`); otherwise the same steps as the standard
        library's ``_launch`` (Python 3.11 to 3.13)."""

        def _launch(self, process_obj: Any) -> None:
            ensure_server()
            prep_data = worker_preparation(process_obj._name)
            buf = io.BytesIO()
            mp_context.set_spawning_popen(self)
            try:
                reduction.dump(prep_data, buf)
                reduction.dump(process_obj, buf)
            finally:
                mp_context.set_spawning_popen(None)
            self.sentinel, w = forkserver.connect_to_new_process(self._fds)
            _parent_w = os.dup(w)
            self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = forkserver.read_signed(self.sentinel)

    class WorkerProcess(mp_context.ForkServerProcess):
        """A fork-server process started through :class:`CleanMainPopen`."""

        @staticmethod
        def _Popen(process_obj: Any) -> Any:  # noqa: N802 - the standard library's name
            return CleanMainPopen(process_obj)

    class WorkerContext(mp_context.ForkServerContext):
        """The ``forkserver`` context, its processes started by :class:`WorkerProcess`."""

        Process = WorkerProcess  # type: ignore[assignment]


_requests: queue.SimpleQueue[tuple[Callable[[], None], list[BaseException], threading.Event]]
_requests = queue.SimpleQueue()
_keeper: threading.Thread | None = None
_keeper_lock = threading.Lock()


def _keep() -> None:
    while True:
        call, errors, done = _requests.get()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            errors.append(exc)
        finally:
            done.set()


def _in_keeper_thread(call: Callable[[], None]) -> None:
    """Run ``call`` in bnnbench's fork-server thread (started on first use, a daemon thread
    that never ends before the process does) and wait for it; its exception is raised here."""
    global _keeper
    with _keeper_lock:
        if _keeper is None or not _keeper.is_alive():
            _keeper = threading.Thread(target=_keep, name="bnnbench-fork-server", daemon=True)
            _keeper.start()
    errors: list[BaseException] = []
    done = threading.Event()
    _requests.put((call, errors, done))
    done.wait()
    if errors:
        raise errors[0]


def ensure_server() -> None:
    """Make sure the fork server runs, started from bnnbench's fork-server thread (see the
    module docstring: the parent-death signal follows the thread that started the server).
    A no-op when it runs already, and where there is no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return

    if threading.current_thread() is _keeper:
        _start_server()
    else:
        _in_keeper_thread(_start_server)


def _start_server() -> None:
    """``forkserver.ensure_running``, with SIGINT blocked: a terminal's Ctrl-C reaches its
    whole process group, and the server, interrupted while it imports torch, printed a
    traceback; it and the workers it forks inherit the mask and never see SIGINT (this
    process stops them when it is interrupted). multiprocessing's resource tracker, started
    on first need, unblocks SIGINT in the thread that starts it: started first."""
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()
    with sigint_blocked():
        forkserver.ensure_running()


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread inside the block, and so in the threads and processes
    started from it meanwhile (a signal mask survives thread creation, fork and exec); a
    Ctrl-C that arrives meanwhile is delivered when the block ends. Where there are no
    signal masks (Windows), nothing changes."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def worker_context(tasks: Iterable[str] = ("train",)) -> multiprocessing.context.BaseContext:
    """``forkserver`` where available (Linux, macOS): a clean server process imports torch and
    bnnbench once and forks each worker from it, so workers start in milliseconds and never
    inherit the parent's torch thread pools (unlike ``fork``). Its processes never re-run the
    caller's main module, and the server is started from a thread that lives as long as this
    process (module docstring). Elsewhere ``spawn`` (where a script that runs suites needs
    ``if __name__ == "__main__":``, as every script using ``spawn`` does). The preload list
    (:func:`preload_for`) counts only when the server starts; a running server keeps its own
    (a worker then imports what it misses)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = WorkerContext()
        context.set_forkserver_preload(list(preload_for(tasks)))
        return context
    return multiprocessing.get_context("spawn")


def start_worker_server(tasks: Iterable[str] = ("train",)) -> None:
    """Start the fork server now, so its imports overlap with the caller's own set-up; a no-op
    where workers are spawned, or when the server already runs."""
    worker_context(tasks)
    ensure_server()


#: True in the fork server (and in the workers forked from it): the exit handler is installed
FAST_EXIT: bool = in_fork_server()
if FAST_EXIT:
    atexit.register(os._exit, 0)
