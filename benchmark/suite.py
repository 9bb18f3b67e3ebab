"""Suite schema: a YAML file -> a validated :class:`Suite` -> cells and run specs.

A suite names a grid ``models x datasets x optimizers x seeds`` plus the protocol every run
shares (epochs, batch size, evaluation frequency, latent clipping, LR schedule, tuning budget,
executor, device, results store). ``docs/suites.md`` documents every key.

Expansion:

- :func:`cells` yields one :class:`Cell` per ``(model, dataset, optimizer)``, in file order
  (model-major, then dataset, then optimizer). ``Cell.key`` is ``"model/dataset/optimizer"``.
- :func:`expand_tuning_trial` turns one cell plus one point of its search space into a
  ``split="val"`` :class:`~benchmark.records.RunSpec`.
- :func:`expand_final_runs` yields ``split="test"`` specs, cell by cell, seed by seed. The
  hyper-parameters of a run are, later entries winning::

      registry defaults  <-  tuned best params (if any)  <-  the suite's fixed ``hparams``

Every user error raises :class:`~benchmark.errors.BnnBenchError` with one line
``<file>: <key path>: <problem>, got <value>; allowed: ...``, e.g.
``suites/x.yaml: optimizers[2].search_space.lr.low: ...``. Besides types and names, loading
enforces the limits of docs/suites.md ("Limits"): seeds in numpy's range, at most
:data:`~benchmark.options.MAX_SEEDS` seeds, the upper bounds of :data:`LIMITS` (epochs, batch
size, trials, workers, total runs, convex steps), finite floats, and that every model accepts
every dataset's input shape (static metadata, no data loaded).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from benchmark.errors import BnnBenchError, closest
from benchmark.options import FINITE_RULE, MAX_SEEDS, SEED_MAX, is_finite_value, seed_list
from benchmark.records import RunSpec

__all__ = [
    "Cell",
    "DatasetEntry",
    "ExecutorConfig",
    "LrSchedule",
    "ModelEntry",
    "OptimizerEntry",
    "ParamRange",
    "Suite",
    "TargetRule",
    "TuningConfig",
    "cell_hparams",
    "cell_search_space",
    "cells",
    "expand_final_runs",
    "expand_tuning_trial",
    "load_suite",
    "parse_suite",
    "suite_database_url",
]

PLUGIN_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")
"""An optimizer given by import path, ``"package.module:Class"``."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")
DEVICES = ("cpu", "cuda", "cuda:N", "mps")
SCHEDULE_KEYS = {"step": ("step_size", "gamma"), "cosine": ("min_factor",)}

LIMITS: dict[str, tuple[int, int, str]] = {
    "seed": (0, SEED_MAX, "numpy's seed range; np.random.seed takes 0 to 2**32 - 1"),
    "seeds": (1, MAX_SEEDS, "seeds per suite, counted or listed"),
    "epochs": (1, 100_000, "a training budget far beyond any benchmark's"),
    "batch_size": (1, 1_000_000, "larger than every dataset's training pool"),
    "evals_per_epoch": (1, 10_000, "at most one evaluation per batch is made anyway"),
    "tuning.trials": (0, 10_000, "trials per cell; their Sobol points are drawn up front"),
    "executor.workers": (1, 1_024, "worker processes started at once"),
    "executor.threads_per_worker": (1, 256, "torch threads per worker"),
    "runs": (1, 1_000_000, "final runs plus tuning trials; one store row each"),
    "convex.steps": (10, 10_000_000, "each run holds float64 arrays of this length"),
    "convex.checkpoints": (2, 100_000, "curve points stored per run"),
}
"""Inclusive ``(low, high, reason)`` of every bounded integer of a suite (docs/suites.md,
"Limits"). The lower bounds are the schema's own; the upper bounds reject values no benchmark
needs that would otherwise run out of memory or time before anything useful happens (a
``seeds: 10**9`` list, ``epochs: 10**12``). ``seed`` is the range of every seed (``seeds[i]``,
``tuning.seed``, ``datasets[i].split_seed``, ``convex.seeds[i]``); ``runs`` caps the runs a
grid asks for: ``cells x (seeds + tuning.trials)``, or the convex section's runs."""
GRID_PATH = "models x datasets x optimizers x (seeds + tuning.trials)"
"""The key path of the run-count error of a ``task: train`` suite."""


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    """Base of every section: unknown keys are errors, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _name_or_mapping(data: Any) -> Any:
    """Accept the short form ``- adam`` for ``- {name: adam}``."""
    return {"name": data} if isinstance(data, str) else data


class ModelEntry(_Strict):
    """A model of the grid. ``binary`` (if set) is passed to the model builder as
    ``binary=...``; ``None`` keeps the model's own default."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    binary: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return _name_or_mapping(data)

    def run_options(self) -> dict[str, Any]:
        """The ``model_options`` of a :class:`RunSpec`."""
        opts = dict(self.options)
        if self.binary is not None:
            opts["binary"] = self.binary
        return opts


