"""Where dataset files live: the data root.

Resolution order (first that is set wins):

1. the ``root`` argument (the CLI's ``--data-root``, a suite's ``data_root``);
2. the environment variable ``BNNBENCH_DATA``;
3. the user cache directory, ``platformdirs.user_cache_path("bnnbench") / "data"``
   (e.g. ``~/.cache/bnnbench/data`` on Linux).

Under the root, each dataset keeps torchvision's own layout (``MNIST/raw/...``,
``FashionMNIST/raw/...``, ``cifar-10-batches-py/...``, ``cifar-100-python/...``) and the locally
generated mnist1d cache lives in ``mnist1d/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "BNNBENCH_DATA"


def default_data_root() -> Path:
    """The data root used when neither an argument nor ``$BNNBENCH_DATA`` is given."""
    return platformdirs.user_cache_path("bnnbench") / "data"


def resolve_data_root(root: str | Path | None = None) -> Path:
    """Resolve the data root (argument, else ``$BNNBENCH_DATA``, else the user cache dir).

    The returned path is absolute and user-expanded; it is not created here.
    """
    if root is not None and str(root) != "":
        chosen = Path(root)
    elif os.environ.get(ENV_VAR):
        chosen = Path(os.environ[ENV_VAR])
    else:
        chosen = default_data_root()
    return chosen.expanduser().absolute()
