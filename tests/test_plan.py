"""``bnnbench plan``: the design check from the suite file alone, the detectable effects and the
seeds for the paper's claims from a real (tiny) store, read-only, and what it says without a
store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmark import run_suite
from benchmark.cli import main
from benchmark.planning import design_families, plan_suite
from benchmark.suite import load_suite
from report import inference as inf
from tests.conftest import write_suite


def test_design_check_from_the_seed_counts(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(tmp_path / "d.yaml", optimizers=["bamsprod", "bop", "adam"], seeds=8)
    )
    families = design_families(suite)
    # 2 baselines x 2 metrics, 8 seeds x 1 cell each; per cell the same 4 tests
    assert families == {"primary": [8] * 4, "secondary": [8] * 4}
    plan = plan_suite(suite, results_dir=tmp_path)
    # Holm over 4 tests each at best 2 / 2^8: 4 x 2/256 = 0.03125 < 0.05
    assert plan.design["primary"] == pytest.approx(4 * 2 / 256)
    assert not plan.has_data and "run a pilot first" in plan.message
    assert not (tmp_path / "d").exists()  # read-only: no store created


def test_plan_without_a_store_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_suite(tmp_path / "p.yaml", optimizers=["bamsprod", "bop"])
    assert main(["plan", str(path), "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "design check" in out and "run a pilot first" in out and "bnnbench run p" in out


def test_plan_refuses_a_convex_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cvx.yaml"
    path.write_text("name: cvx\ntask: convex\n")
    assert main(["plan", str(path), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bnnbench: error: plan: suite 'cvx' has task")


def test_plan_from_a_pilot_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_suite(
        tmp_path / "pilot.yaml", optimizers=["bamsprod", "bop"], seeds=3, evals_per_epoch=2,
        datasets=[{"name": "synthetic",
                   "options": {"n_samples": 200, "n_features": 8, "n_classes": 3}}],
        models=[{"name": "mlp", "options": {"hidden": [16, 16]}}],
    )  # fmt: skip
    result = run_suite(path, results_dir=tmp_path, workers=1, progress=False,
                       on_event=lambda e: None)  # fmt: skip
    assert result.exit_code == 0
    store = tmp_path / "pilot" / "bnnbench.db"
    before = store.stat().st_mtime_ns
    plan = plan_suite(path, results_dir=tmp_path)
    assert store.stat().st_mtime_ns == before  # read-only
    rows = {r.metric: r for r in plan.rows}
    assert set(rows) == {"accuracy", "speed"} and all(r.vs == "bop" for r in plan.rows)
    assert rows["accuracy"].pairs == 3 and rows["accuracy"].cells == 1
    # the same numbers as the report's primary family
    from benchmark.results import load_results
    from report.analysis import analyse, family_alpha
    from report.summary import final_runs

    res = load_results(path, results_dir=tmp_path)
    analysis = analyse(final_runs(res.runs), res.values, "bop")
    alpha = family_alpha(analysis.primary)
    assert alpha == inf.ALPHA / 2
    for c in analysis.primary:
        row = rows[c.metric]
        assert row.mde == pytest.approx(c.mde, nan_ok=True)
        claimed = 0.037 if c.metric == "accuracy" else math.log(1.2)
        sd = c.effect.se * math.sqrt(c.effect.n)
        expected = inf.seeds_needed(claimed, sd, alpha)
        assert row.seeds_for_claim == pytest.approx(expected, nan_ok=True)
    assert main(["plan", str(path), "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| vs | metric | cells | seed pairs now |" in out and "+3.7 points" in out
