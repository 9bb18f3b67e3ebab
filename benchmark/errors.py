"""The one exception type for errors a user can cause.

Bad YAML, unknown names, missing data, an unreachable database: each raises
:class:`BnnBenchError` with a one-line message naming the file, the key and what is allowed.
The CLI prints the message without a traceback and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BnnBenchError(Exception):
    """A user-caused error with a one-line, actionable message (the CLI exits 2)."""


class StoreMissing(BnnBenchError):
    """A read-only open found no results store (``bnnbench show`` before any ``run``).

    Its own class so callers can tell "nothing stored yet" from a broken store and, say,
    print "no runs" instead of failing.
    """


class SuiteBusy(BnnBenchError):
    """Another process holds the suite's run lock: two runs of one suite would train twice.

    Raised by :meth:`benchmark.store.Store.suite_lock`; the message names the suite, the store,
    the lock and, when known, the holder's pid.
    """


class WorkerCrashed(RuntimeError):
    """A worker process died (killed, out of memory, segfault) while running a spec.

    Not the user's doing: the CLI prints it on one line and exits 1; finished runs are stored.
    """


def closest(name: str, allowed: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest allowed name, or ``""``."""
    matches = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def unknown_name(kind: str, name: str, allowed: Iterable[str], where: str = "") -> BnnBenchError:
    """Build the standard "unknown X" error: names the value, a suggestion and the allowed set."""
    allowed = sorted(allowed)
    prefix = f"{where}: " if where else ""
    return BnnBenchError(
        f"{prefix}unknown {kind} '{name}'{closest(name, allowed)}; allowed: {', '.join(allowed)}"
    )
