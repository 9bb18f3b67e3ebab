"""Writing a report folder so that a failure leaves the previous report intact (issue 22).

The figures are drawn and the pages written into a staging folder beside the report folder
(same file system); only once everything is written are the files moved in, one
``os.replace`` each (a rename: it needs no space), the pages last, so they never point at a
figure not yet there. A full disk (``ENOSPC``), a quota or any other ``OSError`` while
staging becomes one line; the report folder is not touched and the staging folder removed.
Files of the report folder that this report does not write (a user's own, or an older
report's figures) are left where they are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmark.errors import BnnBenchError

#: moved in after every other file (they link the figures)
PAGES = ("REPORT.md", "index.html")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """A staging folder for the report of ``out_dir``; its files are moved into ``out_dir``
    when the ``with`` body succeeds. An ``OSError`` in the body (or while moving) raises a
    one-line :class:`BnnBenchError`."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.new-"))
    except OSError as exc:
        raise _cannot(out_dir, exc) from None
    try:
        try:
            yield staging
        except OSError as exc:
            raise _cannot(out_dir, exc) from None
        try:
            _move_in(staging, out_dir)
        except OSError as exc:
            raise _cannot(out_dir, exc, moving=True) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _cannot(out_dir: Path, exc: OSError, moving: bool = False) -> BnnBenchError:
    reason = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and not moving else ""
    state = (
        "some of its files may be new, the pages are the previous ones"
        if moving
        else "the previous report there is unchanged"
    )
    return BnnBenchError(f"cannot write the report to '{out_dir}': {reason}{where}; {state}")


def _move_in(staging: Path, out_dir: Path) -> None:
    """Every file below ``staging`` to the same place below ``out_dir`` (pages last);
    folders get the mode ``mkdir`` gives."""
    mode = 0o777 & ~_umask()
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.relative_to(staging).as_posix() in PAGES)
    out_dir.mkdir(exist_ok=True, mode=mode)
    for path in files:
        target = out_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True, mode=mode)
        os.replace(path, target)
