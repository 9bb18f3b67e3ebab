"""The verdict rules end to end on synthetic run frames (the frames report.analysis reads from a
store: runs with final test accuracies, test-accuracy and train-seconds curves): a clear effect
on 10 seeds is "better", the same effect on 3 seeds is "undetermined" with the detectable
effect printed, identical optimizers are "equivalent within ±1.0 point", and the claims agree
with the comparisons everywhere. Also the target rule and the censoring of time-to-target."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from report import inference as inf
from report.analysis import TargetSpec, analyse
from report.markup import render_section
from report.training import answer_section, claims_table, comparison_rows, matrix_rows

CELLS = (("mlp", "digits"), ("mlp", "synthetic"))
EVALS = np.linspace(0, 200, 21)  # 21 evaluations over a budget of 200 steps


def _curve(final: float, rate: float) -> np.ndarray:
    """A test-accuracy curve rising from 0.1 to ``final`` at ``rate`` per step."""
    return 0.1 + (final - 0.1) * (1 - np.exp(-rate * EVALS))


def frames(
    effects: dict[str, float], seeds: int, *, spread: float, rng: int = 0, status: str = "completed"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and metrics: per cell and seed a shared level (so seeds pair), each optimizer's
    final accuracy = 0.85 + its effect + the level + its own noise of sd ``spread``."""
    gen = np.random.default_rng(rng)
    runs, values = [], []
    for model, dataset in CELLS:
        for seed in range(seeds):
            level = gen.normal(0.0, 0.02)
            for optimizer, effect in effects.items():
                final = 0.85 + effect + level + gen.normal(0.0, spread)
                run_id = f"{model}-{dataset}-{optimizer}-{seed}"
                runs.append({
                    "run_id": run_id, "task": "train", "split": "test", "model": model,
                    "dataset": dataset, "optimizer": optimizer, "seed": seed, "status": status,
                    "summary.final_test_accuracy": final, "train_seconds": 20.0,
                    "eval_seconds": 1.0,
                })  # fmt: skip
                curve = _curve(final, 0.03)
                for step, value in zip(EVALS, curve, strict=True):
                    values.append({"run_id": run_id, "split": "test", "name": "accuracy",
                                   "step": step, "epoch": step / 20, "value": value})  # fmt: skip
                    values.append({"run_id": run_id, "split": "", "name": "train_seconds",
                                   "step": step, "epoch": step / 20, "value": step / 10})  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(values)


def _text(frame: pd.DataFrame) -> str:
    return frame.to_string()


def test_five_points_on_ten_seeds_is_better_in_the_primary_family() -> None:
    runs, values = frames({"bamsprod": 0.05, "bop": 0.0, "adam": 0.0}, 10, spread=0.035)
    analysis = analyse(runs, values, "bop")
    acc = [c for c in analysis.primary if c.metric == "accuracy"]
    assert {c.other for c in acc} == {"adam", "bop"}
    assert all(c.verdict == "better" and c.p_holm < 0.05 for c in acc)
    assert all(c.cells == 2 and c.effect.n == 20 for c in acc)
    # the family is declared: 2 baselines x 2 metrics
    assert analysis.methods["families"]["primary"]["size"] == len(analysis.primary) == 4


def test_five_points_on_three_seeds_is_undetermined_with_the_detectable_effect() -> None:
    runs, values = frames({"bamsprod": 0.05, "bop": 0.0, "adam": 0.0}, 3, spread=0.035)
    analysis = analyse(runs, values, "bop")
    acc = [c for c in analysis.primary if c.metric == "accuracy"]
    assert all(c.verdict == "undetermined" for c in acc)
    for c in acc:  # the MDE is the effect the test would detect with 80% power at alpha / M
        alpha = inf.ALPHA / len(analysis.primary)
        assert c.mde == pytest.approx(inf.detectable_effect(c.effect, alpha))
        assert c.mde > abs(c.estimate) * 0.5
    table = comparison_rows(analysis, "accuracy", "primary").set_index("vs")
    assert table.columns[0] == "verdict"  # first, the detectable effect in its own column
    for c in acc:
        assert table.loc[c.other, "verdict"] == "undetermined"
        assert table.loc[c.other, "detectable (80% power)"] == f"{100 * c.mde:.1f} points"
    assert "indistinguishable" not in _text(table)


