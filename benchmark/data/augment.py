r"""CIFAR-style augmentation on whole batches: random crop with zero padding + horizontal flip.

For an image :math:`x \in \mathbb{R}^{C \times H \times W}`, padding :math:`p` and offsets
:math:`(d_y, d_x) \in \{0, \dots, 2p\}^2`, the crop is

.. math::  \tilde x_{c,i,j} = \bar x_{c,\, i + d_y,\, j + d_x},
           \qquad \bar x = \text{x zero-padded by } p \text{ on every side}

and a flip then maps :math:`\tilde x_{c,i,j} \mapsto \tilde x_{c,i,W-1-j}`. This is torchvision's
``RandomCrop(H, padding=p)`` followed by ``RandomHorizontalFlip()``, applied before
normalisation (the padding is pixel value 0), but vectorised over the batch: the per-sample
offsets and flips are drawn once per epoch from a seeded generator (:func:`epoch_params`), so
the result does not depend on batch composition or DataLoader workers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PADDING = 4


def epoch_params(n: int, seed: int, epoch: int, padding: int = PADDING) -> tuple[np.ndarray, ...]:
    """Per-sample ``(offsets (n, 2) in [0, 2p], flips (n,) bool)`` for one epoch of a split."""
    rng = np.random.default_rng([seed, epoch, 0xA06])
    offsets = rng.integers(0, 2 * padding + 1, size=(n, 2))
    flips = rng.random(n) < 0.5
    return offsets, flips


def crop_flip(
    images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int = PADDING
) -> torch.Tensor:
    """Crop each image of ``images`` (B, C, H, W) at its offsets after zero padding, then flip.

    ``offsets`` is (B, 2) integer ``(d_y, d_x)``; ``flips`` is (B,) bool. Returns (B, C, H, W).
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = offsets[:, 0, None] + torch.arange(h)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w)  # (B, W)
    out = padded[
        torch.arange(b)[:, None, None, None],
        torch.arange(c)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return torch.where(flips[:, None, None, None], out.flip(-1), out)
