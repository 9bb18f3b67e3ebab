"""The optimizer registry: the table, plug-ins, hyper-parameter and search-space validation,
and that every registered optimizer trains a small binary MLP at its defaults."""

from __future__ import annotations

import pytest
import torch
from pytorch_optimizer import AdaBound
from torch import nn

from benchmark.binary import BinaryLinear
from benchmark.errors import BnnBenchError
from benchmark.optim import (
    OPTIMIZERS,
    OptimizerSpec,
    get_optimizer_spec,
    is_latent_free,
    make_optimizer,
    validate_hparams,
    validate_search_space,
)

REQUIRED = {
    "bamsprod",
    "bop",
    "bop2nd",
    "adam",
    "amsgrad",
    "adamw",
    "sgd",
    "adabound",
    "amsbound",
    "radam",
}


def binary_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(10, 32),
        nn.BatchNorm1d(32),
        nn.Hardtanh(),
        BinaryLinear(32, 32, input_estimator="ste"),
        nn.BatchNorm1d(32),
        nn.Hardtanh(),
        BinaryLinear(32, 32, input_estimator="ste"),
        nn.BatchNorm1d(32),
        nn.Linear(32, 4),
    )


def test_the_table_holds_the_required_optimizers() -> None:
    assert set(OPTIMIZERS) >= REQUIRED
    for name, spec in OPTIMIZERS.items():
        assert isinstance(spec, OptimizerSpec) and spec.name == name
        assert spec.kind in ("latent", "latent-free")
        assert spec.description and "\n" not in spec.description
        assert callable(spec.factory)
    assert {n for n in OPTIMIZERS if is_latent_free(n)} == {"bop", "bop2nd"}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_defaults_and_default_search_space_are_valid(name: str) -> None:
    spec = OPTIMIZERS[name]
    validate_hparams(name, dict(spec.defaults))
    validate_search_space(name, spec.search_space)
    assert spec.search_space, "every built-in optimizer comes with a search space"
    for key in ("lr", "final_lr", "threshold", "gamma", "sigma", "fp_lr"):
        if key in spec.search_space:  # step sizes and rates are log-uniform
            assert spec.search_space[key]["log"] is True


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss_of_a_binary_mlp_at_its_defaults(name: str) -> None:
    model = binary_mlp()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 10, generator=gen), torch.randint(0, 4, (64,), generator=gen)
    opt = make_optimizer(name, model)
    with torch.no_grad():
        start = nn.functional.cross_entropy(model(x), y).item()  # after Bop's binarization
    for _ in range(100):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        end = nn.functional.cross_entropy(model(x), y).item()
    assert end < 0.9 * start, f"{name}: loss {start:.3f} -> {end:.3f}"


def test_registry_entries_are_built_with_keywords_only() -> None:
    spec = OPTIMIZERS["sgd"]
    fields = (spec.name, spec.kind, spec.defaults, spec.search_space, spec.description)
    with pytest.raises(TypeError):
        OptimizerSpec(*fields, spec.factory)  # type: ignore[misc]
    rebuilt = OptimizerSpec(
        name=spec.name,
        kind=spec.kind,
        defaults=spec.defaults,
        search_space=spec.search_space,
        description=spec.description,
        factory=spec.factory,
        checks=spec.checks,
        elementwise=spec.elementwise,
        implementation=spec.implementation,
    )
    assert rebuilt == spec


def test_adabound_family_uses_coupled_weight_decay_as_in_the_paper() -> None:
    for name, ams in (("adabound", False), ("amsbound", True)):
        opt = make_optimizer(name, binary_mlp(), weight_decay=1e-4)
        assert isinstance(opt, AdaBound)
        group = opt.param_groups[0]
        assert group["weight_decouple"] is False and group["ams_bound"] is ams
        assert group["weight_decay"] == 1e-4


def test_flat_betas_reach_the_optimizer() -> None:
    opt = make_optimizer("adam", binary_mlp(), beta1=0.8, beta2=0.99)
    assert opt.param_groups[0]["betas"] == (0.8, 0.99)
    assert make_optimizer("amsgrad", binary_mlp()).param_groups[0]["amsgrad"] is True
    sgd = make_optimizer("sgd", binary_mlp(), nesterov=True)
    assert sgd.param_groups[0]["nesterov"] is True and sgd.param_groups[0]["momentum"] == 0.9


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(BnnBenchError) as info:
        get_optimizer_spec("bamprod", where="suite.yaml: optimizers[0]")
    message = str(info.value)
    assert message.startswith("suite.yaml: optimizers[0]: unknown optimizer 'bamprod'")
    assert "did you mean 'bamsprod'" in message
    assert all(name in message for name in REQUIRED)
    assert "package.module:Class" in message


