"""The convex counterexample (:mod:`benchmark.tasks.convex`) as a
:class:`~benchmark.tasks.base.Task`: one run per (optimizer entry, form, seed), runs that can
share one optimizer object batched into one unit, no tuning. Torch-free at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmark.records import RunRecord
from benchmark.tasks.base import Task


class ConvexTask(Task):
    """``task: convex``."""

    name = "convex"
    report_metrics = ("x", "played", "avg_regret")
    section = "convex"

    def check_suite(self, suite: Any, where: str) -> None:
        from benchmark.suite.checks import check_convex_suite

        check_convex_suite(suite, where)

    def final_specs(
        self, suite: Any, best_params: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[Any]:
        from benchmark.tasks.convex import expand_convex

        return expand_convex(suite.convex)

    def summary_line(self, suite: Any) -> str:
        """The run count of :func:`~benchmark.tasks.convex.expand_convex` (one run per entry
        and form, one per seed for the stochastic form), counted without importing it (and
        torch): ``bnnbench validate`` stays light."""
        section = suite.convex
        runs = sum(
            len(section.seeds) if form == "stochastic" else 1
            for entry in section.optimizers
            for form in section.optimizer_forms(entry)
        )
        return f"convex runs: {runs}"

    def tuning_note(self, suite: Any) -> str:
        return "Task: the convex counterexample (docs/convex.md); no tuning."

    def plan_units(self, specs: Sequence[Any]) -> list[list[Any]]:
        """Runs that can share one optimizer object together (the task's per-step cost is
        Python overhead, so one object driving many instances is several times cheaper), the
        costliest batches first (longest-processing-time order: the few long batches then
        spread over the workers instead of one starting last)."""
        from benchmark.tasks.convex import batch_cost, convex_batches

        return sorted(convex_batches(specs), key=batch_cost, reverse=True)

    def split_unit(self, unit: Sequence[Any]) -> list[list[Any]]:
        """A failing batch is retried in groups of equal hyper-parameters: one bad part must
        not fail the runs beside it."""
        from benchmark.tasks.convex import split_by_hparams

        return split_by_hparams(unit)

    def run_unit(
        self, unit: Sequence[Any], data_root: str | None = None, download: bool = False
    ) -> list[RunRecord]:
        from benchmark.tasks.convex import run_convex_batch

        return run_convex_batch(unit)

    def summary_table(self, runs: Any) -> Any:
        """Per run: optimizer, form, seed, status and its summary values."""
        cols = [c for c in runs.columns if c in ("optimizer", "form", "seed", "status")]
        return runs[cols + [c for c in runs.columns if c.startswith("summary.")]]

    def report(
        self,
        suite: Any,
        runs: Any,
        values: Any,
        *,
        out_dir: Path,
        trial_runs: Any = None,
        trials: Any = None,
        tuning: Any = None,
    ) -> tuple[list[Any], dict[str, Any]]:
        from report.convex import convex_section, convex_table

        convex_runs = runs[runs["task"] == self.name] if not runs.empty else runs
        section = convex_section(convex_runs, values, out_dir / "figures")
        table = convex_table(convex_runs) if not convex_runs.empty else None
        records = table.to_dict(orient="records") if table is not None else []
        return [section], {"convex": records}
