"""What a report section is made of: a title and a list of blocks, plain data with no markup.

Every section (training, tuning, convex) is built from these blocks only; how a block looks in
Markdown and in HTML is decided once, in :mod:`report.markup`. Texts are plain text (see the
rule there): a section never writes Markdown emphasis or HTML tags itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a Table holds a frame; the blocks themselves need no pandas at import
    import pandas as pd


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class Note:
    """A short remark set in italics (e.g. "No convex runs in the store.")."""

    text: str


@dataclass(frozen=True, eq=False)
class Table:
    """A table: one row per frame row, numbers through the one formatter; an empty frame is
    shown as the note "(no rows)"."""

    frame: pd.DataFrame
    caption: str = ""  # what the table shows: n, interval method, units (plain text)
    #: the columns that name a row, repeated in every part when Markdown splits a wide table
    #: (report.markup.split_wide); None: its leading columns of strings, at most three
    keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Figure:
    """An image file (written by the section), referenced relatively from the report."""

    path: Path
    alt: str
    caption: str = ""  # what is drawn: n, interval method (plain text)


Block = Paragraph | Note | Table | Figure


@dataclass
class Section:
    """One titled part of a report; ``figures`` are the files its figure blocks reference."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    #: the section's fixed number in its kind of report (report.training.SECTION_NUMBERS), so
    #: "section 7" is Tuning in every training report whether or not the sections before it
    #: are there; None: the number after the previous section's
    number: int | None = None

    def __post_init__(self) -> None:
        for block in self.blocks:
            if not isinstance(block, Block):
                raise TypeError(f"a section holds blocks, not {type(block).__name__}")

    @property
    def figures(self) -> list[Path]:
        return [block.path for block in self.blocks if isinstance(block, Figure)]
