r"""Layer factories shared by the models: one switch makes a network binary or full precision.

With ``binary=True`` a weight layer is a :mod:`benchmark.binary` layer (its latent weight is
registered as binary; weights binarized as :math:`\alpha \operatorname{sign}(W)`, with
:math:`\alpha = 1` unless ``scale``) and an activation is :class:`benchmark.binary.Sign`
(forward :math:`\operatorname{sign}`, backward the named straight-through estimator). With
``binary=False`` (the *full-precision twin*) the same positions hold ``nn.Linear`` /
``nn.Conv1d`` / ``nn.Conv2d`` and a real activation: ``hardtanh`` (:math:`\max(-1,\min(1,x))`,
the function whose derivative the ``clipped`` STE uses) or ``relu``.

Binary layers never binarize their own input here (``input_estimator=None``): the preceding
:class:`~benchmark.binary.Sign` module does, so the twin only swaps modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a layer is built: validating options needs no torch
    from torch import nn

REAL_ACTIVATIONS = ("hardtanh", "relu")


@dataclass(frozen=True)
class Binarization:
    """How a model's binarizable positions are built (see the module docstring)."""

    binary: bool = True
    weight_estimator: str = "ste"
    activation_estimator: str = "clipped"
    scale: bool = False
    real_activation: str = "hardtanh"

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        """A binarizable fully connected layer without bias (BatchNorm follows)."""
        from torch import nn

        from benchmark.binary.layers import BinaryLinear

        if self.binary:
            return BinaryLinear(
                in_features, out_features, scale=self.scale, weight_estimator=self.weight_estimator
            )
        return nn.Linear(in_features, out_features, bias=False)

    def conv2d(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
        """A binarizable 2-D convolution without bias (BatchNorm follows)."""
        from torch import nn

        from benchmark.binary.layers import BinaryConv2d

        if self.binary:
            return BinaryConv2d(
                cin,
                cout,
                kernel,
                stride=stride,
                padding=padding,
                scale=self.scale,
                weight_estimator=self.weight_estimator,
            )
        return nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)

    def conv1d(self, cin: int, cout: int, kernel: int, padding: int = 0) -> nn.Module:
        """A binarizable 1-D convolution without bias (BatchNorm follows)."""
        from torch import nn

        from benchmark.binary.layers import BinaryConv1d

        if self.binary:
            return BinaryConv1d(
                cin,
                cout,
                kernel,
                padding=padding,
                scale=self.scale,
                weight_estimator=self.weight_estimator,
            )
        return nn.Conv1d(cin, cout, kernel, padding=padding, bias=False)

    def activation(self) -> nn.Module:
        """``Sign(activation_estimator)`` if binary, else the real activation."""
        from torch import nn

        from benchmark.binary.ste import Sign

        if self.binary:
            return Sign(self.activation_estimator)
        return nn.Hardtanh() if self.real_activation == "hardtanh" else nn.ReLU()
