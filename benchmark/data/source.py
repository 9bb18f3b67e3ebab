"""What a dataset loader hands back: the official train and test pools, before splitting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benchmark.data.splits import fraction_count, stratified_take

if TYPE_CHECKING:  # imported where tensors are made: the registry's metadata stays torch-free
    import torch


@dataclass
class SourceData:
    """The two pools of a dataset and how to serve them.

    ``images=False``: ``x_*`` are normalised float tensors (N, *input_shape), served in memory
    (:class:`benchmark.data.batching.TensorSplit`). ``images=True``: ``x_*`` are uint8 images
    (N, C, H, W), normalised per batch with ``mean``/``std`` (per channel, on the [0, 1]
    scale) and served through a DataLoader (:class:`benchmark.data.batching.LoaderSplit`).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    images: bool = False
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: bool = False
    num_workers: int = 0


def held_out_source(
    x: np.ndarray,
    y: np.ndarray,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    test_fraction: float,
    seed: int,
) -> SourceData:
    """Pools carved from one labelled pool without an official test split: a stratified
    ``test_fraction`` of it (:func:`benchmark.data.splits.stratified_take` with ``seed``) is the
    test pool, the rest the training pool; inputs float32 of shape (N, *input_shape)."""
    test, train = stratified_take(y, fraction_count(test_fraction, len(y)), seed)
    import torch

    xt = torch.from_numpy(x.astype(np.float32)).reshape(-1, *input_shape)
    yt = torch.from_numpy(y)
    return SourceData(
        x_train=xt[train],
        y_train=yt[train],
        x_test=xt[test],
        y_test=yt[test],
        num_classes=num_classes,
        input_shape=input_shape,
    )
