r"""One dimension of a search space: validated once, mapped from the unit interval, and turned
into an Optuna distribution. The suite's ``search_space`` entries, the optimizer registry's
default spaces and tuning all use :class:`Dimension`.

A dimension is written (suite YAML, registry) as one of::

    {low: 1e-5, high: 1e-1, log: true}   # float, log-uniform if log
    {low: 1, high: 8, int: true}          # integer (optionally log: true)
    {choices: [adam, sgd]}                # categorical

A bad one raises :class:`DimensionError`, whose ``key`` is the sub-key at fault (``"low"``,
``"choices[1]"``; ``""``: the whole range) and ``problem`` one line ``<problem>, got <value>;
<what is allowed>``; the caller puts its own key path in front (:meth:`DimensionError.at`).

**Mapping** (:meth:`Dimension.value`) of :math:`u \in [0, 1)`: a float range to
:math:`l + u(h - l)`, a log one to :math:`\exp(\log l + u(\log h - \log l))`, an integer one
to :math:`\min(h, \lfloor l + u(h - l + 1) \rfloor)` (log-spaced from :math:`l` to
:math:`h + 1` if ``log``), ``choices`` to ``choices[floor(u k)]`` (:math:`k` choices).

Torch-free; Optuna and pydantic are imported only when a distribution or a pydantic schema is
built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.errors import closest
from benchmark.options import FINITE_RULE, is_finite_value

__all__ = ["KEYS", "Dimension", "DimensionError"]

KEYS = ("low", "high", "log", "int", "choices")
"""The keys of a dimension's mapping."""
SHAPE = "a range must have low and high (and optionally log or int), or only choices"
"""What every structural error says a range looks like."""
CHOICE_TYPES = (str, int, float, bool, type(None))
"""What a choice may be (the values Optuna's ``CategoricalDistribution`` stores)."""


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class DimensionError(ValueError):
    """A bad dimension: ``key`` is the sub-key at fault (``""``: the range as a whole),
    ``problem`` says what is wrong, the value and what is allowed."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem

    def at(self, path: str) -> str:
        """The message with the key path of the range in front: ``<path>.<key>: <problem>``."""
        return f"{path}.{self.key}: {self.problem}" if self.key else f"{path}: {self.problem}"


@dataclass(frozen=True)
class Dimension:
    """A validated range (``low``, ``high``, ``log``, ``integer``) or ``choices``.

    Construction validates (raising :class:`DimensionError`); ``log`` and ``integer`` left
    ``None`` mean "not given" (``False``), so that ``{choices: [...], log: false}`` is refused
    like any key next to ``choices``. Integer bounds are stored as ``int``, float bounds as
    ``float``, choices as a tuple."""

    low: float | None = None
    high: float | None = None
    log: bool | None = None
    integer: bool | None = None
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.choices is not None:
            self._check_choices()
        else:
            self._check_range()

    # ------------------------------------------------------------------ validation
    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _check_choices(self) -> None:
        given = [
            k for k, v in zip(KEYS, self._fields(), strict=True) if k != "choices" and v is not None
        ]
        if given:
            raise DimensionError(given[0], f"not allowed together with 'choices'; {SHAPE}")
        if not isinstance(self.choices, list | tuple):
            raise DimensionError("choices", f"must be a list, got {_show(self.choices)}")
        if not self.choices:
            raise DimensionError("choices", "needs at least one value, got an empty list")
        for i, choice in enumerate(self.choices):
            if not isinstance(choice, CHOICE_TYPES):
                raise DimensionError(
                    f"choices[{i}]",
                    f"must be a number, a string, true/false or null, got {_show(choice)}",
                )
            if not is_finite_value(choice):
                raise DimensionError(
                    f"choices[{i}]", f"must be finite, got {_show(choice)}; allowed: {FINITE_RULE}"
                )
        self._set(choices=tuple(self.choices))

    def _check_range(self) -> None:
        for key in ("low", "high"):
            if getattr(self, key) is None:
                raise DimensionError(key, f"required key is missing; {SHAPE}")
        for key, name in (("log", "log"), ("int", "integer")):
            flag = getattr(self, name)
            if flag is not None and not isinstance(flag, bool):
                raise DimensionError(key, f"must be true or false, got {_show(flag)}")
        log, integer = bool(self.log), bool(self.integer)
        for key in ("low", "high"):
            value = getattr(self, key)
            if not _is_number(value):
                raise DimensionError(key, f"must be a number, got {_show(value)}")
            if not math.isfinite(value):
                raise DimensionError(
                    key, f"must be finite, got {_show(value)}; allowed: {FINITE_RULE}"
                )
        low, high = self.low, self.high
        if not low < high:
            raise DimensionError("low", f"must be < high ({high}), got {low}")
        if log and low <= 0:
            raise DimensionError(
                "low",
                f"must be > 0 for a log range, got {low}; a log range needs low > 0 "
                "(or leave out log)",
            )
        if integer:
            for key, value in (("low", low), ("high", high)):
                if not float(value).is_integer():
                    raise DimensionError(
                        key, f"must be a whole number with int: true, got {float(value)}"
                    )
        cast = int if integer else float
        self._set(low=cast(low), high=cast(high), log=log, integer=integer)

    def _fields(self) -> tuple[Any, ...]:
        return (self.low, self.high, self.log, self.integer, self.choices)

    # ------------------------------------------------------------------ construction
    @classmethod
    def parse(cls, data: Any) -> Dimension:
        """A dimension from its mapping ``{low, high[, log | int]}`` or ``{choices: [...]}``
        (a :class:`Dimension` is returned as it is)."""
        if isinstance(data, Dimension):
            return data
        if not isinstance(data, Mapping):
            raise DimensionError("", f"must be a mapping, got {_show(data)}; {SHAPE}")
        for key in data:
            if key not in KEYS:
                raise DimensionError(
                    str(key), f"unknown key '{key}'{closest(str(key), KEYS)}; {SHAPE}"
                )
        values = dict(data)
        if "int" in values:
            values["integer"] = values.pop("int")
        return cls(**values)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Lets a pydantic model hold a :class:`Dimension` (validated by :meth:`parse`; a
        :class:`DimensionError` reaches the model's error list with its ``key``)."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(cls.as_dict),
        )

    # ------------------------------------------------------------------ use
    def as_dict(self) -> dict[str, Any]:
        """The mapping format, with only the keys that matter for this kind of range."""
        if self.choices is not None:
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        if self.integer:
            out["int"] = True
        return out

    def value(self, u: float) -> Any:
        """The point of this dimension at ``u`` in [0, 1) (see the module docstring)."""
        if self.choices is not None:
            k = len(self.choices)
            return self.choices[min(k - 1, int(math.floor(u * k)))]
        low, high = self.low, self.high
        if self.integer:
            if self.log:
                value = math.exp(math.log(low) + u * (math.log(high + 1) - math.log(low)))
            else:
                value = low + u * (high - low + 1)
            return int(min(high, max(low, math.floor(value))))
        if self.log:
            return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
        return float(low + u * (high - low))

    def distribution(self) -> Any:
        """The Optuna distribution of this dimension (``CategoricalDistribution``,
        ``IntDistribution`` or ``FloatDistribution``, ``log`` as given)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices is not None:
            return CategoricalDistribution(list(self.choices))
        if self.integer:
            return IntDistribution(self.low, self.high, log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)
