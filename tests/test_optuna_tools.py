"""Optuna's own tools open a bnnbench store (docs/studies.md, "Optuna's own tools").

A tiny tuned suite runs once through :func:`benchmark.run_suite`; then the real console
scripts of this environment read its store: ``optuna studies`` / ``trials`` / ``best-trial``
as subprocesses, and ``optuna-dashboard`` as a real HTTP server on a free port of 127.0.0.1,
queried through its JSON API (``GET /api/studies``, ``GET /api/studies/<id>``, the endpoints
its web page calls). Every study, trial count, point and score they show must be the ones
the suite budgeted and bnnbench itself reports (:func:`benchmark.load_results`: scores from
the stored runs), and their best trial the point the final runs trained with. Browsing the
dashboard leaves every table of the store unchanged; opened read-only (a ``mode=ro`` SQLite
URL, a PostgreSQL role with SELECT only) it serves the same and cannot delete a study. The
server process (its whole process group) is always ended, whatever the outcome.

The PostgreSQL test is marked ``postgres`` and runs where the PostgreSQL binaries are
(:mod:`tests.pg_server`, about 10 s). Skipped as a whole without optuna-dashboard (the
``test`` and ``dashboard`` extras install it).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmark import load_results, run_suite
from tests.conftest import write_suite
from tests.pg_server import PASSWORD, find_bindir, free_port, start_server

pytest.importorskip("optuna_dashboard", reason='optuna-dashboard: pip install -e ".[dashboard]"')

BIN = Path(sys.executable).parent
OPTUNA = BIN / "optuna"
DASHBOARD = BIN / "optuna-dashboard"
SUITE = "optools"
TRIALS = 2
#: the suite's own search spaces (they replace the registry's), so the names, ranges and
#: scales every tool must show are known here
SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "adam": {"lr": {"low": 1e-3, "high": 1e-1, "log": True}},
    "bop": {
        "gamma": {"low": 1e-4, "high": 1e-2, "log": True},
        "threshold": {"low": 1e-8, "high": 1e-5, "log": True},
    },
}
CELLS = {f"mlp/synthetic/{optimizer}": optimizer for optimizer in SPACES}
#: ``<suite>/<model>/<dataset>/<optimizer>/<hash>``
STUDY = re.compile(rf"^{SUITE}/(mlp/synthetic/[a-z]+)/[0-9a-f]+$")
VIEWER = "optuna_viewer"  # a PostgreSQL role with SELECT only
READY_TIMEOUT = 30.0  # failure guards only, never timing assertions
STOP_TIMEOUT = 10.0


@dataclass
class Tuned:
    """The tuned suite: its store and bnnbench's own view of it (:func:`load_results`):
    ``trials`` (one row per trial: cell, trial, param.<name>, status, score computed from the
    stored runs) and ``runs`` (the final runs, with the hyper-parameters they trained with)."""

    suite: Path
    results_dir: Path
    url: str
    db: Path
    trials: pd.DataFrame
    runs: pd.DataFrame

    def expected(self, cell: str) -> dict[int, dict[str, Any]]:
        """Trial number -> point and score, as bnnbench reports them for ``cell``."""
        optimizer = CELLS[cell]
        rows = self.trials[self.trials["optimizer"] == optimizer]
        return {
            int(row["trial"]): {
                "params": {name: row[f"param.{name}"] for name in SPACES[optimizer]},
                "score": float(row["score"]),
            }
            for _, row in rows.iterrows()
        }

    def final_point(self, cell: str) -> dict[str, Any]:
        """The tuned hyper-parameters the cell's final runs trained with (bnnbench's runs
        table, not Optuna's)."""
        optimizer = CELLS[cell]
        hparams = self.runs.loc[self.runs["optimizer"] == optimizer, "hparams"]
        assert len(hparams) == 1, f"{cell}: {len(hparams)} final runs"
        return {name: hparams.iloc[0][name] for name in SPACES[optimizer]}

    def best_points(self, cell: str) -> tuple[float, list[dict[str, Any]]]:
        """The cell's best score and the points of the trials that reached it (ties)."""
        expected = self.expected(cell)
        best = max(trial["score"] for trial in expected.values())
        return best, [trial["params"] for trial in expected.values() if trial["score"] == best]


def tuned_suite(path: Path) -> Path:
    """One model, one dataset, 2 optimizers, 1 seed of 1 epoch; 2 trials of 1 epoch."""
    optimizers = [{"name": name, "search_space": space} for name, space in SPACES.items()]
    return write_suite(
        path,
        optimizers=optimizers,
        reference="adam",
        seeds=[0],
        epochs=1,
        tuning={"trials": TRIALS, "epochs": 1},
    )


