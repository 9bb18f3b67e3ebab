"""Execution: resume after SIGKILL, pool == serial, failures recorded and the suite goes on."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark.execute import execute
from benchmark.records import RunSpec
from benchmark.store import Store
from benchmark.suite import expand_final_runs, load_suite
from tests.conftest import REPO, write_suite

TIMING = ("train_seconds", "eval_seconds")


def _comparable(store: Store) -> pd.DataFrame:
    """Every stored metric except wall-clock timings, in a canonical order."""
    m = store.metrics_frame()
    m = m[~m["name"].isin(TIMING)]
    return m.sort_values(["run_id", "step", "split", "name"], ignore_index=True)


def _status(store: Store) -> dict[str, str]:
    runs = store.runs_frame()
    return dict(zip(runs["run_id"], runs["status"], strict=True))


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _run_command(suite: Path, *, workers: int, results: Path, quiet: bool = False) -> list[str]:
    """``bnnbench run`` of ``suite`` in a fresh interpreter (no report, so it stops sooner)."""
    cmd = [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--workers", str(workers)]
    cmd += ["--no-report", "--results-dir", str(results)]
    return cmd + (["--quiet"] if quiet else [])


def _wait_until_stored(proc: subprocess.Popen, n: int) -> None:
    """Read the suite's per-run lines from its stderr until ``n`` runs were stored (each line
    is printed after its run's transaction), and check the suite is still running."""
    stored = 0
    while stored < n:
        line = proc.stderr.readline()
        if not line:
            break
        stored += "completed " in line or "diverged " in line
    assert proc.poll() is None, f"suite ended after {stored} runs, before the signal"


@pytest.mark.slow
def test_sigkill_mid_suite_then_rerun_gives_every_run_exactly_once(tmp_path: Path) -> None:
    suite_path = write_suite(
        tmp_path / "resume.yaml", seeds=[0, 1, 2], epochs=30, optimizers=["adam", "bop", "bamsprod"]
    )
    env = _subprocess_env()
    cmd = _run_command(suite_path, workers=1, results=tmp_path / "killed")
    db = tmp_path / "killed" / "resume" / "bnnbench.db"
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _wait_until_stored(proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = Store(f"sqlite:///{db}")
    n_partial = len(partial.finished_ids())
    assert 2 <= n_partial < 9

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{n_partial} already stored" in rerun.stdout

    clean_cmd = _run_command(suite_path, workers=1, results=tmp_path / "clean", quiet=True)
    subprocess.run(clean_cmd, env=env, check=True, capture_output=True, timeout=300)
    resumed = Store(f"sqlite:///{db}")
    clean = Store(f"sqlite:///{tmp_path / 'clean' / 'resume' / 'bnnbench.db'}")
    runs = resumed.runs_frame("resume")
    assert len(runs) == 9 and runs["run_id"].is_unique
    assert _status(resumed) == _status(clean)
    pd.testing.assert_frame_equal(_comparable(resumed), _comparable(clean))


def test_pool_of_two_workers_stores_the_same_results_as_serial(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path / "pool.yaml"))
    specs = expand_final_runs(suite)
    serial = Store(f"sqlite:///{tmp_path}/serial.db")
    pooled = Store(f"sqlite:///{tmp_path}/pool.db")
    r1 = execute(specs, serial, suite="pool", workers=1, progress=False)
    r2 = execute(specs, pooled, suite="pool", workers=2, progress=False)
    assert (r1.completed, r2.completed) == (len(specs), len(specs))
    pd.testing.assert_frame_equal(_comparable(serial), _comparable(pooled))
    again = execute(specs, pooled, suite="pool", workers=2, progress=False)
    assert (again.skipped, again.completed) == (len(specs), 0)  # resume: nothing rerun


def test_diverging_and_failing_runs_are_stored_and_the_suite_goes_on(tmp_path: Path) -> None:
    base = dict(
        model="mlp",
        dataset="synthetic",
        model_options={"hidden": [16, 16]},
        dataset_options={"n_samples": 200, "n_features": 8, "n_classes": 3},
        epochs=2,
        batch_size=32,
    )
    good = RunSpec(optimizer="adam", **base)  # type: ignore[arg-type]
    diverging = RunSpec(optimizer="sgd", hparams={"lr": 1e38}, **base)  # type: ignore[arg-type]
    failing = RunSpec(optimizer="adam", hparams={"lr": -1.0}, **base)  # type: ignore[arg-type]
    store = Store(f"sqlite:///{tmp_path}/s.db")
    report = execute([diverging, failing, good], store, suite="s", workers=1, progress=False)
    assert (report.completed, report.diverged, report.failed) == (1, 1, 1)
    status = _status(store)
    assert status == {
        good.run_id: "completed",
        diverging.run_id: "diverged",
        failing.run_id: "failed",
    }
    runs = store.runs_frame()
    assert "lr" in runs.set_index("run_id").loc[failing.run_id, "message"].lower()
    # a rerun retries the failed run only
    again = execute([diverging, failing, good], store, suite="s", workers=1, progress=False)
    assert (again.skipped, again.failed) == (2, 1)


