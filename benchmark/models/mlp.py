r"""``mlp``: a binary multi-layer perceptron with full-precision first and last layers.

For hidden widths :math:`(h_1, \dots, h_L)`, :math:`L \ge 2`, on flattened inputs of size
:math:`d`:

.. math::  a_1 = \operatorname{sign}(\mathrm{BN}(W_1 x)), \quad
           a_{l+1} = \operatorname{sign}(\mathrm{BN}(\alpha_l \operatorname{sign}(W_{l+1}) a_l)),
           \quad z = W_{\text{out}} a_L + b

:math:`W_1 \in \mathbb R^{h_1 \times d}` and :math:`W_{\text{out}}` (with bias) are full precision;
the :math:`L-1` hidden layers :math:`W_{l+1} \in \mathbb R^{h_{l+1} \times h_l}` are
:class:`~benchmark.binary.BinaryLinear`; BatchNorm precedes every sign activation. The twin
(``binary=False``) uses ``nn.Linear`` and ``hardtanh`` (or ``relu``) in the same positions.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

from benchmark.models.blocks import Binarization

ACCEPTS = "any shape (flattened)"


class MLP(nn.Module):
    """See the module docstring; ``features`` holds all hidden layers, ``classifier`` the last."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: tuple[int, ...] = (256, 256),
        binarize: Binarization | None = None,
    ) -> None:
        super().__init__()
        b = binarize or Binarization()
        layers: list[nn.Module] = [
            nn.Flatten(),
            nn.Linear(math.prod(input_shape), hidden[0], bias=False),
            nn.BatchNorm1d(hidden[0]),
            b.activation(),
        ]
        for width_in, width_out in pairwise(hidden):
            layers += [b.linear(width_in, width_out), nn.BatchNorm1d(width_out), b.activation()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(hidden[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
