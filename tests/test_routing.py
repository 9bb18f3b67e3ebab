"""Parameter routing: binary/real split, the CaseOptimizer composite, empty groups."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from benchmark.binary import BinaryLinear, binary_parameters
from benchmark.errors import BnnBenchError
from benchmark.optim import (
    BAMSProd,
    Bop,
    Bop2ndOrder,
    CaseOptimizer,
    ReportsDiagnostics,
    make_multipart_optimizer,
    make_optimizer,
    optimizer_diagnostics,
)
from benchmark.optim.base import (
    collect_groups,
    device_dtype_buckets,
    evaluate_closure,
    scratch_buffers,
)


def binary_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(8, 16),
        nn.BatchNorm1d(16),
        BinaryLinear(16, 16, input_estimator="ste"),
        nn.BatchNorm1d(16),
        BinaryLinear(16, 16, input_estimator="ste"),
        nn.BatchNorm1d(16),
        nn.Linear(16, 3),
    )


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(32, 8, generator=gen), torch.randint(0, 3, (32,), generator=gen)


def train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, seed: int = 1) -> list[float]:
    x, y = batch(seed)
    losses = []
    for _ in range(steps):

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss

        losses.append(float(opt.step(closure).detach()))
    return losses


def ids(params: list[torch.Tensor]) -> set[int]:
    return {id(p) for p in params}


def test_latent_optimizer_gets_two_flagged_groups_covering_the_model() -> None:
    model = binary_mlp()
    opt = make_optimizer("bamsprod", model)
    assert isinstance(opt, BAMSProd)
    binary_group, real_group = opt.param_groups
    assert binary_group["binary"] is True and real_group["binary"] is False
    assert ids(binary_group["params"]) == ids(binary_parameters(model))
    assert ids(binary_group["params"]).isdisjoint(ids(real_group["params"]))
    assert ids(binary_group["params"]) | ids(real_group["params"]) == ids(list(model.parameters()))


@pytest.mark.parametrize("name", ["bop", "bop2nd"])
def test_latent_free_optimizer_routes_real_tensors_to_the_companion(name: str) -> None:
    model = binary_mlp()
    opt = make_optimizer(name, model, fp_lr=3e-3)
    assert isinstance(opt, CaseOptimizer)
    assert isinstance(opt.binary_optimizer, Bop | Bop2ndOrder)
    assert isinstance(opt.real_optimizer, torch.optim.Adam)
    binary = [p for g in opt.binary_optimizer.param_groups for p in g["params"]]
    real = [p for g in opt.real_optimizer.param_groups for p in g["params"]]
    assert ids(binary) == ids(binary_parameters(model))
    assert ids(binary).isdisjoint(ids(real))
    assert ids(binary) | ids(real) == ids(list(model.parameters()))
    assert opt.real_optimizer.param_groups[0]["lr"] == 3e-3
    assert [g["binary"] for g in opt.param_groups] == [True, False]
    for p in binary:  # Bop holds +-1 directly
        assert set(p.detach().unique().tolist()) <= {-1.0, 1.0}


def test_companion_hyper_parameters_and_optimizer_are_configurable() -> None:
    opt = make_optimizer("bop", binary_mlp(), fp_optimizer="sgd", fp_lr=0.05, fp_momentum=0.5)
    assert isinstance(opt.real_optimizer, torch.optim.SGD)
    assert opt.real_optimizer.param_groups[0]["lr"] == 0.05
    assert opt.real_optimizer.param_groups[0]["momentum"] == 0.5
    with pytest.raises(BnnBenchError, match="fp_momentum"):
        make_optimizer("bop", binary_mlp(), fp_momentum=0.5)  # Adam has no momentum
    with pytest.raises(BnnBenchError, match="latent-weight"):
        make_optimizer("bop", binary_mlp(), fp_optimizer="bop2nd")


def test_composite_state_dict_round_trip_resumes_identically() -> None:
    model = binary_mlp()
    opt = make_optimizer("bop", model, threshold=1e-6, gamma=1e-2)
    train(model, opt, 5)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    continued = train(model, opt, 5, seed=2)

    resumed = binary_mlp(seed=9)
    resumed.load_state_dict(saved_model)
    resumed_opt = make_optimizer("bop", resumed)  # the defaults are replaced by the saved state
    resumed_opt.load_state_dict(saved_opt)
    assert resumed_opt.binary_optimizer.param_groups[0]["gamma"] == 1e-2
    assert train(resumed, resumed_opt, 5, seed=2) == continued
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_composite_load_state_dict_refuses_a_mismatched_layout() -> None:
    with_real = make_optimizer("bop", binary_mlp())
    only_binary = make_optimizer("bop", nn.Sequential(BinaryLinear(4, 4)))
    with pytest.raises(BnnBenchError, match="real part"):
        only_binary.load_state_dict(with_real.state_dict())


def test_model_without_binary_layers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 3))
    latent = make_optimizer("bamsprod", model)
    assert [g["binary"] for g in latent.param_groups] == [False]
    free = make_optimizer("bop", model)
    assert free.binary_optimizer is None and isinstance(free.real_optimizer, torch.optim.Adam)
    losses = train(model, free, 20)
    assert losses[-1] < losses[0]
    assert optimizer_diagnostics(free) == {}


def test_model_with_only_binary_layers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(BinaryLinear(8, 16), nn.Hardtanh(), BinaryLinear(16, 3))
    latent = make_optimizer("adam", model)
    assert [g["binary"] for g in latent.param_groups] == [True]
    free = make_optimizer("bop2nd", model)
    assert free.real_optimizer is None and isinstance(free.binary_optimizer, Bop2ndOrder)
    train(model, free, 3)
    assert set(optimizer_diagnostics(free)) == {"flips", "flip_fraction"}


def test_model_without_parameters_is_an_error() -> None:
    with pytest.raises(BnnBenchError, match="no trainable parameters"):
        make_optimizer("adam", nn.ReLU())


@pytest.mark.parametrize("name", ["adam", "bop"])
def test_unknown_hyper_parameter_names_optimizer_key_and_allowed(name: str) -> None:
    with pytest.raises(BnnBenchError) as info:
        make_optimizer(name, binary_mlp(), learning_rate=0.1)
    message = str(info.value)
    assert f"'{name}'" in message and "'learning_rate'" in message and "allowed:" in message
    assert ("lr" if name == "adam" else "threshold") in message


def test_constructor_value_errors_become_bnnbench_errors() -> None:
    with pytest.raises(BnnBenchError, match="sgd"):
        make_optimizer("sgd", binary_mlp(), nesterov=True, momentum=0.0)


def test_lr_scheduler_drives_the_composite() -> None:
    model = binary_mlp()
    opt = make_optimizer("bop", model)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    x, y = batch()
    for _ in range(4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    assert opt.real_optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)
    assert opt.binary_optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)  # gamma multiplier


def test_zero_grad_reaches_every_tensor() -> None:
    model = binary_mlp()
    opt = make_optimizer("bop", model)
    train(model, opt, 1)
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_add_param_group_is_routed_by_the_binary_flag() -> None:
    opt = make_optimizer("bop", binary_mlp())
    extra_real, extra_binary = (
        torch.randn(3, requires_grad=True),
        torch.randn(3, requires_grad=True),
    )
    opt.add_param_group({"params": [extra_real]})
    opt.add_param_group({"params": [extra_binary], "binary": True})
    assert len(opt.real_optimizer.param_groups) == 2 and len(opt.binary_optimizer.param_groups) == 2
    assert len(opt.param_groups) == 4
    assert set(extra_binary.detach().unique().tolist()) <= {-1.0, 1.0}


def test_diagnostics_through_every_kind() -> None:
    model = binary_mlp()
    for name, keys in (
        ("bamsprod", {"bamsprod_error", "bamsprod_lower", "bamsprod_upper"}),
        ("bop", {"flips", "flip_fraction"}),
        ("adam", set()),
    ):
        opt = make_optimizer(name, model)
        train(model, opt, 2)
        diag = optimizer_diagnostics(opt)
        assert set(diag) == keys
        assert all(isinstance(v, float) for v in diag.values())
    assert 0.0 <= diag.get("flip_fraction", 0.0) <= 1.0


def test_bamsprod_companion_reports_no_binary_diagnostics() -> None:
    """A BAMSProd companion only sees real tensors (binary=False): e = 1, no diagnostics."""
    model = binary_mlp()
    opt = make_optimizer("bop", model, fp_optimizer="bamsprod")
    assert isinstance(opt.real_optimizer, BAMSProd)
    assert all(g["binary"] is False for g in opt.real_optimizer.param_groups)
    train(model, opt, 2)
    assert set(optimizer_diagnostics(opt)) == {"flips", "flip_fraction"}


class ReportingSGD(torch.optim.SGD):
    """A plug-in that reports diagnostics by the protocol alone: a ``diagnostics()`` method."""

    def diagnostics(self) -> dict[str, float | torch.Tensor]:
        norm = torch.stack([p.detach().norm() for g in self.param_groups for p in g["params"]])
        return {"weight_norm": norm.norm(), "groups": len(self.param_groups)}


def test_diagnostics_protocol_reaches_any_optimizer_that_defines_it() -> None:
    """No registration: defining ``diagnostics()`` is enough, tensors come back as floats."""
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    opt = ReportingSGD([w], lr=0.1)
    assert isinstance(opt, ReportsDiagnostics)
    assert optimizer_diagnostics(opt) == {"weight_norm": 5.0, "groups": 1.0}
    assert all(type(v) is float for v in optimizer_diagnostics(opt).values())
    assert not isinstance(torch.optim.Adam([w]), ReportsDiagnostics)
    assert optimizer_diagnostics(torch.optim.Adam([w])) == {}


def test_optimizers_without_a_callable_diagnostics_report_nothing() -> None:
    class NotAMethod(torch.optim.SGD):
        diagnostics = {"stale": 1.0}

    assert optimizer_diagnostics(NotAMethod([torch.zeros(1, requires_grad=True)], lr=0.1)) == {}


@pytest.mark.parametrize("cls", [BAMSProd, Bop, Bop2ndOrder, CaseOptimizer])
def test_own_optimizers_follow_the_diagnostics_protocol(cls: type) -> None:
    assert issubclass(cls, ReportsDiagnostics)


def test_composite_merges_the_protocol_diagnostics_binary_first() -> None:
    """Through a CaseOptimizer: the union, a plug-in companion included; on a name clash the
    binary optimizer's value wins."""
    model = binary_mlp()
    binary = binary_parameters(model)
    real = [p for p in model.parameters() if id(p) not in ids(binary)]
    opt = CaseOptimizer(Bop([{"params": binary, "binary": True}]), ReportingSGD(real, lr=0.01))
    train(model, opt, 2)
    diag = optimizer_diagnostics(opt)
    assert list(diag) == ["flips", "flip_fraction", "weight_norm", "groups"]
    assert diag["groups"] == 1.0
    assert diag["weight_norm"] == pytest.approx(
        float(torch.stack([p.detach().norm() for p in real]).norm())
    )

    class Clash(ReportingSGD):
        def diagnostics(self) -> dict[str, float | torch.Tensor]:
            return {"flips": -1.0}

    clash = CaseOptimizer(Bop([{"params": binary, "binary": True}]), Clash(real, lr=0.01))
    train(model, clash, 1)
    assert optimizer_diagnostics(clash)["flips"] >= 0.0
    assert optimizer_diagnostics(CaseOptimizer(None, Clash(real, lr=0.01))) == {"flips": -1.0}