def run_tuned(tmp: Path, store: str | None = None) -> tuple[Path, Any]:
    suite = tuned_suite(tmp / f"{SUITE}.yaml")
    result = run_suite(
        suite,
        results_dir=tmp / "results",
        store=store,
        workers=1,
        report=False,
        progress=False,
        on_event=lambda event: None,
    )
    assert result.exit_code == 0, f"the tuned suite did not complete: {result.phases}"
    assert result.phases["tuning"].completed == len(CELLS) * TRIALS, result.phases
    return suite, result


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Tuned:
    tmp = tmp_path_factory.mktemp("optuna_tools")
    suite, _ = run_tuned(tmp)
    db = tmp / "results" / SUITE / "bnnbench.db"  # the default store: <results>/<suite>/
    assert db.is_file(), f"no store at {db}"
    results = load_results(suite, results_dir=tmp / "results")
    trials = results.trials
    assert len(trials) == len(CELLS) * TRIALS and set(trials["status"]) == {"completed"}, trials
    tuned = Tuned(suite, tmp / "results", f"sqlite:///{db}", db, trials, results.runs)
    for cell in CELLS:  # the final runs trained at one of the best trials' points
        assert tuned.final_point(cell) in tuned.best_points(cell)[1], cell
    return tuned


# ------------------------------------------------------------------------------ optuna CLI
def optuna_cli(*args: str) -> Any:
    """Run the ``optuna`` console script with ``-f json``; its parsed output."""
    done = subprocess.run(
        [str(OPTUNA), *args, "-f", "json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"optuna {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return json.loads(done.stdout)


def cells_of(names: list[str]) -> dict[str, str]:
    """Cell key -> study name; every name must follow ``<suite>/<cell key>/<hash>``."""
    out = {}
    for name in names:
        match = STUDY.match(name)
        assert match, f"study {name!r} is not named {SUITE}/<model>/<dataset>/<optimizer>/<hash>"
        assert match[1] not in out, f"two studies for cell {match[1]}: {out[match[1]]}, {name}"
        out[match[1]] = name
    return out


@pytest.fixture(scope="module")
def listed(tuned: Tuned) -> list[dict[str, Any]]:
    """``optuna studies --storage <store> -f json``: name, direction, n_trials per study."""
    return optuna_cli("studies", "--storage", tuned.url)


def test_optuna_studies_lists_one_study_per_cell_with_the_budgeted_trials(
    listed: list[dict[str, Any]],
) -> None:
    studies = cells_of([s["name"] for s in listed])
    assert set(studies) == set(CELLS), f"optuna studies listed {listed}"
    for study in listed:
        assert study["n_trials"] == TRIALS, f"{study['name']}: {study['n_trials']} trials"
        assert study["direction"] == ["MAXIMIZE"], study


def test_optuna_trials_and_best_trial_show_bnnbench_points_and_scores(
    tuned: Tuned, listed: list[dict[str, Any]]
) -> None:
    cell = "mlp/synthetic/bop"  # two tuned hyper-parameters
    names = cells_of([s["name"] for s in listed])
    where = ("--study-name", names[cell], "--storage", tuned.url)
    expected = tuned.expected(cell)
    trials = optuna_cli("trials", *where, "--flatten")
    assert sorted(t["number"] for t in trials) == sorted(expected), trials
    for trial in trials:
        want = expected[trial["number"]]
        assert trial["state"] == "COMPLETE", trial
        assert trial["value"] == want["score"], (trial, want)
        params = {k.removeprefix("params_"): v for k, v in trial.items() if k.startswith("params_")}
        assert params == want["params"], f"trial {trial['number']}: {params} != {want['params']}"
    best = optuna_cli("best-trial", *where, "--flatten")
    score, points = tuned.best_points(cell)
    params = {k.removeprefix("params_"): v for k, v in best.items() if k.startswith("params_")}
    assert best["value"] == score and params in points, f"best trial {best}, bnnbench: {points}"
    if len(points) == 1:  # no tie: Optuna's best trial is the point the final runs used
        assert params == tuned.final_point(cell), (params, tuned.final_point(cell))


# ------------------------------------------------------------------------------ dashboard
@dataclass
class Dashboard:
    """A running ``optuna-dashboard`` process and where it listens."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as response:
                return json.load(response)
        except urllib.error.URLError as exc:
            pytest.fail(f"optuna-dashboard: GET {path} failed: {exc}\n{self.stderr()}")

    def delete_study(self, study_id: int) -> int:
        """``DELETE /api/studies/<id>`` (the dashboard's "Delete study" button); the status."""
        request = urllib.request.Request(
            f"{self.base}/api/studies/{study_id}",
            data=b"{}",
            headers={"Content-Type": "application/json"},
            method="DELETE",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


def _stop(process: subprocess.Popen[bytes]) -> list[str]:
    """End the dashboard's process group (SIGTERM, then SIGKILL); what had to be forced."""
    forced = []
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            forced.append(f"pid {process.pid} ignored SIGTERM for {STOP_TIMEOUT:.0f} s")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    try:  # anything the server started lives on in its group
        os.killpg(process.pid, signal.SIGKILL)
        forced.append(f"processes of group {process.pid} outlived the server")
    except ProcessLookupError:
        pass
    return forced


@contextmanager
def dashboard(url: str, logs: Path, cwd: Path | None = None) -> Iterator[Dashboard]:
    """``optuna-dashboard URL --host 127.0.0.1 --port <free>`` (run in ``cwd``), serving when
    yielded; ended (with every process of its session) on exit, whatever happened, and
    checked gone."""
    for attempt in range(3):  # a free port can be taken between finding and binding it
        port = free_port()
        log = logs / f"dashboard-{port}.log"
        with log.open("wb") as sink:  # a file, not a pipe: the server logs every request
            process = subprocess.Popen(
                [str(DASHBOARD), url, "--host", "127.0.0.1", "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,  # its own process group: nothing of it can stay behind
            )
        server = Dashboard(process, f"http://127.0.0.1:{port}", log)
        try:
            if _wait_ready(server):
                break
            if "Address already in use" not in server.stderr() or attempt == 2:
                pytest.fail(
                    f"optuna-dashboard exited {process.returncode} before serving:\n"
                    f"{server.stderr()}"
                )
        except BaseException:
            _stop(process)
            raise
    try:
        yield server
    finally:
        forced = _stop(process)
        assert not forced, f"optuna-dashboard did not end cleanly: {forced}\n{server.stderr()}"


def _wait_ready(server: Dashboard) -> bool:
    """Poll ``GET /api/studies`` until it answers (True) or the process exits (False); fail
    after :data:`READY_TIMEOUT` seconds with the server's output."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(server.base + "/api/studies", timeout=2) as response:
                if response.status == 200:
                    json.load(response)
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(
        f"optuna-dashboard did not answer GET /api/studies within {READY_TIMEOUT:.0f} s:\n"
        f"{server.stderr()}"
    )


def dump(db: Path) -> list[str]:
    """Every table of the SQLite store as SQL statements (read-only connection)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return list(conn.iterdump())


@pytest.fixture(scope="module")
def before(tuned: Tuned) -> list[str]:
    """The store as the suite left it, before any dashboard opened it."""
    return dump(tuned.db)


@pytest.fixture(scope="module")
def served(
    tuned: Tuned, before: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """The dashboard on the SQLite store, for the module (ended in the finalizer)."""
    with dashboard(tuned.url, tmp_path_factory.mktemp("dashboard")) as server:
        yield server


def dashboard_studies(server: Dashboard) -> dict[str, dict[str, Any]]:
    """Cell key -> the study's detail (``GET /api/studies/<id>``), from ``GET /api/studies``."""
    summaries = server.get("/api/studies")["study_summaries"]
    names = cells_of([s["study_name"] for s in summaries])
    ids = {s["study_name"]: s["study_id"] for s in summaries}
    return {cell: server.get(f"/api/studies/{ids[name]}") for cell, name in names.items()}


def test_the_dashboard_lists_one_study_per_cell_with_the_budgeted_trials(
    served: Dashboard, listed: list[dict[str, Any]]
) -> None:
    studies = dashboard_studies(served)
    assert set(studies) == set(CELLS), f"the dashboard lists {sorted(studies)}"
    assert {d["name"] for d in studies.values()} == {s["name"] for s in listed}
    for cell, detail in studies.items():
        assert len(detail["trials"]) == TRIALS, f"{cell}: {len(detail['trials'])} trials"
        assert detail["directions"] == ["maximize"], detail["directions"]


def test_the_dashboard_shows_each_trials_point_and_score(served: Dashboard, tuned: Tuned) -> None:
    for cell, detail in dashboard_studies(served).items():
        space, expected = SPACES[CELLS[cell]], tuned.expected(cell)
        assert sorted(t["number"] for t in detail["trials"]) == sorted(expected), cell
        for trial in detail["trials"]:
            want = expected[trial["number"]]
            what = f"{cell} trial {trial['number']}"
            assert trial["state"] == "Complete", f"{what}: {trial['state']}"
            assert trial["values"] == [want["score"]], f"{what}: {trial['values']} != {want}"
            params = {p["name"]: p for p in trial["params"]}
            assert set(params) == set(space), f"{what}: params {sorted(params)}"
            for name, param in params.items():
                assert float(param["param_external_value"]) == want["params"][name], what
                dist = param["distribution"]
                assert dist["type"] == "FloatDistribution", f"{what}: {dist}"
                assert (dist["low"], dist["high"], dist["log"]) == (
                    space[name]["low"],
                    space[name]["high"],
                    space[name]["log"],
                ), f"{what}: {name} {dist} != {space[name]}"
        score, points = tuned.best_points(cell)
        (best,) = detail["best_trials"]
        point = {p["name"]: float(p["param_external_value"]) for p in best["params"]}
        assert best["values"] == [score] and point in points, f"{cell}: best {best}, {points}"
        union = {d["name"] for d in detail["union_search_space"]}
        assert union == set(space), f"{cell}: search space {union}"


def test_browsing_the_dashboard_leaves_the_store_unchanged(
    served: Dashboard, tuned: Tuned, before: list[str]
) -> None:
    studies = dashboard_studies(served)
    for detail in studies.values():
        study_id = detail["trials"][0]["study_id"]
        served.get(f"/api/studies/{study_id}/param_importances")
    assert dump(tuned.db) == before, "browsing the dashboard changed the store"
    # bnnbench still opens it (integrity check) and reads the same trials
    again = load_results(tuned.suite, results_dir=tuned.results_dir).trials
    pd.testing.assert_frame_equal(again, tuned.trials)


def assert_delete_refused(server: Dashboard, what: str) -> None:
    """The dashboard's "Delete study" fails on a read-only store, and the study stays."""
    summaries = server.get("/api/studies")["study_summaries"]
    status = server.delete_study(summaries[0]["study_id"])
    assert status >= 400, f"{what}: deleting a study answered {status}"
    after = server.get("/api/studies")["study_summaries"]
    assert after == summaries, f"{what}: the studies changed: {after}"


def test_the_dashboard_opens_a_sqlite_store_read_only(tuned: Tuned, tmp_path: Path) -> None:
    """The read-only URL docs/studies.md gives, relative to the folder bnnbench ran in."""
    db = tmp_path / "results" / SUITE / "bnnbench.db"  # a copy: a delete must not hit `tuned`
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(tuned.db)) as source, closing(sqlite3.connect(db)) as copy:
        source.backup(copy)
    url = f"sqlite:///file:results/{SUITE}/bnnbench.db?mode=ro&uri=true"
    with dashboard(url, tmp_path, cwd=tmp_path) as server:
        studies = dashboard_studies(server)
        assert set(studies) == set(CELLS), f"the read-only dashboard lists {sorted(studies)}"
        assert [len(d["trials"]) for d in studies.values()] == [TRIALS] * len(CELLS)
        assert_delete_refused(server, "read-only SQLite URL")


# ------------------------------------------------------------------------------ PostgreSQL
@pytest.mark.postgres
def test_a_postgres_store_opens_in_optuna_and_the_dashboard(tmp_path: Path) -> None:
    pytest.importorskip("psycopg", reason="the test extra installs psycopg[binary]")
    bindir = find_bindir()
    if bindir is None:
        message = "no PostgreSQL binaries (initdb, pg_ctl, postgres): see tests/pg_server.py"
        if os.environ.get("CI"):  # .ci/run installs them: a skip there would hide a gap
            pytest.fail(message)
        pytest.skip(message)
    with start_server(bindir) as server:
        url = server.create_database("optuna_tools")
        suite, _ = run_tuned(tmp_path, store=url)
        trials = load_results(suite, results_dir=tmp_path / "results", store=url).trials
        listed = optuna_cli("studies", "--storage", url)
        assert set(cells_of([s["name"] for s in listed])) == set(CELLS), listed
        assert [s["n_trials"] for s in listed] == [TRIALS] * len(CELLS), listed
        # a role that may only read: what docs/studies.md advises for browsing
        server.execute(f"CREATE ROLE {VIEWER} LOGIN PASSWORD '{PASSWORD}'")
        server.execute(
            f"GRANT USAGE ON SCHEMA public TO {VIEWER}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {VIEWER}",
            database="optuna_tools",
        )
        with dashboard(server.url("optuna_tools", user=VIEWER), tmp_path) as served:
            studies = dashboard_studies(served)
            assert_delete_refused(served, "PostgreSQL role with SELECT only")
        assert {d["name"] for d in studies.values()} == {s["name"] for s in listed}
        for cell, detail in studies.items():
            rows = trials[trials["optimizer"] == CELLS[cell]].set_index("trial")
            assert len(detail["trials"]) == TRIALS, f"{cell}: {len(detail['trials'])} trials"
            for trial in detail["trials"]:
                assert {p["name"] for p in trial["params"]} == set(SPACES[CELLS[cell]]), trial
                score = rows.loc[trial["number"], "score"]
                assert not math.isnan(score) and trial["values"] == [score], (cell, trial)
