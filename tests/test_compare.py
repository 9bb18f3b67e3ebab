"""``bnnbench compare``, the nightly regression gate (report/compare.py, docs/nightly.md).

Hand-written summaries (each validated against report/summary.schema.json, so they stay
real) check the rules and their arithmetic against numbers worked out here: the statistical
rule (one-sided Welch t-tests across seeds, Holm, and the tolerance) against t-distribution
values computed by hand, and the old rule that summaries without per-seed runs fall back to; a
small real suite checks the gate on a fresh report folder and on a copy with one optimizer's
accuracies lowered. tests/test_gate.py runs the gate on real runs (threads, a damaged
optimizer, pinned hyper-parameters)."""

from __future__ import annotations

import copy
import gc
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from benchmark import BnnBenchError, run_suite
from benchmark.cli import main
from report.compare import (
    ACC_TOLERANCE,
    ALPHA,
    POWER,
    SPEED_TOLERANCE,
    compare,
    load_summary,
    to_markdown,
)
from report.summary_json import schema
from tests.conftest import write_suite

jsonschema = pytest.importorskip("jsonschema")


# ----------------------------------------------------------------------------- documents
def interval(mean: float | None, half: float | None = None, n: int = 3) -> dict[str, Any]:
    """``{n, mean, std, ci_low, ci_high}`` with a CI of half-width ``half`` (None: no CI, as
    one seed gives)."""
    if half is None or mean is None:
        return {"n": n, "mean": mean, "std": None, "ci_low": None, "ci_high": None}
    return {"n": n, "mean": mean, "std": half, "ci_low": mean - half, "ci_high": mean + half}


