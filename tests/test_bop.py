"""Bop and Bop2ndOrder against hand-worked gradient sequences and closed forms.

The hand-built sequences use dyadic numbers (exact in float32), so every flip decision,
including the strict ``>`` at the threshold, is checked exactly.
"""

from __future__ import annotations

import copy

import pytest
import torch

from benchmark.errors import BnnBenchError
from benchmark.optim import Bop, Bop2ndOrder

T = torch.tensor


def step_with(opt: torch.optim.Optimizer, w: torch.Tensor, g: list[float]) -> None:
    w.grad = T(g)
    opt.step()


@pytest.mark.parametrize("foreach", [True, False])
def test_bop_binarizes_when_it_takes_the_weights(foreach: bool) -> None:
    w = T([0.3, -2.0, 0.0, -0.1, 5.0, 1.0], requires_grad=True)
    Bop([w], foreach=foreach)
    assert w.tolist() == [1.0, -1.0, 1.0, -1.0, 1.0, 1.0]  # sign(0) = +1


@pytest.mark.parametrize("foreach", [True, False])
def test_bop_hand_worked_sequence(foreach: bool) -> None:
    """gamma = 0.5, tau = 0.125; flips exactly where w * m > tau (0.125 itself does not flip)."""
    w = T([0.3, -2.0, 0.0, -0.1, 5.0, 1.0], requires_grad=True)
    opt = Bop([w], threshold=0.125, gamma=0.5, foreach=foreach)

    step_with(opt, w, [0.5, 0.5, -0.5, 0.25, 0.25, 0.25])
    # m = [.25, .25, -.25, .125, .125, .125]; w*m = [.25, -.25, -.25, -.125, .125, .125]
    assert opt.state[w]["exp_avg"].tolist() == [0.25, 0.25, -0.25, 0.125, 0.125, 0.125]
    assert w.tolist() == [-1.0, -1.0, 1.0, -1.0, 1.0, 1.0]
    assert opt.diagnostics() == {"flips": 1.0, "flip_fraction": 1 / 6}

    step_with(opt, w, [0.5, -1.0, -1.0, -0.5, 0.25, -0.25])
    # m = [.375, -.375, -.625, -.1875, .1875, -.0625]; w*m = [-.375, .375, -.625, .1875, .1875, -.0625]
    assert opt.state[w]["exp_avg"].tolist() == [0.375, -0.375, -0.625, -0.1875, 0.1875, -0.0625]
    assert w.tolist() == [-1.0, 1.0, 1.0, 1.0, -1.0, 1.0]
    assert opt.last_flips == 3

    step_with(opt, w, [0.0] * 6)  # m halves; every w*m <= 0.125 now
    assert w.tolist() == [-1.0, 1.0, 1.0, 1.0, -1.0, 1.0]
    assert opt.diagnostics()["flips"] == 0.0


@pytest.mark.parametrize("foreach", [True, False])
def test_bop_moving_average_matches_closed_form(foreach: bool) -> None:
    """m_k = sum_i gamma (1 - gamma)^(k - i) g_i."""
    gamma, k = 0.05, 25
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(7, 3, generator=gen).requires_grad_()
    opt = Bop([w], gamma=gamma, threshold=1e9, foreach=foreach)  # no flips: m only
    grads = [torch.randn(7, 3, generator=gen) for _ in range(k)]
    for g in grads:
        w.grad = g
        opt.step()
    closed = sum(gamma * (1 - gamma) ** (k - i) * g.double() for i, g in enumerate(grads, start=1))
    torch.testing.assert_close(opt.state[w]["exp_avg"].double(), closed, rtol=1e-5, atol=1e-7)


def reference_bop(
    w0: torch.Tensor, grads: list[torch.Tensor], gamma: float, tau: float
) -> list[torch.Tensor]:
    """Bop written from the paper in float64, one element at a time."""
    w = [1.0 if x >= 0 else -1.0 for x in w0.flatten().tolist()]
    m = [0.0] * len(w)
    out = []
    for g in grads:
        for i, gi in enumerate(g.flatten().tolist()):
            m[i] = (1 - gamma) * m[i] + gamma * gi
            if w[i] * m[i] > tau:
                w[i] = -w[i]
        out.append(T(w).reshape(w0.shape))
    return out


