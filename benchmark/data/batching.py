"""Splits and their batching: deterministic given ``(seed, epoch)``.

Every split serves mini-batches in an order that depends only on ``(seed, epoch)``: the
permutation is ``numpy.random.default_rng([seed, epoch]).permutation(len(split))``, drawn from
its own generator (never the global RNG), so the same seed gives the same data order whatever
the optimizer or the model does. ``shuffle=False`` serves the split in its stored order.

Batch boundaries: consecutive chunks of ``batch_size``; the last chunk holds the remainder,
except that a remainder of exactly one sample joins the previous batch (a batch of one would
break BatchNorm in training mode). Every sample is served exactly once per epoch.

Two implementations:

- :class:`TensorSplit` (small datasets: digits, mnist1d, synthetic): the whole split is one
  normalised float tensor in memory; a batch is one fancy-indexing operation, with no
  per-sample Python work.
- :class:`LoaderSplit` (torchvision datasets: MNIST, Fashion-MNIST, CIFAR-10/100): uint8 images
  in memory, served through a :class:`torch.utils.data.DataLoader` (``num_workers``
  configurable) whose items are whole batches of indices; conversion to float, per-channel
  normalisation and the optional seeded augmentation (:mod:`benchmark.data.augment`) are
  vectorised per batch, in the worker processes when there are any.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from benchmark.data.augment import PADDING, crop_flip, epoch_params
from benchmark.errors import BnnBenchError


def _check_nonneg_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise BnnBenchError(f"{key} must be a non-negative integer, got {value!r}")
    return int(value)


def _loader_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for the DataLoader's generator (worker base seeds), derived from both."""
    return int(np.random.SeedSequence([seed, epoch, 0xDA7A]).generate_state(1)[0])


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the batches of a split of ``n`` samples (see module doc)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BnnBenchError(f"batch_size must be a positive integer, got {batch_size!r}")
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


def epoch_order(n: int, *, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order in which a split of ``n`` samples is served in ``epoch`` under ``seed``."""
    seed = _check_nonneg_int("seed", seed)
    epoch = _check_nonneg_int("epoch", epoch)
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


class Split(ABC):
    """One split (``train``, ``val`` or ``test``) of a dataset.

    ``indices`` are the split's positions in its source pool (the official training set for
    ``train`` and ``val``, the official test set for ``test``); ``targets`` its labels.
    """

    name: str
    indices: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def num_batches(self, batch_size: int) -> int:
        """How many batches :meth:`batches` yields for ``batch_size``."""
        return len(batch_bounds(len(self), batch_size))

    @abstractmethod
    def batches(
        self,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        shuffle: bool = True,
        device: str | torch.device = "cpu",
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(inputs, labels)`` batches of one epoch (deterministic in ``seed, epoch``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, len={len(self)})"


class TensorSplit(Split):
    """A split held as one float tensor ``inputs`` (N, *shape) and labels ``targets`` (N,)."""

    def __init__(
        self, name: str, inputs: torch.Tensor, targets: torch.Tensor, indices: torch.Tensor
    ) -> None:
        self.name = name
        self.inputs = inputs.contiguous()
        self.targets = targets.long().contiguous()
        self.indices = indices.long()
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device.type == "cpu":
            return self.inputs, self.targets
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = (self.inputs.to(device), self.targets.to(device))
        return self._on_device[key]

    def batches(
        self,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        shuffle: bool = True,
        device: str | torch.device = "cpu",
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        bounds = batch_bounds(len(self), batch_size)
        order = epoch_order(len(self), seed=seed, epoch=epoch, shuffle=shuffle)
        x, y = self._tensors(torch.device(device))
        if not shuffle:
            for start, stop in bounds:
                yield x[start:stop], y[start:stop]
            return
        perm = torch.from_numpy(order).to(x.device)
        for start, stop in bounds:
            idx = perm[start:stop]
            yield x[idx], y[idx]


class _BatchFetch(TorchDataset):
    """A map-style dataset whose items are whole batches: ``fetch[index_tensor] -> (x, y)``."""

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        offsets: torch.Tensor | None,
        flips: torch.Tensor | None,
    ) -> None:
        self.images, self.targets = images, targets
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.offsets, self.flips = offsets, flips

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[idx].float().div_(255.0)
        if self.offsets is not None and self.flips is not None:
            x = crop_flip(x, self.offsets[idx], self.flips[idx], PADDING)
        return (x - self.mean) / self.std, self.targets[idx]


class LoaderSplit(Split):
    """A split of uint8 images (N, C, H, W) served through a DataLoader.

    Each batch is ``((images / 255 [augmented]) - mean) / std`` per channel. ``augment`` (train
    split only) applies :func:`benchmark.data.augment.crop_flip` with per-sample parameters
    drawn per ``(seed, epoch)``; ``num_workers`` DataLoader workers fetch batches.
    """

    def __init__(
        self,
        name: str,
        images: torch.Tensor,
        targets: torch.Tensor,
        indices: torch.Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool = False,
        num_workers: int = 0,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("LoaderSplit needs uint8 images of shape (N, C, H, W)")
        self.name = name
        self.images = images.contiguous()
        self.targets = targets.long().contiguous()
        self.indices = indices.long()
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)
        self.augment = augment
        self.num_workers = num_workers

    def batches(
        self,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        shuffle: bool = True,
        device: str | torch.device = "cpu",
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        bounds = batch_bounds(len(self), batch_size)
        order = torch.from_numpy(epoch_order(len(self), seed=seed, epoch=epoch, shuffle=shuffle))
        offsets = flips = None
        if self.augment:
            off, fl = epoch_params(len(self), seed, epoch)
            offsets, flips = torch.from_numpy(off), torch.from_numpy(fl)
        fetch = _BatchFetch(self.images, self.targets, self.mean, self.std, offsets, flips)
        loader = DataLoader(
            fetch,
            batch_size=None,
            sampler=[order[start:stop] for start, stop in bounds],
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(_loader_seed(seed, epoch)),
        )
        device = torch.device(device)
        for x, y in loader:
            yield x.to(device), y.to(device)
