r"""``cnn2d``: a small binary 2-D CNN for small images such as MNIST (1x28x28).

The image twin of ``cnn1d``. For channels :math:`(c_0, c_1, \dots, c_n)`, :math:`n \ge 1`, on
images :math:`C \times H \times W`:

``Conv(C -> c_0, 3x3) - BN - act - [BinaryConv(c_{i-1} -> c_i, 3x3) - MaxPool(2) - BN - act] x n``
``- Flatten - Linear(c_n * floor(H / 2^n) * floor(W / 2^n) -> classes)``

Convolutions are padded (padding 1) to keep the size; each 2x2 max-pool halves it (floor).
The first convolution (real image in, real weights) and the classifier (with bias) are full
precision, the :math:`n` middle convolutions are :class:`~benchmark.binary.BinaryConv2d`
(inputs :math:`\pm 1` from the preceding sign, weights :math:`\operatorname{sign}(W)`), as in
``mlp`` and ``cnn1d``. The size after the pools, :math:`\lfloor H / 2^n \rfloor \times
\lfloor W / 2^n \rfloor`, must be at least 1x1. The twin uses ``nn.Conv2d`` and ``hardtanh``.

Default channels ``[16, 32, 64]`` on 1x28x28: 28x28 -> 14x14 -> 7x7, binary weights
:math:`16 \cdot 32 \cdot 9 + 32 \cdot 64 \cdot 9 = 23{,}040`, real ones 31,738 (first
convolution 144, BatchNorm 224, classifier :math:`64 \cdot 49 \cdot 10 + 10 = 31{,}370`);
about 7.4M multiply-adds per image forward, against about 29M for ``binarynet`` at width
0.25, so an epoch of 3,600 MNIST-sized images takes seconds on one CPU thread.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.blocks import Binarization

ACCEPTS = "images C x H x W, H,W >= 2^(len(channels) - 1)"


def pooled_size(side: int, pools: int) -> int:
    """The side length after ``pools`` 2x2 max-pools (floor each time): ``side // 2**pools``."""
    return side // 2**pools


class CNN2d(nn.Module):
    """See the module docstring; ``features`` (convolutions) then ``classifier`` (dense)."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        channels: tuple[int, ...] = (16, 32, 64),
        binarize: Binarization | None = None,
    ) -> None:
        super().__init__()
        b = binarize or Binarization()
        cin, h, w = input_shape
        layers: list[nn.Module] = [
            nn.Conv2d(cin, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            b.activation(),
        ]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                b.conv2d(c_in, c_out, 3, padding=1),
                nn.MaxPool2d(2),
                nn.BatchNorm2d(c_out),
                b.activation(),
            ]
        pools = len(channels) - 1
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels[-1] * pooled_size(h, pools) * pooled_size(w, pools), num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