# ----------------------------------------------------------------------------- shared plumbing
def test_evaluate_closure_enables_gradients_inside_no_grad() -> None:
    w = torch.ones(2, requires_grad=True)

    def closure() -> torch.Tensor:
        assert torch.is_grad_enabled()
        return (2 * w).sum()

    with torch.no_grad():
        loss = evaluate_closure(closure)
        assert evaluate_closure(None) is None
    assert loss.requires_grad and loss.item() == 4.0


def test_device_dtype_buckets_split_by_dtype_in_order_of_first_appearance() -> None:
    params = [torch.zeros(1), torch.zeros(2, dtype=torch.float64), torch.zeros(3), torch.zeros(4)]
    params[3] = params[3].double()
    grads = [p + 1 for p in params]
    states = [{"i": i} for i in range(4)]
    buckets = list(device_dtype_buckets(params, grads, states))
    assert [[s["i"] for s in b[2]] for b in buckets] == [[0, 2], [1, 3]]
    for bucket_params, bucket_grads, _ in buckets:
        assert len({p.dtype for p in bucket_params}) == 1
        assert all(g.shape == p.shape for p, g in zip(bucket_params, bucket_grads, strict=True))


def test_collect_groups_skips_gradless_tensors_and_groups_and_inits_lazily() -> None:
    a, b, c = (torch.randn(n, requires_grad=True) for n in (2, 3, 4))
    opt = torch.optim.SGD([{"params": [a, b]}, {"params": [c]}], lr=0.1)
    a.grad = torch.ones(2)
    collected = list(collect_groups(opt, "Test", ("exp_avg", "exp_avg_sq")))
    assert len(collected) == 1  # the second group has no gradient at all
    group, params, grads, states = collected[0]
    assert group is opt.param_groups[0] and params == [a] and grads[0] is a.grad
    assert states[0] is opt.state[a] and len(opt.state[b]) == 0
    assert list(states[0]) == ["step", "exp_avg", "exp_avg_sq"] and states[0]["step"] == 1
    assert torch.equal(states[0]["exp_avg"], torch.zeros(2))
    list(collect_groups(opt, "Test", ("exp_avg", "exp_avg_sq")))
    assert opt.state[a]["step"] == 2


