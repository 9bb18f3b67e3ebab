"""Training throughput of each model on its dataset: a few Adam steps at batch 128.

``benchmark.extra_info["samples"]`` is the number of training samples one timed call
processes (forward, backward, optimizer step, data batching included), so samples/s =
samples / mean time. Timed only with ``pytest tests/perf --benchmark-enable``; the default run
executes each body once, untimed. docs/performance.md records the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.data import LoaderSplit, load_dataset
from benchmark.models import MODELS, build_model

BATCH = 128
STEPS = 3


def _cifar_shaped_train(n: int = BATCH * STEPS) -> LoaderSplit:
    """A CIFAR-10-shaped training split on the real code path (uint8 -> augment -> normalise)."""
    images = torch.from_numpy(
        np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    )
    return LoaderSplit(
        "train",
        images,
        torch.arange(n) % 10,
        torch.arange(n),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        augment=True,
    )


def _workload(name: str, tmp_path_factory):
    if name == "mlp":
        split, shape = load_dataset("digits").train, (64,)
    elif name == "cnn1d":
        split, shape = load_dataset("mnist1d", root=tmp_path_factory.mktemp("data")).train, (40,)
    elif name == "cnn2d":
        split, shape = load_dataset("mnist5k").train, (1, 28, 28)
    else:
        split, shape = _cifar_shaped_train(), (3, 32, 32)
    return split, shape


@pytest.mark.benchmark(group="train-steps-batch128")
@pytest.mark.parametrize("name", list(MODELS))
def test_training_throughput(benchmark, name, tmp_path_factory):
    split, shape = _workload(name, tmp_path_factory)
    torch.manual_seed(0)
    model = build_model(name, shape, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def steps() -> float:
        loss = torch.zeros(())
        for i, (x, y) in enumerate(split.batches(BATCH, seed=0, epoch=0)):
            if i == STEPS:
                break
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return float(loss.detach())

    benchmark.extra_info["samples"] = BATCH * STEPS
    benchmark.extra_info["model_options"] = dict(MODELS[name].options)
    assert np.isfinite(benchmark(steps))
