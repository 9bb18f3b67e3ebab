"""Reliability (issue 10): numbers that depend only on the spec, no orphaned processes, the
CLI's numbers checked, divergence by rule, read-only commands, one run of a suite at a time,
report files that honour the umask, and a rerun with nothing to do that does nothing."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch

from benchmark import cli
from benchmark.execute import execute, oversubscription
from benchmark.records import RunSpec
from benchmark.store import Store
from benchmark.suite import LIMITS, expand_final_runs, load_suite
from benchmark.tasks.train_task import TrainingTask
from benchmark.train import divergence_limit, train
from report.analysis import TargetSpec, analyse
from tests.conftest import REPO, write_suite

TIMING = ("train_seconds", "eval_seconds")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _curves(store: Store) -> pd.DataFrame:
    """Every stored metric but wall-clock timings, in a canonical order."""
    m = store.metrics_frame()
    m = m[~m["name"].isin(TIMING)]
    return m.sort_values(["run_id", "step", "split", "name"], ignore_index=True)


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "benchmark.cli", *args]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def _one_error_line(stderr: str, *fragments: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("bnnbench: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------- threads
def test_the_thread_count_is_part_of_a_runs_identity(tmp_path: Path) -> None:
    one, two = RunSpec("mlp", "digits", "adam"), RunSpec("mlp", "digits", "adam", threads=2)
    assert one.threads == 1 and one.run_id != two.run_id
    suite = load_suite(write_suite(tmp_path / "t.yaml", executor={"threads_per_worker": 2}))
    assert {spec.threads for spec in expand_final_runs(suite)} == {2}


def test_serial_pool_and_the_callers_thread_count_store_identical_curves(tmp_path: Path) -> None:
    """The same specs run serially in a process whose torch uses 2 threads, and in a pool of
    2 workers, store bit-identical curves: each run trains with its spec's thread count."""
    suite = load_suite(write_suite(tmp_path / "det.yaml", seeds=[0, 1], epochs=3))
    specs = expand_final_runs(suite)
    serial, pooled = Store(f"sqlite:///{tmp_path}/serial.db"), Store(f"sqlite:///{tmp_path}/p.db")
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        execute(specs, serial, workers=1, progress=False)
        assert torch.get_num_threads() == 2  # the caller's setting is restored
    finally:
        torch.set_num_threads(previous)
    execute(specs, pooled, workers=2, progress=False)
    pd.testing.assert_frame_equal(_curves(serial), _curves(pooled))


def test_a_two_thread_run_is_the_same_serially_and_in_the_pool(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(tmp_path / "t2.yaml", seeds=[0], epochs=3, executor={"threads_per_worker": 2})
    )
    specs = expand_final_runs(suite)
    serial, pooled = Store(f"sqlite:///{tmp_path}/serial.db"), Store(f"sqlite:///{tmp_path}/p.db")
    execute(specs, serial, workers=1, progress=False)
    execute(specs, pooled, workers=2, progress=False)
    pd.testing.assert_frame_equal(_curves(serial), _curves(pooled))


def test_oversubscription_is_reported_with_the_figures() -> None:
    assert oversubscription(2, 1, cores=2) is None
    assert oversubscription(1, 2, cores=2) is None
    message = oversubscription(100, 1, cores=2)
    assert message is not None and "100 worker(s) x 1 torch thread(s)" in message
    assert "2 core(s)" in message and "--workers 2" in message
    assert "--workers 1" in (oversubscription(2, 2, cores=2) or "")


# ----------------------------------------------------------------------------- CLI numbers
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--workers", "0"),
        ("--workers", "-1"),
        ("--workers", "two"),
        ("--workers", "100000"),
        ("--threads-per-worker", "-1"),
        ("--threads-per-worker", "0"),
    ],
)
def test_cli_numbers_are_validated(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path / "n.yaml")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", str(suite), option, value, "--results-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    high = cli.MAX_WORKERS if option == "--workers" else cli.MAX_THREADS
    _one_error_line(capsys.readouterr().err, option, f"[1, {high}]", value)
    assert not (tmp_path / "n").exists()  # nothing was created


def test_the_cli_limits_are_the_suites() -> None:
    assert LIMITS["executor.workers"][1] == cli.MAX_WORKERS
    assert LIMITS["executor.threads_per_worker"][1] == cli.MAX_THREADS


