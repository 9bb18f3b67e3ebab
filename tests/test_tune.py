"""Fair tuning with Optuna: points drawn up front, scores, studies in the suite's database,
resume, and the final runs using each cell's best point. Real Optuna, real SQLite."""

from __future__ import annotations

import math
import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from scipy.stats import qmc

from benchmark.cli import main
from benchmark.errors import BnnBenchError
from benchmark.store import Store
from benchmark.suite import cell_search_space, cells, expand_final_runs, load_suite
from benchmark.tune import (
    WORST,
    ask_round,
    distributions,
    evaluate_round,
    open_storage,
    open_study,
    qmc_points,
    study_name,
    summarize,
    tell_round,
    trial_run_specs,
    trial_score,
    unit_to_value,
)
from tests.conftest import write_suite


# ----------------------------------------------------------------------------- points
def test_unit_to_value_maps_each_kind_of_range_by_hand() -> None:
    assert unit_to_value(0.5, {"low": 1e-4, "high": 1e-2, "log": True}) == pytest.approx(1e-3)
    assert unit_to_value(0.25, {"low": 0.0, "high": 2.0}) == pytest.approx(0.5)
    integer = {"low": 1, "high": 8, "int": True}
    assert [unit_to_value(u, integer) for u in (0.0, 0.124, 0.125, 0.999)] == [1, 1, 2, 8]
    log_int = {"low": 1, "high": 7, "int": True, "log": True}  # log(1)..log(8): u=1/3 -> 2
    assert unit_to_value(1 / 3 + 1e-9, log_int) == 2
    assert [unit_to_value(u, {"choices": ["a", "b", "c"]}) for u in (0.0, 0.5, 0.99)] == [
        "a",
        "b",
        "c",
    ]


def test_points_are_the_seeded_sobol_sequence_mapped_onto_the_space() -> None:
    space = {"lr": {"low": 1e-5, "high": 1e-1, "log": True}, "momentum": {"low": 0.0, "high": 0.9}}
    points = qmc_points(space, 8, seed=3)
    units = qmc.Sobol(d=2, scramble=True, seed=3).random(8)  # dims: sorted keys
    for point, (u_lr, u_m) in zip(points, units, strict=True):
        assert point["lr"] == pytest.approx(math.exp(math.log(1e-5) + u_lr * math.log(1e4)))
        assert point["momentum"] == pytest.approx(0.9 * u_m)
    assert qmc_points(space, 8, seed=3) == points  # reproducible
    assert qmc_points(space, 8, seed=4) != points
    assert qmc_points({}, 3, seed=0) == [{}, {}, {}]


# ----------------------------------------------------------------------------- scores
def test_trial_scores() -> None:
    assert trial_score(("completed", {"final_val_accuracy": 0.75})) == 0.75
    assert trial_score(("diverged", {"final_val_accuracy": 0.6})) == WORST == 0.0
    assert trial_score(("completed", {"final_val_accuracy": float("nan")})) == WORST
    assert trial_score(("failed", {})) is None
    assert trial_score(None) is None


def tuned_suite(tmp_path: Path, trials: int = 3, **overrides: object) -> Path:
    return write_suite(
        tmp_path / "tuned.yaml",
        tuning={"trials": trials, "epochs": 1, "seed": 0},
        epochs=1,
        **overrides,
    )


def _asked(suite, url: str, numbers: range):
    """The single cell's study with trials ``numbers`` asked: (cell, study, points)."""
    (cell,) = cells(suite)
    study = open_study(suite, cell, open_storage(url), url)
    return cell, study, ask_round(suite, cell, study, list(numbers), url)


def test_tell_and_select_scores_fails_and_breaks_ties_by_draw_order(tmp_path: Path) -> None:
    suite = load_suite(tuned_suite(tmp_path, trials=4, optimizers=["adam"], reference="adam"))
    url = f"sqlite:///{tmp_path}/t.db"
    cell, study, points = _asked(suite, url, range(4))
    ids = [trial_run_specs(suite, cell, points[i], 1)[0].run_id for i in range(4)]
    outcomes = {
        ids[0]: ("completed", {"final_val_accuracy": 0.5}),
        ids[1]: ("diverged", {"final_val_accuracy": 0.9}),  # scores 0, not 0.9
        ids[2]: ("completed", {"final_val_accuracy": 0.8}),
        ids[3]: ("completed", {"final_val_accuracy": 0.8}),  # tie: trial 2 wins
    }
    trials = evaluate_round(suite, cell, points, outcomes)
    tell_round(study, trials, url)
    result = summarize([(cell, trials)])
    key = cell.key
    assert result.best_params[key] == points[2]
    assert result.best_score[key] == 0.8 and result.best_trial[key] == 2
    assert result.counts[key] == {"completed": 3, "diverged": 1, "failed": 0, "missing": 0}
    study = optuna.load_study(study_name=study_name(suite, cell), storage=url)
    assert [t.value for t in study.trials] == [0.5, 0.0, 0.8, 0.8]
    assert study.best_trial.number == 2
    # a failed trial is told FAIL and the cell picks among the others; a bigger budget is a
    # new study whose first points are the same Sobol points (so the same runs)
    suite5 = load_suite(tuned_suite(tmp_path, trials=5, optimizers=["adam"], reference="adam"))
    cell5, study5, points5 = _asked(suite5, url, range(5))
    assert [trial_run_specs(suite5, cell5, points5[i], 1)[0].run_id for i in range(4)] == ids
    failed = trial_run_specs(suite5, cell5, points5[4], 1)[0].run_id
    trials5 = evaluate_round(suite5, cell5, points5, {**outcomes, failed: ("failed", {})})
    tell_round(study5, trials5, url)
    result = summarize([(cell5, trials5)])
    study = optuna.load_study(study_name=study_name(suite5, cell5), storage=url)
    assert study.trials[4].state == TrialState.FAIL
    assert result.best_params[key] == points[2]
    assert result.counts[key]["failed"] == 1


