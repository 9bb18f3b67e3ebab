"""Batching throughput: the in-memory batcher vs a DataLoader over a TensorDataset (digits).

Timed only with ``pytest tests/perf --benchmark-enable``; the default run (pyproject sets
``--benchmark-disable``) executes each body once, untimed. docs/performance.md records the
numbers ("Data and model throughput").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmark.data import LoaderSplit, load_dataset

BATCH = 128


@pytest.fixture(scope="module")
def digits_train():
    return load_dataset("digits").train


def _consume(batches) -> int:
    return sum(int(y.shape[0]) for _, y in batches)


@pytest.mark.benchmark(group="digits-epoch-batch128")
def test_in_memory_batcher_digits(benchmark, digits_train):
    seen = benchmark(lambda: _consume(digits_train.batches(BATCH, seed=0, epoch=0)))
    assert seen == len(digits_train)


@pytest.mark.benchmark(group="digits-epoch-batch128")
def test_dataloader_tensordataset_digits(benchmark, digits_train):
    dataset = TensorDataset(digits_train.inputs, digits_train.targets)

    def epoch() -> int:
        loader = DataLoader(
            dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0)
        )
        return _consume(loader)

    assert benchmark(epoch) == len(digits_train)


@pytest.mark.benchmark(group="cifar-shaped-epoch-batch128")
@pytest.mark.parametrize("augment", [False, True])
def test_loader_split_cifar_shaped(benchmark, augment):
    n = 2048
    images = torch.from_numpy(
        np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    )
    split = LoaderSplit(
        "train",
        images,
        torch.arange(n) % 10,
        torch.arange(n),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        augment=augment,
    )
    benchmark.extra_info["samples"] = n
    assert benchmark(lambda: _consume(split.batches(BATCH, seed=0, epoch=0))) == n
