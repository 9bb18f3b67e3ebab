"""Grid expansion: a validated :class:`~benchmark.suite.schema.Suite` -> :class:`Cell` s
(model x dataset x optimizer, file order) -> :class:`~benchmark.records.RunSpec` s for tuning
trials (validation split) and final runs (test split), with hyper-parameters merged as
registry defaults <- tuned point <- the suite's fixed ``hparams``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BnnBenchError
from benchmark.records import RunSpec
from benchmark.suite.schema import DatasetEntry, ModelEntry, OptimizerEntry, Suite


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
    from benchmark.tasks.registry import get_task

    if not get_task(suite.task).grid:
        raise BnnBenchError(
            f"suite '{suite.name}': task '{suite.task}' has no model x dataset grid; its runs "
            f"are built by benchmark.tasks.{suite.task}"
        )


def cells(suite: Suite) -> list[Cell]:
    """All cells, model-major, then dataset, then optimizer (file order), without the
    model x dataset pairs the suite excludes."""
    _require_train(suite)
    return [Cell(m, d, o) for m, d in suite.pairs for o in suite.optimizers]


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
    suite: Suite,
    cell: Cell,
    params: Mapping[str, Any],
    trial_seed: int,
    *,
    stop_epoch: int | None = None,
) -> RunSpec:
    """One run of a tuning trial: ``params`` (a point of the cell's search space) on the
    validation split, for ``tuning.epochs`` epochs (default: the suite's ``epochs``), stopped
    after ``stop_epoch`` epochs if given (a lower rung of successive halving)."""
    _require_train(suite)
    return _spec(
        suite,
        cell,
        cell_hparams(cell, params),
        epochs=suite.tuning_epochs,
        seed=int(trial_seed),
        split="val",
        stop_epoch=stop_epoch,
    )


def expand_final_runs(
    suite: Suite, best_params: Mapping[str, Mapping[str, Any]] | None = None
) -> list[RunSpec]:
    """The final runs: every cell x every seed on the test split, with the suite's
    ``eval_schedule`` (tuning trials have none: their score is the last evaluation). ``best_params`` maps
    ``Cell.key`` to tuned hyper-parameters (cells without an entry use the defaults)."""
    best_params = best_params or {}
    schedule = suite.eval_schedule.as_dict() if suite.eval_schedule else None
    runs = []
    for cell in cells(suite):
        hparams = cell_hparams(cell, best_params.get(cell.key))
        for seed in suite.seeds:
            runs.append(
                _spec(
                    suite,
                    cell,
                    dict(hparams),
                    epochs=suite.epochs,
                    seed=seed,
                    split="test",
                    eval_schedule=schedule,
                )
            )
    return runs


def suite_database_url(suite: Suite, results_dir: str | Path = "results") -> str:
    """The suite's ``store`` URL, or ``sqlite:///<results_dir>/<name>/bnnbench.db``."""
    if suite.store:
        return suite.store
    return f"sqlite:///{(Path(results_dir) / suite.name / 'bnnbench.db').as_posix()}"
