"""Ctrl-C and SIGTERM held off while torch is first imported in the CLI's main thread.

The CLI turns SIGINT into ``KeyboardInterrupt`` and SIGTERM into its own exception
(benchmark/cli.py), raised wherever the main thread happens to be. Raised inside torch's
import, where C++ code (pybind11) runs Python, such an exception cannot unwind: the process
ends in ``std::terminate`` ("terminate called after throwing an instance of
'pybind11::error_already_set'", killed by SIGABRT) instead of printing one line and exiting
130. A run imports torch in the CLI's process while its pool's fork server starts (their
imports overlap on purpose: benchmark/workers.py), so a Ctrl-C in the first seconds of a
run could land there.

:func:`install` puts a finder first on :data:`sys.meta_path` that wraps the loader of each
named module (``torch`` by default) so that its ``exec_module``, which runs the whole import
of the package and of everything it imports, runs with SIGINT and SIGTERM recorded instead of
handled (:func:`held_signals`); the signals that arrived are raised again, with the handlers
they found, when the package's code has run to its end: the ``import`` statement then raises
the interrupt (as if it had come at the package's last line; the half-imported package is
not kept) and the command stops with its one line, as it would have a moment earlier. The
finder removes itself once it has wrapped every name. Only the main thread can set signal
handlers, so imports in other threads are left alone.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

#: the signals :func:`held_signals` records instead of handling
HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Record SIGINT and SIGTERM during the block (in the main thread, for signals handled
    by a Python function); afterwards restore the handlers and raise each recorded signal
    again (:func:`signal.raise_signal`), so its handler runs once the block is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []
    previous: dict[int, Any] = {}
    for sig in HELD:
        handler = signal.getsignal(sig)
        if callable(handler):  # not SIG_DFL / SIG_IGN: those never raise inside Python
            previous[sig] = signal.signal(sig, lambda signum, frame: seen.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(seen):  # each signal once, in arrival order
            signal.raise_signal(sig)


class _HeldSignalsLoader(importlib.abc.Loader):
    """A module's loader whose ``exec_module`` runs under :func:`held_signals`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with held_signals():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # is_package, get_resource_reader, ...
        return getattr(self._loader, name)


class _ImportGuard(importlib.abc.MetaPathFinder):
    """Finds the named modules with the other finders and wraps their loaders."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = set(names)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names or threading.current_thread() is not threading.main_thread():
            return None
        self.names.discard(fullname)
        if not self.names:
            uninstall()
        for finder in sys.meta_path:  # the others, in their order
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, _ImportGuard) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _HeldSignalsLoader(spec.loader)
                return spec
        return None


def install(names: Sequence[str] = ("torch",)) -> None:
    """Hold SIGINT and SIGTERM off during the first import of each of ``names`` not imported
    yet (in the main thread); nothing to do when all of them are."""
    uninstall()
    missing = [name for name in names if name not in sys.modules]
    if missing:
        sys.meta_path.insert(0, _ImportGuard(missing))


def uninstall() -> None:
    """Remove the finder :func:`install` added, if it is still there."""
    # a new list, not an edit in place: the import system may be iterating the old one
    sys.meta_path = [f for f in sys.meta_path if not isinstance(f, _ImportGuard)]
