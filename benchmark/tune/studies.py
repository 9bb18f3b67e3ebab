"""The Optuna side of tuning: one study per cell in the suite's own database (Optuna's tables
beside bnnbench's), asked in rounds and told at barriers.

Studies are named ``<suite>/<cell key>/<config hash>``: the hash covers the search space, the
tuning section, the trial template and the fixed hyper-parameters, so a changed suite starts
a new study instead of mixing points. A study's trial ``i`` is the cell's trial ``i``: asked
in order (:func:`ask_round`), told once its round's runs are stored (:func:`tell_round`,
in trial order). Halving's rung scores are reported as intermediate values (step = epochs)
and a stopped trial is told ``PRUNED``; a trial whose run failed is told ``FAIL``.

Reading a store (``show``, the report) never opens Optuna's storage: :func:`read_points`
reads the points with SQL through the store's own (possibly read-only) engine.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from benchmark.errors import BnnBenchError
from benchmark.records import canonical_json
from benchmark.suite import Cell, Suite, cell_search_space, expand_tuning_trial
from benchmark.tune.points import distributions, qmc_points
from benchmark.tune.samplers import make_sampler
from benchmark.tune.trials import TrialResult, trial_seeds

#: tuning keys hashed into a study's name only when they differ from these defaults, so the
#: studies of suites written before the keys existed keep their names
_NEW_KEY_DEFAULTS = {"sampler": "qmc", "batch": None, "seeds_per_trial": 1, "halving": None}


def study_name(suite: Suite, cell: Cell) -> str:
    """``<suite>/<cell key>/<hash of search space, tuning section and trial template>``."""
    template = expand_tuning_trial(suite, cell, {}, trial_seeds(suite)[0]).to_dict()
    template.pop("hparams")
    tuning = suite.tuning.model_dump()
    for key, default in _NEW_KEY_DEFAULTS.items():
        if tuning.get(key) == default:
            tuning.pop(key)
    fingerprint = canonical_json(
        [cell_search_space(cell), tuning, template, cell.optimizer.hparams]
    )
    return f"{suite.name}/{cell.key}/{hashlib.sha256(fingerprint.encode()).hexdigest()[:10]}"


def open_study(suite: Suite, cell: Cell, storage: Any, url: str) -> Any:
    """Create or load the cell's study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with storage_errors(url, "open tuning studies in"):
        return optuna.create_study(
            storage=storage,
            study_name=study_name(suite, cell),
            direction="maximize",
            load_if_exists=True,
        )


def ask_round(
    suite: Suite, cell: Cell, study: Any, numbers: Sequence[int], url: str
) -> dict[int, dict[str, Any]]:
    """Trials ``numbers`` of the cell's study (``number -> point``): kept if the study holds
    them, else asked now, in order, each from its own seeded sampler
    (:mod:`benchmark.tune.samplers`); ``qmc`` enqueues Sobol point ``i`` as trial ``i``.
    Refuses a study that holds another Sobol point or whose numbering does not follow."""
    import optuna

    tuning = suite.tuning
    space = cell_search_space(cell)
    dists = distributions(space)
    sobol = qmc_points(space, tuning.trials, tuning.seed) if tuning.sampler == "qmc" else None
    points: dict[int, dict[str, Any]] = {}
    with storage_errors(url, "ask tuning trials in"):
        known = {t.number: t for t in study.get_trials(deepcopy=False)}
        for i in numbers:
            if i in known:
                points[i] = dict(known[i].params)
                if sobol is not None and not _same_point(known[i].params, sobol[i]):
                    raise BnnBenchError(
                        f"tuning: trial {i} of study '{study.study_name}' holds "
                        f"{known[i].params}, not the point drawn now ({sobol[i]}; another scipy "
                        "version?); rerun with --fresh to start the studies over"
                    )
                continue
            if sobol is not None:
                study.enqueue_trial(sobol[i], skip_if_exists=False)
                study.sampler = optuna.samplers.RandomSampler(seed=0)  # never used: enqueued
            else:
                study.sampler = make_sampler(tuning, space, i, halving=tuning.halving is not None)
            trial = study.ask(dists)
            if trial.number != i:
                raise BnnBenchError(
                    f"tuning: study '{study.study_name}' is out of order (trial {trial.number} "
                    f"where {i} was expected: were trials added or deleted by hand?); rerun with "
                    "--fresh to start the studies over"
                )
            points[i] = dict(trial.params)
    return points


