"""Datasets, splits and batching: digits, mnist1d, MNIST, Fashion-MNIST, CIFAR-10/100, synthetic.

Public API (the training engine depends on these names):

- :data:`DATASETS`: ``name -> DatasetSpec(name, description, needs_files, options, loader)``.
- :func:`load_dataset`: ``(name, *, root, download, subset, val_fraction, split_seed,
  **options) -> Dataset`` with ``.name``, ``.input_shape``, ``.num_classes``, ``.train``,
  ``.val``, ``.test``; each split has ``len()``, ``batches(batch_size, *, seed, epoch,
  shuffle=True, device="cpu")`` and ``num_batches(batch_size)``.
- :func:`resolve_data_root`: argument, else ``$BNNBENCH_DATA``, else the user cache dir.

The names are imported on first use (PEP 562), and the registry's metadata (:data:`DATASETS`,
:func:`~benchmark.data.registry.static_input`) imports no torch: ``bnnbench validate`` and
``list`` stay light. docs/workloads.md describes every dataset, the data root and the split
protocol.
"""

from __future__ import annotations

from benchmark.lazy import lazy_getattr

_LAZY = {
    "LoaderSplit": "benchmark.data.batching",
    "Split": "benchmark.data.batching",
    "TensorSplit": "benchmark.data.batching",
    "batch_bounds": "benchmark.data.batching",
    "epoch_order": "benchmark.data.batching",
    "DATASETS": "benchmark.data.registry",
    "Dataset": "benchmark.data.registry",
    "DatasetSpec": "benchmark.data.registry",
    "load_dataset": "benchmark.data.registry",
    "resolve_data_root": "benchmark.data.root",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
