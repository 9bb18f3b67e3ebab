"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from files under the data root.

Layout (torchvision's own, so ``download=True`` fills it with torchvision's downloader):

=================  =========================================================================
``mnist``          ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or ``.gz``)
``fashion_mnist``  ``FashionMNIST/raw/`` with the same four names
``cifar10``        ``cifar-10-batches-py/data_batch_1..5``, ``test_batch``, ``batches.meta``
``cifar100``       ``cifar-100-python/train``, ``test``, ``meta``
=================  =========================================================================

Nothing is fetched unless ``download=True`` (the CLI's ``--download``); missing files raise one
:class:`BnnBenchError` naming the root, the files expected and ``--download``.

How the files are read (and why):

- MNIST-style IDX files are read by :class:`torchvision.datasets.MNIST` /
  :class:`~torchvision.datasets.FashionMNIST`, which need the *uncompressed* files in
  ``raw/`` and check only that they exist (no checksum). A ``raw/`` holding only the ``.gz``
  archives (as distributed) is completed by decompressing them beside the archives (atomic
  rename), which is what torchvision's own download does.
- CIFAR python pickles are read here, in exactly torchvision's way (``pickle.load(...,
  encoding="latin1")``, ``data`` rows of 3072 bytes in CHW order, ``labels`` or
  ``fine_labels``), because :class:`torchvision.datasets.CIFAR10` refuses any file whose MD5
  differs from the official one, which would make the loader untestable on small files.
  Checksums are verified when torchvision downloads the archive; loading does not re-hash
  170 MB on every run.

Normalisation constants (per channel, on the [0, 1] scale) are the usual training-set ones.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.data.options import check_bool, check_int
from benchmark.data.source import SourceData
from benchmark.errors import BnnBenchError

if TYPE_CHECKING:  # imported when loaded: the registry's metadata stays torch-free
    import torch

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class VisionInfo:
    """Where a torchvision dataset lives under the root and how it is normalised."""

    name: str
    torchvision_class: str
    folder: str
    files: tuple[str, ...]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


VISION: dict[str, VisionInfo] = {
    "mnist": VisionInfo("mnist", "MNIST", "MNIST/raw", MNIST_FILES, 10, (0.1307,), (0.3081,)),
    "fashion_mnist": VisionInfo(
        "fashion_mnist", "FashionMNIST", "FashionMNIST/raw", MNIST_FILES, 10, (0.2860,), (0.3530,)
    ),
    "cifar10": VisionInfo(
        "cifar10",
        "CIFAR10",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
    ),
    "cifar100": VisionInfo(
        "cifar100",
        "CIFAR100",
        "cifar-100-python",
        ("train", "test", "meta"),
        100,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
    ),
}
MNIST_OPTIONS: dict[str, Any] = {"num_workers": 0}
CIFAR_OPTIONS: dict[str, Any] = {"num_workers": 0, "augment": False}


def _is_idx(info: VisionInfo) -> bool:
    return info.torchvision_class in ("MNIST", "FashionMNIST")


def _present(directory: Path, filename: str, idx: bool) -> bool:
    if (directory / filename).is_file():
        return True
    return idx and (directory / f"{filename}.gz").is_file()


def expected_files(info: VisionInfo) -> list[str]:
    """The files a dataset needs, relative to the data root (for messages and docs)."""
    suffix = "[.gz]" if _is_idx(info) else ""
    return [f"{info.folder}/{f}{suffix}" for f in info.files]


def missing_files(info: VisionInfo, root: Path) -> list[str]:
    """Which of :func:`expected_files` are absent under ``root``."""
    directory = root / info.folder
    idx = _is_idx(info)
    return [
        rel
        for rel, f in zip(expected_files(info), info.files, strict=True)
        if not _present(directory, f, idx)
    ]


