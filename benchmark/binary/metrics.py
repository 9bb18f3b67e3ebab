r"""BNN metrics: quantization error, sign-flip rate, saturation, latent clipping.

Quantization error of a latent weight :math:`W` (one scalar in [0, 1] per tensor):

- ``xnor_l1`` (default): per output channel :math:`c` (first dimension; a tensor of
  dimension <= 1 is one channel), :math:`\alpha_c = \operatorname{mean}|W_c|`,
  :math:`e_c = \operatorname{mean}|W_c - \alpha_c \operatorname{sign}(W_c)| /
  (\operatorname{mean}|W_c| + 10^{-12})`; :math:`e = \operatorname{clip}(\operatorname{mean}_c e_c, 0, 1)`.
  It is 0 exactly when every channel's magnitudes are equal (the weights sit on a scaled
  binary code) and grows as they spread.
- ``sign_l1``: :math:`e = \operatorname{clip}(\operatorname{mean}|W - \operatorname{sign}(W)|, 0, 1)`,
  meant for latent weights clipped to [-1, 1]: 0 when every weight sits at +-1.
- ``none``: :math:`e = 1` always.

``sign(0) = +1`` as everywhere in bnnbench.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.binary.layers import binary_named_parameters, binary_parameters
from benchmark.binary.names import QUANTIZATION_ERRORS
from benchmark.binary.ste import hard_sign
from benchmark.errors import unknown_name

__all__ = [
    "QUANTIZATION_ERRORS",
    "FlipTracker",
    "clip_latent_",
    "quantization_error",
    "saturation",
]
_EPS = 1e-12


def quantization_error(weight: torch.Tensor, kind: str = "xnor_l1") -> torch.Tensor:
    """The quantization error of ``weight`` as a 0-d tensor in [0, 1] (see module docstring)."""
    w = weight.detach()
    if kind == "xnor_l1":
        channels = w.reshape(w.shape[0], -1) if w.dim() >= 2 else w.reshape(1, -1)
        magnitude = channels.abs().mean(dim=1, keepdim=True)
        residual = (channels - magnitude * hard_sign(channels)).abs().mean(dim=1, keepdim=True)
        return (residual / (magnitude + _EPS)).mean().clamp(0.0, 1.0)
    if kind == "sign_l1":
        # |w - sign(w)| = | |w| - 1 | exactly (sign(0) = +1 gives 1 on both sides; rounding
        # is symmetric), in two elementwise passes instead of four
        return (w.abs() - 1.0).abs().mean().clamp(0.0, 1.0)
    if kind == "none":
        return torch.ones((), dtype=w.dtype, device=w.device)
    raise unknown_name("quantization error", kind, QUANTIZATION_ERRORS)


def saturation(weight: torch.Tensor, bound: float = 1.0) -> float:
    """Fraction of entries with ``|w| >= bound`` (latent weights stuck at the clip bound)."""
    return (weight.detach().abs() >= bound).float().mean().item()


@torch.no_grad()
def clip_latent_(model: nn.Module, bound: float = 1.0) -> None:
    """Clip every binary latent weight of ``model`` to ``[-bound, bound]`` in place (BinaryConnect)."""
    for p in binary_parameters(model):
        p.clamp_(-bound, bound)


class FlipTracker:
    """Fraction of binary weights whose sign changed since the last snapshot.

    ``update()`` returns ``{layer_name: rate, ..., "overall": rate}`` (``overall`` = total
    flips / total binary weights) and takes a new snapshot; the first snapshot is taken at
    construction.
    """

    def __init__(self, model: nn.Module) -> None:
        self._params = dict(binary_named_parameters(model))
        self._signs: dict[str, torch.Tensor] = {}
        self.snapshot()

    def snapshot(self) -> None:
        """Remember the current sign of every binary weight."""
        self._signs = {name: p.detach() >= 0 for name, p in self._params.items()}

    def update(self) -> dict[str, float]:
        """Flip rates since the last snapshot, per layer and ``overall``; then re-snapshot."""
        rates: dict[str, float] = {}
        flipped_total, count_total = 0, 0
        for name, p in self._params.items():
            now = p.detach() >= 0
            flipped = int((now != self._signs[name]).sum().item())
            rates[name] = flipped / max(now.numel(), 1)
            flipped_total += flipped
            count_total += now.numel()
            self._signs[name] = now
        rates["overall"] = flipped_total / count_total if count_total else 0.0
        return rates
