"""The tuning phase: every cell's study, round by round, rung by rung, through the executor.

For each round ``b`` (trials ``b*batch .. (b+1)*batch - 1`` of every cell,
:func:`benchmark.tune.samplers.round_size`):

1. every cell's study asks the round's trials (kept if a killed run asked them already);
2. until the round is done: the runs the stored outcomes ask for next
   (:func:`benchmark.tune.trials.evaluate_round`: the first rung, then each next rung's
   survivors once the rung's runs are all stored) go through the executor together, all cells
   at once;
3. the round's trials are told to their studies in trial order; the next round is asked.

Everything the loop decides is a function of the stored runs, so a killed tuning phase resumes
where it stopped and ends with the same trials, points and best point as an uninterrupted one.
:func:`stored_tuning` rebuilds the same outcome from a (read-only) store for ``show`` and the
report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BnnBenchError
from benchmark.records import RunSpec
from benchmark.suite import Cell, Suite, cell_search_space, cells, expand_tuning_trial
from benchmark.tune.points import qmc_points
from benchmark.tune.samplers import round_size
from benchmark.tune.studies import (
    ask_round,
    open_storage,
    open_study,
    study_name,
    tell_round,
)
from benchmark.tune.trials import (
    Outcomes,
    TrialResult,
    best_trial,
    evaluate_round,
    rung_epochs,
    trial_run_specs,
    trial_seeds,
)


@dataclass
class TuningResult:
    """Per cell key: the best point (``best_params``), its score (mean over the trial's
    seeds), its trial number, the trial counts per status (``stopped``: halted by halving)
    and every trial (:class:`benchmark.tune.trials.TrialResult`, by number)."""

    best_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    best_score: dict[str, float] = field(default_factory=dict)
    best_trial: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    trials: dict[str, list[TrialResult]] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)

    def run_ids(self) -> set[str]:
        """Every tuning run the trials asked for so far."""
        return {s.run_id for ts in self.trials.values() for t in ts for s in t.specs}


def rounds(suite: Suite) -> list[list[int]]:
    """The trial numbers of each round."""
    size, n = round_size(suite.tuning), suite.tuning.trials
    return [list(range(start, min(start + size, n))) for start in range(0, n, size)]


def summarize(
    per_cell: Sequence[tuple[Cell, Sequence[TrialResult]]], *, halving: bool = False
) -> TuningResult:
    """The :class:`TuningResult` of evaluated trials."""
    result = TuningResult()
    for cell, trials in per_cell:
        counts = {"completed": 0, "diverged": 0, "failed": 0, "missing": 0}
        for trial in trials:
            counts[trial.last.status] += 1
        if halving:
            counts["stopped"] = sum(t.stopped for t in trials)
        result.counts[cell.key] = counts
        result.trials[cell.key] = list(trials)
        result.cells[cell.key] = cell
        if (best := best_trial(trials)) is not None:
            result.best_params[cell.key] = dict(best.point)
            result.best_score[cell.key] = float(best.score)  # type: ignore[arg-type]
            result.best_trial[cell.key] = best.number
    return result


def preflight_specs(suite: Suite) -> list[RunSpec]:
    """Runs to preflight before tuning: every ``qmc`` trial's runs (their points are known),
    else each cell's trial template at the registry defaults (the sampled points lie in
    ranges the suite's validation checked)."""
    specs = []
    for cell in cells(suite):
        space = cell_search_space(cell)
        if suite.tuning.sampler == "qmc":
            for point in qmc_points(space, suite.tuning.trials, suite.tuning.seed):
                specs += trial_run_specs(suite, cell, point, suite.tuning_epochs)
        else:
            specs.append(expand_tuning_trial(suite, cell, {}, trial_seeds(suite)[0]))
    return specs


