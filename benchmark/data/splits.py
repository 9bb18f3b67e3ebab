r"""Seeded, stratified splitting of a labelled pool.

:func:`stratified_take` draws ``n`` of the pool's positions so that every class keeps its share.
With class counts :math:`c_k` in a pool of :math:`N`, class :math:`k` receives

.. math::  n_k = \lfloor n c_k / N \rfloor + \mathbb{1}\{k \text{ among the } r
           \text{ largest fractional parts}\}, \qquad r = n - \sum_k \lfloor n c_k / N \rfloor

(largest-remainder apportionment; ties go to the lower class label), so
:math:`|n_k - n c_k / N| < 1` and :math:`\sum_k n_k = n`. Within each class the members are a
uniform random draw without replacement from ``numpy.random.default_rng(seed)``.

:func:`fraction_count` turns a fraction into a count with round-half-up:
:math:`\lfloor f N + 1/2 \rfloor`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def fraction_count(fraction: float, n: int) -> int:
    """``floor(fraction * n + 0.5)``: the number of samples a fraction of ``n`` keeps."""
    return int(math.floor(fraction * n + 0.5))


def stratified_allocation(labels: np.ndarray, n_take: int) -> dict[int, int]:
    """How many samples of each class a stratified draw of ``n_take`` takes (see module doc)."""
    classes, counts = np.unique(labels, return_counts=True)
    total = int(counts.sum())
    if not 0 <= n_take <= total:
        raise ValueError(f"cannot take {n_take} of {total} samples")
    exact = n_take * counts / total
    alloc = np.floor(exact).astype(np.int64)
    remainder = n_take - int(alloc.sum())
    order = np.argsort(-(exact - alloc), kind="stable")
    alloc[order[:remainder]] += 1
    return {int(c): int(k) for c, k in zip(classes, alloc, strict=True)}


def stratified_take(
    labels: np.ndarray, n_take: int, seed: int | Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(labels)-1`` into ``(taken, rest)``, both sorted ascending.

    ``taken`` has exactly ``n_take`` positions, stratified by label and drawn with
    ``numpy.random.default_rng(seed)``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    taken_parts = []
    for cls, k in stratified_allocation(labels, n_take).items():
        members = np.flatnonzero(labels == cls)
        taken_parts.append(rng.choice(members, size=k, replace=False))
    taken = np.sort(np.concatenate(taken_parts)) if taken_parts else np.zeros(0, np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), taken, assume_unique=True)
    return taken.astype(np.int64), rest.astype(np.int64)
