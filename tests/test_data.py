"""Datasets: roots, split protocol, batching determinism, real-format files, augmentation."""

from __future__ import annotations

import gzip
import pickle
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import DATASETS, batch_bounds, epoch_order, load_dataset, resolve_data_root
from benchmark.data.augment import crop_flip
from benchmark.data.batching import LoaderSplit
from benchmark.data.mnist1d import cache_path
from benchmark.data.splits import stratified_allocation, stratified_take
from benchmark.errors import BnnBenchError

# --------------------------------------------------------------------------- real-format writers


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """An IDX file (big-endian magic 0x0000_08_nd, big-endian int32 dims, uint8 data), gzipped."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, n_train: int = 50, n_test: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for name, array in arrays.items():
        write_idx_gz(root / folder / "raw" / f"{name}.gz", array)
    return arrays


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def write_cifar10(root: Path, per_batch: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """CIFAR-10 python batches: dicts with 'data' (N, 3072) uint8 rows (R, G, B planes, each
    32x32 row-major) and 'labels'; batches.meta with 'label_names'."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    rows, labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        lab = [int(v) for v in rng.integers(0, 10, per_batch)]
        _pickle(folder / f"data_batch_{i}", {"batch_label": f"b{i}", "data": data, "labels": lab})
        rows.append(data)
        labels += lab
    test = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
    test_labels = [i % 10 for i in range(per_batch)]
    _pickle(folder / "test_batch", {"batch_label": "t", "data": test, "labels": test_labels})
    _pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return {"train": np.concatenate(rows), "y_train": np.array(labels), "test": test}


