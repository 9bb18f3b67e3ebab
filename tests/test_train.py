"""The training engine: determinism, divergence, what an evaluation records."""

from __future__ import annotations

import math

import pytest

from benchmark.records import RunSpec
from benchmark.train import eval_points, schedule_factor, train

TIMING = {"train_seconds", "eval_seconds"}


def _spec(**kw: object) -> RunSpec:
    base: dict[str, object] = {
        "model": "mlp",
        "dataset": "synthetic",
        "optimizer": "bamsprod",
        "model_options": {"hidden": [32, 32]},
        "dataset_options": {"n_samples": 300, "n_features": 12, "n_classes": 3},
        "epochs": 2,
        "batch_size": 32,
        "evals_per_epoch": 2,
        "seed": 3,
    }
    base.update(kw)
    return RunSpec(**base)  # type: ignore[arg-type]


def _curve(record) -> list[tuple[int, str, str, float]]:
    return [(m.step, m.split, m.name, m.value) for m in record.metrics if m.name not in TIMING]


def test_same_spec_twice_gives_identical_curves() -> None:
    first, second = train(_spec()), train(_spec())
    assert first.status == second.status == "completed"
    assert _curve(first) == _curve(second)
    assert first.run_id == second.run_id


def test_different_seed_gives_different_curve() -> None:
    assert _curve(train(_spec(seed=3))) != _curve(train(_spec(seed=4)))


def test_evaluation_points_and_recorded_metrics() -> None:
    spec = _spec()
    rec = train(spec)
    # synthetic, 300 samples: 20% test, then 10% of the rest for validation -> 216 train
    n_batches = math.ceil(216 / 32)
    steps = sorted({m.step for m in rec.metrics if m.split == "test" and m.name == "accuracy"})
    assert steps[0] == 0
    assert rec.steps == steps[-1] == spec.epochs * n_batches
    assert len(steps) == 1 + spec.epochs * spec.evals_per_epoch
    names = {m.name for m in rec.metrics}
    for required in (
        "loss",
        "accuracy",
        "lr",
        "flip_rate",
        "quantization_error",
        "saturation",
        "bamsprod_error",
        "bamsprod_lower",
        "bamsprod_upper",
        "train_seconds",
    ):
        assert required in names, required
    assert any(n.startswith("flip_rate/") for n in names)
    splits = {m.split for m in rec.metrics if m.name == "accuracy"}
    assert splits == {"train", "val", "test"}
    # clipping applied after every step of a latent-weight optimizer: nothing beyond the bound
    sat = [m.value for m in rec.metrics if m.name == "saturation"]
    assert all(0.0 <= v <= 1.0 for v in sat)
    assert (
        rec.summary["final_test_accuracy"]
        == [m.value for m in rec.metrics if m.split == "test" and m.name == "accuracy"][-1]
    )
    assert rec.train_seconds > 0 and rec.eval_seconds > 0


def test_huge_learning_rate_is_stored_as_diverged_with_its_curve() -> None:
    rec = train(_spec(optimizer="sgd", hparams={"lr": 1e38}, epochs=3))
    assert rec.status == "diverged"
    assert "non-finite training loss" in rec.message
    assert any(m.name == "diverged" for m in rec.metrics)
    assert any(m.step == 0 and m.name == "accuracy" for m in rec.metrics)  # curve so far kept


def test_bop_weights_stay_binary_and_flip() -> None:
    rec = train(_spec(optimizer="bop", hparams={"threshold": 1e-6, "gamma": 1e-2}))
    assert rec.status == "completed"
    flips = [m.value for m in rec.metrics if m.name == "flip_rate" and m.step > 0]
    assert max(flips) > 0
    # Bop's weights sit at +-1: the xnor error is exactly 0 after training starts
    errors = [m.value for m in rec.metrics if m.name == "quantization_error" and m.step > 0]
    assert errors and max(errors) == pytest.approx(0.0, abs=1e-7)


def test_eval_points_are_evenly_spaced_and_include_the_last_batch() -> None:
    assert eval_points(10, 1) == {10}
    assert eval_points(10, 2) == {5, 10}
    assert eval_points(10, 3) == {3, 7, 10}
    assert eval_points(2, 5) == {1, 2}


def test_schedule_factor() -> None:
    assert schedule_factor(None, 7, 10) == 1.0
    step = {"name": "step", "step_size": 100, "gamma": 0.1}
    assert [schedule_factor(step, e, 500) for e in (0, 99, 100, 250)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.01]
    )
    cosine = {"name": "cosine", "min_factor": 0.0}
    assert schedule_factor(cosine, 0, 10) == 1.0
    assert schedule_factor(cosine, 5, 10) == pytest.approx(0.5)
