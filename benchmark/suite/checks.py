"""The rules of a suite beyond its schema's types: names against the model, dataset and
optimizer registries, fixed hyper-parameters and search spaces against the optimizer registry,
the upper limits of :data:`~benchmark.suite.limits.LIMITS`, finite floats, cross-key rules
(reference, target, schedule, executor, store) and the convex section's run count. Each
raises one :class:`~benchmark.errors.BnnBenchError` line naming the key path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from benchmark.errors import BnnBenchError, closest
from benchmark.options import FINITE_RULE, SEED_MAX, is_finite_value
from benchmark.suite.limits import GRID_PATH, LIMITS, allowed, within
from benchmark.suite.schema import (
    DEVICE_PATTERN,
    DEVICES,
    NAME_PATTERN,
    PLUGIN_PATTERN,
    SCHEDULE_KEYS,
    Suite,
)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(where: str, path: str, message: str) -> BnnBenchError:
    return BnnBenchError(f"{where}: {path}: {message}")


def _check_limit(where: str, path: str, value: Any, limit: str) -> None:
    """``value`` (an int, or None: unset) within ``LIMITS[limit]``, else one line naming the
    range and its reason."""
    if not within(limit, value):
        raise _fail(where, path, f"out of range, got {value}; {allowed(limit)}")


def _check_finite(where: str, path: str, value: Any) -> None:
    """No inf or nan in a float hyper-parameter, bound or section value
    (:func:`benchmark.options.is_finite_value`, the registry's rule too)."""
    if not is_finite_value(value):
        raise _fail(where, path, f"must be finite, got {_show(value)}; allowed: {FINITE_RULE}")


def _check_limits(suite: Suite, where: str) -> None:
    """The upper limits of :data:`LIMITS` (seeds: the schema's :data:`Seed`) and a finite
    ``clip_latent``."""
    for path, value in (
        ("epochs", suite.epochs),
        ("batch_size", suite.batch_size),
        ("evals_per_epoch", suite.evals_per_epoch),
        ("eval_schedule.points", suite.eval_schedule.points if suite.eval_schedule else None),
        ("tuning.trials", suite.tuning.trials),
        ("tuning.epochs", suite.tuning.epochs),
        ("tuning.batch", suite.tuning.batch),
        ("tuning.seeds_per_trial", suite.tuning.seeds_per_trial),
        ("tuning.halving.eta", suite.tuning.halving.eta if suite.tuning.halving else None),
        ("executor.workers", suite.executor.workers),
        ("executor.threads_per_worker", suite.executor.threads_per_worker),
    ):
        _check_limit(where, path, value, "epochs" if path == "tuning.epochs" else path)
    if suite.clip_latent is not None:
        _check_finite(where, "clip_latent", suite.clip_latent)


def _check_tuning(suite: Suite, where: str) -> None:
    """``tuning.defaults`` adds runs at the registry defaults beside tuned ones: it needs a
    tuning budget (with ``trials: 0`` every final run is at the defaults already). Halving
    needs its first rung below the tuning epochs."""
    tuning = suite.tuning
    if tuning.defaults and tuning.trials == 0:
        raise _fail(
            where,
            "tuning.defaults",
            "only allowed with tuning.trials > 0 (with trials: 0 the final runs are at the "
            "registry defaults already); set trials, or remove defaults",
        )
    from benchmark.trial_seeds import TUNING_SEED_BASE

    last = TUNING_SEED_BASE + tuning.seed + tuning.seeds_per_trial - 1
    if last > SEED_MAX:
        raise _fail(
            where,
            "tuning.seed",
            f"trial seeds run from {TUNING_SEED_BASE:,} + tuning.seed to that + "
            f"seeds_per_trial - 1 = {last}, past the largest seed {SEED_MAX}, got "
            f"{tuning.seed}; allowed: 0 to {SEED_MAX - TUNING_SEED_BASE - tuning.seeds_per_trial + 1}"
            " (or fewer seeds per trial)",
        )
    if tuning.halving is not None and tuning.halving.min_epochs >= suite.tuning_epochs:
        raise _fail(
            where,
            "tuning.halving.min_epochs",
            f"must be below the tuning epochs ({suite.tuning_epochs}), got "
            f"{tuning.halving.min_epochs}; allowed: 1 to {suite.tuning_epochs - 1}",
        )


def _check_grid_budget(suite: Suite, where: str) -> None:
    """``sampler: grid`` evaluates a full grid of exactly ``tuning.trials`` points in every
    cell (:func:`benchmark.tune.points.grid_axes`), so every optimizer gets the same budget."""
    if suite.tuning.sampler != "grid" or suite.tuning.trials == 0:
        return
    from benchmark.grid_rungs import GridError, grid_axes
    from benchmark.suite.expand import cell_search_space, cells

    for cell in cells(suite):
        i = suite.optimizers.index(cell.optimizer)
        try:
            grid_axes(cell_search_space(cell), suite.tuning.trials)
        except GridError as exc:
            space = ", ".join(sorted(cell_search_space(cell))) or "nothing"
            raise _fail(
                where,
                "tuning.trials",
                f"{suite.tuning.trials} is {exc} of optimizers[{i}] ({cell.optimizer.name}, "
                f"tuning {space}); set trials to a grid size every optimizer's space has",
            ) from None


def _check_runs(where: str, path: str, runs: int, how: str) -> None:
    """The total run count of a suite against ``LIMITS["runs"]`` (``how`` explains it)."""
    _, high, why = LIMITS["runs"]
    if runs > high:
        raise _fail(
            where, path, f"too many runs, got {runs} ({how}); allowed: at most {high} ({why})"
        )


def _check(suite: Suite, where: str) -> None:
    """Every rule of this module, in order; the first broken one raises."""
    if not NAME_PATTERN.match(suite.name):
        raise _fail(
            where,
            "name",
            f"{_show(suite.name)} is not a valid suite name; allowed: letters, digits, '_', "
            "'-', '.', at most 128 characters (it names the results folder)",
        )
    if not DEVICE_PATTERN.match(suite.device):
        raise _fail(
            where,
            "device",
            f"unknown device {_show(suite.device)}{closest(suite.device, DEVICES)}; "
            f"allowed: {', '.join(DEVICES)}",
        )
    _check_limits(suite, where)
    _check_tuning(suite, where)
    from benchmark.tasks.registry import get_task

    get_task(suite.task).check_suite(suite, where)


def check_training_suite(suite: Suite, where: str) -> None:
    """The rules of a ``task: train`` suite (:meth:`TrainingTask.check_suite`): its run count,
    its grid against the registries, its optimizers, reference and protocol."""
    n_cells = len(suite.pairs) * len(suite.optimizers)
    finals = len(suite.seeds) * (2 if suite.tuning.defaults else 1)  # + the defaults' runs
    from benchmark.grid_rungs import rungs

    # at most: halving stops most trials at the first rung (tune.trials.rung_epochs' rule)
    halving = suite.tuning.halving
    epochs = suite.tuning_epochs
    n_rungs = len(rungs(epochs, halving.min_epochs, halving.eta) if halving else [epochs])
    per_cell = finals + suite.tuning.trials * suite.tuning.seeds_per_trial * n_rungs
    _check_runs(where, GRID_PATH, n_cells * per_cell, f"{n_cells} cells x {per_cell} runs")
    _check_grid(suite, where)
    _check_optimizers(suite, where)
    _check_grid_budget(suite, where)
    names = suite.optimizer_names
    if suite.reference not in names:
        raise _fail(
            where,
            "reference",
            f"'{suite.reference}' is not among the suite's optimizers"
            f"{closest(suite.reference, names)}; set reference to one of: {', '.join(names)}",
        )
    _check_protocol(suite, where)
    _check_seeds_apart(suite, where)


def _check_seeds_apart(suite: Suite, where: str) -> None:
    """No final run shares a seed with a tuning trial (:func:`benchmark.tune.trial_seeds`,
    ``1,000,000 + tuning.seed + i``): a final run with a trial's seed would repeat the trial's
    data order and initialisation, so the winning trial's runs would be selected, not sampled
    (docs/protocol.md, "Tuning seeds apart from evaluation seeds")."""
    if suite.tuning.trials == 0:
        return
    from benchmark.trial_seeds import trial_seed_list

    tuning = trial_seed_list(suite.tuning)
    shared = sorted(set(suite.seeds) & set(tuning))
    if shared:
        raise _fail(
            where,
            "seeds",
            f"seed {shared[0]} is also a tuning-trial seed (trials train with seeds "
            f"{tuning[0]} to {tuning[-1]}: 1,000,000 + tuning.seed + i); allowed: final seeds "
            "outside that range, or another tuning.seed",
        )


def check_convex_suite(suite: Suite, where: str) -> None:
    """The rules of a ``task: convex`` suite (:meth:`ConvexTask.check_suite`): no training
    grid keys (they live under ``convex:``), the protocol keys, and the convex section."""
    for key in ("models", "datasets", "optimizers", "seeds"):
        if key in suite.model_fields_set:
            where_instead = f"; list them under convex.{key}" if key[0] in "os" else ""
            raise _fail(where, key, f"not used by task '{suite.task}'{where_instead}")
    _check_optimizers(suite, where)
    _check_protocol(suite, where)
    _check_convex(suite, where)


def _check_grid(suite: Suite, where: str) -> None:
    for key in ("models", "datasets"):
        if not getattr(suite, key):
            raise _fail(where, key, f"the grid is empty: list at least one {key[:-1]}")
    if not suite.optimizers:
        raise _fail(where, "optimizers", "the grid is empty: list at least one optimizer")
    if not suite.seeds:
        raise _fail(where, "seeds", "the grid is empty: give a seed count >= 1 or a seed list")
    if len(set(suite.seeds)) != len(suite.seeds):
        dup = next(s for s in suite.seeds if suite.seeds.count(s) > 1)
        raise _fail(where, "seeds", f"seed {dup} appears twice; seeds must be distinct")
    from benchmark.data import DATASETS
    from benchmark.models import MODELS

    for key, entries, registry in (
        ("models", suite.models, MODELS),
        ("datasets", suite.datasets, DATASETS),
    ):
        _check_names(where, key, [e.name for e in entries], registry, key[:-1])
    for i, model in enumerate(suite.models):
        if "binary" in model.options:
            raise _fail(
                where, f"models[{i}].options.binary", "use the entry's 'binary' key instead"
            )
        _check_option_keys(where, f"models[{i}]", model.options, MODELS[model.name].options)
    for i, data in enumerate(suite.datasets):
        allowed = DATASETS[data.name].all_options()
        _check_option_keys(where, f"datasets[{i}]", data.options, allowed)
    _check_exclude(suite, where)
    _check_inputs(suite, where)


def _check_exclude(suite: Suite, where: str) -> None:
    """Each ``exclude`` entry names a model / dataset of the suite and leaves something out;
    the grid keeps at least one pair."""
    models = [m.name for m in suite.models]
    datasets = [d.name for d in suite.datasets]
    for i, entry in enumerate(suite.exclude):
        for key, name, names in (
            ("model", entry.model, models),
            ("dataset", entry.dataset, datasets),
        ):
            if name is not None and name not in names:
                raise _fail(
                    where,
                    f"exclude[{i}].{key}",
                    f"'{name}' is not among the suite's {key}s{closest(name, names)}; allowed: "
                    f"{', '.join(names)}",
                )
    if not suite.pairs:
        raise _fail(where, "exclude", "leaves no model x dataset pair to run")


def _check_inputs(suite: Suite, where: str) -> None:
    """Every model accepts every dataset's inputs, from static metadata (no data is loaded):
    :func:`benchmark.data.registry.static_input` against the model's ``accepts`` rule
    (:func:`benchmark.models.registry.accepts_input`), so that ``bnnbench validate`` refuses
    what ``bnnbench run``'s preflight would."""
    from benchmark.data.registry import static_input
    from benchmark.models import MODELS
    from benchmark.models.registry import accepts_input

    for j, data in enumerate(suite.datasets):
        static = static_input(data.name, data.options)
        if static is None:
            continue  # a bad option value: the loader names it
        shape = static[0]
        for i, model in enumerate(suite.models):
            if any(e.matches(model.name, data.name) for e in suite.exclude):
                continue
            if not accepts_input(model.name, shape, model.options):
                raise _fail(
                    where,
                    f"models[{i}] x datasets[{j}]",
                    f"model '{model.name}' does not accept {len(shape)}-D inputs of dataset "
                    f"'{data.name}' (shape {shape}); allowed for it: "
                    f"{MODELS[model.name].accepts} (or leave the pair out: exclude: "
                    f"[{{model: {model.name}, dataset: {data.name}}}])",
                )


def _check_option_keys(
    where: str, base: str, options: Mapping[str, Any], allowed: Iterable[str]
) -> None:
    """Option names against the model's / dataset's own, and finite numbers (other value
    rules are checked when built)."""
    allowed = list(allowed)
    for key, value in options.items():
        if key not in allowed:
            raise _fail(
                where,
                f"{base}.options.{key}",
                f"unknown option '{key}'{closest(str(key), allowed)}; allowed: "
                + (", ".join(allowed) or "(none)"),
            )
        _check_finite(where, f"{base}.options.{key}", value)


def _check_names(
    where: str, key: str, names: list[str], registry: Iterable[str], kind: str
) -> None:
    allowed = sorted(registry)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise _fail(
                where,
                f"{key}[{i}]",
                f"{kind} '{name}' is listed twice (also {key}[{seen[name]}]); each {kind} may "
                "appear once per suite",
            )
        seen[name] = i
        if allowed and name not in allowed:
            raise _fail(
                where,
                f"{key}[{i}].name",
                f"unknown {kind} '{name}'{closest(name, allowed)}; allowed: {', '.join(allowed)}",
            )


def _optimizer_spec(where: str, path: str, name: str) -> Any:
    """The registry spec of ``name`` (registry name or plugin ``package.module:Class``)."""
    from benchmark.optim import OPTIMIZERS, get_optimizer_spec

    if name not in OPTIMIZERS and not PLUGIN_PATTERN.match(name):
        allowed = sorted(OPTIMIZERS)
        raise _fail(
            where,
            path,
            f"unknown optimizer '{name}'{closest(name, allowed)}; allowed: {', '.join(allowed)}"
            ", or a plugin 'package.module:Class'",
        )
    return get_optimizer_spec(name, where=f"{where}: {path}")


def _unknown_hparam(where: str, path: str, key: str, name: str, known: list[str]) -> BnnBenchError:
    return _fail(
        where,
        path,
        f"unknown hyper-parameter '{key}' of {name}{closest(key, known)}; "
        f"allowed: {', '.join(known)}",
    )


def _check_optimizers(suite: Suite, where: str) -> None:
    """Names, fixed hyper-parameters and search spaces against the optimizer registry (each
    range has validated itself: :class:`~benchmark.search_space.Dimension`)."""
    from benchmark.optim import allowed_hparams, validate_hparams, validate_search_space

    _check_names(where, "optimizers", suite.optimizer_names, [], "optimizer")
    for i, entry in enumerate(suite.optimizers):
        base = f"optimizers[{i}]"
        spec = _optimizer_spec(where, f"{base}.name", entry.name)
        hparams = dict(entry.hparams)
        known = allowed_hparams(entry.name, hparams, where=f"{where}: {base}.hparams")
        open_ended = bool(getattr(spec, "accepts_any", False))
        for key in hparams:
            if key not in known and not open_ended:
                raise _unknown_hparam(where, f"{base}.hparams.{key}", key, entry.name, known)
            _check_finite(where, f"{base}.hparams.{key}", hparams[key])
        validate_hparams(entry.name, hparams, where=f"{where}: {base}.hparams")
        # a tuned fp_optimizer changes which fp_* keys exist: the registry checks those
        tuned_companion = "fp_optimizer" in entry.search_space
        for key in entry.search_space:
            path = f"{base}.search_space.{key}"
            companion_key = tuned_companion and key.startswith("fp_")
            if key not in known and not open_ended and not companion_key:
                raise _unknown_hparam(where, path, key, entry.name, known)
            if key in hparams:
                raise _fail(
                    where, path, f"'{key}' is both fixed (hparams.{key}) and tuned; keep only one"
                )
        if entry.search_space:
            space = {k: r.as_dict() for k, r in entry.search_space.items()}
            validate_search_space(
                entry.name, space, where=f"{where}: {base}.search_space", fixed=hparams
            )
        elif suite.tuning.trials > 0 and not set(spec.search_space) - set(hparams):
            why = (
                f"every key of its default search space ({', '.join(spec.search_space)}) is "
                "fixed in hparams"
                if spec.search_space
                else "it has no default search space"
            )
            raise _fail(
                where,
                f"{base}.search_space",
                f"required with tuning.trials > 0: {why}; declare what {entry.name} tunes",
            )


def _set_keys(model: BaseModel) -> set[str]:
    fields = type(model).model_fields
    return {fields[n].alias or n for n in model.model_fields_set}


def _check_protocol(suite: Suite, where: str) -> None:
    target = suite.target
    if target.kind == "value":
        if target.value is None:
            raise _fail(where, "target.value", "required with kind: value (an accuracy in (0, 1])")
        if not 0.0 < target.value <= 1.0:
            raise _fail(where, "target.value", f"must be an accuracy in (0, 1], got {target.value}")
    elif target.value is not None:
        raise _fail(
            where,
            "target.value",
            f"only allowed with kind: value (kind is {target.kind}); allowed kinds: "
            "best_fraction, value, reference_mean",
        )
    if target.fraction is not None and target.kind != "best_fraction":
        raise _fail(
            where,
            "target.fraction",
            f"only allowed with kind: best_fraction (kind is {target.kind})",
        )
    schedule = suite.lr_schedule
    if schedule is not None:
        allowed = SCHEDULE_KEYS[schedule.name]
        for key in sorted(_set_keys(schedule) - {"name"}):
            if key not in allowed:
                raise _fail(
                    where,
                    f"lr_schedule.{key}",
                    f"not a key of the '{schedule.name}' schedule; allowed: {', '.join(allowed)}",
                )
        if schedule.name == "step" and schedule.step_size is None:
            raise _fail(
                where,
                "lr_schedule.step_size",
                "required for the 'step' schedule (epochs between decays)",
            )
    executor = suite.executor
    if executor.kind == "local" and executor.scheduler is not None:
        raise _fail(where, "executor.scheduler", "only used with kind: dask")
    if executor.scheduler is not None and not re.match(r"^[a-z]+://\S+$", executor.scheduler):
        raise _fail(
            where,
            "executor.scheduler",
            f"expected an address like 'tcp://host:8786', got {_show(executor.scheduler)}",
        )
    if suite.store is not None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(suite.store)
        except (ArgumentError, ValueError):
            from benchmark.store.errors import display_url

            raise _fail(
                where,
                "store",
                f"not a database URL, got {_show(display_url(suite.store))}; "
                "e.g. sqlite:///results/x.db or postgresql+psycopg://host/db",
            ) from None


def _check_convex(suite: Suite, where: str) -> None:
    """The convex section (typed and checked by its schema,
    :class:`~benchmark.suite.convex_schema.ConvexSection`): ``steps`` and ``checkpoints``
    within :data:`LIMITS`, its run count (per optimizer entry and form: one run, or one per
    seed for the stochastic form), and a ``reference`` given among its optimizers."""
    section = suite.convex
    assert section is not None  # the schema fills in the section of task: convex
    _check_limit(where, "convex.steps", section.steps, "convex.steps")
    _check_limit(where, "convex.checkpoints", section.checkpoints, "convex.checkpoints")
    runs = sum(
        len(section.seeds) if form == "stochastic" else 1
        for entry in section.optimizers
        for form in section.optimizer_forms(entry)
    )
    how = f"{len(section.optimizers)} optimizers x forms, {len(section.seeds)} seeds"
    _check_runs(where, "convex", runs, how)
    if "reference" in suite.model_fields_set:
        names = [o.display for o in section.optimizers]
        if suite.reference not in names:
            raise _fail(
                where,
                "reference",
                f"'{suite.reference}' is not among convex.optimizers"
                f"{closest(suite.reference, names)}; allowed: {', '.join(names)}",
            )
