"""``bnnbench``: run, validate, list, show and report benchmark suites.

Every user error (bad YAML, unknown names, missing data, unreachable database) is printed as
one line ``bnnbench: error: ...`` without a traceback, exit code 2. An interrupted run
(Ctrl-C) leaves the store consistent, exits 130, and resumes when rerun. Exit code 1 means
the suite finished but some runs failed (raised an error); diverged runs are results, not
failures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from benchmark.errors import BnnBenchError, WorkerCrashed

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
EXIT_USAGE = 2
EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141


def resolve_suite_path(name_or_path: str) -> Path:
    """A suite file path, or a shipped suite's name (``quick`` -> ``suites/quick.yaml``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        return path  # a path: loading it reports a missing or unreadable file in one line
    try:
        if path.exists():
            return path
    except OSError:
        return path
    for directory in (Path.cwd() / "suites", SUITES_DIR):
        candidate = directory / f"{name_or_path}.yaml"
        if candidate.exists():
            return candidate
    return path


def peek_task(path: Path) -> str:
    """The suite's ``task`` read from the raw YAML, cheaply (no torch import), to choose the
    worker server's preload before the suite is validated; ``"train"`` when unreadable (the
    real load then reports the error)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return "train"
    task = data.get("task", "train") if isinstance(data, dict) else "train"
    return task if isinstance(task, str) else "train"


def _print(*parts: Any) -> None:
    print(*parts, flush=True)


# ----------------------------------------------------------------------------- commands
def cmd_validate(args: argparse.Namespace) -> int:
    from benchmark.suite import load_suite

    for item in args.suites:
        suite = load_suite(resolve_suite_path(item))
        runs = suite.n_final_runs if suite.task == "train" else "convex"
        _print(f"{item}: ok (suite '{suite.name}', task {suite.task}, final runs: {runs})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if what in ("all", "optimizers"):
        from benchmark.optim import OPTIMIZERS

        _print("optimizers:")
        for name, spec in OPTIMIZERS.items():
            _print(f"  {name:<10} {spec.kind:<12} {spec.description}")
    if what in ("all", "models"):
        from benchmark.models import describe_models

        _print("models (parameter counts at each model's reference input, default options):")
        for row in describe_models():
            shape = "x".join(map(str, row["reference_input"]))
            _print(
                f"  {row['name']:<16} {row['description']}; accepts {row['accepts']}; "
                f"binary {row['binary_parameters']:,} / real {row['real_parameters']:,} "
                f"(input {shape}, {row['reference_classes']} classes)"
            )
    if what in ("all", "datasets"):
        from benchmark.data import DATASETS

        _print("datasets:")
        for name, spec in DATASETS.items():
            files = (
                "needs files in the data root (or --download)" if spec.needs_files else "offline"
            )
            _print(f"  {name:<14} {spec.description} [{files}]")
    if what in ("all", "suites"):
        _print(f"suites (in {SUITES_DIR}):")
        for path in sorted(SUITES_DIR.glob("*.yaml")):
            _print(f"  {path.stem}")
    return 0


def _store_url(suite: Any, args: argparse.Namespace) -> str:
    from benchmark.suite import suite_database_url

    return args.store or suite_database_url(suite, args.results_dir)


def _open_store(suite: Any, args: argparse.Namespace, read_only: bool = False) -> Any:
    from benchmark.store import Store

    return Store(_store_url(suite, args), read_only=read_only)


def _warn(message: str) -> None:
    print(f"bnnbench: warning: {message}", file=sys.stderr, flush=True)


def check_writable_dir(path: Path, what: str, hint: str) -> None:
    """Prove a file can be created in ``path`` (before any run spends its compute on a report
    it cannot write), or raise a one-line :class:`BnnBenchError`. Leaves nothing behind:
    folders it had to create for the probe are removed again."""
    import tempfile

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
    """Whether the store at ``url`` exists already (opened read-only: nothing is created)."""
    from benchmark.errors import StoreMissing
    from benchmark.store import Store

    try:
        Store(url, read_only=True).close()
    except StoreMissing:
        return False
    return True


def _apply_overrides(suite: Any, args: argparse.Namespace) -> Any:
    """The suite with the command line's ``--device`` and ``--threads-per-worker`` applied
    (both are part of every run's spec, so they change run ids)."""
    update: dict[str, Any] = {}
    if args.device:
        update["device"] = args.device
    if args.threads_per_worker:
        update["executor"] = suite.executor.model_copy(
            update={"threads_per_worker": args.threads_per_worker}
        )
    return suite.model_copy(update=update) if update else suite


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.workers import start_worker_server

    path = resolve_suite_path(args.suite)
    if args.executor != "dask" and args.workers != 1 and (os.cpu_count() or 1) > 1:
        # before torch is imported here: the server's imports overlap with ours (see workers.py)
        start_worker_server(peek_task(path))
    from benchmark.execute import execute, oversubscription
    from benchmark.suite import cells, load_suite

    suite = _apply_overrides(load_suite(path), args)
    specs = expand_specs(suite)
    workers = args.workers or suite.executor.workers or os.cpu_count() or 1
    executor = args.executor or suite.executor.kind
    data_root = args.data_root or suite.data_root
    threads = suite.executor.threads_per_worker
    out_dir = report_dir(suite, args)
    if not args.no_report:
        check_writable_dir(
            out_dir, "report folder", "choose another with --results-dir, or pass --no-report"
        )
    tuned = suite.task == "train" and suite.tuning.trials > 0
    first: list[Any] = specs
    if tuned:
        from benchmark.tune import planned_trials

        first = [spec for _, cell_trials in planned_trials(suite) for *_, spec in cell_trials]
    url = _store_url(suite, args)
    new_store = not _store_exists(url)
    if suite.task == "train" and new_store:
        preflight(first, data_root, args.download)  # before the store is created
    store = _open_store(suite, args)
    with store.suite_lock(suite.name):
        trials = suite.tuning.trials * len(cells(suite)) if tuned else 0
        counted = (
            f"{trials} tuning trials + {len(specs)} final runs" if tuned else f"{len(specs)} runs"
        )
        _print(f"suite '{suite.name}' ({path}): {counted}, store {store.display_url}")
        _print(
            f"executor: {executor}, {workers} worker(s) x {threads} torch thread(s), "
            f"device {suite.device}"
        )
        if executor == "local" and (warning := oversubscription(workers, threads)):
            _warn(warning)
        if suite.task == "train":
            _print(tuning_note(suite))
            # what would make every run fail is found before anything is deleted or run
            todo = [] if new_store else first if args.fresh else _unfinished(first, store)
            if todo:
                preflight(todo, data_root, args.download)
        if args.fresh:
            removed = store.delete_suite(suite.name)
            _print(f"--fresh: forgot {removed} stored runs of suite '{suite.name}'")
            if tuned:
                from benchmark.tune import delete_studies

                _print(f"--fresh: deleted {delete_studies(suite.name, store.url)} tuning studies")

        def run_phase(phase_specs: list[Any], role: str, title: str) -> Any:
            report = execute(
                phase_specs,
                store,
                suite=suite.name,
                role=role,
                workers=workers,
                executor=executor,
                scheduler=args.scheduler or suite.executor.scheduler,
                data_root=data_root,
                download=args.download,
                progress=not args.quiet,
            )
            _print(
                f"{title}done in {report.seconds:.1f} s: {report.completed} completed, "
                f"{report.diverged} diverged, {report.failed} failed, {report.skipped} already "
                "stored (resumed)"
            )
            if report.interrupted:
                _print(
                    f"interrupted: {report.stored} runs stored this time; rerun the same "
                    "command to resume"
                )
            return report

        failed = 0
        if tuned:
            from benchmark.suite import expand_final_runs
            from benchmark.tune import open_studies, tell_and_select, trial_specs

            tunings = open_studies(suite, store.url)
            trial_list = trial_specs(tunings)
            report = run_phase(trial_list, "tuning", "tuning: ")
            if report.interrupted:
                return EXIT_INTERRUPTED
            failed += report.failed
            result = tell_and_select(tunings, store.outcomes(s.run_id for s in trial_list))
            for line in tuning_lines(result):
                _print(line)
            specs = expand_final_runs(suite, result.best_params)
            if todo := _unfinished(specs, store):
                preflight(todo, data_root, args.download)
        report = run_phase(specs, "final", "final runs: " if tuned else "")
        if report.interrupted:
            return EXIT_INTERRUPTED
        failed += report.failed
        if not args.no_report:
            md, html = build_suite_report(suite, store, out_dir)
            _print(f"report: {md}\n        {html}")
        _print(f"results: {store.display_url}")
        return EXIT_FAILED_RUNS if failed else 0


def _unfinished(specs: Sequence[Any], store: Any) -> list[Any]:
    """The specs whose runs the store does not hold with a final status."""
    done = store.finished_ids(spec.run_id for spec in specs)
    return [spec for spec in specs if spec.run_id not in done]


def tuning_lines(result: Any) -> list[str]:
    """One line per tuned cell: its best point, score and trial counts."""
    lines = []
    for key, counts in result.counts.items():
        done = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        if key in result.best_params:
            point = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(result.best_params[key].items()))
            lines.append(
                f"tuned {key}: {point} (val acc {result.best_score[key]:.4f}; trials: {done})"
            )
        else:
            lines.append(f"tuned {key}: no trial finished ({done}); final runs use the defaults")
    return lines


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.suite import load_suite

    suite = load_suite(resolve_suite_path(args.suite))
    out_dir = Path(args.out) if args.out else report_dir(suite, args)
    check_writable_dir(out_dir, "report folder", "choose another with --out")
    store = _open_store(suite, args, read_only=True)
    md, html = build_suite_report(suite, store, out_dir)
    _print(f"report: {md}\n        {html}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from benchmark.errors import StoreMissing
    from benchmark.suite import load_suite
    from report.markup import markdown_table
    from report.summary import accuracy_table

    suite = load_suite(resolve_suite_path(args.suite))
    try:
        store = _open_store(suite, args, read_only=True)
    except StoreMissing as exc:
        _print(f"suite '{suite.name}': nothing stored yet ({exc})")
        return 0
    runs = store.runs_frame(suite.name)
    if not runs.empty:
        final_ids, trial_ids, _ = current_run_ids(suite, store)
        runs = runs[runs["run_id"].isin(final_ids | trial_ids)]
    if runs.empty:
        _print(f"suite '{suite.name}': no runs stored in {store.display_url}")
        return 0
    counts = ", ".join(f"{k}: {v}" for k, v in runs["status"].value_counts().items())
    _print(f"suite '{suite.name}': {len(runs)} runs stored in {store.display_url} ({counts})")
    if suite.task == "train":
        _print(markdown_table(accuracy_table(runs)))
    else:
        cols = [c for c in runs.columns if c in ("optimizer", "form", "seed", "status")]
        cols += [c for c in runs.columns if c.startswith("summary.")]
        _print(markdown_table(runs[cols]))
    return 0


# ----------------------------------------------------------------------------- helpers
def expand_specs(suite: Any) -> list[Any]:
    """The runs a suite asks for (final runs; convex runs for convex suites)."""
    if suite.task == "convex":
        from benchmark.tasks.convex import ConvexSection, expand_convex

        section = suite.convex
        if not isinstance(section, ConvexSection):
            section = ConvexSection.model_validate(section)
        return expand_convex(section)
    from benchmark.suite import expand_final_runs

    return expand_final_runs(suite)


def preflight(specs: Sequence[Any], data_root: str | None, download: bool) -> None:
    """Fail fast, before any run starts, on what would make every run fail: the device,
    missing dataset files, a model that does not accept a dataset's inputs, bad hparams."""
    from benchmark.optim import make_optimizer
    from benchmark.train import build_spec_model, load_spec_dataset, resolve_device

    checked: set[tuple[str, ...]] = set()
    for spec in specs:
        key = (
            spec.device,
            spec.dataset,
            repr(spec.dataset_options),
            spec.model,
            repr(spec.model_options),
            spec.optimizer,
            repr(sorted(spec.hparams.items())),
        )
        if key in checked:
            continue
        checked.add(key)
        resolve_device(spec.device)
        dataset = load_spec_dataset(spec, data_root, download)
        model = build_spec_model(spec, dataset)
        make_optimizer(spec.optimizer, model, **spec.hparams)


def tuning_note(suite: Any) -> str:
    t = suite.tuning
    if t.trials:
        return (
            f"tuning: {t.trials} trials per cell, the same for every optimizer: seeded Sobol "
            f"points (seed {t.seed}) of each cell's search space, {suite.tuning_epochs} epochs "
            "each, scored on the validation split (diverged = accuracy 0); final runs use each "
            "cell's best point (docs/protocol.md)"
        )
    return "tuning: none (trials: 0); final runs use registry defaults + the suite's overrides"


def report_dir(suite: Any, args: argparse.Namespace) -> Path:
    return Path(args.results_dir) / suite.name


#: the metric names each kind of report reads from the store
REPORT_METRICS: dict[str, tuple[str, ...]] = {
    "train": ("accuracy",),
    "convex": ("x", "played", "avg_regret"),
}


def current_run_ids(suite: Any, store: Any) -> tuple[set[str], set[str], Any]:
    """What the suite asks for *now*: ``(final run ids, tuning trial ids, tuning result)``
    (the result is ``None`` without tuning). Runs that earlier versions of the suite file
    asked for stay in the store (and linked), but reports and ``show`` leave them out. For a
    tuned suite the final runs follow the best points the stored trials give
    (:func:`benchmark.tune.select`)."""
    if suite.task != "train":
        return {s.run_id for s in expand_specs(suite)}, set(), None
    from benchmark.suite import expand_final_runs

    if suite.tuning.trials == 0:
        return {s.run_id for s in expand_final_runs(suite)}, set(), None
    from benchmark.tune import planned_trials, select

    planned = planned_trials(suite)
    trial_ids = {spec.run_id for _, trials in planned for _, _, spec in trials}
    best = select(planned, store.outcomes(trial_ids))
    return {s.run_id for s in expand_final_runs(suite, best.best_params)}, trial_ids, best


def build_suite_report(suite: Any, store: Any, out_dir: Path) -> tuple[Path, Path]:
    from report.render import report_header, training_sections, write_report

    final_ids, trial_ids, tuning = current_run_ids(suite, store)
    linked = store.runs_frame(suite.name, role="final" if suite.task == "train" else None)
    runs = linked[linked["run_id"].isin(final_ids)] if not linked.empty else linked
    # only the curves the sections read, not every per-layer diagnostic
    names = REPORT_METRICS["convex" if suite.task == "convex" else "train"]
    metrics = store.metrics_frame(list(runs["run_id"]) if not runs.empty else [], names=names)
    sections: list[Any] = []
    if suite.task == "convex":
        from report.convex import convex_section

        convex_runs = runs[runs["task"] == "convex"] if not runs.empty else runs
        sections.append(convex_section(convex_runs, metrics, out_dir))
        note = "Task: the convex counterexample (docs/convex.md); no tuning."
    else:
        sections += training_sections(runs, metrics, suite.reference)
        if tuning is not None:
            from report.tuning import tuning_section

            trials = store.runs_frame(suite.name, role="tuning")
            trials = trials[trials["run_id"].isin(trial_ids)] if not trials.empty else trials
            sections.append(tuning_section(trials, tuning))
        note = tuning_note(suite)
    stale = len(linked) - len(runs)
    if stale:
        note += (
            f". Not reported: {stale} stored runs that an earlier version of this suite file "
            "asked for."
        )
    header = report_header(suite.name, runs, note, suite.description)
    return write_report(suite.name, header, sections, out_dir)


# ----------------------------------------------------------------------------- parser
#: upper limits of the command line's counts: the suite's own (benchmark.suite.LIMITS, not
#: imported here so that parsing stays cheap; a test keeps them equal)
MAX_WORKERS = 1024
MAX_THREADS = 256


def bounded_int(option: str, high: int) -> Any:
    """An argparse type: an integer in ``[1, high]``, else a one-line error naming ``option``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer in [1, {high}], got '{text}'"
            ) from None
        if not 1 <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [1, {high}], got {value}")
        return value

    parse.__name__ = option
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error format: one line ``bnnbench: error: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"bnnbench: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bnnbench",
        description="Optimizer benchmark suite for binary neural networks.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--results-dir", default="results", help="where suite folders go (default: results)"
        )
        p.add_argument(
            "--store", help="database URL (default: sqlite:///<results-dir>/<suite>/bnnbench.db)"
        )

    run = sub.add_parser("run", help="run a suite (resumes by default)")
    run.add_argument("suite", help="suite YAML file, or the name of a shipped suite (e.g. quick)")
    run.add_argument(
        "--workers",
        type=bounded_int("--workers", MAX_WORKERS),
        help="worker processes (default: suite setting, else one per core)",
    )
    run.add_argument(
        "--threads-per-worker",
        type=bounded_int("--threads-per-worker", MAX_THREADS),
        help="torch threads each run trains with (default: the suite's, 1); part of every "
        "run's spec, since the thread count changes the numbers",
    )
    run.add_argument("--executor", choices=("local", "dask"), help="override the suite's executor")
    run.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    run.add_argument("--device", help="override the suite's device (cpu, cuda, cuda:N, mps)")
    run.add_argument(
        "--data-root",
        help="dataset root (default: the suite's data_root, else $BNNBENCH_DATA, else a user cache dir)",
    )
    run.add_argument(
        "--download", action="store_true", help="download missing torchvision datasets"
    )
    run.add_argument("--fresh", action="store_true", help="forget this suite's stored runs first")
    run.add_argument("--no-report", action="store_true", help="do not render the report afterwards")
    run.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
    store_options(run)
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check suite files without running anything")
    validate.add_argument("suites", nargs="+", metavar="SUITE")
    validate.set_defaults(func=cmd_validate)

    lst = sub.add_parser("list", help="list optimizers, models, datasets, shipped suites")
    lst.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=("all", "optimizers", "models", "datasets", "suites"),
    )
    lst.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="summarise a suite's stored runs")
    show.add_argument("suite")
    store_options(show)
    show.set_defaults(func=cmd_show)

    rep = sub.add_parser("report", help="(re)build a suite's report from its store")
    rep.add_argument("suite")
    rep.add_argument("--out", help="output folder (default: <results-dir>/<suite>)")
    store_options(rep)
    rep.set_defaults(func=cmd_report)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the pool is stopped, the store stays consistent."""


_SIGTERM_SEEN: list[bool] = []


def _on_sigterm(signum: int, frame: Any) -> None:
    _SIGTERM_SEEN.append(True)
    raise _Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _SIGTERM_SEEN.clear()
    try:
        code = int(args.func(args))
        if code == EXIT_INTERRUPTED and _SIGTERM_SEEN:  # the run phase caught it and stopped
            print("bnnbench: terminated; the store is consistent, rerun to resume", file=sys.stderr)
            return EXIT_TERMINATED
        return code
    except BnnBenchError as exc:
        print(f"bnnbench: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except WorkerCrashed as exc:
        print(f"bnnbench: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED_RUNS
    except BrokenPipeError:  # e.g. `bnnbench show quick | head`: stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except _Terminated:
        print("bnnbench: terminated; the store is consistent, rerun to resume", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("bnnbench: interrupted; the store is consistent, rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
