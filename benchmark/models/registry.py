"""The model registry: names, accepted input shapes, descriptions, options, parameter counts.

Options every model takes (defaults in parentheses; ``bireal_resnet18`` differs as noted):

- ``weight_estimator`` (``"ste"``): the straight-through estimator of the weight sign;
- ``activation_estimator`` (``"clipped"``, Bi-Real: ``"approx_sign"``): that of the
  activation sign;
- ``scale`` (``false``, Bi-Real: ``true``): per-output-channel ``mean |W|`` weight scaling;
- ``real_activation`` (``"hardtanh"``, Bi-Real: ``"relu"``): the activation of the
  full-precision twin (``binary=False``).

Model-specific: ``mlp.hidden`` (``[256, 256]``), ``binarynet.width`` (``0.25``),
``cnn1d.channels`` (``[32, 64, 64]``), ``cnn2d.channels`` (``[16, 32, 64]``),
``bireal_resnet18.width`` (``0.25``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from benchmark.errors import BnnBenchError, unknown_name
from benchmark.models.options import (
    binarization,
    check_shape,
    int_list,
    positive_float,
    shape_error,
)
from benchmark.options import merge_options

if TYPE_CHECKING:  # the model modules (and torch) are imported when a model is built
    from torch import nn

Factory = Callable[[tuple[int, ...], int, bool, dict[str, Any]], "nn.Module"]
Fits = Callable[[tuple[int, ...], dict[str, Any]], bool]

COMMON_OPTIONS: dict[str, Any] = {
    "weight_estimator": "ste",
    "activation_estimator": "clipped",
    "scale": False,
    "real_activation": "hardtanh",
}


@dataclass(frozen=True)
class ModelSpec:
    """A registered model. ``factory(input_shape, num_classes, binary, options)`` builds it
    from fully merged options; ``reference_input``/``reference_classes`` are what
    :func:`describe_models` counts parameters at. ``fits(input_shape, options)`` is the shape
    rule that ``accepts`` describes, without building anything (:func:`accepts_input`)."""

    name: str
    description: str
    accepts: str
    factory: Factory = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    reference_input: tuple[int, ...] = ()
    reference_classes: int = 10
    fits: Fits = field(default=lambda shape, options: True, repr=False)
    #: ``(binary, real)`` parameter counts at the reference input with the default options,
    #: stated so that ``bnnbench list`` needs no torch (a test builds each model to check)
    reference_counts: tuple[int, int] = (0, 0)


def _model_module(name: str) -> ModuleType:
    """``benchmark.models.<name>``, imported on first use (it imports torch)."""
    return importlib.import_module(f"benchmark.models.{name}")


#: each model module's ``ACCEPTS`` text, stated here so that the registry imports no model
#: module (a test keeps them equal)
_ACCEPTS = {
    "mlp": "any shape (flattened)",
    "binarynet": "images C x H x W, H,W >= 8",
    "cnn1d": "signals (L,) or (C, L), L >= 2^(len(channels) - 1)",
    "cnn2d": "images C x H x W, H,W >= 2^(len(channels) - 1)",
    "bireal": "images C x H x W, H,W >= 8",
}


def _image_fits(shape: tuple[int, ...], options: dict[str, Any]) -> bool:
    """Images C x H x W with H, W >= 8 (BinaryNet and Bi-Real)."""
    return len(shape) == 3 and shape[1] >= 8 and shape[2] >= 8


def _cnn1d_fits(shape: tuple[int, ...], options: dict[str, Any]) -> bool:
    """Signals (L,) or (C, L) long enough for ``len(channels) - 1`` halving max-pools."""
    channels = int_list("cnn1d", "channels", options["channels"], min_len=2)
    return len(shape) in (1, 2) and shape[-1] // 2 ** (len(channels) - 1) >= 1


def _cnn2d_fits(shape: tuple[int, ...], options: dict[str, Any]) -> bool:
    """Images C x H x W large enough for ``len(channels) - 1`` halving max-pools (H, W >=
    2^(len(channels) - 1))."""
    channels = int_list("cnn2d", "channels", options["channels"], min_len=2)
    pools = len(channels) - 1
    return len(shape) == 3 and min(s // 2**pools for s in shape[1:]) >= 1  # cnn2d.pooled_size


def _image_shape(name: str, shape: tuple[int, ...], accepts: str) -> tuple[int, int, int]:
    if not _image_fits(shape, {}):
        raise shape_error(name, shape, accepts)
    return shape[0], shape[1], shape[2]


def _mlp(shape: tuple[int, ...], classes: int, binary: bool, o: dict[str, Any]) -> nn.Module:
    hidden = int_list("mlp", "hidden", o["hidden"], min_len=2)
    return _model_module("mlp").MLP(shape, classes, hidden, binarization("mlp", binary, o))


def _binarynet(shape: tuple[int, ...], classes: int, binary: bool, o: dict[str, Any]):
    image = _image_shape("binarynet", shape, _ACCEPTS["binarynet"])
    width = positive_float("binarynet", "width", o["width"])
    return _model_module("binarynet").BinaryNet(
        image, classes, width, binarization("binarynet", binary, o)
    )


def _cnn1d(shape: tuple[int, ...], classes: int, binary: bool, o: dict[str, Any]) -> nn.Module:
    channels = int_list("cnn1d", "channels", o["channels"], min_len=2)
    if not _cnn1d_fits(shape, o):
        raise shape_error("cnn1d", shape, _ACCEPTS["cnn1d"])
    return _model_module("cnn1d").CNN1d(shape, classes, channels, binarization("cnn1d", binary, o))


def _cnn2d(shape: tuple[int, ...], classes: int, binary: bool, o: dict[str, Any]) -> nn.Module:
    channels = int_list("cnn2d", "channels", o["channels"], min_len=2)
    if not _cnn2d_fits(shape, o):
        raise shape_error("cnn2d", shape, _ACCEPTS["cnn2d"])
    return _model_module("cnn2d").CNN2d(
        (shape[0], shape[1], shape[2]), classes, channels, binarization("cnn2d", binary, o)
    )


def _bireal(shape: tuple[int, ...], classes: int, binary: bool, o: dict[str, Any]) -> nn.Module:
    image = _image_shape("bireal_resnet18", shape, _ACCEPTS["bireal"])
    width = positive_float("bireal_resnet18", "width", o["width"])
    b = binarization("bireal_resnet18", binary, o)
    return _model_module("bireal").BiRealResNet18(image, classes, width, b)


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(
        "mlp",
        "binary MLP: full-precision first and last layers, binary hidden layers, "
        "BatchNorm before each sign",
        _ACCEPTS["mlp"],
        _mlp,
        {**COMMON_OPTIONS, "hidden": [256, 256]},
        (64,),
        reference_counts=(65_536, 19_978),
    ),
    "binarynet": ModelSpec(
        "binarynet",
        "BinaryNet / VGG-small CNN (128-128-M-256-256-M-512-512-M-1024-1024) x width, "
        "BatchNorm after every layer",
        _ACCEPTS["binarynet"],
        _binarynet,
        {**COMMON_OPTIONS, "width": 0.25},
        (3, 32, 32),
        fits=_image_fits,
        reference_counts=(878_944, 1_940),
    ),
    "cnn1d": ModelSpec(
        "cnn1d",
        "small binary 1-D CNN for signals (mnist1d): real first conv and classifier, "
        "binary convs with max-pools",
        _ACCEPTS["cnn1d"],
        _cnn1d,
        {**COMMON_OPTIONS, "channels": [32, 64, 64]},
        (40,),
        fits=_cnn1d_fits,
        reference_counts=(18_432, 6_890),
    ),
    "cnn2d": ModelSpec(
        "cnn2d",
        "small binary 2-D CNN for small images (mnist5k, MNIST): real first conv and "
        "classifier, binary 3x3 convs with max-pools",
        _ACCEPTS["cnn2d"],
        _cnn2d,
        {**COMMON_OPTIONS, "channels": [16, 32, 64]},
        (1, 28, 28),
        fits=_cnn2d_fits,
        reference_counts=(23_040, 31_738),
    ),
    "bireal_resnet18": ModelSpec(
        "bireal_resnet18",
        "Bi-Real Net ResNet-18 for CIFAR: real shortcut around every binary 3x3 conv, "
        "approx_sign, real stem and classifier",
        _ACCEPTS["bireal"],
        _bireal,
        {
            **COMMON_OPTIONS,
            "activation_estimator": "approx_sign",
            "scale": True,
            "real_activation": "relu",
            "width": 0.25,
        },
        (3, 32, 32),
        fits=_image_fits,
        reference_counts=(686_592, 14_874),
    ),
}


def build_model(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    binary: bool = True,
    **options: Any,
) -> nn.Module:
    """Build model ``name`` for per-sample ``input_shape`` and ``num_classes`` outputs.

    ``binary=False`` builds the full-precision twin (same architecture, no binary layer).
    Raises :class:`BnnBenchError` for an unknown name, an unknown or invalid option, or an
    input shape the model does not accept.
    """
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    spec = MODELS[name]
    merged = merge_options("model", name, options, spec.options)
    shape = check_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise BnnBenchError(
            f"model '{name}': num_classes must be an integer >= 2, got {num_classes!r}"
        )
    if not isinstance(binary, bool):
        raise BnnBenchError(f"model '{name}': binary must be true or false, got {binary!r}")
    return spec.factory(shape, num_classes, binary, merged)


def accepts_input(
    name: str, input_shape: tuple[int, ...], options: Mapping[str, Any] | None = None
) -> bool:
    """Whether model ``name`` with ``options`` accepts per-sample inputs of ``input_shape``
    (the rule its ``accepts`` describes), without building it, so that the suite loader can
    check every model x dataset pair without data. An unknown name, an unknown option or an
    invalid option value gives ``True``: those are reported elsewhere (suite option names,
    :func:`build_model`)."""
    spec = MODELS.get(name)
    if spec is None:
        return True
    try:
        merged = merge_options("model", name, dict(options or {}), spec.options)
        return bool(spec.fits(check_shape(input_shape), merged))
    except BnnBenchError:
        return True


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameter counts: ``binary`` (latent weights of binary layers), ``real``
    (everything else) and ``total``, via :func:`benchmark.binary.split_parameters`."""
    from benchmark.binary.layers import split_parameters

    binary, real = split_parameters(model)
    n_binary = sum(p.numel() for p in binary)
    n_real = sum(p.numel() for p in real)
    return {"binary": n_binary, "real": n_real, "total": n_binary + n_real}


def describe_models() -> list[dict[str, Any]]:
    """One row per model for ``bnnbench list``: name, description, accepts, default options,
    and binary/real parameter counts at the reference input (shape, classes) with defaults
    (the stated ``reference_counts``: nothing is built, no torch imported)."""
    rows = []
    for spec in MODELS.values():
        counts = dict(zip(("binary", "real"), spec.reference_counts, strict=True))
        rows.append(
            {
                "name": spec.name,
                "description": spec.description,
                "accepts": spec.accepts,
                "options": dict(spec.options),
                "reference_input": spec.reference_input,
                "reference_classes": spec.reference_classes,
                "binary_parameters": counts["binary"],
                "real_parameters": counts["real"],
            }
        )
    return rows