# ----------------------------------------------------------------------------- end to end
def test_run_tunes_every_cell_then_runs_its_best_point(tmp_path: Path, capsys) -> None:
    path = tuned_suite(tmp_path)
    results = tmp_path / "r"
    assert main(["run", str(path), "--results-dir", str(results), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 tuning trials (qmc) + 4 final runs" in out
    suite = load_suite(path)
    db = results / "tuned" / "bnnbench.db"
    url = f"sqlite:///{db}"
    store = Store(url)
    trials = store.runs_frame("tuned", role="tuning")
    finals = store.runs_frame("tuned", role="final")
    assert len(trials) == 6 and set(trials["split"]) == {"val"} and set(trials["epochs"]) == {1}
    assert len(finals) == 4 and set(finals["split"]) == {"test"}
    order = {
        trial_run_specs(suite, cell, point, 1)[0].run_id: i
        for cell in cells(suite)
        for i, point in enumerate(qmc_points(cell_search_space(cell), 3, suite.tuning.seed))
    }
    for cell in cells(suite):
        study = optuna.load_study(study_name=study_name(suite, cell), storage=url)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        space = cell_search_space(cell)
        assert [t.params for t in study.trials] == [
            pytest.approx(p) for p in qmc_points(space, 3, suite.tuning.seed)
        ]
        # the best trial, recomputed from the stored runs: highest val accuracy, then draw order
        mine = trials[trials["optimizer"] == cell.optimizer.name]
        best = max(
            (row for _, row in mine.iterrows()),
            key=lambda r: (r["summary.final_val_accuracy"], -order[r["run_id"]]),
        )
        assert study.best_trial.number == order[best["run_id"]]
        tuned = {k: best["hparams"][k] for k in space}
        for hparams in finals[finals["optimizer"] == cell.optimizer.name]["hparams"]:
            assert {k: hparams[k] for k in space} == pytest.approx(tuned)
        assert f"tuned {cell.key}: " in out
    report = (results / "tuned" / "report" / "REPORT.md").read_text()
    assert re.search(r"^## \d+\. Tuning$", report, re.M) and "seeded Sobol points" in report
    # a rerun adds no trial and no run
    assert main(["run", str(path), "--results-dir", str(results), "--workers", "1", "--quiet"]) == 0
    assert "6 already stored" in capsys.readouterr().out
    for cell in cells(suite):
        study = optuna.load_study(study_name=study_name(suite, cell), storage=url)
        assert len(study.trials) == 3
    assert len(Store(url).runs_frame("tuned")) == 10


def test_trials_asked_but_never_told_are_told_on_the_rerun(tmp_path: Path) -> None:
    """A kill between asking and telling leaves RUNNING trials; the rerun tells them."""
    path = tuned_suite(tmp_path)
    results = tmp_path / "r"
    (results / "tuned").mkdir(parents=True)
    url = f"sqlite:///{results / 'tuned' / 'bnnbench.db'}"
    suite = load_suite(path)
    storage = open_storage(url)
    names = []
    for cell in cells(suite):  # asked: RUNNING, nothing run yet
        study = open_study(suite, cell, storage, url)
        ask_round(suite, cell, study, [0, 1, 2], url)
        assert all(t.state == TrialState.RUNNING for t in study.trials)
        names.append(study.study_name)
    assert main(["run", str(path), "--results-dir", str(results), "--workers", "1", "--quiet"]) == 0
    for name in names:
        study = optuna.load_study(study_name=name, storage=url)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_a_study_whose_points_differ_from_the_draw_is_refused(tmp_path: Path) -> None:
    suite = load_suite(tuned_suite(tmp_path, trials=2, optimizers=["adam"], reference="adam"))
    url = f"sqlite:///{tmp_path}/t.db"
    (cell,) = cells(suite)
    study = optuna.create_study(storage=url, study_name=study_name(suite, cell))
    study.enqueue_trial({"lr": 0.05})  # not the Sobol point
    study.ask(distributions(cell_search_space(cell)))
    with pytest.raises(BnnBenchError, match="trial 0 of study .* rerun with --fresh"):
        _asked(suite, url, range(2))


def test_fresh_deletes_the_studies_and_a_changed_budget_is_a_new_study(
    tmp_path: Path, capsys
) -> None:
    path = tuned_suite(tmp_path, trials=2)
    args = ["run", str(path), "--results-dir", str(tmp_path / "r"), "--workers", "1", "--quiet"]
    assert main(args) == 0
    url = f"sqlite:///{tmp_path / 'r' / 'tuned' / 'bnnbench.db'}"
    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    assert len(names) == 2
    suite = load_suite(tuned_suite(tmp_path, trials=2, batch_size=16))
    assert {study_name(suite, c) for c in cells(suite)}.isdisjoint(names)
    assert main([*args, "--fresh"]) == 0
    assert "--fresh: deleted 2 tuning studies" in capsys.readouterr().out
    assert len(optuna.get_all_study_summaries(url)) == 2  # recreated by the fresh run
    assert expand_final_runs(suite)  # the grid itself is unchanged