def test_plugin_is_a_latent_optimizer_without_defaults() -> None:
    spec = get_optimizer_spec("torch.optim:Adagrad")
    assert spec.kind == "latent" and spec.defaults == {} and spec.search_space == {}
    assert not is_latent_free("torch.optim:Adagrad")
    opt = make_optimizer("torch.optim:Adagrad", binary_mlp(), lr=0.1, lr_decay=0.0)
    assert isinstance(opt, torch.optim.Adagrad)
    assert [g["binary"] for g in opt.param_groups] == [True, False]
    assert opt.param_groups[0]["lr"] == 0.1
    with pytest.raises(BnnBenchError, match="'momentum'.*allowed: .*lr_decay"):
        validate_hparams("torch.optim:Adagrad", {"momentum": 0.9})
    validate_search_space("torch.optim:Adagrad", {"lr": {"low": 1e-3, "high": 1.0, "log": True}})


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("torch.optim:NoSuchOptimizer", "cannot import"),
        ("no_such_package.mod:Thing", "cannot import"),
        ("collections:OrderedDict", "not a torch.optim.Optimizer"),
    ],
)
def test_bad_plugins_are_reported(name: str, match: str) -> None:
    with pytest.raises(BnnBenchError, match=match):
        get_optimizer_spec(name)


@pytest.mark.parametrize(
    ("name", "hparams", "match"),
    [
        ("adam", {"momentum": 0.9}, "optimizer 'adam' does not accept hyper-parameter 'momentum'"),
        ("adam", {"beta1": 1.0}, "beta1=1.0 must be < 1.0"),
        ("adam", {"lr": "fast"}, "must be a number"),
        ("sgd", {"nesterov": 1}, "nesterov=1 must be true or false"),
        ("bamsprod", {"error": "l2"}, "xnor_l1"),
        ("bamsprod", {"error_every": 2.5}, "integer"),
        ("bop", {"gamma": 0.0}, "gamma=0.0 must be > 0"),
        ("bop", {"fp_optimizer": "nope"}, "unknown optimizer 'nope'"),
        ("bop", {"fp_lr": -1.0}, "fp_lr=-1.0 must be >= 0"),
        ("bop2nd", {"bias_correction": "yes"}, "true or false"),
    ],
)
def test_validate_hparams_names_the_problem(name: str, hparams: dict, match: str) -> None:
    with pytest.raises(BnnBenchError, match=match):
        validate_hparams(name, hparams, where="suite.yaml")


def test_validate_hparams_accepts_callables_for_bamsprod() -> None:
    validate_hparams("bamsprod", {"error": lambda p: 0.5, "bound": lambda t, e, eta, g: (eta, eta)})


@pytest.mark.parametrize(
    ("name", "space", "match"),
    [
        (
            "adam",
            {"momentum": {"low": 0.1, "high": 0.9}},
            "does not accept hyper-parameter 'momentum'",
        ),
        ("adam", {"lr": {"low": 1e-2, "high": 1e-3, "log": True}}, "must be < high"),
        ("adam", {"lr": {"low": 0.0, "high": 1e-1, "log": True}}, "needs low > 0"),
        ("adam", {"lr": {"low": 1e-4}}, "must have low and high"),
        ("adam", {"lr": {"low": 1e-4, "high": 1e-1, "step": 2}}, "must have low and high"),
        ("adam", {"lr": 1e-3}, "must be"),
        ("adam", {"lr": {"low": 1, "high": 10, "int": True}}, "is a float"),
        ("adam", {"beta1": {"low": 0.5, "high": 1.5}}, "beta1=1.5"),
        ("adam", {"lr": {"choices": []}}, "empty"),
        ("sgd", {"nesterov": {"low": 0.0, "high": 1.0}}, "not numeric"),
        ("bamsprod", {"error_every": {"low": 1.0, "high": 5.0}}, "add int: true"),
        ("bamsprod", {"error": {"choices": ["xnor_l1", "l2"]}}, "error='l2'"),
        ("bop", {"fp_momentum": {"low": 0.1, "high": 0.9}}, "fp_momentum"),
        (
            "bop",
            {
                "fp_optimizer": {"choices": ["adam", "sgd"]},
                "fp_momentum": {"low": 0.1, "high": 0.9},
            },
            "fp_momentum",
        ),
    ],
)
def test_validate_search_space_rejects(name: str, space: dict, match: str) -> None:
    with pytest.raises(BnnBenchError, match=match):
        validate_search_space(name, space, where="suite.yaml")


def test_validate_search_space_accepts_all_forms() -> None:
    validate_search_space(
        "bamsprod",
        {
            "lr": {"low": 1e-5, "high": 1e-1, "log": True},
            "beta1": {"low": 0.8, "high": 0.99},
            "error_every": {"low": 1, "high": 8, "int": True},
            "error": {"choices": ["xnor_l1", "sign_l1", "none"]},
        },
    )
    validate_search_space(
        "bop",
        {
            "fp_optimizer": {"choices": ["adam", "amsbound"]},
            "fp_lr": {"low": 1e-4, "high": 1e-1, "log": True},
        },
    )
    # with a fixed companion, its own keys become tunable
    validate_search_space(
        "bop", {"fp_momentum": {"low": 0.1, "high": 0.9}}, fixed={"fp_optimizer": "sgd"}
    )
