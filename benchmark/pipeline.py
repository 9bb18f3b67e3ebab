"""The whole pipeline of a suite, as Python calls: tune -> final runs -> (the same runs at the
registry defaults, with ``tuning.defaults``) -> report.

``bnnbench run`` is :func:`run_suite` plus printing; ``bnnbench report`` is
:func:`build_report`. A notebook makes the same calls::

    from benchmark import run_suite, load_results

    result = run_suite("smoke", results_dir="results", workers=2)
    result.exit_code, result.report          # 0, ReportPaths(markdown=..., html=...)
    load_results("smoke").runs               # the tidy runs frame

Nothing here prints. Progress goes to ``on_event`` (each :class:`Event`: a line the CLI
prints, with its kind), or, without one, to the ``bnnbench`` logger at INFO level; a tqdm
progress bar on stderr shows the runs of each phase unless ``progress=False``.

Order of work, and what is checked before anything is created or deleted (the same as the
CLI's, docs/architecture.md): the suite is validated; the report folder is proved writable;
the executor is opened (a Dask scheduler reached, or a local Dask cluster started: one for
both the tuning and the final runs); a new store is preceded by the task's preflight of
every run (dataset files, model/dataset fit, hyper-parameters), an existing one is checked
(integrity) and locked for this suite, and only the runs still to do are preflighted; only
then does ``fresh`` delete anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from benchmark.current import DEFAULTS, FINAL, TUNING, current_runs, defaults_specs
from benchmark.errors import BnnBenchError
from benchmark.tasks.registry import get_task

if TYPE_CHECKING:  # imported where used: a rerun with nothing to do needs none of them
    # (pandas, SQLAlchemy; docs/performance.md, "A rerun with nothing left to do")
    from benchmark.execute import ExecutionReport
    from benchmark.records import RunRecord
    from benchmark.store import Store

logger = logging.getLogger("bnnbench")

EventKind = Literal["info", "warning", "run", "phase", "tuned", "report"]
#: exit codes of a finished pipeline (the CLI's too)
EXIT_OK, EXIT_FAILED_RUNS, EXIT_INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class Event:
    """One thing worth saying while a suite runs: ``message`` is one line; ``record`` is set
    for ``kind == "run"`` (a run was just stored)."""

    kind: EventKind
    message: str
    record: RunRecord | None = None


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written: its folder, ``REPORT.md``, ``index.html`` and
    ``summary.json`` (report/render.py lists every file)."""

    markdown: Path
    html: Path
    folder: Path | None = None
    summary: Path | None = None