def test_identical_optimizers_on_ten_seeds_are_equivalent_within_one_point(tmp_path: Path) -> None:
    runs, values = frames({"bamsprod": 0.0, "bop": 0.0, "adam": 0.0}, 10, spread=0.002)
    analysis = analyse(runs, values, "bop")
    assert {c.verdict for c in analysis.primary} == {"equivalent"}
    assert {c.verdict for c in analysis.comparisons} == {"equivalent"}
    table = _text(comparison_rows(analysis, "accuracy", "primary"))
    assert "equivalent within ±1.0 point" in table
    assert "equivalent within ±10%" in _text(comparison_rows(analysis, "speed", "primary"))
    # every optimizer ties with the cell's leader
    for cell in analysis.cells:
        assert sorted(cell.standing.values()) == ["lead", "tie", "tie"]
    page = render_section(answer_section(analysis), tmp_path).markdown
    assert "(lead)" in page and "(tie)" in page


@pytest.mark.parametrize("seeds", [3, 10])
def test_claims_agree_with_the_comparisons_in_every_cell(seeds: int) -> None:
    runs, values = frames({"bamsprod": 0.03, "bop": 0.0, "adam": 0.01}, seeds, spread=0.02)
    analysis = analyse(runs, values, "bop")
    per_cell = {(c.model, c.dataset, c.metric): c for c in analysis.comparisons if c.other == "bop"}
    pooled = {c.metric: c for c in analysis.primary if c.other == "bop"}
    assert len(analysis.claims) == 2 * len(CELLS) + 2
    for claim in analysis.claims:
        c = (
            pooled[claim.claim]
            if claim.model == "all"
            else per_cell[(claim.model, claim.dataset, claim.claim)]
        )
        assert (claim.verdict, claim.value, claim.ci_low, claim.ci_high, claim.p_holm) == (
            c.verdict, c.estimate, c.ci_low, c.ci_high, c.p_holm,
        )  # fmt: skip
        assert claim.claimed_in_interval == (c.ci_low <= claim.claimed <= c.ci_high)
        assert claim.seeds_needed >= 2
    # and the table a reader sees says the same verdicts
    table = claims_table(analysis)
    shown = comparison_rows(analysis, "accuracy")
    assert table.columns[0] == shown.columns[0] == "verdict"  # first: on screen on a phone
    for _, row in table[table["claim vs Bop"] == "+3.7 points"].iterrows():
        if row["cell"] == "pooled":
            continue
        match = shown[(shown["cell"] == row["cell"]) & (shown["vs"] == "bop")]
        assert match["verdict"].item() == row["verdict"]
        assert match["detectable (80% power)"].item() == row["detectable (80% power)"]


def test_target_rules() -> None:
    runs, values = frames({"bamsprod": 0.02, "bop": 0.0}, 3, spread=0.0)
    finals = runs.groupby(["model", "dataset", "optimizer"])["summary.final_test_accuracy"].mean()
    best = analyse(runs, values, "bop")  # the default rule: 0.95 x the best mean
    for cell in best.cells:
        assert cell.target == pytest.approx(0.95 * finals[(cell.model, cell.dataset)].max())
    ref = analyse(runs, values, "bop", target=TargetSpec("reference_mean"))
    for cell in ref.cells:
        assert cell.target == pytest.approx(finals[(cell.model, cell.dataset, "bop")])
    fixed = analyse(runs, values, "bop", 0.5)  # the old fixed_target argument
    assert {c.target for c in fixed.cells} == {0.5}
    assert fixed.methods["target"]["kind"] == "value"
    half = analyse(runs, values, "bop", target=TargetSpec("best_fraction", fraction=0.5))
    assert half.methods["target"]["fraction"] == 0.5


