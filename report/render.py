"""Write a suite's report folder, every file atomically (a reader never sees half a file):

- ``index.html``: one self-contained page (figures embedded as data URIs; no request of any
  kind), readable on a laptop and a phone;
- ``REPORT.md`` with ``figures/*.png``: GitHub-flavoured Markdown (fits a CI job summary);
- ``summary.json``: the numbers, machine-readable (:mod:`report.summary_json`);
- ``runs.csv``: the final runs; ``metrics.csv``: every metric stored for them (long:
  ``run_id, step, epoch, split, name, value``); ``trials.csv``: the tuning trials (tuned
  suites), one row per trial (:func:`benchmark.results.trials_frame`).

The header lines say what was measured, on what, when; BAMSProd is labelled a reconstruction
in every report's header. The sections come from :mod:`report.training`,
:mod:`report.tuning` and :mod:`report.convex`; their markup from :mod:`report.markup`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from report.blocks import Section
from report.markup import render_page
from report.training import training_sections

__all__ = ["ReportFiles", "report_header", "training_sections", "write_report"]

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


@dataclass(frozen=True)
class ReportFiles:
    """The files of a report folder."""

    folder: Path
    markdown: Path
    html: Path
    summary: Path | None = None


def _csv(frame: pd.DataFrame) -> str:
    """A frame as CSV, dict and list cells as JSON (so a reader can parse them back)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, dict | list)).any():
            out[column] = out[column].map(
                lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
            )
    return out.to_csv(index=False)


def write_report(
    title: str,
    header: list[str],
    sections: list[Section],
    out_dir: Path,
    *,
    summary: dict | None = None,
    runs: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    trials: pd.DataFrame | None = None,
) -> ReportFiles:
    """Write the report folder ``out_dir`` (see the module docstring); return its files."""
    from report.summary_json import dumps

    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = render_page(title, header, sections, out_dir).markdown
    html = render_page(title, header, sections, out_dir, embed=True).html
    files = ReportFiles(out_dir, out_dir / "REPORT.md", out_dir / "index.html")
    _atomic_write(files.markdown, markdown)
    _atomic_write(files.html, html)
    if runs is not None:
        _atomic_write(out_dir / "runs.csv", _csv(runs))
    if metrics is not None:
        _atomic_write(out_dir / "metrics.csv", _csv(metrics))
    if trials is not None:
        _atomic_write(out_dir / "trials.csv", _csv(trials))
    if summary is not None:
        _atomic_write(out_dir / "summary.json", dumps(summary))
        files = ReportFiles(out_dir, files.markdown, files.html, out_dir / "summary.json")
    return files


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