def test_scratch_buffers_are_reused_outside_the_state_and_remade_on_change() -> None:
    w = torch.zeros(2, 3, requires_grad=True)
    opt = Bop([w])
    w.grad = torch.ones(2, 3)
    opt.step()  # the foreach path made w's buffer
    (first,) = scratch_buffers(opt, [w])
    assert first.shape == w.shape and first.is_contiguous()
    assert scratch_buffers(opt, [w])[0] is first
    assert set(opt.state_dict()["state"][0]) == {"step", "exp_avg"}
    w.data = w.data.double()
    (remade,) = scratch_buffers(opt, [w])
    assert remade is not first and remade.dtype == torch.float64


# ----------------------------------------------------------------------------- several parts
def step_parts(
    models: list[nn.Module], opt: torch.optim.Optimizer, steps: int, seeds: list[int]
) -> None:
    """``steps`` steps of ``opt`` on the summed loss of ``models`` (model i on batch(seeds[i]))."""
    data = [batch(seed) for seed in seeds]
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(steps):
        opt.zero_grad()
        sum(
            nn.functional.cross_entropy(m(x), y) for m, (x, y) in zip(models, data, strict=True)
        ).backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize(
    ("name", "a", "b", "groups"),
    [
        # binary and real groups coalesce (Adam ignores the flag): one group per part
        ("adam", {"beta2": 0.1}, {"beta2": 0.01, "lr": 0.01}, [None, None]),
        ("amsbound", {"lr": 0.01}, {"lr": 0.003, "final_lr": 0.05}, [None, None]),
        ("sgd", {"momentum": 0.0}, {"momentum": 0.0}, [None]),  # equal options: one group
        # BAMSProd reads the flag: a binary and a real group per part
        ("bamsprod", {"gamma": 0.1}, {"lr": 0.01, "error_every": 2}, [True, False, True, False]),
        ("bamsprod", {}, {}, [True, False]),
    ],
)
def test_multipart_optimizer_steps_each_part_like_its_own_optimizer(
    name: str, a: dict, b: dict, groups: list
) -> None:
    """One object over two models with their own hyper-parameters gives each model exactly the
    trajectory of its own make_optimizer object (an LR scheduler driving both), with groups of
    equal options coalesced."""
    merged_models = [binary_mlp(0), binary_mlp(1)]
    alone_models = copy.deepcopy(merged_models)
    merged = make_multipart_optimizer(name, list(zip(merged_models, [a, b], strict=True)))
    assert [g["binary"] for g in merged.param_groups] == groups
    n_params = sum(len(list(m.parameters())) for m in merged_models)
    assert sum(len(g["params"]) for g in merged.param_groups) == n_params
    step_parts(merged_models, merged, 7, seeds=[1, 2])
    for model, hparams, seed in zip(alone_models, [a, b], [1, 2], strict=True):
        step_parts([model], make_optimizer(name, model, **hparams), 7, seeds=[seed])
    for got, want in zip(merged_models, alone_models, strict=True):
        for p, q in zip(got.parameters(), want.parameters(), strict=True):
            assert torch.equal(p, q)


def test_multipart_optimizer_refuses_what_one_object_cannot_hold() -> None:
    parts = [(binary_mlp(0), {"error": "sign_l1"}), (binary_mlp(1), {"error": "none"})]
    with pytest.raises(BnnBenchError, match="'error' configures the optimizer object"):
        make_multipart_optimizer("bamsprod", parts)
    with pytest.raises(BnnBenchError, match="only registered latent-weight optimizers"):
        make_multipart_optimizer("bop", [(binary_mlp(0), {}), (binary_mlp(1), {})])
    with pytest.raises(BnnBenchError, match="only registered latent-weight optimizers"):
        make_multipart_optimizer("torch.optim:Adam", [(binary_mlp(0), {}), (binary_mlp(1), {})])
    with pytest.raises(BnnBenchError, match="no parts"):
        make_multipart_optimizer("adam", [])
    model = binary_mlp(0)
    with pytest.raises(BnnBenchError, match="more than one parameter group"):
        make_multipart_optimizer("adam", [(model, {}), (model, {"lr": 0.1})])
    single = make_multipart_optimizer("bop", [(binary_mlp(0), {"gamma": 1e-3})])
    assert isinstance(single, CaseOptimizer)  # one part of a latent-free optimizer: as is
