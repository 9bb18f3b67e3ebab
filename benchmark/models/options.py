"""Validation of model options and input shapes; errors are :class:`BnnBenchError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmark.binary.names import check_estimator
from benchmark.errors import BnnBenchError
from benchmark.models.blocks import REAL_ACTIVATIONS, Binarization

BINARIZATION_KEYS = ("weight_estimator", "activation_estimator", "scale", "real_activation")


def int_list(model: str, key: str, value: Any, *, min_len: int = 1) -> tuple[int, ...]:
    """A list/tuple of positive ints with at least ``min_len`` entries, as a tuple."""
    ok = isinstance(value, list | tuple) and len(value) >= min_len
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise BnnBenchError(
            f"model '{model}': option {key} must be a list of at least {min_len} positive "
            f"integers, got {value!r}"
        )
    return tuple(value)


def positive_float(model: str, key: str, value: Any) -> float:
    """A positive real number (int or float, not bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise BnnBenchError(
            f"model '{model}': option {key} must be a positive number, got {value!r}"
        )
    return float(value)


def binarization(model: str, binary: bool, options: Mapping[str, Any]) -> Binarization:
    """Validate the binarization options and build a :class:`Binarization`."""
    if not isinstance(options["scale"], bool):
        raise BnnBenchError(f"model '{model}': option scale must be true or false")
    if options["real_activation"] not in REAL_ACTIVATIONS:
        raise BnnBenchError(
            f"model '{model}': option real_activation must be one of "
            f"{', '.join(REAL_ACTIVATIONS)}, got {options['real_activation']!r}"
        )
    return Binarization(
        binary=bool(binary),
        weight_estimator=check_estimator(options["weight_estimator"]),
        activation_estimator=check_estimator(options["activation_estimator"]),
        scale=options["scale"],
        real_activation=options["real_activation"],
    )


def shape_error(model: str, shape: tuple[int, ...], accepts: str) -> BnnBenchError:
    """The error for an input shape a model does not accept."""
    return BnnBenchError(
        f"model '{model}': input shape {tuple(shape)} not accepted; accepts {accepts}"
    )


def check_shape(shape: Any) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (else raise)."""
    ok = isinstance(shape, list | tuple) and len(shape) > 0
    ok = ok and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    if not ok:
        raise BnnBenchError(
            f"input shape must be a non-empty tuple of positive ints, got {shape!r}"
        )
    return tuple(shape)