def optimizer(
    acc: float | None,
    acc_half: float | None = None,
    steps: float | None = 100.0,
    steps_half: float | None = None,
    *,
    diverged: int = 0,
    failed: int = 0,
    seeds: int = 3,
    runs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An optimizer's entry; without ``runs`` (an old summary's) the gate falls back to the
    old rule."""
    return {
        "seeds": seeds,
        "completed": seeds - diverged - failed,
        "diverged": diverged,
        "failed": failed,
        "accuracy": interval(acc, acc_half),
        "steps_to_target": {**interval(steps, steps_half), "reached": seeds},
        "epochs_to_target": interval(None),
        "seconds_to_target": interval(None),
        "speedup_vs_reference": None,
        "auc": None,
        "seconds_per_run": 1.5,
        "runs": runs or [],
    }


def seeded(accs: list[float | None], aucs: list[float | None] | None = None) -> dict[str, Any]:
    """An optimizer's entry with per-seed runs: final accuracies ``accs`` and AUCs ``aucs``
    (default 0.8 each; a None accuracy is a diverged run)."""
    aucs = aucs if aucs is not None else [0.8] * len(accs)
    runs = [
        {
            "run_id": f"r{i}",
            "seed": i,
            "status": "completed" if acc is not None else "diverged",
            "accuracy": acc,
            "steps": 100.0,
            "epochs": 1.0,
            "seconds": 1.0,
            "reached": True,
            "auc": auc,
        }
        for i, (acc, auc) in enumerate(zip(accs, aucs, strict=True))
    ]
    done = [a for a in accs if a is not None]
    mean = sum(done) / len(done) if done else None
    entry = optimizer(mean, seeds=len(accs), runs=runs, diverged=accs.count(None))
    return entry


def summary(
    cells: dict[tuple[str, str], dict[str, dict[str, Any]]],
    *,
    name: str = "nightly",
    task: str = "train",
    epochs: int = 5,
    torch: str = "2.4.0",
    target: float | None = 0.8,
) -> dict[str, Any]:
    """A schema-valid summary.json document with ``cells``: (model, dataset) -> optimizers."""
    document = {
        "schema_version": 1,
        "generated_at": "2025-01-01T00:00:00+00:00",
        "suite": {
            "name": name,
            "description": "hand-written",
            "task": task,
            "spec": {"epochs": epochs, "batch_size": 64, "device": "cpu", "seeds": [0, 1, 2]},
        },
        "store": "sqlite:///results/nightly/bnnbench.db",
        "runs": {"total": 0, "by_status": {}},
        "environment": {
            "packages": {"torch": torch},
            "cpu": "AMD EPYC",
            "gpu": None,
            "hosts": ["ci"],
            "git_commits": ["abc"],
        },
        "notes": [],
        "task": {
            "reference": "bop",
            "cells": [
                {
                    "model": model,
                    "dataset": dataset,
                    "target": target,
                    "budget_steps": 500.0,
                    "best": None,
                    "optimizers": optimizers,
                }
                for (model, dataset), optimizers in cells.items()
            ],
            "comparisons": [],
            "claims": [],
        },
    }
    jsonschema.validate(document, schema())
    return document


CELL = ("mlp", "digits")


def one(acc: float | None, acc_half: float | None = None, **kwargs: Any) -> dict[str, Any]:
    """A summary of one cell with Bop (fixed) and BAMSProd (``acc``, ...)."""
    return summary(
        {CELL: {"bop": optimizer(0.8, 0.01), "bamsprod": optimizer(acc, acc_half, **kwargs)}}
    )


def write(folder: Path, name: str, document: dict[str, Any]) -> str:
    path = folder / name
    path.write_text(json.dumps(document))
    return str(path)


def gate(
    capsys: pytest.CaptureFixture[str], current: Any, baseline: Any, *options: str
) -> tuple[int, str, str]:
    code = main(["compare", str(current), str(baseline), *options])
    out, err = capsys.readouterr()
    return code, out, err


def regression_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if "| REGRESSION |" in line]


# ----------------------------------------------------------------------------- the rules
def test_old_summaries_fall_back_to_the_accuracy_rule_by_hand() -> None:
    # means 0.90 (baseline) vs 0.85 (current), CI half-widths 0.02 and 0.01:
    # noise = sqrt(0.01^2 + 0.02^2) = 0.0223607 > tolerance 0.01; drop 0.05 > 0.02236: flagged
    result = compare(one(0.85, 0.01), one(0.90, 0.02))
    (row,) = result.changes
    assert result.regressed and row.verdict == "regression" and row.what == "accuracy drop"
    assert row.threshold == pytest.approx(0.0223607, abs=1e-7)
    assert row.delta == pytest.approx(-0.05) and row.note == "old rule: CI noise"
    assert (row.baseline, row.current) == (0.90, 0.85)
    # a drop of 0.03 inside noise sqrt(0.03^2 + 0.04^2) = 0.05 is not flagged, although it
    # is three times the tolerance
    assert compare(one(0.87, 0.03), one(0.90, 0.04)).changes == []
    # one seed (no CI): the tolerance alone, "more than" strictly
    assert compare(one(0.89), one(0.90)).changes == []  # 0.01 is not more than 0.01
    (row,) = compare(one(0.885), one(0.90)).changes
    assert row.threshold == ACC_TOLERANCE == 0.01 and row.note == "old rule: tolerance"
    # the tolerance is an option
    assert compare(one(0.885), one(0.90), acc_tolerance=0.02).changes == []
    # a gain beyond the same threshold is listed as improved and does not fail
    result = compare(one(0.95, 0.01), one(0.90, 0.02))
    assert not result.regressed
    assert [(c.what, c.verdict) for c in result.changes] == [("accuracy gain", "improvement")]
    # and the output says why no test ran
    assert "no per-seed runs" in " ".join(result.warnings)


def test_old_summaries_fall_back_to_the_steps_rule_by_hand() -> None:
    # baseline 100 steps (half-width 10: 10%), current 130 (13: 10%): relative noise
    # sqrt(0.1^2 + 0.1^2) = 0.141421 > tolerance 0.10; 130/100 - 1 = 0.30 > 0.1414: flagged
    result = compare(one(0.9, steps=130.0, steps_half=13.0), one(0.9, steps=100.0, steps_half=10.0))
    (row,) = result.changes
    assert row.what == "slowdown (steps to target)" and row.verdict == "regression"
    assert row.threshold == pytest.approx(math.sqrt(0.02)) and row.delta == pytest.approx(0.3)
    # 112 steps (half-width 11.2): 12% more is above the tolerance but inside the noise 14.1%
    slightly = one(0.9, steps=112.0, steps_half=11.2)
    assert compare(slightly, one(0.9, steps=100.0, steps_half=10.0)).changes == []
    # no CIs: 111 steps (11% > 10%) is, 110 is not
    assert compare(one(0.9, steps=110.0), one(0.9, steps=100.0)).changes == []
    (row,) = compare(one(0.9, steps=111.0), one(0.9, steps=100.0)).changes
    assert row.threshold == SPEED_TOLERANCE and row.delta == pytest.approx(0.11)
    # faster by the same threshold the other way (100/80 - 1 = 25%): improved
    (row,) = compare(one(0.9, steps=80.0), one(0.9, steps=100.0)).changes
    assert (row.verdict, row.delta) == ("improvement", pytest.approx(-0.2))
    # only when both summaries have a target for the cell
    no_target = one(0.9, steps=300.0)
    no_target["task"]["cells"][0]["target"] = None
    assert compare(no_target, one(0.9, steps=100.0)).changes == []
    assert compare(one(0.9, steps=300.0), no_target).changes == []


def test_old_rule_more_diverged_or_failed_runs_are_regressions() -> None:
    result = compare(one(0.9, diverged=1), one(0.9))
    assert [(c.what, c.verdict, c.delta) for c in result.changes] == [
        ("more runs diverged", "regression", 1)
    ]
    result = compare(one(0.9), one(0.9, failed=2))
    assert [(c.what, c.verdict, c.delta) for c in result.changes] == [
        ("fewer runs failed", "improvement", -2)
    ]


def test_vanished_cells_and_optimizers_regress_new_ones_do_not() -> None:
    other = ("mlp", "mnist1d")
    both = summary({CELL: {"bop": optimizer(0.8)}, other: {"bop": optimizer(0.7)}})
    just_one = summary({CELL: {"bop": optimizer(0.8)}})
    result = compare(just_one, both)
    assert result.regressed
    assert [(c.cell, c.optimizer, c.what) for c in result.changes] == [
        ("mlp/mnist1d", "*", "cell vanished")
    ]
    assert "optimizers: bop" in to_markdown(result)
    result = compare(both, just_one)
    assert not result.regressed
    assert [(c.cell, c.what, c.verdict) for c in result.changes] == [
        ("mlp/mnist1d", "new cell", "new")
    ]
    result = compare(summary({CELL: {"bop": optimizer(0.8)}}), one(0.9))
    assert [(c.optimizer, c.what, c.verdict) for c in result.changes] == [
        ("bamsprod", "optimizer vanished", "regression")
    ]
    assert compare(one(0.9), summary({CELL: {"bop": optimizer(0.8)}})).changes[0].verdict == "new"


def test_a_mean_that_is_gone_is_a_drop() -> None:
    result = compare(one(None, steps=None, failed=3), one(0.9))
    assert [(c.what, c.verdict, c.note) for c in result.changes] == [
        ("accuracy drop", "regression", "no run finished now"),
        ("more runs failed", "regression", "a run raised an error"),
    ]


def test_mismatched_suites_and_bad_tolerances_are_errors() -> None:
    with pytest.raises(BnnBenchError, match="different suites.*'quick'.*'nightly'"):
        compare(summary({}, name="quick"), summary({}))
    with pytest.raises(BnnBenchError, match="task convex.*task train"):
        compare(summary({}, task="convex"), summary({}))
    with pytest.raises(BnnBenchError, match="speed tolerance must be a number >= 0"):
        compare(summary({}), summary({}), speed_tolerance=-0.1)


def test_unfair_changes_are_warnings_not_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = summary({CELL: {"bop": seeded([0.8, 0.81, 0.79])}})
    cur = summary({CELL: {"bop": seeded([0.8, 0.81, 0.79])}}, epochs=10, torch="2.5.0")
    result = compare(cur, base)
    assert not result.regressed and result.changes == []
    assert result.warnings == [
        "suite spec: epochs differs: baseline 5, current 10; the numbers may differ for that "
        "reason alone (compared all the same)",
        "torch version differs: baseline 2.4.0, current 2.5.0; the numbers may differ for that "
        "reason alone (compared all the same)",
    ]
    code, out, err = gate(capsys, write(tmp_path, "c.json", cur), write(tmp_path, "b.json", base))
    assert code == 0 and err == ""
    assert "- warning: suite spec: epochs differs: baseline 5, current 10;" in out
    assert "Regression gate passed" in out and "2 warnings" in out


def alone(entry: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A summary of one cell with BAMSProd only: 2 tests (accuracy, error area), so Holm
    multiplies the smallest p-value by 2."""
    return summary({CELL: {"bamsprod": entry}}, **kwargs)


