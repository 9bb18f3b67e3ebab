"""Loading a suite: the YAML reader (``1e-3`` is a float, duplicate keys are errors),
:func:`load_suite` / :func:`parse_suite`, and the translation of pydantic's errors into the one
line ``<file>: <key path>: <problem>, got <value>; allowed: ...`` every user error is."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from benchmark.errors import BnnBenchError, closest
from benchmark.input_bounds import MAX_SUITE_BYTES, check_yaml, read_text
from benchmark.search_space import DimensionError
from benchmark.suite.checks import _check, _show
from benchmark.suite.schema import Suite

_YAML_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``) and refuses
    duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML_FLOAT, list("-+0123456789."))


def _read_yaml(path: Path, where: str) -> Any:
    """Parse a YAML file; syntax errors name the file, line and column. Its size, encoding,
    nesting depth and expanded node count are checked before anything is built
    (:mod:`benchmark.input_bounds`)."""
    text = read_text(path, where, "suite file", MAX_SUITE_BYTES)
    check_yaml(text, where, _Loader)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise BnnBenchError(f"{where}: YAML syntax error{at}: {problem}") from None
    except yaml.YAMLError as exc:
        raise BnnBenchError(f"{where}: YAML syntax error: {' '.join(str(exc).split())}") from None


def load_suite(path: str | Path) -> Suite:
    """Load and validate a suite file. Raises :class:`BnnBenchError` on any user error."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        hint = ""
        if path.parent.is_dir():
            near = [str(path.parent / p.name) for p in sorted(path.parent.glob("*.y*ml"))]
            hint = closest(str(path), near)
        what = "is a directory, not a suite file" if path.is_dir() else "suite file not found"
        raise BnnBenchError(f"{where}: {what}{hint}")
    data = _read_yaml(path, where)
    suite = parse_suite(data, where=where)
    suite._path = path
    return suite


def parse_suite(data: Any, where: str = "<suite>") -> Suite:
    """Validate an already-parsed suite mapping (``where`` names it in error messages)."""
    if data is None:
        raise BnnBenchError(
            f"{where}: the suite file is empty; it needs at least name, models, "
            "datasets and optimizers"
        )
    if not isinstance(data, dict):
        raise BnnBenchError(
            f"{where}: the top level must be a mapping of keys ({', '.join(Suite.model_fields)}), "
            f"got {type(data).__name__}"
        )
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, where, Suite) from None
    _check(suite, where)
    _check_model_budget(suite, where)
    _check_plugins(suite, where)
    return suite


def _check_plugins(suite: Suite, where: str) -> None:
    """Each plug-in optimizer (``package.module:Class``) built with the entry's ``hparams``
    (a tuned key at its range's low end, or its first choice) on a tiny parameter, and
    stepped once, so that a value of the wrong type is refused here with one line instead
    of failing every run. Imports torch only when the suite names a plug-in (its module
    was imported by the registry check already)."""
    entries = [(i, e) for i, e in enumerate(getattr(suite, "optimizers", None) or [])]
    plugins = [(i, e) for i, e in entries if getattr(e, "is_plugin", False)]
    if not plugins:
        return
    import torch

    from benchmark.optim.registry import get_optimizer_spec

    for i, entry in plugins:
        spec = get_optimizer_spec(entry.name, where)
        hparams = dict(entry.hparams)
        for key, dim in entry.search_space.items():
            hparams.setdefault(key, dim.choices[0] if dim.choices else dim.low)
        weight = torch.nn.Parameter(torch.zeros(4))
        try:
            optimizer = spec.factory([weight], **hparams)
            weight.grad = torch.zeros_like(weight)
            optimizer.step()
        except Exception as exc:  # noqa: BLE001 - whatever the plug-in raises: one line
            problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            raise BnnBenchError(
                f"{where}: optimizers[{i}].hparams: plug-in '{entry.name}' cannot be built "
                f"with {_show(hparams)} ({problem}); allowed: the keyword arguments of "
                f"{entry.name.rpartition(':')[2]}.__init__ with values of the types it takes"
            ) from None