def test_more_workers_than_cores_gets_a_warning_line(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path / "w.yaml", optimizers=["sgd"], reference="sgd", seeds=[0], epochs=1
    )
    cores = os.cpu_count() or 1
    done = _cli("run", str(suite), "--workers", str(cores + 1), "--quiet", "--no-report",
                "--results-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and f"{cores} core(s)" in warnings[0], done.stderr


# ----------------------------------------------------------------------------- divergence
def test_divergence_limit_worked_by_hand() -> None:
    assert divergence_limit(2.0, 10) == pytest.approx(100 * math.log(10))  # ln 10 > 2.0
    assert divergence_limit(500.0, 10) == pytest.approx(50_000.0)  # large initial logits
    assert divergence_limit(0.1, 1) == pytest.approx(100 * math.log(2))


@pytest.mark.parametrize(
    ("lr", "why", "optimizer"),
    [
        (1e6, "training loss", "sgd"),
        (1e30, "training loss", "sgd"),
        # the registry's fused SGD takes lr as a double since issue 21 (no overflow at 1e300:
        # its loss turns non-finite); AdaBound still converts lr to float32 and overflows
        (1e300, "training loss", "sgd"),
        (1e300, "overflow", "adabound"),
    ],
)
def test_absurd_learning_rates_are_stored_as_diverged(lr: float, why: str, optimizer: str) -> None:
    spec = RunSpec(
        "mlp",
        "synthetic",
        optimizer,
        hparams={"lr": lr},
        model_options={"hidden": [16, 16]},
        dataset_options={"n_samples": 200, "n_features": 8, "n_classes": 3},
        epochs=2,
        batch_size=32,
    )
    record = train(spec)
    assert record.status == "diverged", record.message
    assert why in record.message
    assert any(m.name == "diverged" for m in record.metrics)


def _runs(rows: list[tuple[str, str, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"run_id": r, "task": "train", "split": "test", "model": "m", "dataset": "d",
             "optimizer": o, "status": s, "seed": seed, "summary.final_test_accuracy": a,
             "train_seconds": 1.0, "eval_seconds": 0.5}
            for r, o, s, a, seed in rows
        ]
    )  # fmt: skip


def _curve(run_id: str, accuracies: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"run_id": run_id, "step": [10 * i for i in range(len(accuracies))], "epoch": 0.0,
         "split": "test", "name": "accuracy", "value": accuracies}
    )  # fmt: skip


def test_a_diverged_run_never_reaches_the_target() -> None:
    # the old rule, reference_mean: bop 0.5 and 0.7 -> target 0.6; adam reached 0.9 at step
    # 10, then diverged
    runs = _runs(
        [("b0", "bop", "completed", 0.5, 0), ("b1", "bop", "completed", 0.7, 1),
         ("a0", "adam", "diverged", 0.1, 0)]
    )  # fmt: skip
    values = pd.concat(
        [_curve("b0", [0.1, 0.3, 0.5]), _curve("b1", [0.1, 0.6, 0.7]), _curve("a0", [0.1, 0.9])]
    )
    cell = analyse(runs, values, "bop", target=TargetSpec("reference_mean")).cells[0]
    assert cell.target == pytest.approx(0.6) and cell.budget == 20.0
    adam, bop = cell.optimizers["adam"], cell.optimizers["bop"]
    assert adam.reached == 0 and adam.runs[0].steps == 20.0  # the cell's budget, not 10
    # bop: b0 never reaches 0.6 (budget 20), b1 at step 10 -> mean 15
    assert bop.reached == 1 and bop.steps_to_target["mean"] == 15.0
    # seed 0 is the only seed both ran: bop 20 steps / adam 20 steps
    assert adam.speedup["value"] == pytest.approx(1.0)


def test_a_cell_whose_reference_diverged_has_no_target() -> None:
    runs = _runs([("b0", "bop", "diverged", 0.1, 0), ("a0", "adam", "completed", 0.9, 0)])
    values = pd.concat([_curve("b0", [0.1, 0.1]), _curve("a0", [0.1, 0.9])])
    cell = analyse(runs, values, "bop", target=TargetSpec("reference_mean")).cells[0]
    assert math.isnan(cell.target)
    adam = cell.optimizers["adam"]
    assert math.isnan(adam.steps_to_target["mean"])  # never 0
    assert adam.reached == 0


