"""The progress-bar class: tqdm's notebook widget where it can be drawn, its text bar elsewhere.

``tqdm.auto`` picks the widget in a Jupyter kernel, and when ``ipywidgets`` is not installed
it falls back to the text bar only after printing a ``TqdmWarning`` ("IProgress not found")
into the user's notebook. The README's Python runs in a notebook without ipywidgets
(tests/test_doc_examples.py), so the choice is made here, before tqdm warns: the widget when
``ipywidgets`` is importable, else the plain text bar (what tqdm would fall back to anyway).
Optuna imports ``tqdm.auto`` itself (``optuna.progress_bar``), so ``import benchmark`` also
filters that one warning (:func:`silence_widget_fallback_warning`), and only where the
fallback it announces is the text bar bnnbench would choose anyway.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any


def silence_widget_fallback_warning() -> None:
    """Ignore tqdm's "IProgress not found" warning when ``ipywidgets`` is not installed (the
    filter matches that message only; nothing else of tqdm's or the user's is hidden)."""
    if importlib.util.find_spec("ipywidgets") is None:
        warnings.filterwarnings("ignore", message="IProgress not found")


def progress_bar_class() -> Any:
    """``tqdm.auto.tqdm`` if ``ipywidgets`` is installed, else ``tqdm.std.tqdm``."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm
