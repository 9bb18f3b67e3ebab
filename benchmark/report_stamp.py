"""Whether a suite's report is up to date: a stamp file written beside the report.

A report is a function of the suite (its parsed content), the runs the store links to the
suite (which runs, their status, when each finished) and the code that renders it. After
writing a report, :func:`write_stamp` stores a fingerprint of the three in
``<report folder>/.bnnbench-report.json``; a rerun with nothing to do compares the
fingerprint it computes now with the stamp (:func:`is_current`) and skips the rebuild when
they are equal and the report's files are all there. Anything else rebuilds: a run stored,
retried or forgotten (``--fresh``), an edited suite file, another store URL, changed bnnbench
or report code (the source files' contents are hashed), a deleted or foreign stamp.

Computing the fingerprint reads one row per run (no metric values) and hashes about 1 MB of
source: milliseconds, against seconds for a report build (docs/performance.md, "A rerun
with nothing left to do").
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import benchmark

STAMP_NAME = ".bnnbench-report.json"
#: the files a finished report folder holds (report/render.py writes them)
REPORT_FILES = ("REPORT.md", "index.html")
#: 2 since the finish times are written as exact floats (issue 21): an older stamp
#: rebuilds the report once
_VERSION = 2


@functools.cache
def code_hash() -> str:
    """SHA-256 of the bnnbench and report packages' Python sources (paths and contents)."""
    digest = hashlib.sha256()
    root = Path(benchmark.__file__).resolve().parent.parent
    for package in ("benchmark", "report"):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(suite: Any, db: Any) -> str:
    """What the suite's report depends on, hashed: the suite's content, the store's URL, the
    ``(run_id, status, finished_at)`` of every run linked to the suite (``db.run_states``:
    a :class:`~benchmark.store.Store`, or the light
    :class:`~benchmark.store.summary_read.SqliteReader` of a rerun with nothing to do; both
    give the same rows, so both give the same fingerprint) and :func:`code_hash`."""
    rows = sorted(
        (str(run_id), str(status), _time_text(finished))
        for run_id, status, finished in db.run_states(suite.name)
    )
    payload = {
        "version": _VERSION,
        "suite": suite.model_dump(mode="json"),
        "store": db.display_url,
        "runs": rows,
        "code": code_hash(),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _time_text(value: Any) -> str:
    """A stored finish time as text: ``repr`` of the float (exact), ``""`` when none."""
    if value is None or value != value:  # NULL, or NaN
        return ""
    return repr(float(value))


def stamp_of(folder: Path, fp: str) -> dict[str, Any] | None:
    """The stamp of the report in ``folder`` if it records ``fp`` and the report's files are
    all there (else ``None``): ``{"fingerprint": fp, "complete": bool, ...}``."""
    try:
        stamp = json.loads((Path(folder) / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != fp:
        return None
    if not all((Path(folder) / name).is_file() for name in REPORT_FILES):
        return None
    return stamp


def is_current(folder: Path, fp: str) -> bool:
    """True when ``folder`` holds a complete report whose stamp records ``fp``."""
    return stamp_of(folder, fp) is not None


def write_stamp(folder: Path, fp: str, *, complete: bool = False) -> None:
    """Record that the report in ``folder`` was built from the state ``fp`` (atomically);
    ``complete``: by a run of the suite that stored every run without a failure."""
    path = Path(folder) / STAMP_NAME
    tmp = path.with_name(path.name + ".tmp")
    payload = {"fingerprint": fp, "complete": bool(complete), "version": _VERSION}
    tmp.write_text(json.dumps(payload) + "\n")
    tmp.replace(path)