@pytest.mark.parametrize("foreach", [True, False])
def test_bop_matches_elementwise_reference_and_stays_binary(foreach: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    w0 = torch.randn(5, 4, generator=gen)
    grads = [torch.randn(5, 4, generator=gen) for _ in range(40)]
    w = w0.clone().requires_grad_()
    opt = Bop([w], gamma=0.1, threshold=0.05, foreach=foreach)
    expected = reference_bop(w0, grads, 0.1, 0.05)
    total_flips = 0
    for g, want in zip(grads, expected, strict=True):
        before = w.detach().clone()
        w.grad = g
        opt.step()
        assert set(w.unique().tolist()) <= {-1.0, 1.0}
        assert torch.equal(w.detach(), want)
        assert opt.last_flips == int((before != w).sum())
        total_flips += opt.last_flips
    assert total_flips > 0


def flip_run(
    cls: type, init: list[torch.Tensor], grads: list[list[torch.Tensor]], **kwargs: object
) -> tuple[list[torch.Tensor], list[int], torch.optim.Optimizer]:
    """Weights from ``init`` through the gradient stream: final weights, flips per step, opt."""
    ws = [x.clone().requires_grad_() for x in init]
    opt = cls(ws, **kwargs)
    flips = []
    for gs in grads:
        for w, g in zip(ws, gs, strict=True):
            w.grad = g
        opt.step()
        flips.append(opt.last_flips)
    return [w.detach() for w in ws], flips, opt


def test_bop_foreach_equals_per_tensor() -> None:
    gen = torch.Generator().manual_seed(2)
    shapes = [(8, 3, 3, 3), (6, 10), (4,)]
    init = [torch.randn(s, generator=gen) for s in shapes]
    grads = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(30)]
    finals = []
    for cls, kwargs in (
        (Bop, {"gamma": 0.1, "threshold": 0.02}),
        (Bop2ndOrder, {"gamma": 0.1, "threshold": 0.3}),
    ):
        for foreach in (True, False):
            ws, flips, _ = flip_run(cls, init, grads, foreach=foreach, **kwargs)
            finals.append((ws, flips))
    for a, b in (finals[0:2], finals[2:4]):
        assert a[1] == b[1]
        assert all(torch.equal(x, y) for x, y in zip(a[0], b[0], strict=True))


def test_bop_lr_multiplies_gamma_for_schedulers() -> None:
    w1, w2 = T([1.0, -1.0], requires_grad=True), T([1.0, -1.0], requires_grad=True)
    opt1, opt2 = Bop([w1], gamma=0.5, threshold=1e9), Bop([w2], gamma=0.25, threshold=1e9)
    opt1.param_groups[0]["lr"] = 0.5
    for opt, w in ((opt1, w1), (opt2, w2)):
        step_with(opt, w, [1.0, 2.0])
    assert torch.equal(opt1.state[w1]["exp_avg"], opt2.state[w2]["exp_avg"])
    sched = torch.optim.lr_scheduler.StepLR(opt1, step_size=1, gamma=0.5)
    step_with(opt1, w1, [0.0, 0.0])  # m <- (1 - 0.25) m
    sched.step()
    assert opt1.param_groups[0]["lr"] == 0.25
    step_with(opt1, w1, [0.0, 0.0])  # m <- (1 - 0.125) m
    torch.testing.assert_close(opt1.state[w1]["exp_avg"], T([0.25, 0.5]) * 0.75 * 0.875)


# ---------------------------------------------------------------------- Bop2ndOrder


