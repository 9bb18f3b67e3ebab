"""The cheap sign (issue 21): bit for bit the values and gradients of the ``torch.where``
version it replaced, and a training run that stores the same numbers with either.

The old implementation is written out here (it was ``benchmark.binary.ste`` until issue 21):
``hard_sign = where(x >= 0, 1, -1)`` and every estimator's backward ``g * s(x)`` with
``s`` from ``SURROGATE_GRADIENTS`` (``ones_like`` for ``ste``, ``(|x| <= 1).to(dtype)`` for
``clipped``).
"""

from __future__ import annotations

import pytest
import torch

from benchmark.binary import ESTIMATORS, BinaryConv1d, BinaryLinear, hard_sign, sign
from benchmark.binary import metrics as metrics_module
from benchmark.binary import ste as ste_module
from benchmark.optim import bop as bop_module
from benchmark.records import RunSpec
from benchmark.train import train


def old_hard_sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


OLD_GRADIENTS = {
    "ste": lambda x: torch.ones_like(x),
    "clipped": lambda x: (x.abs() <= 1).to(x.dtype),
    "approx_sign": lambda x: torch.clamp(2.0 - 2.0 * x.abs(), min=0.0),
    "swish_sign": lambda x: (
        5.0 * (2.0 - 5.0 * x * torch.tanh(5.0 * x / 2.0)) / (1.0 + torch.cosh(5.0 * x))
    ),
}


class OldSignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, estimator: str) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.estimator = estimator
        return old_hard_sign(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * OLD_GRADIENTS[ctx.estimator](x), None


SPECIAL = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1.0, -1.0, 1e-45, -1e-45]


def _inputs(dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(4000, generator=gen, dtype=torch.float64) * 2
    return torch.cat([torch.tensor(SPECIAL, dtype=torch.float64), noise]).to(dtype)


def _bits(t: torch.Tensor) -> list[int]:
    """The raw bit patterns, so that -0.0 != 0.0 and NaN == NaN (same payload)."""
    as_int = {torch.float32: torch.int32, torch.float64: torch.int64}.get(t.dtype, torch.int16)
    return t.contiguous().view(as_int).tolist()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_hard_sign_is_bit_identical_to_the_where_version(dtype: torch.dtype) -> None:
    x = _inputs(dtype)
    new, old = hard_sign(x), old_hard_sign(x)
    assert new.dtype == old.dtype == dtype
    assert _bits(new) == _bits(old)
    # the special values by the rule: +1 for x >= 0 (-0.0 too), -1 below 0 and for NaN
    special = torch.tensor(SPECIAL, dtype=dtype)
    expected = [1.0 if v >= 0 else -1.0 for v in special.tolist()]  # NaN >= 0 is False
    assert hard_sign(special).tolist() == expected
    assert expected[:5] == [1.0, 1.0, -1.0, 1.0, -1.0]


def test_hard_sign_of_a_strided_view_and_of_a_tensor_needing_grad() -> None:
    base = torch.randn(30, 20, requires_grad=True)
    view = base.t()[::2]
    out = hard_sign(view)
    assert out.shape == view.shape and not out.requires_grad
    assert torch.equal(out, old_hard_sign(view.detach()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_forward_and_gradient_bit_identical_to_the_old_ste(
    estimator: str, dtype: torch.dtype
) -> None:
    x = _inputs(dtype)
    upstream = _inputs(dtype).flip(0)  # specials in the upstream gradient too (NaN, inf, -0.0)
    new_x, old_x = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    new_out, old_out = sign(new_x, estimator), OldSignSTE.apply(old_x, estimator)
    assert _bits(new_out.detach()) == _bits(old_out.detach())
    new_out.backward(upstream)
    old_out.backward(upstream)
    assert _bits(new_x.grad) == _bits(old_x.grad)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_binary_layers_bit_identical_forward_and_backward(estimator: str) -> None:
    torch.manual_seed(1)
    layers = [
        BinaryLinear(16, 8, scale=True, weight_estimator=estimator, input_estimator=estimator),
        BinaryConv1d(3, 4, 3, weight_estimator=estimator, input_estimator=estimator),
    ]
    inputs = [torch.randn(5, 16), torch.randn(2, 3, 11)]
    for layer, x in zip(layers, inputs, strict=True):
        with torch.no_grad():
            layer.weight[0].zero_()  # exact zeros in the latent weight
        results = []
        for fn in (ste_module._SignSTE, OldSignSTE):
            layer.zero_grad()
            xi = x.clone().requires_grad_(True)
            original = ste_module._SignSTE
            ste_module._SignSTE = fn
            try:
                out = layer(xi)
            finally:
                ste_module._SignSTE = original
            out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(2)))
            results.append((out.detach(), layer.weight.grad.clone(), xi.grad.clone()))
        for new, old in zip(*results, strict=True):
            assert _bits(new) == _bits(old)


def _curves(record) -> list[tuple[int, str, str, float]]:
    timing = {"train_seconds", "eval_seconds"}
    return [(m.step, m.split, m.name, m.value) for m in record.metrics if m.name not in timing]


@pytest.mark.parametrize("optimizer", ["bamsprod", "bop", "adam"])
def test_a_training_run_stores_identical_metrics_with_the_old_sign(
    optimizer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = RunSpec(
        model="mlp",
        dataset="digits",
        optimizer=optimizer,
        model_options={"hidden": [32, 32]},
        epochs=2,
        batch_size=64,
        evals_per_epoch=2,
        seed=5,
    )
    new = train(spec)
    monkeypatch.setattr(ste_module, "_SignSTE", OldSignSTE)
    monkeypatch.setattr(ste_module, "hard_sign", old_hard_sign)
    monkeypatch.setattr(metrics_module, "hard_sign", old_hard_sign)
    monkeypatch.setattr(bop_module, "hard_sign", old_hard_sign)
    old = train(spec)
    assert new.status == old.status == "completed"
    assert len(_curves(new)) > 20
    assert _curves(new) == _curves(old)