@dataclass
class SuiteResult:
    """What :func:`run_suite` did: the executed phases (``"tuning"``, ``"final"``, and
    ``"defaults"`` with ``tuning.defaults``), the tuning outcome, the report, and whether it
    was interrupted."""

    suite: Any
    store_url: str
    phases: dict[str, ExecutionReport] = field(default_factory=dict)
    tuning: Any = None
    report: ReportPaths | None = None
    interrupted: bool = False

    @property
    def failed(self) -> int:
        """Runs that raised an error (diverged runs are results, not failures)."""
        return sum(phase.failed for phase in self.phases.values())

    @property
    def exit_code(self) -> int:
        """0 all stored; 1 some runs failed; 130 interrupted (rerun to resume)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED_RUNS if self.failed else EXIT_OK


def _log_event(event: Event) -> None:
    level = logging.WARNING if event.kind == "warning" else logging.INFO
    logger.log(level, event.message)


def check_writable_dir(path: Path, what: str, hint: str) -> None:
    """Prove a file can be created in ``path`` (before any run spends its compute on a report
    it cannot write), or raise a one-line :class:`BnnBenchError`. Leaves nothing behind:
    folders it had to create for the probe are removed again."""
    created: list[Path] = []
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".bnnbench-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BnnBenchError(f"{what} '{path}' is not writable ({reason}); {hint}") from None
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _store_exists(url: str) -> bool:
    """Whether the store at ``url`` exists already: False only for a SQLite file not yet
    created (the only store :class:`StoreMissing` is raised for). Nothing is opened here: the
    store is opened (and, for SQLite, integrity-checked) once, right after."""
    from benchmark.store.summary_read import plain_sqlite_path

    if (plain := plain_sqlite_path(url)) is not None:  # the default store: no SQLAlchemy
        return plain.exists()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from benchmark.store.sqlite import sqlite_file

    try:
        path = sqlite_file(make_url(url))
    except (ArgumentError, ValueError):
        return True  # opening it reports the bad URL in one line, before anything is created
    return path is None or path.exists()


def load_suite_like(suite_or_path: Any) -> Any:
    """A validated suite from a :class:`~benchmark.suite.Suite`, a path or a shipped name."""
    from benchmark.suite import Suite, load_suite
    from benchmark.suite_files import resolve_suite_path

    if isinstance(suite_or_path, Suite):
        return suite_or_path
    return load_suite(resolve_suite_path(suite_or_path))


def with_overrides(suite: Any, *, device: str | None = None, threads: int | None = None) -> Any:
    """``suite`` with another device and/or torch thread count per run (both are part of
    every run's spec, so they change run ids)."""
    update: dict[str, Any] = {}
    if device:
        update["device"] = device
    if threads:
        update["executor"] = suite.executor.model_copy(update={"threads_per_worker": threads})
    return suite.model_copy(update=update) if update else suite


def _unfinished(specs: Sequence[Any], store: Store) -> list[Any]:
    done = store.finished_ids(spec.run_id for spec in specs)
    return [spec for spec in specs if spec.run_id not in done]


def _add(before: ExecutionReport | None, more: ExecutionReport) -> ExecutionReport:
    """Two executions of one phase (the tuning phase runs in rounds and rungs) as one."""
    from benchmark.execute import ExecutionReport

    if before is None:
        return more
    return ExecutionReport(
        total=before.total + more.total,
        skipped=before.skipped + more.skipped,
        completed=before.completed + more.completed,
        diverged=before.diverged + more.diverged,
        failed=before.failed + more.failed,
        interrupted=before.interrupted or more.interrupted,
        seconds=before.seconds + more.seconds,
        records=before.records + more.records,
    )


def _phase_line(title: str, done: ExecutionReport, ran: bool) -> str:
    """The line that ends a phase (or one step of the tuning phase): how it ended (``done``
    or ``interrupted``) and what it counted: the runs stored by this command, by status,
    and, when it resumed, the runs found stored before. ``ran``: it executed runs (else all
    it had was stored before)."""
    if not ran:
        return f"{title}nothing to run, {done.skipped} already stored (resumed)"
    ended = "interrupted after" if done.interrupted else "done in"
    resumed = f", {done.skipped} already stored (resumed)" if done.skipped else ""
    return (
        f"{title}{ended} {done.seconds:.1f} s: {done.completed} completed, "
        f"{done.diverged} diverged, {done.failed} failed{resumed}"
    )


def tuning_lines(result: Any) -> list[str]:
    """One line per tuned cell (:func:`benchmark.tune.loop.tuning_lines`)."""
    from benchmark.tune.loop import tuning_lines as lines

    return lines(result)


def run_suite(
    suite_or_path: Any,
    *,
    results_dir: str | Path = "results",
    store: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    executor: str | None = None,
    scheduler: str | None = None,
    device: str | None = None,
    data_root: str | None = None,
    download: bool = False,
    fresh: bool = False,
    report: bool = True,
    progress: bool = True,
    on_event: Callable[[Event], None] | None = None,
    tune_only: bool = False,
    rebuild_report: bool = False,
    hparams_from: str | Path | None = None,
) -> SuiteResult:
    """Run a suite end to end, exactly as ``bnnbench run``: tune (if the suite tunes), run the
    final runs, then (``tuning.defaults``) the same runs at the registry defaults, write the
    report. A defaults run whose spec equals a tuned run's (the best point was the defaults)
    is the same run: it runs once and is reported in both rows. Resumes by default (stored
    runs are skipped); ``fresh`` forgets the suite's stored runs and studies first.
    ``workers``, ``threads``, ``executor``, ``scheduler``, ``device`` and ``data_root``
    override the suite's settings. ``tune_only``: stop after the tuning phase (no final runs,
    no report; :func:`tune_suite`). ``hparams_from``: a baseline ``summary.json`` (or report
    folder) whose tuned point per cell the final runs train at, with no tuning trials
    (:mod:`benchmark.pinning`). The report is rebuilt only when the store, the suite or
    the code changed since it was written (:mod:`benchmark.report_stamp`), or with
    ``rebuild_report`` (always for a pinned run); the local pool's fork server starts only
    when there are runs to do (:func:`_start_workers_early`). Raises :class:`BnnBenchError`
    for what the user can fix (nothing is created or deleted then).

    The phases, in order, each a function below: :func:`_settle` (the arguments and the
    suite's settings), :func:`_finished_before` (a rerun with nothing to do ends there),
    :func:`_plan_runs` (pinned points, what to preflight); then, with the executor open,
    :meth:`_SuiteRun.open_store` (preflight of a new store, the store and its lock),
    :meth:`~_SuiteRun.announce`, :meth:`~_SuiteRun.preflight` (and ``fresh``),
    :meth:`~_SuiteRun.tune`, :meth:`~_SuiteRun.final_runs` and :meth:`~_SuiteRun.report`."""
    from benchmark.run_arguments import check_run_arguments

    check_run_arguments(
        workers=workers, threads=threads, executor=executor, scheduler=scheduler, device=device,
        data_root=data_root, store=store, download=download, fresh=fresh, report=report,
        progress=progress, tune_only=tune_only,
    )  # fmt: skip
    emit = on_event or _log_event
    run = _settle(
        suite_or_path, results_dir=results_dir, store=store, workers=workers, threads=threads,
        executor=executor, scheduler=scheduler, device=device, data_root=data_root,
        download=download, fresh=fresh, report=report, progress=progress, tune_only=tune_only,
        rebuild_report=rebuild_report,
    )  # fmt: skip
    if run.report:
        hint = "choose another results folder (--results-dir), or skip the report (--no-report)"
        check_writable_dir(run.out_dir, "report folder", hint)
        # a rerun with nothing to do ends here: no tuning, no executor, no worker process
        if not (fresh or rebuild_report or hparams_from is not None) and (
            done := _finished_before(run.suite, run.url, run.out_dir, emit)
        ):
            return done
    _plan_runs(run, hparams_from)
    from benchmark.execute import open_executor

    # the cluster is reachable (or started) before anything is created, deleted or run
    with open_executor(run.executor, run.workers, run.scheduler, [run.suite.task]) as cluster:
        work = _SuiteRun(run, cluster, emit)
        with work.open_store():
            work.announce()
            work.preflight()
            if run.tuned and not work.tune():
                return work.result  # interrupted, or tune_only
            if work.final_runs():
                work.report()
        return work.result


@dataclass
class _Settings:
    """What :func:`run_suite` settled before opening anything: the suite with its
    overrides and its task, where and how runs execute, the store's URL, the report folder;
    then (:func:`_plan_runs`) whether it tunes, the pinned points and the runs preflighted
    before the store is touched (``first``), the runs at the registry defaults."""

    suite: Any
    task: Any
    workers: int
    threads: int
    executor: str
    scheduler: str | None
    data_root: str | None
    download: bool
    progress: bool
    fresh: bool
    tune_only: bool
    report: bool
    rebuild_report: bool
    url: str
    out_dir: Path
    tuned: bool = False
    pin: Any = None
    first: list[Any] = field(default_factory=list)
    at_defaults: list[Any] = field(default_factory=list)


def _settle(suite_or_path: Any, *, results_dir: str | Path, **given: Any) -> _Settings:
    """The suite (validated) with ``device``/``threads`` applied, and each setting: the
    argument, else the suite's, else the default (one worker per core). ``--scheduler``
    with a suite whose executor is not Dask is refused here."""
    from benchmark.run_arguments import check_run_arguments
    from benchmark.suite import suite_database_url

    suite = with_overrides(
        load_suite_like(suite_or_path), device=given["device"], threads=given["threads"]
    )
    executor = given["executor"] or suite.executor.kind
    scheduler = given["scheduler"]
    if scheduler and executor != "dask":  # the suite's executor is not Dask
        check_run_arguments(scheduler=scheduler, executor=executor)
    return _Settings(
        suite=suite,
        task=get_task(suite.task),
        workers=given["workers"] or suite.executor.workers or os.cpu_count() or 1,
        threads=suite.executor.threads_per_worker,
        executor=executor,
        scheduler=scheduler or suite.executor.scheduler,
        data_root=given["data_root"] or suite.data_root,
        download=given["download"],
        progress=given["progress"],
        fresh=given["fresh"],
        tune_only=given["tune_only"],
        report=given["report"] and not given["tune_only"],
        rebuild_report=given["rebuild_report"],
        url=given["store"] or suite_database_url(suite, results_dir),
        out_dir=report_folder(results_dir, suite.name),
    )


def _plan_runs(run: _Settings, hparams_from: str | Path | None) -> None:
    """Whether ``run`` tunes, its pinned points (``hparams_from``), and the runs preflighted
    before anything is created: the final runs (at the pinned points), or, for a tuned
    suite, the trials' runs :func:`benchmark.tune.preflight_specs` names; both with the runs
    at the registry defaults."""
    suite, task = run.suite, run.task
    run.tuned = task.tunes(suite)
    if run.tune_only and not run.tuned:
        raise BnnBenchError(
            f"suite '{suite.name}' does not tune (tuning.trials is 0); nothing to tune"
        )
    if hparams_from is not None:
        from benchmark.pinning import load_pin

        if run.tune_only:
            raise BnnBenchError("--hparams-from pins the points instead of tuning: not with tune")
        run.pin = load_pin(hparams_from, suite)
        run.tuned = False  # no trials: the final runs train at the pinned points
    run.first = task.final_specs(suite, run.pin.points if run.pin else None)
    run.at_defaults = [] if run.tune_only else defaults_specs(suite, task)
    if run.pin is not None:
        run.first = run.first + run.at_defaults
    if run.tuned:
        from benchmark.tune import preflight_specs

        run.first = preflight_specs(suite) + run.at_defaults


class _SuiteRun:
    """The phases of :func:`run_suite` once its executor is open (``cluster``: the Dask
    cluster, or ``None`` for the local pool), in the order it calls them; ``result`` is
    what they did."""

    def __init__(self, run: _Settings, cluster: Any, emit: Callable[[Event], None]) -> None:
        self.run, self.cluster, self.emit = run, cluster, emit
        self.finals: list[Any] = []
        self.db: Store | None = None
        self.new_store = False
        self.result: SuiteResult

    @contextlib.contextmanager
    def open_store(self) -> Iterator[None]:
        """A new store's runs are preflighted before it is created; then the store is opened
        (an existing one checked) and locked for this suite while the block runs."""
        run = self.run
        self.new_store = not _store_exists(run.url)
        if self.new_store:
            _start_workers_early(run.executor, run.workers, run.suite.task)
            run.task.preflight(run.first, run.data_root, run.download)  # before it is created
        from benchmark.store import Store

        self.db = Store(run.url)
        self.result = SuiteResult(run.suite, self.db.display_url)
        with self.db.suite_lock(run.suite.name):
            yield

    @property
    def store(self) -> Store:
        assert self.db is not None, "open_store() first"
        return self.db

    def announce(self) -> None:
        """The suite's first lines: what it runs, where, the warnings about the executor
        (oversubscription, workers running other code) and how points are chosen."""
        run, suite, cluster = self.run, self.run.suite, self.cluster
        self.finals = run.task.final_specs(suite, run.pin.points if run.pin else None)
        counted = f"{len(self.finals)} runs"
        if run.pin is not None:
            counted = f"{len(self.finals)} final runs at pinned hyper-parameters"
        if run.tuned:
            from benchmark.tune import tuning_budget

            counted = tuning_budget(suite) + (
                "" if run.tune_only else f" + {len(self.finals)} final runs"
            )
        if run.at_defaults:
            counted += f" + {len(run.at_defaults)} runs at the registry defaults"
        where = f" ({suite.path})" if suite.path else ""
        store = self.store.display_url
        self.emit(Event("info", f"suite '{suite.name}'{where}: {counted}, store {store}"))
        where_runs = cluster.describe() if cluster else f"{run.executor}, {run.workers} worker(s)"
        self.emit(
            Event(
                "info",
                f"executor: {where_runs} x {run.threads} torch thread(s), device {suite.device}",
            )
        )
        from benchmark.execute import oversubscription

        on_this_machine = cluster is None or cluster.local is not None
        if on_this_machine and (warning := oversubscription(run.workers, run.threads)):
            self.emit(Event("warning", warning))
        for warning in cluster.warnings() if cluster else []:
            self.emit(Event("warning", warning))
        if note := (run.pin.note() if run.pin else run.task.tuning_note(suite)):
            self.emit(Event("info", note))

    def preflight(self) -> None:
        """What would make every run fail is found before anything is deleted or run: the
        runs still to do (all of them with ``fresh``) are preflighted; then ``fresh``
        forgets the suite's stored runs (and its tuning studies)."""
        run, db = self.run, self.store
        todo = [] if self.new_store else run.first if run.fresh else _unfinished(run.first, db)
        if todo:
            _start_workers_early(run.executor, run.workers, run.suite.task)
            run.task.preflight(todo, run.data_root, run.download)
        if not run.fresh:
            return
        name = run.suite.name
        removed = db.delete_suite(name)
        self.emit(Event("info", f"--fresh: forgot {removed} stored runs of suite '{name}'"))
        if run.tuned or run.pin is not None:
            from benchmark.tune import delete_studies

            deleted = delete_studies(name, db.url)
            self.emit(Event("info", f"--fresh: deleted {deleted} tuning studies"))

    def phase(
        self, specs: list[Any], role: str, title: str, stored_before: int = 0
    ) -> ExecutionReport:
        """Run ``specs`` as (part of) the phase ``role`` and say how it ended; its report
        adds up. ``stored_before``: runs of this step stored before that ``specs`` leaves
        out (the tuning loop hands over only the runs still to do)."""
        from benchmark.execute import ExecutionReport, describe, execute

        run, result = self.run, self.result
        done = ExecutionReport()
        if specs:
            done = execute(
                specs,
                self.store,
                suite=run.suite.name,
                role=role,
                workers=run.workers,
                executor=run.executor,
                scheduler=run.scheduler,
                dask=self.cluster,
                data_root=run.data_root,
                download=run.download,
                progress=run.progress,
                on_record=lambda r: self.emit(Event("run", describe(r), r)),
            )
        if stored_before:
            done = _add(ExecutionReport(total=stored_before, skipped=stored_before), done)
        result.phases[role] = _add(result.phases.get(role), done)
        self.emit(Event("phase", _phase_line(title, done, bool(specs))))
        if done.interrupted:
            result.interrupted = True
            stored = sum(report.stored for report in result.phases.values())
            self.emit(
                Event(
                    "info",
                    f"interrupted: {stored} runs stored by this command; rerun the same "
                    "command to resume",
                )
            )
        return done

    def tune(self) -> bool:
        """The tuning phase (:func:`benchmark.tune.run_tuning`), each cell's best point
        said; then the final runs at those points are preflighted. False when the command
        ends here: interrupted, or ``tune_only``."""
        from benchmark.tune import run_tuning

        run, result = self.run, self.result
        result.tuning = run_tuning(
            run.suite,
            self.store,
            lambda specs, title, stored_before=0: self.phase(specs, TUNING, title, stored_before),
        )
        if result.tuning is None:
            return False
        for line in tuning_lines(result.tuning):
            self.emit(Event("tuned", line))
        if run.tune_only:
            self.emit(Event("info", f"results: {self.store.display_url}"))
            return False
        self.finals = run.task.final_specs(run.suite, result.tuning.best_params)
        if todo := _unfinished(self.finals, self.store):
            run.task.preflight(todo, run.data_root, run.download)
        return True

    def final_runs(self) -> bool:
        """The final runs, then the runs at the registry defaults as their own rows (a spec
        equal to a tuned run's, the best point being the defaults, is that run: stored
        already, so it is not run again). False when interrupted."""
        title = "final runs: " if self.run.tuned else ""
        if self.phase(self.finals, FINAL, title).interrupted:
            return False
        defaults = self.run.at_defaults
        if defaults and self.phase(defaults, DEFAULTS, "defaults: ").interrupted:
            return False
        self.emit(Event("info", f"results: {self.store.display_url}"))
        return True

    def report(self) -> None:
        """The report, (re)built when something changed since it was written (or always for
        a pinned run, or with ``rebuild_report``); nothing without one."""
        run, result = self.run, self.result
        if not run.report:
            return
        complete = result.failed == 0  # failed runs are retried by a rerun
        rebuild = run.rebuild_report or run.pin is not None
        result.report, rebuilt = _report_if_changed(
            run.suite, self.store, run.out_dir, rebuild, complete, pin=run.pin
        )
        done = "" if rebuilt else " (up to date: nothing changed since it was written)"
        self.emit(Event("report", f"report: {result.report.html}{done}"))


def tune_suite(suite_or_path: Any, **options: Any) -> SuiteResult:
    """Only the tuning phase of :func:`run_suite` (same options, minus ``report``): every
    cell's study runs to its budget; ``result.tuning`` holds each cell's best point. A later
    :func:`run_suite` continues from the stored studies (nothing is tuned twice)."""
    options.pop("report", None)
    return run_suite(suite_or_path, tune_only=True, report=False, **options)


def build_report(
    suite_or_path: Any,
    *,
    results_dir: str | Path = "results",
    store: str | None = None,
    out_dir: str | Path | None = None,
    hparams_from: str | Path | None = None,
) -> ReportPaths:
    """(Re)build a suite's report from its store alone (opened read-only) into ``out_dir``
    (default ``<results_dir>/<suite>/report``); ``hparams_from``: the baseline a pinned run
    took its points from (as given to :func:`run_suite`). Raises :class:`BnnBenchError` when
    there is no store or the folder is not writable."""
    from benchmark.suite import suite_database_url

    suite = load_suite_like(suite_or_path)
    pin = None
    if hparams_from is not None:
        from benchmark.pinning import load_pin

        pin = load_pin(hparams_from, suite)
    target = Path(out_dir) if out_dir is not None else report_folder(results_dir, suite.name)
    check_writable_dir(target, "report folder", "choose another output folder (--out)")
    from benchmark.store import Store

    db = Store(store or suite_database_url(suite, results_dir), read_only=True)
    return _report_if_changed(suite, db, target, rebuild=True, pin=pin, parallel=True)[0]


def report_folder(results_dir: str | Path, suite_name: str) -> Path:
    """Where a suite's report goes by default: ``<results_dir>/<suite>/report``."""
    return Path(results_dir) / suite_name / "report"


def _start_workers_early(executor: str, workers: int, task: str) -> None:
    """Start the local pool's fork server now that runs are known to be due, so that its
    imports (torch, ~4 s of a core) overlap with this process's preflight; a rerun with
    nothing to do never gets here and starts no process (a later phase that finds work, e.g.
    final runs after a finished tuning phase, starts the pool when it needs it)."""
    if executor != "dask" and workers > 1 and (os.cpu_count() or 1) > 1:
        from benchmark.workers import start_worker_server

        start_worker_server([task])


def _existing_report(out_dir: Path) -> ReportPaths:
    summary = out_dir / "summary.json"
    return ReportPaths(
        out_dir / "REPORT.md",
        out_dir / "index.html",
        out_dir,
        summary if summary.is_file() else None,
    )


def _finished_before(
    suite: Any, url: str, out_dir: Path, emit: Callable[[Event], None]
) -> SuiteResult | None:
    """The result of a rerun with nothing to do, or ``None`` if there may be something.

    Nothing is to do when the report's stamp says that a run of this same suite, on this
    store, by this code, finished every run without a failure and that the store has not
    changed since (:mod:`benchmark.report_stamp`): the whole pipeline would then skip every
    phase and keep the report. Checked under the suite's lock, before any executor, tuning
    study or worker process is started. A plain SQLite file (the default store) is read with
    the standard library's sqlite3 and locked by ``flock`` alone
    (:class:`~benchmark.store.summary_read.SqliteReader`, as ``bnnbench show`` reads it): no
    pandas, SQLAlchemy or torch is imported on the way (docs/performance.md)."""
    from benchmark.report_stamp import STAMP_NAME

    if not (out_dir / STAMP_NAME).is_file() or not _store_exists(url):
        return None
    from benchmark.store.summary_read import plain_sqlite_path

    path = plain_sqlite_path(url)
    if path is None:
        from benchmark.store import Store

        db = Store(url)
        with db.suite_lock(suite.name):
            return _nothing_to_do(suite, db, out_dir, emit)
    from benchmark.store import locking
    from benchmark.store.summary_read import SqliteReader

    with locking.file_lock(suite.name, locking.lock_file(path, suite.name), url):
        reader = SqliteReader(url, path)
        try:
            return _nothing_to_do(suite, reader, out_dir, emit)
        finally:
            reader.close()


def _nothing_to_do(
    suite: Any, db: Any, out_dir: Path, emit: Callable[[Event], None]
) -> SuiteResult | None:
    """:func:`_finished_before`'s check and lines, on ``db`` (a store or a light reader)
    under the suite's lock."""
    from benchmark.report_stamp import fingerprint, stamp_of

    stamp = stamp_of(out_dir, fingerprint(suite, db))
    if stamp is None or not stamp.get("complete"):
        return None
    where = f" ({suite.path})" if suite.path else ""
    counts = db.role_counts(suite.name)
    stored = ", ".join(
        f"{role}: {counts[role]} already stored" for role in (TUNING, FINAL, DEFAULTS)
        if counts.get(role)
    )  # fmt: skip
    emit(
        Event(
            "info",
            f"suite '{suite.name}'{where}: nothing to do ({stored} (resumed), none "
            f"failed); the store has not changed since the report was written "
            f"(store {db.display_url})",
        )
    )
    result = SuiteResult(suite, db.display_url, report=_existing_report(out_dir))
    emit(Event("report", f"report: {result.report.html} (up to date)"))
    return result


def _report_if_changed(
    suite: Any,
    db: Store,
    out_dir: Path,
    rebuild: bool = False,
    complete: bool = False,
    pin: Any = None,
    parallel: bool = False,
) -> tuple[ReportPaths, bool]:
    """The report in ``out_dir`` and whether it was (re)built: it is, with ``rebuild`` or
    when its stamp does not match the suite, the store's runs and the code now
    (:mod:`benchmark.report_stamp`). The stamp is (re)written after, recording ``complete``
    (every run of the suite stored, none failed: what lets a rerun skip everything)."""
    from benchmark.report_stamp import fingerprint, stamp_of, write_stamp

    fp = fingerprint(suite, db)
    before = stamp_of(out_dir, fp)
    complete = complete or bool(before and before.get("complete"))  # same state: still so
    stamp = None if rebuild else before
    if stamp is not None:
        if complete and not stamp.get("complete"):
            write_stamp(out_dir, fp, complete=True)
        return _existing_report(out_dir), False
    paths = _write_report(suite, db, out_dir, pin=pin, parallel=parallel)
    write_stamp(out_dir, fp, complete=complete)
    return paths, True


def _write_report(
    suite: Any, db: Store, out_dir: Path, pin: Any = None, *, parallel: bool = False
) -> ReportPaths:
    """The report of the runs ``suite`` asks for now, from ``db`` (the folder's files:
    report/render.py), built in a staging folder beside ``out_dir`` and then moved in file by
    file (:func:`benchmark.report_files.staged`): a disk that fills up while the figures
    are drawn leaves the previous report as it was (one line, exit 2). ``parallel``: no suite
    is running, figures may be drawn by child processes (report/figure_pool.py)."""
    from benchmark.report_files import staged

    with staged(out_dir) as staging:
        paths = _render_report(suite, db, staging, pin=pin, parallel=parallel)
    return ReportPaths(
        out_dir / paths.markdown.name,
        out_dir / paths.html.name,
        out_dir,
        out_dir / paths.summary.name if paths.summary is not None else None,
    )


def _render_report(
    suite: Any, db: Store, out_dir: Path, pin: Any = None, parallel: bool = False
) -> ReportPaths:
    """The report's files written into ``out_dir``; ``pin``: a :class:`benchmark.pinning.Pin`
    the final runs trained at."""
    from benchmark.results import final_rows, trials_frame
    from report.render import report_header, write_report
    from report.summary_json import build_summary

    task = get_task(suite.task)
    if pin is not None:
        from benchmark.pinning import pinned_current_runs

        current = pinned_current_runs(suite, pin)
    else:
        current = current_runs(suite, db)
    # every run linked to the suite, whatever its role: a run is linked once, so a defaults
    # run that is also a tuned run carries the role "final"; rows come from the ids
    linked = db.runs_frame(suite.name)
    runs = final_rows(linked, current, grid=task.grid)  # a shared run gives two rows
    distinct = runs.drop_duplicates("run_id").reset_index(drop=True)
    # every stored metric of the final runs goes to metrics.csv; the sections read a few
    stored = db.metrics_frame(list(distinct["run_id"]))
    values = stored[stored["name"].isin(task.report_metrics)].reset_index(drop=True)
    trial_runs = trials = None
    if current.tuning is not None:
        trial_runs = linked[linked["run_id"].isin(current.trial_ids)].reset_index(drop=True)
        trials = trials_frame(current, db, linked)
    from report.figure_pool import parallel_figures

    with parallel_figures(enabled=parallel):  # figures drawn by children where cores are free
        sections, task_part = task.report(
            suite, runs, values, out_dir=out_dir, trial_runs=trial_runs, trials=trials,
            tuning=current.tuning,
        )  # fmt: skip
    note = (pin.note() if pin is not None else task.tuning_note(suite)) or ""
    stale = int((~linked["run_id"].isin(current.ids)).sum())
    if stale:
        note += (
            f". Not reported: {stale} stored runs that an earlier version of this suite file "
            "asked for."
        )
    header = report_header(suite.name, distinct, note, suite.description)
    summary = build_summary(
        suite=suite, store_url=db.display_url, runs=distinct, task_part=task_part, notes=header
    )
    if pin is not None:  # where the final runs' points came from (report/compare.py reads it)
        summary["suite"]["hparams_from"] = pin.describe()
    files = write_report(
        suite.name, header, sections, out_dir, summary=summary, runs=runs, metrics=stored,
        trials=trials,
    )  # fmt: skip
    return ReportPaths(files.markdown, files.html, files.folder, files.summary)