def _check_model_budget(suite: Suite, where: str) -> None:
    """Each ``mlp``'s ``hidden`` as ``run`` checks it, and its training memory against this
    machine's (:mod:`benchmark.model_budget`; from static metadata, nothing is built)."""
    from benchmark.data.registry import static_input
    from benchmark.model_budget import machine_memory, mlp_problem

    models = [(i, m) for i, m in enumerate(getattr(suite, "models", None) or []) if m.name == "mlp"]
    if not models:
        return
    memory = machine_memory()
    for j, data in enumerate(suite.datasets):
        static = static_input(data.name, data.options)
        if static is None:
            continue
        for i, model in models:
            if any(e.matches(model.name, data.name) for e in suite.exclude):
                continue  # a pair left out is never built
            hidden = model.options.get("hidden", [256, 256])
            problem = mlp_problem(hidden, static[0], static[1], suite.batch_size, memory)
            if problem:
                key = f"models[{i}].options.hidden"
                if not problem.startswith("must"):
                    key += f" (with datasets[{j}], {data.name})"
                raise BnnBenchError(f"{where}: {key}: {problem}")


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unwrap(tp: Any) -> list[Any]:
    """The alternatives of ``X | None`` / ``Union[...]`` (or ``[tp]``)."""
    if get_origin(tp) is Union or type(tp).__name__ == "UnionType":
        return [a for a in get_args(tp) if a is not type(None)]
    return [tp]


def _model_at(root: type[BaseModel], loc: Iterable[Any]) -> type[BaseModel] | None:
    """The pydantic model class found at ``loc`` below ``root`` (None if not a model)."""
    current: list[Any] = [root]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            for alt in _unwrap(tp):
                origin = get_origin(alt)
                if isinstance(alt, type) and issubclass(alt, BaseModel) and isinstance(part, str):
                    for fname, field in alt.model_fields.items():
                        if part in (fname, field.alias):
                            nxt.append(field.annotation)
                elif origin is list and isinstance(part, int):
                    nxt.append(get_args(alt)[0])
                elif origin is dict and isinstance(part, str):
                    nxt.append(get_args(alt)[1])
        current = nxt
    for tp in current:
        for alt in _unwrap(tp):
            if isinstance(alt, type) and issubclass(alt, BaseModel):
                return alt
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(err: Mapping[str, Any], root: type[BaseModel]) -> str:
    """One error as ``<key path>: <problem>, got <value>``. A search-space range's own error
    (:class:`~benchmark.search_space.DimensionError`) is complete: only the path goes in front."""
    loc = tuple(err["loc"])
    kind = err["type"]
    path = _path(loc)
    error = err.get("ctx", {}).get("error")
    if isinstance(error, DimensionError):
        return error.at(path)
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        allowed = _keys(parent) if parent else []
        key = str(loc[-1])
        return f"{path}: unknown key '{key}'{closest(key, allowed)}; allowed keys: " + ", ".join(
            allowed
        )
    if kind == "missing":
        return f"{path}: required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    got = f", got {_show(err.get('input'))}" if "input" in err else ""
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        got += closest(str(err.get("input")), allowed)
    elif kind == "model_type":
        msg = "expected a mapping of keys"
    # "<problem>, got <value>; allowed: ..." when the validator's message names what is allowed
    problem, allowed_sep, allowed_text = msg.partition("; allowed: ")
    return f"{path or '(top level)'}: {problem}{got}{allowed_sep}{allowed_text}"


def _translate(exc: ValidationError, where: str, root: type[BaseModel]) -> BnnBenchError:
    """One line from a pydantic ValidationError: the first error, plus ``(and N more)``."""
    errors = exc.errors()
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return BnnBenchError(f"{where}: {_describe(errors[0], root)}{more}")