def one_sided_t(diff: float, var_a: float, var_b: float, n: int) -> tuple[float, float]:
    """Welch's t and its one-sided p-value for ``diff`` of means of two samples of ``n`` with
    sample variances ``var_a``/``var_b``, by hand (Welch-Satterthwaite degrees of freedom)."""
    from scipy.stats import t as student

    se2 = var_a / n + var_b / n
    df = se2**2 / ((var_a / n) ** 2 / (n - 1) + (var_b / n) ** 2 / (n - 1))
    t = diff / math.sqrt(se2)
    return t, float(student.sf(t, df))


def test_a_drop_is_a_regression_when_welch_rejects_after_holm_and_beyond_the_tolerance() -> None:
    # baseline 0.90/0.92/0.94, current 0.80/0.82/0.84: means 0.92 and 0.82, sample variance
    # 0.0004 each; t = 0.1 / sqrt(2 * 0.0004 / 3) = 6.1237 on 4 degrees of freedom
    t, p = one_sided_t(0.10, 0.0004, 0.0004, 3)
    assert t == pytest.approx(6.12372, abs=1e-5) and p == pytest.approx(0.001802, abs=2e-6)
    result = compare(alone(seeded([0.80, 0.82, 0.84])), alone(seeded([0.90, 0.92, 0.94])))
    assert result.tests == 2 and result.regressed
    (row,) = result.changes
    assert (row.what, row.verdict, row.measure) == ("accuracy drop", "regression", "accuracy")
    # Holm over 2 tests, the other (identical error areas) p = 1: 2 * p
    assert row.p == pytest.approx(2 * p, rel=1e-6)
    assert (row.baseline, row.current, row.delta) == pytest.approx((0.92, 0.82, -0.10))
    assert row.threshold == ACC_TOLERANCE
    assert row.note == f"p = {2 * p:.2g} < 0.05 (Holm) and 0.1000 > 0.01"
    # the same samples the other way round: an improvement, which never fails
    result = compare(alone(seeded([0.90, 0.92, 0.94])), alone(seeded([0.80, 0.82, 0.84])))
    assert not result.regressed
    assert [(c.what, c.verdict) for c in result.changes] == [("accuracy gain", "improvement")]


