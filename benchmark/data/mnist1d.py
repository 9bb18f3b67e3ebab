"""MNIST-1D (Greydanus 2020), generated locally with the ``mnist1d`` package, never downloaded.

The data is exactly ``mnist1d.data.make_dataset(get_dataset_args())``: 5000 signals of length
40 (already centred and scaled to unit variance by the generator), 10 classes, the package's
standard split of the first 4000 as training pool and the last 1000 as test pool. The
generator seeds numpy's and Python's global RNGs (seed 42); bnnbench saves and restores both,
so loading the dataset leaves the caller's random state untouched.

Generation takes about a second, so the arrays are cached in
``<data root>/mnist1d/mnist1d_seed42_n5000.npz`` (written atomically: a temporary file then a
rename; the file gets the mode a plain ``open`` would, 0666 less the umask, so a data root
shared with a group stays readable by it). A cache that cannot be read is regenerated; a
root that cannot be written only costs the cache (a warning on the ``bnnbench`` logger,
which the CLI prints as one line, not a Python ``UserWarning``), never the data.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmark.data.options import check_bool
from benchmark.data.source import SourceData

if TYPE_CHECKING:  # imported when loaded: the registry's metadata stays torch-free
    import torch

logger = logging.getLogger("bnnbench")

OPTIONS = {"with_channel": False}
LENGTH = 40


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


def cache_path(root: Path) -> Path:
    """Where the generated arrays are cached under the data root."""
    from mnist1d.data import get_dataset_args

    args = get_dataset_args()
    return root / "mnist1d" / f"mnist1d_seed{args.seed}_n{args.num_samples}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as npz:
            return {k: npz[k] for k in ("x", "y", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide it from the group
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("mnist1d: could not cache the generated data at %s: %s", path, exc)


def mnist1d_arrays(root: Path) -> dict[str, np.ndarray]:
    """``x`` (4000, 40), ``y``, ``x_test`` (1000, 40), ``y_test``: cached, else generated."""
    path = cache_path(root)
    arrays = _read_cache(path) if path.exists() else None
    if arrays is None:
        arrays = _generate()
        _write_cache(path, arrays)
    return arrays


def load_mnist1d_source(root: Path, with_channel: bool = False) -> SourceData:
    """The mnist1d pools, as (40,) vectors or, with ``with_channel``, (1, 40) signals."""
    with_channel = check_bool("mnist1d", "with_channel", with_channel)
    arrays = mnist1d_arrays(root)
    shape = (1, LENGTH) if with_channel else (LENGTH,)

    import torch

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32)).reshape(-1, *shape)

    return SourceData(
        x_train=tensor(arrays["x"]),
        y_train=torch.from_numpy(arrays["y"].astype(np.int64)),
        x_test=tensor(arrays["x_test"]),
        y_test=torch.from_numpy(arrays["y_test"].astype(np.int64)),
        num_classes=10,
        input_shape=shape,
    )