def missing_error(info: VisionInfo, root: Path, missing: list[str]) -> BnnBenchError:
    """The one clear error for absent files: root, expected files, how to download."""
    return BnnBenchError(
        f"dataset '{info.name}': files not found under data root {root}: expected "
        f"{', '.join(expected_files(info))} (missing: {', '.join(missing)}); "
        f"run with --download (download=True) to fetch them, or pass --data-root / set "
        f"$BNNBENCH_DATA to where they are"
    )


def _download(info: VisionInfo, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, info.torchvision_class)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as exc:  # network, disk and checksum failures all land here
        raise BnnBenchError(
            f"dataset '{info.name}': download into {root} failed: {exc}".replace("\n", " ")
        ) from exc


def _gunzip_missing(directory: Path) -> None:
    for name in MNIST_FILES:
        target, archive = directory / name, directory / f"{name}.gz"
        if target.is_file() or not archive.is_file():
            continue
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(archive, "rb") as src:
                shutil.copyfileobj(src, out)
            os.replace(tmp, target)
        except (OSError, EOFError) as exc:
            Path(tmp).unlink(missing_ok=True)
            raise BnnBenchError(f"cannot decompress {archive}: {exc}") from exc


def _load_idx(info: VisionInfo, root: Path) -> tuple[torch.Tensor, ...]:
    import torchvision.datasets as tvd

    _gunzip_missing(root / info.folder)
    cls = getattr(tvd, info.torchvision_class)
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except (RuntimeError, AssertionError, TypeError, ValueError, KeyError) as exc:
        raise BnnBenchError(
            f"dataset '{info.name}': cannot read the IDX files in {root / info.folder}: {exc!r}"
        ) from exc
    return train.data.unsqueeze(1), train.targets, test.data.unsqueeze(1), test.targets


def _read_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise BnnBenchError(f"cannot read the CIFAR pickle {path}: {exc!r}") from exc


def read_cifar_batches(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) from CIFAR python batches, torchvision's way."""
    import torch

    data, labels = [], []
    for path in paths:
        entry = _read_pickle(path)
        try:
            data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        except (KeyError, ValueError, TypeError) as exc:
            raise BnnBenchError(f"{path} is not a CIFAR python batch: {exc!r}") from exc
    images = torch.from_numpy(np.concatenate(data))
    return images, torch.tensor(labels, dtype=torch.int64)


def _load_cifar(info: VisionInfo, root: Path) -> tuple[torch.Tensor, ...]:
    directory = root / info.folder
    *train_files, test_file, meta_file = info.files
    meta = _read_pickle(directory / meta_file)
    key = "label_names" if info.name == "cifar10" else "fine_label_names"
    if len(meta.get(key, ())) != info.num_classes:
        raise BnnBenchError(
            f"{directory / meta_file}: expected {info.num_classes} names under '{key}'"
        )
    x_train, y_train = read_cifar_batches([directory / f for f in train_files])
    x_test, y_test = read_cifar_batches([directory / test_file])
    return x_train, y_train, x_test, y_test


def load_vision_source(info: VisionInfo, root: Path, download: bool, **options: Any) -> SourceData:
    """The pools of a torchvision dataset (uint8 images, served through a DataLoader)."""
    num_workers = check_int(info.name, "num_workers", options.get("num_workers", 0))
    augment = check_bool(info.name, "augment", options.get("augment", False))
    missing = missing_files(info, root)
    if missing and download:
        _download(info, root)
        missing = missing_files(info, root)
    if missing:
        raise missing_error(info, root, missing)
    loader = _load_idx if _is_idx(info) else _load_cifar
    x_train, y_train, x_test, y_test = loader(info, root)
    for labels in (y_train, y_test):
        if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < info.num_classes:
            raise BnnBenchError(
                f"dataset '{info.name}': labels outside 0..{info.num_classes - 1} in {root}"
            )
    return SourceData(
        x_train=x_train,
        y_train=y_train.long(),
        x_test=x_test,
        y_test=y_test.long(),
        num_classes=info.num_classes,
        input_shape=tuple(x_train.shape[1:]),
        images=True,
        mean=info.mean,
        std=info.std,
        augment=augment,
        num_workers=num_workers,
    )
