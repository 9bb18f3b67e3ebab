"""Hyper-parameter studies (docs/studies.md): every sampler reproducible across worker counts
and kills, synchronous successive halving hand-checked, multi-seed trial scores, the grid.
Real Optuna studies in real SQLite stores, real training runs, real processes killed."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.errors import BnnBenchError
from benchmark.pipeline import run_suite, tune_suite
from benchmark.results import load_results
from benchmark.store import Store
from benchmark.suite import cells, load_suite
from benchmark.tune import (
    SAMPLERS,
    GridError,
    evaluate_round,
    grid_axes,
    keep_count,
    promote,
    rungs,
    study_name,
    summarize,
    trial_run_specs,
)
from tests.conftest import write_suite

SPACES = {
    "sgd": {"lr": {"low": 0.001, "high": 0.5, "log": True}, "momentum": {"low": 0.0, "high": 0.9}},
    "adam": {"lr": {"low": 0.0001, "high": 0.1, "log": True}},
}
OPTIMIZERS = [{"name": name, "search_space": space} for name, space in SPACES.items()]


def study_suite(path: Path, sampler: str, **tuning: Any) -> Path:
    """Two cells (sgd: 2-D space, adam: 1-D) of a tiny synthetic workload; 4 trials in
    rounds of 2 (a 2x2 and a 4-point grid)."""
    settings = {"trials": 4, "batch": 2, "epochs": 1, "sampler": sampler, "seed": 3, **tuning}
    return write_suite(
        path, optimizers=OPTIMIZERS, reference="adam", seeds=[0], epochs=1, tuning=settings
    )


def study_points(suite_path: Path, url: str) -> dict[str, dict[int, dict[str, Any]]]:
    """Each cell's trials as the Optuna study holds them (read through Optuna itself)."""
    suite = load_suite(suite_path)
    out = {}
    for cell in cells(suite):
        study = optuna.load_study(study_name=study_name(suite, cell), storage=url)
        out[cell.key] = {t.number: t.params for t in study.trials}
        assert all(t.state == TrialState.COMPLETE for t in study.trials), cell.key
    return out


def db_url(results: Path, name: str) -> str:
    return f"sqlite:///{results / name / 'bnnbench.db'}"


_REFERENCE: dict[str, tuple[dict, dict, dict]] = {}


def reference(sampler: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, dict]:
    """An uninterrupted serial tuning run of ``sampler``'s suite: (points, best params, best
    trial numbers), computed once per sampler."""
    if sampler not in _REFERENCE:
        base = tmp_path_factory.mktemp(f"ref-{sampler}")
        path = study_suite(base / f"{sampler}.yaml", sampler)
        result = tune_suite(path, results_dir=base / "r", workers=1, progress=False)
        assert result.exit_code == 0
        points = study_points(path, db_url(base / "r", sampler))
        _REFERENCE[sampler] = (points, result.tuning.best_params, result.tuning.best_trial)
    return _REFERENCE[sampler]


# ------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_one_worker_and_two_evaluate_the_same_points_and_pick_the_same_best(
    sampler: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    points, best, best_trial = reference(sampler, tmp_path_factory)
    path = study_suite(tmp_path / f"{sampler}.yaml", sampler)
    result = tune_suite(path, results_dir=tmp_path / "r", workers=2, progress=False)
    assert result.exit_code == 0
    assert study_points(path, db_url(tmp_path / "r", sampler)) == points
    assert result.tuning.best_params == best and result.tuning.best_trial == best_trial
    assert {key: len(p) for key, p in points.items()} == {
        "mlp/synthetic/sgd": 4,
        "mlp/synthetic/adam": 4,
    }
    # no final runs: tune runs the tuning phase only
    assert set(result.phases) == {"tuning"}
    if sampler == "grid":  # the full grids: 2 x 2 for sgd, 4 values for adam
        sgd = points["mlp/synthetic/sgd"].values()
        pairs = sorted((p["lr"], p["momentum"]) for p in sgd)
        assert [v for pair in pairs for v in pair] == pytest.approx(
            [0.001, 0.0, 0.001, 0.9, 0.5, 0.0, 0.5, 0.9]
        )
        lrs = sorted(p["lr"] for p in points["mlp/synthetic/adam"].values())
        assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])


