"""The types of the ``summary.json`` values that ``compare`` and ``--hparams-from`` read.

A summary is user input for ``bnnbench compare`` and ``--hparams-from``: a baseline edited
by hand, or written by another tool, can hold ``"0.91"`` where a number belongs, or an array
where an object does. Read as it is, that is a ``TypeError`` or ``AttributeError`` deep in
the comparison. :func:`check_shape` walks the parts those commands read, before anything is
compared, and names the first value of the wrong type by its path
(``task.cells[0].optimizers.adam.accuracy.mean``) and what is allowed there.

Only types are checked, only of the keys those commands read, and only when present: a
summary written before a key existed lacks it, and every reader has a default for it. ``null`` is allowed wherever a
number is (the writer writes a non-finite number as ``null``); a number must be finite and
not a boolean. The rules mirror ``report/summary.schema.json`` (which a test validates every
written summary against) for the keys read here; no JSON Schema library is needed at run time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.errors import BnnBenchError

#: kinds of value: a finite number, an integer (``3.0`` is one, as in JSON Schema), a
#: string, any value
NUMBER, INTEGER, STRING, ANY = "a number", "an integer", "a string", "any value"


@dataclass(frozen=True)
class Obj:
    """An object; ``fields``: the rule of each key (checked when present); ``values``: the
    rule of every value (an object keyed by names); ``null``: ``null`` allowed instead."""

    fields: Mapping[str, Any] | None = None
    values: Any = None
    null: bool = True


@dataclass(frozen=True)
class Arr:
    """An array whose every item follows ``items`` (``null`` allowed instead)."""

    items: Any
    null: bool = True


_INTERVAL = Obj({"mean": NUMBER, "ci_low": NUMBER, "ci_high": NUMBER})
_RUN = Obj({"accuracy": NUMBER, "auc": NUMBER}, null=False)
_OPTIMIZER = Obj(
    {
        "diverged": INTEGER,
        "failed": INTEGER,
        "accuracy": _INTERVAL,
        "steps_to_target": _INTERVAL,
        "runs": Arr(_RUN),
    },
    null=False,
)
_CELL = Obj(
    {
        "model": STRING,
        "dataset": STRING,
        "target": NUMBER,
        "optimizers": Obj(values=_OPTIMIZER, null=False),
    },
    null=False,
)
_TUNED_CELL = Obj({"best_params": Obj(values=ANY), "best_score": NUMBER}, null=False)
#: the keys of a summary that are read, and their rules
SUMMARY = Obj(
    {
        "suite": Obj(
            {"name": STRING, "task": STRING, "spec": Obj(values=ANY)},
            null=False,
        ),
        "environment": Obj({"cpu": ANY, "git_commits": Arr(ANY)}),
        "task": Obj(
            {
                "cells": Arr(_CELL),
                "tuning": Obj({"cells": Obj(values=_TUNED_CELL)}),
            },
            null=False,
        ),
    },
    null=False,
)


def check_shape(document: Mapping[str, Any], source: str, rule: Obj = SUMMARY) -> None:
    """Raise a one-line :class:`BnnBenchError` naming ``source``, the key path and what is
    allowed there, at the first value of ``document`` that breaks ``rule``. Iterative (a
    document's depth is bounded by its reader before this runs)."""
    todo: list[tuple[Any, Any, str]] = [(document, rule, "")]
    while todo:
        value, expected, path = todo.pop()
        if expected == ANY:
            continue
        if value is None and (isinstance(expected, str) or expected.null):
            continue
        if isinstance(expected, Obj):
            if not isinstance(value, dict):
                _wrong(source, path, value, "an object" + (" or null" if expected.null else ""))
            for key, item in reversed(list(value.items())):
                inner = (expected.fields or {}).get(key, expected.values)
                if inner is not None:
                    todo.append((item, inner, f"{path}.{key}" if path else str(key)))
        elif isinstance(expected, Arr):
            if not isinstance(value, list):
                _wrong(source, path, value, "an array" + (" or null" if expected.null else ""))
            todo.extend(
                (item, expected.items, f"{path}[{i}]")
                for i, item in reversed(list(enumerate(value)))
            )
        elif not _is(value, expected):
            _wrong(source, path, value, f"{expected} or null")


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == NUMBER:
        return isinstance(value, int | float) and math.isfinite(value)
    if kind == INTEGER:
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, str)


def _wrong(source: str, path: str, value: Any, allowed: str) -> None:
    raise BnnBenchError(
        f"'{source}': {path or 'the document'} is {_describe(value)}; allowed: {allowed} "
        "(not a summary.json bnnbench wrote, or edited since: rebuild it with "
        "`bnnbench report`)"
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, str):
        shown = json.dumps(value[:40] + ("..." if len(value) > 40 else ""))
        return f"the string {shown}"
    if isinstance(value, int | float):
        return f"the number {value}" if math.isfinite(value) else f"{value} (not finite)"
    return "an object" if isinstance(value, dict) else "an array"


__all__ = ["SUMMARY", "check_shape"]
