"""The tuning part of a report (report/tuning.py, the tuning figures and expected best-of-k,
summary.json's tuning entries) on hand-built trials frames of the per-trial shape
(benchmark.results.trials_frame): several seeds per trial, trials stopped by successive
halving, a 2-D grid; every number checked against a value computed by hand."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats as scipy_stats

from benchmark.tune import TuningResult
from report.analysis import expected_max_curves, final_trials
from report.blocks import Figure, Paragraph, Table
from report.figures import sensitivity_figure, sensitivity_slices, t_interval
from report.markup import render_section
from report.summary_json import build_summary, schema, tuning_part
from report.training import tuning_extras
from report.tuning import compute_table, tuning_intro, tuning_section, tuning_table
from tests.conftest import write_suite

COLUMNS = [
    "model", "dataset", "optimizer", "trial", "status", "score", "score_sd", "seeds", "rung",
    "epochs", "stopped", "epochs_spent", "seconds", "run_id", "best",
]  # fmt: skip


def trial(
    cell: str, number: int, point: dict[str, Any], *, score: float, sd: float = math.nan,
    seeds: int = 3, status: str = "completed", rung: int = 1, epochs: int = 3,
    stopped: bool = False, spent: int = 9, seconds: float = 1.0, best: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """One row of the trials frame: ``cell`` is ``model/dataset/optimizer``."""
    model, dataset, optimizer = cell.split("/")
    return {
        "model": model, "dataset": dataset, "optimizer": optimizer, "trial": number,
        **{f"param.{k}": v for k, v in point.items()}, "status": status, "score": score,
        "score_sd": sd, "seeds": seeds, "rung": rung, "epochs": epochs, "stopped": stopped,
        "epochs_spent": spent, "seconds": seconds, "run_id": f"{cell}/{number}", "best": best,
    }  # fmt: skip


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    params = sorted(c for c in out.columns if c.startswith("param."))
    return out[COLUMNS[:4] + params + COLUMNS[4:]]


# halving (min_epochs 1, eta 3, tuning epochs 3 -> rungs 1, 3), 3 seeds per trial, a round of
# 6 trials: 6 // 3 = 2 go on to 3 epochs. A stopped trial spent 3 runs x 1 epoch = 3 epochs;
# one that went on 3 x 1 + 3 x 3 = 12.
ADAM = "mlp/digits/adam"
HALVING_ROWS = [
    trial(ADAM, 0, {"lr": 1e-4}, score=0.62, sd=0.03, epochs=1, stopped=True, spent=3,
          seconds=1.5),
    trial(ADAM, 1, {"lr": 1e-3}, score=0.93, sd=0.012, rung=2, spent=12, seconds=6.0,
          best=True),
    trial(ADAM, 2, {"lr": 3e-3}, score=0.70, sd=0.05, epochs=1, stopped=True, spent=3,
          seconds=1.5),
    trial(ADAM, 3, {"lr": 1.0}, score=0.0, sd=0.0, status="diverged", epochs=1, stopped=True,
          spent=3, seconds=1.5),
    trial(ADAM, 4, {"lr": 1e-2}, score=0.91, sd=0.02, rung=2, spent=12, seconds=6.0),
    trial(ADAM, 5, {"lr": 0.3}, score=math.nan, status="failed", epochs=1, stopped=True,
          spent=3, seconds=1.5),
]  # fmt: skip
# a second cell of adam without a stopped trial, to sum an optimizer over cells
ADAM2 = "mlp/synthetic/adam"
SECOND_CELL = [
    trial(ADAM2, 0, {"lr": 1e-3}, score=0.80, sd=0.01, rung=2, spent=12, seconds=2.0,
          best=True),
    trial(ADAM2, 1, {"lr": 1e-2}, score=0.75, sd=0.02, rung=2, spent=12, seconds=2.5),
]  # fmt: skip
# a 3 x 2 grid of Bop's (threshold, gamma), 3 seeds, no halving; best: (1e-7, 1e-3)
BOP = "mlp/digits/bop"
GRID = {
    (1e-8, 1e-4): (0.70, 0.010), (1e-8, 1e-3): (0.80, 0.020),
    (1e-7, 1e-4): (0.75, 0.030), (1e-7, 1e-3): (0.90, 0.015),
    (1e-6, 1e-4): (0.60, 0.040), (1e-6, 1e-3): (0.85, 0.025),
}  # fmt: skip
GRID_ROWS = [
    trial(BOP, i, {"threshold": t, "gamma": g}, score=m, sd=s, seconds=2.0,
          best=(t, g) == (1e-7, 1e-3))
    for i, ((t, g), (m, s)) in enumerate(GRID.items())
]  # fmt: skip


def result_for(rows: list[dict[str, Any]], *, halving: bool) -> TuningResult:
    """The TuningResult benchmark.tune.summarize gives for these trials."""
    out = TuningResult()
    data = pd.DataFrame(rows)
    for (model, dataset, optimizer), group in data.groupby(["model", "dataset", "optimizer"]):
        key = f"{model}/{dataset}/{optimizer}"
        counts = {s: int((group["status"] == s).sum()) for s in
                  ("completed", "diverged", "failed", "missing")}  # fmt: skip
        if halving:
            counts["stopped"] = int(group["stopped"].sum())
        out.counts[key] = counts
        best = group[group["best"]].iloc[0]
        params = {c.removeprefix("param."): best[c] for c in group if c.startswith("param.")}
        out.best_params[key] = {k: v for k, v in params.items() if pd.notna(v)}
        out.best_score[key] = float(best["score"])
        out.best_trial[key] = int(best["trial"])
    return out


def tuning_config(
    sampler: str = "qmc", *, trials: int = 6, batch: int | None = None, seeds: int = 1,
    halving: tuple[int, int] | None = None, seed: int = 0,
) -> SimpleNamespace:  # fmt: skip
    half = SimpleNamespace(min_epochs=halving[0], eta=halving[1]) if halving else None
    tuning = SimpleNamespace(sampler=sampler, batch=batch, seeds_per_trial=seeds, halving=half,
                             trials=trials, seed=seed, defaults=False)  # fmt: skip
    return tuning


def suite_of(tuning: SimpleNamespace, epochs: int = 3) -> SimpleNamespace:
    return SimpleNamespace(tuning=tuning, tuning_epochs=epochs)


def check_png(path: Path | None) -> None:
    assert path is not None and path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        image.verify()


# ----------------------------------------------------------------------------- the table
def test_the_table_counts_trials_and_sums_every_run() -> None:
    rows = HALVING_ROWS + SECOND_CELL + GRID_ROWS
    table = tuning_table(frame(rows), result_for(rows, halving=True), halving=True)
    table = table.set_index(["dataset", "optimizer"])
    assert list(table.columns) == [
        "model", "trials", "diverged", "failed", "stopped early", "best val accuracy (points)",
        "best point", "tuning (epochs)", "tuning (s)",
    ]  # fmt: skip
    adam = table.loc[("digits", "adam")]
    assert (adam["trials"], adam["diverged"], adam["failed"], adam["stopped early"]) == (6, 1, 1, 4)
    assert adam["best val accuracy (points)"] == "93.0 ± 1.2 (3 seeds)"  # sd 0.012: 1.2 points
    assert adam["best point"] == "lr=0.001"
    assert adam["tuning (epochs)"] == 4 * 3 + 2 * 12  # stopped trials' runs count
    assert adam["tuning (s)"] == pytest.approx(4 * 1.5 + 2 * 6.0)
    bop = table.loc[("digits", "bop")]
    assert (bop["trials"], bop["diverged"], bop["failed"], bop["stopped early"]) == (6, 0, 0, 0)
    assert bop["best val accuracy (points)"] == "90.0 ± 1.5 (3 seeds)"
    assert bop["best point"] == "gamma=0.001, threshold=1e-07"
    assert (bop["tuning (epochs)"], bop["tuning (s)"]) == (6 * 9, pytest.approx(6 * 2.0))

    cost = compute_table(table.reset_index()).set_index("optimizer")
    assert cost.loc["adam", "cells"] == 2 and cost.loc["adam", "trials"] == 8
    assert cost.loc["adam", "tuning (epochs)"] == 36 + 24
    assert cost.loc["adam", "tuning (s)"] == pytest.approx(18.0 + 4.5)
    assert cost.loc["bop", "tuning (epochs)"] == 54


def test_one_seed_shows_the_plain_score_and_no_stopped_column() -> None:
    rows = [
        trial(BOP, 0, {"threshold": 1e-8}, score=0.7, seeds=1, spent=3, seconds=1.0),
        trial(BOP, 1, {"threshold": 1e-7}, score=0.8, seeds=1, spent=3, seconds=1.25, best=True),
    ]
    table = tuning_table(frame(rows), result_for(rows, halving=False))
    assert "stopped early" not in table and "not run" not in table
    assert table.loc[0, "best val accuracy (points)"] == "80.0"
    assert (table.loc[0, "tuning (epochs)"], table.loc[0, "tuning (s)"]) == (6, 2.25)


def test_trials_not_run_yet_are_counted() -> None:
    rows = [
        trial(BOP, 0, {"threshold": 1e-8}, score=0.7, seeds=1, best=True),
        trial(BOP, 1, {"threshold": 1e-7}, score=math.nan, seeds=1, status="missing", spent=0,
              seconds=0.0),
    ]  # fmt: skip
    table = tuning_table(frame(rows), result_for(rows, halving=False))
    assert table.loc[0, "not run"] == 1 and table.loc[0, "tuning (epochs)"] == 9


def test_the_section_renders_the_table_and_the_compute() -> None:
    rows = HALVING_ROWS + GRID_ROWS
    suite = suite_of(tuning_config(seeds=3, halving=(1, 3)))
    section = tuning_section(suite, frame(rows), result_for(rows, halving=True))
    kinds = [type(b) for b in section.blocks]
    assert kinds == [Paragraph, Table, Paragraph, Table]
    markdown, html = render_section(section, Path("."))
    # the seconds with one decimal, as every "(s)" column
    cells = ["mlp/digits", "adam", "6", "1", "1", "4", "93.0 ± 1.2 (3 seeds)",
             "lr=0.001", "36", "18.0"]  # fmt: skip
    # Markdown: a table wider than GitHub's column is split, each part repeating the keys
    rows = [[c.strip() for c in line.strip().strip("|").split(" | ")]
            for line in markdown.splitlines() if line.startswith("| mlp/digits | adam |")]  # fmt: skip
    assert len(rows) >= 2 and all(row[:2] == cells[:2] for row in rows)
    assert [c for row in rows for c in row[2:]] == cells[2:]
    assert "\n".join(f"      <td>{c}</td>" for c in cells).replace("\\", "") in html
    assert "<td>90.0 ± 1.5 (3 seeds)</td>" in html
    empty = tuning_section(suite, pd.DataFrame(), TuningResult())
    assert "No tuning trials in the store yet." in render_section(empty, Path(".")).markdown


# ----------------------------------------------------------------------------- the intro
@pytest.mark.parametrize("sampler", ["qmc", "random", "grid", "tpe", "cmaes"])
@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("halving", [None, (1, 3)])
def test_the_intro_says_what_was_done(
    sampler: str, seeds: int, halving: tuple[int, int] | None
) -> None:
    batch = 5 if sampler == "random" else None
    text = tuning_intro(
        suite_of(
            tuning_config(sampler, trials=16, batch=batch, seeds=seeds, halving=halving, seed=7),
            epochs=9,
        )  # fmt: skip
    )
    assert text.startswith("Every optimizer of a cell got the same budget: 16 trials; points: ")
    words = {
        "qmc": "seeded Sobol points of its search space (seed 7), drawn up front",
        "random": "Optuna's RandomSampler, seeded (seed 7), asked in synchronous rounds of 5",
        "grid": "Optuna's GridSampler over a grid of exactly that many points, seeded (seed 7), "
        "all asked in one round",
        "tpe": "Optuna's TPESampler, seeded (seed 7), asked in synchronous rounds of 4",
        "cmaes": "Optuna's CmaEsSampler, seeded (seed 7), asked in synchronous rounds of 4",
    }
    assert words[sampler] in text
    assert ("Optuna" in text) == (sampler != "qmc")
    if seeds > 1:
        assert (
            "A trial is 3 runs of the same point with seeds 1000007, 1000008, 1000009; its score is their mean"
            in text
        )
    else:
        assert (
            "A trial is one run (seed 1000007); its score is its final validation accuracy." in text
        )
    if halving:
        assert "Synchronous successive halving: every trial of a round first runs 1 epoch;" in text
        assert "rungs at 1, 3, 9 epochs (factor 3)" in text
        assert "the best 1/3 of the round's trials" in text and "rung barriers" in text
        assert "keeps its last rung's score (at fewer epochs)" in text
    else:
        assert "halving" not in text and "Every trial runs 9 epochs." in text
    assert "a diverged run scores 0" in text
    assert "stopped trials included" in text


def test_the_intro_reads_a_real_suite(tmp_path: Path) -> None:
    from benchmark.suite import load_suite

    path = write_suite(
        tmp_path / "tuned.yaml",
        epochs=4,
        tuning={"trials": 8, "epochs": 4, "sampler": "tpe", "batch": 2, "seeds_per_trial": 2,
                "halving": {"min_epochs": 1, "eta": 2}, "seed": 3},
    )  # fmt: skip
    text = tuning_intro(load_suite(path))
    assert "Optuna's TPESampler, seeded (seed 3), asked in synchronous rounds of 2" in text
    assert "with seeds 1000003, 1000004;" in text and "rungs at 1, 2, 4 epochs (factor 2)" in text


# ----------------------------------------------------------------------------- figures
def test_the_sensitivity_slice_carries_t_intervals_over_seeds() -> None:
    slices = sensitivity_slices(frame(GRID_ROWS))
    assert set(slices["param"]) == {"threshold", "gamma"}
    assert len(slices) == 12  # 6 trials x 2 parameters
    line = slices[slices["in_slice"]]
    # threshold's slice: gamma = 1e-3 (the best's); gamma's slice: threshold = 1e-7
    by_param = {p: sorted(g["value"]) for p, g in line.groupby("param")}
    assert by_param == {"threshold": [1e-8, 1e-7, 1e-6], "gamma": [1e-4, 1e-3]}
    q = scipy_stats.t.ppf(0.975, df=2)  # 3 seeds
    for row in line.itertuples():
        point = (row.value, 1e-3) if row.param == "threshold" else (1e-7, row.value)
        mean, sd = GRID[point]
        assert row.score == mean and row.seeds == 3
        assert row.low == pytest.approx(mean - q * sd / math.sqrt(3), rel=1e-12)
        assert row.high == pytest.approx(mean + q * sd / math.sqrt(3), rel=1e-12)
    assert slices["best"].sum() == 2  # the best trial, once per parameter
    assert not slices["partial"].any()
    assert t_interval(0.9, 0.1, 1) == (pytest.approx(math.nan, nan_ok=True),) * 2
    assert np.isnan(t_interval(0.9, math.nan, 3)).all()


def test_stopped_trials_are_partial_and_off_the_line() -> None:
    slices = sensitivity_slices(frame(HALVING_ROWS), epochs=3)
    assert len(slices) == 5  # the failed trial has no score
    partial = slices.set_index("trial")["partial"]
    assert partial.to_dict() == {0: True, 1: False, 2: True, 3: True, 4: False}
    # a 1-D space: its slice is every trial at the full budget
    assert sorted(slices.loc[slices["in_slice"], "trial"]) == [1, 4]


def test_one_seed_and_no_slice_is_a_scatter() -> None:
    rows = [  # scattered (Sobol) points in 2-D: no other trial shares a coordinate
        trial(BOP, i, {"threshold": t, "gamma": g}, score=s, seeds=1, best=i == 1)
        for i, (t, g, s) in enumerate([(1e-8, 2e-4, 0.7), (3e-7, 1e-3, 0.9), (2e-6, 5e-5, 0.6)])
    ]
    slices = sensitivity_slices(frame(rows))
    assert slices["low"].isna().all() and slices["high"].isna().all()
    assert slices.loc[slices["in_slice"], "trial"].tolist() == [1, 1]  # the best point alone


def test_the_sensitivity_figure_is_written(tmp_path: Path) -> None:
    rows = HALVING_ROWS + SECOND_CELL + GRID_ROWS
    path = sensitivity_figure(frame(rows), tmp_path, log_params=("lr", "threshold", "gamma"),
                              epochs=3)  # fmt: skip
    assert path == tmp_path / "figures" / "tuning_sensitivity.png"
    check_png(path)
    assert sensitivity_figure(frame(rows).iloc[0:0], tmp_path) is None


def test_expected_best_of_k_ignores_stopped_trials() -> None:
    rows = HALVING_ROWS + [  # not stopped, but not at the last rung yet (a run in progress)
        trial(ADAM, 6, {"lr": 5e-4}, score=0.99, epochs=1, spent=3)
    ]
    data = frame(rows)
    assert sorted(final_trials(data, 3)["trial"]) == [1, 4]
    curves = expected_max_curves(data, epochs=3)
    # two scores at the full budget, 0.91 <= 0.93: E[max_1] = mean, E[max_2] = 0.91 * 1/4 +
    # 0.93 * (1 - 1/4)
    assert curves["k"].tolist() == [1, 2]
    assert curves["expected_max"].tolist() == pytest.approx([0.92, 0.91 / 4 + 0.93 * 3 / 4])
    # by default each cell's longest trials count: the same here
    assert expected_max_curves(data)["expected_max"].tolist() == curves["expected_max"].tolist()
    grid = expected_max_curves(frame(GRID_ROWS))
    assert grid["k"].max() == 6 and grid["expected_max"].iloc[0] == pytest.approx(
        np.mean([m for m, _ in GRID.values()])
    )  # fmt: skip


def test_tuning_extras_say_what_counts(tmp_path: Path) -> None:
    blocks = tuning_extras(frame(HALVING_ROWS + GRID_ROWS), ("lr",), tmp_path, tuning_epochs=3)
    assert [type(b) for b in blocks] == [Paragraph, Figure, Figure]
    text = blocks[0].text
    assert "mean validation accuracy of its 3 seeds" in text
    assert "excludes the 4 trial(s) stopped early by halving" in text
    assert "95% t-intervals" in text and "hollow" in text
    for block in blocks[1:]:
        check_png(block.path)
    assert tuning_extras(frame(GRID_ROWS).iloc[0:0], (), tmp_path) == []


# ----------------------------------------------------------------------------- summary.json
def test_summary_json_tuning_entries(tmp_path: Path) -> None:
    rows = HALVING_ROWS + SECOND_CELL + GRID_ROWS
    part = tuning_part(result_for(rows, halving=True), frame(rows))
    adam = part["cells"][ADAM]
    assert adam["best_trial"] == 1 and adam["best_score"] == 0.93
    assert adam["best_score_sd"] == 0.012 and adam["best_seeds"] == 3
    assert adam["stopped"] == 4 and adam["epochs_spent"] == 36
    assert adam["seconds"] == pytest.approx(18.0)
    assert adam["trials"] == {"completed": 4, "diverged": 1, "failed": 1, "missing": 0,
                              "stopped": 4}  # fmt: skip
    assert part["cells"][BOP]["best_params"] == {"gamma": 1e-3, "threshold": 1e-7}
    assert part["epochs_per_optimizer"] == {"adam": 60, "bop": 54}
    assert part["seconds_per_optimizer"] == pytest.approx({"adam": 22.5, "bop": 12.0})
    jsonschema = pytest.importorskip("jsonschema")
    suite = SimpleNamespace(name="t", description="", task="train", epochs=3, seeds=[0],
                            tuning=tuning_config(seeds=3, halving=(1, 3)))  # fmt: skip
    summary = build_summary(suite=suite, store_url="sqlite:///t.db", runs=pd.DataFrame(),
                            task_part={"tuning": part}, notes=[])  # fmt: skip
    jsonschema.validate(summary, schema())
    assert summary["task"]["tuning"]["cells"][ADAM]["best_score_sd"] == 0.012
    # a summary written before these fields still validates (they are optional)
    old = {key: {k: v for k, v in cell.items() if k in ("best_params", "best_score", "trials")}
           for key, cell in part["cells"].items()}  # fmt: skip
    summary["task"]["tuning"] = {"cells": old, "seconds_per_optimizer": {"adam": 1.0}}
    jsonschema.validate(summary, schema())
    bad = {**summary["task"]["tuning"], "cells": {ADAM: {**old[ADAM], "stopped": -1}}}
    summary["task"]["tuning"] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(summary, schema())