def test_both_conditions_are_needed() -> None:
    # significant but within the tolerance: 0.900/0.901/0.902 -> 0.895/0.896/0.897, a drop of
    # 0.005 with t = 0.005 / sqrt(2e-6 / 3) = 6.12: p as above, but 0.005 <= 0.01
    result = compare(alone(seeded([0.895, 0.896, 0.897])), alone(seeded([0.900, 0.901, 0.902])))
    (row,) = result.changes
    assert not result.regressed and row.verdict == "no change detected"
    assert row.note.endswith("but 0.0050 <= 0.01: within tolerance")
    # beyond the tolerance but not significant: 0.85/0.95/0.90 -> 0.80/0.95/0.90 (drop 0.0167;
    # variances 0.0025 and 0.005833: t = 0.3273, p = 0.38 one-sided)
    t, p = one_sided_t(0.05 / 3, 0.0025, 0.0175 / 3, 3)
    assert p > 0.3
    result = compare(alone(seeded([0.80, 0.95, 0.90])), alone(seeded([0.85, 0.95, 0.90])))
    (row,) = result.changes
    assert not result.regressed and row.verdict == "no change detected"
    assert row.p == pytest.approx(min(1.0, 2 * p), rel=1e-6)
    assert "within seed noise" in row.note
    # the tolerance is an option: a looser one leaves the clear drop of 0.1 unflagged
    clear = (alone(seeded([0.80, 0.82, 0.84])), alone(seeded([0.90, 0.92, 0.94])))
    assert not compare(*clear, acc_tolerance=0.1).regressed  # 0.1 is not more than 0.1
    assert compare(*clear, acc_tolerance=0.099).regressed


def test_speed_is_the_error_area_over_training() -> None:
    # AUC 0.80/0.81/0.79 -> 0.70/0.71/0.69: error areas 0.2 -> 0.3 (+50%), variance 1e-4
    # each, t = 0.1 / sqrt(2e-4 / 3) = 12.25 on 4 df
    t, p = one_sided_t(0.1, 1e-4, 1e-4, 3)
    accs = [0.9, 0.9, 0.9]
    cur = alone(seeded(accs, [0.70, 0.71, 0.69]))
    base = alone(seeded(accs, [0.80, 0.81, 0.79]))
    result = compare(cur, base)
    (row,) = result.changes
    assert (row.what, row.verdict, row.measure) == (
        "slower (error area over training)",
        "regression",
        "auc",
    )
    assert (row.baseline, row.current, row.delta) == pytest.approx((0.80, 0.70, 0.5))
    assert row.p == pytest.approx(2 * p, rel=1e-6) and row.threshold == SPEED_TOLERANCE
    # +5% of error area, however certain (sd 1e-4: t = 122), is within the 10% tolerance
    tight = alone(seeded(accs, [0.8, 0.8001, 0.7999]))
    near = alone(seeded(accs, [0.79, 0.7901, 0.7899]))
    assert not compare(near, tight).regressed
    assert compare(near, tight, speed_tolerance=0.04).regressed


