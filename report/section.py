"""A report section and the two table renderers every section uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Section:
    """One block of a report, in both output formats; ``figures`` are files it references."""

    title: str
    markdown: str
    html: str
    figures: list[Path] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (floats to 4 significant digits, NaN as n/a)."""
    if frame.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table (escaped; floats to 4 significant digits, NaN as n/a)."""
    if frame.empty:
        return "<p><em>(no rows)</em></p>"
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0)