class DatasetEntry(_Strict):
    """A dataset of the grid. ``subset``: keep a stratified draw of N samples of the training
    pool; ``val_fraction``: share of the (kept) training pool held out as the validation split
    that tuning reads; ``split_seed``: seed of those draws (fixed across runs, so every
    optimizer and seed sees the same split). ``None`` keeps :func:`benchmark.data.load_dataset`'s
    default and is left out of the run spec."""

    name: str
    subset: int | None = Field(None, ge=1)
    val_fraction: float | None = Field(None, gt=0.0, lt=1.0)
    split_seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return _name_or_mapping(data)

    def run_options(self) -> dict[str, Any]:
        """The ``dataset_options`` of a :class:`RunSpec` (unset keys are left out)."""
        opts = {
            k: getattr(self, k)
            for k in ("subset", "val_fraction", "split_seed")
            if getattr(self, k) is not None
        }
        opts.update(self.options)
        return opts


class ParamRange(_Strict):
    """One dimension of a search space: ``{low, high, log}`` (float, log-uniform if ``log``),
    ``{low, high, int: true}`` (integer, optionally ``log``) or ``{choices: [...]}``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = Field(False, alias="int")
    choices: list[Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The registry's format: only the keys that matter for this kind of range."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        if self.integer:
            out.update(low=int(self.low or 0), high=int(self.high or 0), int=True)
        return out


class OptimizerEntry(_Strict):
    """An optimizer of the grid: a registry name or a plugin ``"package.module:Class"``,
    fixed hyper-parameter overrides and the search space tuning explores."""

    name: str
    hparams: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, ParamRange] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return _name_or_mapping(data)

    @property
    def is_plugin(self) -> bool:
        return ":" in self.name


class LrSchedule(_Strict):
    """A per-epoch multiplier on each parameter group's initial step size: ``gamma`` for the
    binary tensors of Bop and Bop2ndOrder, ``lr`` for every other group (docs/suites.md).

    - ``step``: factor ``gamma ** floor(epoch / step_size)`` (torch ``StepLR``).
    - ``cosine``: factor ``m + (1 - m) * (1 + cos(pi * epoch / epochs)) / 2`` with
      ``m = min_factor`` (torch ``CosineAnnealingLR`` with ``T_max = epochs``).
    """

    name: Literal["step", "cosine"]
    step_size: int | None = Field(None, ge=1)
    gamma: float | None = Field(None, gt=0.0, le=1.0)
    min_factor: float | None = Field(None, ge=0.0, lt=1.0)

    def as_dict(self) -> dict[str, Any]:
        """The ``lr_schedule`` of a :class:`RunSpec`, defaults filled in."""
        if self.name == "step":
            return {"name": "step", "step_size": self.step_size, "gamma": self.gamma or 0.1}
        return {"name": "cosine", "min_factor": self.min_factor or 0.0}


class TargetRule(_Strict):
    """Accuracy target of the convergence-speed metric: the reference optimizer's mean final
    test accuracy in each cell, or a fixed ``value`` (accuracy as a fraction in (0, 1])."""

    kind: Literal["reference_mean", "value"] = "reference_mean"
    value: float | None = None


class TuningConfig(_Strict):
    """Tuning budget, the same for every optimizer of a cell. ``trials: 0`` = no tuning
    (registry defaults + fixed ``hparams``); ``epochs: null`` = the suite's ``epochs``;
    ``seed``: the Sobol sequence's scrambling seed and every trial's run seed (see
    :mod:`benchmark.tune`). ``pruner`` is ``none``: no pruner is offered (docs/protocol.md)."""

    trials: int = Field(0, ge=0)
    epochs: int | None = Field(None, ge=1)
    sampler: Literal["qmc"] = "qmc"
    pruner: Literal["none"] = "none"
    seed: int = Field(0, ge=0)

    @field_validator("pruner", mode="before")
    @classmethod
    def _no_pruning(cls, value: Any) -> Any:
        if value == "median":
            raise ValueError(
                "'median' is not offered: trials run in parallel, and a pruning decision that "
                "depends on which trials finished first would make results depend on timing; "
                "allowed: none"
            )
        return value


class ExecutorConfig(_Strict):
    """Where runs execute: a local process pool or a Dask cluster (``scheduler`` address,
    e.g. ``tcp://host:8786``; ``null`` starts a local Dask cluster).
    ``workers: null`` = one per CPU core."""

    kind: Literal["local", "dask"] = "local"
    workers: int | None = Field(None, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    scheduler: str | None = None


class Suite(_Strict):
    """A validated suite (see docs/suites.md for every key)."""

    name: str
    description: str = ""
    task: Literal["train", "convex"] = "train"
    models: list[ModelEntry] = Field(default_factory=list)
    datasets: list[DatasetEntry] = Field(default_factory=list)
    optimizers: list[OptimizerEntry] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    evals_per_epoch: int = Field(1, ge=1)
    clip_latent: float | None = Field(1.0, gt=0.0)
    lr_schedule: LrSchedule | None = None
    reference: str = "bop"
    target: TargetRule = Field(default_factory=TargetRule)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    device: str = "cpu"
    store: str | None = None
    data_root: str | None = None
    diagnostics: bool = True
    convex: Any = None

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        """``seeds: 3`` means ``seeds: [0, 1, 2]``."""
        return seed_list(value)

    @property
    def path(self) -> Path | None:
        """The file the suite was loaded from (None if built in memory)."""
        return self._path

    @property
    def optimizer_names(self) -> list[str]:
        return [o.name for o in self.optimizers]

    @property
    def tuning_epochs(self) -> int:
        return self.tuning.epochs or self.epochs

    @property
    def n_final_runs(self) -> int:
        return len(self.models) * len(self.datasets) * len(self.optimizers) * len(self.seeds)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

_YAML_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``) and refuses
    duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML_FLOAT, list("-+0123456789."))


def _read_yaml(path: Path, where: str) -> Any:
    """Parse a YAML file; syntax errors name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BnnBenchError(f"{where}: cannot read suite file: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise BnnBenchError(f"{where}: YAML syntax error{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise BnnBenchError(f"{where}: YAML syntax error: {' '.join(str(exc).split())}") from None


def load_suite(path: str | Path) -> Suite:
    """Load and validate a suite file. Raises :class:`BnnBenchError` on any user error."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            near = [str(path.parent / p.name) for p in sorted(path.parent.glob("*.y*ml"))]
            hint = closest(str(path), near)
        what = "is a directory, not a suite file" if path.is_dir() else "suite file not found"
        raise BnnBenchError(f"{where}: {what}{hint}")
    data = _read_yaml(path, where)
    suite = parse_suite(data, where=where)
    suite._path = path
    return suite


def parse_suite(data: Any, where: str = "<suite>") -> Suite:
    """Validate an already-parsed suite mapping (``where`` names it in error messages)."""
    if data is None:
        raise BnnBenchError(
            f"{where}: the suite file is empty; it needs at least name, models, "
            "datasets and optimizers"
        )
    if not isinstance(data, dict):
        raise BnnBenchError(
            f"{where}: the top level must be a mapping of keys ({', '.join(Suite.model_fields)}), "
            f"got {type(data).__name__}"
        )
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, where, Suite) from None
    return _check(suite, where)


# --------------------------------------------------------------------------------------------
# Pydantic errors -> one line
# --------------------------------------------------------------------------------------------


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(tp: Any) -> list[Any]:
    """The alternatives of ``X | None`` / ``Union[...]`` (or ``[tp]``)."""
    if get_origin(tp) is Union or type(tp).__name__ == "UnionType":
        return [a for a in get_args(tp) if a is not type(None)]
    return [tp]


def _model_at(root: type[BaseModel], loc: Iterable[Any]) -> type[BaseModel] | None:
    """The pydantic model class found at ``loc`` below ``root`` (None if not a model)."""
    current: list[Any] = [root]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            for alt in _unwrap(tp):
                origin = get_origin(alt)
                if isinstance(alt, type) and issubclass(alt, BaseModel) and isinstance(part, str):
                    for fname, field in alt.model_fields.items():
                        if part in (fname, field.alias):
                            nxt.append(field.annotation)
                elif origin is list and isinstance(part, int):
                    nxt.append(get_args(alt)[0])
                elif origin is dict and isinstance(part, str):
                    nxt.append(get_args(alt)[1])
        current = nxt
    for tp in current:
        for alt in _unwrap(tp):
            if isinstance(alt, type) and issubclass(alt, BaseModel):
                return alt
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(err: Mapping[str, Any], root: type[BaseModel], prefix: tuple = ()) -> str:
    """One error as ``<key path>: <problem>, got <value>``; ``prefix`` is where ``root``
    sits in the file (e.g. ``("convex",)``)."""
    loc = tuple(err["loc"])
    kind = err["type"]
    path = _path(prefix + loc)
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        allowed = _keys(parent) if parent else []
        key = str(loc[-1])
        return f"{path}: unknown key '{key}'{closest(key, allowed)}; allowed keys: " + ", ".join(
            allowed
        )
    if kind == "missing":
        return f"{path}: required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    got = f", got {_show(err.get('input'))}" if "input" in err else ""
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        got += closest(str(err.get("input")), allowed)
    elif kind == "model_type":
        msg = "expected a mapping of keys"
    # "<problem>, got <value>; allowed: ..." when the validator's message names what is allowed
    problem, allowed_sep, allowed_text = msg.partition("; allowed: ")
    return f"{path or '(top level)'}: {problem}{got}{allowed_sep}{allowed_text}"


def _translate(
    exc: ValidationError, where: str, root: type[BaseModel], prefix: tuple = ()
) -> BnnBenchError:
    """One line from a pydantic ValidationError: the first error, plus ``(and N more)``."""
    errors = exc.errors()
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return BnnBenchError(f"{where}: {_describe(errors[0], root, prefix)}{more}")


# --------------------------------------------------------------------------------------------
# Semantic checks (registries, search spaces, cross-key rules)
# --------------------------------------------------------------------------------------------


def _fail(where: str, path: str, message: str) -> BnnBenchError:
    return BnnBenchError(f"{where}: {path}: {message}")


def _check_limit(where: str, path: str, value: Any, limit: str) -> None:
    """``value`` (an int, or None: unset) within ``LIMITS[limit]``, else one line naming the
    range and its reason."""
    low, high, why = LIMITS[limit]
    if value is not None and not low <= value <= high:
        raise _fail(where, path, f"out of range, got {value}; allowed: {low} to {high} ({why})")


def _check_seeds(where: str, path: str, seeds: Any) -> None:
    """Every int of a (raw or validated) seed list within the seed range, as ``path[i]``;
    other items are left to the schema."""
    if isinstance(seeds, list | tuple):
        for i, seed in enumerate(seeds):
            if isinstance(seed, int) and not isinstance(seed, bool):
                _check_limit(where, f"{path}[{i}]", seed, "seed")


def _check_finite(where: str, path: str, value: Any) -> None:
    """No inf or nan in a float hyper-parameter, bound or section value
    (:func:`benchmark.options.is_finite_value`, the registry's rule too)."""
    if not is_finite_value(value):
        raise _fail(where, path, f"must be finite, got {_show(value)}; allowed: {FINITE_RULE}")


def _check_limits(suite: Suite, where: str) -> None:
    """Seed ranges, the upper limits of :data:`LIMITS` and a finite ``clip_latent``."""
    _check_seeds(where, "seeds", suite.seeds)
    _check_limit(where, "tuning.seed", suite.tuning.seed, "seed")
    for i, data in enumerate(suite.datasets):
        _check_limit(where, f"datasets[{i}].split_seed", data.split_seed, "seed")
    for path, value in (
        ("epochs", suite.epochs),
        ("batch_size", suite.batch_size),
        ("evals_per_epoch", suite.evals_per_epoch),
        ("tuning.trials", suite.tuning.trials),
        ("tuning.epochs", suite.tuning.epochs),
        ("executor.workers", suite.executor.workers),
        ("executor.threads_per_worker", suite.executor.threads_per_worker),
    ):
        _check_limit(where, path, value, "epochs" if path == "tuning.epochs" else path)
    if suite.clip_latent is not None:
        _check_finite(where, "clip_latent", suite.clip_latent)
    if suite.task == "train":
        n_cells = len(suite.models) * len(suite.datasets) * len(suite.optimizers)
        per_cell = len(suite.seeds) + suite.tuning.trials
        _check_runs(where, GRID_PATH, n_cells * per_cell, f"{n_cells} cells x {per_cell} runs")


def _check_runs(where: str, path: str, runs: int, how: str) -> None:
    """The total run count of a suite against ``LIMITS["runs"]`` (``how`` explains it)."""
    _, high, why = LIMITS["runs"]
    if runs > high:
        raise _fail(
            where, path, f"too many runs, got {runs} ({how}); allowed: at most {high} ({why})"
        )


def _check(suite: Suite, where: str) -> Suite:
    if not NAME_PATTERN.match(suite.name):
        raise _fail(
            where,
            "name",
            f"{_show(suite.name)} is not a valid suite name; allowed: letters, digits, '_', "
            "'-', '.' (it names the results folder)",
        )
    if not DEVICE_PATTERN.match(suite.device):
        raise _fail(
            where,
            "device",
            f"unknown device {_show(suite.device)}{closest(suite.device, DEVICES)}; "
            f"allowed: {', '.join(DEVICES)}",
        )
    _check_limits(suite, where)
    _check_grid(suite, where)
    _check_optimizers(suite, where)
    _check_protocol(suite, where)
    if suite.task == "convex":
        suite = _check_convex(suite, where)
    return suite


def _check_grid(suite: Suite, where: str) -> None:
    if suite.task == "train":
        for key in ("models", "datasets"):
            if not getattr(suite, key):
                raise _fail(where, key, f"the grid is empty: list at least one {key[:-1]}")
        if suite.convex is not None:
            raise _fail(
                where, "convex", "only allowed with task: convex (this suite has task: train)"
            )
    else:
        for key in ("models", "datasets", "optimizers", "seeds"):
            if key in suite.model_fields_set:
                where_instead = f"; list them under convex.{key}" if key[0] in "os" else ""
                raise _fail(where, key, f"not used by task 'convex'{where_instead}")
        return
    if not suite.optimizers:
        raise _fail(where, "optimizers", "the grid is empty: list at least one optimizer")
    if not suite.seeds:
        raise _fail(where, "seeds", "the grid is empty: give a seed count >= 1 or a seed list")
    if len(set(suite.seeds)) != len(suite.seeds):
        dup = next(s for s in suite.seeds if suite.seeds.count(s) > 1)
        raise _fail(where, "seeds", f"seed {dup} appears twice; seeds must be distinct")
    if suite.task == "train":
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
        _check_inputs(suite, where)


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
            if not accepts_input(model.name, shape, model.options):
                raise _fail(
                    where,
                    f"models[{i}] x datasets[{j}]",
                    f"model '{model.name}' does not accept {len(shape)}-D inputs of dataset "
                    f"'{data.name}' (shape {shape}); allowed for it: "
                    f"{MODELS[model.name].accepts}",
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
    """Names, fixed hyper-parameters and search spaces against the optimizer registry."""
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
        for key, rng in entry.search_space.items():
            path = f"{base}.search_space.{key}"
            companion_key = tuned_companion and key.startswith("fp_")
            if key not in known and not open_ended and not companion_key:
                raise _unknown_hparam(where, path, key, entry.name, known)
            if key in hparams:
                raise _fail(
                    where, path, f"'{key}' is both fixed (hparams.{key}) and tuned; keep only one"
                )
            _check_range(where, path, rng)
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


def _check_range(where: str, path: str, rng: ParamRange) -> None:
    """``low < high``; ``low > 0`` if ``log``; integer bounds if ``int``; or ``choices``."""
    if rng.choices is not None:
        extra = [k for k in ("low", "high", "log", "int") if k in _set_keys(rng)]
        if extra:
            raise _fail(
                where,
                f"{path}.{extra[0]}",
                "not allowed together with 'choices'; "
                "give either {choices: [...]} or {low, high[, log | int]}",
            )
        if not rng.choices:
            raise _fail(where, f"{path}.choices", "needs at least one value, got []")
        for i, choice in enumerate(rng.choices):
            _check_finite(where, f"{path}.choices[{i}]", choice)
        return
    for key in ("low", "high"):
        if getattr(rng, key) is None:
            raise _fail(
                where,
                f"{path}.{key}",
                "required key is missing; a range is {low, high[, log | int]} or {choices: [...]}",
            )
    low, high = float(rng.low), float(rng.high)  # type: ignore[arg-type]
    for key, value in (("low", low), ("high", high)):
        _check_finite(where, f"{path}.{key}", value)
    if low >= high:
        raise _fail(where, f"{path}.low", f"must be < high ({rng.high}), got {rng.low}")
    if rng.log and low <= 0:
        raise _fail(where, f"{path}.low", f"must be > 0 for a log range, got {rng.low}")
    if rng.integer:
        for key, value in (("low", low), ("high", high)):
            if not value.is_integer():
                raise _fail(
                    where, f"{path}.{key}", f"must be a whole number with int: true, got {value}"
                )


def _set_keys(model: BaseModel) -> set[str]:
    fields = type(model).model_fields
    return {fields[n].alias or n for n in model.model_fields_set}


def _check_protocol(suite: Suite, where: str) -> None:
    names = suite.optimizer_names
    if suite.task == "train" and suite.reference not in names:
        raise _fail(
            where,
            "reference",
            f"'{suite.reference}' is not among the suite's optimizers"
            f"{closest(suite.reference, names)}; set reference to one of: {', '.join(names)}",
        )
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
            "only allowed with kind: value (kind is "
            "reference_mean: the reference optimizer's mean final accuracy)",
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
        except ArgumentError:
            raise _fail(
                where,
                "store",
                f"not a database URL, got {_show(suite.store)}; "
                "e.g. sqlite:///results/x.db or postgresql+psycopg://host/db",
            ) from None


def _check_convex(suite: Suite, where: str) -> Suite:
    """Validate the ``convex:`` section with the convex task's own model (if it exists)."""
    section = suite.convex if suite.convex is not None else {}
    if not isinstance(section, dict):
        raise _fail(where, "convex", f"expected a mapping of keys, got {_show(section)}")
    try:
        from benchmark.tasks.convex import ConvexSection
    except ImportError:
        return suite
    _check_seeds(where, "convex.seeds", section.get("seeds"))
    entries = section.get("optimizers")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        hparams = entry.get("hparams") if isinstance(entry, dict) else None
        for key, value in hparams.items() if isinstance(hparams, dict) else ():
            _check_finite(where, f"convex.optimizers[{i}].hparams.{key}", value)
    try:
        validated = ConvexSection.model_validate(section)
    except ValidationError as exc:
        raise _translate(exc, where, ConvexSection, prefix=("convex",)) from None
    _check_convex_limits(validated, where)
    if "reference" in suite.model_fields_set:
        names = [getattr(o, "display", o.name) for o in validated.optimizers]
        if suite.reference not in names:
            raise _fail(
                where,
                "reference",
                f"'{suite.reference}' is not among convex.optimizers"
                f"{closest(suite.reference, names)}; allowed: {', '.join(names)}",
            )
    new = suite.model_copy(update={"convex": validated})
    new._path = suite._path
    return new


def _check_convex_limits(section: Any, where: str) -> None:
    """The validated convex section: finite floats, ``steps`` and ``checkpoints`` within
    :data:`LIMITS`, and its run count (per optimizer entry and form: one run, or one per seed
    for the stochastic form)."""
    for key, value in section:
        if isinstance(value, float):
            _check_finite(where, f"convex.{key}", value)
    _check_limit(where, "convex.steps", section.steps, "convex.steps")
    _check_limit(where, "convex.checkpoints", section.checkpoints, "convex.checkpoints")
    runs = sum(
        len(section.seeds) if form == "stochastic" else 1
        for entry in section.optimizers
        for form in section.optimizer_forms(entry)
    )
    how = f"{len(section.optimizers)} optimizers x forms, {len(section.seeds)} seeds"
    _check_runs(where, "convex", runs, how)


# --------------------------------------------------------------------------------------------
# Grid expansion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=True)
class Cell:
    """One ``(model, dataset, optimizer)`` of the grid; ``key`` is its stable name."""

    model: ModelEntry
    dataset: DatasetEntry
    optimizer: OptimizerEntry

    @property
    def key(self) -> str:
        return f"{self.model.name}/{self.dataset.name}/{self.optimizer.name}"

    def __hash__(self) -> int:
        return hash(self.key)


def _require_train(suite: Suite) -> None:
    if suite.task != "train":
        raise BnnBenchError(
            f"suite '{suite.name}': task '{suite.task}' has no model x dataset grid; its runs "
            f"are built by benchmark.tasks.{suite.task}"
        )


def cells(suite: Suite) -> list[Cell]:
    """All cells, model-major, then dataset, then optimizer (file order)."""
    _require_train(suite)
    return [Cell(m, d, o) for m in suite.models for d in suite.datasets for o in suite.optimizers]


def cell_hparams(cell: Cell, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Registry defaults, updated by ``params`` (tuned), then by the suite's fixed hparams."""
    from benchmark.optim import get_optimizer_spec

    hparams = dict(get_optimizer_spec(cell.optimizer.name).defaults)
    hparams.update(params or {})
    hparams.update(cell.optimizer.hparams)
    return hparams


def cell_search_space(cell: Cell) -> dict[str, dict[str, Any]]:
    """The search space tuning explores in this cell, in the registry's format: the suite's
    own if it declares one, else the registry's default space (minus fixed hparams)."""
    if cell.optimizer.search_space:
        return {k: r.as_dict() for k, r in cell.optimizer.search_space.items()}
    from benchmark.optim import get_optimizer_spec

    default = getattr(get_optimizer_spec(cell.optimizer.name), "search_space", None) or {}
    return {k: dict(v) for k, v in default.items() if k not in cell.optimizer.hparams}


def _spec(suite: Suite, cell: Cell, hparams: dict[str, Any], **kw: Any) -> RunSpec:
    return RunSpec(
        model=cell.model.name,
        dataset=cell.dataset.name,
        optimizer=cell.optimizer.name,
        hparams=hparams,
        model_options=cell.model.run_options(),
        dataset_options=cell.dataset.run_options(),
        batch_size=suite.batch_size,
        evals_per_epoch=suite.evals_per_epoch,
        clip_latent=suite.clip_latent,
        lr_schedule=suite.lr_schedule.as_dict() if suite.lr_schedule else None,
        device=suite.device,
        diagnostics=suite.diagnostics,
        threads=suite.executor.threads_per_worker,
        **kw,
    )


def expand_tuning_trial(
    suite: Suite, cell: Cell, params: Mapping[str, Any], trial_seed: int
) -> RunSpec:
    """One tuning trial: ``params`` (a point of the cell's search space) on the validation
    split, for ``tuning.epochs`` epochs (default: the suite's ``epochs``)."""
    _require_train(suite)
    return _spec(
        suite,
        cell,
        cell_hparams(cell, params),
        epochs=suite.tuning_epochs,
        seed=int(trial_seed),
        split="val",
    )


def expand_final_runs(
    suite: Suite, best_params: Mapping[str, Mapping[str, Any]] | None = None
) -> list[RunSpec]:
    """The final runs: every cell x every seed on the test split. ``best_params`` maps
    ``Cell.key`` to tuned hyper-parameters (cells without an entry use the defaults)."""
    best_params = best_params or {}
    runs = []
    for cell in cells(suite):
        hparams = cell_hparams(cell, best_params.get(cell.key))
        for seed in suite.seeds:
            runs.append(
                _spec(suite, cell, dict(hparams), epochs=suite.epochs, seed=seed, split="test")
            )
    return runs


def suite_database_url(suite: Suite, results_dir: str | Path = "results") -> str:
    """The suite's ``store`` URL, or ``sqlite:///<results_dir>/<name>/bnnbench.db``."""
    if suite.store:
        return suite.store
    return f"sqlite:///{(Path(results_dir) / suite.name / 'bnnbench.db').as_posix()}"