@pytest.mark.parametrize("foreach", [True, False])
def test_bop2nd_hand_worked_sequence(foreach: bool) -> None:
    """gamma = sigma = 0.5, tau = 0.5: flips where w m / (sqrt(v) + 1e-10) > 0.5."""
    w = T([1.0, 1.0, -1.0, -1.0], requires_grad=True)
    opt = Bop2ndOrder([w], threshold=0.5, gamma=0.5, sigma=0.5, foreach=foreach)

    step_with(opt, w, [1.0, -1.0, -1.0, 0.5])
    # m = [.5, -.5, -.5, .25], v = [.5, .5, .5, .125]; ratio = [.707, -.707, .707, -.707]
    assert opt.state[w]["exp_avg_sq"].tolist() == [0.5, 0.5, 0.5, 0.125]
    assert w.tolist() == [-1.0, 1.0, 1.0, -1.0]
    assert opt.last_flips == 2

    step_with(opt, w, [1.0, 1.0, 1.0, 1.0])
    # m = [.75, .25, .25, .625], v = [.75, .75, .75, .5625]; ratio = [-.866, .289, .289, -.833]
    assert w.tolist() == [-1.0, 1.0, 1.0, -1.0]
    assert opt.last_flips == 0

    step_with(opt, w, [0.0, 3.0, 0.0, -2.0])
    # m = [.375, 1.625, .125, -.6875], v = [.375, 4.875, .375, 2.28125]
    # ratio = [-.612, .736, .204, .455]
    assert opt.state[w]["exp_avg"].tolist() == [0.375, 1.625, 0.125, -0.6875]
    assert opt.state[w]["exp_avg_sq"].tolist() == [0.375, 4.875, 0.375, 2.28125]
    assert w.tolist() == [-1.0, -1.0, 1.0, -1.0]
    assert opt.diagnostics() == {"flips": 1.0, "flip_fraction": 0.25}


@pytest.mark.parametrize("foreach", [True, False])
def test_bop2nd_bias_correction_hand_worked(foreach: bool) -> None:
    """gamma = sigma = 0.25, t = 1: ratio 0.5 without correction, 1.0 with it; tau = 0.75."""
    flipped = []
    for correct in (False, True):
        w = T([1.0, -1.0], requires_grad=True)
        opt = Bop2ndOrder(
            [w], threshold=0.75, gamma=0.25, sigma=0.25, bias_correction=correct, foreach=foreach
        )
        step_with(opt, w, [2.0, 2.0])
        flipped.append(w.tolist())
    assert flipped == [[1.0, -1.0], [-1.0, -1.0]]


