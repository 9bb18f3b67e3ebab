r"""Fair tuning with Optuna: one study per cell, the same budget for every optimizer.

For every cell (model x dataset x optimizer) of a suite with ``tuning.trials = n > 0``:

1. **Points drawn up front.** The cell's search space (:func:`benchmark.suite.cell_search_space`)
   is mapped from the first ``n`` points of a scrambled Sobol sequence in :math:`[0, 1)^d`
   (``scipy.stats.qmc.Sobol``, seeded by ``tuning.seed``; dimensions in sorted key order) by
   :class:`benchmark.search_space.Dimension`:
   a ``{low, high, log}`` range maps :math:`u` to :math:`\exp(\log l + u(\log h - \log l))`,
   a linear one to :math:`l + u(h - l)`, an integer one to
   :math:`\min(h, \lfloor l + u(h - l + 1) \rfloor)` (log-spaced likewise if ``log``), and
   ``choices`` to ``choices[floor(u k)]``. Every cell draws from the same seeded sequence, so
   every optimizer gets equally spread points. The points are *enqueued* in the cell's
   Optuna study (``enqueue_trial``) and asked for in order (trial ``i`` is point ``i``), so
   the trials do not depend on which worker finishes first.
2. **Trials are runs.** Trial ``i`` is the run :func:`benchmark.suite.expand_tuning_trial`
   builds from point ``i``: ``tuning.epochs`` epochs (default: the suite's ``epochs``) with seed
   ``tuning.seed``, scored on the *validation* split. All trials of all cells go through the
   executor together (the same pool, resume and store as final runs, role ``"tuning"``).
3. **Scores.** A completed trial scores its final validation accuracy (``final_val_accuracy``);
   a diverged one scores :data:`WORST` (0.0, the worst accuracy), never dropped; a failed one
   (an error) is told ``FAIL`` and counted. The best trial is the highest score, ties broken by
   the lower trial number; its point is the cell's tuned hyper-parameters for the final runs.

Studies live in the suite's own database (Optuna's tables beside bnnbench's), named
``<suite>/<cell key>/<config hash>``: the hash covers the search space, the budget and the
trial template, so a changed suite starts a new study instead of mixing points. A rerun
reuses the study: finished trials are kept, asked-but-untold ones (a kill) are told once their
runs are in the store. No pruner: trials run in parallel, and a pruning decision that depends
on which trials finished first would make results depend on timing (docs/protocol.md).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BnnBenchError
from benchmark.records import RunSpec, canonical_json
from benchmark.search_space import Dimension
from benchmark.suite import Cell, Suite, cell_search_space, cells, expand_tuning_trial

TUNING_METRIC = "final_val_accuracy"
WORST = 0.0
"""The score of a diverged trial: the worst possible validation accuracy."""


# --------------------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------------------
def unit_to_value(u: float, rng: Mapping[str, Any]) -> Any:
    """Map ``u`` in [0, 1) onto one range of a search space
    (:meth:`benchmark.search_space.Dimension.value`)."""
    return Dimension.parse(rng).value(u)


def qmc_points(space: Mapping[str, Mapping[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` points of the seeded, scrambled Sobol sequence, mapped onto ``space``
    (keys in sorted order are the dimensions)."""
    from scipy.stats import qmc

    keys = sorted(space)
    if not keys or n <= 0:
        return [{} for _ in range(max(n, 0))]
    sobol = qmc.Sobol(d=len(keys), scramble=True, seed=seed)
    with warnings.catch_warnings():  # n need not be a power of two
        warnings.simplefilter("ignore", UserWarning)
        units = sobol.random(n)
    dims = [Dimension.parse(space[k]) for k in keys]
    return [{k: d.value(float(u)) for k, d, u in zip(keys, dims, row, strict=True)}
            for row in units]  # fmt: skip


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Optuna distributions of ``space`` (the study records each trial's point with them)."""
    return {key: Dimension.parse(rng).distribution() for key, rng in space.items()}


# --------------------------------------------------------------------------------------
# Studies
# --------------------------------------------------------------------------------------
def study_name(suite: Suite, cell: Cell) -> str:
    """``<suite>/<cell key>/<hash of search space, budget and trial template>``."""
    template = expand_tuning_trial(suite, cell, {}, suite.tuning.seed).to_dict()
    template.pop("hparams")
    fingerprint = canonical_json(
        [cell_search_space(cell), suite.tuning.model_dump(), template, cell.optimizer.hparams]
    )
    return f"{suite.name}/{cell.key}/{hashlib.sha256(fingerprint.encode()).hexdigest()[:10]}"


@dataclass
class CellTuning:
    """One cell's study and its trials: ``(trial number, point, run spec)`` in order; ``url``
    is the store holding the study (for error messages, shown with its password hidden)."""

    cell: Cell
    study: Any
    trials: list[tuple[int, dict[str, Any], RunSpec]] = field(default_factory=list)
    url: str = ""


def open_studies(suite: Suite, storage_url: str) -> list[CellTuning]:
    """Create or load every cell's study and ask for its ``tuning.trials`` enqueued points."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(storage_url)
    out = []
    for cell, trials in planned_trials(suite):
        with storage_errors(storage_url, "open tuning studies in"):
            study = optuna.create_study(
                storage=storage,
                study_name=study_name(suite, cell),
                direction="maximize",
                load_if_exists=True,
            )
            _ask_planned(study, cell, trials)
        out.append(CellTuning(cell, study, list(trials), storage_url))
    return out


def _ask_planned(
    study: Any, cell: Cell, trials: Sequence[tuple[int, dict[str, Any], RunSpec]]
) -> None:
    """Enqueue and ask the trials ``study`` does not hold yet; refuse one that holds another
    point, or a study whose trial numbers do not follow the plan."""
    dists = distributions(cell_search_space(cell))
    known = {t.number: t for t in study.get_trials(deepcopy=False)}
    for i, point, spec in trials:
        if i in known and not _same_point(known[i].params, point):
            raise BnnBenchError(
                f"tuning: trial {i} of study '{study.study_name}' holds {known[i].params}, "
                f"not the point drawn now ({point}; another scipy version?); rerun with "
                "--fresh to start the studies over"
            )
        if i not in known:
            study.enqueue_trial(point, skip_if_exists=False)
            trial = study.ask(dists)
            if trial.number != i:
                raise BnnBenchError(
                    f"tuning: study '{study.study_name}' is out of order (trial {trial.number}"
                    f" where {i} was expected); rerun with --fresh"
                )
            trial.set_user_attr("run_id", spec.run_id)


def _same_point(stored: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    if set(stored) != set(point):
        return False
    for key, value in point.items():
        if isinstance(value, float):
            if not math.isclose(float(stored[key]), value, rel_tol=1e-12, abs_tol=0.0):
                return False
        elif stored[key] != value:
            return False
    return True


def _storage(url: str) -> Any:
    """Optuna's storage on the store ``url``, opened with the store's engine settings
    (:func:`benchmark.store.server_options`: connect timeout, pre-ping on PostgreSQL)."""
    import optuna
    import sqlalchemy as sa

    from benchmark.store import server_options
    from benchmark.store.errors import display_url, line, mask
    from benchmark.store.locking import creating_tables

    with storage_errors(url, "open tuning studies in"):
        try:
            options = server_options(sa.engine.make_url(url))
            # Optuna creates its tables on first use: one process at a time (creating_tables)
            lock = sa.create_engine(url, **options)
            try:
                with creating_tables(lock):
                    return optuna.storages.RDBStorage(url, engine_kwargs=options)
            finally:
                lock.dispose()
        except (ValueError, RuntimeError, ImportError) as exc:
            # a bad URL, tables of another Optuna version, no driver: the cause, on one line
            cause = exc.__cause__ if isinstance(exc, ImportError) and exc.__cause__ else exc
            raise BnnBenchError(
                f"tuning: cannot open tuning studies in results store '{display_url(url)}': "
                f"{mask(line(cause))}"
            ) from None


@contextmanager
def storage_errors(url: str, doing: str) -> Iterator[None]:
    """Database errors met through Optuna -> one line naming the store (password hidden),
    like the store's own (:func:`benchmark.store.errors.guard`). Optuna wraps most of them in
    ``StorageInternalError`` ("An exception is raised during the commit ... invalid data"),
    which hides the cause: a lost connection reads like bad data; the driver's message is
    shown instead."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    from benchmark.store.errors import display_url, mask, one_line

    try:
        yield
    except BnnBenchError:
        raise
    except (SQLAlchemyError, StorageInternalError) as exc:
        cause = exc.__cause__ if isinstance(exc, StorageInternalError) and exc.__cause__ else exc
        raise BnnBenchError(
            f"tuning: cannot {doing} results store '{display_url(url)}': {mask(one_line(cause))}"
        ) from None


def delete_studies(suite_name: str, storage_url: str) -> int:
    """Delete every study of ``suite_name`` (for ``--fresh``); returns how many."""
    import optuna

    storage = _storage(storage_url)
    with storage_errors(storage_url, "delete tuning studies from"):
        names = [
            s.study_name
            for s in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
            if s.study_name.startswith(f"{suite_name}/")
        ]
        for name in names:
            optuna.delete_study(study_name=name, storage=storage)
    return len(names)


# --------------------------------------------------------------------------------------
# Scores and results
# --------------------------------------------------------------------------------------
def trial_score(outcome: tuple[str, Mapping[str, float]] | None) -> float | None:
    """The score of a trial from its run's ``(status, summary)``: the final validation
    accuracy; :data:`WORST` if it diverged (or has no finite accuracy); ``None`` if it failed
    or is not stored."""
    if outcome is None or outcome[0] == "failed":
        return None
    status, summary = outcome
    value = summary.get(TUNING_METRIC)
    if status == "diverged" or value is None or not math.isfinite(value):
        return WORST
    return float(value)


@dataclass
class TuningResult:
    """Per cell key: the best point (``best_params``), its score and the trial counts."""

    best_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    best_score: dict[str, float] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def planned_trials(suite: Suite) -> list[tuple[Cell, list[tuple[int, dict[str, Any], RunSpec]]]]:
    """Every cell's trials ``(number, point, spec)``, computed from the suite alone (the points
    :func:`open_studies` enqueues), without touching any study."""
    out = []
    for cell in cells(suite):
        points = qmc_points(cell_search_space(cell), suite.tuning.trials, suite.tuning.seed)
        trials = [
            (i, point, expand_tuning_trial(suite, cell, point, suite.tuning.seed))
            for i, point in enumerate(points)
        ]
        out.append((cell, trials))
    return out


def select(
    planned: Sequence[tuple[Cell, Sequence[tuple[int, dict[str, Any], RunSpec]]]],
    outcomes: Mapping[str, tuple[str, Mapping[str, float]]],
) -> TuningResult:
    """Each cell's best trial from the stored outcomes (``run_id -> (status, summary)``,
    :meth:`benchmark.store.Store.outcomes`): highest score, the lower trial number on ties;
    plus the trial counts per status (``missing``: not stored)."""
    result = TuningResult()
    for cell, trials in planned:
        scored: list[tuple[float, int, dict[str, Any]]] = []
        counts = {"completed": 0, "diverged": 0, "failed": 0, "missing": 0}
        for number, point, spec in trials:
            outcome = outcomes.get(spec.run_id)
            counts[outcome[0] if outcome is not None else "missing"] += 1
            score = trial_score(outcome)
            if score is not None:
                scored.append((score, number, point))
        result.counts[cell.key] = counts
        if scored:
            score, _, point = max(scored, key=lambda s: (s[0], -s[1]))
            result.best_params[cell.key] = dict(point)
            result.best_score[cell.key] = score
    return result


def tell_and_select(
    tunings: Sequence[CellTuning], outcomes: Mapping[str, tuple[str, Mapping[str, float]]]
) -> TuningResult:
    """Tell every untold (``RUNNING``) trial its score, or ``FAIL``, then :func:`select`."""
    from optuna.trial import TrialState

    for tuning in tunings:
        study = tuning.study
        with storage_errors(tuning.url, "tell tuning trials to"):
            states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
            for number, _, spec in tuning.trials:
                if states.get(number) != TrialState.RUNNING:
                    continue
                score = trial_score(outcomes.get(spec.run_id))
                if score is None:
                    study.tell(number, state=TrialState.FAIL)
                else:
                    study.tell(number, score)
    return select([(t.cell, t.trials) for t in tunings], outcomes)


def trial_specs(tunings: Sequence[CellTuning]) -> list[RunSpec]:
    """Every trial's run spec, cell by cell, trial by trial."""
    return [spec for tuning in tunings for _, _, spec in tuning.trials]


__all__ = [
    "TUNING_METRIC",
    "WORST",
    "CellTuning",
    "TuningResult",
    "delete_studies",
    "distributions",
    "open_studies",
    "planned_trials",
    "select",
    "qmc_points",
    "study_name",
    "tell_and_select",
    "trial_score",
    "trial_specs",
    "unit_to_value",
]
