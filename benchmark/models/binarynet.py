r"""``binarynet``: the BinaryNet / VGG-small CNN (Courbariaux, Hubara et al. 2016).

Layout for width multiplier :math:`w` (channel counts :math:`\max(1, \operatorname{round}(c w))`):

``C128 - C128 - M - C256 - C256 - M - C512 - C512 - M - F1024 - F1024 - F(classes)``

``C`` is a 3x3 convolution (padding 1), ``M`` a 2x2 max-pool, ``F`` fully connected; every
layer is followed (after its pool, if any) by BatchNorm, and every BatchNorm but the last by
the sign activation. All weights are binary (as in BinaryNet, the first and last layers too);
the first convolution's *input* is the real image, every later layer's input is
:math:`\pm 1`. The flattened size after the three pools is
:math:`c_6 \lfloor\lfloor\lfloor H/2 \rfloor/2\rfloor/2\rfloor \cdot (\text{same for } W)`, so
32x32 (CIFAR), 28x28 (MNIST) and 8x8 (digits as ``1x8x8``) images all work (H, W >= 8).
The twin uses ``nn.Conv2d`` / ``nn.Linear`` and ``hardtanh``.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.blocks import Binarization

ACCEPTS = "images C x H x W, H,W >= 8"
CONV_PLAN: tuple[int | str, ...] = (128, 128, "M", 256, 256, "M", 512, 512, "M")
FC_PLAN: tuple[int, ...] = (1024, 1024)


def scaled(channels: int, width: float) -> int:
    """``max(1, round(channels * width))``."""
    return max(1, round(channels * width))


class BinaryNet(nn.Module):
    """See the module docstring; ``features`` (convolutions) then ``classifier`` (dense)."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int,
        width: float = 0.25,
        binarize: Binarization | None = None,
    ) -> None:
        super().__init__()
        b = binarize or Binarization()
        cin, h, w = input_shape
        layers: list[nn.Module] = []
        plan = list(CONV_PLAN)
        for i, item in enumerate(plan):
            if item == "M":
                continue
            cout = scaled(int(item), width)
            layers.append(b.conv2d(cin, cout, 3, padding=1))
            if i + 1 < len(plan) and plan[i + 1] == "M":
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            layers += [nn.BatchNorm2d(cout), b.activation()]
            cin = cout
        self.features = nn.Sequential(*layers)
        dense: list[nn.Module] = [nn.Flatten()]
        fin = cin * h * w
        for units in FC_PLAN:
            fout = scaled(units, width)
            dense += [b.linear(fin, fout), nn.BatchNorm1d(fout), b.activation()]
            fin = fout
        dense += [b.linear(fin, num_classes), nn.BatchNorm1d(num_classes)]
        self.classifier = nn.Sequential(*dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
