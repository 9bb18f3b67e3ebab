"""Binary building blocks: sign quantizers with STEs, binary layers, BNN metrics."""

from benchmark.binary.layers import (
    BinaryConv1d,
    BinaryConv2d,
    BinaryLayer,
    BinaryLinear,
    binary_named_parameters,
    binary_parameters,
    split_parameters,
)
from benchmark.binary.metrics import (
    QUANTIZATION_ERRORS,
    FlipTracker,
    clip_latent_,
    quantization_error,
    saturation,
)
from benchmark.binary.ste import ESTIMATORS, Sign, hard_sign, sign

__all__ = [
    "ESTIMATORS",
    "QUANTIZATION_ERRORS",
    "BinaryConv1d",
    "BinaryConv2d",
    "BinaryLayer",
    "BinaryLinear",
    "FlipTracker",
    "Sign",
    "binary_named_parameters",
    "binary_parameters",
    "clip_latent_",
    "hard_sign",
    "quantization_error",
    "saturation",
    "sign",
    "split_parameters",
]
