r"""``bireal_resnet18``: Bi-Real Net ResNet-18 for CIFAR-sized images (Liu et al. 2018).

Every binary 3x3 convolution has its own real-valued shortcut (the "Bi-Real" unit):

.. math::  y = \mathrm{BN}\big(\alpha \operatorname{sign}(W) * \operatorname{sign}(x)\big)
           + \operatorname{shortcut}(x)

with the sign's backward the ``approx_sign`` estimator (:math:`2 - 2|x|` on
:math:`|x| \le 1`) and :math:`\alpha` the per-channel mean :math:`|W|` (``scale=True``, the
real-valued scaling of Bi-Real Net; the paper's magnitude-aware weight gradient is not
reproduced, the weight STE is the identity). The shortcut is the identity, or, where a unit
halves the resolution or changes the width, a real ``AvgPool(2) - Conv1x1 - BN``.

ResNet-18 layout for CIFAR with width multiplier :math:`w`: a full-precision stem
``Conv3x3(C -> 64w) - BN`` (no max-pool), four stages of widths ``(64, 128, 256, 512) * w``
with strides ``(1, 2, 2, 2)``, each of two basic blocks = four Bi-Real units (16 binary
convolutions in all), then global average pooling and a full-precision ``Linear`` classifier.
The twin replaces sign by ``relu`` (the real ResNet's activation) and binary by real convs.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.binarynet import scaled
from benchmark.models.blocks import Binarization

ACCEPTS = "images C x H x W, H,W >= 8"
STAGES: tuple[tuple[int, int], ...] = ((64, 1), (128, 2), (256, 2), (512, 2))
UNITS_PER_STAGE = 4


class BiRealUnit(nn.Module):
    """``BN(conv3x3(act(x))) + shortcut(x)``; see the module docstring."""

    def __init__(self, cin: int, cout: int, stride: int, binarize: Binarization) -> None:
        super().__init__()
        self.act = binarize.activation()
        self.conv = binarize.conv2d(cin, cout, 3, stride=stride, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            pool = (
                nn.AvgPool2d(stride, ceil_mode=True, count_include_pad=False)
                if stride != 1
                else nn.Identity()
            )
            self.shortcut = nn.Sequential(
                pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.act(x))) + self.shortcut(x)


class BiRealResNet18(nn.Module):
    """See the module docstring: ``stem``, ``units`` (16 Bi-Real units), ``classifier``."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        width: float = 0.25,
        binarize: Binarization | None = None,
    ) -> None:
        super().__init__()
        b = binarize or Binarization(activation_estimator="approx_sign", scale=True)
        cin = input_shape[0]
        stem_width = scaled(STAGES[0][0], width)
        self.stem = nn.Sequential(
            nn.Conv2d(cin, stem_width, 3, padding=1, bias=False), nn.BatchNorm2d(stem_width)
        )
        units: list[nn.Module] = []
        c = stem_width
        for channels, stride in STAGES:
            cout = scaled(channels, width)
            for i in range(UNITS_PER_STAGE):
                units.append(BiRealUnit(c, cout, stride if i == 0 else 1, b))
                c = cout
        self.units = nn.Sequential(*units)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.units(self.stem(x)))
