"""``bnnbench show``'s light path (benchmark/show.py, benchmark/store/summary_read.py,
report/show_table.py): the same lines as the pandas path on real stores (tuned, with runs at
the defaults, diverged and failed runs; missing, empty, foreign and damaged stores), the same
numbers to the last bit (numpy's sums, scipy's t quantiles, report.inference's interval), and
no pandas, SQLAlchemy, numpy, scipy, Optuna or torch imported on the way."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.errors import BnnBenchError
from benchmark.pipeline import run_suite
from benchmark.show import full_lines, light_lines, show_lines
from benchmark.store.summary_read import SqliteReader, external_value, plain_sqlite_path
from benchmark.suite import load_suite
from report import show_table
from report.inference import mean_interval
from report.t_table import T975, t975
from tests.conftest import REPO, run_cli_blocking, write_suite

OPTIMIZERS = ["adam", "bop", {"name": "sgd", "hparams": {"lr": 1e38}}]  # sgd diverges


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, floats bit for bit."""
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tuned suite (2 trials, runs at the defaults too) with a diverging optimizer, run for
    real; one final run is then marked failed as the executor stores a failed run (status,
    message, no summary). Returns (suite file, results dir)."""
    tmp = tmp_path_factory.mktemp("show")
    suite = write_suite(
        tmp / "tuned.yaml",
        optimizers=OPTIMIZERS,
        seeds=[0, 1, 2],
        epochs=1,
        tuning={"trials": 2, "epochs": 1, "seed": 3, "defaults": True},
    )
    results = tmp / "results"
    assert run_suite(suite, results_dir=results, report=False, progress=False).exit_code == 0
    db = results / "tuned" / "bnnbench.db"
    conn = sqlite3.connect(db)
    with conn:
        (run_id,) = conn.execute(
            "SELECT r.run_id FROM runs r JOIN suite_runs s ON s.run_id = r.run_id "
            "WHERE s.role = 'final' AND r.status = 'completed' AND r.spec LIKE '%\"adam\"%' "
            "ORDER BY r.run_id LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE runs SET status = 'failed', summary = '{}', message = 'RuntimeError: boom' "
            "WHERE run_id = ?",
            (run_id,),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all in the file: copies of it are whole
    conn.close()
    assert Path(f"{db}-wal").stat().st_size == 0
    return suite, results


def _url(results: Path, name: str = "tuned") -> str:
    return f"sqlite:///{(results / name / 'bnnbench.db').as_posix()}"


def _both(suite_file: Path, url: str) -> tuple[list[str], list[str]]:
    suite = load_suite(suite_file)
    path = plain_sqlite_path(url)
    assert path is not None
    return light_lines(suite, url, path), full_lines(suite, store=url)


# ----------------------------------------------------------------------------- numbers
def test_the_t_table_is_scipys() -> None:
    assert len(T975) == 100
    for df in range(1, 101):
        assert T975[df - 1] == float(stats.t.ppf(0.975, df)), df
    assert t975(150) == float(stats.t.ppf(0.975, 150))


def test_sums_means_sds_and_intervals_equal_numpys_bit_for_bit() -> None:
    rng = random.Random(7)
    for trial in range(1500):
        n = rng.choice([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 127, 128, 129, 300, rng.randint(0, 400)])
        scale = rng.choice([1.0, 1e3, 1e-4])
        x = [rng.random() * scale for _ in range(n)]
        if n and trial % 5 == 0:
            x[rng.randrange(n)] = math.nan
        if n and trial % 11 == 0:
            x[rng.randrange(n)] = math.inf
        a = np.asarray(x, dtype=float)
        finite = [v for v in x if math.isfinite(v)]
        assert _same(show_table.np_sum(finite), float(np.sum(np.asarray(finite))))
        if n:
            with warnings.catch_warnings():  # numpy: "mean of empty slice" (all NaN)
                warnings.simplefilter("ignore", RuntimeWarning)
                assert _same(show_table.nanmean(x), float(np.nanmean(a)))
                if n > 1:
                    assert _same(show_table.sample_sd(x), float(np.std(a, ddof=1)))
        ref = mean_interval(a)
        mean, low, high = show_table.mean_interval(x)
        assert _same(mean, ref.mean) and _same(low, ref.ci_low) and _same(high, ref.ci_high)
    equal = show_table.mean_interval([0.25, 0.25, 0.25])  # no spread: zero width at the mean
    assert equal == (0.25, 0.25, 0.25) and mean_interval([0.25] * 3).ci_low == 0.25


def test_format_row_prints_the_reports_units() -> None:
    row = {
        "model": "mlp", "dataset": "digits", "optimizer": "adam", "seeds": 3, "diverged": 1,
        "failed": 0, "test_acc_mean": 0.91234, "test_acc_std": 0.0123, "ci_low": 0.8817,
        "ci_high": 0.94298, "seconds": 12.345,
    }  # fmt: skip
    assert show_table.format_row(row) == [
        "mlp", "digits", "adam", "3", "1", "0", "91.2", "1.2", "88.2 to 94.3", "12.3",
    ]  # fmt: skip
    one = {**row, "test_acc_std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    assert show_table.format_row(one)[6:9] == ["91.2", "n/a", "n too small for an interval"]
    text = show_table.markdown([row])
    assert text.splitlines()[0] == (
        "| model | dataset | optimizer | seeds | diverged | failed | accuracy (points) | "
        "sd (points) | 95% CI (points) | time per run (s) |"
    )
    assert text.splitlines()[2].endswith("| 91.2 | 1.2 | 88.2 to 94.3 | 12.3 |")
    assert show_table.markdown([]) == "_(no rows)_"


def test_the_layout_is_the_schemas() -> None:
    from benchmark.store import layout, schema

    tables = {t.name: tuple(c.name for c in t.columns) for t in schema.metadata_obj.sorted_tables}
    assert tables == layout.TABLE_COLUMNS


def test_plain_sqlite_urls_display_as_themselves() -> None:
    from benchmark.store import display_url

    for url in ("sqlite:///results/quick/bnnbench.db", "sqlite:////tmp/a b/x.db"):
        assert plain_sqlite_path(url) is not None and display_url(url) == url
    for url in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:x.db?mode=ro&uri=true",
        "sqlite:///a%20b.db",
        "postgresql://u:p@h/db",
    ):
        assert plain_sqlite_path(url) is None, url


def test_optuna_distributions_turn_into_the_same_values() -> None:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
        distribution_to_json,
        json_to_distribution,
    )

    cases = [
        (FloatDistribution(1e-5, 1.0, log=True), 0.0123),
        (IntDistribution(1, 9), 4.0),
        (CategoricalDistribution(["relu", "tanh", None, 2.5]), 3.0),
        (CategoricalDistribution([True, False]), 0.0),
    ]
    for dist, value in cases:
        text = distribution_to_json(dist)
        assert external_value(text, value) == json_to_distribution(text).to_external_repr(value)
    old = json.dumps({"name": "UniformDistribution", "attributes": {"low": 0.0, "high": 1.0}})
    with pytest.warns(FutureWarning):  # an older Optuna's name: Optuna itself reads it
        assert external_value(old, 0.5) == 0.5


# ----------------------------------------------------------------------------- stored suites
def test_the_light_lines_are_the_pandas_lines(stored: tuple[Path, Path]) -> None:
    suite_file, results = stored
    light, full = _both(suite_file, _url(results))
    assert light == full
    text = "\n".join(light)
    assert "final runs stored" in text and "failed: 1" in text and "diverged: " in text
    assert "tuning: 6 trials" in text and "tuned mlp/synthetic/adam: " in text
    assert "| adam (defaults) |" in text and "accuracy (points)" in text


def test_a_suite_tuned_but_not_yet_run_shows_alike(tmp_path: Path) -> None:
    """Trials stored, no final runs yet (`bnnbench tune`): the head line says so, the tuning
    lines follow, and the table is the "(no rows)" note, on both paths."""
    suite = write_suite(
        tmp_path / "tuneonly.yaml", seeds=[0], epochs=1, tuning={"trials": 2, "epochs": 1}
    )
    results = tmp_path / "results"
    done = run_suite(suite, results_dir=results, report=False, progress=False, tune_only=True)
    assert done.exit_code == 0
    light, full = _both(suite, _url(results, "tuneonly"))
    assert light == full
    assert light[0].startswith("suite 'tuneonly': no final runs stored yet in sqlite:///")
    assert light[1] == "tuning: 4 trials (completed: 4), 4 runs"
    assert light[-1] == "_(no rows)_"


def _numpy_table(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """The reference: the show table computed with pandas, numpy and the report's own
    interval (:func:`report.inference.mean_interval`, scipy's t quantile)."""
    from report.summary import final_runs

    rows = []
    for key, group in final_runs(runs).groupby(list(show_table.CELL), sort=True):
        ok = group[group["status"] != "failed"]
        acc = ok.get(show_table.ACCURACY, pd.Series(dtype=float)).astype(float).to_numpy()
        interval = mean_interval(acc)
        rows.append(
            {
                **dict(zip(show_table.CELL, key, strict=True)),
                "seeds": len(group),
                "diverged": int((group["status"] == "diverged").sum()),
                "failed": int((group["status"] == "failed").sum()),
                "test_acc_mean": float(np.nanmean(acc)) if acc.size else math.nan,
                "test_acc_std": float(np.std(acc, ddof=1)) if acc.size > 1 else math.nan,
                "ci_low": interval.ci_low,
                "ci_high": interval.ci_high,
                "seconds": float((group["train_seconds"] + group["eval_seconds"]).mean()),
            }
        )
    return rows


def test_the_light_numbers_are_the_numpy_numbers(stored: tuple[Path, Path]) -> None:
    """The plain-Python table (both of show's paths print it) against pandas, numpy and the
    report's interval on the same stored runs, bit for bit."""
    from benchmark.results import load_results
    from report.summary import accuracy_table

    suite_file, results = stored
    suite = load_suite(suite_file)
    res = load_results(suite, results_dir=results, metric_names=[])
    reference = _numpy_table(res.runs)
    frame = accuracy_table(res.runs)  # the pandas read, through the same plain-Python table
    assert len(frame.to_dict("records")) == len(reference)
    for a, b in zip(frame.to_dict("records"), reference, strict=True):
        assert a.keys() == b.keys()
        assert all(_same(a[k], b[k]) for k in a), (a, b)
    reader = SqliteReader(_url(results), results / "tuned" / "bnnbench.db")
    try:
        from benchmark.current import current_runs

        current = current_runs(suite, reader)
        linked = reader.suite_runs(suite.name)
        tuning_ids = sorted(current.trial_ids)
        assert reader.outcomes(tuning_ids).keys() == set(tuning_ids)
    finally:
        reader.close()
    rows = [r for r in linked if r["run_id"] in current.final_ids] + [
        {**r, "optimizer": r["optimizer"] + " (defaults)"}
        for r in linked
        if r["run_id"] in current.defaults_ids
    ]
    light = show_table.accuracy_rows(rows)  # the light read (sqlite3)
    heavy = reference
    assert len(light) == len(heavy) == 6  # 3 optimizers, tuned and at the defaults
    for a, b in zip(light, heavy, strict=True):
        assert a.keys() == b.keys()
        assert all(_same(a[k], b[k]) for k in a), (a, b)
    by_name = {r["optimizer"]: r for r in light}
    assert by_name["adam"]["failed"] == 1 and by_name["sgd"]["diverged"] == 3


def test_the_light_reader_reads_the_studies_as_optuna_does(stored: tuple[Path, Path]) -> None:
    from benchmark.store import Store
    from benchmark.suite import cells
    from benchmark.tune.studies import study_name

    suite_file, results = stored
    suite = load_suite(suite_file)
    url = _url(results)
    reader = SqliteReader(url, results / "tuned" / "bnnbench.db")
    store = Store(url, read_only=True)
    try:
        for cell in cells(suite):
            name = study_name(suite, cell)
            assert reader.read_points(name) == store.read_points(name) != {}
        assert reader.read_points("no such study") == {}
    finally:
        reader.close()
        store.close()


def test_show_changes_nothing_and_leaves_no_files(
    stored: tuple[Path, Path], tmp_path: Path
) -> None:
    suite_file, results = stored
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    db = copy / "tuned" / "bnnbench.db"
    conn = sqlite3.connect(db)
    conn.execute("SELECT count(*) FROM runs").fetchall()
    conn.close()  # the last connection checkpoints and removes -wal and -shm
    files = sorted(p.name for p in db.parent.iterdir())
    assert files == ["bnnbench.db", "bnnbench.db.tuned.lock"]
    before = hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns
    lines = show_lines(load_suite(suite_file), results_dir=copy)
    assert "final runs stored" in lines[0]
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before
    assert sorted(p.name for p in db.parent.iterdir()) == files


def _errors(suite_file: Path, url: str) -> tuple[str, str]:
    suite = load_suite(suite_file)
    path = plain_sqlite_path(url)
    assert path is not None
    out = []
    for call in (lambda: light_lines(suite, url, path), lambda: full_lines(suite, store=url)):
        with pytest.raises(BnnBenchError) as err:
            call()
        out.append(str(err.value))
    return out[0], out[1]


def test_missing_empty_foreign_and_damaged_stores_read_alike(
    stored: tuple[Path, Path], tmp_path: Path
) -> None:
    suite_file, results = stored
    db = results / "tuned" / "bnnbench.db"
    missing = tmp_path / "none" / "bnnbench.db"
    light, full = _both(suite_file, f"sqlite:///{missing}")
    assert light == full == [f"suite 'tuned': nothing stored yet (no results store at {missing} "
                             "(nothing has been run for this suite yet?))"]  # fmt: skip
    assert not missing.parent.exists()  # show creates nothing
    empty = tmp_path / "empty.db"
    empty.touch()
    light, full = _both(suite_file, f"sqlite:///{empty}")
    assert light == full == [f"suite 'tuned': no runs stored in sqlite:///{empty}"]
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    light_err, full_err = _errors(suite_file, f"sqlite:///{foreign}")
    assert light_err == full_err and "is damaged or not a bnnbench store: table 'runs'" in light_err
    dropped = tmp_path / "dropped.db"
    shutil.copy(db, dropped)
    with sqlite3.connect(dropped) as conn:
        conn.execute("DROP TABLE suite_runs")
    light_err, full_err = _errors(suite_file, f"sqlite:///{dropped}")
    assert light_err == full_err and "suite_runs missing (dropped?)" in light_err
    version = tmp_path / "version.db"
    shutil.copy(db, version)
    with sqlite3.connect(version) as conn:
        conn.execute("UPDATE bnnbench_info SET value = '99' WHERE key = 'schema_version'")
    light_err, full_err = _errors(suite_file, f"sqlite:///{version}")
    assert light_err == full_err and "has schema version 99" in light_err
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all, " * 200)
    light_err, full_err = _errors(suite_file, f"sqlite:///{garbage}")
    assert light_err == full_err and "is damaged (sqlite reports:" in light_err
    torn = tmp_path / "torn.db"
    data = bytearray(db.read_bytes())
    data[4096 * 2 : 4096 * 2 + 600] = os.urandom(600)  # a b-tree page overwritten
    torn.write_bytes(bytes(data))
    light_err, full_err = _errors(suite_file, f"sqlite:///{torn}")
    assert light_err == full_err and "damaged" in light_err
    bad_json = tmp_path / "json.db"
    shutil.copy(db, bad_json)
    with sqlite3.connect(bad_json) as conn:
        conn.execute("UPDATE runs SET spec = '[1, 2]'")
    light_err, full_err = _errors(suite_file, f"sqlite:///{bad_json}")
    assert light_err == full_err and "its spec is not a JSON object" in light_err


#: the heavy packages `show` must do without (tests.conftest.run_cli_blocking; numpy is
#: allowed: loading a suite checks its datasets against the dataset registry, which imports
#: it, as `validate` does; show's own modules import none: test below)
BLOCKED = ("torch", "pytorch_optimizer", "pandas", "sqlalchemy", "scipy", "optuna", "jinja2")


def _blocked(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli_blocking(BLOCKED, *args, cwd=cwd)


def test_shows_own_modules_import_no_numpy() -> None:
    code = (
        "import sys, benchmark.show, benchmark.current, benchmark.store.summary_read, "
        "report.show_table, benchmark.tune.loop; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'pandas', 'sqlalchemy', 'scipy', 'optuna', 'torch'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_show_imports_no_pandas_sqlalchemy_scipy_optuna_or_torch(
    stored: tuple[Path, Path], tmp_path: Path
) -> None:
    suite_file, results = stored
    done = _blocked("show", str(suite_file), "--results-dir", str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = show_lines(load_suite(suite_file), results_dir=results)
    assert done.stdout == "\n".join(expected) + "\n"
    missing = _blocked("show", str(suite_file), "--results-dir", str(tmp_path), cwd=tmp_path)
    assert missing.returncode == 0 and "nothing stored yet" in missing.stdout, missing.stderr
    garbage = tmp_path / "tuned" / "bnnbench.db"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a database " * 300)
    bad = _blocked("show", str(suite_file), "--results-dir", str(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("bnnbench: error: results store")


@pytest.mark.slow
def test_the_smoke_suite_shows_alike_on_both_paths(tmp_path: Path) -> None:
    """The shipped smoke suite (tuned, defaults rows, every optimizer), run for real."""
    suite = REPO / "suites" / "smoke.yaml"
    results = tmp_path / "results"
    assert run_suite(suite, results_dir=results, report=False, progress=False).exit_code == 0
    light, full = _both(suite, _url(results, "smoke"))
    assert light == full and len(light[-1].splitlines()) == 2 + 20
