"""The registered tasks: name -> where its :class:`~benchmark.tasks.base.Task` lives, and
what the workers' fork server imports for it. Torch-free (names only; a task class is
imported when first asked for), so the CLI and the fork-server set-up can read it cheaply.

Adding a task is one line here plus its module (docs/architecture.md, "Extending").
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

from benchmark.errors import unknown_name
from benchmark.tasks.base import Task

_COMMON_PRELOAD = ("benchmark.optim", "torch._dynamo")  # _dynamo: imported by a first step


@dataclass(frozen=True)
class TaskEntry:
    """A registered task: ``target`` is ``"package.module:Class"``; ``preload`` the modules a
    worker running it needs (the fork server imports them once; the parent-watch module and
    benchmark.workers are added by :mod:`benchmark.workers`)."""

    name: str
    target: str
    preload: tuple[str, ...]
    description: str


TASKS: dict[str, TaskEntry] = {
    entry.name: entry
    for entry in (
        TaskEntry(
            "train",
            "benchmark.tasks.train_task:TrainingTask",
            # sklearn.datasets: the digits loader, 2 s of import otherwise paid by every worker
            ("benchmark.train", "benchmark.models", "benchmark.data", "sklearn.datasets")
            + _COMMON_PRELOAD,
            "train models x datasets x optimizers x seeds (tuning optional)",
        ),
        TaskEntry(
            "convex",
            "benchmark.tasks.convex_task:ConvexTask",
            ("benchmark.tasks.convex",) + _COMMON_PRELOAD,
            "the convex counterexample of Reddi et al. (2018), real / binary / stochastic",
        ),
    )
}


@functools.cache
def get_task(name: str) -> Task:
    """The task registered as ``name`` (one instance per process)."""
    entry = TASKS.get(name)
    if entry is None:
        raise unknown_name("task", name, TASKS)
    module, _, cls = entry.target.partition(":")
    task = getattr(importlib.import_module(module), cls)()
    if not isinstance(task, Task) or task.name != name:
        raise TypeError(f"{entry.target} is not the Task registered as '{name}'")
    return task


def preload_for(names: list[str] | tuple[str, ...] | set[str]) -> tuple[str, ...]:
    """The union of the task modules and preload lists of ``names`` (unknown names contribute
    nothing), in registry order, without duplicates."""
    modules: list[str] = []
    for name, entry in TASKS.items():
        if name in names:
            wanted = (entry.target.partition(":")[0], *entry.preload)
            modules += [m for m in wanted if m not in modules]
    return tuple(modules)