def _tuning_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute("SELECT count(*) FROM suite_runs WHERE role = 'tuning'").fetchone()
        return int(n)
    except sqlite3.Error:  # tables not created yet, or locked for a moment
        return 0


@pytest.mark.parametrize(
    "sampler",
    [pytest.param(s, marks=() if s == "tpe" else pytest.mark.slow) for s in SAMPLERS],
)
def test_a_rerun_after_a_kill_mid_tuning_ends_with_exactly_the_budgeted_trials(
    sampler: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    points, best, _ = reference(sampler, tmp_path_factory)
    path = study_suite(tmp_path / f"{sampler}.yaml", sampler)
    results = tmp_path / "r"
    cmd = [sys.executable, "-m", "benchmark.cli", "tune", str(path), "--results-dir", str(results),
           "--workers", "1", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    db = results / sampler / "bnnbench.db"
    deadline = time.monotonic() + 120
    while _tuning_runs(db) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    stored = _tuning_runs(db)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert 3 <= stored < 8, f"killed after {stored} of 8 runs: not mid-tuning"
    result = tune_suite(path, results_dir=results, workers=1, progress=False)
    assert result.exit_code == 0
    assert study_points(path, db_url(results, sampler)) == points  # exactly 4 per cell, done
    assert result.tuning.best_params == best
    assert Store(db_url(results, sampler), read_only=True).runs_frame(sampler).shape[0] == 8


# ------------------------------------------------------------------------- the grid
def test_grid_axes_by_hand() -> None:
    space = {
        "lr": {"low": 1e-3, "high": 1e-1, "log": True},
        "momentum": {"low": 0.0, "high": 0.9},
        "nesterov": {"choices": [False, True]},
    }
    axes = grid_axes(space, 18)  # 3 x 3 x 2
    assert axes["lr"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert axes["momentum"] == pytest.approx([0.0, 0.45, 0.9])
    assert axes["nesterov"] == [False, True]
    assert grid_axes({"k": {"low": 1, "high": 9, "int": True}}, 5)["k"] == [1, 3, 5, 7, 9]
    with pytest.raises(GridError, match="grids of 8, 18, 32"):
        grid_axes(space, 16)


def test_a_trial_budget_that_is_no_grid_is_refused_naming_the_optimizer(tmp_path: Path) -> None:
    path = study_suite(tmp_path / "g.yaml", "grid", trials=8)  # adam: 8 ok; sgd: not k^2
    with pytest.raises(BnnBenchError) as err:
        load_suite(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: tuning.trials: 8 is not a full grid")
    assert "optimizers[0] (sgd, tuning lr, momentum)" in msg and "\n" not in msg


# ------------------------------------------------------------------------- halving
def test_rungs_and_promotions_by_hand() -> None:
    assert rungs(9, 1, 3) == [1, 3, 9]
    assert rungs(5, 1, 3) == [1, 3, 5]
    assert rungs(10, 2, 3) == [2, 6, 10]
    assert rungs(4, 1, 2) == [1, 2, 4]
    assert rungs(7) == [7]
    assert [keep_count(n, 3) for n in (1, 2, 3, 8, 9)] == [1, 1, 1, 2, 3]
    # best first, ties to the lower number, a failed trial (None) never goes on
    assert promote({0: 0.5, 1: 0.9, 2: 0.7, 3: 0.9, 4: None, 5: 0.1}, 3) == [1, 3]
    assert promote({0: None, 1: 0.2}, 3) == [1]


def _outcome(score: float) -> tuple[str, dict[str, float]]:
    return ("completed", {"final_val_accuracy": score})


def test_halving_keeps_the_right_trials_at_each_rung_and_counts_stopped_epochs(
    tmp_path: Path,
) -> None:
    """9 trials, eta 3, rungs 1/3/9 epochs, 2 seeds: scores fixed by hand per rung."""
    path = write_suite(
        tmp_path / "h.yaml",
        optimizers=[OPTIMIZERS[1]],
        reference="adam",
        epochs=9,
        tuning={"trials": 9, "seeds_per_trial": 2, "halving": {"min_epochs": 1, "eta": 3}},
    )
    suite = load_suite(path)
    (cell,) = cells(suite)
    points = {n: {"lr": 10.0 ** -(1 + n / 4)} for n in range(9)}
    rung0 = {0: (0.5, 0.5), 1: (0.6, 0.8), 2: (0.2, 0.2), 3: (0.7, 0.7), 4: (0.9, 0.5),
             5: (0.1, 0.1), 6: (0.7, 0.7), 7: (0.3, 0.3), 8: (0.0, 0.0)}  # fmt: skip
    # means: 0.5 0.7 0.2 0.7 0.7 0.1 0.7 0.3 0.0 -> keep 3: trials 1, 3, 4 (ties: lower number)
    outcomes: dict[str, Any] = {}
    for n, scores in rung0.items():
        for spec, score in zip(trial_run_specs(suite, cell, points[n], 1), scores, strict=True):
            outcomes[spec.run_id] = _outcome(score)
    trials = evaluate_round(suite, cell, points, outcomes)
    assert [len(t.rungs) for t in trials] == [1, 2, 1, 2, 2, 1, 1, 1, 1]
    assert [t.stopped for t in trials] == [True, False, True, False, False, True, True, True, True]
    assert not any(t.final for t in trials)  # rung 2 not decided: its runs are missing
    for spec in trials[1].rungs[1].specs:
        assert (spec.stop_epoch, spec.epochs) == (3, 9)
    rung1 = {1: (0.8, 0.8), 3: (0.9, 0.7), 4: (0.6, 0.6)}  # means 0.8 0.8 0.6 -> trial 1
    for n, scores in rung1.items():
        for spec, score in zip(trial_run_specs(suite, cell, points[n], 3), scores, strict=True):
            outcomes[spec.run_id] = _outcome(score)
    trials = evaluate_round(suite, cell, points, outcomes)
    assert [n for n, t in enumerate(trials) if not t.stopped] == [1]
    assert trials[1].rungs[2].specs[0].stop_epoch is None  # the last rung trains to the end
    for spec, score in zip(trial_run_specs(suite, cell, points[1], 9), (0.95, 0.85), strict=True):
        outcomes[spec.run_id] = _outcome(score)
    trials = evaluate_round(suite, cell, points, outcomes)
    result = summarize([(cell, trials)], halving=True)
    assert result.best_trial[cell.key] == 1 and result.best_score[cell.key] == pytest.approx(0.9)
    assert result.counts[cell.key]["stopped"] == 8
    # epochs: 6 trials stopped at rung 0 (1 epoch x 2 seeds), 2 at rung 1 ((1 + 3) x 2), the
    # winner (1 + 3 + 9) x 2: 12 + 16 + 26
    assert sum(t.epochs_spent(outcomes) for t in trials) == 54
    assert trials[3].score == pytest.approx(0.8) and trials[3].last.spread == pytest.approx(
        statistics.stdev([0.9, 0.7])
    )


def test_a_halving_study_end_to_end_multi_seed_scores_are_the_means_of_stored_runs(
    tmp_path: Path,
) -> None:
    """4 trials x 2 seeds, rungs 1/2/4 epochs (eta 2): 4, 2, 1 trials run at each rung."""
    path = write_suite(
        tmp_path / "hs.yaml",
        optimizers=[OPTIMIZERS[1]],
        reference="adam",
        seeds=[0],
        epochs=4,
        lr_schedule={"name": "cosine"},  # a stopped run is the prefix of the full-length one
        tuning={"trials": 4, "seeds_per_trial": 2, "halving": {"min_epochs": 1, "eta": 2}},
    )
    result = run_suite(path, results_dir=tmp_path / "r", workers=1, progress=False, report=False)
    assert result.exit_code == 0
    url = db_url(tmp_path / "r", "hs")
    store = Store(url, read_only=True)
    runs = store.runs_frame("hs", role="tuning")
    stops = runs["stop_epoch"]
    assert sorted(stops.fillna(4).astype(int).tolist()) == [1] * 8 + [2] * 4 + [4] * 2
    assert sorted(runs["seed"].tolist()) == [1_000_000] * 7 + [1_000_001] * 7  # trial_seeds
    # the 2-epoch run of a trial repeats its 1-epoch run's first epoch exactly
    lr = lambda h: h["lr"]  # noqa: E731
    two = runs[stops == 2].iloc[0]
    one = runs[(stops == 1) & (runs["hparams"].map(lr) == lr(two["hparams"]))
               & (runs["seed"] == two["seed"])].iloc[0]  # fmt: skip
    values = store.metrics_frame([one["run_id"], two["run_id"]], names=["loss"])
    first = values[values["epoch"] <= 1.0].pivot_table(
        index=["step", "split"], columns="run_id", values="value"
    )
    assert (first[one["run_id"]] == first[two["run_id"]]).all() and len(first) >= 4

    trials = load_results(path, results_dir=tmp_path / "r").trials
    assert len(trials) == 4 and trials["stopped"].tolist().count(True) == 3
    for _, trial in trials.iterrows():  # the score: the mean of its seeds' stored runs
        at_rung = runs[(runs["hparams"].map(lr) == trial["param.lr"])
                       & (stops.fillna(4).astype(int) == trial["epochs"])]  # fmt: skip
        scores = at_rung["summary.final_val_accuracy"].tolist()
        assert len(scores) == 2 and trial["seeds"] == 2
        assert trial["score"] == pytest.approx(statistics.fmean(scores), abs=1e-12)
        assert trial["score_sd"] == pytest.approx(statistics.stdev(scores), abs=1e-12)
        mine = runs[runs["hparams"].map(lr) == trial["param.lr"]]
        assert trial["epochs_spent"] == mine["stop_epoch"].fillna(mine["epochs"]).sum()
        spent = (mine["train_seconds"] + mine["eval_seconds"]).sum()
        assert trial["seconds"] == pytest.approx(spent)
    assert trials["epochs_spent"].sum() == 8 * 1 + 4 * 2 + 2 * 4  # stopped trials count
    # the study: the winner COMPLETE with the mean, the others PRUNED with their rung scores
    (cell,) = cells(load_suite(path))
    study = optuna.load_study(study_name=study_name(load_suite(path), cell), storage=url)
    best = trials[trials["best"]].iloc[0]
    states = {t.number: t.state for t in study.trials}
    assert states[int(best["trial"])] == TrialState.COMPLETE
    assert study.trials[int(best["trial"])].value == pytest.approx(best["score"])
    assert sorted(states.values(), key=str).count(TrialState.PRUNED) == 3
    for t in study.trials:
        row = trials[trials["trial"] == t.number].iloc[0]
        assert set(t.intermediate_values) == {1, 2, 4}.intersection(
            range(1, int(row["epochs"]) + 1)
        )
        assert t.intermediate_values[int(row["epochs"])] == pytest.approx(row["score"])
    # the final runs use the best point
    finals = store.runs_frame("hs", role="final")
    assert finals["hparams"].map(lr).tolist() == [pytest.approx(best["param.lr"])]
    assert not math.isnan(best["score"])


# ------------------------------------------------------------------------- studies edited by hand
def test_studies_deleted_by_hand_read_as_no_trials_and_a_vanished_study_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.cli import main
    from benchmark.tune import evaluate_round, open_storage, open_study, tell_round

    path = study_suite(tmp_path / "gone.yaml", "random", trials=2)
    assert tune_suite(path, results_dir=tmp_path / "r", workers=1, progress=False).exit_code == 0
    url = db_url(tmp_path / "r", "gone")
    suite = load_suite(path)
    cell = cells(suite)[0]
    study = open_study(suite, cell, open_storage(url), url)  # as a running suite holds it
    for c in cells(suite):  # e.g. in optuna-dashboard
        optuna.delete_study(study_name=study_name(suite, c), storage=url)
    res = load_results(path, results_dir=tmp_path / "r")
    assert res.trials.empty and "param.lr" not in res.trials.columns
    assert main(["show", str(path), "--results-dir", str(tmp_path / "r")]) == 0
    assert "suite 'gone': no runs stored in" in capsys.readouterr().out
    with pytest.raises(BnnBenchError, match=r"disappeared while the suite ran .* rerun") as err:
        tell_round(study, evaluate_round(suite, cell, {0: {"lr": 0.01, "momentum": 0.5}}, {}), url)
    assert "\n" not in str(err.value)
    # the rerun rebuilds the studies with the same points and trains nothing again
    again = tune_suite(path, results_dir=tmp_path / "r", workers=1, progress=False)
    assert again.phases["tuning"].stored == 0


# ------------------------------------------------------------------------- bnnbench tune
def test_tune_prints_each_best_point_and_run_continues_from_the_studies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.cli import main

    path = study_suite(tmp_path / "t.yaml", "tpe", trials=2, batch=1)
    args = [str(path), "--results-dir", str(tmp_path / "r"), "--workers", "1", "--quiet"]
    assert main(["tune", *args]) == 0
    out = capsys.readouterr().out
    assert "4 tuning trials (tpe, rounds of 1), store" in out  # no final runs counted
    assert "tuning, round 2/2: done" in out
    best = [line for line in out.splitlines() if line.startswith("tuned ")]
    assert [line.split(":")[0] for line in best] == [
        "tuned mlp/synthetic/sgd",
        "tuned mlp/synthetic/adam",
    ]
    assert "final runs: done" not in out and "report:" not in out
    assert Store(db_url(tmp_path / "r", "t"), read_only=True).runs_frame("t", role="final").empty
    assert main(["run", *args]) == 0
    out = capsys.readouterr().out
    assert "tuning: nothing to run, 4 already stored (resumed)" in out
    assert [line for line in out.splitlines() if line.startswith("tuned ")] == best
    assert "final runs: done" in out


def test_tune_refuses_a_suite_that_does_not_tune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmark.cli import main

    path = write_suite(tmp_path / "plain.yaml")
    assert main(["tune", str(path), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == "bnnbench: error: suite 'plain' does not tune (tuning.trials is 0); nothing to tune"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("tuning", "expected"),
    [
        ({"trials": 2, "seed": 4294967295, "seeds_per_trial": 2},
         "tuning.seed: trial seeds run from 1,000,000 + tuning.seed to that + seeds_per_trial "
         "- 1 = 4295967296, past the largest seed 4294967295, got 4294967295"),
        ({"trials": 2, "epochs": 3, "halving": {"min_epochs": 3}},
         "tuning.halving.min_epochs: must be below the tuning epochs (3), got 3; allowed: 1 to 2"),
        ({"trials": 2, "epochs": 3, "halving": {"min_epochs": 1, "eta": 1}},
         "tuning.halving.eta: "),
        ({"trials": 2, "sampler": "bayes"}, "tuning.sampler: "),
        ({"trials": 2, "seeds_per_trial": 101}, "tuning.seeds_per_trial: out of range, got 101"),
        ({"trials": 2, "pruner": "median"}, "use tuning.halving (synchronous successive halving)"),
    ],
)  # fmt: skip
def test_bad_tuning_settings_are_one_line_errors(
    tmp_path: Path, tuning: dict[str, Any], expected: str
) -> None:
    path = write_suite(tmp_path / "bad.yaml", tuning=tuning)
    with pytest.raises(BnnBenchError) as err:
        load_suite(path)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(str(path))


def test_runs_an_executor_did_not_store_stop_tuning_instead_of_looping(tmp_path: Path) -> None:
    """run_tuning asks the executor again only for runs it has not asked for before: an
    executor that returns without storing (and without being interrupted) is an error."""
    from benchmark.execute import ExecutionReport
    from benchmark.tune import run_tuning

    suite = load_suite(study_suite(tmp_path / "lost.yaml", "qmc", trials=2))
    store = Store(f"sqlite:///{tmp_path / 'lost.db'}")
    calls: list[int] = []

    def forgetful(specs: list, title: str) -> ExecutionReport:
        calls.append(len(specs))
        return ExecutionReport(total=len(specs))

    with pytest.raises(BnnBenchError, match=r"^tuning: 4 trial runs were executed but not stored"):
        run_tuning(suite, store, forgetful)
    assert calls == [4]


@pytest.mark.parametrize("sampler", ["tpe", "cmaes"])
def test_adaptive_samplers_with_halving_tell_one_winner_per_round(
    sampler: str, tmp_path: Path
) -> None:
    """Rounds of 2 trials, rungs 1/2 epochs, eta 2: each round keeps one trial to the end; the
    stopped ones are PRUNED with their rung score, the model sees both (4 trials, 2 rounds)."""
    path = write_suite(
        tmp_path / f"{sampler}.yaml",
        optimizers=OPTIMIZERS,
        reference="adam",
        seeds=[0],
        epochs=2,
        tuning={
            "trials": 4,
            "batch": 2,
            "sampler": sampler,
            "seeds_per_trial": 2,
            "halving": {"min_epochs": 1, "eta": 2},
        },  # fmt: skip
    )
    result = tune_suite(path, results_dir=tmp_path / "r", workers=1, progress=False)
    assert result.exit_code == 0
    url = db_url(tmp_path / "r", sampler)
    suite = load_suite(path)
    for cell in cells(suite):
        study = optuna.load_study(study_name=study_name(suite, cell), storage=url)
        states = [t.state for t in study.trials]
        for first in (0, 2):  # one winner per round
            assert sorted(map(str, states[first : first + 2])) == [
                str(TrialState.COMPLETE),
                str(TrialState.PRUNED),
            ]
        for t in study.trials:
            assert t.intermediate_values[1] is not None
            assert len(t.user_attrs["run_ids"]) == (4 if t.state == TrialState.COMPLETE else 2)
        assert result.tuning.counts[cell.key]["stopped"] == 2
        best = study.best_trial  # among COMPLETE trials: the same as bnnbench's choice
        assert result.tuning.best_trial[cell.key] == best.number
    # 4 trials x 2 seeds at rung 1, then 2 x 2 at rung 2, per cell
    runs = Store(url, read_only=True).runs_frame(sampler, role="tuning")
    assert len(runs) == 2 * (8 + 4)


def test_a_trial_that_failed_at_a_lower_rung_is_failed_not_stopped(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path / "f.yaml",
        optimizers=[OPTIMIZERS[1]],
        reference="adam",
        epochs=4,
        tuning={"trials": 4, "halving": {"min_epochs": 1, "eta": 2}},
    )
    suite = load_suite(path)
    (cell,) = cells(suite)
    points = {n: {"lr": 10.0 ** -(1 + n)} for n in range(4)}
    outcomes: dict[str, Any] = {}
    for n, outcome in enumerate([_outcome(0.5), ("failed", {}), _outcome(0.7), _outcome(0.6)]):
        outcomes[trial_run_specs(suite, cell, points[n], 1)[0].run_id] = outcome
    trials = evaluate_round(suite, cell, points, outcomes)
    assert [len(t.rungs) for t in trials] == [1, 1, 2, 2]  # keep 2 of 4: trials 2 and 3
    assert [t.stopped for t in trials] == [True, False, False, False]
    assert trials[1].last.status == "failed" and trials[1].score is None
    counts = summarize([(cell, trials)], halving=True).counts[cell.key]
    assert counts["failed"] == 1 and counts["stopped"] == 1 and counts["missing"] == 2
