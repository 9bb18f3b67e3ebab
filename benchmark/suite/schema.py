"""The suite schema: the pydantic models a suite file validates into (:class:`Suite` and its
sections and entries), types and shapes only; rules that need a registry or several keys are
:mod:`benchmark.suite.checks`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from benchmark.options import seed_list
from benchmark.search_space import Dimension
from benchmark.suite.convex_schema import ConvexSection
from benchmark.suite.limits import Seed

PLUGIN_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")
"""An optimizer given by import path, ``"package.module:Class"``."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # suite_runs.suite: 128 chars
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")
DEVICES = ("cpu", "cuda", "cuda:N", "mps")
SCHEDULE_KEYS = {"step": ("step_size", "gamma"), "cosine": ("min_factor",)}

ParamRange = Dimension
"""One dimension of a search space (:class:`benchmark.search_space.Dimension`): ``{low, high,
log}``, ``{low, high, int: true}`` (optionally ``log``) or ``{choices: [...]}``; its errors
carry the sub-key, which the loader puts after the key path."""


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
    split_seed: Seed | None = None
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
    """Accuracy target of the convergence-speed metric (docs/protocol.md, "Speed to target"):

    - ``best_fraction`` (default): ``fraction`` (default 0.95) of the best optimizer's mean
      final test accuracy in each cell, so no optimizer's own result is its target;
    - ``value``: a fixed accuracy ``value`` in (0, 1];
    - ``reference_mean``: the reference optimizer's mean final test accuracy (the rule of
      suites written before ``best_fraction``; kept so they still read).
    """

    kind: Literal["best_fraction", "value", "reference_mean"] = "best_fraction"
    value: float | None = None
    fraction: float | None = Field(None, gt=0.0, le=1.0)


class EvalSchedule(_Strict):
    r"""Extra evaluation points of every final run, beside the ``evals_per_epoch`` ones, so
    that steps-to-target is resolved early in training (docs/suites.md, ``eval_schedule``).

    ``kind: log``: ``points`` log-spaced optimizer steps from the first batch to the last,
    :math:`s_k = \lfloor T^{k/(N-1)} + 1/2 \rfloor` for :math:`k = 0, \dots, N - 1`, with
    :math:`T` = epochs x batches per epoch, duplicates (early, where the spacing is below one
    step) counted once (:func:`benchmark.train.schedule_steps`)."""

    kind: Literal["log"]
    points: int = Field(ge=2)

    def as_dict(self) -> dict[str, Any]:
        """The ``eval_schedule`` of a :class:`RunSpec`."""
        return {"kind": self.kind, "points": self.points}


class HalvingConfig(_Strict):
    """Synchronous successive halving (:mod:`benchmark.tune.halving`): every trial of a round
    runs ``min_epochs`` epochs, the best ``1/eta`` of them go on to ``eta`` times as many, up
    to the tuning epochs."""

    min_epochs: int = Field(ge=1)
    eta: int = Field(3, ge=2)


class TuningConfig(_Strict):
    """Tuning budget, the same for every optimizer of a cell (docs/studies.md).
    ``trials: 0`` = no tuning (registry defaults + fixed ``hparams``); ``epochs: null`` = the
    suite's ``epochs``; ``sampler``: how points are chosen (:mod:`benchmark.tune.samplers`);
    ``batch``: trials asked per synchronous round (default: all for ``qmc``/``random``/
    ``grid``, 4 for ``tpe``/``cmaes``); ``seeds_per_trial``: runs per trial, the score is their
    mean; ``halving``: synchronous successive halving; ``seed``: the sampler's seed and the
    first trial seed. ``pruner`` is ``none``: no asynchronous pruner is offered
    (docs/protocol.md). ``defaults`` (only with ``trials > 0``): also run every cell's final
    runs at the registry defaults (+ fixed ``hparams``), reported as their own rows
    ``"<optimizer> (defaults)"``."""

    trials: int = Field(0, ge=0)
    epochs: int | None = Field(None, ge=1)
    sampler: Literal["qmc", "random", "grid", "tpe", "cmaes"] = "qmc"
    batch: int | None = Field(None, ge=1)
    seeds_per_trial: int = Field(1, ge=1)
    halving: HalvingConfig | None = None
    pruner: Literal["none"] = "none"
    seed: Seed = 0
    # left out of model_dump(): benchmark.tune.study_name hashes the tuning section, and the
    # defaults' runs change nothing about tuning, so turning them on keeps a suite's studies
    defaults: bool = Field(False, exclude=True)

    @field_validator("pruner", mode="before")
    @classmethod
    def _no_pruning(cls, value: Any) -> Any:
        if value == "median":
            raise ValueError(
                "'median' is not offered: trials run in parallel, and a pruning decision that "
                "depends on which trials finished first would make results depend on timing; "
                "use tuning.halving (synchronous successive halving) instead; allowed: none"
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


class ExcludeEntry(_Strict):
    """A ``(model, dataset)`` pair left out of the grid (GitHub Actions' matrix ``exclude``):
    ``model`` and/or ``dataset`` by name; a missing one matches every entry."""

    model: str | None = None
    dataset: str | None = None

    @model_validator(mode="after")
    def _names_something(self) -> ExcludeEntry:
        if self.model is None and self.dataset is None:
            raise ValueError("name a model, a dataset, or both")
        return self

    def matches(self, model: str, dataset: str) -> bool:
        return self.model in (None, model) and self.dataset in (None, dataset)


class Suite(_Strict):
    """A validated suite (see docs/suites.md for every key)."""

    name: str
    description: str = ""
    task: str = "train"
    models: list[ModelEntry] = Field(default_factory=list)
    datasets: list[DatasetEntry] = Field(default_factory=list)
    exclude: list[ExcludeEntry] = Field(default_factory=list)
    optimizers: list[OptimizerEntry] = Field(default_factory=list)
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2])
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    evals_per_epoch: int = Field(1, ge=1)
    eval_schedule: EvalSchedule | None = None
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
    convex: ConvexSection | None = Field(None, validate_default=True)

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        """``seeds: 3`` means ``seeds: [0, 1, 2]``."""
        return seed_list(value)

    @field_validator("task")
    @classmethod
    def _registered_task(cls, value: str) -> str:
        from benchmark.errors import closest
        from benchmark.tasks.registry import TASKS

        if value not in TASKS:
            raise ValueError(f"unknown task{closest(value, TASKS)}; allowed: {', '.join(TASKS)}")
        return value

    @field_validator("convex", mode="before")
    @classmethod
    def _convex_with_its_task(cls, value: Any, info: ValidationInfo) -> Any:
        """The section belongs to the task whose ``section`` it is (all defaults if left
        out)."""
        task = info.data.get("task")
        if task is None:  # the task itself was refused; that error is reported
            return value
        from benchmark.tasks.registry import get_task

        owner = get_task(task).section == "convex"
        if not owner and value is not None:
            raise ValueError(f"only allowed with task: convex (this suite has task: {task})")
        return {} if owner and value is None else value

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
    def pairs(self) -> list[tuple[ModelEntry, DatasetEntry]]:
        """The ``(model, dataset)`` pairs of the grid, model-major, minus ``exclude``."""
        return [
            (m, d)
            for m in self.models
            for d in self.datasets
            if not any(e.matches(m.name, d.name) for e in self.exclude)
        ]

    @property
    def n_final_runs(self) -> int:
        return len(self.pairs) * len(self.optimizers) * len(self.seeds)
