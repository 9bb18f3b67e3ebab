r"""Sign quantization with straight-through estimators (STEs).

Forward, every estimator computes the same binarization

.. math::  \operatorname{sign}(x) = +1 \text{ if } x \ge 0, \text{ else } -1

so ``sign(0) = +1`` everywhere in bnnbench (``torch.sign`` would give 0, which is not a binary
value). The estimators differ only in the gradient they pass backwards,
:math:`\partial L/\partial x = \partial L/\partial b \cdot s(x)`:

===============  ==============================================================================
``ste``          :math:`s(x) = 1` (identity; Bengio et al. 2013)
``clipped``      :math:`s(x) = \mathbb{1}\{|x| \le 1\}` (BinaryNet, Hubara et al. 2016)
``approx_sign``  :math:`s(x) = 2 - 2|x|` for :math:`|x| \le 1`, else 0 (Bi-Real Net, Liu et al. 2018)
``swish_sign``   :math:`s(x) = \beta\,[2 - \beta x \tanh(\beta x / 2)] / [1 + \cosh(\beta x)]`,
                 the derivative of :math:`2\sigma(\beta x)(1 + \beta x (1 - \sigma(\beta x))) - 1`,
                 :math:`\beta = 5` (SignSwish, Darabi et al. 2018)
===============  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from benchmark.binary.names import ESTIMATORS, check_estimator

__all__ = [
    "ESTIMATORS",
    "SURROGATE_GRADIENTS",
    "Sign",
    "check_estimator",
    "hard_sign",
    "sign",
]

SWISH_BETA = 5.0


def hard_sign(x: torch.Tensor) -> torch.Tensor:
    r"""Binarize to {-1, +1} with ``sign(0) = +1`` (no gradient).

    Computed as :math:`2\,\mathbb{1}\{x \ge 0\} - 1`: the comparison stored in a tensor of
    ``x``'s dtype (1.0 or 0.0), then doubled and shifted in place; no ``ones`` tensors to
    fill, negate and select from as in ``torch.where(x >= 0, ones, -ones)``, and the same
    values for every input: ``-0.0 >= 0`` is true (+1), NaN compares false (-1) in both
    (docs/performance.md, "The binary sign").
    """
    out = torch.empty_like(x)
    torch.ge(x, 0, out=out)
    return out.mul_(2).sub_(1)


def _ste_grad(x: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(x)


def _clipped_grad(x: torch.Tensor) -> torch.Tensor:
    return (x.abs() <= 1).to(x.dtype)


def _approx_sign_grad(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(2.0 - 2.0 * x.abs(), min=0.0)


def _swish_sign_grad(x: torch.Tensor, beta: float = SWISH_BETA) -> torch.Tensor:
    bx = beta * x
    return beta * (2.0 - bx * torch.tanh(bx / 2.0)) / (1.0 + torch.cosh(bx))


SURROGATE_GRADIENTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ste": _ste_grad,
    "clipped": _clipped_grad,
    "approx_sign": _approx_sign_grad,
    "swish_sign": _swish_sign_grad,
}


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, estimator: str) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.estimator = estimator
        return hard_sign(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        if ctx.estimator == "ste":  # g * 1 == g exactly (NaN, inf and -0.0 included)
            return grad_output, None
        if ctx.estimator == "clipped":  # g * (0 or 1) without converting the mask first
            return grad_output * (x.abs() <= 1), None
        return grad_output * SURROGATE_GRADIENTS[ctx.estimator](x), None


def sign(x: torch.Tensor, estimator: str = "ste") -> torch.Tensor:
    """Binarize ``x`` to {-1, +1} (``sign(0) = +1``) with the named straight-through estimator."""
    return _SignSTE.apply(x, check_estimator(estimator))


class Sign(torch.nn.Module):
    """Module form of :func:`sign`, used as a binary activation."""

    def __init__(self, estimator: str = "ste") -> None:
        super().__init__()
        self.estimator = check_estimator(estimator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign(x, self.estimator)

    def extra_repr(self) -> str:
        return f"estimator={self.estimator!r}"
