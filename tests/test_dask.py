"""The Dask executor against real clusters, no mocks: a `dask scheduler` and two `dask worker`
processes on 127.0.0.1 (a fixture starts them, each in its own process group, and kills
them at the end), and the local cluster that `executor: dask` starts without a scheduler.

What must hold: the same stored numbers as the local pool, the environment of each run
captured in the worker process that ran it, nothing deleted before the scheduler is
reached, and a worker killed mid-suite costing nothing but time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from benchmark import BnnBenchError, run_suite
from benchmark.execute import execute
from benchmark.pipeline import Event, SuiteResult
from benchmark.store import Store
from benchmark.suite import expand_final_runs, load_suite
from tests.conftest import REPO, write_suite

distributed = pytest.importorskip("distributed")

TIMING = ("train_seconds", "eval_seconds")
UNREACHABLE = "tcp://127.0.0.1:9"  # the discard port: nothing listens there


def _stored(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A store's runs (id, status, task) and metrics without wall-clock timings, in order."""
    store = Store(f"sqlite:///{db}", read_only=True)
    runs = store.runs_frame()[["run_id", "status", "task"]]
    metrics = store.metrics_frame()
    metrics = metrics[~metrics["name"].isin(TIMING)]
    return (
        runs.sort_values("run_id", ignore_index=True),
        metrics.sort_values(["run_id", "step", "split", "name"], ignore_index=True),
    )


def _environments(db: Path) -> list[dict[str, Any]]:
    return list(Store(f"sqlite:///{db}", read_only=True).runs_frame()["environment"])


def _run_on_dask(suite: Path, results: Path, events: list[Event], **options: Any) -> SuiteResult:
    """``run_suite`` with ``executor="dask"`` (and ``options``), no report, events kept."""
    return run_suite(
        suite,
        results_dir=results,
        executor="dask",
        report=False,
        progress=False,
        on_event=events.append,
        **options,
    )


def _assert_same_results(db: Path, reference: Path) -> None:
    runs, metrics = _stored(db)
    ref_runs, ref_metrics = _stored(reference)
    pd.testing.assert_frame_equal(runs, ref_runs)
    pd.testing.assert_frame_equal(metrics, ref_metrics)


# ------------------------------------------------------------------------ the real cluster
class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes on 127.0.0.1, each in its own process
    group (`dask worker` is a nanny process plus the worker process it spawns)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self.env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.scheduler = self._start(
            "scheduler",
            "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
            # its health/metrics server on any free port, not :8787
            "--dashboard-address", "127.0.0.1:0",
            # a scheduler left behind by a killed test run ends by itself
            "--idle-timeout", "600",
        )  # fmt: skip
        self.client: Any = None

    def _start(self, log: str, *args: str) -> subprocess.Popen[bytes]:
        """``dask *args`` (the `dask` command of this interpreter), output to ``log``.log."""
        with (self.folder / f"{log}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "dask", *args],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as a whole
            )

    def ensure_workers(self, n: int = 2) -> None:
        """Start workers until ``n`` run, and wait until the scheduler sees them."""
        if self.client is None:
            self.client = distributed.Client(self.address, timeout="60s")
        self.workers = [w for w in self.workers if w.poll() is None]
        while len(self.workers) < n:
            args = [
                "worker", self.address, "--nthreads", "1", "--nworkers", "1",
                "--no-dashboard", "--host", "127.0.0.1",
                "--death-timeout", "60",  # a worker left behind ends with the scheduler
            ]  # fmt: skip
            self.workers.append(self._start(f"worker-{len(self.workers)}", *args))
        self.client.wait_for_workers(n, timeout=120)

    def worker_processes(self) -> dict[str, tuple[int, int]]:
        """Each worker's address -> (its pid, its parent's: the `dask worker` command's)."""
        pids = self.client.run(os.getpid)
        parents = self.client.run(os.getppid)
        return {address: (pids[address], parents[address]) for address in pids}

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL a process's whole group (the nanny and the worker it spawned)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def close(self) -> None:
        try:
            if self.client is not None:
                self.client.close()
        finally:
            for process in [*self.workers, self.scheduler]:
                self.kill(process)


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A real `dask scheduler` and two `dask worker` processes, killed at teardown, always."""
    t0 = time.perf_counter()
    cluster = DaskProcesses(tmp_path_factory.mktemp("dask-cluster"))
    try:
        cluster.ensure_workers(2)
        print(f"\ncluster of 2 dask workers up in {time.perf_counter() - t0:.1f} s")
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(dask_processes: DaskProcesses) -> DaskProcesses:
    """The module's cluster with its two workers (one replaced if a test killed it)."""
    dask_processes.ensure_workers(2)
    return dask_processes


