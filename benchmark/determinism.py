"""The conditions every run executes under, so that its numbers depend only on its spec.

- **Threads.** Torch splits a reduction (a matrix product, a sum) over its intra-op threads
  and adds the partial results: over 2 threads the additions happen in another order than
  over 1, so the rounding, and after a few hundred steps the accuracies, differ. A run
  therefore trains with the number of threads its spec names (``RunSpec.threads``, default 1)
  wherever it executes: in-process, in a pool worker, on a Dask worker. The convex task's
  one-element tensors never split, and it runs with 1 thread by protocol.
- **Deterministic algorithms.** ``torch.use_deterministic_algorithms`` (warn-only: a kernel
  without a deterministic version warns instead of failing the run).

Both are context managers that restore the previous setting, so a notebook or a test that
calls :func:`benchmark.train.train` keeps its own thread count afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the body with exactly ``threads`` torch intra-op threads (restored afterwards)."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Turn on torch's deterministic algorithms for the duration (restored afterwards)."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
