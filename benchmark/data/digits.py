r"""scikit-learn's bundled 8x8 digits (1797 samples, 10 classes, pixel values 0..16).

There is no official test split, so a fixed one is carved: a stratified 20% (359 samples,
:func:`benchmark.data.splits.stratified_take` with seed :data:`TEST_SEED` = 0), the same for
every run whatever its ``split_seed``; the other 1438 samples form the training pool.

Normalisation: :math:`x \mapsto (x / 16 - \mu) / \sigma` with the dataset-wide scalar constants
:data:`MEAN`, :data:`STD` (mean and standard deviation of all 1797 x 64 values of ``x / 16``).
Inputs are vectors (64,) or, with ``as_image``, 1x8x8 images.
"""

from __future__ import annotations

import numpy as np

from benchmark.data.options import check_bool
from benchmark.data.source import SourceData, held_out_source

TEST_FRACTION = 0.2
TEST_SEED = 0
MEAN = 0.30526028624095713
STD = 0.3760492217920148
OPTIONS = {"as_image": False}


def load_digits_source(as_image: bool = False) -> SourceData:
    """The digits pools (train 1438, test 359), normalised, as vectors or 1x8x8 images."""
    from sklearn.datasets import load_digits

    as_image = check_bool("digits", "as_image", as_image)
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float64) / 16.0 - MEAN) / STD
    y = np.asarray(bunch.target, dtype=np.int64)
    shape = (1, 8, 8) if as_image else (64,)
    return held_out_source(x, y, shape, 10, test_fraction=TEST_FRACTION, seed=TEST_SEED)
