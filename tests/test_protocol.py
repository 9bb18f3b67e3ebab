"""The protocol side of issue 19: tuning seeds apart from the final runs' seeds, the
evaluation schedule that resolves speed-to-target, and a default suite (quick.yaml) whose
primary family can reach a verdict at all."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from benchmark import BnnBenchError, run_suite
from benchmark.records import RunSpec
from benchmark.store import Store
from benchmark.suite import expand_final_runs, expand_tuning_trial, load_suite
from benchmark.suite.expand import cells
from benchmark.train import schedule_steps, train
from benchmark.tune import TUNING_SEED_BASE, trial_seeds
from tests.conftest import REPO, write_suite

TUNED_SUITES = ["smoke", "quick", "nightly", "sensitivity"]


# ----------------------------------------------------------------------------- tuning seeds
def test_trial_seeds_are_a_range_of_their_own(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(tmp_path / "s.yaml", tuning={"trials": 2, "seed": 3, "seeds_per_trial": 2})
    )
    assert TUNING_SEED_BASE == 1_000_000
    assert trial_seeds(suite) == [1_000_003, 1_000_004]
    # every trial run of every cell trains with them
    cell = cells(suite)[0]
    assert expand_tuning_trial(suite, cell, {}, trial_seeds(suite)[0]).seed == 1_000_003


@pytest.mark.parametrize("name", TUNED_SUITES)
def test_no_shipped_suite_evaluates_on_a_tuning_seed(name: str) -> None:
    suite = load_suite(REPO / "suites" / f"{name}.yaml")
    assert suite.tuning.trials > 0
    finals = {spec.seed for spec in expand_final_runs(suite)}
    assert finals.isdisjoint(trial_seeds(suite))
    assert min(trial_seeds(suite)) >= TUNING_SEED_BASE > max(finals)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"seeds": [0, 1_000_000], "tuning": {"trials": 2}},
         ": seeds: seed 1000000 is also a tuning-trial seed (trials train with seeds 1000000 to "
         "1000000: 1,000,000 + tuning.seed + i); allowed: final seeds outside that range, or "
         "another tuning.seed"),
        ({"seeds": [5, 1_000_009], "tuning": {"trials": 2, "seed": 8, "seeds_per_trial": 3}},
         ": seeds: seed 1000009 is also a tuning-trial seed (trials train with seeds 1000008 to "
         "1000010"),
        ({"tuning": {"trials": 2, "seed": 4_293_967_295, "seeds_per_trial": 2}},
         ": tuning.seed: trial seeds run from 1,000,000 + tuning.seed to that + seeds_per_trial "
         "- 1 = 4294967296, past the largest seed 4294967295, got 4293967295; allowed: 0 to "
         "4293967294 (or fewer seeds per trial)"),
    ],
)  # fmt: skip
def test_seeds_that_could_meet_are_one_line_errors(
    tmp_path: Path, settings: dict, expected: str
) -> None:
    path = write_suite(tmp_path / "s.yaml", **settings)
    with pytest.raises(BnnBenchError) as err:
        load_suite(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    assert expected in message


def test_an_untuned_suite_may_use_any_seed(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path / "s.yaml", seeds=[1_000_000]))
    assert suite.seeds == [1_000_000]


# ----------------------------------------------------------------------------- eval schedule
def test_log_schedule_steps_hand_worked() -> None:
    # T = 420 steps (20 epochs x 21 batches), N = 10: s_k = round(420 ** (k / 9)); ln 420 =
    # 6.0403, so 420 ** (1/9) = e^0.67114 = 1.9565 -> 2, e^1.3423 = 3.828 -> 4,
    # e^2.0134 = 7.489 -> 7, e^2.6846 = 14.65 -> 15, e^3.3557 = 28.67 -> 29,
    # e^4.0269 = 56.08 -> 56, e^4.6980 = 109.7 -> 110, e^5.3691 = 214.7 -> 215, 420
    assert sorted(schedule_steps({"kind": "log", "points": 10}, 420)) == [
        1, 2, 4, 7, 15, 29, 56, 110, 215, 420
    ]  # fmt: skip
    # T = 5, N = 10: 5 ** (k/9) = 1, 1.20, 1.43, 1.71, 2.04, 2.45, 2.92, 3.49, 4.18, 5; the
    # repeats count once
    assert schedule_steps({"kind": "log", "points": 10}, 5) == {1, 2, 3, 4, 5}
    assert schedule_steps({"kind": "log", "points": 2}, 57) == {1, 57}
    assert schedule_steps(None, 420) == set()


def _spec(**kw: object) -> RunSpec:
    base: dict[str, object] = {
        "model": "mlp",
        "dataset": "synthetic",
        "optimizer": "adam",
        "model_options": {"hidden": [32, 32]},
        "dataset_options": {"n_samples": 300, "n_features": 12, "n_classes": 3},
        "epochs": 3,
        "batch_size": 32,
        "evals_per_epoch": 1,
        "seed": 3,
    }
    base.update(kw)
    return RunSpec(**base)  # type: ignore[arg-type]


def _test_accuracy(record) -> dict[int, float]:
    return {m.step: m.value for m in record.metrics if m.split == "test" and m.name == "accuracy"}


def test_train_evaluates_exactly_at_the_schedule_and_at_each_epoch() -> None:
    # synthetic, 300 samples: 60 test, 24 val, 216 train -> 7 batches of 32 per epoch, T = 21;
    # log 5: 21 ** (k/4) = 1, 2.14, 4.58, 9.81, 21 -> 1, 2, 5, 10, 21; per epoch: 7, 14, 21
    schedule = {"kind": "log", "points": 5}
    plain, dense = train(_spec()), train(_spec(eval_schedule=schedule))
    assert sorted(_test_accuracy(plain)) == [0, 7, 14, 21]
    assert sorted(_test_accuracy(dense)) == [0, 1, 2, 5, 7, 10, 14, 21]
    # evaluating more often changes nothing about training: the shared points agree exactly
    assert all(_test_accuracy(dense)[s] == v for s, v in _test_accuracy(plain).items())
    assert dense.summary["final_test_accuracy"] == plain.summary["final_test_accuracy"]
    # a stopped run (a halving rung) evaluates the prefix of its full run's schedule
    stopped = train(_spec(eval_schedule=schedule, stop_epoch=2))
    assert sorted(_test_accuracy(stopped)) == [0, 1, 2, 5, 7, 10, 14]


def test_the_schedule_is_part_of_the_run_id_only_when_set() -> None:
    # ids computed by the code before eval_schedule existed (git ed4c975): unchanged
    assert RunSpec(model="mlp", dataset="synthetic", optimizer="adam", seed=3).run_id == (
        "696a3d4ebab9fcec"
    )
    stopped = RunSpec(
        model="mlp", dataset="synthetic", optimizer="adam", seed=3, epochs=4, stop_epoch=2
    )
    assert stopped.run_id == "a5cb50bca1b53cb9"
    plain = RunSpec(model="mlp", dataset="synthetic", optimizer="adam", seed=3)
    dense = RunSpec(
        model="mlp",
        dataset="synthetic",
        optimizer="adam",
        seed=3,
        eval_schedule={"kind": "log", "points": 10},
    )
    assert "eval_schedule" not in plain.to_dict() and "eval_schedule" in dense.to_dict()
    assert dense.run_id != plain.run_id


def test_the_suite_key_reaches_final_runs_only(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(
            tmp_path / "s.yaml", eval_schedule={"kind": "log", "points": 12}, tuning={"trials": 2}
        )
    )
    assert {str(s.eval_schedule) for s in expand_final_runs(suite)} == {
        "{'kind': 'log', 'points': 12}"
    }
    trial = expand_tuning_trial(suite, cells(suite)[0], {}, trial_seeds(suite)[0])
    assert trial.eval_schedule is None and "eval_schedule" not in trial.to_dict()
    without = load_suite(write_suite(tmp_path / "t.yaml"))
    assert all(s.eval_schedule is None for s in expand_final_runs(without))


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"kind": "log", "points": 1}, ": eval_schedule.points: input should be greater than or "
                                        "equal to 2, got 1"),
        ({"kind": "log", "points": 1001}, ": eval_schedule.points: out of range, got 1001; "
                                           "allowed: 2 to 1000"),
        ({"kind": "linear", "points": 5}, ": eval_schedule.kind: input should be 'log', got "
                                           "'linear'"),
        ({"kind": "log"}, ": eval_schedule.points: required key is missing"),
        ({"kind": "log", "points": 5, "every": 3}, ": eval_schedule.every: unknown key 'every'"),
    ],
)  # fmt: skip
def test_bad_eval_schedules_are_one_line_errors(
    tmp_path: Path, schedule: dict, expected: str
) -> None:
    path = write_suite(tmp_path / "s.yaml", eval_schedule=schedule)
    with pytest.raises(BnnBenchError) as err:
        load_suite(path)
    assert "\n" not in str(err.value) and expected in str(err.value)


# ----------------------------------------------------------------------------- end to end
def test_a_tuned_suites_store_keeps_tuning_and_final_seeds_apart(tmp_path: Path) -> None:
    """A real tuned suite (2 optimizers, 2 trials, 2 seeds, the defaults' runs too) through
    the real executor: no final run of a cell shares a seed with a tuning trial of that cell,
    the trials trained with :func:`trial_seeds`, and the final runs were evaluated on the
    log schedule (T = 2 epochs x 10 batches = 20; log 4: 20 ** (k/3) = 1, 2.71, 7.37, 20)."""
    path = write_suite(
        tmp_path / "apart.yaml",
        seeds=[0, 1],
        epochs=2,
        eval_schedule={"kind": "log", "points": 4},
        tuning={"trials": 2, "epochs": 1, "seed": 0, "defaults": True},
    )
    result = run_suite(path, results_dir=tmp_path / "r", workers=1, progress=False, report=False)
    assert result.exit_code == 0
    store = Store(f"sqlite:///{tmp_path / 'r' / 'apart' / 'bnnbench.db'}", read_only=True)
    tuning = store.runs_frame("apart", role="tuning")
    finals = store.runs_frame("apart")
    finals = finals[finals["split"] == "test"]
    assert len(tuning) == 4 and len(finals) == 8  # 2 cells x (2 tuned + 2 defaults) seeds
    for (model, dataset, optimizer), trials in tuning.groupby(["model", "dataset", "optimizer"]):
        mine = finals[(finals["model"] == model) & (finals["dataset"] == dataset)
                      & (finals["optimizer"] == optimizer)]  # fmt: skip
        assert len(mine) == 4
        assert set(trials["seed"]) == {1_000_000}
        assert set(mine["seed"]) == {0, 1}
        assert set(mine["seed"]).isdisjoint(trials["seed"])
    # 400 samples: 80 test, 32 val, 288 train -> 9 batches of 32; T = 18, log 4:
    # 18 ** (k/3) = 1, 2.62, 6.87, 18 -> 1, 3, 7, 18; per epoch: 9, 18
    values = store.metrics_frame(list(finals["run_id"]), names=["accuracy"])
    for _, run in values[values["split"] == "test"].groupby("run_id"):
        assert sorted(run["step"]) == [0, 1, 3, 7, 9, 18]
    values = store.metrics_frame(list(tuning["run_id"]), names=["accuracy"])
    for _, run in values[values["split"] == "val"].groupby("run_id"):
        assert sorted(run["step"]) == [0, 9]  # trials: per-epoch evaluations only


# ----------------------------------------------------------------------------- quick.yaml
def _exact_sign_flip_p(differences: list[float]) -> float:
    """Two-sided exact sign-flip p of paired differences, by enumerating all 2^n signs: the
    share of sign vectors whose |sum| is at least the observed |sum|."""
    observed = abs(sum(differences))
    flips = list(itertools.product((1, -1), repeat=len(differences)))
    sums = [abs(sum(s * d for s, d in zip(signs, differences, strict=True))) for signs in flips]
    hits = sum(total >= observed - 1e-12 for total in sums)
    return hits / len(flips)


def test_quick_can_reach_a_verdict_in_its_primary_family() -> None:
    """The primary family is BAMSProd vs each baseline (every other optimizer of the suite),
    one exact two-sided sign-flip test per comparison over the n paired seeds, Holm over the
    m comparisons. Its smallest attainable adjusted p (every seed on one side, in every
    comparison: m x 2 / 2^n) must lie below 0.05 from the suite's seeds alone."""
    from statsmodels.stats.multitest import multipletests

    suite = load_suite(REPO / "suites" / "quick.yaml")
    n = len(suite.seeds)
    baselines = [o for o in suite.optimizer_names if o != "bamsprod"]
    m = len(baselines)
    assert "bamsprod" in suite.optimizer_names and m >= 1 and n >= 8
    p_min = _exact_sign_flip_p([0.01 * (i + 1) for i in range(n)])  # all seeds one side
    assert p_min == pytest.approx(2 / 2**n)
    adjusted = multipletests([p_min] * m, alpha=0.05, method="holm")[1]
    assert min(adjusted) == pytest.approx(m * 2 / 2**n)
    assert min(adjusted) < 0.05
    assert all(multipletests([p_min] * m, alpha=0.05, method="holm")[0])


def test_quick_test_sets_hold_at_least_1000_samples() -> None:
    from benchmark.train import load_spec_dataset

    suite = load_suite(REPO / "suites" / "quick.yaml")
    seen = set()
    for spec in expand_final_runs(suite):
        key = (spec.dataset, repr(spec.dataset_options))
        if key in seen:
            continue
        seen.add(key)
        assert len(load_spec_dataset(spec).test) >= 1000, spec.dataset
    assert suite.eval_schedule is not None
