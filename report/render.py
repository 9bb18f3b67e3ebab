"""Render a suite's report (Markdown + HTML) from the results store alone.

The report states what was measured, on what, with uncertainty: the environment, the
tuning budget actually used (registry defaults, or the tuned points), per-cell
accuracy with bootstrap CIs, speed of convergence against the reference optimizer, failed
runs, and any task sections (the convex counterexample). BAMSProd is labelled a
reconstruction everywhere it appears.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path

import jinja2
import pandas as pd

from report.section import Section, html_table, markdown_table
from report.summary import accuracy_table, convergence_table, final_runs

RECONSTRUCTION_NOTE = (
    "BAMSProd here is a documented reconstruction from the paper's published abstract "
    "(arXiv:2009.13799); the paper's full algorithm is not available. See docs/optimizers.md."
)


def table_section(title: str, intro: str, frame: pd.DataFrame) -> Section:
    return Section(
        title,
        f"{intro}\n\n{markdown_table(frame)}",
        f"<p>{jinja2.utils.markupsafe.escape(intro)}</p>\n{html_table(frame)}",
    )


def training_sections(runs: pd.DataFrame, metrics: pd.DataFrame, reference: str) -> list[Section]:
    """The accuracy, convergence and failure sections for training suites."""
    finals = final_runs(runs)
    if finals.empty:
        return []
    sections = [
        table_section(
            "Final test accuracy",
            "Per cell over seeds: mean, standard deviation and 95% bootstrap CI of the mean "
            "(n/a with a single seed). Diverged runs count with their last accuracy.",
            accuracy_table(runs),
        )
    ]
    conv = convergence_table(runs, metrics, reference)
    if not conv.empty:
        sections.append(
            table_section(
                "Speed of convergence",
                f"Steps until test accuracy first reaches the target (the mean final test "
                f"accuracy of the reference optimizer '{reference}' in the cell); a run that "
                f"never reaches it counts as its full budget. speedup = reference steps / "
                f"optimizer steps.",
                conv,
            )
        )
    failed = finals[finals["status"] == "failed"]
    if not failed.empty:
        cols = [c for c in ("model", "dataset", "optimizer", "seed", "message") if c in failed]
        sections.append(table_section("Failed runs", "Runs that raised an error.", failed[cols]))
    return sections


_HTML = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bnnbench: {{ title|e }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:right}th{background:#f4f4f4}img{max-width:100%}.note{color:#555}</style></head>
<body><h1>bnnbench: {{ title|e }}</h1>
{% for line in header %}<p class="note">{{ line|e }}</p>
{% endfor %}{% for s in sections %}<h2>{{ s.title|e }}</h2>
{{ s.html }}
{% endfor %}</body></html>
""",
    autoescape=False,
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
    md = [f"# bnnbench: {title}", "", *[f"_{line}_  " for line in header], ""]
    for s in sections:
        md += [f"## {s.title}", "", s.markdown, ""]
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    _atomic_write(md_path, "\n".join(md))
    _atomic_write(html_path, _HTML.render(title=title, header=header, sections=sections))
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
