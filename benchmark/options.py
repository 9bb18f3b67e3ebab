"""Option checking shared by the model and dataset registries; errors are :class:`BnnBenchError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmark.errors import BnnBenchError, closest


def merge_options(
    kind: str, name: str, given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict:
    """``defaults`` updated with ``given``; an unknown key raises naming the allowed ones.

    ``kind`` (``"model"``, ``"dataset"``) and ``name`` prefix the message:
    ``model 'mlp': unknown option 'hiden' (did you mean 'hidden'?); allowed: ...``.
    """
    for key in given:
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "(none)"
            raise BnnBenchError(
                f"{kind} '{name}': unknown option '{key}'{closest(key, defaults)}; "
                f"allowed: {allowed}"
            )
    return {**defaults, **given}


def seed_list(value: Any) -> Any:
    """A suite's ``seeds``: an int ``n`` means ``[0, 1, ..., n - 1]``; anything else passes
    through for pydantic to validate (used as a ``mode="before"`` field validator)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError("a seed count must be >= 1 (or give a list of seeds)")
        return list(range(value))
    return value