def run_tuning(
    suite: Suite,
    store: Any,
    run_phase: Callable[..., Any],
) -> TuningResult | None:
    """Tune every cell of ``suite`` into ``store`` (module docstring). ``run_phase(specs,
    title)`` executes runs and returns an :class:`~benchmark.execute.ExecutionReport`
    (stored runs are skipped). Returns ``None`` when a phase was interrupted.

    What was stored before this call is said through the same callback, so a resumed
    phase's lines count it: ``run_phase(specs, title, stored_before=n)`` when ``n`` runs the
    step's trials use (their round's runs of every rung so far, not counted before) were
    stored already; ``specs`` is empty for rounds with nothing left to run (consecutive ones
    in one call, ``title`` naming them: ``"tuning, rounds 1-3/8: "``, or ``"tuning: "`` for
    all). A fresh tuning phase never passes ``stored_before``."""
    storage = open_storage(store.url)
    studies = {cell.key: open_study(suite, cell, storage, store.url) for cell in cells(suite)}
    all_rounds = rounds(suite)
    per_cell: dict[str, list[TrialResult]] = {cell.key: [] for cell in cells(suite)}
    resumed = _Resumed(len(all_rounds), run_phase)
    for b, numbers in enumerate(all_rounds):
        points = {
            cell.key: ask_round(suite, cell, studies[cell.key], numbers, store.url)
            for cell in cells(suite)
        }
        asked_before: set[str] = set()
        counted: set[str] = set()  # the round's runs a line has counted
        while True:
            ids = {
                s.run_id
                for cell in cells(suite)
                for s in _trial_specs(suite, cell, points[cell.key])
            }
            outcomes = store.outcomes(ids)
            evaluated = {
                cell.key: evaluate_round(suite, cell, points[cell.key], outcomes)
                for cell in cells(suite)
            }
            asked = {s.run_id for ts in evaluated.values() for t in ts for s in t.specs}
            todo = _missing(evaluated, outcomes)
            if not todo:
                break
            if {s.run_id for s in todo} == asked_before:  # never loop on runs not stored
                raise BnnBenchError(
                    f"tuning: {len(todo)} trial runs were executed but not stored (first: "
                    f"{todo[0].label()}); rerun to retry them"
                )
            asked_before = {s.run_id for s in todo}
            stored_before = asked - asked_before - counted
            counted |= asked
            resumed.flush()
            title = _title(b, len(all_rounds), _todo_rungs(evaluated, outcomes), suite)
            extra = {"stored_before": len(stored_before)} if stored_before else {}
            if run_phase(todo, title, **extra).interrupted:
                return None
        if not counted:  # every run of the round was stored before
            resumed.add(b, asked)
        for cell in cells(suite):
            tell_round(studies[cell.key], evaluated[cell.key], store.url)
            per_cell[cell.key] += evaluated[cell.key]
    resumed.flush()
    return summarize(
        [(cell, per_cell[cell.key]) for cell in cells(suite)],
        halving=suite.tuning.halving is not None,
    )


@dataclass
class _Resumed:
    """Consecutive rounds whose runs were all stored before: said in one call of
    ``run_phase`` (no specs) when a round with runs to do follows, or at the end."""

    n_rounds: int
    run_phase: Callable[..., Any]
    first: int | None = None
    last: int = 0
    ids: set[str] = field(default_factory=set)

    def add(self, b: int, ids: set[str]) -> None:
        if self.first is None:
            self.first = b
        self.last = b
        self.ids |= ids

    def flush(self) -> None:
        if self.first is None:
            return
        self.run_phase(
            [], _rounds_title(self.first, self.last, self.n_rounds), stored_before=len(self.ids)
        )
        self.first, self.ids = None, set()


def _rounds_title(first: int, last: int, n_rounds: int) -> str:
    """``"tuning: "`` (every round), ``"tuning, round 2/8: "``, ``"tuning, rounds 1-3/8: "``."""
    if first == 0 and last == n_rounds - 1:
        return "tuning: "
    if first == last:
        return f"tuning, round {first + 1}/{n_rounds}: "
    return f"tuning, rounds {first + 1}-{last + 1}/{n_rounds}: "


def _trial_specs(suite: Suite, cell: Cell, points: dict[int, dict[str, Any]]) -> list[RunSpec]:
    """Every run a round's trials could ask for (all rungs): the ids whose outcomes matter."""
    return [
        spec
        for point in points.values()
        for epochs in rung_epochs(suite)
        for spec in trial_run_specs(suite, cell, point, epochs)
    ]


