"""``bnnbench plan SUITE``: how many seeds a suite needs, before anyone spends the compute.

From a suite's existing store (read-only; a pilot run with few seeds is enough), per comparison
of the report's primary family (BAMSProd vs each baseline, pooled across cells) and per claim
against Bop, at the observed spread (:mod:`report.inference`):

- the **minimum detectable effect** at 80% power at the family's first Holm level
  (``alpha / family size``) with the seeds stored now;
- the **seeds per cell** that would detect the paper's claimed effects, +3.7 accuracy points
  and a 1.2x speed-up, at that level and spread.

And, from the suite file alone (no data): the **design check**, the smallest Holm-adjusted p
an exact sign-flip test could reach in each family with the suite's seed counts (below 0.05:
the family can reach a verdict without assuming normality).

Library first: :func:`plan_suite` returns a :class:`Plan`; the CLI prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import BnnBenchError, StoreMissing

#: the paper's claimed effects on the tests' scales: accuracy points (as a fraction), log 1.2
CLAIMED = {"accuracy": 0.037, "speed": math.log(1.2)}
CANDIDATE = "bamsprod"


@dataclass(frozen=True)
class PlanRow:
    """One primary comparison (BAMSProd vs ``vs`` on ``metric``, pooled over ``cells``):
    ``pairs`` seed pairs now, the per-pair ``sd`` (test scale: accuracy difference or
    log-ratio), the minimum detectable effect (reported scale: accuracy difference as a
    fraction, or a speed-up ratio) and the seeds per cell for the claimed effect."""

    vs: str
    metric: str
    cells: int
    pairs: int
    sd: float
    mde: float
    seeds_for_claim: float


@dataclass
class Plan:
    """What :func:`plan_suite` found: the suite's design check and, with a store, the rows."""

    suite: str
    store: str
    seeds: int
    cells: int
    family_size: int
    design: dict[str, float]
    rows: list[PlanRow] = field(default_factory=list)
    message: str = ""

    @property
    def has_data(self) -> bool:
        return bool(self.rows)


def design_families(suite: Any) -> dict[str, list[int]]:
    """The seed pairs of every test of each family, from the suite file (two metrics each):
    primary, BAMSProd vs each other optimizer pooled, ``len(seeds) x cells`` pairs; secondary,
    per cell vs every other row (with ``tuning.defaults`` also every ``"<name>
    (defaults)"``), ``len(seeds)`` pairs."""
    names = list(suite.optimizer_names)
    if CANDIDATE not in names:
        return {"primary": [], "secondary": []}
    others = [n for n in names if n != CANDIDATE]
    rows = list(others)
    if getattr(suite.tuning, "defaults", False) and suite.tuning.trials:
        rows += [f"{n} (defaults)" for n in names]
    seeds, cells = len(suite.seeds), len(suite.pairs)
    return {
        "primary": [seeds * cells] * (2 * len(others)),
        "secondary": [seeds] * (2 * len(rows) * cells),
    }


def _rows(analysis: Any) -> list[PlanRow]:
    from report import inference as inf
    from report.analysis import family_alpha

    alpha = family_alpha(analysis.primary)
    rows = []
    for c in analysis.primary:
        sd = c.effect.se * math.sqrt(c.effect.n) if math.isfinite(c.effect.se) else math.nan
        total = inf.seeds_needed(CLAIMED[c.metric], sd, alpha)
        per_cell = math.ceil(total / c.cells) if math.isfinite(total) else math.nan
        rows.append(PlanRow(c.other, c.metric, c.cells, c.effect.n, sd, c.mde, float(per_cell)))
    return rows


def plan_suite(
    suite_or_path: Any, *, results_dir: str | Path = "results", store: str | None = None
) -> Plan:
    """The :class:`Plan` of a training suite from its store (read-only). With no store, or no
    final runs yet, the plan holds the design check and a ``message`` saying how to get a
    pilot. A suite of another task raises :class:`BnnBenchError`."""
    from benchmark.pipeline import load_suite_like
    from benchmark.results import load_results
    from benchmark.tasks.registry import get_task
    from report import inference as inf
    from report.analysis import analyse
    from report.summary import final_runs

    suite = load_suite_like(suite_or_path)
    if suite.task != "train":
        raise BnnBenchError(
            f"plan: suite '{suite.name}' has task {suite.task}; plan reads training suites "
            "(task: train) only"
        )
    families = design_families(suite)
    plan = Plan(
        suite=suite.name,
        store="",
        seeds=len(suite.seeds),
        cells=len(suite.pairs),
        family_size=len(families["primary"]),
        design={name: inf.min_signflip_holm(n) for name, n in families.items()},
    )
    pilot = (
        f"run a pilot first, e.g. `bnnbench run {suite.name}` on a copy of the suite file "
        "with fewer seeds (seeds: 3) and the same store, then `bnnbench plan` again"
    )
    try:
        res = load_results(
            suite, results_dir=results_dir, store=store,
            metric_names=list(get_task(suite.task).report_metrics),
        )  # fmt: skip
    except StoreMissing as exc:
        plan.message = f"nothing stored yet ({exc}): {pilot}"
        return plan
    plan.store = res.store_url
    finals = final_runs(res.runs)
    if finals.empty:
        plan.message = f"no final runs stored yet in {res.store_url}: {pilot}"
        return plan
    analysis = analyse(finals, res.values, suite.reference, target=suite.target)
    plan.rows = _rows(analysis)
    if not plan.rows:
        plan.message = "no comparison of BAMSProd with a baseline in the stored runs"
    return plan


def plan_lines(plan: Plan) -> list[str]:
    """The plan as the CLI prints it: a few sentences and a Markdown table."""
    from report import inference_words as words
    from report.markup import markdown_table

    lines = [
        f"suite '{plan.suite}': {plan.seeds} seed(s) x {plan.cells} cell(s); primary family "
        f"{plan.family_size} test(s) (BAMSProd vs each baseline, pooled, accuracy and speed).",
        "design check (from the seed counts, not the data): the smallest Holm-adjusted p an "
        f"exact sign-flip test could reach: primary {words.p_value(plan.design['primary'])}, "
        f"secondary {words.p_value(plan.design['secondary'])} (below 0.05: a verdict is "
        "possible without assuming normality).",
    ]
    if plan.message:
        lines.append(plan.message)
    if not plan.rows:
        return lines
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "vs": r.vs,
                "metric": r.metric,
                "cells": r.cells,
                "seed pairs now": r.pairs,
                "detectable now (80% power)": words.mde(r.mde, r.metric),
                "seeds per cell for the claim": (
                    "n/a" if not math.isfinite(r.seeds_for_claim) else int(r.seeds_for_claim)
                ),
                "claim": "+3.7 points" if r.metric == "accuracy" else "1.2x",
            }
            for r in plan.rows
        ]
    )
    lines.append(
        f"from {plan.store}, at the observed spread (alpha / {plan.family_size} per test, "
        "Holm's first step):"
    )
    lines.append(markdown_table(table).rstrip("\n"))
    return lines