def test_holm_runs_over_every_test_of_the_comparison() -> None:
    # two optimizers with the same drop: 4 tests (2 pairs x 2 measures); the two accuracy
    # p-values are equal (p), the error areas' are 1: Holm gives 4p, then max(4p, 3p) = 4p
    _, p = one_sided_t(0.10, 0.0004, 0.0004, 3)
    drop, same = seeded([0.80, 0.82, 0.84]), seeded([0.90, 0.92, 0.94])
    cur = summary({CELL: {"adam": drop, "bamsprod": copy.deepcopy(drop)}})
    base = summary({CELL: {"adam": same, "bamsprod": copy.deepcopy(same)}})
    result = compare(cur, base)
    assert result.tests == 4
    assert [(c.optimizer, c.p) for c in result.regressions] == [
        ("adam", pytest.approx(4 * p, rel=1e-6)),
        ("bamsprod", pytest.approx(4 * p, rel=1e-6)),
    ]


def test_a_diverged_run_counts_as_accuracy_0() -> None:
    # one of three runs diverged now (no accuracy): 0.90/0.92/0 against 0.90/0.92/0.94 is a
    # mean drop of 0.3133; the diverged count is listed, not judged on its own
    result = compare(alone(seeded([0.90, 0.92, None])), alone(seeded([0.90, 0.92, 0.94])))
    rows = {(c.what, c.verdict) for c in result.changes}
    assert ("more runs diverged", "no change detected") in rows
    (acc,) = [c for c in result.changes if c.measure == "accuracy"]
    assert acc.delta == pytest.approx(-0.94 / 3)
    # a single seed a side cannot be tested: the old rule, with a warning
    result = compare(alone(seeded([0.80])), alone(seeded([0.90])))
    assert result.tests == 0 and result.regressed
    assert "fewer than 2 seeds" in " ".join(result.warnings)


def test_the_sensitivity_is_the_drop_detected_with_80_percent_power() -> None:
    """The stated detectable drop: at that effect a one-sided t-test at level 0.05 / m has
    power 0.8, checked with the noncentral t distribution (scipy), not statsmodels."""
    import re

    from scipy.stats import nct
    from scipy.stats import t as student

    base = alone(seeded([0.90, 0.92, 0.94]))
    result = compare(copy.deepcopy(base), base)
    (line,) = [s for s in result.sensitivity if s.startswith("accuracy drop")]
    found = re.search(r"from ([0-9.]+) \(median", line)
    assert found is not None
    drop = float(found.group(1))
    n, sd, alpha = 3, 0.02, ALPHA / 2
    df = 2 * n - 2
    crit = student.isf(alpha, df)
    power = nct.sf(crit, df, drop / sd * math.sqrt(n / 2))
    assert power == pytest.approx(POWER, abs=0.01)  # the printed drop has 3 decimals
    assert "above the tolerance 0.01 in 1 of 1 pairs" in line
    needed = int(re.search(r"; (\d+) seeds per run", line).group(1))  # type: ignore[union-attr]
    # with that many seeds a side, the drop at 80% power is within 0.01, one fewer is not
    for k, within in ((needed, True), (needed - 1, False)):
        crit = student.isf(alpha, 2 * k - 2)
        assert bool(nct.sf(crit, 2 * k - 2, 0.01 / sd * math.sqrt(k / 2)) >= POWER) is within


def test_another_cpu_heads_the_output_and_the_thread_count_is_a_warning() -> None:
    base = alone(seeded([0.90, 0.92, 0.94]))
    cur = copy.deepcopy(base)
    cur["environment"]["cpu"] = "Intel Xeon"
    cur["suite"]["spec"]["threads_per_worker"] = 2
    base["suite"]["spec"]["threads_per_worker"] = 1
    result = compare(cur, base)
    text = to_markdown(result)
    assert text.splitlines()[0] == (
        "comparison across machine classes: baseline AMD EPYC (1 torch threads), current Intel "
        "Xeon (2 torch threads); floating-point results differ across CPUs, and the gate counts "
        "that as seed-to-seed noise: a baseline from this machine class is the fairer one "
        "(docs/nightly.md)"
    )
    assert result.warnings == [
        "suite spec: torch threads per run differs: baseline 1, current 2; the numbers may "
        "differ for that reason alone (compared all the same)"
    ]
    assert not result.regressed
    # a baseline written before the thread count was recorded says so
    del base["suite"]["spec"]["threads_per_worker"]
    (warning,) = compare(cur, base).warnings
    assert "baseline none, current 2 (not recorded in one summary" in warning