# ----------------------------------------------------------------------------- signals
def _start_piped(suite: Path, results: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--no-report",
           "--results-dir", str(results), *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_run_line(proc: subprocess.Popen[str]) -> list[str]:
    """Read stderr until the first per-run line (a run is stored, the pool is busy)."""
    seen = []
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        assert line, f"the suite ended before its first run line: {seen}"
        seen.append(line)
        if line.startswith(("completed ", "diverged ")):
            return seen


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow  # 21-32 s each under load (a 2-worker suite started, killed, resumed)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_command_leaves_no_process_and_closes_the_pipe(
    sig: signal.Signals, tmp_path: Path
) -> None:
    suite = write_suite(tmp_path / "kill.yaml", seeds=[0, 1, 2], epochs=40, executor={"workers": 2})
    proc = _start_piped(suite, tmp_path, "--workers", "2")
    _wait_for_run_line(proc)
    family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    assert len(family) >= 3  # the fork server and two workers (and the resource tracker)
    proc.send_signal(sig)
    # the reader of the pipe sees end of file promptly: nothing keeps the CLI's output open
    out, err = proc.communicate(timeout=5)
    deadline = time.monotonic() + 5
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(family) == [], [psutil.Process(p).cmdline() for p in _alive(family)]
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert "terminated" in err
    # the store is consistent and a rerun finishes the suite with every run once
    rerun = _cli("run", str(suite), "--no-report", "--quiet", "--results-dir", str(tmp_path))
    assert rerun.returncode == 0, rerun.stderr
    runs = Store(f"sqlite:///{tmp_path}/kill/bnnbench.db").runs_frame("kill")
    assert len(runs) == 6 and runs["run_id"].is_unique and set(runs["status"]) == {"completed"}


def test_killing_the_command_while_the_fork_server_imports_leaves_no_process(
    tmp_path: Path,
) -> None:
    suite = write_suite(tmp_path / "early.yaml", seeds=[0, 1], executor={"workers": 2})
    proc = _start_piped(suite, tmp_path, "--workers", "2")
    deadline = time.monotonic() + 10
    family: list[int] = []
    while not family and time.monotonic() < deadline:  # the server starts within ~0.5 s
        family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        time.sleep(0.02)
    assert family, "no fork server was started"
    proc.kill()
    proc.communicate(timeout=5)
    deadline = time.monotonic() + 5
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(family) == []


# ----------------------------------------------------------------------------- one run at a time
@pytest.mark.slow  # 14 s under load (a suite kept running while a second one is refused)
def test_a_second_run_of_a_running_suite_is_refused_in_one_line(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "busy.yaml", seeds=[0, 1, 2], epochs=400)
    first = _start_piped(suite, tmp_path, "--workers", "1")
    try:
        _wait_for_run_line(first)
        second = _cli("run", str(suite), "--no-report", "--results-dir", str(tmp_path))
        assert first.poll() is None, "the first run ended before the second started"
        assert second.returncode == 2, second.stderr
        _one_error_line(second.stderr, "suite 'busy'", "already running", str(first.pid))
        # a read-only command is not blocked by the running suite
        assert _cli("show", str(suite), "--results-dir", str(tmp_path)).returncode == 0
    finally:
        first.terminate()
        first.communicate(timeout=30)
    assert first.returncode == 143
    # once the first is gone, its lock is free again
    with Store(f"sqlite:///{tmp_path}/busy/bnnbench.db").suite_lock("busy"):
        pass


