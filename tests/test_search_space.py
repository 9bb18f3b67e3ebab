"""benchmark.search_space.Dimension: the one search-space range type (suite, registry, tuning).
Mappings worked out by hand for every kind of range, every validation error with its sub-key,
the Optuna distributions, and the pydantic hook the suite schema uses."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from pydantic import BaseModel, ValidationError

from benchmark.options import FINITE_RULE
from benchmark.search_space import Dimension, DimensionError
from benchmark.tune import unit_to_value

ROOT = Path(__file__).resolve().parents[1]
SHAPE = "a range must have low and high (and optionally log or int), or only choices"


# ----------------------------------------------------------------------------- mapping
def test_linear_range_by_hand() -> None:
    dim = Dimension.parse({"low": -1, "high": 3})
    # -1 + u * 4, exactly (every value is a binary fraction)
    assert [dim.value(u) for u in (0.0, 0.25, 0.5, 0.75, 0.875)] == [-1.0, 0.0, 1.0, 2.0, 2.5]
    assert all(type(dim.value(u)) is float for u in (0.0, 0.5))


def test_log_range_by_hand() -> None:
    dim = Dimension.parse({"low": 1e-4, "high": 1e-2, "log": True})
    # exp(log 1e-4 + u (log 1e-2 - log 1e-4)) = 10 ** (-4 + 2u)
    assert dim.value(0.0) == pytest.approx(1e-4, rel=1e-12)
    assert dim.value(0.25) == pytest.approx(10**-3.5, rel=1e-12)
    assert dim.value(0.5) == pytest.approx(1e-3, rel=1e-12)
    assert dim.value(0.75) == pytest.approx(10**-2.5, rel=1e-12)
    # the documented formula to the last bit
    u = 0.3141592653589793
    assert dim.value(u) == math.exp(math.log(1e-4) + u * (math.log(1e-2) - math.log(1e-4)))


def test_int_range_by_hand() -> None:
    dim = Dimension.parse({"low": 1, "high": 8, "int": True})
    # floor(1 + 8u): each of the 8 integers takes 1/8 of [0, 1)
    us = (0.0, 0.124, 0.125, 0.499, 0.5, 0.875, 0.999)
    assert [dim.value(u) for u in us] == [1, 1, 2, 4, 5, 8, 8]
    assert all(type(dim.value(u)) is int for u in us)
    assert Dimension.parse({"low": -2, "high": 2, "int": True}).value(0.39) == -1  # -2 + 1.95


def test_int_log_range_by_hand() -> None:
    dim = Dimension.parse({"low": 1, "high": 7, "int": True, "log": True})
    # floor(exp(u log 8)) = floor(8 ** u): 1 on [0, 1/3), 2-3 on [1/3, 2/3), 4-7 on [2/3, 1)
    assert dim.value(0.0) == 1
    assert dim.value(1 / 3 - 1e-9) == 1
    assert dim.value(1 / 3 + 1e-9) == 2
    assert dim.value(0.5) == 2  # 8 ** 0.5 = 2.83
    assert dim.value(2 / 3 + 1e-9) == 4
    assert dim.value(0.999) == 7  # 8 ** 0.999 = 7.98, never above high


def test_choices_by_hand() -> None:
    dim = Dimension.parse({"choices": ["a", "b", "c"]})
    us = (0.0, 0.333, 0.334, 0.666, 0.667, 0.999)
    assert [dim.value(u) for u in us] == ["a", "a", "b", "b", "c", "c"]
    assert Dimension.parse({"choices": [7]}).value(0.99) == 7


def test_tune_maps_through_the_same_type() -> None:
    space = {"low": 1e-5, "high": 1e-1, "log": True}
    for u in (0.0, 0.1, 0.7, 0.999):
        assert unit_to_value(u, space) == Dimension.parse(space).value(u)


# ----------------------------------------------------------------------------- format
def test_bounds_are_normalised_and_the_mapping_round_trips() -> None:
    ranged = Dimension.parse({"low": 0, "high": 1})
    assert (ranged.low, ranged.high, ranged.log, ranged.integer) == (0.0, 1.0, False, False)
    assert type(ranged.low) is float
    integer = Dimension.parse({"low": 1.0, "high": 8.0, "int": True, "log": True})
    assert (integer.low, integer.high) == (1, 8) and type(integer.low) is int
    assert integer.as_dict() == {"low": 1, "high": 8, "log": True, "int": True}
    assert ranged.as_dict() == {"low": 0.0, "high": 1.0, "log": False}
    choices = Dimension.parse({"choices": ["adam", "sgd"]})
    assert choices.choices == ("adam", "sgd") and choices.as_dict() == {"choices": ["adam", "sgd"]}
    for dim in (ranged, integer, choices):
        assert Dimension.parse(dim.as_dict()) == dim
        assert Dimension.parse(dim) is dim


# ----------------------------------------------------------------------------- errors
INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        (5, "", f"must be a mapping, got 5; {SHAPE}"),
        (
            {"low": 0, "high": 1, "lg": True},
            "lg",
            f"unknown key 'lg' (did you mean 'log'?); {SHAPE}",
        ),
        ({"high": 1}, "low", f"required key is missing; {SHAPE}"),
        ({"low": 1}, "high", f"required key is missing; {SHAPE}"),
        ({"low": "abc", "high": 1}, "low", "must be a number, got 'abc'"),
        ({"low": 0, "high": True}, "high", "must be a number, got True"),
        ({"low": 1, "high": 2, "log": 1}, "log", "must be true or false, got 1"),
        ({"low": 1, "high": 2, "int": "yes"}, "int", "must be true or false, got 'yes'"),
        ({"low": -INF, "high": 1}, "low", f"must be finite, got -inf; allowed: {FINITE_RULE}"),
        ({"low": 0, "high": NAN}, "high", f"must be finite, got nan; allowed: {FINITE_RULE}"),
        ({"low": 2, "high": 2}, "low", "must be < high (2), got 2"),
        ({"low": 0.1, "high": 1e-3}, "low", "must be < high (0.001), got 0.1"),
        (
            {"low": 0.0, "high": 1, "log": True},
            "low",
            "must be > 0 for a log range, got 0.0; a log range needs low > 0 (or leave out log)",
        ),
        (
            {"low": 0.5, "high": 3, "int": True},
            "low",
            "must be a whole number with int: true, got 0.5",
        ),
        (
            {"low": 1, "high": 3.5, "int": True},
            "high",
            "must be a whole number with int: true, got 3.5",
        ),
        (
            {"choices": [1], "log": False},
            "log",
            f"not allowed together with 'choices'; {SHAPE}",
        ),
        ({"choices": "abc"}, "choices", "must be a list, got 'abc'"),
        ({"choices": []}, "choices", "needs at least one value, got an empty list"),
        (
            {"choices": [1.0, NAN]},
            "choices[1]",
            f"must be finite, got nan; allowed: {FINITE_RULE}",
        ),
        (
            {"choices": ["a", [1]]},
            "choices[1]",
            "must be a number, a string, true/false or null, got [1]",
        ),
    ],
)
def test_each_validation_error_names_its_sub_key(data: Any, key: str, problem: str) -> None:
    with pytest.raises(DimensionError) as info:
        Dimension.parse(data)
    err = info.value
    assert (err.key, err.problem) == (key, problem)
    assert isinstance(err, ValueError)
    where = "optimizers[0].search_space.lr"
    assert err.at(where) == (f"{where}.{key}: {problem}" if key else f"{where}: {problem}")
    assert str(err) == (f"{key}: {problem}" if key else problem)


def test_direct_construction_validates_too() -> None:
    with pytest.raises(DimensionError, match="must be < high"):
        Dimension(low=1.0, high=0.0)
    with pytest.raises(DimensionError, match="not allowed together with 'choices'"):
        Dimension(low=1.0, choices=("a",))
    assert Dimension(low=1, high=2) == Dimension.parse({"low": 1.0, "high": 2.0, "log": False})


# ----------------------------------------------------------------------------- Optuna
def test_optuna_distributions() -> None:
    fl = Dimension.parse({"low": 1e-5, "high": 1e-1, "log": True}).distribution()
    assert type(fl) is optuna.distributions.FloatDistribution
    assert (fl.low, fl.high, fl.log, fl.step) == (1e-5, 1e-1, True, None)
    lin = Dimension.parse({"low": 0, "high": 1}).distribution()
    assert type(lin) is optuna.distributions.FloatDistribution
    assert (lin.low, lin.high, lin.log) == (0.0, 1.0, False)
    it = Dimension.parse({"low": 1, "high": 8, "int": True}).distribution()
    assert type(it) is optuna.distributions.IntDistribution
    assert (it.low, it.high, it.log, it.step) == (1, 8, False, 1)
    itlog = Dimension.parse({"low": 2.0, "high": 64.0, "int": True, "log": True}).distribution()
    assert type(itlog) is optuna.distributions.IntDistribution
    assert (itlog.low, itlog.high, itlog.log) == (2, 64, True)
    cat = Dimension.parse({"choices": ["adam", "sgd", None]}).distribution()
    assert type(cat) is optuna.distributions.CategoricalDistribution
    assert cat.choices == ("adam", "sgd", None)
    # mapped points lie in their distribution (interior u: at u = 0 the log formula's rounding
    # can land a hair below low, e.g. 9.999999999999997e-06 for low = 1e-05)
    for dim, dist in (
        (Dimension.parse({"low": 1, "high": 8, "int": True}), it),
        (Dimension.parse({"low": 1e-5, "high": 1e-1, "log": True}), fl),
    ):
        for u in (0.1, 0.5, 0.9):
            assert dist._contains(dist.to_internal_repr(dim.value(u)))


# ----------------------------------------------------------------------------- pydantic, imports
class _Holder(BaseModel):
    space: dict[str, Dimension]


def test_a_pydantic_model_holds_dimensions_and_keeps_the_error() -> None:
    held = _Holder.model_validate({"space": {"lr": {"low": 1e-4, "high": 1e-1, "log": True}}})
    assert held.space["lr"] == Dimension(low=1e-4, high=1e-1, log=True)
    assert held.model_dump() == {"space": {"lr": {"low": 1e-4, "high": 1e-1, "log": True}}}
    with pytest.raises(ValidationError) as info:
        _Holder.model_validate({"space": {"lr": {"low": 1, "high": 0}}})
    (err,) = info.value.errors()
    assert err["loc"] == ("space", "lr")
    assert isinstance(err["ctx"]["error"], DimensionError) and err["ctx"]["error"].key == "low"


def test_importing_it_imports_neither_torch_nor_optuna() -> None:
    code = (
        "import sys, benchmark.search_space\n"
        "print(sorted(m for m in ('torch', 'optuna', 'pydantic') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
