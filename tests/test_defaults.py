"""``tuning.defaults``: a tuned suite also runs its final runs at the registry defaults, as rows
of their own (``"<optimizer> (defaults)"``, ``variant`` ``"defaults"``), side by side with the
tuned rows in the store's frames, the report and summary.json; the shipped quick and smoke
suites tune."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmark import BnnBenchError, load_results, run_suite
from benchmark.pipeline import Event
from benchmark.store import Store
from benchmark.suite import load_suite
from tests.conftest import REPO, write_suite

SEEDS = [0, 1]
ROWS = {"adam", "adam (defaults)", "bamsprod", "bamsprod (defaults)"}


def _defaults_suite(path: Path, **overrides: object) -> Path:
    """Two optimizers, 2 seeds, 2 trials of 1 epoch, final runs of 2 epochs, and the
    defaults' rows. Adam's search space holds only its default ``lr``, so its best point
    *is* the defaults: its defaults runs are its tuned runs (one run, two rows); BAMSProd
    tunes ``lr`` over a range that leaves out its default, so its two rows are distinct
    runs."""
    settings: dict[str, object] = {
        "optimizers": [
            {"name": "bamsprod", "search_space": {"lr": {"low": 0.002, "high": 0.05, "log": True}}},
            {"name": "adam", "search_space": {"lr": {"choices": [0.001]}}},
        ],
        "reference": "adam",
        "seeds": SEEDS,
        "epochs": 2,
        "tuning": {"trials": 2, "epochs": 1, "seed": 3, "defaults": True},
    }
    settings.update(overrides)
    return write_suite(path, **settings)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("defaults")
    suite = _defaults_suite(tmp / "dflt.yaml")
    events: list[Event] = []
    result = run_suite(
        suite, results_dir=tmp / "r", workers=1, progress=False, on_event=events.append
    )
    again = run_suite(suite, results_dir=tmp / "r", workers=1, progress=False, report=False,
                      on_event=lambda e: None)  # fmt: skip
    return {"tmp": tmp, "suite": suite, "result": result, "events": events, "again": again}


def _registry_defaults(name: str) -> dict[str, object]:
    from benchmark.optim import get_optimizer_spec

    return dict(get_optimizer_spec(name).defaults)


# ----------------------------------------------------------------------------- pipeline
def test_the_defaults_phase_runs_each_cell_at_the_registry_defaults(ran: dict) -> None:
    result = ran["result"]
    assert result.exit_code == 0
    done = {role: (p.completed, p.skipped) for role, p in result.phases.items()}
    # adam's 2 trials are one point (one run); its defaults runs are its tuned runs (skipped)
    assert done == {"tuning": (3, 0), "final": (4, 0), "defaults": (2, 2)}
    messages = [e.message for e in ran["events"]]
    assert any("4 tuning trials (qmc) + 4 final runs + 4 runs at the registry defaults" in m
               for m in messages)  # fmt: skip
    assert any(m.startswith("defaults: done in") for m in messages)
    res = load_results(ran["suite"], results_dir=ran["tmp"] / "r")
    defaults = res.runs[res.runs["variant"] == "defaults"]
    assert sorted(defaults["optimizer"]) == ["adam (defaults)"] * 2 + ["bamsprod (defaults)"] * 2
    for row in defaults.itertuples():
        assert row.hparams == _registry_defaults(row.optimizer.removesuffix(" (defaults)"))
        assert row.split == "test" and row.epochs == 2
    tuned = res.runs[res.runs["variant"] == "tuned"]
    bams = tuned[tuned["optimizer"] == "bamsprod"]
    assert all(h["lr"] != _registry_defaults("bamsprod")["lr"] for h in bams["hparams"])


def test_a_defaults_run_equal_to_a_tuned_run_is_stored_once_and_in_both_rows(ran: dict) -> None:
    res = load_results(ran["suite"], results_dir=ran["tmp"] / "r")
    runs = res.runs
    assert len(runs) == 8 and runs["run_id"].nunique() == 6

    def ids(name: str) -> set[str]:
        return set(runs.loc[runs["optimizer"] == name, "run_id"])

    assert ids("adam") == ids("adam (defaults)") and len(ids("adam")) == 2
    assert ids("bamsprod").isdisjoint(ids("bamsprod (defaults)"))
    store = Store(f"sqlite:///{ran['tmp'] / 'r' / 'dflt' / 'bnnbench.db'}", read_only=True)
    stored = store.runs_frame("dflt")
    assert stored["run_id"].is_unique and len(stored) == 3 + 4 + 2  # trials, final, defaults
    # linked once, with the role of the phase that ran it first: never how rows are told apart
    assert set(store.runs_frame("dflt", role="defaults")["run_id"]) == ids("bamsprod (defaults)")
    assert ids("adam") <= set(store.runs_frame("dflt", role="final")["run_id"])
    # the metrics are loaded once per run
    assert set(res.values["run_id"]) == set(runs["run_id"])
    assert not res.values.duplicated(["run_id", "step", "split", "name"]).any()


def test_a_rerun_resumes_every_phase(ran: dict) -> None:
    again = ran["again"]
    assert again.exit_code == 0
    assert {role: p.completed for role, p in again.phases.items()} == {
        "tuning": 0, "final": 0, "defaults": 0
    }  # fmt: skip
    assert again.phases["defaults"].skipped == 4


def test_load_results_has_a_variant_column(ran: dict) -> None:
    runs = load_results(ran["suite"], results_dir=ran["tmp"] / "r").runs
    assert set(runs["optimizer"]) == ROWS
    by_variant = runs.groupby("variant")["optimizer"].agg(set).to_dict()
    assert by_variant == {
        "tuned": {"adam", "bamsprod"},
        "defaults": {"adam (defaults)", "bamsprod (defaults)"},
    }
    assert sorted(runs.groupby("optimizer")["seed"].agg(sorted).to_dict().items()) == [
        (name, SEEDS) for name in sorted(ROWS)
    ]


# ----------------------------------------------------------------------------- report
def test_the_report_shows_defaults_and_tuned_side_by_side(ran: dict) -> None:
    import jsonschema

    from report.summary_json import schema

    report = ran["result"].report
    summary = json.loads(report.summary.read_text())
    jsonschema.validate(summary, schema())
    (cell,) = summary["task"]["cells"]
    assert set(cell["optimizers"]) == ROWS
    for name, row in cell["optimizers"].items():
        assert row["seeds"] == 2 and row["failed"] == 0, name
        assert sorted(r["seed"] for r in row["runs"]) == SEEDS
    adam, adam_defaults = cell["optimizers"]["adam"], cell["optimizers"]["adam (defaults)"]
    assert [r["run_id"] for r in adam["runs"]] == [r["run_id"] for r in adam_defaults["runs"]]
    assert adam["accuracy"] == adam_defaults["accuracy"]
    # BAMSProd (tuned) against every other row, its own defaults too
    vs = {c["vs"] for c in summary["task"]["comparisons"]}
    assert vs == {"adam", "adam (defaults)", "bamsprod (defaults)"}
    assert summary["runs"]["total"] == 6  # distinct runs: the shared ones counted once
    assert summary["task"]["tuning"]["cells"].keys() == {
        "mlp/synthetic/bamsprod", "mlp/synthetic/adam"
    }  # fmt: skip
    markdown = report.markdown.read_text()
    assert "bamsprod (defaults)" in markdown and "adam (defaults)" in markdown
    markdown_it = pytest.importorskip("markdown_it")  # GitHub would show it as text too
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)
    assert "Rows named '&lt;optimizer&gt; (defaults)' are" in rendered
    assert "Tuned vs defaults" in markdown and "| 2/2 |" in markdown  # adam: one run, two rows
    csv = pd.read_csv(report.folder / "runs.csv")
    assert len(csv) == 8 and set(csv["variant"]) == {"tuned", "defaults"}


def test_defaults_rows_are_dashed_in_their_optimizers_colour(ran: dict) -> None:
    from report.figures import curve_bands
    from report.plotting import DEFAULTS_STYLE, emphasis, optimizer_colors, optimizer_order

    labels = ["adam (defaults)", "bop", "adam", "pkg.m:X", "pkg.m:X (defaults)"]
    colors = optimizer_colors(labels)
    assert colors["adam (defaults)"] == colors["adam"] != colors["bop"]
    assert colors["pkg.m:X (defaults)"] == colors["pkg.m:X"] not in (colors["adam"], colors["bop"])
    assert optimizer_order(["bop", "adam (defaults)", "bamsprod", "adam"]) == [
        "bamsprod", "bop", "adam", "adam (defaults)"
    ]  # fmt: skip
    assert emphasis("bop (defaults)", "bop")["linestyle"] == DEFAULTS_STYLE
    assert emphasis("bop (defaults)", "bop")["linewidth"] == emphasis("bop", "bop")["linewidth"]
    assert "linestyle" not in emphasis("bop", "bop")
    # a run in two rows is drawn in both (against steps and against seconds)
    res = load_results(ran["suite"], results_dir=ran["tmp"] / "r")
    for x in ("step", "seconds"):
        bands = curve_bands(res.runs, res.values, x=x)
        assert set(bands["optimizer"]) == ROWS
        mine = bands[bands["optimizer"] == "adam"].reset_index(drop=True)
        theirs = bands[bands["optimizer"] == "adam (defaults)"].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine.drop(columns="optimizer"),
                                      theirs.drop(columns="optimizer"))  # fmt: skip
    figures = ran["result"].report.folder / "figures"
    assert (figures / "learning_curves_seconds.png").stat().st_size > 0


def test_the_suffix_is_one_name() -> None:
    from benchmark.results import DEFAULTS_SUFFIX
    from report import analysis, plotting

    assert DEFAULTS_SUFFIX == analysis.DEFAULTS_SUFFIX == plotting.DEFAULTS_SUFFIX == " (defaults)"


def test_final_rows_of_untuned_tuned_and_non_grid_suites() -> None:
    from benchmark.results import CurrentRuns, final_rows
    from benchmark.tune import TuningResult

    linked = pd.DataFrame(
        {"run_id": ["a", "b", "c", "old"], "optimizer": ["adam", "adam", "adam", "adam"]}
    )
    untuned = final_rows(linked, CurrentRuns({"a", "b"}))
    assert list(untuned["run_id"]) == ["a", "b"] and set(untuned["variant"]) == {"defaults"}
    assert set(untuned["optimizer"]) == {"adam"}
    tuned = final_rows(
        linked, CurrentRuns({"a", "b"}, tuning=TuningResult(), defaults_ids={"b", "c"})
    )
    assert list(zip(tuned["run_id"], tuned["optimizer"], tuned["variant"], strict=True)) == [
        ("a", "adam", "tuned"),
        ("b", "adam", "tuned"),
        ("b", "adam (defaults)", "defaults"),
        ("c", "adam (defaults)", "defaults"),
    ]
    assert "variant" not in final_rows(linked, CurrentRuns({"a"}), grid=False)


# ----------------------------------------------------------------------------- suites
def test_defaults_need_a_tuning_budget(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "x.yaml", tuning={"trials": 0, "defaults": True})
    with pytest.raises(BnnBenchError) as excinfo:
        load_suite(path)
    message = str(excinfo.value)
    assert message == (
        f"{path}: tuning.defaults: only allowed with tuning.trials > 0 (with trials: 0 the "
        "final runs are at the registry defaults already); set trials, or remove defaults"
    )
    assert "\n" not in message
    write_suite(path, tuning={"trials": 0, "defaults": False})
    assert load_suite(path).tuning.defaults is False
    write_suite(path, tuning={"trials": 1, "defaults": "yes"})
    with pytest.raises(BnnBenchError, match=r"tuning\.defaults"):
        load_suite(path)


def test_defaults_count_in_the_plan_but_not_in_the_studies(tmp_path: Path) -> None:
    from benchmark.suite import cells
    from benchmark.tasks.registry import get_task
    from benchmark.tune import study_name

    with_defaults = load_suite(_defaults_suite(tmp_path / "a.yaml"))
    without = load_suite(
        _defaults_suite(tmp_path / "a.yaml", tuning={"trials": 2, "epochs": 1, "seed": 3})
    )
    # the defaults' runs change nothing about tuning: the same studies either way
    for a, b in zip(cells(with_defaults), cells(without), strict=True):
        assert study_name(with_defaults, a) == study_name(without, b)
    task = get_task("train")
    assert task.summary_line(with_defaults) == (
        "final runs: 4 tuned + 4 at the registry defaults; 4 tuning trials (qmc), at most 4 runs"
    )
    assert task.summary_line(without) == "final runs: 4; 4 tuning trials (qmc), at most 4 runs"
    assert "(defaults)" in task.tuning_note(with_defaults)


@pytest.mark.parametrize("name", ["quick", "smoke"])
def test_the_shipped_quick_and_smoke_suites_tune(name: str) -> None:
    from benchmark.results import defaults_specs
    from benchmark.suite import expand_final_runs

    suite = load_suite(REPO / "suites" / f"{name}.yaml")
    assert suite.tuning.trials > 0
    assert "seed" in suite.tuning.model_fields_set  # stated in the file, not left implicit
    assert suite.tuning.epochs is not None and suite.tuning.epochs <= suite.epochs
    assert len(suite.seeds) >= 2
    specs = defaults_specs(suite)
    if name == "quick":
        assert suite.tuning.defaults and len(suite.seeds) == 10
        assert {"bamsprod", "bop", "sgd"} <= set(suite.optimizer_names)
        assert {"adam", "amsgrad"} & set(suite.optimizer_names)
    assert len(specs) == (suite.n_final_runs if suite.tuning.defaults else 0)
    assert [s.run_id for s in specs] == [s.run_id for s in expand_final_runs(suite)]