def test_convex_runs_are_batched_and_a_failing_batch_fails_each_run(tmp_path: Path) -> None:
    from benchmark.execute import plan_units
    from benchmark.tasks.convex import ConvexRunSpec, run_convex

    common = dict(optimizer="adam", optimizer_label="adam", steps=300, checkpoints=10)
    good = [
        ConvexRunSpec(
            form="stochastic",
            seed=s,
            delta=0.1,
            C=10.0,
            hparams={"lr": 0.1, "beta1": 0.0, "beta2": 0.01},
            **common,
        )
        for s in (0, 1, 2)
    ]
    bad = [
        ConvexRunSpec(form=f, hparams={"lr": -1.0}, **common)  # type: ignore[arg-type]
        for f in ("real", "binary")
    ]
    units = plan_units([*good, *bad])
    assert [len(u) for u in units] == [5]  # lr is a group option: one optimizer object
    # the batch raises (lr -1); its runs are retried per hyper-parameters: the bad part fails
    store = Store(f"sqlite:///{tmp_path}/c.db")
    report = execute([*good, *bad], store, suite="c", workers=1, progress=False)
    assert (report.completed, report.failed) == (3, 2)
    runs = store.runs_frame("c").set_index("run_id")
    for spec in bad:
        assert runs.loc[spec.run_id, "status"] == "failed"
        assert "lr" in runs.loc[spec.run_id, "message"]
    for spec in good:  # a batched run stores exactly what running it alone gives
        alone = run_convex(spec)
        assert runs.loc[spec.run_id, "summary.avg_regret"] == alone.summary["avg_regret"]


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_rerun_completes(tmp_path: Path) -> None:
    # runs of ~2 s each, so the signal lands while most of the suite is still to come
    suite_path = write_suite(
        tmp_path / "intr.yaml", seeds=[0, 1, 2], epochs=40, optimizers=["adam", "bop", "bamsprod"]
    )
    env = _subprocess_env()
    cmd = _run_command(suite_path, workers=2, results=tmp_path / "r")
    db = tmp_path / "r" / "intr" / "bnnbench.db"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_stored(proc, 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "rerun" in out + err and "Traceback" not in err
    stored = Store(f"sqlite:///{db}").runs_frame("intr")
    assert 1 <= len(stored) < 9 and set(stored["status"]) <= {"completed", "diverged"}
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(Store(f"sqlite:///{db}").runs_frame("intr")) == 9


def test_ctrl_c_while_the_fork_server_imports_torch_prints_one_line(tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group) while the pool's
    fork server is still importing torch: the server, which never sees it (it starts with
    SIGINT blocked, benchmark/workers.py), prints no traceback; the command says one line,
    exits 130 and leaves no process behind."""
    import psutil

    suite_path = write_suite(tmp_path / "early.yaml", seeds=[0, 1, 2], epochs=5)
    cmd = _run_command(suite_path, workers=2, results=tmp_path / "r", quiet=True)
    proc = subprocess.Popen(
        cmd, env=_subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    parent = psutil.Process(proc.pid)
    server: list[psutil.Process] = []
    while not server and proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            server = [
                child
                for child in parent.children(recursive=True)
                if "forkserver" in " ".join(child.cmdline())
            ]
    assert server and proc.poll() is None, "the fork server never started"
    # half a second into its imports (torch's take seconds): where the server, interrupted,
    # printed "Traceback ... KeyboardInterrupt" before (3 of 3 tries at 0.5, 1 and 2 s)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # one line: the CLI's (interrupted before the runs began), or the run phase's own
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) <= 1, err
    said = [line for line in (out + err).splitlines() if "interrupted" in line]
    assert len(said) == 1 or (len(said) == 2 and "interrupted after" in said[0]), out + err
    server[0].wait(timeout=30)  # gone with its parent


def test_summary_line_per_finished_run() -> None:
    from benchmark.execute import describe
    from benchmark.records import RunRecord

    ok = RunRecord(
        "a",
        "train",
        {"label": "mlp/digits/adam/seed0/test"},
        "completed",
        train_seconds=1.0,
        eval_seconds=0.25,
        summary={"final_test_accuracy": 0.9712},
    )
    assert describe(ok) == "completed mlp/digits/adam/seed0/test  test acc 0.9712  1.2s"
    bad = RunRecord("b", "train", {"label": "x"}, "failed", message="ValueError: lr")
    assert describe(bad) == "FAILED    x: ValueError: lr"


def _server_flags() -> tuple[bool, bool]:
    import benchmark.workers

    return benchmark.workers.FAST_EXIT, "torch" in sys.modules


def test_workers_fork_from_a_preloaded_server_that_exits_fast() -> None:
    """Workers come from the fork server with bnnbench preloaded, and the server installed
    its os._exit handler (see benchmark/workers.py); this process did not."""
    from concurrent.futures import ProcessPoolExecutor

    from benchmark.workers import FAST_EXIT, PARENT_WATCH, preload_for, worker_context

    assert not FAST_EXIT
    for tasks in (["train"], ["convex"], ["train", "convex"]):
        preload = preload_for(tasks)
        assert preload[0] == PARENT_WATCH and preload[-1] == "benchmark.workers"
    assert "benchmark.train" in preload_for(["train"])
    assert "benchmark.train" not in preload_for(["convex"])  # convex workers start lighter
    context = worker_context()
    if context.get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        assert pool.submit(_server_flags).result(timeout=120) == (True, True)
