"""The names the binary building blocks accept, without importing torch.

What ``bnnbench validate`` and ``list`` check suite files against (estimator and
quantization-error names), kept apart from :mod:`benchmark.binary.ste` and
:mod:`benchmark.binary.metrics` so that reading them costs no torch import (a test keeps
them equal to the implementations' tables).
"""

from __future__ import annotations

from benchmark.errors import unknown_name

#: the straight-through estimators of :mod:`benchmark.binary.ste`, in its table's order
ESTIMATORS: tuple[str, ...] = ("ste", "clipped", "approx_sign", "swish_sign")
#: the quantization errors of :func:`benchmark.binary.metrics.quantization_error`
QUANTIZATION_ERRORS: tuple[str, ...] = ("xnor_l1", "sign_l1", "none")


def check_estimator(name: str) -> str:
    """Return ``name`` if it is a known estimator, else raise :class:`BnnBenchError`."""
    if name not in ESTIMATORS:
        raise unknown_name("straight-through estimator", name, ESTIMATORS)
    return name