# ------------------------------------------------------------------ one suite, run two ways
@dataclass
class ClusterRun:
    """A suite run through the cluster: its store, result, events, and the worker processes
    (address -> pid, parent pid) that ran it."""

    db: Path
    result: SuiteResult
    events: list[Event]
    workers: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def tuned_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small suite with tuning: 2 trials per cell (4 trials), then 4 final runs."""
    return write_suite(
        tmp_path_factory.mktemp("suite") / "d.yaml", tuning={"trials": 2, "epochs": 1}
    )


@pytest.fixture(scope="module")
def local_run(tuned_suite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite run serially in this process: the reference store."""
    results = tmp_path_factory.mktemp("local")
    t0 = time.perf_counter()
    result = run_suite(tuned_suite, results_dir=results, workers=1, report=False, progress=False)
    print(f"\nlocal run: {time.perf_counter() - t0:.1f} s")
    assert result.exit_code == 0
    return results / "d" / "bnnbench.db"


@pytest.fixture(scope="module")
def cluster_run(
    dask_processes: DaskProcesses, tuned_suite: Path, tmp_path_factory: pytest.TempPathFactory
) -> ClusterRun:
    """The suite run through the two `dask worker` processes (`--scheduler`)."""
    dask_processes.ensure_workers(2)
    results = tmp_path_factory.mktemp("cluster")
    events: list[Event] = []
    t0 = time.perf_counter()
    result = _run_on_dask(tuned_suite, results, events, scheduler=dask_processes.address)
    print(f"\nrun through the 2-worker cluster: {time.perf_counter() - t0:.1f} s")
    workers = dask_processes.worker_processes()
    return ClusterRun(results / "d" / "bnnbench.db", result, events, workers)


def test_a_tuned_suite_through_dask_processes_stores_what_the_local_run_stores(
    cluster_run: ClusterRun, local_run: Path, dask_processes: DaskProcesses
) -> None:
    result = cluster_run.result
    assert result.exit_code == 0
    assert {role: p.completed for role, p in result.phases.items()} == {"tuning": 4, "final": 4}
    _assert_same_results(cluster_run.db, local_run)
    said = [e.message for e in cluster_run.events]
    assert any(f"Dask scheduler at {dask_processes.address}, 2 worker(s)" in m for m in said)
    assert not [e for e in cluster_run.events if e.kind == "warning"]  # the same code there


def test_the_environment_of_a_run_on_a_dask_worker_names_the_workers_process(
    cluster_run: ClusterRun, local_run: Path
) -> None:
    environments = _environments(cluster_run.db)
    workers = cluster_run.workers  # address -> (pid, parent pid) of the processes that ran it
    assert len(environments) == 8
    for env in environments:
        assert env["dask_worker"] in workers
        assert env["pid"] == workers[env["dask_worker"]][0] != os.getpid()
        assert env["torch_threads"] == 1
        assert env["hostname"] == socket.gethostname()
        assert env["packages"]["torch"] == metadata.version("torch")
        assert {"cpu", "cpu_count", "gpu", "cuda", "git_commit", "process"} <= set(env)
    # the serial reference ran in this very process
    assert {(env["pid"], env["dask_worker"]) for env in _environments(local_run)} == {
        (os.getpid(), None)
    }


@pytest.mark.slow  # 22 s under load (a local cluster started and stopped)
def test_dask_without_a_scheduler_starts_a_local_cluster_and_stores_the_same(
    tuned_suite: Path, local_run: Path, tmp_path: Path
) -> None:
    import psutil

    def children() -> set[int]:  # but Python's resource tracker, which lives as long as we do
        found = psutil.Process().children(recursive=True)
        return {p.pid for p in found if "resource_tracker" not in " ".join(p.cmdline())}

    before = children()
    events: list[Event] = []
    t0 = time.perf_counter()
    result = _run_on_dask(tuned_suite, tmp_path, events, workers=2)
    print(f"\nrun through a local 2-worker Dask cluster: {time.perf_counter() - t0:.1f} s")
    assert result.exit_code == 0
    db = tmp_path / "d" / "bnnbench.db"
    _assert_same_results(db, local_run)
    assert any("a local Dask cluster at tcp://127.0.0.1:" in e.message for e in events)
    envs = _environments(db)
    assert all(env["dask_worker"] and env["pid"] != os.getpid() for env in envs)
    assert len({env["pid"] for env in envs}) <= 2
    # the cluster is gone with the suite: no process of it is left
    assert children() <= before


