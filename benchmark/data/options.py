"""Validation of dataset option values (unknown keys: :func:`benchmark.options.merge_options`)."""

from __future__ import annotations

from typing import Any

from benchmark.errors import BnnBenchError


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
