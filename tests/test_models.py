"""Models: output shapes, registered binary layers (hand-counted), twins, training, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.binary import BinaryLayer, Sign, binary_parameters
from benchmark.data import load_dataset
from benchmark.errors import BnnBenchError
from benchmark.models import MODELS, build_model, count_parameters, describe_models
from benchmark.models.bireal import BiRealUnit

SMALL = {
    "mlp": {"hidden": [32, 16]},
    "binarynet": {"width": 1 / 16},
    "cnn1d": {"channels": [8, 16, 16]},
    "cnn2d": {"channels": [4, 8, 8]},
    "bireal_resnet18": {"width": 1 / 16},
}
SHAPES = [
    ("mlp", (64,)),
    ("mlp", (1, 8, 8)),
    ("mlp", (3, 32, 32)),
    ("binarynet", (3, 32, 32)),
    ("binarynet", (1, 28, 28)),
    ("binarynet", (1, 8, 8)),
    ("cnn1d", (40,)),
    ("cnn1d", (1, 40)),
    ("cnn1d", (3, 17)),
    ("cnn2d", (1, 28, 28)),
    ("cnn2d", (3, 8, 8)),
    ("cnn2d", (2, 5, 9)),
    ("bireal_resnet18", (3, 32, 32)),
    ("bireal_resnet18", (1, 28, 28)),
    ("bireal_resnet18", (1, 8, 8)),
]


def _binary_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, BinaryLayer)]


def test_registry_names_and_fields():
    assert set(MODELS) == {"mlp", "binarynet", "cnn1d", "cnn2d", "bireal_resnet18"}
    for name, spec in MODELS.items():
        assert spec.name == name
        assert spec.description and spec.accepts
        assert callable(spec.factory)


@pytest.mark.parametrize(("name", "shape"), SHAPES)
@pytest.mark.parametrize("binary", [True, False])
def test_output_shape(name, shape, binary):
    torch.manual_seed(0)
    model = build_model(name, shape, 7, binary=binary, **SMALL[name])
    out = model(torch.randn(5, *shape))
    assert out.shape == (5, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "shape"), SHAPES)
def test_twin_has_same_architecture_and_no_binary_layer(name, shape):
    binary = build_model(name, shape, 10, **SMALL[name])
    twin = build_model(name, shape, 10, binary=False, **SMALL[name])
    assert _binary_modules(binary) and binary_parameters(binary)
    assert _binary_modules(twin) == [] and binary_parameters(twin) == []
    assert not any(isinstance(m, Sign) for m in twin.modules())
    assert count_parameters(twin)["binary"] == 0
    assert count_parameters(twin)["total"] == count_parameters(binary)["total"]
    shapes_b = [p.shape for p in binary.parameters()]
    shapes_t = [p.shape for p in twin.parameters()]
    assert shapes_b == shapes_t


def test_mlp_parameter_counts_by_hand():
    model = build_model("mlp", (64,), 10, hidden=[32, 16, 8])
    # binary: 32->16 and 16->8 hidden layers (no bias)
    binary = 32 * 16 + 16 * 8
    # real: first layer 64->32 (no bias), BN(32), BN(16), BN(8), classifier 8->10 with bias
    real = 64 * 32 + 2 * 32 + 2 * 16 + 2 * 8 + (8 * 10 + 10)
    assert count_parameters(model) == {"binary": binary, "real": real, "total": binary + real}
    assert [tuple(p.shape) for p in binary_parameters(model)] == [(16, 32), (8, 16)]
    first, last = model.features[1], model.classifier
    assert type(first) is nn.Linear and type(last) is nn.Linear


def test_mlp_default_widths():
    model = build_model("mlp", (64,), 10)
    assert [tuple(p.shape) for p in binary_parameters(model)] == [(256, 256)]


def test_binarynet_parameter_counts_by_hand():
    # width 1/16: convs 8-8-M-16-16-M-32-32-M, dense 64-64-classes; 8x8 input -> 1x1 after pools
    model = build_model("binarynet", (1, 8, 8), 10, width=1 / 16)
    convs = [(1, 8), (8, 8), (8, 16), (16, 16), (16, 32), (32, 32)]
    dense = [(32 * 1 * 1, 64), (64, 64), (64, 10)]
    binary = sum(9 * a * b for a, b in convs) + sum(a * b for a, b in dense)
    real = 2 * (8 + 8 + 16 + 16 + 32 + 32) + 2 * (64 + 64 + 10)
    assert count_parameters(model) == {"binary": binary, "real": real, "total": binary + real}
    assert len(_binary_modules(model)) == 9  # all weights binary, as in BinaryNet


def test_binarynet_flatten_adapts_to_input():
    # 32x32 -> 4x4 and 28x28 -> 3x3 after three 2x2 pools: the first dense layer's fan-in
    for side, spatial in ((32, 16), (28, 9)):
        model = build_model("binarynet", (3, side, side), 10, width=1 / 16)
        first_dense = [m for m in model.classifier if isinstance(m, nn.Linear)][0]
        assert first_dense.in_features == 32 * spatial


def test_cnn1d_parameter_counts_by_hand():
    model = build_model("cnn1d", (40,), 10, channels=[4, 8, 8])
    binary = 4 * 8 * 3 + 8 * 8 * 3  # two binary convs, kernel 3
    # first conv 1->4 kernel 5, BN(4), BN(8), BN(8), classifier 8 * (40/4) -> 10 with bias
    real = 1 * 4 * 5 + 2 * 4 + 2 * 8 + 2 * 8 + (8 * 10 * 10 + 10)
    assert count_parameters(model) == {"binary": binary, "real": real, "total": binary + real}
    assert all(m.__class__.__name__ == "BinaryConv1d" for m in _binary_modules(model))


def test_cnn2d_parameter_counts_by_hand():
    model = build_model("cnn2d", (1, 28, 28), 10, channels=[4, 8, 16])
    binary = 9 * (4 * 8 + 8 * 16)  # two binary 3x3 convs
    # first conv 1->4 3x3, BN(4), BN(8), BN(16), classifier 16 * 7 * 7 -> 10 with bias
    real = 9 * 4 + 2 * (4 + 8 + 16) + (16 * 7 * 7 * 10 + 10)
    assert count_parameters(model) == {"binary": binary, "real": real, "total": binary + real}
    assert all(m.__class__.__name__ == "BinaryConv2d" for m in _binary_modules(model))
    first, last = model.features[0], model.classifier[-1]
    assert type(first) is nn.Conv2d and type(last) is nn.Linear  # full precision
    # the defaults on MNIST: 28 -> 14 -> 7, the counts docs/workloads.md states
    assert count_parameters(build_model("cnn2d", (1, 28, 28), 10)) == {
        "binary": 23_040,
        "real": 31_738,
        "total": 54_778,
    }


def test_cnn2d_needs_room_for_its_pools():
    # channels [c0, c1, c2]: two 2x2 pools, so H, W >= 4 (odd sizes floor: 5 -> 2 -> 1)
    assert build_model("cnn2d", (1, 4, 5), 10)(torch.randn(2, 1, 4, 5)).shape == (2, 10)
    for shape in [(1, 3, 8), (1, 8, 3), (64,), (1, 40)]:
        with pytest.raises(BnnBenchError, match="not accepted"):
            build_model("cnn2d", shape, 10)
    one_pool = build_model("cnn2d", (1, 2, 2), 10, channels=[4, 8])
    assert one_pool(torch.randn(2, 1, 2, 2)).shape == (2, 10)


def test_bireal_structure_and_counts_by_hand():
    model = build_model("bireal_resnet18", (3, 32, 32), 10, width=1 / 16)
    units = [m for m in model.modules() if isinstance(m, BiRealUnit)]
    assert len(units) == 16 and len(_binary_modules(model)) == 16
    widths = [4] * 4 + [8] * 4 + [16] * 4 + [32] * 4
    cins = [4, *widths[:-1]]
    binary = sum(9 * a * b for a, b in zip(cins, widths, strict=True))
    shortcuts = [(4, 8), (8, 16), (16, 32)]  # AvgPool - Conv1x1 - BN at each downsampling
    real = (
        3 * 4 * 9
        + 2 * 4  # stem conv + BN
        + sum(2 * w for w in widths)  # BN after every binary conv
        + sum(a * b + 2 * b for a, b in shortcuts)
        + (32 * 10 + 10)  # classifier
    )
    assert count_parameters(model) == {"binary": binary, "real": real, "total": binary + real}
    down = [u for u in units if not isinstance(u.shortcut, nn.Identity)]
    assert len(down) == 3
    # defaults: approx_sign activations and scaled binary weights (Bi-Real Net)
    assert all(u.act.estimator == "approx_sign" for u in units)
    assert all(m.scale for m in _binary_modules(model))


def test_bireal_shortcut_is_real_valued():
    # every unit's output minus its residual branch is exactly its shortcut of the input
    torch.manual_seed(0)
    model = build_model("bireal_resnet18", (3, 16, 16), 10, width=1 / 16).eval()
    unit = model.units[4]  # first unit of stage 2: downsampling shortcut
    x = torch.randn(2, 4, 16, 16)
    residual = unit.bn(unit.conv(unit.act(x)))
    torch.testing.assert_close(unit(x) - residual, unit.shortcut(x))
    assert not torch.equal(unit.shortcut(x).abs(), torch.ones_like(unit.shortcut(x)))


@pytest.mark.parametrize("name", list(MODELS))
def test_binary_layers_see_binary_inputs(name):
    shape = {"mlp": (64,), "cnn1d": (40,)}.get(name, (3, 16, 16))
    torch.manual_seed(0)
    model = build_model(name, shape, 10, **SMALL[name])
    seen: list[tuple[str, torch.Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, n=n: seen.append((n, args[0])))
        for n, m in model.named_modules()
        if isinstance(m, BinaryLayer)
    ]
    model(torch.randn(4, *shape))
    for h in hooks:
        h.remove()
    assert seen
    for layer_name, x in seen:
        if name == "binarynet" and layer_name == "features.0":
            assert not torch.all(x.abs() == 1)  # BinaryNet's first conv sees the real image
        else:
            assert torch.all(x.abs() == 1), layer_name


@pytest.mark.parametrize("name", list(MODELS))
def test_weight_binarization_in_forward(name):
    # the output depends on the latent weights only through their signs (scale off)
    shape = {"mlp": (64,), "cnn1d": (40,)}.get(name, (3, 16, 16))
    torch.manual_seed(0)
    model = build_model(name, shape, 10, scale=False, **SMALL[name]).eval()
    x = torch.randn(3, *shape)
    before = model(x)
    with torch.no_grad():
        for w in binary_parameters(model):
            w.mul_(torch.rand_like(w) + 0.5)  # new magnitudes, same signs
    torch.testing.assert_close(model(x), before)


def test_options_reach_the_layers():
    model = build_model(
        "mlp",
        (64,),
        10,
        hidden=[8, 8, 8],
        weight_estimator="clipped",
        activation_estimator="swish_sign",
        scale=True,
    )
    layers = _binary_modules(model)
    assert all(m.weight_estimator == "clipped" and m.scale for m in layers)
    signs = [m for m in model.modules() if isinstance(m, Sign)]
    assert len(signs) == 3 and all(s.estimator == "swish_sign" for s in signs)
    relu_twin = build_model("mlp", (64,), 10, binary=False, real_activation="relu")
    assert any(isinstance(m, nn.ReLU) for m in relu_twin.modules())
    hardtanh_twin = build_model("mlp", (64,), 10, binary=False)
    assert any(isinstance(m, nn.Hardtanh) for m in hardtanh_twin.modules())


def _train_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("binary", [True, False])
def test_a_few_adam_steps_lower_the_loss(name, binary):
    shape = {"mlp": [20], "cnn1d": [40]}.get(name, [3, 8, 8])
    data = load_dataset("synthetic", shape=shape, n_classes=4, n_samples=400, kind="blobs")
    x, y = next(data.train.batches(32, seed=0, epoch=0))
    torch.manual_seed(0)
    model = build_model(name, tuple(shape), 4, binary=binary, **SMALL[name])
    losses = _train_losses(model, x, y, steps=20)
    assert min(losses[-5:]) < 0.7 * losses[0], losses


def test_count_parameters_matches_split():
    model = build_model("cnn1d", (40,), 10)
    ids = {id(p) for p in binary_parameters(model)}
    counts = count_parameters(model)
    assert counts["binary"] == sum(p.numel() for p in model.parameters() if id(p) in ids)
    assert counts["total"] == sum(p.numel() for p in model.parameters())


def test_describe_models_rows():
    rows = {row["name"]: row for row in describe_models()}
    assert set(rows) == set(MODELS)
    for name, row in rows.items():
        spec = MODELS[name]
        model = build_model(name, spec.reference_input, spec.reference_classes)
        counts = count_parameters(model)
        assert row["binary_parameters"] == counts["binary"] > 0
        assert row["real_parameters"] == counts["real"] > 0
        assert row["accepts"] == spec.accepts


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: build_model("resnet", (3, 32, 32), 10), "unknown model 'resnet'"),
        (lambda: build_model("mlpp", (64,), 10), "did you mean 'mlp'"),
        (lambda: build_model("mlp", (64,), 10, widths=[3, 3]), "allowed: activation_estimator"),
        (lambda: build_model("mlp", (64,), 10, hidden=[32]), "option hidden"),
        (lambda: build_model("mlp", (64,), 10, hidden=[32, 0]), "option hidden"),
        (lambda: build_model("binarynet", (64,), 10), "accepts images C x H x W"),
        (lambda: build_model("binarynet", (3, 4, 4), 10), "input shape (3, 4, 4)"),
        (lambda: build_model("bireal_resnet18", (28, 28), 10), "not accepted"),
        (lambda: build_model("cnn1d", (1, 8, 8), 10), "signals (L,) or (C, L)"),
        (lambda: build_model("cnn1d", (2,), 10), "not accepted"),
        (lambda: build_model("binarynet", (3, 32, 32), 10, width=0), "option width"),
        (lambda: build_model("mlp", (64,), 1), "num_classes"),
        (lambda: build_model("mlp", (64,), 10, weight_estimator="sgn"), "estimator 'sgn'"),
        (lambda: build_model("mlp", (64,), 10, real_activation="gelu"), "real_activation"),
        (lambda: build_model("mlp", (0,), 10), "input shape"),
    ],
)
def test_user_errors(call, fragment):
    with pytest.raises(BnnBenchError) as info:
        call()
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