def write_cifar100(root: Path, n: int = 30, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    train = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    fine = [i % 100 for i in range(0, 7 * n, 7)]
    test = rng.integers(0, 256, (n // 2, 3072), dtype=np.uint8)
    for name, data, labels in (("train", train, fine), ("test", test, fine[: n // 2])):
        _pickle(
            folder / name, {"data": data, "fine_labels": labels, "coarse_labels": [0] * len(labels)}
        )
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    return {"train": train, "y_train": np.array(fine), "test": test}


def all_batches(split, batch_size=32, seed=0, epoch=0, shuffle=True):
    xs, ys = zip(*split.batches(batch_size, seed=seed, epoch=epoch, shuffle=shuffle), strict=True)
    return torch.cat(xs), torch.cat(ys)


# --------------------------------------------------------------------------- data root


def test_resolve_data_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("BNNBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("BNNBENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root(None) == tmp_path / "xdg" / "bnnbench" / "data"
    assert resolve_data_root("~/d") == Path.home() / "d"


# --------------------------------------------------------------------------- stratified splitting


def test_stratified_allocation_by_hand():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    # exact shares 3, 1.5, 0.5 -> floors 3, 1, 0; one left: tie .5/.5 goes to the lower label
    assert stratified_allocation(labels, 5) == {0: 3, 1: 2, 2: 0}
    assert stratified_allocation(labels, 10) == {0: 6, 1: 3, 2: 1}
    assert stratified_allocation(labels, 0) == {0: 0, 1: 0, 2: 0}


def test_stratified_take_partitions_and_is_seeded():
    labels = np.random.default_rng(1).integers(0, 5, 300)
    taken, rest = stratified_take(labels, 77, seed=3)
    assert len(taken) == 77 and len(rest) == 223
    assert np.array_equal(np.sort(np.concatenate([taken, rest])), np.arange(300))
    counts = np.bincount(labels, minlength=5)
    got = np.bincount(labels[taken], minlength=5)
    assert np.all(np.abs(got - 77 * counts / 300) < 1)
    assert np.array_equal(stratified_take(labels, 77, seed=3)[0], taken)
    assert not np.array_equal(stratified_take(labels, 77, seed=4)[0], taken)


# --------------------------------------------------------------------------- digits and splits


def test_digits_split_sizes_and_disjointness():
    data = load_dataset("digits")
    assert (data.name, data.input_shape, data.num_classes) == ("digits", (64,), 10)
    # 1797 samples: test round(0.2 * 1797) = 359, pool 1438, val round(0.1 * 1438) = 144
    assert (len(data.train), len(data.val), len(data.test)) == (1294, 144, 359)
    train, val = set(data.train.indices.tolist()), set(data.val.indices.tolist())
    assert not train & val and train | val == set(range(1438))
    # the test split is stratified: every class within one sample of its share
    from sklearn.datasets import load_digits

    counts = np.bincount(load_digits().target)
    got = np.bincount(data.test.targets.numpy(), minlength=10)
    assert np.all(np.abs(got - 359 * counts / 1797) < 1)


def test_digits_test_split_is_fixed_and_val_follows_split_seed():
    a, b = load_dataset("digits", split_seed=0), load_dataset("digits", split_seed=1)
    assert torch.equal(a.test.inputs, b.test.inputs)
    assert not torch.equal(a.val.indices, b.val.indices)
    assert torch.equal(a.val.indices, load_dataset("digits", split_seed=0).val.indices)


def test_digits_normalisation_and_image_view():
    vec, img = load_dataset("digits"), load_dataset("digits", as_image=True)
    assert img.input_shape == (1, 8, 8) and img.train.inputs.shape[1:] == (1, 8, 8)
    torch.testing.assert_close(img.train.inputs.reshape(-1, 64), vec.train.inputs)
    everything = torch.cat([vec.train.inputs, vec.val.inputs, vec.test.inputs]).double()
    assert (
        abs(everything.mean().item()) < 1e-5
        and abs(everything.std(unbiased=False).item() - 1) < 1e-5
    )
    from sklearn.datasets import load_digits

    raw = load_digits().data / 16.0
    x0 = vec.test.inputs[0].double().numpy()
    row = np.flatnonzero(np.all(np.isclose((raw - raw.mean()) / raw.std(), x0, atol=1e-5), axis=1))
    assert len(row) >= 1  # the test sample is a real digit, normalised with dataset-wide mean/std


def test_subset_is_stratified_seeded_and_leaves_test_alone():
    data = load_dataset("digits", subset=500, split_seed=7)
    assert len(data.train) + len(data.val) == 500 and len(data.val) == 50
    assert len(data.test) == 359
    pool_labels = load_dataset("digits", val_fraction=0.0).train.targets.numpy()
    kept = torch.cat([data.train.targets, data.val.targets]).numpy()
    expected = 500 * np.bincount(pool_labels) / len(pool_labels)
    assert np.all(np.abs(np.bincount(kept, minlength=10) - expected) < 1)
    again = load_dataset("digits", subset=500, split_seed=7)
    other = load_dataset("digits", subset=500, split_seed=8)
    assert torch.equal(again.train.indices, data.train.indices)
    assert not torch.equal(other.train.indices, data.train.indices)


def test_val_fraction_edges_and_test_subset():
    assert (len(load_dataset("digits", val_fraction=0.0).val)) == 0
    assert len(load_dataset("digits", val_fraction=0.25).val) == 360  # 359.5 rounds up
    a = load_dataset("digits", test_subset=100, split_seed=0)
    b = load_dataset("digits", test_subset=100, split_seed=5)
    assert len(a.test) == 100 and torch.equal(a.test.indices, b.test.indices)
    assert np.bincount(a.test.targets.numpy(), minlength=10).min() >= 9


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "mnst"}, "unknown dataset 'mnst' (did you mean 'mnist'?)"),
        ({"name": "digits", "as_img": True}, "unknown option 'as_img'"),
        ({"name": "digits", "as_image": "yes"}, "as_image must be true or false"),
        ({"name": "digits", "subset": 5000}, "subset 5000 exceeds"),
        ({"name": "digits", "subset": 0}, "subset must be an integer >= 1"),
        ({"name": "digits", "val_fraction": 1.0}, "val_fraction must be a number in [0, 1)"),
        ({"name": "digits", "test_subset": 10_000}, "test_subset 10000 exceeds"),
        ({"name": "synthetic", "kind": "moons"}, "kind must be one of teacher, blobs"),
        ({"name": "mnist1d", "augment": True}, "allowed: test_subset, with_channel"),
    ],
)
def test_user_errors(kwargs, fragment, tmp_path):
    with pytest.raises(BnnBenchError) as info:
        load_dataset(root=tmp_path, **kwargs)
    assert fragment in str(info.value)


def test_registry_fields():
    assert set(DATASETS) == {
        "digits",
        "mnist1d",
        "mnist5k",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "synthetic",
    }
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.description
        assert spec.needs_files == (name in {"mnist", "fashion_mnist", "cifar10", "cifar100"})


# --------------------------------------------------------------------------- batching


def test_batch_bounds_by_hand():
    assert batch_bounds(256, 128) == [(0, 128), (128, 256)]
    assert batch_bounds(257, 128) == [(0, 128), (128, 257)]  # a lone last sample joins
    assert batch_bounds(258, 128) == [(0, 128), (128, 256), (256, 258)]
    assert batch_bounds(1, 128) == [(0, 1)] and batch_bounds(0, 4) == []
    with pytest.raises(BnnBenchError, match="batch_size"):
        batch_bounds(10, 0)


def test_batches_cover_split_once_and_are_deterministic():
    data = load_dataset("digits")
    split = data.train
    assert split.num_batches(128) == len(list(split.batches(128, seed=0, epoch=0))) == 11
    x, y = all_batches(split, 128, seed=3, epoch=2)
    order = torch.from_numpy(np.lexsort(x.numpy().T))
    ref_order = torch.from_numpy(np.lexsort(split.inputs.numpy().T))
    assert torch.equal(x[order], split.inputs[ref_order])  # every sample exactly once
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)  # the global RNGs play no part
    again_x, again_y = all_batches(load_dataset("digits").train, 128, seed=3, epoch=2)
    assert torch.equal(again_x, x) and torch.equal(again_y, y)
    other_epoch, _ = all_batches(split, 128, seed=3, epoch=3)
    other_seed, _ = all_batches(split, 128, seed=4, epoch=2)
    assert not torch.equal(other_epoch, x) and not torch.equal(other_seed, x)
    ordered, ordered_y = all_batches(split, 128, shuffle=False)
    assert torch.equal(ordered, split.inputs) and torch.equal(ordered_y, split.targets)


def test_epoch_order_rejects_negative_seed():
    assert sorted(epoch_order(5, seed=0, epoch=0).tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(BnnBenchError, match="seed"):
        epoch_order(5, seed=-1, epoch=0)


# --------------------------------------------------------------------------- mnist1d


def test_mnist1d_generated_cached_and_rng_neutral(tmp_path):
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(99)
    random.seed(99)
    np_before, py_before = np.random.random(), random.random()
    np.random.seed(99)
    random.seed(99)
    data = load_dataset("mnist1d", root=tmp_path)
    assert np.random.random() == np_before and random.random() == py_before
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)
    assert data.input_shape == (40,) and data.num_classes == 10
    cache = cache_path(tmp_path)
    assert cache.is_file() and cache.parent == tmp_path / "mnist1d"
    reference = make_dataset(get_dataset_args())  # the package's own generator
    np.testing.assert_allclose(
        data.test.inputs.numpy(), reference["x_test"].astype(np.float32), rtol=0, atol=0
    )
    pool = np.sort(torch.cat([data.train.indices, data.val.indices]).numpy())
    assert np.array_equal(pool, np.arange(4000))
    np.testing.assert_array_equal(data.train.targets.numpy(), reference["y"][data.train.indices])
    mtime = cache.stat().st_mtime_ns
    cached = load_dataset("mnist1d", root=tmp_path, with_channel=True)
    assert cache.stat().st_mtime_ns == mtime
    assert cached.input_shape == (1, 40)
    torch.testing.assert_close(cached.test.inputs.squeeze(1), data.test.inputs)


def test_mnist1d_corrupt_cache_is_regenerated(tmp_path):
    cache = cache_path(tmp_path)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not an npz")
    data = load_dataset("mnist1d", root=tmp_path)
    assert len(data.test) == 1000
    with np.load(cache) as npz:
        assert npz["x"].shape == (4000, 40)


# --------------------------------------------------------------------------- torchvision formats


@pytest.mark.parametrize(
    ("name", "folder", "mean", "std"),
    [("mnist", "MNIST", 0.1307, 0.3081), ("fashion_mnist", "FashionMNIST", 0.2860, 0.3530)],
)
def test_mnist_family_reads_idx_gz_files(tmp_path, name, folder, mean, std):
    arrays = write_mnist(tmp_path, folder)
    data = load_dataset(name, root=tmp_path, val_fraction=0.2)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 20)
    assert (tmp_path / folder / "raw" / "train-images-idx3-ubyte").is_file()  # decompressed
    x, y = all_batches(data.test, 8, shuffle=False)
    expected = (arrays["t10k-images-idx3-ubyte"].astype(np.float32) / 255 - mean) / std
    np.testing.assert_allclose(x.squeeze(1).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    # the loaded training split matches the written labels at its pool positions
    labels = arrays["train-labels-idx1-ubyte"][data.train.indices.numpy()]
    assert data.train.targets.tolist() == labels.tolist()


def test_cifar10_reads_python_batches(tmp_path):
    written = write_cifar10(tmp_path)
    data = load_dataset("cifar10", root=tmp_path, val_fraction=0.2)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 10)
    x, _ = all_batches(data.test, 4, shuffle=False)
    row = written["test"][3]
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    for c, i, j in ((0, 0, 0), (1, 2, 3), (2, 31, 30)):
        pixel = row[c * 1024 + i * 32 + j] / 255  # R, G, B planes of 32x32, row-major
        assert x[3, c, i, j].item() == pytest.approx((pixel - mean[c]) / std[c], abs=1e-5)
    labels = written["y_train"][data.train.indices.numpy()]
    assert data.train.targets.tolist() == labels.tolist()


def test_cifar100_reads_fine_labels(tmp_path):
    written = write_cifar100(tmp_path)
    data = load_dataset("cifar100", root=tmp_path, val_fraction=0.0)
    assert data.num_classes == 100 and len(data.train) == 30 and len(data.test) == 15
    assert data.train.targets.tolist() == written["y_train"].tolist()
    x, _ = all_batches(data.train, 30, shuffle=False)
    pixel = written["train"][5][2 * 1024 + 7 * 32 + 1] / 255
    assert x[5, 2, 7, 1].item() == pytest.approx((pixel - 0.4409) / 0.2762, abs=1e-5)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "mnist",
            ["MNIST/raw/train-images-idx3-ubyte[.gz]", "MNIST/raw/t10k-labels-idx1-ubyte[.gz]"],
        ),
        ("fashion_mnist", ["FashionMNIST/raw/train-labels-idx1-ubyte[.gz]"]),
        ("cifar10", ["cifar-10-batches-py/data_batch_5", "cifar-10-batches-py/batches.meta"]),
        ("cifar100", ["cifar-100-python/train", "cifar-100-python/meta"]),
    ],
)
def test_missing_files_error_names_root_files_and_download(tmp_path, name, expected):
    with pytest.raises(BnnBenchError) as info:
        load_dataset(name, root=tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "--download" in message and "\n" not in message
    for rel in expected:
        assert rel in message


def test_missing_file_listed_when_one_is_absent(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(BnnBenchError, match=r"missing: cifar-10-batches-py/test_batch\)"):
        load_dataset("cifar10", root=tmp_path)


def test_corrupt_cifar_pickle_is_a_clear_error(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"garbage")
    with pytest.raises(BnnBenchError, match="data_batch_2"):
        load_dataset("cifar10", root=tmp_path)


def test_loader_split_is_deterministic_across_workers(tmp_path):
    write_cifar10(tmp_path, per_batch=20)
    serial = load_dataset("cifar10", root=tmp_path, augment=True)
    parallel = load_dataset("cifar10", root=tmp_path, augment=True, num_workers=2)
    xs, ys = all_batches(serial.train, 16, seed=5, epoch=1)
    xp, yp = all_batches(parallel.train, 16, seed=5, epoch=1)
    assert torch.equal(xs, xp) and torch.equal(ys, yp)
    x_other, _ = all_batches(serial.train, 16, seed=5, epoch=2)
    assert not torch.equal(xs, x_other)


# --------------------------------------------------------------------------- augmentation


def test_crop_flip_by_hand():
    img = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(1, 2, 6, 6) + 1
    same = crop_flip(img, torch.tensor([[4, 4]]), torch.tensor([False]))
    assert torch.equal(same, img)
    corner = crop_flip(img, torch.tensor([[0, 0]]), torch.tensor([False]))
    assert torch.equal(corner[..., 4:, 4:], img[..., :2, :2])
    assert corner[..., :4, :].abs().sum() == 0 and corner[..., :, :4].abs().sum() == 0
    flipped = crop_flip(img, torch.tensor([[4, 5]]), torch.tensor([True]))
    shifted = torch.cat([img[..., :, 1:], torch.zeros(1, 2, 6, 1)], dim=-1)
    assert torch.equal(flipped, shifted.flip(-1))


def _candidates(image: torch.Tensor) -> list[torch.Tensor]:
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    h, w = image.shape[-2:]
    crops = [padded[:, dy : dy + h, dx : dx + w] for dy in range(9) for dx in range(9)]
    return crops + [c.flip(-1) for c in crops]


def test_augmentation_is_a_seeded_crop_flip_of_train_only():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(1, 256, (40, 3, 12, 12), dtype=np.uint8))
    targets = torch.arange(40) % 10
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    split = LoaderSplit(
        "train", images, targets, torch.arange(40), mean=mean, std=std, augment=True
    )
    x, _ = all_batches(split, 40, shuffle=False, seed=1, epoch=0)
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    raw = x * s + m  # back to [0, 1] pixel scale
    identities = flips = 0
    for k in range(40):
        original = images[k].float() / 255
        matches = [torch.allclose(raw[k], c, atol=1e-5) for c in _candidates(original)]
        assert any(matches), k
        identities += matches[4 * 9 + 4]
        flips += any(matches[81:]) and not any(matches[:81])
    assert identities < 40 and flips > 0
    again, _ = all_batches(split, 40, shuffle=False, seed=1, epoch=0)
    assert torch.equal(again, x)
    plain = LoaderSplit("val", images, targets, torch.arange(40), mean=mean, std=std)
    xv, _ = all_batches(plain, 40, shuffle=False)
    torch.testing.assert_close(xv * s + m, images.float() / 255)


def test_augment_applies_to_train_split_only(tmp_path):
    write_cifar10(tmp_path)
    data = load_dataset("cifar10", root=tmp_path, augment=True)
    assert data.train.augment and not data.val.augment and not data.test.augment
    with pytest.raises(BnnBenchError, match="unknown option 'augment'"):
        write_mnist(tmp_path, "MNIST")
        load_dataset("mnist", root=tmp_path, augment=True)


# --------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_seeds_and_balance():
    data = load_dataset("synthetic", n_samples=500, n_features=7, n_classes=3)
    assert data.input_shape == (7,) and data.num_classes == 3
    assert len(data.train) + len(data.val) == 400 and len(data.test) == 100
    same = load_dataset("synthetic", n_samples=500, n_features=7, n_classes=3)
    other = load_dataset("synthetic", n_samples=500, n_features=7, n_classes=3, data_seed=1)
    assert torch.equal(same.train.inputs, data.train.inputs)
    assert not torch.equal(other.train.inputs, data.train.inputs)
    assert set(data.train.targets.tolist()) == {0, 1, 2}
    blobs = load_dataset("synthetic", kind="blobs", n_samples=400, n_classes=4, val_fraction=0.0)
    counts = np.bincount(torch.cat([blobs.train.targets, blobs.test.targets]).numpy())
    assert counts.tolist() == [100, 100, 100, 100]
    images = load_dataset("synthetic", shape=[3, 8, 8], n_samples=100)
    assert images.input_shape == (3, 8, 8) and images.train.inputs.shape[1:] == (3, 8, 8)


def test_synthetic_teacher_labels_follow_the_teacher():
    from benchmark.data.synthetic import make_synthetic

    x, y = make_synthetic(300, 5, 3, "teacher", 0)
    rng = np.random.default_rng(0)  # the same draws, in the documented order
    x_ref = rng.standard_normal((300, 5))
    w1, w2 = rng.standard_normal((5, 32)), rng.standard_normal((32, 3))
    z = np.tanh(x_ref @ w1 / np.sqrt(5)) @ w2
    assert np.array_equal(x, x_ref)
    assert np.array_equal(y, np.argmax(z - z.mean(axis=0), axis=1))
