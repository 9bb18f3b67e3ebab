"""What a dataset loader hands back: the official train and test pools, before splitting."""

from __future__ import annotations

from dataclasses import dataclass

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
