"""``bnnbench``: run, validate, list, show, report and compare benchmark suites.

The CLI only parses arguments, calls the library (:func:`benchmark.pipeline.run_suite`,
:func:`benchmark.pipeline.build_report`, :func:`benchmark.results.load_results`) and prints.

Every user error (bad YAML, unknown names, missing data, unreachable database) is printed as
one line ``bnnbench: error: ...`` without a traceback, exit code 2. An interrupted run
(Ctrl-C) leaves the store consistent, exits 130, and resumes when rerun. Exit code 1 means
the suite finished but some runs failed (raised an error); diverged runs are results, not
failures.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from benchmark import import_guard
from benchmark.errors import BnnBenchError, WorkerCrashed
from benchmark.suite_files import SUITES_DIR, peek_task, resolve_suite_path

EXIT_USAGE = 2
EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141

__all__ = ["SUITES_DIR", "build_parser", "main", "peek_task", "resolve_suite_path"]


def _print(*parts: Any) -> None:
    print(*parts, flush=True)


def _warn(message: str) -> None:
    print(f"bnnbench: warning: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- commands
def cmd_validate(args: argparse.Namespace) -> int:
    from benchmark.suite import load_suite
    from benchmark.tasks.registry import get_task

    for item in args.suites:
        suite = load_suite(resolve_suite_path(item))
        line = get_task(suite.task).summary_line(suite)
        _print(f"{item}: ok (suite '{suite.name}', task {suite.task}, {line})")
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


def _printer(quiet: bool) -> Any:
    """The CLI's :class:`~benchmark.pipeline.Event` handler: a line per event, per-run lines
    on stderr above the progress bar (none with ``--quiet``), warnings prefixed."""
    from benchmark.progress import progress_bar_class

    tqdm = progress_bar_class()

    def show(event: Any) -> None:
        if event.kind == "run":
            if not quiet:
                tqdm.write(event.message, file=sys.stderr)
        elif event.kind == "warning":
            _warn(event.message)
        else:
            _print(event.message)

    return show


def cmd_run(args: argparse.Namespace) -> int:
    # the fork server starts inside run_suite once runs are known to be due, before torch is
    # imported here (its imports overlap with ours; a rerun with nothing to do starts none)
    path = resolve_suite_path(args.suite)
    from benchmark.pipeline import run_suite

    result = run_suite(
        path,
        results_dir=args.results_dir,
        store=args.store,
        workers=args.workers,
        threads=args.threads_per_worker,
        executor=args.executor,
        scheduler=args.scheduler,
        device=args.device,
        data_root=args.data_root,
        download=args.download,
        fresh=args.fresh,
        report=not getattr(args, "no_report", True),
        progress=not args.quiet,
        on_event=_printer(args.quiet),
        tune_only=args.command == "tune",
        rebuild_report=getattr(args, "report", False),
        hparams_from=getattr(args, "hparams_from", None),
    )
    return result.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.pipeline import build_report

    paths = build_report(
        resolve_suite_path(args.suite),
        results_dir=args.results_dir,
        store=args.store,
        out_dir=args.out,
        hparams_from=args.hparams_from,
    )
    _print(f"report: {paths.html}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    # benchmark.show reads a SQLite store without pandas or SQLAlchemy (docs/performance.md)
    from benchmark.show import show_lines
    from benchmark.suite import load_suite

    suite = load_suite(resolve_suite_path(args.suite))
    for line in show_lines(suite, results_dir=args.results_dir, store=args.store):
        _print(line)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from benchmark.planning import plan_lines, plan_suite

    plan = plan_suite(
        resolve_suite_path(args.suite), results_dir=args.results_dir, store=args.store
    )
    for line in plan_lines(plan):
        _print(line)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from report.compare import compare, load_summary, to_markdown

    where = {"results_dir": args.results_dir, "store": args.store}
    given = {"acc_tolerance": args.acc_tolerance, "speed_tolerance": args.speed_tolerance}
    comparison = compare(
        load_summary(args.current, **where),
        load_summary(args.baseline, **where),
        labels=(args.current, args.baseline),
        **{key: value for key, value in given.items() if value is not None},
    )
    _print(to_markdown(comparison).rstrip("\n"))
    return 1 if comparison.regressed else 0  # the nightly gate fails


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

    def run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("suite", help="suite YAML file, or the name of a shipped suite (e.g. quick)")
        p.add_argument(
            "--workers",
            type=bounded_int("--workers", MAX_WORKERS),
            help="worker processes (default: suite setting, else one per core)",
        )
        p.add_argument(
            "--threads-per-worker",
            type=bounded_int("--threads-per-worker", MAX_THREADS),
            help="torch threads each run trains with (default: the suite's, 1); part of every "
            "run's spec, since the thread count changes the numbers",
        )
        p.add_argument(
            "--executor", choices=("local", "dask"), help="override the suite's executor"
        )
        p.add_argument(
            "--scheduler",
            help="Dask scheduler address, e.g. tcp://host:8786 (with --executor dask; without it: "
            "a local Dask cluster of --workers processes)",
        )
        p.add_argument("--device", help="override the suite's device (cpu, cuda, cuda:N, mps)")
        p.add_argument(
            "--data-root",
            help="dataset root (default: the suite's data_root, else $BNNBENCH_DATA, else a user cache dir)",
        )
        p.add_argument(
            "--download", action="store_true", help="download missing torchvision datasets"
        )
        p.add_argument("--fresh", action="store_true", help="forget this suite's stored runs first")
        p.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")
        store_options(p)
        p.set_defaults(func=cmd_run)

    hparams_help = (
        "train the final runs at the tuned point of each cell in BASELINE (a summary.json or "
        "a report folder) and run no tuning trials (docs/nightly.md)"
    )
    run = sub.add_parser("run", help="run a suite (resumes by default)")
    run_options(run)
    run.add_argument("--no-report", action="store_true", help="do not render the report afterwards")
    run.add_argument(
        "--report",
        action="store_true",
        help="rebuild the report even if nothing changed since it was written (by default "
        "it is rebuilt only when the store, the suite file or bnnbench changed)",
    )
    run.add_argument("--hparams-from", metavar="BASELINE", help=hparams_help)
    tune = sub.add_parser(
        "tune",
        help="run only a suite's tuning phase and print each cell's best point (a later "
        "`run` continues from the stored studies)",
    )
    run_options(tune)

    validate = sub.add_parser(
        "validate",
        help="check suite files without training anything (imports plug-in optimizers' "
        "modules, which runs their top-level code, and builds each plug-in once)",
    )
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

    plan = sub.add_parser(
        "plan",
        help="how many seeds a suite needs: detectable effects and seeds for the paper's "
        "claims from its stored runs (read-only), and the design check",
    )
    plan.add_argument("suite")
    store_options(plan)
    plan.set_defaults(func=cmd_plan)

    rep = sub.add_parser("report", help="(re)build a suite's report from its store")
    rep.add_argument("suite")
    rep.add_argument("--out", help="report folder (default: <results-dir>/<suite>/report)")
    rep.add_argument(
        "--hparams-from", metavar="BASELINE", help="the BASELINE a pinned run was given"
    )
    store_options(rep)
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser(
        "compare",
        help="the regression gate: compare two summaries (exit 1 on a regression)",
        description="Compare CURRENT with BASELINE per cell and optimizer (rules: "
        "docs/nightly.md); print a Markdown verdict and table of the changes. Exit 0: no "
        "regression; 1: a regression; 2: bad input.",
    )
    for name in ("current", "baseline"):
        cmp.add_argument(
            name,
            metavar=name.upper(),
            help="a summary.json file, a report folder holding one, or a suite (file or "
            "shipped name: its summary is computed from its store, read-only)",
        )
    cmp.add_argument(
        "--acc-tolerance",
        type=float,
        help="flag an accuracy drop larger than this, when the test rejects too (default: 0.01)",
    )
    cmp.add_argument(
        "--speed-tolerance",
        type=float,
        help="flag the error area over training (1 - AUC) growing by more than this fraction, "
        "when the test rejects too (default: 0.10)",
    )
    store_options(cmp)
    cmp.set_defaults(func=cmd_compare)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the pool is stopped, the store stays consistent."""


_SIGTERM_SEEN: list[bool] = []


def _on_sigterm(signum: int, frame: Any) -> None:
    _SIGTERM_SEEN.append(True)
    raise _Terminated()


def _terminated() -> NoReturn:
    """End a SIGTERMed command now that its pool is stopped and every stored run committed:
    ``os._exit`` skips the interpreter's teardown (seconds with torch loaded, on a busy
    machine), so whoever sent the signal, or reads the output through a pipe, is not kept
    waiting; the fork server dies with this process (benchmark/parent_watch.py)."""
    print("bnnbench: terminated; the store is consistent, rerun to resume", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TERMINATED)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    _SIGTERM_SEEN.clear()
    # a Ctrl-C or SIGTERM inside torch's import would abort the process (std::terminate)
    # instead of giving one line: they wait until that import is done
    import_guard.install()
    try:
        code = int(args.func(args))
        if code == EXIT_INTERRUPTED and _SIGTERM_SEEN:  # the run phase caught it and stopped
            _terminated()
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
        _terminated()
    except KeyboardInterrupt:
        print("bnnbench: interrupted; the store is consistent, rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        import_guard.uninstall()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
