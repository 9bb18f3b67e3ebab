"""Suites: a YAML file -> a validated :class:`Suite` -> cells and run specs.

A suite names a grid ``models x datasets x optimizers x seeds`` plus the protocol every run
shares (epochs, batch size, evaluation frequency, latent clipping, LR schedule, tuning budget,
executor, device, results store), or, with ``task: convex``, the convex section.
``docs/suites.md`` documents every key. The package, along its seams:

- :mod:`~benchmark.suite.schema`: the pydantic models (:class:`Suite`, its entries and
  sections); :mod:`~benchmark.suite.convex_schema`: the typed ``convex:`` section (torch-free);
  :mod:`~benchmark.suite.limits`: :data:`LIMITS` and the seed type;
  search-space ranges are :class:`benchmark.search_space.Dimension` (:data:`ParamRange`).
- :mod:`~benchmark.suite.loading`: :func:`load_suite` / :func:`parse_suite`, the YAML reader
  and pydantic errors -> one line.
- :mod:`~benchmark.suite.checks`: rules beyond types (registries, limits, cross-key rules).
- :mod:`~benchmark.suite.expand`: :func:`cells` yields one :class:`Cell` per ``(model,
  dataset, optimizer)`` in file order (``Cell.key`` is ``"model/dataset/optimizer"``);
  :func:`expand_tuning_trial` turns a cell plus a point of its search space into a
  ``split="val"`` :class:`~benchmark.records.RunSpec`; :func:`expand_final_runs` yields
  ``split="test"`` specs, cell by cell, seed by seed. The hyper-parameters of a run are,
  later entries winning::

      registry defaults  <-  tuned best params (if any)  <-  the suite's fixed ``hparams``

Every user error raises :class:`~benchmark.errors.BnnBenchError` with one line
``<file>: <key path>: <problem>, got <value>; allowed: ...``, e.g.
``suites/x.yaml: optimizers[2].search_space.lr.low: ...``. Besides types and names, loading
enforces the limits of docs/suites.md ("Limits"): seeds in numpy's range, at most
:data:`~benchmark.options.MAX_SEEDS` seeds, the upper bounds of :data:`LIMITS` (epochs, batch
size, trials, workers, total runs, convex steps), finite floats, and that every model accepts
every dataset's input shape (static metadata, no data loaded). Importing the package does not
import torch.
"""

from benchmark.suite.expand import (
    Cell,
    cell_hparams,
    cell_search_space,
    cells,
    expand_final_runs,
    expand_tuning_trial,
    suite_database_url,
)
from benchmark.suite.limits import GRID_PATH as GRID_PATH
from benchmark.suite.limits import LIMITS as LIMITS
from benchmark.suite.loading import load_suite, parse_suite
from benchmark.suite.schema import DEVICE_PATTERN as DEVICE_PATTERN
from benchmark.suite.schema import DEVICES as DEVICES
from benchmark.suite.schema import NAME_PATTERN as NAME_PATTERN
from benchmark.suite.schema import PLUGIN_PATTERN as PLUGIN_PATTERN
from benchmark.suite.schema import SCHEDULE_KEYS as SCHEDULE_KEYS
from benchmark.suite.schema import (
    DatasetEntry,
    EvalSchedule,
    ExcludeEntry,
    ExecutorConfig,
    LrSchedule,
    ModelEntry,
    OptimizerEntry,
    ParamRange,
    Suite,
    TargetRule,
    TuningConfig,
)

__all__ = [
    "Cell",
    "DatasetEntry",
    "EvalSchedule",
    "ExcludeEntry",
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
