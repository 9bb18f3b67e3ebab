"""The lines a resumed or interrupted suite prints tell the truth (issue 22): each phase (and
each step of the tuning phase) counts the runs this command stored and the runs it found
stored before; an interrupted step says "interrupted", never "done"; the closing line counts
every run the command stored, across steps and phases.

Real small suites, run in this process with one worker, and a real Ctrl-C: the test sends
SIGINT to this process right after the n-th run was stored (the pipeline's own run event),
so where the suite stops is exact. The expected counts are worked out by hand from each
suite's shape, written next to each case.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from benchmark.pipeline import Event, SuiteResult, run_suite
from benchmark.store import Store
from tests.conftest import write_suite

SPACES = {
    "sgd": {"lr": {"low": 0.001, "high": 0.5, "log": True}, "momentum": {"low": 0.0, "high": 0.9}},
    "adam": {"lr": {"low": 0.0001, "high": 0.1, "log": True}},
}
OPTIMIZERS = [{"name": name, "search_space": space} for name, space in SPACES.items()]


def tuned_suite(path: Path, **tuning: Any) -> Path:
    """Two cells (sgd, adam), 4 trials each in rounds of 2, one seed: a round asks 2 cells x
    2 trials = 4 runs per rung; 2 final runs (one per cell)."""
    settings = {"trials": 4, "batch": 2, "epochs": 1, "sampler": "tpe", "seed": 3, **tuning}
    return write_suite(
        path, optimizers=OPTIMIZERS, reference="adam", seeds=[0], epochs=1, tuning=settings
    )


def run(path: Path, results: Path, stop_after: int | None = None) -> tuple[SuiteResult, list[str]]:
    """``run_suite`` of ``path``; with ``stop_after``, Ctrl-C right after that many runs were
    stored. Returns the result and the phase / info lines, run lines left out."""
    lines: list[str] = []
    stored = [0]

    def on_event(event: Event) -> None:
        if event.kind == "run":
            stored[0] += 1
            if stored[0] == stop_after:
                os.kill(os.getpid(), signal.SIGINT)
        elif event.kind in ("phase", "info"):
            lines.append(event.message)

    try:
        result = run_suite(
            path, results_dir=results, workers=1, progress=False, report=False, on_event=on_event
        )
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped run_suite instead of ending the phase")
    return result, lines


def counts(lines: list[str]) -> list[str]:
    """The phase lines with their durations blanked (``done in X s`` -> ``done in _ s``)."""
    ended = r"(done in|interrupted after) [\d.]+ s"
    said = [line for line in lines if " already stored" in line or re.search(ended, line)]
    return [re.sub(ended, r"\1 _ s", line) for line in said]


def test_an_interrupted_tuning_phase_counts_every_run_it_stored_and_the_rerun_what_it_found(
    tmp_path: Path,
) -> None:
    path = tuned_suite(tmp_path / "t.yaml")
    # round 1: its 4 runs; round 2: Ctrl-C after its first run -> 5 runs stored
    first, lines = run(path, tmp_path / "r", stop_after=5)
    assert first.exit_code == 130 and first.interrupted
    assert counts(lines) == [
        "tuning, round 1/2: done in _ s: 4 completed, 0 diverged, 0 failed",
        "tuning, round 2/2: interrupted after _ s: 1 completed, 0 diverged, 0 failed",
    ]
    assert (
        lines[-1] == "interrupted: 5 runs stored by this command; rerun the same command to resume"
    )
    db = Store(f"sqlite:///{tmp_path / 'r' / 't' / 'bnnbench.db'}")
    assert len(db.runs_frame("t")) == 5
    # the rerun: round 1 all stored before; round 2: 1 stored before, 3 to run; 2 final runs
    again, lines = run(path, tmp_path / "r")
    assert again.exit_code == 0
    assert counts(lines) == [
        "tuning, round 1/2: nothing to run, 4 already stored (resumed)",
        "tuning, round 2/2: done in _ s: 3 completed, 0 diverged, 0 failed, 1 already stored "
        "(resumed)",
        "final runs: done in _ s: 2 completed, 0 diverged, 0 failed",
    ]
    tuning = again.phases["tuning"]
    assert (tuning.total, tuning.skipped, tuning.stored) == (8, 5, 3)
    # a third run finds everything: one line per phase, all "already stored"
    third, lines = run(path, tmp_path / "r")
    assert counts(lines) == [
        "tuning: nothing to run, 8 already stored (resumed)",
        "final runs: done in _ s: 0 completed, 0 diverged, 0 failed, 2 already stored (resumed)",
    ]
    assert third.phases["tuning"].stored == 0 and len(db.runs_frame("t")) == 10


def test_a_resumed_halving_round_names_both_rungs_it_runs_and_counts_the_runs_found(
    tmp_path: Path,
) -> None:
    """Halving with rungs of 1/2/4 epochs (eta 2): rung 1 has 4 runs (sgd trials 0, 1, then
    adam's), each later rung keeps 1 of each cell's 2 trials. Ctrl-C after 3 runs: sgd's
    rung 1 is complete, adam's is not; the rerun runs sgd's rung 2 beside adam's rung 1."""
    path = tuned_suite(tmp_path / "h.yaml", epochs=4, halving={"min_epochs": 1, "eta": 2})
    first, lines = run(path, tmp_path / "r", stop_after=3)
    assert first.exit_code == 130
    assert counts(lines) == [
        "tuning, round 1/2, rung 1/3 (1 epoch): interrupted after _ s: 3 completed, 0 diverged, "
        "0 failed"
    ]
    assert lines[-1].startswith("interrupted: 3 runs stored by this command;")
    again, lines = run(path, tmp_path / "r")
    assert again.exit_code == 0
    assert counts(lines)[:4] == [
        "tuning, round 1/2, rungs 1-2/3 (1-2 epochs): done in _ s: 2 completed, 0 diverged, "
        "0 failed, 3 already stored (resumed)",
        "tuning, round 1/2, rungs 2-3/3 (2-4 epochs): done in _ s: 2 completed, 0 diverged, "
        "0 failed",
        "tuning, round 1/2, rung 3/3 (4 epochs): done in _ s: 1 completed, 0 diverged, 0 failed",
        "tuning, round 2/2, rung 1/3 (1 epoch): done in _ s: 4 completed, 0 diverged, 0 failed",
    ]
    # round 1: 4 + 2 + 2 runs, of which 3 stored before; round 2: 8 runs
    tuning = again.phases["tuning"]
    assert (tuning.skipped, tuning.stored) == (3, 13)


def test_an_interrupt_in_the_final_runs_counts_the_tuning_runs_too(tmp_path: Path) -> None:
    path = tuned_suite(tmp_path / "f.yaml")
    # 8 tuning runs, then Ctrl-C after the first of the 2 final runs
    result, lines = run(path, tmp_path / "r", stop_after=9)
    assert result.exit_code == 130
    assert counts(lines)[-1] == (
        "final runs: interrupted after _ s: 1 completed, 0 diverged, 0 failed"
    )
    assert lines[-1].startswith("interrupted: 9 runs stored by this command;")
    assert not any("done in" in line for line in lines if line.startswith("final runs"))
