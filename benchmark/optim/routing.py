"""Parameter routing: build the optimizer for a model from a registry name.

The model declares its binary latent weights (:func:`benchmark.binary.split_parameters`):

- a **latent-weight** optimizer (Adam, BAMSProd, SGD, ..., plug-ins) gets every tensor in up to
  two parameter groups, ``{"params": binary, "binary": True}`` then
  ``{"params": real, "binary": False}`` (an empty group is left out), so BAMSProd knows which
  tensors are binary and diagnostics can be separated;
- a **latent-free** optimizer (Bop, Bop2ndOrder) gets the binary tensors, and the real-valued
  ones (BatchNorm, biases, full-precision layers) go to a companion latent-weight optimizer
  (``fp_optimizer``, default ``"adam"``, with ``fp_lr`` default 1e-3 and any other ``fp_<key>``),
  wrapped in one :class:`CaseOptimizer`, like larq's ``CaseOptimizer``.

:func:`make_multipart_optimizer` builds one optimizer object over several models that each
have their own hyper-parameters (one ``step()`` updates all of them; the convex task runs every
form of an optimizer this way).

:func:`optimizer_diagnostics` (defined in :mod:`benchmark.optim.base`, the diagnostics protocol)
is importable from here as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from benchmark.binary.layers import split_parameters
from benchmark.errors import BnnBenchError
from benchmark.optim.base import evaluate_closure, optimizer_diagnostics
from benchmark.optim.registry import (
    FP_PREFIX,
    OPTIMIZERS,
    OptimizerSpec,
    get_optimizer_spec,
    validate_hparams,
)


class CaseOptimizer(Optimizer):
    """Two optimizers behind one ``torch.optim.Optimizer`` surface.

    ``param_groups`` is the live concatenation of the binary optimizer's groups and the real
    optimizer's groups (the same dicts, so an LR scheduler's changes reach them; Bop reads its
    group ``lr`` as a multiplier of gamma). ``step(closure)`` evaluates the closure once, then
    steps both; ``state_dict()`` is ``{"binary": ..., "real": ...}`` (``None`` for an absent
    part). ``add_param_group`` routes a group by its ``binary`` flag.
    """

    def __init__(self, binary: Optimizer | None, real: Optimizer | None) -> None:
        if binary is None and real is None:
            raise BnnBenchError("CaseOptimizer needs at least one optimizer")
        self.binary_optimizer = binary
        self.real_optimizer = real
        self._ready = False
        super().__init__(self.param_groups, {})
        self._ready = True

    @property
    def optimizers(self) -> list[Optimizer]:
        """The inner optimizers, binary first."""
        return [o for o in (self.binary_optimizer, self.real_optimizer) if o is not None]

    @property  # type: ignore[override]
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for o in self.optimizers for group in o.param_groups]

    @param_groups.setter
    def param_groups(self, value: list[dict[str, Any]]) -> None:
        if self.__dict__.get("_ready", False):
            raise BnnBenchError("CaseOptimizer.param_groups is a view of its inner optimizers")

    @property  # type: ignore[override]
    def state(self) -> dict[torch.Tensor, Any]:
        """A merged read-only view of the inner optimizers' states."""
        merged: dict[torch.Tensor, Any] = {}
        for o in self.optimizers:
            merged.update(o.state)
        return merged

    @state.setter
    def state(self, value: Any) -> None:
        if self.__dict__.get("_ready", False):
            raise BnnBenchError("CaseOptimizer.state is a view of its inner optimizers")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Route ``param_group`` to the binary optimizer if ``binary`` is true, else the real one."""
        if not self.__dict__.get("_ready", False):
            return  # construction: the groups already live in the inner optimizers
        target = self.binary_optimizer if param_group.get("binary", False) else self.real_optimizer
        if target is None:
            part = "binary" if param_group.get("binary", False) else "real"
            raise BnnBenchError(f"CaseOptimizer has no {part} optimizer for this group")
        target.add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Evaluate ``closure`` once (with gradients enabled), then step every inner optimizer."""
        loss = evaluate_closure(closure)
        for o in self.optimizers:
            o.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {
            "binary": None if self.binary_optimizer is None else self.binary_optimizer.state_dict(),
            "real": None if self.real_optimizer is None else self.real_optimizer.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        parts = (("binary", self.binary_optimizer), ("real", self.real_optimizer))
        for part, o in parts:
            saved = state_dict.get(part) if isinstance(state_dict, dict) else None
            if (saved is None) != (o is None):
                raise BnnBenchError(
                    f"CaseOptimizer.load_state_dict: the {part} part does not match "
                    f"(saved: {'absent' if saved is None else 'present'}, "
                    f"here: {'absent' if o is None else 'present'})"
                )
        for part, o in parts:
            if o is not None:
                o.load_state_dict(state_dict[part])

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def diagnostics(self) -> dict[str, float]:
        """The inner optimizers' diagnostics, merged (binary optimizer first on a name clash):
        :func:`optimizer_diagnostics` of each, so any inner optimizer that defines
        ``diagnostics()`` is reported."""
        merged: dict[str, float] = {}
        for o in self.optimizers:
            for key, value in optimizer_diagnostics(o).items():
                merged.setdefault(key, value)
        return merged


def _build(spec: OptimizerSpec, groups: list[dict[str, Any]], hparams: dict[str, Any]) -> Optimizer:
    """Call the factory, turning a constructor's ValueError into a :class:`BnnBenchError`."""
    try:
        return spec.factory(groups, **hparams)
    except ValueError as exc:
        raise BnnBenchError(f"optimizer '{spec.name}': {exc}") from None


def make_optimizer(
    name: str, model: nn.Module, *, planned_steps: int | None = None, **hparams: Any
) -> Optimizer:
    """The optimizer ``name`` (registry name or ``package.module:Class``) for ``model``.

    ``hparams`` override the registry defaults; unknown keys raise :class:`BnnBenchError`
    naming the optimizer, the key and the allowed keys. See the module docstring for routing.
    ``planned_steps`` (the run's optimizer steps, epochs x batches per epoch; ``None``:
    unknown) goes to the optimizers whose spec :attr:`~OptimizerSpec.takes_planned_steps`
    (BAMSProd, Bop, Bop2ndOrder: the auto rule of their compiled update,
    :func:`benchmark.optim.fused.worth_compiling`) and nowhere else; it is not a
    hyper-parameter, so it changes no run id.
    """
    spec = get_optimizer_spec(name)
    validate_hparams(name, hparams)
    merged = {**spec.defaults, **hparams}
    if spec.takes_planned_steps and planned_steps is not None:
        merged["planned_steps"] = planned_steps
    binary, real = split_parameters(model)
    if not binary and not real:
        raise BnnBenchError(f"optimizer '{name}': the model has no trainable parameters")
    if spec.kind == "latent":
        groups = [
            {"params": params, "binary": flag}
            for params, flag in ((binary, True), (real, False))
            if params
        ]
        return _build(spec, groups, merged)

    fp_name = merged.pop("fp_optimizer")
    fp_hparams = {
        k[len(FP_PREFIX) :]: merged.pop(k) for k in list(merged) if k.startswith(FP_PREFIX)
    }
    fp_spec = get_optimizer_spec(fp_name)
    binary_opt = _build(spec, [{"params": binary, "binary": True}], merged) if binary else None
    real_opt = None
    if real:
        real_opt = _build(
            fp_spec, [{"params": real, "binary": False}], {**fp_spec.defaults, **fp_hparams}
        )
    return CaseOptimizer(binary_opt, real_opt)


def make_multipart_optimizer(
    name: str, parts: Sequence[tuple[nn.Module, dict[str, Any]]]
) -> Optimizer:
    """One optimizer object ``name`` over several ``(model, hparams)`` parts.

    It holds the parameter groups that ``make_optimizer(name, model, **hparams)`` builds for
    each part, each with the options that part's own optimizer gives it, so one ``step()``
    applies to every part exactly the update of its own optimizer (the update rules act per
    group and per tensor) at the per-call cost of one optimizer. Groups whose options are
    equal are then coalesced into one, in order of first appearance; for an optimizer that
    ignores the ``binary`` flag (every registered one but BAMSProd) the flag does not count,
    and a coalesced group of binary and real tensors carries ``binary: None``. Fewer groups
    mean fewer Python-level calls per step, which dominate on small tensors.

    Registered optimizers of kind ``"latent"`` only (one object; a :class:`CaseOptimizer`
    routes by its own rules, and a plug-in's options are unknown to the registry): other
    names get plain :func:`make_optimizer` for a single part and a :class:`BnnBenchError`
    for several. The parts may differ only in per-group options:
    :attr:`OptimizerSpec.object_hparams` (e.g. BAMSProd's ``error``) must be equal.
    """
    if not parts:
        raise BnnBenchError(f"optimizer '{name}': no parts to optimize")
    spec = get_optimizer_spec(name)
    if name not in OPTIMIZERS or spec.kind != "latent":
        if len(parts) == 1:
            model, hparams = parts[0]
            return make_optimizer(name, model, **hparams)
        raise BnnBenchError(
            f"optimizer '{name}': only registered latent-weight optimizers can drive several "
            f"parts with their own hyper-parameters in one object (allowed: "
            f"{', '.join(n for n, s in OPTIMIZERS.items() if s.kind == 'latent')})"
        )
    first = {**spec.defaults, **parts[0][1]}
    for _, hparams in parts[1:]:
        merged = {**spec.defaults, **hparams}
        for key in spec.object_hparams:
            if merged.get(key) != first.get(key):
                raise BnnBenchError(
                    f"optimizer '{name}': '{key}' configures the optimizer object, so every "
                    f"part must have the same value (got {first.get(key)!r} and "
                    f"{merged.get(key)!r})"
                )
    singles = [make_optimizer(name, model, **hparams) for model, hparams in parts]
    groups = _coalesce(
        [dict(g) for single in singles for g in single.param_groups], spec.reads_binary_flag
    )
    optimizer = _build(spec, groups, first)
    for built, source in zip(optimizer.param_groups, groups, strict=True):
        changed = sorted(k for k in source if k != "params" and built.get(k) != source[k])
        if changed:
            raise BnnBenchError(f"optimizer '{name}': group options {changed} changed when merged")
    return optimizer


def _coalesce(groups: list[dict[str, Any]], by_flag: bool) -> list[dict[str, Any]]:
    """Groups with equal options (the ``binary`` flag counted only if ``by_flag``) merged into
    one, in order of first appearance; the flag of a merged mixed group is ``None``."""
    merged: list[dict[str, Any]] = []
    for group in groups:
        options = {k: v for k, v in group.items() if k != "params" and (by_flag or k != "binary")}
        for target in merged:
            same = {k: v for k, v in target.items() if k != "params" and (by_flag or k != "binary")}
            if same == options:
                target["params"] = [*target["params"], *group["params"]]
                if target.get("binary") != group.get("binary"):
                    target["binary"] = None
                break
        else:
            merged.append({**group, "params": list(group["params"])})
    return merged
