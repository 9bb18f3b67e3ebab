"""BAMSProd: the properties its reconstruction must have (docs/optimizers.md), against independent references.

References: pytorch_optimizer.AdaBound(ams_bound=True, weight_decouple=False) (= AMSBound,
what BAMSProd must equal with e = 1), hand-written moment recursions, and
benchmark.binary.quantization_error.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_optimizer import AdaBound
from torch import nn

from benchmark.binary import quantization_error
from benchmark.errors import BnnBenchError
from benchmark.optim import BAMSProd, default_bound
from benchmark.optim.bamsprod import _fast_errors

SHAPES = [(8, 3, 3, 3), (6, 10), (6,), (5, 4)]
TOL = dict(rtol=0.0, atol=1e-6)


def make_params(seed: int = 0, shapes: list[tuple[int, ...]] = SHAPES) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen).mul_(0.5).requires_grad_() for s in shapes]


def clone_params(params: list[torch.Tensor]) -> list[torch.Tensor]:
    return [p.detach().clone().requires_grad_() for p in params]


def grad_stream(
    shapes: list[tuple[int, ...]], steps: int, seed: int = 1
) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen) for s in shapes] for _ in range(steps)]


def run(
    opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[list[torch.Tensor]]
) -> list[list[torch.Tensor]]:
    """Apply the gradient stream; return the parameter values after every step."""
    trajectory = []
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
        trajectory.append([p.detach().clone() for p in params])
    return trajectory


def assert_same_trajectory(
    a: list[list[torch.Tensor]], b: list[list[torch.Tensor]], **tol: float
) -> None:
    tol = tol or TOL
    for step, (xs, ys) in enumerate(zip(a, b, strict=True)):
        for x, y in zip(xs, ys, strict=True):
            torch.testing.assert_close(x, y, **tol, msg=lambda m, s=step: f"step {s + 1}: {m}")


# ---------------------------------------------------------------------- e = 1 is AMSBound


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_error_none_equals_amsbound_step_for_step(foreach: bool, weight_decay: float) -> None:
    hp = dict(lr=3e-3, final_lr=0.05, gamma=1e-2, eps=1e-8, weight_decay=weight_decay)
    params_ref, params = make_params(), make_params()
    ref = AdaBound(params_ref, ams_bound=True, weight_decouple=False, betas=(0.9, 0.999), **hp)
    opt = BAMSProd(
        [{"params": params[:2], "binary": True}, {"params": params[2:], "lr": 3e-3}],
        error="none",
        foreach=foreach,
        **hp,
    )
    grads = grad_stream(SHAPES, 50)
    assert_same_trajectory(run(opt, params, grads), run(ref, params_ref, grads))


@pytest.mark.parametrize("foreach", [True, False])
def test_non_binary_tensors_use_error_one(foreach: bool) -> None:
    """Without the binary flag, even the default xnor_l1 error leaves plain AMSBound."""
    params_ref, params = make_params(), make_params()
    ref = AdaBound(params_ref, lr=1e-2, ams_bound=True, weight_decouple=False)
    opt = BAMSProd(params, lr=1e-2, error="xnor_l1", foreach=foreach)
    grads = grad_stream(SHAPES, 30)
    assert_same_trajectory(run(opt, params, grads), run(ref, params_ref, grads))


def test_binary_group_differs_real_group_is_amsbound() -> None:
    params_ref, params = make_params(), make_params()
    ref = AdaBound(params_ref, lr=1e-2, ams_bound=True, weight_decouple=False)
    opt = BAMSProd([{"params": params[:2], "binary": True}, {"params": params[2:]}], lr=1e-2)
    grads = grad_stream(SHAPES, 20)
    ours, theirs = run(opt, params, grads), run(ref, params_ref, grads)
    assert_same_trajectory([s[2:] for s in ours], [s[2:] for s in theirs])
    assert not torch.allclose(ours[-1][0], theirs[-1][0], atol=1e-6)


# ---------------------------------------------------------------------- the range


def reference_moments(grads: list[list[torch.Tensor]], beta1: float) -> list[list[torch.Tensor]]:
    """m_t = beta1 m_{t-1} + (1 - beta1) g_t, in float64."""
    ms = [torch.zeros(g.shape, dtype=torch.float64) for g in grads[0]]
    out = []
    for step_grads in grads:
        ms = [beta1 * m + (1 - beta1) * g.double() for m, g in zip(ms, step_grads, strict=True)]
        out.append(ms)
    return out


@pytest.mark.parametrize("foreach", [True, False])
def test_huge_gamma_steps_are_eta_times_momentum(foreach: bool) -> None:
    params = make_params()
    start = [p.detach().double() for p in params]
    opt = BAMSProd(
        [{"params": params[:2], "binary": True}, {"params": params[2:]}],
        lr=1e-3,
        final_lr=0.05,
        gamma=1e12,
        foreach=foreach,
    )
    grads = grad_stream(SHAPES, 15)
    trajectory = run(opt, params, grads)
    moments = reference_moments(grads, 0.9)
    previous = start
    for now, ms in zip(trajectory, moments, strict=True):
        for x_new, x_old, m in zip(now, previous, ms, strict=True):
            torch.testing.assert_close(x_new.double(), x_old - 0.05 * m, rtol=0.0, atol=3e-7)
        previous = [x.double() for x in now]


@pytest.mark.parametrize("foreach", [True, False])
def test_zero_error_collapses_the_range_onto_eta(foreach: bool) -> None:
    """e = 0 gives lower = upper = eta whatever gamma: momentum SGD with the final step size."""
    params = make_params()
    start = [p.detach().double() for p in params]
    opt = BAMSProd(
        [{"params": params, "binary": True}],
        lr=1e-3,
        final_lr=0.02,
        gamma=1e-3,
        error=lambda p: 0.0,
        foreach=foreach,
    )
    grads = grad_stream(SHAPES, 3)
    trajectory = run(opt, params, grads)
    m1 = reference_moments(grads, 0.9)[0]
    for x_new, x_old, m in zip(trajectory[0], start, m1, strict=True):
        torch.testing.assert_close(x_new.double(), x_old - 0.02 * m, rtol=0.0, atol=3e-7)


@settings(max_examples=200, deadline=None)
@given(
    e_low=st.floats(0.0, 1.0),
    e_high=st.floats(0.0, 1.0),
    t=st.integers(1, 10**6),
    eta=st.floats(1e-6, 10.0),
    gamma=st.floats(1e-6, 10.0),
)
def test_range_narrows_monotonically_and_holds_eta(
    e_low: float, e_high: float, t: int, eta: float, gamma: float
) -> None:
    e_low, e_high = sorted((e_low, e_high))
    lo_small, up_small = default_bound(t, e_low, eta, gamma)
    lo_big, up_big = default_bound(t, e_high, eta, gamma)
    assert lo_big <= lo_small <= eta <= up_small <= up_big
    assert lo_big >= 0.0


def test_diagnostics_report_the_error_and_range_used() -> None:
    torch.manual_seed(0)
    binary = [torch.randn(6, 4, requires_grad=True), torch.randn(3, 2, 2, requires_grad=True)]
    real = [torch.randn(5, requires_grad=True)]
    opt = BAMSProd([{"params": binary, "binary": True}, {"params": real}], lr=2e-3, final_lr=0.1)
    expected_e = [float(quantization_error(p)) for p in binary]
    for p in [*binary, *real]:
        p.grad = torch.randn_like(p)
    opt.step()
    diag = opt.diagnostics()
    bounds = [default_bound(1, e, 0.1, 1e-3) for e in expected_e]
    assert diag["bamsprod_error"] == pytest.approx(sum(expected_e) / 2, abs=1e-7)
    assert diag["bamsprod_lower"] == pytest.approx(sum(b[0] for b in bounds) / 2, rel=1e-6)
    assert diag["bamsprod_upper"] == pytest.approx(sum(b[1] for b in bounds) / 2, rel=1e-6)


def test_no_binary_tensor_no_diagnostics() -> None:
    p = torch.randn(3, requires_grad=True)
    opt = BAMSProd([p])
    assert opt.diagnostics() == {}
    p.grad = torch.ones(3)
    opt.step()
    assert opt.diagnostics() == {}


@pytest.mark.parametrize("foreach", [True, False])
def test_custom_bound_is_used(foreach: bool) -> None:
    """A plugged-in bound(t, e, eta, gamma) replaces the range: (c, c) makes every step c * m."""
    params = make_params()
    start = [p.detach().double() for p in params]
    calls: list[tuple[int, float]] = []

    def bound(t: int, e: torch.Tensor, eta: float, gamma: float) -> tuple[float, float]:
        calls.append((t, float(e)))
        return 0.003, 0.003

    opt = BAMSProd(
        [{"params": params[:2], "binary": True}, {"params": params[2:]}],
        bound=bound,
        foreach=foreach,
    )
    grads = grad_stream(SHAPES, 1)
    trajectory = run(opt, params, grads)
    m1 = reference_moments(grads, 0.9)[0]
    for x_new, x_old, m in zip(trajectory[0], start, m1, strict=True):
        torch.testing.assert_close(x_new.double(), x_old - 0.003 * m, rtol=0.0, atol=3e-7)
    assert sorted(e for _, e in calls)[-2:] == [1.0, 1.0]  # the two real tensors: e = 1
    assert {t for t, _ in calls} == {1}


@pytest.mark.parametrize("device_bounds", [False, True])
@pytest.mark.parametrize("foreach", [True, False])
def test_inverted_bound_gives_upper_as_torch_clamp(foreach: bool, device_bounds: bool) -> None:
    """A plugged-in bound with lower > upper: the step is upper (torch.clamp's rule)."""
    params = make_params()
    start = [p.detach().double() for p in params]
    opt = BAMSProd(
        [{"params": params, "binary": True}],
        bound=lambda t, e, eta, gamma: (0.5, 0.002),
        foreach=foreach,
    )
    opt._force_device_bounds = device_bounds
    grads = grad_stream(SHAPES, 1)
    trajectory = run(opt, params, grads)
    m1 = reference_moments(grads, 0.9)[0]
    for x_new, x_old, m in zip(trajectory[0], start, m1, strict=True):
        torch.testing.assert_close(x_new.double(), x_old - 0.002 * m, rtol=0.0, atol=3e-7)


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind", ["xnor_l1", "sign_l1"])
def test_fast_errors_equal_quantization_error(kind: str) -> None:
    torch.manual_seed(3)
    tensors = [
        torch.randn(7, 5, 3, 3),
        torch.randn(4, 9),
        torch.randn(11),
        torch.rand(3, 4) * 2 - 1,
    ]
    tensors[1][0, :3] = 0.0  # sign(0) = +1
    tensors.append(torch.ones(4, 4) * 0.5)  # a perfect scaled binary code: e = 0
    bufs = [torch.empty_like(t) for t in tensors]
    fast = _fast_errors(kind, tensors, bufs)
    for t, e in zip(tensors, fast, strict=True):
        # float32 rounding only: the fast path sums min(|W|, alpha) instead of |W - alpha sign W|
        torch.testing.assert_close(e, quantization_error(t, kind), rtol=0.0, atol=1e-6)


@pytest.mark.parametrize("device_bounds", [False, True])
@pytest.mark.parametrize("error", ["xnor_l1", "sign_l1", "custom"])
def test_foreach_path_equals_per_tensor_path(error: str, device_bounds: bool) -> None:
    """Also with the clamp bounds kept as 0-d tensors (the accelerator code path)."""
    err = (lambda p: p.detach().abs().mean().clamp(0.0, 1.0)) if error == "custom" else error
    runs = []
    for foreach in (True, False):
        params = make_params(seed=5)
        opt = BAMSProd(
            [{"params": params[:2], "binary": True}, {"params": params[2:], "final_lr": 0.2}],
            lr=5e-3,
            weight_decay=1e-3,
            error=err,
            foreach=foreach,
        )
        opt._force_device_bounds = device_bounds
        runs.append(run(opt, params, grad_stream(SHAPES, 30, seed=6)))
        runs.append(opt.diagnostics())
    assert_same_trajectory(runs[0], runs[2])
    assert runs[1] == pytest.approx(runs[3], rel=1e-6)


@pytest.mark.parametrize("foreach", [True, False])
def test_error_every_k_recomputes_at_1_k_plus_1(foreach: bool) -> None:
    calls: list[int] = []
    params = make_params()

    def error(p: torch.Tensor) -> torch.Tensor:
        calls.append(opt.state[p]["step"])
        return quantization_error(p)

    opt = BAMSProd(
        [{"params": params[:1], "binary": True}], error=error, error_every=3, foreach=foreach
    )
    seen = []
    for step_grads in grad_stream(SHAPES[:1], 7):
        expected = float(quantization_error(params[0]))
        params[0].grad = step_grads[0]
        opt.step()
        seen.append((opt.diagnostics()["bamsprod_error"], expected))
    assert calls == [1, 4, 7]
    # between recomputations the stored value is reused although the weights moved
    assert seen[1][0] == seen[0][0] and seen[1][1] != pytest.approx(seen[0][1], abs=1e-9)
    for i in (0, 3, 6):
        assert seen[i][0] == pytest.approx(seen[i][1], abs=1e-7)


def test_error_every_one_is_exact() -> None:
    runs = []
    for every in (1, None):
        params = make_params()
        err = "xnor_l1" if every else (lambda p: quantization_error(p))
        opt = BAMSProd(
            [{"params": params, "binary": True}], error=err, error_every=1, foreach=False
        )
        runs.append(run(opt, params, grad_stream(SHAPES, 10)))
    assert_same_trajectory(runs[0], runs[1], rtol=0.0, atol=0.0)


# ---------------------------------------------------------------------- Optimizer surface


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("every", [1, 3])
def test_state_dict_round_trip_resumes_exactly(foreach: bool, every: int) -> None:
    params = make_params()
    groups = lambda ps: [{"params": ps[:2], "binary": True}, {"params": ps[2:]}]  # noqa: E731
    opt = BAMSProd(groups(params), error_every=every, foreach=foreach)
    grads = grad_stream(SHAPES, 20)
    run(opt, params, grads[:10])
    saved_params = [p.detach().clone() for p in params]
    saved_state = copy.deepcopy(opt.state_dict())
    continued = run(opt, params, grads[10:])

    fresh = [p.clone().requires_grad_() for p in saved_params]
    resumed_opt = BAMSProd(groups(fresh), lr=0.5, error_every=every, foreach=foreach)
    resumed_opt.load_state_dict(saved_state)
    assert resumed_opt.param_groups[0]["lr"] == 1e-3  # hyper-parameters come from the state
    assert_same_trajectory(run(resumed_opt, fresh, grads[10:]), continued, rtol=0.0, atol=0.0)


def test_lr_scheduler_scales_eta_like_amsbound() -> None:
    params_ref, params = make_params(), make_params()
    ref = AdaBound(params_ref, lr=1e-2, ams_bound=True, weight_decouple=False)
    opt = BAMSProd(params, lr=1e-2, error="none")
    sched_ref = torch.optim.lr_scheduler.StepLR(ref, step_size=5, gamma=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.1)
    traj_ref, traj = [], []
    for step_grads in grad_stream(SHAPES, 15):
        traj_ref += run(ref, params_ref, [step_grads])
        traj += run(opt, params, [step_grads])
        sched_ref.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-5)  # three drops in 15 steps
    assert_same_trajectory(traj, traj_ref)


