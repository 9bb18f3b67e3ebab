"""Harness overhead: ``train(spec)`` against a bare hand-written loop doing the same work
(same model, data, seed, optimizer, clipping, and the same val/test evaluations).

Run with timing: ``pytest tests/perf/test_engine_perf.py --benchmark-enable --benchmark-only``;
the figures go in docs/performance.md. The plain ``pytest`` run executes each once, untimed,
and checks that both loops compute the same final accuracy.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.binary import clip_latent_
from benchmark.optim import make_optimizer
from benchmark.records import RunSpec
from benchmark.train import (
    EVAL_BATCH_SIZE,
    build_spec_model,
    deterministic_algorithms,
    load_spec_dataset,
    seed_everything,
    train,
)

SPEC = RunSpec(
    model="mlp",
    dataset="digits",
    optimizer="bamsprod",
    epochs=5,
    batch_size=64,
    seed=0,
    diagnostics=False,
)


def bare_loop(spec: RunSpec) -> float:
    """The same training and evaluation as the engine, with none of its bookkeeping."""
    dataset = load_spec_dataset(spec)
    with deterministic_algorithms():
        seed_everything(spec.seed)
        model = build_spec_model(spec, dataset)
        optimizer = make_optimizer(spec.optimizer, model, **spec.hparams)
        clip_latent_(model, 1.0)

        def evaluate(split) -> float:
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in split.batches(EVAL_BATCH_SIZE, seed=0, epoch=0, shuffle=False):
                    correct += int((model(x).argmax(1) == y).sum())
            model.train()
            return correct / len(split)

        evaluate(dataset.val)
        evaluate(dataset.test)
        acc = 0.0
        for epoch in range(spec.epochs):
            for x, y in dataset.train.batches(spec.batch_size, seed=spec.seed, epoch=epoch):
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                clip_latent_(model, 1.0)
            evaluate(dataset.val)
            acc = evaluate(dataset.test)
    return acc


def engine(spec: RunSpec) -> float:
    return train(spec).summary["final_test_accuracy"]


@pytest.mark.parametrize("diagnostics", [False, True], ids=["diagnostics-off", "diagnostics-on"])
def test_engine_run(benchmark, diagnostics: bool) -> None:
    spec = RunSpec(**{**SPEC.to_dict(), "diagnostics": diagnostics})
    load_spec_dataset(spec)  # data loading is not what is measured
    acc = benchmark.pedantic(engine, args=(spec,), rounds=5, warmup_rounds=1)
    assert acc == pytest.approx(bare_loop(spec))  # same work, same numbers


def test_bare_loop(benchmark) -> None:
    load_spec_dataset(SPEC)
    acc = benchmark.pedantic(bare_loop, args=(SPEC,), rounds=5, warmup_rounds=1)
    assert 0.0 < acc <= 1.0
