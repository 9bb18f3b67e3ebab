"""``bnnbench show SUITE``: what the store holds for a suite, in a few lines and a table.

The lines: the final runs stored and their statuses; for a tuned suite the trials (by status),
the tuning runs and each cell's best point (:func:`benchmark.tune.loop.tuning_lines`); then
the accuracy table (:mod:`report.show_table`: per cell, seeds, diverged and failed runs, the
final test accuracy's mean, sd and 95% Student-t interval in points, seconds per run).

Two ways to the same lines (tests/test_show_light.py compares them on stored suites):

- :func:`light_lines`, for a training suite on a plain SQLite file (the default store): the
  standard library's sqlite3 (:class:`benchmark.store.summary_read.SqliteReader`) and plain
  Python (:func:`report.show_table.accuracy_rows`); neither pandas, SQLAlchemy, numpy,
  scipy nor torch is imported, so the command answers in well under a second
  (docs/performance.md);
- :func:`full_lines`, for every other store (PostgreSQL, SQLite URIs) and task (``convex``):
  :func:`benchmark.results.load_results` and the task's ``summary_table`` (pandas).

Both open the store read-only: ``show`` never creates or changes one. A suite with nothing
stored yet prints one line and succeeds; a damaged or foreign store is one error line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import StoreMissing


def show_lines(
    suite: Any, *, results_dir: str | Path = "results", store: str | None = None
) -> list[str]:
    """What ``bnnbench show`` prints for ``suite`` (a loaded :class:`~benchmark.suite.Suite`),
    by the light path where it applies (:func:`light_lines`), else :func:`full_lines`."""
    from benchmark.store.summary_read import plain_sqlite_path
    from benchmark.suite import suite_database_url

    url = store or suite_database_url(suite, results_dir)
    path = plain_sqlite_path(url)
    if path is not None and suite.task == "train":
        return light_lines(suite, url, path)
    return full_lines(suite, results_dir=results_dir, store=store)


def _counts(statuses: list[str]) -> str:
    return ", ".join(f"{k}: {statuses.count(k)}" for k in sorted(set(statuses)))


def _head(name: str, url: str, finals: list[str]) -> str:
    if finals:
        return f"suite '{name}': {len(finals)} final runs stored in {url} ({_counts(finals)})"
    return f"suite '{name}': no final runs stored yet in {url}"


def _tuning(tuning: Any, statuses: list[str]) -> list[str]:
    from benchmark.tune.loop import tuning_lines

    head = f"tuning: {len(statuses)} trials ({_counts(statuses)}), {len(tuning.run_ids())} runs"
    return [head, *tuning_lines(tuning)]


def light_lines(suite: Any, url: str, path: Path) -> list[str]:
    """:func:`show_lines` for a training suite whose store is the SQLite file ``path``
    (``url``: ``sqlite:///<path>``), read with sqlite3 and plain Python."""
    from benchmark.current import current_runs
    from benchmark.store.summary_read import SqliteReader
    from report.show_table import accuracy_rows, markdown

    try:
        reader = SqliteReader(url, path)
    except StoreMissing as exc:
        return [f"suite '{suite.name}': nothing stored yet ({exc})"]
    try:
        current = current_runs(suite, reader)
        linked = reader.suite_runs(suite.name)
    finally:
        reader.close()
    runs = [r for r in linked if r["run_id"] in current.final_ids]
    runs += [
        {**r, "optimizer": f"{r['optimizer']} (defaults)"}
        for r in linked
        if r["run_id"] in current.defaults_ids
    ]
    tuning = current.tuning
    trials = (
        [t.last.status for ts in tuning.trials.values() for t in ts] if tuning is not None else []
    )
    if not runs and not [s for s in trials if s != "missing"]:
        return [f"suite '{suite.name}': no runs stored in {url}"]
    seen: set[str] = set()
    finals = []
    for r in runs:  # a run in the tuned and the defaults rows: once
        if r["run_id"] not in seen:
            seen.add(r["run_id"])
            finals.append(r["status"])
    lines = [_head(suite.name, url, finals)]
    if tuning is not None and trials:
        lines += _tuning(tuning, trials)
    return [*lines, markdown(accuracy_rows(runs))]


def full_lines(
    suite: Any, *, results_dir: str | Path = "results", store: str | None = None
) -> list[str]:
    """:func:`show_lines` through :func:`benchmark.results.load_results` (pandas,
    SQLAlchemy): any store URL, any task."""
    from benchmark.results import load_results
    from benchmark.tasks.registry import get_task

    try:
        res = load_results(suite, results_dir=results_dir, store=store, metric_names=[])
    except StoreMissing as exc:
        return [f"suite '{suite.name}': nothing stored yet ({exc})"]
    stored = res.trials[res.trials["status"] != "missing"] if not res.trials.empty else res.trials
    if res.runs.empty and stored.empty:
        return [f"suite '{suite.name}': no runs stored in {res.store_url}"]
    finals = res.runs.drop_duplicates("run_id")  # a run in the tuned and defaults rows: once
    lines = [_head(suite.name, res.store_url, list(finals["status"]))]
    if res.tuning is not None and not res.trials.empty:
        lines += _tuning(res.tuning, list(res.trials["status"]))
    return [*lines, summary_text(get_task(suite.task), res.runs)]


def summary_text(task: Any, runs: Any) -> str:
    """The task's summary table of ``runs`` as text: the training task's accuracy table
    formatted as the light path formats it (:func:`report.show_table.markdown`), another
    task's frame as a Markdown table."""
    if task.name == "train":
        from report.show_table import markdown

        return markdown(task.summary_table(runs).to_dict("records"))
    from report.markup import markdown_table

    return markdown_table(task.summary_table(runs))
