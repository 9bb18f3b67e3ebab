"""Figures drawn in parallel while a report is built: inside :func:`parallel_figures`,
:func:`report.plotting.save_figure` hands each finished figure to a forked child process,
which draws and writes the PNG while the parent builds the next figure; leaving the block
waits for every child (so the files exist before the page embeds them).

Only where it can help and is safe: more than one usable core, the ``fork`` start method
(Linux; a child inherits the figure without pickling it), and only when the caller says no
suite is running (``bnnbench report``, not the report written right after a run, whose
executor may still hold threads and cores). Otherwise, and for a child that fails, figures
are drawn serially in the process itself: the files are the same either way.

No matplotlib import here: the report build imports this module before it draws anything.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from typing import Any

_active: _Pool | None = None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform has it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Pool:
    """At most ``workers`` children at a time, each drawing one figure."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.context = multiprocessing.get_context("fork")
        self.running: list[tuple[Any, Callable[[], Any]]] = []

    def submit(self, draw: Callable[[], Any]) -> None:
        while len(self.running) >= self.workers:
            self._reap(block=True)
        child = self.context.Process(target=_run, args=(draw,), daemon=True)
        child.start()
        self.running.append((child, draw))

    def _reap(self, block: bool) -> None:
        if block:
            self.running[0][0].join()
        still = []
        for child, draw in self.running:
            if child.is_alive():
                still.append((child, draw))
                continue
            child.join()
            if child.exitcode != 0:  # draw it here instead: the same file
                draw()
        self.running = still

    def wait(self) -> None:
        while self.running:
            self._reap(block=True)


def _run(draw: Callable[[], Any]) -> None:
    draw()


def submit(draw: Callable[[], Any]) -> bool:
    """Run ``draw`` (which writes one figure's file) in a child when a pool is active;
    ``False`` when not, so the caller draws it itself."""
    if _active is None:
        return False
    _active.submit(draw)
    return True


@contextlib.contextmanager
def parallel_figures(enabled: bool = True, workers: int | None = None) -> Iterator[int]:
    """Draw figures in up to ``workers`` children (default: the usable cores less one, at
    most 4) inside the block; yields the number of workers (0: serial). Serial when not
    ``enabled``, with a single usable core, without ``fork``, or when already inside a
    pool."""
    global _active
    n = workers if workers is not None else min(4, usable_cores() - 1)
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if not enabled or n < 1 or not forkable or _active is not None:
        yield 0
        return
    _active = pool = _Pool(n)
    try:
        yield n
    finally:
        _active = None
        pool.wait()