def reference_bop2nd(
    w0: torch.Tensor,
    grads: list[torch.Tensor],
    gamma: float,
    sigma: float,
    tau: float,
    correct: bool,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Closed forms in float64: m_t, v_t as weighted sums, bias-corrected if asked; returns
    the weights after each step and the margins |ratio - tau| of each decision."""
    w = torch.where(w0 >= 0, 1.0, -1.0).double()
    ws, margins = [], []
    for t in range(1, len(grads) + 1):
        m = sum(gamma * (1 - gamma) ** (t - i) * grads[i - 1].double() for i in range(1, t + 1))
        v = sum(
            sigma * (1 - sigma) ** (t - i) * grads[i - 1].double() ** 2 for i in range(1, t + 1)
        )
        if correct:
            m, v = m / (1 - (1 - gamma) ** t), v / (1 - (1 - sigma) ** t)
        ratio = w * m / (v.sqrt() + 1e-10)
        margins.append((ratio - tau).abs())
        w = torch.where(ratio > tau, -w, w)
        ws.append(w.clone())
    return ws, margins


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("correct", [False, True])
def test_bop2nd_matches_closed_form(foreach: bool, correct: bool) -> None:
    gen = torch.Generator().manual_seed(4)
    w0 = torch.randn(6, 5, generator=gen)
    grads = [torch.randn(6, 5, generator=gen) for _ in range(20)]
    gamma, sigma, tau = 0.05, 0.1, 0.3
    expected, margins = reference_bop2nd(w0, grads, gamma, sigma, tau, correct)
    assert min(float(m.min()) for m in margins) > 1e-5  # no decision sits on the threshold
    w = w0.clone().requires_grad_()
    opt = Bop2ndOrder(
        [w], threshold=tau, gamma=gamma, sigma=sigma, bias_correction=correct, foreach=foreach
    )
    flips = 0
    for g, want in zip(grads, expected, strict=True):
        w.grad = g
        opt.step()
        flips += opt.last_flips
        assert torch.equal(w.detach().double(), want)
    assert flips > 0
    v_closed = sum(
        sigma * (1 - sigma) ** (20 - i) * grads[i - 1].double() ** 2 for i in range(1, 21)
    )
    torch.testing.assert_close(opt.state[w]["exp_avg_sq"].double(), v_closed, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("foreach", [True, False])
def test_bop2nd_zero_threshold_flips_where_signs_agree(foreach: bool) -> None:
    w = T([1.0, 1.0, -1.0, -1.0], requires_grad=True)
    opt = Bop2ndOrder([w], threshold=0.0, gamma=0.5, foreach=foreach)
    step_with(opt, w, [1e-3, -1e-3, 0.0, -2.0])
    assert w.tolist() == [-1.0, 1.0, -1.0, 1.0]


# ---------------------------------------------------------------------- Optimizer surface


@pytest.mark.parametrize("cls", [Bop, Bop2ndOrder])
def test_state_dict_round_trip_resumes_exactly(cls: type) -> None:
    gen = torch.Generator().manual_seed(5)
    grads = [torch.randn(4, 6, generator=gen) for _ in range(20)]
    w = torch.randn(4, 6, generator=gen).requires_grad_()
    opt = cls([w], threshold=1e-3, gamma=0.1)
    for g in grads[:10]:
        w.grad = g
        opt.step()
    saved_w, saved = w.detach().clone(), copy.deepcopy(opt.state_dict())
    for g in grads[10:]:
        w.grad = g
        opt.step()
    w2 = saved_w.clone().requires_grad_()
    opt2 = cls([w2])
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["gamma"] == 0.1
    for g in grads[10:]:
        w2.grad = g
        opt2.step()
    assert torch.equal(w, w2)


@pytest.mark.parametrize("cls", [Bop, Bop2ndOrder])
def test_sparse_gradients_are_refused(cls: type) -> None:
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = cls(emb.parameters())
    emb(T([1])).sum().backward()
    with pytest.raises(BnnBenchError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("cls", [Bop, Bop2ndOrder])
def test_sparse_gradient_message_says_what_to_do(cls: type) -> None:
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = cls(emb.parameters())
    emb(T([1])).sum().backward()
    with pytest.raises(BnnBenchError, match=rf"^{cls.__name__} does not .*dense gradients"):
        opt.step()


@pytest.mark.parametrize("cls", [Bop, Bop2ndOrder])
def test_complex_parameters_are_refused(cls: type) -> None:
    with pytest.raises(BnnBenchError, match=rf"^{cls.__name__}: complex parameters"):
        cls([torch.zeros(2, dtype=torch.complex64, requires_grad=True)])


@pytest.mark.parametrize("cls", [Bop, Bop2ndOrder])
def test_mixed_dtypes_foreach_equals_per_tensor(cls: type) -> None:
    """One group of float32 and float64 tensors: the foreach path runs one bucket per dtype
    and gives the per-tensor path's flips; dtypes and the documented state are kept."""
    gen = torch.Generator().manual_seed(3)
    init = [torch.randn(5, 4, generator=gen), torch.randn(7, generator=gen).double()]
    init.append(torch.randn(3, 2, generator=gen))
    grads = [[torch.randn(x.shape, generator=gen, dtype=x.dtype) for x in init] for _ in range(25)]
    finals = []
    for foreach in (True, False):
        ws, flips, opt = flip_run(cls, init, grads, threshold=1e-3, gamma=0.2, foreach=foreach)
        assert [w.dtype for w in ws] == [x.dtype for x in init]
        moments = {"exp_avg"} if cls is Bop else {"exp_avg", "exp_avg_sq"}
        assert all(set(st) == {"step", *moments} for st in opt.state_dict()["state"].values())
        finals.append((ws, flips))
    assert sum(finals[0][1]) > 0 and finals[0][1] == finals[1][1]
    assert all(torch.equal(a, b) for a, b in zip(finals[0][0], finals[1][0], strict=True))


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (Bop, {"gamma": 0.0}, "gamma"),
        (Bop, {"threshold": -1.0}, "threshold"),
        (Bop2ndOrder, {"sigma": 1.5}, "sigma"),
        (Bop2ndOrder, {"eps": 0.0}, "eps"),
    ],
)
def test_bad_hyper_parameters_raise(cls: type, kwargs: dict, match: str) -> None:
    with pytest.raises(BnnBenchError, match=match):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)


def test_closure_loss_is_returned() -> None:
    w = torch.ones(3, requires_grad=True)
    opt = Bop([w])

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (w * T([1.0, 2.0, 3.0])).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 6.0
    assert torch.equal(w.grad, T([1.0, 2.0, 3.0]))
