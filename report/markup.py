"""Turn report blocks into Markdown and HTML: the only module of report/ that writes markup.

Three rules, each in one place:

- text: every text (page title, header lines, section titles, paragraphs, notes, captions,
  table headers and cells, alt texts) is plain text, which the report did not necessarily
  write itself (a suite's description, optimizer names, tuned values). Markdown gets it with
  every character that could start markup backslash-escaped (:func:`md_text`), so GitHub
  shows it as written and builds no tag, link or image from it; HTML gets it escaped by
  :func:`markupsafe.escape` (``<>&'"``). Emphasis exists only as a block
  (:class:`~report.blocks.Note`) and as captions;
- numbers: :func:`number` formats every number of a table cell, and sections format the
  numbers of their texts with it too: :func:`points` (accuracy in percentage points, one
  decimal), :func:`ratio` (two decimals), :func:`p_value` (two significant digits, three
  near 0.05, ``< 0.001`` below that), :func:`fixed` (a quantity with a unit: seconds,
  steps, epochs); no float noise (``|x| < 1e-12`` and ``-0.0`` print ``0``).
  :mod:`report.inference_words` words verdicts with these same functions. They live in
  :mod:`report.numbers` (pandas- and jinja2-free, for ``bnnbench show``), re-exported here,
  with :func:`md_text`. A table's header names its unit (``accuracy (points)``,
  ``time-to-target (epochs)``, ``speed-up (x)``); a column that mixes units (the claims
  table: a speed row and an accuracy row) carries the unit in each cell instead;
- table cells are one line: whitespace runs become one space, ends stripped, in both formats.

The page: a title, a table of contents, the numbered sections (``## 3. Final test
accuracy``, anchors as GitHub makes them, :func:`slug`), the header lines last
(:data:`ABOUT`). Tables in HTML scroll sideways inside ``div.table-wrap`` on a phone, their
captions under the wrapper; in Markdown a table wider than GitHub's content column is split
(:func:`split_wide`).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from markupsafe import Markup, escape

from report.blocks import Block, Figure, Note, Paragraph, Section, Table
from report.numbers import NO_ROWS as NO_ROWS
from report.numbers import NOISE as NOISE
from report.numbers import P_FLOOR as P_FLOOR
from report.numbers import P_NEAR_LEVEL as P_NEAR_LEVEL
from report.numbers import _cell as _cell
from report.numbers import _line_start as _line_start
from report.numbers import _real as _real
from report.numbers import fixed as fixed
from report.numbers import md_text as md_text
from report.numbers import number as number
from report.numbers import p_value as p_value
from report.numbers import points as points
from report.numbers import ratio as ratio

if TYPE_CHECKING:  # pandas and jinja2 are imported where used: `bnnbench show` imports this
    import jinja2  # module for markdown_rows and must start fast (docs/performance.md)
    import pandas as pd


def assignments(values: Mapping[str, Any]) -> str:
    """``key=value, ...`` in the mapping's order, numbers through :func:`number`."""
    return ", ".join(f"{key}={number(v)}" for key, v in values.items())


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` with forward slashes (for Markdown and HTML links)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def slug(title: str) -> str:
    """The anchor GitHub gives a heading (lower case; letters, digits, ``-``, ``_`` and
    spaces kept, spaces as ``-``): the same id in index.html, so ``REPORT.md#3-final-...``
    and ``index.html#3-final-...`` name the same section."""
    kept = "".join(c for c in str(title).strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


# ----------------------------------------------------------------------------- tables
MD_TABLE_WIDTH = 760
"""Widest Markdown table, in pixels as GitHub draws it (14 px text, about 7.5 px a character,
26 px of padding a column): GitHub's content column is 790 px at its narrowest desktop
layout; a wider table is split into parts that repeat its key columns (:func:`split_wide`)."""
MD_CHAR_PX, MD_PAD_PX = 7.5, 27


def _width(frame: pd.DataFrame, columns: list[Any]) -> float:
    total = 0.0
    for c in columns:
        longest = max([len(_cell(str(c)))] + [len(_cell(v)) for v in frame[c]])
        total += longest * MD_CHAR_PX + MD_PAD_PX
    return total


def split_wide(
    frame: pd.DataFrame, width: float = MD_TABLE_WIDTH, keys: tuple[str, ...] | None = None
) -> list[pd.DataFrame]:
    """``frame`` as tables no wider than ``width`` px on GitHub. ``keys``: the columns that
    name a row (e.g. cell, optimizer), repeated in every part; by default the leading
    columns of strings, at most three. The other columns spread over as few parts as fit, in
    their order; the first part keeps the frame's column order (a verdict before the keys
    stays first), the others are the keys then their columns. A frame that fits (or has
    nothing to split) is returned as it is."""
    columns = list(frame.columns)
    if frame.empty or _width(frame, columns) <= width:
        return [frame]
    if keys is None:
        keys = ()
        for c in columns[:3]:
            if not frame[c].map(lambda v: isinstance(v, str)).all():
                break
            keys += (c,)
    key_list = [c for c in columns if c in keys]
    rest = [c for c in columns if c not in keys]
    if len(rest) < 2:
        return [frame]
    parts, current = [], []
    for c in rest:
        if current and _width(frame, key_list + current + [c]) > width:
            parts.append(current)
            current = []
        current.append(c)
    parts.append(current)
    first = [c for c in columns if c in keys or c in parts[0]]
    return [frame[first]] + [frame[key_list + part] for part in parts[1:]]


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, every cell's text escaped (:func:`md_text`)."""
    if frame.empty:
        return render_block(Note(NO_ROWS)).markdown
    return markdown_rows(list(frame.columns), frame.itertuples(index=False))


def markdown_rows(columns: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """:func:`markdown_table` of a header and rows given as plain sequences (no pandas:
    ``bnnbench show``); the note "(no rows)" when there are none."""
    body = ["| " + " | ".join(md_text(_cell(v)) for v in row) + " |" for row in rows]
    if not body or not columns:
        return render_block(Note(NO_ROWS)).markdown
    header = "| " + " | ".join(md_text(_cell(str(c))) for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    return "\n".join([header, rule, *body])


_UNIT = re.compile(r"^(.*\S) (\([^()]*\))$")


def _html_header(text: str) -> Markup:
    """A header cell's text, escaped; a trailing ``(unit)`` on a line of its own, so a
    header is at most two lines however narrow its column (``restricted mean`` /
    ``(epochs)``)."""
    match = _UNIT.match(text)
    if match is None:
        return escape(text)
    return Markup("{}<br>{}").format(match.group(1), match.group(2))


def html_table(frame: pd.DataFrame, caption: str = "") -> str:
    """An HTML table inside a horizontally scrolling wrapper (``div.table-wrap``: a wide table
    scrolls on a phone instead of widening the page). A caption goes under the wrapper, not
    inside the table (``<figure class="table">`` with a ``<figcaption>``): a ``<caption>`` is
    as wide as its table, so on a phone it would scroll off the screen with it."""
    if frame.empty:
        return render_block(Note(NO_ROWS)).html
    row = "    <tr>\n{}\n    </tr>"
    header = "\n".join(f"      <th>{_html_header(_cell(str(c)))}</th>" for c in frame.columns)
    body = [
        row.format("\n".join(f"      <td>{escape(_cell(v))}</td>" for v in values))
        for values in frame.itertuples(index=False)
    ]
    table = "\n".join(
        [
            '<div class="table-wrap"><table class="dataframe">',
            "  <thead>",
            '    <tr style="text-align: right;">',
            header,
            "    </tr>",
            "  </thead>",
            "  <tbody>",
            *body,
            "  </tbody>",
            "</table></div>",
        ]
    )
    if not caption:
        return table
    return f'<figure class="table">{table}<figcaption>{escape(caption)}</figcaption></figure>'


# ----------------------------------------------------------------------------- blocks, pages
class Rendered(NamedTuple):
    """The same content in both formats."""

    markdown: str
    html: str


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so the HTML page carries its figures itself."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _md_caption(caption: str) -> list[str]:
    return [f"_{md_text(caption)}_"] if caption else []


def _md_link_target(src: str) -> str:
    """A relative file path as a Markdown link destination (``<...>`` when it has a space,
    ``<``/``>`` percent-encoded)."""
    src = src.replace("<", "%3C").replace(">", "%3E")
    return f"<{src}>" if re.search(r"[\s()]", src) else src


def render_block(block: Block, base: Path = Path("."), *, embed: bool = False) -> Rendered:
    """One block in Markdown and in HTML; figures are linked relative to ``base`` (in HTML:
    embedded as ``data:`` URIs with ``embed``, so the page needs no other file). A table's or
    figure's caption is an italic line under it in Markdown, a ``<figcaption>`` under it in
    HTML. A Markdown table wider than GitHub's content column is split (:func:`split_wide`,
    repeating the table's ``keys``)."""
    match block:
        case Paragraph(text):
            return Rendered(md_text(text), f"<p>{escape(text)}</p>")
        case Note(text):
            return Rendered(f"_{md_text(text)}_", f'<p class="note"><em>{escape(text)}</em></p>')
        case Table(frame, caption, keys):
            parts = [markdown_table(part) for part in split_wide(frame, keys=keys)]
            md = "\n\n".join(parts + _md_caption(caption))
            return Rendered(md, html_table(frame, caption))
        case Figure(path, alt, caption):
            src = relative(path, base)
            html_src = data_uri(path) if embed else src
            cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
            md = "\n\n".join([f"![{md_text(alt)}]({_md_link_target(src)})", *_md_caption(caption)])
            html = f'<figure><img src="{escape(html_src)}" alt="{escape(alt)}">{cap}</figure>'
            return Rendered(md, html)
    raise TypeError(f"not a report block: {block!r}")


def render_section(section: Section, base: Path, *, embed: bool = False) -> Rendered:
    """A section's blocks (not its title): in Markdown separated by blank lines, in HTML one
    per line."""
    blocks = [render_block(block, base, embed=embed) for block in section.blocks]
    return Rendered("\n\n".join(b.markdown for b in blocks), "\n".join(b.html for b in blocks))


ABOUT = "About this report"
"""The last section: the header lines (what was measured, on what, when)."""

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
line-height:1.45;color:#1a1a1a}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{font-size:1.3em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
nav#toc{font-size:.92em;margin:.5em 0 1em}nav#toc ol{margin:0;padding:0;list-style:none;
display:flex;flex-wrap:wrap;gap:.2em 1.2em}nav#toc a{color:#0550ae;text-decoration:none}
.table-wrap{overflow-x:auto;margin:1em 0;max-width:100%}figure.table .table-wrap{margin:0}
table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:right;white-space:nowrap}th{background:#f4f4f4;vertical-align:bottom}
td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure img{display:block;max-width:100%;height:auto}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
.note{color:#555}p{overflow-wrap:anywhere}
@media (max-width:600px){body{padding:0 .6em;margin-top:.8em}td,th{padding:.2em .4em}}
"""


@cache
def _page() -> jinja2.Template:
    """The page template (jinja2 imported on first use)."""
    import jinja2

    return jinja2.Template(
        """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bnnbench: {{ title }}</title>
<style>{{ style }}</style></head>
<body><h1>bnnbench: {{ title }}</h1>
<nav id="toc" aria-label="contents"><ol>
{% for number, name, anchor, _ in sections %}<li><a href="#{{ anchor }}">{{ number }}. {{ name }}</a></li>
{% endfor %}</ol></nav>
{% for number, name, anchor, body in sections %}<section id="{{ anchor }}"{% if loop.first %} class="answer"{% endif %}>
<h2>{{ number }}. {{ name }}</h2>
{{ body }}
</section>
{% endfor %}</body></html>
""",
        autoescape=True,
    )


def numbered(sections: list[Section]) -> list[tuple[int, str, str, Section]]:
    """``(number, title, anchor, section)`` per section: a section's own fixed ``number``
    where it has one (absent optional sections leave their numbers unused, so the others keep
    theirs from report to report), else the number after the previous section's (from 1);
    the anchor is :func:`slug` of ``"<number>. <title>"`` (GitHub's anchor of the Markdown
    heading). Numbers must increase down the page."""
    out, last = [], 0
    for s in sections:
        n = s.number if s.number is not None else last + 1
        if n <= last:
            raise ValueError(f"section {s.title!r} numbered {n} after section {last}")
        out.append((n, s.title, slug(f"{n}. {s.title}"), s))
        last = n
    return out


def render_page(
    title: str, header: list[str], sections: list[Section], base: Path, *, embed: bool = False
) -> Rendered:
    """The whole report: the title, a table of contents (links to every section's anchor),
    each section numbered (``## 3. Final test accuracy``; its anchor :func:`slug`; fixed
    numbers: :func:`numbered`), then the header lines as the last section, :data:`ABOUT`
    (the first screen is the first section, not metadata). ``embed`` puts the figures into the HTML itself. In HTML every
    section is a ``<section id=anchor>``; the first has class ``answer``."""
    everything = list(sections)
    if header:
        everything.append(Section(ABOUT, [Paragraph(line) for line in header]))
    listed = numbered(everything)
    bodies = [(n, name, a, render_section(s, base, embed=embed)) for n, name, a, s in listed]
    md = [f"# bnnbench: {md_text(title)}", ""]
    # a bullet list, the number in the link: a Markdown ordered list renumbers its items,
    # which would hide the gaps of absent optional sections
    md += [f"- [{n}. {md_text(name)}](#{a})" for n, name, a, _ in bodies] + [""]
    for n, name, _, body in bodies:
        md += [f"## {n}. {md_text(name)}", "", body.markdown, ""]
    html = _page().render(
        title=title,
        style=Markup(_STYLE),
        sections=[(n, name, a, Markup(body.html)) for n, name, a, body in bodies],
    )
    return Rendered("\n".join(md), html)
