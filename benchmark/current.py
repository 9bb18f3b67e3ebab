"""What a suite asks for *now*: its final runs, its tuning trials and its runs at the
defaults, computed from the suite file and (for a tuned suite) the stored tuning outcome.

Pandas- and SQLAlchemy-free: ``bnnbench show`` (:mod:`benchmark.show`) computes it on the
light reader of a SQLite store (:class:`benchmark.store.summary_read.SqliteReader`), the
report and :func:`benchmark.results.load_results` on a :class:`benchmark.store.Store`;
both give :func:`current_runs` what it reads: ``read_points`` (a study's trial points) and
``outcomes`` (stored runs' statuses and summaries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmark.tasks.registry import get_task

#: the role a suite's final runs, tuning trials and runs at the defaults (``tuning.defaults``)
#: are linked with in the store's ``suite_runs``. A run is linked to a suite once, with the
#: role of the phase that first asked for it: a defaults run whose spec equals a tuned final
#: run's (the best point was the defaults) is one run, linked ``final``. So which row a run
#: belongs to is computed from the specs (:func:`current_runs`), never read from the role.
FINAL, TUNING, DEFAULTS = "final", "tuning", "defaults"


@dataclass
class CurrentRuns:
    """What a suite file asks for *now*: its final runs' ids, its tuning trials' run ids, the
    tuning outcome (a :class:`benchmark.tune.TuningResult`; ``None`` without tuning) and the ids of its runs at the defaults
    (``tuning.defaults``; they may share ids with the final runs). Runs that earlier versions
    of the file asked for stay in the store (and linked), but reports and ``show`` leave them
    out."""

    final_ids: set[str]
    trial_ids: set[str] = field(default_factory=set)
    tuning: Any = None
    defaults_ids: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        """Every run the suite asks for now."""
        return self.final_ids | self.trial_ids | self.defaults_ids


def defaults_specs(suite: Any, task: Any = None) -> list[Any]:
    """The runs ``tuning.defaults`` adds: the suite's final runs at the registry defaults
    (+ the suite's fixed ``hparams``), when it tunes and asks for them; else none."""
    task = task or get_task(suite.task)
    if not (task.tunes(suite) and getattr(suite.tuning, "defaults", False)):
        return []
    return list(task.final_specs(suite))


def current_runs(suite: Any, store: Any) -> CurrentRuns:
    """The runs ``suite`` asks for now; a tuned suite's final runs follow the best points
    the stored trials give (:func:`benchmark.tune.stored_tuning`: the studies' points, the
    stored runs' scores and halving decisions, as the run itself chose them)."""
    task = get_task(suite.task)
    if not task.tunes(suite):
        return CurrentRuns({s.run_id for s in task.final_specs(suite)})
    from benchmark.tune import stored_tuning

    tuning = stored_tuning(suite, store)
    final = {s.run_id for s in task.final_specs(suite, tuning.best_params)}
    defaults = {s.run_id for s in defaults_specs(suite, task)}
    return CurrentRuns(final, tuning.run_ids(), tuning, defaults_ids=defaults)