def _missing(evaluated: dict[str, list[TrialResult]], outcomes: Outcomes) -> list[RunSpec]:
    """The runs the evaluated trials asked for that are not stored, in cell and trial order."""
    todo: dict[str, RunSpec] = {}
    for trials in evaluated.values():
        for trial in trials:
            for spec in trial.specs:
                if spec.run_id not in outcomes:
                    todo.setdefault(spec.run_id, spec)
    return list(todo.values())


def _todo_rungs(evaluated: dict[str, list[TrialResult]], outcomes: Outcomes) -> list[int]:
    """The rungs (1-based) of the trials with runs still to do: one rung, or (a resumed
    round, its cells halved at different speeds) several."""
    return sorted(
        {
            len(trial.rungs)
            for trials in evaluated.values()
            for trial in trials
            if any(spec.run_id not in outcomes for spec in trial.last.specs)
        }
    )


def _title(b: int, n_rounds: int, todo_rungs: Sequence[int], suite: Suite) -> str:
    """``"tuning: "``, ``"tuning, round 2/4: "``, ``"tuning, round 2/4, rung 1/3 (1 epoch): "``
    or, for runs of two rungs at once, ``"..., rungs 2-3/3 (3-9 epochs): "``."""
    parts = ["tuning"]
    if n_rounds > 1:
        parts.append(f"round {b + 1}/{n_rounds}")
    epochs = rung_epochs(suite)
    if len(epochs) > 1:
        low, high = todo_rungs[0], todo_rungs[-1]
        if low == high:
            n = epochs[low - 1]
            parts.append(f"rung {low}/{len(epochs)} ({n} epoch{'s' * (n != 1)})")
        else:
            parts.append(
                f"rungs {low}-{high}/{len(epochs)} ({epochs[low - 1]}-{epochs[high - 1]} epochs)"
            )
    return (", ".join(parts) if len(parts) > 1 else parts[0]) + ": "


def stored_tuning(suite: Suite, store: Any) -> TuningResult:
    """The tuning outcome the stored studies and runs give, rebuilt without Optuna's storage
    (read-only safe): each cell's trial points from its study (``store.read_points``:
    :meth:`benchmark.store.Store.read_points`, or the light reader of ``show``,
    :class:`benchmark.store.summary_read.SqliteReader`), the halving decisions and scores from
    the stored runs (``store.outcomes``). Trials a study does not hold yet are left out."""
    per_cell = []
    for cell in cells(suite):
        points = store.read_points(study_name(suite, cell))
        trials: list[TrialResult] = []
        for numbers in rounds(suite):
            round_points = {n: points[n] for n in numbers if n in points}
            if not round_points:
                break
            ids = {s.run_id for s in _trial_specs(suite, cell, round_points)}
            trials += evaluate_round(suite, cell, round_points, store.outcomes(ids))
        per_cell.append((cell, trials))
    return summarize(per_cell, halving=suite.tuning.halving is not None)


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


def trial_count(suite: Suite) -> int:
    """Trials the suite budgets in all (cells x ``tuning.trials``)."""
    return len(cells(suite)) * suite.tuning.trials


def tuning_budget(suite: Any) -> str:
    """The tuning budget in words: ``"16 tuning trials (tpe, rounds of 4, 3 seeds each,
    halving 1/3/9 epochs)"``."""
    tuning = suite.tuning
    how = [tuning.sampler]
    if round_size(tuning) < tuning.trials:
        how.append(f"rounds of {round_size(tuning)}")
    if tuning.seeds_per_trial > 1:
        how.append(f"{tuning.seeds_per_trial} seeds each")
    if tuning.halving is not None:
        how.append("halving " + "/".join(map(str, rung_epochs(suite))) + " epochs")
    return f"{trial_count(suite)} tuning trials ({', '.join(how)})"


def expected_trial_runs(suite: Suite) -> int:
    """Tuning runs the budget costs at most (every trial to the last rung): for the log."""
    return trial_count(suite) * suite.tuning.seeds_per_trial * len(rung_epochs(suite))


__all__ = [
    "TuningResult",
    "expected_trial_runs",
    "preflight_specs",
    "rounds",
    "run_tuning",
    "stored_tuning",
    "summarize",
    "trial_count",
    "tuning_lines",
    "tuning_budget",
]
