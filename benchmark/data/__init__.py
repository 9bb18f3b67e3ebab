"""Datasets, splits and batching: digits, mnist1d, MNIST, Fashion-MNIST, CIFAR-10/100, synthetic.

Public API (the training engine depends on these names):

- :data:`DATASETS`: ``name -> DatasetSpec(name, description, needs_files, options, loader)``.
- :func:`load_dataset`: ``(name, *, root, download, subset, val_fraction, split_seed,
  **options) -> Dataset`` with ``.name``, ``.input_shape``, ``.num_classes``, ``.train``,
  ``.val``, ``.test``; each split has ``len()``, ``batches(batch_size, *, seed, epoch,
  shuffle=True, device="cpu")`` and ``num_batches(batch_size)``.
- :func:`resolve_data_root`: argument, else ``$BNNBENCH_DATA``, else the user cache dir.

docs/workloads.md describes every dataset, the data root and the split protocol.
"""

from benchmark.data.batching import LoaderSplit, Split, TensorSplit, batch_bounds, epoch_order
from benchmark.data.registry import DATASETS, Dataset, DatasetSpec, load_dataset
from benchmark.data.root import resolve_data_root

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "LoaderSplit",
    "Split",
    "TensorSplit",
    "batch_bounds",
    "epoch_order",
    "load_dataset",
    "resolve_data_root",
]
