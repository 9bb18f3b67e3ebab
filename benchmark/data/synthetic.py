r"""A seeded synthetic classification dataset for tests and smoke runs (no files, no network).

Two generators, both driven by ``numpy.random.default_rng(data_seed)``:

- ``teacher`` (default): inputs :math:`x \sim \mathcal N(0, I_d)`; a random two-layer teacher
  :math:`z = \tanh(x W_1 / \sqrt d)\, W_2`, :math:`W_1 \in \mathbb R^{d \times 32}`,
  :math:`W_2 \in \mathbb R^{32 \times K}` with standard normal entries; logits centred per class
  over the sample (so no class is starved); label :math:`y = \arg\max_k z_k`.
- ``blobs``: balanced labels :math:`y_i = i \bmod K` (then shuffled), class centres
  :math:`\mu_k \sim \mathcal N(0, 4 I_d)`, inputs :math:`x = \mu_y + \mathcal N(0, I_d)`, then
  standardised per feature.

A fixed stratified 20% of the ``n_samples`` is the test pool (seed ``data_seed``). ``shape``
(e.g. ``[3, 32, 32]``) reshapes each input to that shape (``n_features`` is then its product),
so image models can be smoke-tested without image files.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmark.data.options import check_choice, check_int
from benchmark.data.source import SourceData, held_out_source
from benchmark.errors import BnnBenchError

KINDS = ("teacher", "blobs")
TEST_FRACTION = 0.2
TEACHER_HIDDEN = 32
OPTIONS: dict[str, Any] = {
    "n_samples": 2000,
    "n_features": 20,
    "n_classes": 4,
    "kind": "teacher",
    "data_seed": 0,
    "shape": None,
}


def _shape(n_features: int, shape: Any) -> tuple[int, ...]:
    if shape is None:
        return (check_int("synthetic", "n_features", n_features, minimum=1),)
    if not isinstance(shape, list | tuple) or not shape:
        raise BnnBenchError(
            f"dataset 'synthetic': option shape must be a list of ints, got {shape!r}"
        )
    return tuple(check_int("synthetic", "shape", s, minimum=1) for s in shape)


def make_synthetic(
    n_samples: int, n_features: int, n_classes: int, kind: str, data_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n, d) float64, y (n,) int64)`` from the named generator (see module doc)."""
    rng = np.random.default_rng(data_seed)
    d, k = n_features, n_classes
    if kind == "teacher":
        x = rng.standard_normal((n_samples, d))
        w1 = rng.standard_normal((d, TEACHER_HIDDEN))
        w2 = rng.standard_normal((TEACHER_HIDDEN, k))
        z = np.tanh(x @ w1 / math.sqrt(d)) @ w2
        y = np.argmax(z - z.mean(axis=0), axis=1)
    else:
        y = rng.permutation(np.arange(n_samples) % k)
        centres = 2.0 * rng.standard_normal((k, d))
        x = centres[y] + rng.standard_normal((n_samples, d))
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y.astype(np.int64)


def load_synthetic_source(
    n_samples: int = 2000,
    n_features: int = 20,
    n_classes: int = 4,
    kind: str = "teacher",
    data_seed: int = 0,
    shape: Any = None,
) -> SourceData:
    """The synthetic pools (80% train, 20% test)."""
    n_samples = check_int("synthetic", "n_samples", n_samples, minimum=10)
    n_classes = check_int("synthetic", "n_classes", n_classes, minimum=2)
    kind = check_choice("synthetic", "kind", kind, KINDS)
    data_seed = check_int("synthetic", "data_seed", data_seed)
    input_shape = _shape(n_features, shape)
    x, y = make_synthetic(n_samples, math.prod(input_shape), n_classes, kind, data_seed)
    return held_out_source(
        x, y, input_shape, n_classes, test_fraction=TEST_FRACTION, seed=data_seed
    )
