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
