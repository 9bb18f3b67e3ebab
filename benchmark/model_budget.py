"""What a model costs before it is built: its parameter count and training memory, from the
suite's options and the dataset's static input shape alone (torch-free; issue 22).

``mlp hidden: [100000000, 100000000]`` passes every option rule and then fails the first run
with an allocation error (10**16 weights); ``hidden: [0, 0]`` passed ``validate`` and failed
``run``. :func:`check_models` refuses both when the suite is loaded, so ``validate`` says what
``run`` would.

The memory estimate (bytes) of training one run:

    memory = 16 x parameters + 16 x batch_size x units

``16 x parameters``: each float32 parameter holds its value, its gradient and up to two
optimizer moments (Adam's ``m`` and ``v``; Bop's state is smaller). ``16 x batch_size x
units``: each unit's activation of a batch, kept for the backward pass, with its BatchNorm
output, sign and gradient (4 float32 values). ``units`` counts the hidden units. A run whose
estimate exceeds the machine's physical memory cannot train; the check refuses it.

Exact for ``mlp`` (``features`` = Linear(in, h0, no bias) + BatchNorm, then
Linear(h_i, h_{i+1}, no bias) + BatchNorm per pair, then Linear(h_last, classes) with bias):

    parameters = in x h0 + sum_i h_i x h_{i+1} + 2 x sum_i h_i + h_last x classes + classes

The convolutional models bound their size through ``width``/``channels`` rules of their own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

#: bytes of training state per parameter (value, gradient, two optimizer moments; float32)
BYTES_PER_PARAMETER = 16
#: bytes kept per hidden unit and sample of a batch (activation, BatchNorm output, sign, grad)
BYTES_PER_ACTIVATION = 16


def mlp_parameters(inputs: int, hidden: Sequence[int], classes: int) -> int:
    """The parameter count of :class:`benchmark.models.mlp.MLP` (module docstring)."""
    pairs = sum(a * b for a, b in zip(hidden, hidden[1:], strict=False))
    return inputs * hidden[0] + pairs + 2 * sum(hidden) + hidden[-1] * classes + classes


def training_bytes(parameters: int, units: int, batch_size: int) -> int:
    """The memory estimate of training one run (module docstring)."""
    return BYTES_PER_PARAMETER * parameters + BYTES_PER_ACTIVATION * batch_size * units


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gb(n: float) -> str:
    return f"{n / 1e9:,.3g} GB"


def positive_ints(value: Any, min_len: int) -> bool:
    """``value`` is a list of at least ``min_len`` positive ints (no bools): the rule
    ``run`` applies to ``mlp.hidden`` (benchmark/models/options.py, ``int_list``)."""
    return (
        isinstance(value, list | tuple)
        and len(value) >= min_len
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )


def mlp_problem(
    hidden: Any,
    shape: tuple[int, ...],
    classes: int,
    batch_size: int,
    memory: int | None,
) -> str | None:
    """Why an ``mlp`` with ``hidden`` cannot train on inputs of ``shape`` (``classes``) with
    ``batch_size`` on a machine of ``memory`` bytes, or None."""
    if not positive_ints(hidden, 2):
        return f"must be a list of at least 2 positive integers, got {hidden!r}"
    parameters = mlp_parameters(math.prod(shape), hidden, classes)
    need = training_bytes(parameters, sum(hidden), batch_size)
    if memory is not None and need > memory:
        return (
            f"gives {parameters:,} parameters, about {_gb(need)} to train with batch_size "
            f"{batch_size} (16 bytes per parameter, 16 per hidden unit and sample), more than "
            f"this machine's {_gb(memory)}; allowed: a model whose training fits in memory"
        )
    return None
