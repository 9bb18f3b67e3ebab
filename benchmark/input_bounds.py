"""Bounds on what a user's file may cost, checked before it is expanded or read whole
(docs/suites.md, "Limits"; issue 22): the bytes read, the text encoding, a YAML document's
nesting depth and the number of nodes its aliases expand to.

A 665-byte YAML file can name ``2**30`` nodes through nested aliases (``a: &a [x, x]``,
``b: &b [*a, *a]``, ...): PyYAML builds them all, and every later step walks them. A
100,000-deep ``[[[...]]]`` makes PyYAML's recursive composer raise ``RecursionError``. Both
are found here from PyYAML's *event stream*, which its parser produces without recursion
and without building anything: depth is the number of open collections; the expanded size
of a node is 1 plus its children's, an alias costs the expanded size of its anchor (known
once the anchored node ended), and the count stops at the first node over the limit.

Standard library and PyYAML only: ``benchmark.suite_files.peek_task`` (which the CLI runs
before anything heavy) reads suite files through it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import BnnBenchError

#: the largest suite file read (bytes): the biggest shipped suite is 2 KB, a 10,000-seed list 60 KB
MAX_SUITE_BYTES = 1_000_000
#: the most YAML nodes a suite may hold, counting every alias as the nodes it expands to
MAX_YAML_NODES = 100_000
#: the deepest nesting of mappings and lists in a suite file (the schema needs 5)
MAX_YAML_DEPTH = 64

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def read_text(path: Path, where: str, what: str, limit: int) -> str:
    """The UTF-8 text of ``path``, reading at most ``limit`` bytes (``/dev/zero`` included),
    or a one-line :class:`BnnBenchError` naming ``where``: too large, unreadable, or not
    UTF-8 (naming the encoding when a byte-order mark or NUL bytes give it away)."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise BnnBenchError(f"{where}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise BnnBenchError(
            f"{where}: {what} is larger than {limit:,} bytes; allowed: at most {limit:,} bytes"
        )
    return decode(data, where, what)


def decode(data: bytes, where: str, what: str) -> str:
    """``data`` decoded as UTF-8 (a UTF-8 byte-order mark dropped), else one line naming
    the encoding found."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise BnnBenchError(
                f"{where}: {what} is {name}-encoded; save it as UTF-8 (allowed encoding: UTF-8)"
            )
    if b"\x00" in data:  # valid UTF-8, but no text file holds NUL bytes
        head = data[:4096]
        if head.count(b"\x00") * 3 >= len(head):  # ASCII as UTF-16: every other byte NUL
            raise BnnBenchError(
                f"{where}: {what} looks UTF-16-encoded (NUL bytes, no byte-order mark); "
                "save it as UTF-8 (allowed encoding: UTF-8)"
            )
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise BnnBenchError(
            f"{where}: {what} holds NUL bytes (line {line}): not a text file; allowed "
            "encoding: UTF-8"
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BnnBenchError(
            f"{where}: {what} is not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}; "
            "Latin-1 or Windows-1252?); save it as UTF-8 (allowed encoding: UTF-8)"
        ) from None


def check_yaml(text: str, where: str, loader: Any = None) -> None:
    """Refuse ``text`` before it is composed when it nests deeper than
    :data:`MAX_YAML_DEPTH` or holds more than :data:`MAX_YAML_NODES` nodes once its aliases
    are expanded (one line naming ``where`` and the line of the offending node). Syntax
    errors are left to the real load, which names them better."""
    import yaml

    loader_class = loader or yaml.SafeLoader
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    stack: list[list[Any]] = []  # open collections: [anchor, size so far]
    total = 0
    try:
        for event in yaml.parse(text, Loader=loader_class):
            size = 0
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([event.anchor, 1])
                if len(stack) > MAX_YAML_DEPTH:
                    raise BnnBenchError(
                        f"{where}: YAML nests deeper than {MAX_YAML_DEPTH} levels at line "
                        f"{event.start_mark.line + 1}; allowed: at most {MAX_YAML_DEPTH} "
                        "nested mappings and lists"
                    )
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor is not None:
                    sizes[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                size = sizes.get(event.anchor, 1)
            else:
                continue
            if stack:
                stack[-1][1] += size
                running = stack[-1][1]
            else:
                total += size
                running = total
            if running > MAX_YAML_NODES:
                raise BnnBenchError(
                    f"{where}: YAML expands to more than {MAX_YAML_NODES:,} nodes (aliases "
                    f"counted as what they repeat; at line {event.end_mark.line + 1}); "
                    f"allowed: at most {MAX_YAML_NODES:,} nodes"
                )
    except yaml.YAMLError:
        return  # the load that follows reports it with its line and column