def test_tuning_is_reported_not_gated() -> None:
    def tuned(score: float, lr: float) -> dict[str, Any]:
        document = alone(seeded([0.90, 0.92, 0.94]))
        document["task"]["tuning"] = {
            "cells": {"mlp/digits/bamsprod": {"best_params": {"lr": lr}, "best_score": score}}
        }
        return document

    result = compare(tuned(0.85, 0.01), tuned(0.90, 0.02))
    assert not result.regressed and result.changes == []
    assert result.tuning == [
        "tuning (reported, not gated): 1 cells tuned in both; 1 chose another best point; best "
        "validation score: mean change -0.0500, largest drop -0.0500 (mlp/digits/bamsprod)",
        "tuning: best validation score lower by more than 0.01 in 1 cells: mlp/digits/bamsprod "
        "-0.0500 (one trial's score each: no test)",
    ]
    pinned = tuned(0.85, 0.02)
    pinned["suite"]["hparams_from"] = {"path": "base/summary.json"}
    result = compare(pinned, tuned(0.90, 0.02))
    assert result.tuning == [
        "tuning: not compared (the current run did not tune: its points are pinned)"
    ]
    assert "pinned from base/summary.json (no tuning trials)" in to_markdown(result)


# ----------------------------------------------------------------------------- the command
def test_a_drop_beyond_the_cis_exits_1_and_names_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur = write(tmp_path, "cur.json", one(0.85, 0.01))
    base = write(tmp_path, "base.json", one(0.90, 0.02))
    code, out, err = gate(capsys, cur, base)
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith("**Regression gate FAILED** (suite 'nightly'")
    assert regression_lines(out) == [
        "| mlp/digits | bamsprod | accuracy drop | 0.9000 | 0.8500 | -0.0500 | 0.02236 (old "
        "rule: CI noise) |  | REGRESSION |  |"
    ]
    assert "| bop |" not in out  # only the rows that changed
    # the same drop with a looser tolerance passes
    assert gate(capsys, cur, base, "--acc-tolerance", "0.06")[0] == 0


def test_noise_inside_the_cis_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cur = write(tmp_path, "cur.json", one(0.87, 0.03))
    base = write(tmp_path, "base.json", one(0.90, 0.04))
    code, out, _ = gate(capsys, cur, base)
    assert code == 0
    assert "Regression gate passed" in out and "No change detected: no test rejected" in out


def test_a_missing_cell_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = summary({CELL: {"bop": optimizer(0.8)}, ("cnn1d", "mnist1d"): {"bop": optimizer(0.7)}})
    cur = summary({CELL: {"bop": optimizer(0.8)}})
    code, out, _ = gate(capsys, write(tmp_path, "c.json", cur), write(tmp_path, "b.json", base))
    assert code == 1
    (line,) = regression_lines(out)
    # "*" (every optimizer) escaped, as every text of a Markdown table (report.markup.md_text)
    assert line.startswith(r"| cnn1d/mnist1d | \* | cell vanished: optimizers: bop |")


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnnbench: error: "), err
    return lines[0]


