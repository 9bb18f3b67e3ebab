"""The worker processes' start method: a ``forkserver`` that imports torch and bnnbench once.

Torch-free on purpose: the CLI starts the fork server (:func:`start_worker_server`) before it
imports torch itself, so the server's imports (about 4 s of one core) overlap with the CLI's
own imports, suite loading and preflight on another core.

The server process imports :data:`WORKER_PRELOAD` (this module last). When this module is
imported *inside the fork server*, it registers an ``atexit`` handler that ends the server with
``os._exit(0)`` when its parent is gone: otherwise the server tears down torch, torch._dynamo
and scikit-learn module by module (1-2 s) while still holding the parent's stdout and stderr,
so that anything reading the CLI's output through a pipe (CI logs, ``| tee``, tests) waits for
it after the CLI has exited. The server holds nothing to flush, and workers (forked from it)
end with ``os._exit`` in any case, without running ``atexit`` handlers.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import sys

#: modules a training worker needs; the fork server imports them once and forks workers
WORKER_PRELOAD: tuple[str, ...] = (
    "benchmark.train",
    "benchmark.optim",
    "benchmark.models",
    "benchmark.data",
    "benchmark.tasks.convex",
    "sklearn.datasets",  # the digits loader; 2 s of import otherwise paid by every worker
    "torch._dynamo",  # imported by torch.optim's first step; 0.6 s otherwise paid per worker
    __name__,  # last: its exit handler then runs first (see the module docstring)
)
#: what a convex worker needs (no models, datasets or scikit-learn: 1.5-2 s less start-up)
CONVEX_PRELOAD: tuple[str, ...] = (
    "benchmark.optim",
    "benchmark.tasks.convex",
    "torch._dynamo",
    __name__,
)


def preload_for(task: str) -> tuple[str, ...]:
    """The fork server's preload list for a suite of ``task`` (``"train"`` or ``"convex"``)."""
    return CONVEX_PRELOAD if task == "convex" else WORKER_PRELOAD


def worker_context(task: str = "train") -> multiprocessing.context.BaseContext:
    """``forkserver`` where available (Linux, macOS): a clean server process imports torch and
    bnnbench once and forks each worker from it, so workers start in milliseconds and never
    inherit the parent's torch thread pools (unlike ``fork``). Elsewhere ``spawn``. The
    preload list (:func:`preload_for`) counts only when the server starts; a running server
    keeps its own (a worker then imports what it misses)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload_for(task)))
        return context
    return multiprocessing.get_context("spawn")


def start_worker_server(task: str = "train") -> None:
    """Start the fork server now, so its imports overlap with the caller's own set-up; a no-op
    where workers are spawned, or when the server already runs."""
    context = worker_context(task)
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def in_fork_server() -> bool:
    """True when called (at any depth) from :func:`multiprocessing.forkserver.main`: in the
    fork server process (while it imports its preload modules) and in the workers it forks."""
    frame = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith(
            os.path.join("multiprocessing", "forkserver.py")
        ):
            return True
        frame = frame.f_back
    return False


#: True in the fork server (and in the workers forked from it): the exit handler is installed
FAST_EXIT: bool = in_fork_server()
if FAST_EXIT:
    atexit.register(os._exit, 0)