# ------------------------------------------------------------------ unreachable scheduler
def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(tmp_path / "d.yaml", seeds=[0], optimizers=["adam"], reference="adam")
    )
    store = Store(f"sqlite:///{tmp_path}/d.db")
    t0 = time.perf_counter()
    with pytest.raises(BnnBenchError, match=f"cannot reach Dask scheduler '{UNREACHABLE}'"):
        execute(
            expand_final_runs(suite), store, executor="dask", scheduler=UNREACHABLE, progress=False
        )
    assert time.perf_counter() - t0 < 5  # a refused connection fails at once, not on timeout


def test_fresh_with_an_unreachable_scheduler_deletes_nothing(tmp_path: Path) -> None:
    import optuna

    suite = write_suite(
        tmp_path / "f.yaml",
        seeds=[0],
        optimizers=["adam"],
        reference="adam",
        tuning={"trials": 1, "epochs": 1},
    )
    first = run_suite(suite, results_dir=tmp_path, workers=1, report=False, progress=False)
    assert first.exit_code == 0
    db = tmp_path / "f" / "bnnbench.db"
    runs = Store(f"sqlite:///{db}", read_only=True).runs_frame("f")
    studies = optuna.get_all_study_names(f"sqlite:///{db}")
    assert len(runs) == 2 and studies
    with pytest.raises(BnnBenchError, match="cannot reach Dask scheduler"):
        run_suite(
            suite,
            results_dir=tmp_path,
            fresh=True,
            executor="dask",
            scheduler=UNREACHABLE,
            report=False,
            progress=False,
        )
    pd.testing.assert_frame_equal(Store(f"sqlite:///{db}", read_only=True).runs_frame("f"), runs)
    assert optuna.get_all_study_names(f"sqlite:///{db}") == studies


# ----------------------------------------------------------------------------------- faults
class SelfKilling(torch.optim.Optimizer):
    """A plug-in optimizer whose first step SIGKILLs the process it runs in (as the
    out-of-memory killer, or a crash in native code, would)."""

    def __init__(self, params: Any, lr: float = 0.1) -> None:
        super().__init__(params, {"lr": lr})

    def step(self, closure: Any = None) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow  # 18 s under load (two clusters: workers killed and replaced)
def test_a_run_that_kills_every_worker_it_runs_on_is_stored_failed(tmp_path: Path) -> None:
    import dask

    suite = write_suite(tmp_path / "k.yaml", seeds=[0], optimizers=["adam"], reference="adam")
    (good,) = expand_final_runs(load_suite(suite))
    killer = dataclasses.replace(good, optimizer=f"{__name__}:SelfKilling", hparams={})
    store = Store(f"sqlite:///{tmp_path}/k.db")
    # one death is one too many (default: 3 more attempts on other workers). With no attempt
    # to spare, a run that happens to sit on the dying worker (placed there by timing: a
    # worker still warming up, or restarting) dies with it, so the killer runs alone first;
    # then the executor, on a new cluster, still runs and stores a good run
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        report = execute([killer], store, executor="dask", workers=2, progress=False)
        assert (report.completed, report.failed) == (0, 1)
        report = execute([good], store, executor="dask", workers=2, progress=False)
        assert (report.completed, report.failed) == (1, 0)
    runs = store.runs_frame().set_index("run_id")
    assert runs.loc[good.run_id, "status"] == "completed"
    assert runs.loc[killer.run_id, "status"] == "failed"
    assert runs.loc[killer.run_id, "message"].startswith("KilledWorker: its Dask worker died")


