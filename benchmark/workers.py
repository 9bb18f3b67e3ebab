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
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
from collections.abc import Iterable

from benchmark.parent_watch import die_with_parent, in_fork_server
from benchmark.tasks.registry import preload_for as task_preload

#: imported first by the fork server: ties it to its parent before any slow import
PARENT_WATCH = "benchmark.parent_watch"
__all__ = [
    "FAST_EXIT",
    "PARENT_WATCH",
    "die_with_parent",
    "in_fork_server",
    "preload_for",
    "start_worker_server",
    "worker_context",
]


def preload_for(tasks: Iterable[str] = ("train",)) -> tuple[str, ...]:
    """The fork server's preload list for suites of ``tasks``: the parent watch first (before
    any slow import), each task's own modules (:data:`benchmark.tasks.registry.TASKS`), and
    this module last (its exit handler then runs first; see the module docstring)."""
    return (PARENT_WATCH, *task_preload(set(tasks)), __name__)


def worker_context(tasks: Iterable[str] = ("train",)) -> multiprocessing.context.BaseContext:
    """``forkserver`` where available (Linux, macOS): a clean server process imports torch and
    bnnbench once and forks each worker from it, so workers start in milliseconds and never
    inherit the parent's torch thread pools (unlike ``fork``). Elsewhere ``spawn``. The
    preload list (:func:`preload_for`) counts only when the server starts; a running server
    keeps its own (a worker then imports what it misses)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload_for(tasks)))
        return context
    return multiprocessing.get_context("spawn")


def start_worker_server(tasks: Iterable[str] = ("train",)) -> None:
    """Start the fork server now, so its imports overlap with the caller's own set-up; a no-op
    where workers are spawned, or when the server already runs."""
    context = worker_context(tasks)
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


#: True in the fork server (and in the workers forked from it): the exit handler is installed
FAST_EXIT: bool = in_fork_server()
if FAST_EXIT:
    atexit.register(os._exit, 0)
