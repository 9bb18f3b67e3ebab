r"""``cnn1d``: a small binary 1-D CNN for signals such as mnist1d (length 40).

For channels :math:`(c_0, c_1, \dots, c_n)`, :math:`n \ge 1`, on inputs (L,) (read as one
channel) or (C, L):

``Conv(C -> c_0, k=5) - BN - act - [BinaryConv(c_{i-1} -> c_i, k=3) - MaxPool(2) - BN - act] x n``
``- Flatten - Linear(c_n * L / 2^n -> classes)``

Convolutions are padded to keep the length; the first convolution and the classifier are
full precision, the :math:`n` middle convolutions are :class:`~benchmark.binary.BinaryConv1d`
(inputs :math:`\pm 1` from the preceding sign). The length after the pools is
:math:`\lfloor L / 2^n \rfloor`, which must be >= 1. The twin uses ``nn.Conv1d`` and
``hardtanh``.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.blocks import Binarization

ACCEPTS = "signals (L,) or (C, L), L >= 2^(len(channels) - 1)"


class CNN1d(nn.Module):
    """See the module docstring."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: tuple[int, ...] = (32, 64, 64),
        binarize: Binarization | None = None,
    ) -> None:
        super().__init__()
        b = binarize or Binarization()
        self.add_channel = len(input_shape) == 1
        cin = 1 if self.add_channel else input_shape[0]
        length = input_shape[-1]
        layers: list[nn.Module] = [
            nn.Conv1d(cin, channels[0], 5, padding=2, bias=False),
            nn.BatchNorm1d(channels[0]),
            b.activation(),
        ]
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                b.conv1d(c_in, c_out, 3, padding=1),
                nn.MaxPool1d(2),
                nn.BatchNorm1d(c_out),
                b.activation(),
            ]
            length //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * length, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.add_channel:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))