@pytest.mark.slow
def test_killing_a_dask_worker_mid_suite_still_stores_every_run_once(
    cluster: DaskProcesses, tmp_path: Path
) -> None:
    suite = write_suite(
        tmp_path / "k.yaml",
        seeds=[0, 1, 2],
        optimizers=["adam", "bop"],
        epochs=30,  # ~3 s per run: long enough to be killed in the middle of one
        datasets=[
            {"name": "synthetic", "options": {"n_samples": 4000, "n_features": 16, "n_classes": 4}}
        ],
    )
    final_ids = {spec.run_id for spec in expand_final_runs(load_suite(suite))}
    events: list[Event] = []
    done: list[Any] = []

    def run() -> None:
        try:
            done.append(_run_on_dask(suite, tmp_path, events, scheduler=cluster.address))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            done.append(exc)

    suite_thread = threading.Thread(target=run, daemon=True)
    suite_thread.start()
    # wait until a run is stored, so both workers are warm and in the middle of a run
    deadline = time.monotonic() + 120
    while not any(e.kind == "run" for e in events) and suite_thread.is_alive():
        assert time.monotonic() < deadline, "no run stored within 120 s"
        time.sleep(0.05)
    busy = {a: keys for a, keys in cluster.client.processing().items() if keys}
    assert busy and suite_thread.is_alive(), "the suite ended before a worker could be killed"
    victim_address, victim_keys = sorted(busy.items())[0]
    nanny_pid = cluster.worker_processes()[victim_address][1]
    (victim,) = [w for w in cluster.workers if w.pid == nanny_pid]
    stored_before = sum(e.kind == "run" for e in events)
    killed_at, killed_wall = time.perf_counter(), time.time()
    cluster.kill(victim)
    suite_thread.join(timeout=180)
    recovered = time.perf_counter() - killed_at
    assert not suite_thread.is_alive(), "the suite did not finish after the kill"
    (result,) = done
    assert isinstance(result, SuiteResult), result
    print(
        f"\nkilled a worker after {stored_before} runs; the suite finished {recovered:.1f} s later"
    )

    assert result.exit_code == 0
    stored = Counter(e.record.run_id for e in events if e.kind == "run" and e.record)
    assert set(stored) == final_ids and set(stored.values()) == {1}, stored
    db = Store(f"sqlite:///{tmp_path}/k/bnnbench.db", read_only=True)
    runs = db.runs_frame("k")
    assert sorted(runs["run_id"]) == sorted(final_ids)
    assert set(runs["status"]) == {"completed"}
    # the runs the killed worker held were run again, on the other worker (unless one had
    # just finished there before the kill)
    held = {str(key).split("-")[1] for key in victim_keys}
    assert held <= final_ids
    rows = runs.set_index("run_id").loc[sorted(held)]
    rerun = [env["dask_worker"] != victim_address for env in rows["environment"]]
    before_kill = list(rows["finished_at"] <= killed_wall)
    assert any(rerun) and all(again or done for again, done in zip(rerun, before_kill, strict=True))
    restarted = rows["started_at"][rerun] - killed_wall
    print(f"the killed worker's runs started again {restarted.min():.1f} s after the kill")


# ------------------------------------------------------------------ Ctrl-C
@pytest.mark.slow
def test_ctrl_c_with_a_local_dask_cluster_prints_one_line_and_the_rerun_completes(
    tmp_path: Path,
) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group (the local cluster's
    worker processes too), once the first run is stored. One line says so, no worker or
    coordinator traceback or log warning, exit 130; the rerun stores the rest, each run once."""
    suite = write_suite(
        tmp_path / "intr.yaml", seeds=[0, 1, 2], epochs=40, optimizers=["adam", "bop", "bamsprod"]
    )
    cmd = [sys.executable, "-m", "benchmark.cli", "run", str(suite), "--workers", "2"]
    cmd += ["--executor", "dask", "--no-report", "--results-dir", str(tmp_path / "r")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )  # fmt: skip
    seen = []
    while not any(line.startswith("completed ") for line in seen):
        line = proc.stderr.readline()
        assert line, f"suite ended before its first run was stored: {''.join(seen)}"
        seen.append(line)
    assert proc.poll() is None, "suite ended before the signal"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    said = [line for line in (out + err).splitlines() if "interrupted" in line.lower()]
    problems = [
        line
        for line in err.splitlines()
        if any(word in line for word in ("Traceback", "Error", "WARNING", "Exception"))
    ]
    assert problems == [] and "Traceback" not in out
    # one line says it was interrupted and how many runs this command stored; the phase's
    # own count line says "interrupted after" (no "done in")
    assert [line for line in said if line.startswith("interrupted:")] == [
        line for line in said if "rerun the same command to resume" in line
    ]
    assert len([line for line in said if line.startswith("interrupted:")]) == 1
    db = tmp_path / "r" / "intr" / "bnnbench.db"
    stored = Store(f"sqlite:///{db}").runs_frame("intr")
    assert 1 <= len(stored) < 9 and set(stored["status"]) <= {"completed", "diverged"}
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    again = Store(f"sqlite:///{db}").runs_frame("intr")
    assert len(again) == 9 and again["run_id"].is_unique
    assert f"{len(stored)} already stored" in rerun.stdout
