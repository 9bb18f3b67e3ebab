"""Binary building blocks: sign quantizers with STEs, binary layers, BNN metrics.

The names are imported on first use (PEP 562), so ``import benchmark.binary`` and the name
tables of :mod:`benchmark.binary.names` cost no torch import (``bnnbench validate``).
"""

from __future__ import annotations

from benchmark.lazy import lazy_getattr

_LAZY = {
    "BinaryConv1d": "benchmark.binary.layers",
    "BinaryConv2d": "benchmark.binary.layers",
    "BinaryLayer": "benchmark.binary.layers",
    "BinaryLinear": "benchmark.binary.layers",
    "binary_named_parameters": "benchmark.binary.layers",
    "binary_parameters": "benchmark.binary.layers",
    "split_parameters": "benchmark.binary.layers",
    "FlipTracker": "benchmark.binary.metrics",
    "clip_latent_": "benchmark.binary.metrics",
    "quantization_error": "benchmark.binary.metrics",
    "saturation": "benchmark.binary.metrics",
    "Sign": "benchmark.binary.ste",
    "hard_sign": "benchmark.binary.ste",
    "sign": "benchmark.binary.ste",
    "ESTIMATORS": "benchmark.binary.names",
    "QUANTIZATION_ERRORS": "benchmark.binary.names",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