def tell_round(study: Any, results: Sequence[TrialResult], url: str) -> None:
    """Tell the study every still-running trial of a finished round, in trial order: the
    ids of its runs (user attribute ``run_ids``; ``score_sd`` with several seeds), rung
    scores as intermediate values (with halving), then the score (``COMPLETE``), ``PRUNED``
    (stopped by halving) or ``FAIL`` (a run failed). Trials already told are left alone."""
    import optuna
    from optuna.trial import TrialState

    # after_trial hooks of the asking samplers must not run here (GridSampler's stops the
    # study once its grid is done, which raises outside study.optimize)
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    with storage_errors(url, "tell tuning trials to"):
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        for result in sorted(results, key=lambda r: r.number):
            frozen = trials.get(result.number)
            if frozen is None or frozen.state != TrialState.RUNNING:
                continue
            live = optuna.trial.Trial(study, frozen._trial_id)
            # for Optuna's tools (optuna-dashboard): which stored runs make the trial
            live.set_user_attr("run_ids", [spec.run_id for spec in result.specs])
            if len(result.last.specs) > 1 and result.score is not None:
                live.set_user_attr("score_sd", result.last.spread)
            if len(result.rungs) > 1 or result.stopped:
                for rung in result.rungs:
                    if rung.score is not None and rung.epochs not in frozen.intermediate_values:
                        live.report(rung.score, step=rung.epochs)
            if result.stopped:
                study.tell(result.number, state=TrialState.PRUNED)
            elif result.final and result.score is not None:
                study.tell(result.number, result.score)
            elif result.final or result.last.stored:
                study.tell(result.number, state=TrialState.FAIL)


def read_points(engine: Any, name: str) -> dict[int, dict[str, Any]]:
    """``number -> point`` of the study ``name``, read with SQL through ``engine`` (the
    store's, read-only or not; nothing is created); empty when the store has no such study or
    no Optuna tables. Optuna's schema (``studies``, ``trials``, ``trial_params``) has been
    stable since Optuna 2; a parameter's stored float is turned back into its value by its
    distribution (``to_external_repr``)."""
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution

    if not {"studies", "trials", "trial_params"} <= set(sa.inspect(engine).get_table_names()):
        return {}
    query = sa.text(
        "SELECT t.number, p.param_name, p.param_value, p.distribution_json "
        "FROM studies s JOIN trials t ON t.study_id = s.study_id "
        "JOIN trial_params p ON p.trial_id = t.trial_id WHERE s.study_name = :name"
    )
    points: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for number, param, value, dist in conn.execute(query, {"name": name}):
            external = json_to_distribution(dist).to_external_repr(value)
            points.setdefault(int(number), {})[param] = external
    return points


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


def open_storage(url: str) -> Any:
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
    except KeyError as exc:  # Optuna's storage: a study or trial deleted under our feet
        raise BnnBenchError(
            f"tuning: cannot {doing} results store '{display_url(url)}': a tuning study or "
            f"trial disappeared while the suite ran ({exc.args[0] if exc.args else exc}; deleted "
            "by hand, e.g. in optuna-dashboard?); rerun to continue: stored runs are kept"
        ) from None


def delete_studies(suite_name: str, storage_url: str) -> int:
    """Delete every study of ``suite_name`` (for ``--fresh``); returns how many."""
    import optuna

    storage = open_storage(storage_url)
    with storage_errors(storage_url, "delete tuning studies from"):
        names = [
            s.study_name
            for s in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
            if s.study_name.startswith(f"{suite_name}/")
        ]
        for name in names:
            optuna.delete_study(study_name=name, storage=storage)
    return len(names)


__all__ = [
    "ask_round",
    "delete_studies",
    "open_storage",
    "open_study",
    "read_points",
    "storage_errors",
    "study_name",
    "tell_round",
]