def test_lr_scheduler_scales_the_binary_range() -> None:
    p = torch.randn(4, 4, requires_grad=True)
    opt = BAMSProd([{"params": [p], "binary": True}], lr=1e-2, final_lr=0.1, error=lambda w: 0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    for t in (1, 2):
        p.grad = torch.ones_like(p)
        opt.step()
        eta = 0.1 * (0.1 ** (t - 1))
        lower, upper = default_bound(t, 0.5, eta, 1e-3)
        assert opt.diagnostics()["bamsprod_lower"] == pytest.approx(lower, rel=1e-9)
        assert opt.diagnostics()["bamsprod_upper"] == pytest.approx(upper, rel=1e-9)
        sched.step()


@pytest.mark.parametrize("foreach", [True, False])
def test_maximize_equals_minimizing_the_negation(foreach: bool) -> None:
    grads = grad_stream(SHAPES, 10)
    params_max, params_min = make_params(), make_params()
    groups = lambda ps: [{"params": ps[:2], "binary": True}, {"params": ps[2:]}]  # noqa: E731
    opt_max = BAMSProd(groups(params_max), maximize=True, weight_decay=1e-2, foreach=foreach)
    opt_min = BAMSProd(groups(params_min), weight_decay=1e-2, foreach=foreach)
    traj_max = run(opt_max, params_max, grads)
    traj_min = run(opt_min, params_min, [[-g for g in gs] for gs in grads])
    assert_same_trajectory(traj_max, traj_min, rtol=0.0, atol=0.0)
    assert torch.equal(params_max[0].grad, grads[-1][0])  # like Adam: p.grad is left untouched


def test_closure_is_evaluated_with_grad_and_its_loss_returned() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(16, 5), torch.randn(16, 1)
    model_a, model_b = nn.Linear(5, 1), nn.Linear(5, 1)
    model_b.load_state_dict(model_a.state_dict())
    opt_a, opt_b = BAMSProd(model_a.parameters(), lr=1e-2), BAMSProd(model_b.parameters(), lr=1e-2)
    for _ in range(5):

        def closure() -> torch.Tensor:
            opt_a.zero_grad()
            loss = nn.functional.mse_loss(model_a(x), y)
            loss.backward()
            return loss

        loss = opt_a.step(closure)
        opt_b.zero_grad()
        expected = nn.functional.mse_loss(model_b(x), y)
        expected.backward()
        opt_b.step()
        assert loss.item() == expected.item()
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("foreach", [True, False])
def test_param_groups_behave_as_separate_optimizers(foreach: bool) -> None:
    params = make_params()
    parts = [clone_params(params[:2]), clone_params(params[2:])]
    opt = BAMSProd(
        [
            {"params": params[:2], "binary": True, "lr": 1e-2, "final_lr": 0.3},
            {"params": params[2:], "gamma": 1e-1},
        ],
        foreach=foreach,
    )
    opt_a = BAMSProd([{"params": parts[0], "binary": True}], lr=1e-2, final_lr=0.3, foreach=foreach)
    opt_b = BAMSProd(parts[1], gamma=1e-1, foreach=foreach)
    grads = grad_stream(SHAPES, 10)
    joint = run(opt, params, grads)
    split_a = run(opt_a, parts[0], [g[:2] for g in grads])
    split_b = run(opt_b, parts[1], [g[2:] for g in grads])
    assert_same_trajectory(
        joint, [a + b for a, b in zip(split_a, split_b, strict=True)], rtol=0.0, atol=0.0
    )


def test_params_without_grad_are_skipped_like_adam() -> None:
    a, b = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    before = b.detach().clone()
    opt = BAMSProd([a, b])
    a.grad = torch.ones(3)
    opt.step()
    assert torch.equal(b, before) and len(opt.state[b]) == 0
    assert opt.state[a]["step"] == 1


def test_lr_zero_leaves_params_unchanged() -> None:
    params = make_params()
    before = [p.detach().clone() for p in params]
    opt = BAMSProd([{"params": params, "binary": True}], lr=0.0)
    traj = run(opt, params, grad_stream(SHAPES, 2))
    assert all(torch.equal(x, y) for x, y in zip(traj[-1], before, strict=True))


def test_sparse_gradients_are_refused() -> None:
    emb = nn.Embedding(10, 3, sparse=True)
    opt = BAMSProd(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(BnnBenchError, match="sparse"):
        opt.step()


def test_complex_parameters_are_refused() -> None:
    with pytest.raises(BnnBenchError, match="^BAMSProd: complex parameters"):
        BAMSProd([torch.zeros(2, dtype=torch.complex64, requires_grad=True)])


@pytest.mark.parametrize("binary", [True, False])
def test_mixed_dtypes_foreach_equals_per_tensor(binary: bool) -> None:
    """float32 and float64 tensors in one group (one foreach bucket per dtype): the per-tensor
    path's numbers, dtypes kept, no scratch buffer in the state."""
    shapes = [(6, 10), (5, 4), (6,)]
    runs = []
    for foreach in (True, False):
        params = make_params(seed=7, shapes=shapes)
        params[1] = params[1].detach().double().requires_grad_()
        opt = BAMSProd([{"params": params, "binary": binary}], lr=5e-3, foreach=foreach)
        grads = [
            [g.to(p.dtype) for p, g in zip(params, step, strict=True)]
            for step in grad_stream(shapes, 20, seed=8)
        ]
        runs.append(run(opt, params, grads))
        assert [p.dtype for p in params] == [torch.float32, torch.float64, torch.float32]
        keys = {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"} | (
            {"error"} if binary else set()
        )
        assert all(set(st) == keys for st in opt.state_dict()["state"].values())
    assert_same_trajectory(runs[0], runs[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gamma": 0.0}, "gamma"),
        ({"lr": -1.0}, "lr"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"error": "l2"}, "xnor_l1"),
        ({"error_every": 0}, "error_every"),
        ({"bound": 3.0}, "bound"),
    ],
)
def test_bad_hyper_parameters_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(BnnBenchError, match=match):
        BAMSProd([torch.zeros(2, requires_grad=True)], **kwargs)


def test_eta_formula_documented_values() -> None:
    """Hand-worked: t=1, e=0.5, eta=0.1, gamma=1e-3 -> (0.1 (1 - 0.5/1.001), 0.1 (1 + 500))."""
    lower, upper = default_bound(1, 0.5, 0.1, 1e-3)
    assert lower == pytest.approx(0.1 * (1 - 0.5 / 1.001))
    assert upper == pytest.approx(50.1)
    assert math.isclose(default_bound(1, 1.0, 0.1, 1e-3)[1], 0.1 * 1001)
