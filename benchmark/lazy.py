"""Package attributes imported on first use (PEP 562): one ``__getattr__`` for every package
whose names must not cost their modules' imports (``import benchmark`` and the light
commands import no torch; ``import report.figures`` no matplotlib)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_getattr(
    package: str, where: Mapping[str, str], cache: MutableMapping[str, Any] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name ``n`` is ``getattr(import_module(
    where[n]), n)``; an unknown name raises :class:`AttributeError` as Python's own does.
    ``cache`` (the package's ``globals()``): store each value there, so the next access is a
    plain attribute."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module), name)
        if cache is not None:
            cache[name] = value
        return value

    return __getattr__


__all__ = ["lazy_getattr"]