# ----------------------------------------------------------------------------- read-only commands
def test_show_and_report_of_a_suite_never_run_create_nothing(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "never.yaml")
    results = tmp_path / "results"
    shown = _cli("show", str(suite), "--results-dir", str(results))
    assert shown.returncode == 0, shown.stderr
    assert "nothing stored yet" in shown.stdout
    reported = _cli("report", str(suite), "--results-dir", str(results))
    assert reported.returncode == 2
    _one_error_line(reported.stderr, "no results store", "never")
    assert not (results / "never" / "bnnbench.db").exists()
    assert not any(results.rglob("*.db*"))


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def finished_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny suite run to completion once: (suite file, results dir)."""
    tmp = tmp_path_factory.mktemp("finished")
    suite = write_suite(tmp / "fin.yaml", optimizers=["adam", "sgd"], reference="sgd", seeds=[0], epochs=1,
                        description="<script>alert(1)</script> & co")  # fmt: skip
    done = _cli("run", str(suite), "--quiet", "--results-dir", str(tmp / "results"))
    assert done.returncode == 0, done.stderr
    return suite, tmp / "results"


def test_show_and_report_leave_the_store_untouched(finished_suite: tuple[Path, Path]) -> None:
    suite, results = finished_suite
    folder = results / "fin"
    db_files = {k: v for k, v in _snapshot(folder).items() if ".db" in k}
    assert _cli("show", str(suite), "--results-dir", str(results)).returncode == 0
    out = results.parent / "elsewhere"
    assert (
        _cli("report", str(suite), "--results-dir", str(results), "--out", str(out)).returncode == 0
    )
    assert {k: v for k, v in _snapshot(folder).items() if ".db" in k} == db_files


#: `bnnbench show` in a child that drops to user 65534 when it runs as root (the interpreter
#: lives under /root, mode 0700, so it starts as root, warms up on a copy, then drops)
_SHOW_AS_NOBODY = """
import contextlib, io, os, sys
from benchmark.cli import main
suite, warm, results = sys.argv[1:4]
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["show", suite, "--results-dir", warm]) == 0  # imports everything show needs
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
sys.exit(main(["show", suite, "--results-dir", results]))
"""


def test_show_reads_a_read_only_store(finished_suite: tuple[Path, Path]) -> None:
    """A store in a read-only folder, read by a user who cannot write it (root writes through
    file modes, so the child drops to user 65534 first); nothing in the folder changes."""
    suite, results = finished_suite
    base = Path(tempfile.mkdtemp(prefix="bnnbench-ro-"))
    folder = base / "results" / "fin"
    try:
        folder.mkdir(parents=True)
        shutil.copytree(results, base / "warm")
        shutil.copy(suite, base / "fin.yaml")
        shutil.copy(results / "fin" / "bnnbench.db", folder / "bnnbench.db")
        (folder / "bnnbench.db").chmod(0o444)
        for path in (folder, folder.parent, base):
            path.chmod(0o555)
        before = _snapshot(folder)
        cmd = [sys.executable, "-c", _SHOW_AS_NOBODY, str(base / "fin.yaml"), str(base / "warm"),
               str(base / "results")]  # fmt: skip
        shown = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120, cwd="/")
        assert shown.returncode == 0, shown.stderr
        assert "2 final runs stored" in shown.stdout
        assert _snapshot(folder) == before
    finally:
        for path in (base, folder.parent, folder):
            if path.exists():
                path.chmod(0o755)
        shutil.rmtree(base)


# ----------------------------------------------------------------------------- reports
def test_report_shows_the_description_escaped(finished_suite: tuple[Path, Path]) -> None:
    _, results = finished_suite
    html = (results / "fin" / "report" / "index.html").read_text()
    md = (results / "fin" / "report" / "REPORT.md").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<script>" not in html
    # Markdown: backslash-escaped (report.markup.md_text), shown as written, never a tag
    assert r"\<script\>alert(1)\</script\> \& co" in md and "<script>" not in md


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_report_files_honour_the_umask(
    umask: int, mode: int, finished_suite: tuple[Path, Path], tmp_path: Path
) -> None:
    suite, results = finished_suite
    cmd = [sys.executable, "-c",
           f"import os, sys; os.umask({umask}); from benchmark.cli import main; sys.exit(main(sys.argv[1:]))",
           "report", str(suite), "--results-dir", str(results), "--out", str(tmp_path / "r")]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("REPORT.md", "index.html", "summary.json", "runs.csv", "metrics.csv"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == mode


def test_an_unwritable_report_folder_is_refused_before_any_run(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "nofolder.yaml")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    db = tmp_path / "elsewhere.db"
    done = _cli("run", str(suite), "--results-dir", str(blocker), "--store", f"sqlite:///{db}")
    assert done.returncode == 2
    _one_error_line(done.stderr, "report folder", str(blocker / "nofolder"), "--no-report")
    assert not db.exists()  # refused before the store was opened, let alone a run


# ----------------------------------------------------------------------------- damaged store
def _damage(db: Path) -> None:
    """Overwrite pages in the middle of a SQLite file with garbage (not the header page)."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // page
    assert pages >= 6, pages
    rng = __import__("random").Random(0)
    for index in range(pages // 3, 2 * pages // 3):
        data[index * page : (index + 1) * page] = bytes(rng.randrange(256) for _ in range(page))
    db.write_bytes(bytes(data))


def test_a_damaged_store_is_refused_by_show_run_and_report(
    finished_suite: tuple[Path, Path], tmp_path: Path
) -> None:
    suite, results = finished_suite
    damaged = tmp_path / "results" / "fin"
    damaged.mkdir(parents=True)
    (damaged / "bnnbench.db").write_bytes((results / "fin" / "bnnbench.db").read_bytes())
    _damage(damaged / "bnnbench.db")
    for command in ("show", "run", "report"):
        done = _cli(command, str(suite), "--results-dir", str(tmp_path / "results"))
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        _one_error_line(done.stderr, "damaged", str(damaged / "bnnbench.db"))


def _damage_content(db: Path, damage: str) -> str:
    """Damage that passes SQLite's quick_check: a run's spec that is not JSON, the metrics
    table dropped, a foreign database (its own ``runs`` table); the text the line names."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        if damage == "bad JSON":
            (run_id,) = conn.execute("SELECT run_id FROM runs ORDER BY run_id LIMIT 1").fetchone()
            conn.execute('UPDATE runs SET spec = \'{"model": "ml\' WHERE run_id = ?', (run_id,))
            named = f"run {run_id}: its spec is not valid JSON"
        elif damage == "metrics dropped":
            conn.execute("DROP TABLE metrics")
            named = "table(s) metrics missing"
        else:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in tables.fetchall():
                conn.execute(f'DROP TABLE "{table}"')
            conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
            named = "table 'runs' is not bnnbench's"
        conn.commit()
    finally:
        conn.close()
    return named


@pytest.mark.parametrize("damage", ["bad JSON", "metrics dropped", "foreign runs table"])
def test_damaged_content_is_named_by_show_run_and_report_and_nothing_is_written(
    damage: str, finished_suite: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Issue 22: with the metrics table dropped, `show` said "no runs stored" and `run`
    recreated it and exited 0; a bad JSON row was a JSONDecodeError traceback; a foreign
    database got bnnbench's tables added before the error."""
    suite, results = finished_suite
    folder = tmp_path / "results" / "fin"
    folder.mkdir(parents=True)
    shutil.copy2(results / "fin" / "bnnbench.db", folder / "bnnbench.db")
    named = _damage_content(folder / "bnnbench.db", damage)
    before = _snapshot(folder)
    for command in ("show", "report", "run"):
        quiet = ["--quiet"] if command == "run" else []  # no progress bar: the line alone
        code = cli.main([command, str(suite), "--results-dir", str(tmp_path / "results"), *quiet])
        err = capsys.readouterr().err
        assert code == 2, (command, err)
        line = _one_error_line(err, "is damaged", named)
        assert str(folder / "bnnbench.db") in line, line
        after = _snapshot(folder)
        if command != "run":  # readers: not a file touched
            assert after == before, command
            continue
        # the writer: the database's bytes unchanged, its write-ahead log (if this process
        # still holds it open) without a frame; the suite's lock file is all it made
        assert after["bnnbench.db"] == before["bnnbench.db"]
        assert len(after.get("bnnbench.db-wal", (b"",))[0]) == 0
        assert set(after) - set(before) <= {
            "bnnbench.db-wal",
            "bnnbench.db-shm",
            "bnnbench.db.fin.lock",
        }


# ----------------------------------------------------------------------------- nothing to do
def test_a_rerun_with_nothing_to_do_skips_preflight_and_the_pool(
    finished_suite: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    suite, results = finished_suite

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("called on a rerun with nothing to do")

    monkeypatch.setattr(TrainingTask, "preflight", forbidden)
    monkeypatch.setattr("benchmark.execute._run_pool", forbidden)
    code = cli.main(["run", str(suite), "--quiet", "--workers", "2", "--results-dir", str(results)])
    assert code == 0
    assert "2 already stored" in capsys.readouterr().out