def bad_input(case: str, folder: Path) -> tuple[str, list[str]]:
    """A bad CURRENT argument and the texts its error line must hold."""
    if case == "wrong schema version":
        newer = one(0.9)
        newer["schema_version"] = 2
        return write(folder, "v2.json", newer), ["v2.json", "schema version 2", "version 1"]
    if case == "missing file":
        return str(folder / "nope.json"), ["no such file", "nope.json"]
    if case == "unreadable JSON":
        (folder / "cut.json").write_text('{"schema_version": 1,')
        return str(folder / "cut.json"), ["cut.json", "not valid JSON", "line 1"]
    if case == "mismatched suites":
        other = write(folder, "quick.json", summary({}, name="quick"))
        return other, ["different suites", "'quick'", "'nightly'", "quick.json"]
    if case == "mismatched tasks":
        return write(folder, "convex.json", summary({}, task="convex")), ["task convex"]
    if case == "folder without summary.json":
        (folder / "empty").mkdir()
        return str(folder / "empty"), ["no summary.json in folder", "empty"]
    # types: each document below crashed the comparison (TypeError, AttributeError)
    document = alone(seeded([0.90, 0.92, 0.94]))
    entry = document["task"]["cells"][0]["optimizers"]["bamsprod"]
    at = "task.cells[0].optimizers.bamsprod"
    if case == "a mean as a string":
        entry["accuracy"]["mean"] = "0.92"
        expected = [f'{at}.accuracy.mean is the string "0.92"', "allowed: a number or null"]
    elif case == "a per-seed accuracy as a string":
        entry["runs"][1]["accuracy"] = "0.92"
        expected = [f"{at}.runs[1].accuracy is the string", "allowed: a number or null"]
    elif case == "a count as a string":
        entry["failed"] = "1"
        expected = [f'{at}.failed is the string "1"', "allowed: an integer or null"]
    elif case == "a number that is not finite":
        entry["runs"][0]["auc"] = math.inf
        expected = [f"{at}.runs[0].auc is inf (not finite)", "a number or null"]
    elif case == "optimizers as an array":
        document["task"]["cells"][0]["optimizers"] = [entry]
        expected = ["task.cells[0].optimizers is an array", "allowed: an object"]
    elif case == "a tuned score as a string":
        document["task"]["tuning"] = {"cells": {"mlp/digits/bamsprod": {"best_score": "0.9"}}}
        expected = ["task.tuning.cells.mlp/digits/bamsprod.best_score is the string"]
    elif case == "nested 40 deep":  # valid JSON, deeper than any summary
        document["suite"]["spec"]["extra"] = json.loads("[" * 40 + "]" * 40)
        expected = ["nests deeper than 32 levels"]
    else:
        assert case == "nested 100,000 deep"  # deeper than Python's JSON parser goes
        (folder / "deep.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
        return str(folder / "deep.json"), ["deep.json", "nests deeper than 32 levels"]
    name = case.replace(" ", "-").replace(",", "") + ".json"
    return write(folder, name, document), [name, *expected]


@pytest.mark.parametrize(
    "case",
    [
        "wrong schema version",
        "missing file",
        "unreadable JSON",
        "mismatched suites",
        "mismatched tasks",
        "folder without summary.json",
        "a mean as a string",
        "a per-seed accuracy as a string",
        "a count as a string",
        "a number that is not finite",
        "optimizers as an array",
        "a tuned score as a string",
        "nested 40 deep",
        "nested 100,000 deep",
    ],
)
def test_bad_input_exits_2_with_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.json", one(0.9))
    bad, expected = bad_input(case, tmp_path)
    for current, baseline in ((bad, good), (good, bad)):  # either side
        code, out, err = gate(capsys, current, baseline)
        line = one_error_line(err)
        assert code == 2 and out == ""
        assert all(text in line for text in expected), line


def test_hparams_from_finds_and_checks_a_baseline_as_compare_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One function resolves a summary for both commands (report.compare.summary_path): the
    same folder rule, the same checks; ``--hparams-from`` errors say which option."""
    from benchmark.pinning import read_baseline

    document = alone(seeded([0.90, 0.92, 0.94]))
    document["task"]["tuning"] = {
        "cells": {"mlp/digits/bamsprod": {"best_params": {"lr": 0.01}, "best_score": 0.9}}
    }
    (tmp_path / "report").mkdir()
    write(tmp_path / "report", "summary.json", document)
    assert read_baseline(tmp_path / "report") == load_summary(str(tmp_path / "report"))
    (tmp_path / "empty").mkdir()
    for source, expected in (
        (tmp_path / "nope", "--hparams-from: no such file or folder: "),
        (tmp_path / "empty", "--hparams-from: no summary.json in folder "),
    ):
        with pytest.raises(BnnBenchError, match=f"^{expected}'{tmp_path}/"):
            read_baseline(source)
        with pytest.raises(BnnBenchError, match=f"^{expected[len('--hparams-from: ') :]}"):
            load_summary(str(source))
    document["task"]["tuning"]["cells"]["mlp/digits/bamsprod"]["best_params"] = [0.01]
    bad = write(tmp_path, "bad.json", document)
    suite = write_suite(tmp_path / "pin.yaml", tuning={"trials": 2})
    args = ["run", str(suite), "--results-dir", str(tmp_path / "r"), "--hparams-from", bad]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"bnnbench: error: '{bad}': task.tuning.cells.mlp/digits/bamsprod")
    assert "best_params is an array; allowed: an object or null" in line
    assert not (tmp_path / "r").exists()  # nothing created


def test_the_help_states_the_library_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {ACC_TOLERANCE})" in text
    assert f"(default: {SPEED_TOLERANCE:.2f})" in text


# ----------------------------------------------------------------------------- a real suite
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh small suite (BAMSProd and Bop, 2 seeds, 2 epochs), run once: its suite file
    and its report folder."""
    tmp = tmp_path_factory.mktemp("compare")
    suite = write_suite(tmp / "gate.yaml", optimizers=["bamsprod", "bop"], seeds=[0, 1])
    result = run_suite(suite, results_dir=tmp, workers=1, progress=False, on_event=lambda e: None)
    assert result.exit_code == 0 and result.report is not None
    folder = result.report.folder
    assert folder is not None
    del result
    gc.collect()  # the run's store connections close (sqlite folds its -wal file back in)
    return suite, folder


def test_a_fresh_run_against_itself_passes(
    smoke_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = smoke_run
    code, out, err = gate(capsys, folder, folder / "summary.json")
    assert (code, err) == (0, "")
    assert "Regression gate passed" in out and "warning" not in out


def test_a_copy_with_one_optimizers_accuracies_lowered_fails_and_names_it(
    smoke_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scipy.stats import t as student

    _, folder = smoke_run
    fresh = json.loads((folder / "summary.json").read_text())
    lowered = copy.deepcopy(fresh)
    cell = lowered["task"]["cells"][0]
    spreads = {
        name: statistics.stdev([r["accuracy"] for r in entry["runs"]])
        for name, entry in cell["optimizers"].items()
    }
    name = min(spreads, key=spreads.__getitem__)
    # 2 seeds a side, the same spread s: t = 0.2 / s on 2 degrees of freedom; 4 tests (2
    # pairs x 2 measures), so Holm rejects when the one-sided p < 0.05 / 4
    assert 0.2 / max(spreads[name], 1e-12) > student.isf(0.05 / 4, 2)
    for run in cell["optimizers"][name]["runs"]:
        run["accuracy"] -= 0.2
    cell["optimizers"][name]["accuracy"]["mean"] -= 0.2
    jsonschema.validate(lowered, schema())
    code, out, err = gate(capsys, write(tmp_path, "lowered.json", lowered), folder)
    assert (code, err) == (1, "")
    (line,) = regression_lines(out)
    assert line.startswith(f"| {cell['model']}/{cell['dataset']} | {name} | accuracy drop |")
    assert "| -0.2000 |" in line


def test_a_suite_is_compared_from_its_store_without_writing(
    smoke_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    suite, folder = smoke_run
    results = folder.parent.parent

    def listing() -> dict[str, bytes | None]:  # every path, and every file's bytes
        return {str(p): p.read_bytes() if p.is_file() else None for p in results.rglob("*")}

    before = listing()
    code, out, err = gate(capsys, suite, folder, "--results-dir", str(results))
    assert (code, err) == (0, ""), out
    assert "Regression gate passed" in out
    assert listing() == before
    # the same numbers as the report folder's (apart from when it was rendered)
    computed, written = load_summary(suite, results_dir=results), load_summary(folder)
    assert listing() == before
    for document in (computed, written):
        del document["generated_at"], document["notes"]
    assert computed == written


def test_how_tuning_ran_is_part_of_the_spec_a_comparison_checks(tmp_path: Path) -> None:
    """A summary names the tuning sampler, seeds per trial and halving where they differ from
    the defaults; comparing a TPE study with a Sobol one warns about each."""
    import pandas as pd

    from benchmark.suite import load_suite
    from report.compare import fairness_warnings
    from report.summary_json import build_summary
    from tests.conftest import write_suite

    def summary(**tuning: object) -> dict:
        suite = load_suite(write_suite(tmp_path / "s.yaml", tuning={"trials": 4, **tuning}))
        return build_summary(
            suite=suite, store_url="sqlite://", runs=pd.DataFrame(), task_part={}, notes=[]
        )

    plain = summary()
    assert not {
        k for k in plain["suite"]["spec"] if k.startswith("tuning_") and k != "tuning_trials"
    }
    study = summary(sampler="tpe", seeds_per_trial=3, halving={"min_epochs": 1, "eta": 2})
    spec = study["suite"]["spec"]
    assert spec["tuning_sampler"] == "tpe" and spec["tuning_seeds_per_trial"] == 3
    assert spec["tuning_halving"] == {"min_epochs": 1, "eta": 2}
    said = " | ".join(fairness_warnings(study, plain))
    for name in ("tuning sampler", "seeds per tuning trial", "successive halving"):
        assert f"suite spec: {name}" in said
    assert fairness_warnings(plain, summary()) == []
