"""The binary building blocks against hand-worked values and torch.nn.functional."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.binary import (
    ESTIMATORS,
    BinaryConv1d,
    BinaryConv2d,
    BinaryLinear,
    FlipTracker,
    Sign,
    binary_named_parameters,
    binary_parameters,
    clip_latent_,
    hard_sign,
    quantization_error,
    saturation,
    sign,
    split_parameters,
)
from benchmark.errors import BnnBenchError

POINTS = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.25, 1.0, 1.5])


def _grad_at(points: torch.Tensor, estimator: str) -> torch.Tensor:
    x = points.clone().requires_grad_(True)
    sign(x, estimator).sum().backward()
    return x.grad


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_forward_is_exactly_plus_minus_one_with_sign_zero_positive(estimator: str) -> None:
    out = sign(POINTS, estimator)
    assert out.tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


def test_ste_gradient_is_identity() -> None:
    assert _grad_at(POINTS, "ste").tolist() == [1.0] * len(POINTS)


def test_clipped_gradient_is_indicator_of_unit_interval() -> None:
    # |x| <= 1 passes the gradient (the bound itself included), beyond it is cut.
    assert _grad_at(POINTS, "clipped").tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_approx_sign_gradient_is_two_minus_two_abs_x() -> None:
    expected = [0.0, 0.0, 1.0, 2.0, 1.5, 0.0, 0.0]
    assert torch.allclose(_grad_at(POINTS, "approx_sign"), torch.tensor(expected))


def test_swish_sign_gradient_matches_derivative_of_signswish() -> None:
    beta = 5.0

    def swish_sign(x: float) -> float:  # Darabi et al. 2018: 2 sigma(bx)(1 + bx(1 - sigma(bx))) - 1
        s = 1.0 / (1.0 + math.exp(-beta * x))
        return 2.0 * s * (1.0 + beta * x * (1.0 - s)) - 1.0

    h = 1e-5
    numeric = [(swish_sign(x + h) - swish_sign(x - h)) / (2 * h) for x in POINTS.tolist()]
    got = _grad_at(POINTS.double(), "swish_sign")
    assert torch.allclose(got, torch.tensor(numeric, dtype=torch.float64), atol=1e-6)
    assert got[3].item() == pytest.approx(beta)  # peak value beta at x = 0


def test_unknown_estimator_is_a_clear_error() -> None:
    with pytest.raises(BnnBenchError, match="unknown straight-through estimator 'clip'.*clipped"):
        Sign("clip")


def test_binary_linear_equals_f_linear_with_hand_binarized_weight() -> None:
    torch.manual_seed(0)
    layer = BinaryLinear(5, 3, bias=True)
    x = torch.randn(4, 5)
    w_b = torch.where(layer.weight >= 0, 1.0, -1.0)
    assert torch.equal(layer(x), F.linear(x, w_b, layer.bias))


def test_binary_linear_scaled_with_binary_input() -> None:
    torch.manual_seed(1)
    layer = BinaryLinear(6, 2, scale=True, input_estimator="clipped")
    x = torch.randn(3, 6)
    alpha = layer.weight.detach().abs().mean(dim=1, keepdim=True)
    w_b = alpha * torch.where(layer.weight >= 0, 1.0, -1.0)
    x_b = torch.where(x >= 0, 1.0, -1.0)
    assert torch.allclose(layer(x), F.linear(x_b, w_b))


def test_binary_conv2d_equals_f_conv2d_with_hand_binarized_weight() -> None:
    torch.manual_seed(2)
    conv = BinaryConv2d(3, 4, 3, padding=1, scale=True, input_estimator="approx_sign")
    x = torch.randn(2, 3, 6, 6)
    w = conv.weight.detach()
    alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    w_b = alpha * torch.where(w >= 0, 1.0, -1.0)
    expected = F.conv2d(torch.where(x >= 0, 1.0, -1.0), w_b, padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    assert conv.bias is None


def test_binary_conv1d_equals_f_conv1d() -> None:
    torch.manual_seed(3)
    conv = BinaryConv1d(2, 3, 5, padding=2)
    x = torch.randn(2, 2, 11)
    w_b = torch.where(conv.weight >= 0, 1.0, -1.0)
    assert torch.allclose(conv(x), F.conv1d(x, w_b, padding=2), atol=1e-6)


def test_weight_gradient_flows_through_the_weight_estimator() -> None:
    layer = BinaryLinear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -3.0]]))
    x = torch.tensor([[2.0, 1.0]])
    layer(x).sum().backward()
    # y = sign(w) . x, identity STE: dy/dw = x
    assert layer.weight.grad.tolist() == [[2.0, 1.0]]


def test_binary_parameters_are_declared_by_layers_not_guessed() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), BinaryLinear(8, 8), nn.Linear(8, 2))
    names = [n for n, _ in binary_named_parameters(model)]
    assert names == ["2.weight"]
    binary, real = split_parameters(model)
    assert [id(p) for p in binary] == [id(model[2].weight)]
    all_ids = {id(p) for p in model.parameters()}
    assert {id(p) for p in binary} | {id(p) for p in real} == all_ids
    assert not {id(p) for p in binary} & {id(p) for p in real}


def test_quantization_error_xnor_l1_hand_computed() -> None:
    # channel 0: |w| = (1, 3): alpha = 2, residual = (1, 1) -> mean 1, e_0 = 1/2
    # channel 1: |w| = (2, 2): alpha = 2, residual 0 -> e_1 = 0; e = mean = 0.25
    w = torch.tensor([[1.0, -3.0], [2.0, -2.0]])
    assert quantization_error(w, "xnor_l1").item() == pytest.approx(0.25)


def test_quantization_error_xnor_l1_on_a_vector_is_one_channel() -> None:
    # |w| = (0.5, 1.5, 1.0): alpha = 1, residual = (0.5, 0.5, 0) -> mean 1/3, / 1 = 1/3
    w = torch.tensor([0.5, -1.5, 1.0])
    assert quantization_error(w, "xnor_l1").item() == pytest.approx(1.0 / 3.0)


def test_quantization_error_sign_l1_and_none() -> None:
    w = torch.tensor([0.5, -1.0, 0.0, -0.25])
    # |w - sign w| = (0.5, 0, 1, 0.75) -> mean 0.5625
    assert quantization_error(w, "sign_l1").item() == pytest.approx(0.5625)
    assert quantization_error(torch.full((3,), 5.0), "sign_l1").item() == 1.0  # clipped to 1
    assert quantization_error(w, "none").item() == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantization_error_sign_l1_equals_the_literal_formula(dtype: torch.dtype) -> None:
    w = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=dtype) * 0.7
    w[::7] = 0.0
    w[1::11] = -1.0
    literal = (w - hard_sign(w)).abs().mean().clamp(0.0, 1.0)
    assert torch.equal(quantization_error(w, "sign_l1"), literal)


def test_quantization_error_unknown_kind() -> None:
    with pytest.raises(BnnBenchError, match="allowed: none, sign_l1, xnor_l1"):
        quantization_error(torch.ones(2), "l2")


def test_flip_tracker_on_a_constructed_sequence() -> None:
    model = nn.Sequential(BinaryLinear(2, 2), nn.ReLU(), BinaryLinear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
        model[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
    tracker = FlipTracker(model)
    with torch.no_grad():
        model[0].weight[0, 0] = -0.5  # 1 of 4 flips
        model[2].weight.copy_(torch.tensor([[-1.0, 0.0]]))  # both flip (0 counts as +)
    rates = tracker.update()
    assert rates == {"0.weight": 0.25, "2.weight": 1.0, "overall": 3 / 6}
    assert tracker.update()["overall"] == 0.0  # nothing changed since the snapshot


def test_saturation_and_clipping() -> None:
    model = nn.Sequential(BinaryLinear(2, 2), nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[2.0, -0.5], [-3.0, 1.0]]))
        model[1].weight.fill_(5.0)
    assert saturation(model[0].weight) == pytest.approx(0.75)
    clip_latent_(model)
    assert model[0].weight.tolist() == [[1.0, -0.5], [-1.0, 1.0]]
    assert model[1].weight.eq(5.0).all()  # real-valued layers untouched
    assert binary_parameters(model)[0] is model[0].weight
