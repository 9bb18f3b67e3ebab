"""Validation of dataset options: unknown keys and wrong types raise :class:`BnnBenchError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmark.errors import BnnBenchError, closest


def merge_options(name: str, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict:
    """``defaults`` updated with ``given``; an unknown key raises naming the allowed ones."""
    for key in given:
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "(none)"
            raise BnnBenchError(
                f"dataset '{name}': unknown option '{key}'{closest(key, defaults)}; "
                f"allowed: {allowed}"
            )
    return {**defaults, **given}


def check_bool(name: str, key: str, value: Any) -> bool:
    """``value`` if it is a bool, else raise."""
    if not isinstance(value, bool):
        raise BnnBenchError(f"dataset '{name}': option {key} must be true or false, got {value!r}")
    return value


def check_int(name: str, key: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` if it is an int >= ``minimum`` (not a bool), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BnnBenchError(
            f"dataset '{name}': option {key} must be an integer >= {minimum}, got {value!r}"
        )
    return value


def check_choice(name: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else raise naming them."""
    if value not in allowed:
        raise BnnBenchError(
            f"dataset '{name}': option {key} must be one of {', '.join(allowed)}, got {value!r}"
        )
    return value