def test_time_to_target_is_interpolated_and_censored_at_the_budget() -> None:
    runs, values = frames({"bamsprod": 0.0, "bop": 0.0}, 3, spread=0.0)
    analysis = analyse(runs, values, "bop", 0.6)
    point = analysis.cells[0].optimizers["bop"].runs[0]
    final = runs[runs["run_id"] == point.run_id]["summary.final_test_accuracy"].item()
    # the curve 0.1 + (final - 0.1)(1 - exp(-0.03 s)) crosses 0.6 between two evaluations
    exact = -math.log(1 - 0.5 / (final - 0.1)) / 0.03
    before = EVALS[exact > EVALS].max()
    after = EVALS[exact <= EVALS].min()
    v0, v1 = _curve(final, 0.03)[[list(EVALS).index(before), list(EVALS).index(after)]]
    assert point.reached and point.steps == pytest.approx(
        before + (after - before) * (0.6 - v0) / (v1 - v0)
    )
    # a target nobody reaches: every run censored at the budget (200 steps)
    never = analyse(runs, values, "bop", 0.99)
    bop = never.cells[0].optimizers["bop"]
    assert bop.reached == 0 and {p.steps for p in bop.runs} == {200.0}
    assert bop.steps_to_target["km_median"] == math.inf
    assert bop.steps_to_target["rmst"] == pytest.approx(200.0)
    # diverged runs never reach a target
    diverged = analyse(
        *frames({"bamsprod": 0.0, "bop": 0.0}, 3, spread=0.0, status="diverged"), "bop", 0.6
    )
    assert diverged.cells[0].optimizers["bop"].reached == 0


def test_the_suite_files_target_rule(tmp_path: Path) -> None:
    from benchmark.errors import BnnBenchError
    from benchmark.suite import load_suite

    base = "name: t\nmodels: [mlp]\ndatasets: [digits]\noptimizers: [bop, adam]\n"

    def load(extra: str) -> object:
        path = tmp_path / "t.yaml"
        path.write_text(base + extra)
        return load_suite(path)

    assert load("").target.kind == "best_fraction"  # the default rule, fraction 0.95
    assert TargetSpec.of(load("").target) == TargetSpec("best_fraction", None, 0.95)
    rule = load("target: {kind: best_fraction, fraction: 0.9}\n").target
    assert TargetSpec.of(rule).fraction == 0.9
    assert load("target: {kind: reference_mean}\n").target.kind == "reference_mean"
    for extra, words in (
        ("target: {kind: value, value: 0.9, fraction: 0.9}\n", "target.fraction: only allowed with kind: best_fraction"),
        ("target: {kind: best_fraction, fraction: 1.5}\n", "target.fraction"),
        ("target: {kind: best_fraction, value: 0.9}\n", "target.value: only allowed with kind: value"),
    ):  # fmt: skip
        with pytest.raises(BnnBenchError) as info:
            load(extra)
        assert words in str(info.value) and "\n" not in str(info.value)


def test_the_matrix_puts_an_optimizers_tuned_and_defaults_rows_on_one_line() -> None:
    """With rows at the registry defaults the matrix has one line per optimizer and two
    columns per cell, so it stays as short as a suite's optimizer list; the marks follow
    the cell's standing over every row (defaults included)."""
    effects = {"bamsprod": 0.05, "bop": 0.0, "bamsprod (defaults)": 0.0, "bop (defaults)": 0.0}
    runs, values = frames(effects, 10, spread=0.005)
    analysis = analyse(runs, values, "bop")
    matrix = matrix_rows(analysis).set_index("optimizer")
    assert list(matrix.index) == ["bamsprod", "bop"]
    assert list(matrix.columns) == [
        f"{model}/{dataset} {kind} (points)" for model, dataset in CELLS
        for kind in ("tuned", "defaults")
    ]  # fmt: skip
    for cell in analysis.cells:
        where = f"{cell.model}/{cell.dataset}"
        for name, r in cell.optimizers.items():
            kind = "defaults" if name.endswith(" (defaults)") else "tuned"
            shown = matrix.loc[name.removesuffix(" (defaults)"), f"{where} {kind} (points)"]
            assert shown.startswith(f"{100 * r.accuracy['mean']:.1f} ± ")
            assert shown.endswith(f"({cell.standing[name]})" if cell.standing[name] else "")
        assert matrix.loc["bamsprod", f"{where} tuned (points)"].endswith("(lead)")
    plain = matrix_rows(analyse(*frames({"bamsprod": 0.0, "bop": 0.0}, 3, spread=0.01), "bop"))
    assert list(plain.columns) == ["optimizer", *(f"{m}/{d} (points)" for m, d in CELLS)]
