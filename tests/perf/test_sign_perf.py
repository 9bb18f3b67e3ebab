"""The binary sign (issue 21): pytest-benchmark timings of :func:`benchmark.binary.hard_sign`
against the ``torch.where`` version it replaced, forward and with the STE backward.

The plain ``pytest`` run executes each body once without timing; to time them::

    OMP_NUM_THREADS=1 pytest tests/perf/test_sign_perf.py --benchmark-enable --benchmark-only

Ratios measured so are in docs/performance.md, "The binary sign".
"""

from __future__ import annotations

import pytest
import torch

from benchmark.binary import hard_sign, sign

SIZES = {"64x256": (64, 256), "1M": (1 << 20,)}


def where_sign(x: torch.Tensor) -> torch.Tensor:
    """The implementation before issue 21."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", ["new", "where"])
def test_sign_forward(benchmark, size: str, impl: str) -> None:
    x = torch.randn(SIZES[size], generator=torch.Generator().manual_seed(0))
    fn = hard_sign if impl == "new" else where_sign
    benchmark.group = f"sign-forward-{size}"
    out = benchmark(fn, x)
    assert torch.equal(out, where_sign(x))


@pytest.mark.parametrize("estimator", ["ste", "clipped"])
def test_sign_forward_backward(benchmark, estimator: str) -> None:
    """A 64x256 activation through the STE, forward and backward (what a binary layer pays)."""
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(0), requires_grad=True)
    upstream = torch.randn(64, 256, generator=torch.Generator().manual_seed(1))

    def step() -> None:
        x.grad = None
        sign(x, estimator).backward(upstream)

    benchmark.group = "sign-forward-backward"
    benchmark(step)
    assert x.grad is not None and x.grad.shape == x.shape
