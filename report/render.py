"""Write a suite's report: the header lines (what was measured, on what, when) and the
page, in Markdown and HTML, written atomically. The sections come from :mod:`report.training`,
:mod:`report.tuning` and :mod:`report.convex`; their markup from :mod:`report.markup`.
BAMSProd is labelled a reconstruction in every report's header.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path

import pandas as pd

from report.blocks import Section
from report.markup import render_page
from report.training import training_sections

__all__ = ["report_header", "training_sections", "write_report"]

RECONSTRUCTION_NOTE = (
    "BAMSProd here is a documented reconstruction from the paper's published abstract "
    "(arXiv:2009.13799); the paper's full algorithm is not available. See docs/optimizers.md."
)


def current_umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (a brief window, single call)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report. The file
    gets the mode a plain ``open(path, "w")`` would (0666 less the umask): ``mkstemp``
    creates it 0600, which would hide a report from the group a results folder is shared
    with."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_report(
    title: str, header: list[str], sections: list[Section], out_dir: Path
) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return their paths."""
    page = render_page(title, header, sections, out_dir)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    _atomic_write(md_path, page.markdown)
    _atomic_write(html_path, page.html)
    return md_path, html_path


def report_header(
    suite: str, runs: pd.DataFrame, tuning_note: str, description: str = ""
) -> list[str]:
    """Who/what/where lines: the suite's description, date, environment of the runs, tuning,
    reconstruction note. Plain text: the HTML escapes every line."""
    lines = [" ".join(description.split())] if description.strip() else []
    lines.append(f"Suite '{suite}', rendered {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.")
    if not runs.empty and "environment" in runs:
        env = runs["environment"].iloc[0] or {}
        pk = env.get("packages", {})
        lines.append(
            f"Measured on {env.get('cpu', '?')} ({env.get('cpu_count', '?')} cores"
            f"{', GPU ' + env['gpu'] if env.get('gpu') else ''}), torch {pk.get('torch')}, "
            f"bnnbench {pk.get('bnnbench')} at git {env.get('git_commit')}; "
            f"{len(runs)} runs ({', '.join(f'{k}: {v}' for k, v in runs['status'].value_counts().items())})."
        )
    lines.append(tuning_note)
    lines.append(RECONSTRUCTION_NOTE)
    return lines
