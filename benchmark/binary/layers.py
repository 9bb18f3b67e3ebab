r"""Binary layers whose latent weights are binarized in the forward pass.

A binary layer keeps a real-valued *latent* weight :math:`W` and computes with

.. math::  W_b = \alpha \odot \operatorname{sign}(W), \qquad
           \alpha_c = \operatorname{mean}(|W_{c,\dots}|) \text{ (XNOR-Net, if ``scale``) else } 1

per output channel :math:`c` (first weight dimension). The weight's gradient passes through
the weight estimator (identity ``ste`` by default; see :mod:`benchmark.binary.ste`). The input
(activation) may be binarized too, with its own estimator (``input_estimator``; ``None`` keeps
real inputs, as for a network's first layer). No bias by default.

Which tensors are binary latent weights is *declared* by the model: every module that is a
:class:`BinaryLayer` owns exactly one, its ``weight``. :func:`binary_parameters` finds them;
nothing is guessed from shapes or names.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.binary.ste import check_estimator, sign


class BinaryLayer:
    """Mixin marking a module whose ``weight`` is a binary latent weight."""

    weight: nn.Parameter
    scale: bool
    weight_estimator: str
    input_estimator: str | None

    def binary_weight(self) -> torch.Tensor:
        """The weight used in the forward pass: ``alpha * sign(W)`` (``alpha = 1`` unless scaled)."""
        w_b = sign(self.weight, self.weight_estimator)
        if self.scale:
            dims = tuple(range(1, self.weight.dim()))
            alpha = self.weight.abs().mean(dim=dims, keepdim=True)
            w_b = w_b * alpha
        return w_b

    def binary_input(self, x: torch.Tensor) -> torch.Tensor:
        """Binarize the input with ``input_estimator`` (identity if it is ``None``)."""
        return x if self.input_estimator is None else sign(x, self.input_estimator)

    def _setup_binary(
        self, scale: bool, weight_estimator: str, input_estimator: str | None
    ) -> None:
        """Store the binarization settings, validating the estimator names."""
        self.scale = scale
        self.weight_estimator = check_estimator(weight_estimator)
        self.input_estimator = None if input_estimator is None else check_estimator(input_estimator)


class _BinaryTorchLayer(BinaryLayer):
    """A :class:`BinaryLayer` mixed into a torch layer: its ``extra_repr`` adds the settings."""

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, scale={self.scale}, "  # type: ignore[misc]
            f"weight_estimator={self.weight_estimator!r}, input_estimator={self.input_estimator!r}"
        )


class _BinaryConv(_BinaryTorchLayer):
    """The forward pass of :class:`BinaryConv1d` and :class:`BinaryConv2d`: the torch conv's
    ``_conv_forward`` on the binarized input and weight."""

    bias: torch.Tensor | None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(  # type: ignore[attr-defined]
            self.binary_input(x), self.binary_weight(), self.bias
        )


class BinaryLinear(_BinaryTorchLayer, nn.Linear):
    """``y = binarize_input(x) @ (alpha * sign(W))^T (+ b)``; see the module docstring."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        *,
        scale: bool = False,
        weight_estimator: str = "ste",
        input_estimator: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._setup_binary(scale, weight_estimator, input_estimator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.binary_input(x), self.binary_weight(), self.bias)


class BinaryConv2d(_BinaryConv, nn.Conv2d):
    """``y = conv2d(binarize_input(x), alpha * sign(W)) (+ b)``; see the module docstring."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = False,
        *,
        scale: bool = False,
        weight_estimator: str = "ste",
        input_estimator: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self._setup_binary(scale, weight_estimator, input_estimator)


class BinaryConv1d(_BinaryConv, nn.Conv1d):
    """``y = conv1d(binarize_input(x), alpha * sign(W)) (+ b)``; see the module docstring."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | str = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        *,
        scale: bool = False,
        weight_estimator: str = "ste",
        input_estimator: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self._setup_binary(scale, weight_estimator, input_estimator)


def binary_named_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """Yield ``(name, weight)`` for every binary latent weight the model declares.

    A binary latent weight is the ``weight`` of a :class:`BinaryLayer` module, and nothing else.
    """
    for module_name, module in model.named_modules():
        if isinstance(module, BinaryLayer):
            name = f"{module_name}.weight" if module_name else "weight"
            yield name, module.weight


def binary_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The model's binary latent weights (see :func:`binary_named_parameters`)."""
    return [p for _, p in binary_named_parameters(model)]


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split the trainable parameters into ``(binary, real)``: disjoint, covering the model.

    *binary*: latent weights of binary layers; *real*: everything else (BatchNorm, biases,
    full-precision first/last layers).
    """
    binary_ids = {id(p) for p in binary_parameters(model)}
    binary: list[nn.Parameter] = []
    real: list[nn.Parameter] = []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (binary if id(p) in binary_ids else real).append(p)
    return binary, real
