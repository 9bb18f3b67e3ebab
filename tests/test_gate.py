"""The nightly gate on real runs (docs/nightly.md): the gate's tiny tuned suite
(tests/gate_plugins.py: Bop, Adam and a BAMSProd plug-in on digits, 3 seeds) as a baseline,
then, pinned to it with ``--hparams-from``:

- the same suite with 2 torch threads per worker (other floating-point results, as another
  CPU gives): it trains exactly the baseline's points (the stored specs' hyper-parameters)
  and runs no tuning trial, and ``bnnbench compare`` exits 0 (no false alarm);
- the same suite with 1 thread: the very runs of the baseline (same run ids and numbers);
- the same suite with the plug-in's update damaged (noise added to every step): exit 1, the
  plug-in and nothing else named.

The slow test repeats the first over 3 more sets of suite seeds (tests/gate_measure.py runs
the same comparisons, and the damaged ones, to measure the gate: docs/nightly.md)."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from benchmark import BnnBenchError, run_suite
from benchmark.cli import main
from benchmark.store import Store
from report.markup import md_text
from tests.gate_plugins import PLUGIN, gate_suite, run_gate_suite

SEEDS = [0, 1, 2]
#: the damage: N(0, 0.1^2) added to every parameter after each step
NOISE = 0.1


def summary_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def per_seed(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """Each optimizer's per-seed (accuracy, auc)."""
    (cell,) = summary_of(folder)["task"]["cells"]
    return {
        name: [(r["accuracy"], r["auc"]) for r in entry["runs"]]
        for name, entry in cell["optimizers"].items()
    }


def gate(capsys: pytest.CaptureFixture[str], current: Path, baseline: Path) -> tuple[int, str]:
    code = main(["compare", str(current), str(baseline)])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out


def regression_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if "| REGRESSION |" in line]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tuned baseline (1 torch thread): its report folder."""
    folder = run_gate_suite(tmp_path_factory.mktemp("gate-base"), SEEDS)
    gc.collect()  # the run's store connections close
    return folder


def test_another_thread_count_is_no_false_alarm_and_trains_the_pinned_points(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = summary_of(baseline)
    points = {k: v["best_params"] for k, v in base["task"]["tuning"]["cells"].items()}
    assert len(points) == 3 and all(points.values())
    events: list[str] = []
    suite = gate_suite(tmp_path / "gate.yaml", SEEDS, threads=2)
    result = run_suite(
        suite, results_dir=tmp_path, workers=1, progress=False, hparams_from=baseline,
        on_event=lambda e: events.append(e.message),
    )  # fmt: skip
    assert result.exit_code == 0 and "tuning" not in result.phases
    assert any(f"hyper-parameters pinned from {baseline}" in line for line in events)
    del result
    gc.collect()  # the run's store connections close
    current = tmp_path / "gate" / "report"
    # pinned: in the store, the suite's runs are the 9 final runs, none linked as a trial, and
    # every run trained at its cell's baseline point (the tuned keys, exactly)
    store = Store(f"sqlite:///{tmp_path / 'gate' / 'bnnbench.db'}", read_only=True)
    runs = store.runs_frame("gate")
    assert len(runs) == 9 and len(store.runs_frame("gate", role="final")) == 9
    assert store.runs_frame("gate", role="tuning").empty
    for row in runs.itertuples():
        key = f"{row.model}/{row.dataset}/{row.optimizer}"
        assert {k: row.hparams[k] for k in points[key]} == points[key], key
        assert row.threads == 2
    # the summary says where the points came from, and keeps them
    pinned = summary_of(current)
    assert pinned["suite"]["hparams_from"]["path"] == str(baseline)
    assert pinned["suite"]["hparams_from"]["cells"] == 3
    assert {k: v["best_params"] for k, v in pinned["task"]["tuning"]["cells"].items()} == points
    assert all(v["best_score"] is None for v in pinned["task"]["tuning"]["cells"].values())
    assert pinned["suite"]["spec"]["threads_per_worker"] == 2
    assert any("pinned from" in note for note in pinned["notes"])
    # 2 threads changed the numbers (else the gate would have nothing to tell apart) ...
    assert per_seed(current) != per_seed(baseline)
    # ... and the gate does not cry wolf
    code, out = gate(capsys, current, baseline)
    assert code == 0, out
    assert "Regression gate passed" in out
    assert "suite spec: torch threads per run differs: baseline 1, current 2" in out
    assert f"pinned from {baseline}" in out


def test_a_pinned_run_on_the_same_machine_repeats_the_baselines_runs(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same thread count, same points: the very runs of the baseline (same ids, numbers)."""
    current = run_gate_suite(tmp_path, SEEDS, pin=baseline)
    ids = [
        {name: [r["run_id"] for r in entry["runs"]] for name, entry in cell["optimizers"].items()}
        for cell in (summary_of(f)["task"]["cells"][0] for f in (current, baseline))
    ]
    assert ids[0] == ids[1]
    assert per_seed(current) == per_seed(baseline)
    code, out = gate(capsys, current, baseline)
    assert code == 0 and "No change detected" in out


def test_a_damaged_update_is_caught_and_only_it_is_named(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = run_gate_suite(tmp_path, SEEDS, noise=NOISE, pin=baseline)
    code, out = gate(capsys, current, baseline)
    assert code == 1, out
    rows = regression_rows(out)
    # REPORT.md-style escaping: the plug-in's name is shown as text ("\_" for "_")
    named = md_text(PLUGIN)
    assert rows and all(f"| {named} |" in row for row in rows), out
    assert "Regression gate FAILED" in out


def test_pinning_errors_are_one_line(
    baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = gate_suite(tmp_path / "gate.yaml", SEEDS)
    with pytest.raises(BnnBenchError, match="no such file or folder: '.*nope'"):
        run_suite(suite, results_dir=tmp_path, hparams_from=tmp_path / "nope")
    args = ["run", str(suite), "--results-dir", str(tmp_path), "--workers", "1"]
    assert main([*args, "--hparams-from", str(tmp_path / "nope")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("bnnbench: error: --hparams-from: no such file or folder")
    untuned = gate_suite(tmp_path / "untuned.yaml", SEEDS)
    text = untuned.read_text().replace("trials: 2", "trials: 0")
    untuned.write_text(text)
    with pytest.raises(BnnBenchError, match="does not tune .*nothing to pin"):
        run_suite(untuned, results_dir=tmp_path, hparams_from=baseline)
    document = summary_of(baseline)
    del document["task"]["tuning"]["cells"]["mlp/digits/adam"]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(document))
    with pytest.raises(BnnBenchError, match=r"no tuned point for 1 of .* \(mlp/digits/adam\)"):
        run_suite(suite, results_dir=tmp_path, hparams_from=partial)
    assert not (tmp_path / "gate").exists()  # nothing created


@pytest.mark.slow
@pytest.mark.parametrize("seeds", [[10, 11, 12], [20, 21, 22], [30, 31, 32]])
def test_no_false_alarm_over_suite_seeds(
    seeds: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = run_gate_suite(tmp_path / "base", seeds)
    current = run_gate_suite(tmp_path / "t2", seeds, threads=2, pin=base)
    assert per_seed(current) != per_seed(base)
    code, out = gate(capsys, current, base)
    assert code == 0, out
