"""What a task is: the one interface the pipeline, the executors and the report talk to.

A *task* turns a validated suite into run specs, groups them into units of work, runs a unit
(in any process: a pool worker, a Dask worker, the caller's), and knows what its report reads
and shows. The training benchmark (:mod:`benchmark.tasks.train_task`) and the convex
counterexample (:mod:`benchmark.tasks.convex_task`) implement it; nothing else in the harness
branches on a task's name. To add a task: write one module with a :class:`Task` subclass and
add one :class:`TaskEntry` line to :data:`benchmark.tasks.registry.TASKS`.

Torch-free: task classes import their heavy modules inside their methods, so that the CLI,
the suite loader and the workers' fork server can name tasks without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from benchmark.records import RunRecord


class Task:
    """The interface of a task (subclass it; every method has a working default where one
    makes sense).

    ``specs`` are frozen dataclasses derived from :class:`benchmark.records.SpecBase` whose
    ``task`` field names the task; a *unit* is a list of specs run by one worker call.
    """

    #: the suite's ``task:`` value and the ``task`` field of its specs
    name: ClassVar[str]
    #: the metric names its report reads from the store (only these are loaded)
    report_metrics: ClassVar[tuple[str, ...]] = ()
    #: whether its suites name a models x datasets x optimizers x seeds grid (and can tune)
    grid: ClassVar[bool] = False
    #: the suite section holding its own settings (e.g. ``convex``), if it has one
    section: ClassVar[str | None] = None

    # ---------------------------------------------------------------- suite -> specs
    def check_suite(self, suite: Any, where: str) -> None:
        """The task's own rules of a suite beyond its schema (one-line errors naming the
        file and key path); called by :func:`benchmark.suite.load_suite`."""

    def tunes(self, suite: Any) -> bool:
        """Whether the suite asks for a tuning phase before its final runs."""
        return False

    def final_specs(
        self, suite: Any, best_params: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[Any]:
        """The suite's final runs (with each cell's tuned point, when ``best_params`` has it)."""
        raise NotImplementedError

    def summary_line(self, suite: Any) -> str:
        """What ``bnnbench validate`` says the suite will run, e.g. ``final runs: 84``."""
        return f"runs: {len(self.final_specs(suite))}"

    def tuning_note(self, suite: Any) -> str | None:
        """One sentence on how hyper-parameters were chosen (printed and put in the report)."""
        return None

    # ---------------------------------------------------------------- execution
    def preflight(self, specs: Sequence[Any], data_root: str | None, download: bool) -> None:
        """Fail fast, before any run, on what would make every run fail (default: nothing)."""

    def plan_units(self, specs: Sequence[Any]) -> list[list[Any]]:
        """Group specs into units of work (default: one run per unit, in order)."""
        return [[spec] for spec in specs]

    def split_unit(self, unit: Sequence[Any]) -> list[list[Any]]:
        """How to retry a unit that raised: smaller units whose failures stay their own
        (default: one run each)."""
        return [[spec] for spec in unit]

    def run_unit(
        self, unit: Sequence[Any], data_root: str | None = None, download: bool = False
    ) -> list[RunRecord]:
        """Run one unit and return one record per spec, in order. Exceptions of single runs
        are the executor's to record as ``failed``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- report
    def summary_table(self, runs: Any) -> Any:
        """A small table of the stored final runs, for ``bnnbench show`` (default: status and
        summary columns)."""
        cols = [c for c in runs.columns if c == "status" or c.startswith("summary.")]
        return runs[cols]

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
        """The report's sections (:class:`report.blocks.Section`, figures written under
        ``out_dir / "figures"``) and the task's part of ``summary.json``, from the store's
        tidy frames: ``runs`` (final runs), ``values`` (their long metrics, the names of
        :attr:`report_metrics`), and for tuned suites ``trial_runs`` (the trials' runs
        frame), ``trials`` (:func:`benchmark.results.trials_frame`) and ``tuning`` (the
        :class:`benchmark.tune.TuningResult`)."""
        return [], {}
