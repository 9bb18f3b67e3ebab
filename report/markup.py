"""Turn report blocks into Markdown and HTML: the only module of report/ that writes markup.

Three rules, each in one place:

- text: every text (page title, header lines, section titles, paragraphs, notes, table
  headers and cells, alt texts, image paths) is plain text. Markdown gets it verbatim (so the
  Markdown file shows a description as it was written); HTML gets it escaped by
  :func:`markupsafe.escape` (``<>&'"``), and Markdown characters (``_``, ``*``, backticks)
  are not interpreted there. Emphasis exists only as a block (:class:`~report.blocks.Note`);
- numbers: :func:`number` formats every number of a table cell, and sections format the
  numbers of their texts with it too;
- table cells are one line: whitespace runs become one space, ends stripped, in both formats.
"""

from __future__ import annotations

import base64
import math
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from report.blocks import Block, Figure, Note, Paragraph, Section, Table

NO_ROWS = "(no rows)"


# ----------------------------------------------------------------------------- numbers
def number(value: Any, digits: int = 4, *, fixed: bool = False) -> str:
    """The report's number formatter. ``None`` and NaN: ``n/a``; integers, booleans and
    non-numbers: ``str``; other reals: ``digits`` significant digits (``inf``/``-inf`` as
    such), or with ``fixed`` ``digits`` decimals, except magnitudes below 1e-3 (not 0), which
    keep ``digits`` significant digits rather than print as zero."""
    if value is None:
        return "n/a"
    if isinstance(value, numbers.Integral) or not isinstance(value, numbers.Real):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "n/a"
    if fixed and not (0 < abs(v) < 1e-3):
        return f"{v:.{digits}f}"
    return f"{v:.{digits}g}"


def assignments(values: Mapping[str, Any]) -> str:
    """``key=value, ...`` in the mapping's order, numbers through :func:`number`."""
    return ", ".join(f"{key}={number(v)}" for key, v in values.items())


def _cell(value: Any) -> str:
    return re.sub(r"\s+", " ", number(value)).strip()


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` with forward slashes (for Markdown and HTML links)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


# ----------------------------------------------------------------------------- tables
def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table."""
    if frame.empty:
        return render_block(Note(NO_ROWS)).markdown
    header = "| " + " | ".join(_cell(str(c)) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(map(_cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table (the layout pandas' ``to_html`` gave the first reports)."""
    if frame.empty:
        return render_block(Note(NO_ROWS)).html
    row = "    <tr>\n{}\n    </tr>"
    header = "\n".join(f"      <th>{escape(_cell(str(c)))}</th>" for c in frame.columns)
    body = [
        row.format("\n".join(f"      <td>{escape(_cell(v))}</td>" for v in values))
        for values in frame.itertuples(index=False)
    ]
    return "\n".join(
        [
            '<table class="dataframe">',
            "  <thead>",
            '    <tr style="text-align: right;">',
            header,
            "    </tr>",
            "  </thead>",
            "  <tbody>",
            *body,
            "  </tbody>",
            "</table>",
        ]
    )


# ----------------------------------------------------------------------------- blocks, pages
class Rendered(NamedTuple):
    """The same content in both formats."""

    markdown: str
    html: str


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so the HTML page carries its figures itself."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def render_block(block: Block, base: Path = Path("."), *, embed: bool = False) -> Rendered:
    """One block in Markdown and in HTML; figures are linked relative to ``base`` (in HTML:
    embedded as ``data:`` URIs with ``embed``, so the page needs no other file)."""
    match block:
        case Paragraph(text):
            return Rendered(text, f"<p>{escape(text)}</p>")
        case Note(text):
            return Rendered(f"_{text}_", f"<p><em>{escape(text)}</em></p>")
        case Table(frame):
            return Rendered(markdown_table(frame), html_table(frame))
        case Figure(path, alt):
            src = relative(path, base)
            html_src = data_uri(path) if embed else src
            return Rendered(
                f"![{alt}]({src})", f'<p><img src="{escape(html_src)}" alt="{escape(alt)}"></p>'
            )
    raise TypeError(f"not a report block: {block!r}")


def render_section(section: Section, base: Path, *, embed: bool = False) -> Rendered:
    """A section's blocks (not its title): in Markdown separated by blank lines, in HTML one
    per line."""
    blocks = [render_block(block, base, embed=embed) for block in section.blocks]
    return Rendered("\n\n".join(b.markdown for b in blocks), "\n".join(b.html for b in blocks))


_PAGE = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bnnbench: {{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;display:block;overflow-x:auto}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:right}th{background:#f4f4f4}img{max-width:100%;height:auto}.note{color:#555}
p{overflow-wrap:anywhere}</style></head>
<body><h1>bnnbench: {{ title }}</h1>
{% for line in header %}<p class="note">{{ line }}</p>
{% endfor %}{% for name, body in sections %}<h2>{{ name }}</h2>
{{ body }}
{% endfor %}</body></html>
""",
    autoescape=True,
)


def render_page(
    title: str, header: list[str], sections: list[Section], base: Path, *, embed: bool = False
) -> Rendered:
    """The whole report: the title, the header lines (italic notes), then each section;
    ``embed`` puts the figures into the HTML itself."""
    bodies = [(s.title, render_section(s, base, embed=embed)) for s in sections]
    md = [f"# bnnbench: {title}", "", *[f"_{line}_  " for line in header], ""]
    for name, body in bodies:
        md += [f"## {name}", "", body.markdown, ""]
    html = _PAGE.render(
        title=title, header=header, sections=[(name, Markup(body.html)) for name, body in bodies]
    )
    return Rendered("\n".join(md), html)
