"""Plumbing shared by the benchmark's own optimizers (BAMSProd, Bop, Bop2ndOrder, CaseOptimizer).

Plain functions in the style of ``torch.optim``'s private helpers, no base class: each
optimizer keeps its own ``step`` and update rule, written from these pieces.

- :func:`require`: a constructor-argument check that raises :class:`BnnBenchError`;
- :func:`check_real_params`: refuse complex parameters when a group is added;
- :func:`evaluate_closure`: the ``step(closure)`` boilerplate (closure run with gradients on);
- :func:`collect_groups`: per group, the tensors with a gradient, their gradients and their
  states (initialised lazily, ``step`` advanced), refusing sparse gradients;
- :func:`device_dtype_buckets`: split those lists by ``(device, dtype)`` for the
  ``torch._foreach_*`` path (one foreach call per bucket);
- :func:`scratch_buffers`: per-tensor work buffers cached on the optimizer, outside its state.

**Diagnostics protocol.** An optimizer that reports per-step diagnostics defines a method
``diagnostics() -> Mapping[str, float | Tensor]`` (values are numbers or 0-d tensors about
the last ``step()``; ``{}`` when there is nothing to report). :func:`optimizer_diagnostics`
calls it when the optimizer has one and returns ``{}`` otherwise, turning the values into
Python floats (which may sync a device: not for the hot path). Nothing needs to subclass or
register anything: a plug-in optimizer reports its diagnostics by defining the method, and a
composite optimizer (:class:`benchmark.optim.routing.CaseOptimizer`) reports the union of its
inner optimizers' by calling :func:`optimizer_diagnostics` on each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch.optim import Optimizer

from benchmark.errors import BnnBenchError

State = dict[str, Any]


@runtime_checkable
class ReportsDiagnostics(Protocol):
    """An optimizer that reports diagnostics of its last step (see the module docstring)."""

    def diagnostics(self) -> Mapping[str, float | torch.Tensor]: ...


def optimizer_diagnostics(optimizer: Optimizer) -> dict[str, float]:
    """Diagnostics of the last step as floats: ``optimizer.diagnostics()`` where the optimizer
    defines it (BAMSProd's ``bamsprod_error``/``_lower``/``_upper``, Bop's ``flips``/
    ``flip_fraction``, a :class:`~benchmark.optim.routing.CaseOptimizer`'s union), else ``{}``.
    Reads tensors back (``float``): not for the hot path."""
    report = getattr(optimizer, "diagnostics", None)
    if not callable(report):
        return {}
    return {key: float(value) for key, value in report().items()}


def require(owner: str, condition: bool, message: str) -> None:
    """Raise ``BnnBenchError(f"{owner}: {message}")`` unless ``condition`` (argument checks)."""
    if not condition:
        raise BnnBenchError(f"{owner}: {message}")


def check_fused_options(owner: str, fused: Any, min_elements: Any, planned_steps: Any) -> None:
    """The fused-path options (:mod:`benchmark.optim.fused`): ``fused`` a bool or ``None``,
    ``min_elements`` ``None`` or an integer >= 1, ``planned_steps`` ``None`` or an integer
    >= 0."""

    def integer(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    require(
        owner,
        fused is None or isinstance(fused, bool),
        f"fused={fused!r} must be true, false or null",
    )
    require(
        owner,
        min_elements is None or (integer(min_elements) and min_elements >= 1),
        f"fused_min_elements={min_elements!r} must be an integer >= 1",
    )
    require(
        owner,
        planned_steps is None or (integer(planned_steps) and planned_steps >= 0),
        f"planned_steps={planned_steps!r} must be null or an integer >= 0",
    )


def implementation_name(paths: Mapping[str, int]) -> str:
    """``"bnnbench compiled"``, ``"bnnbench foreach"``, ``"bnnbench per-tensor"`` or, when a
    step used several, e.g. ``"bnnbench compiled (16 tensors) + foreach (2 tensors)"``, from
    the tensor counts per path (``{}`` or all zero, before a step: ``"bnnbench foreach"``)."""
    used = [(name, n) for name, n in paths.items() if n]
    if len(used) > 1:
        return "bnnbench " + " + ".join(f"{name} ({n} tensors)" for name, n in used)
    return f"bnnbench {used[0][0] if used else 'foreach'}"


def check_real_params(owner: str, params: Iterable[torch.Tensor]) -> None:
    """Refuse complex tensors (the update rules compare and clamp real numbers)."""
    for p in params:
        require(owner, not torch.is_complex(p), "complex parameters are not supported")


def evaluate_closure(closure: Callable[[], Any] | None) -> Any:
    """``closure()`` with gradients enabled (``step`` runs under ``torch.no_grad``), or ``None``."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def collect_groups(
    optimizer: Optimizer, owner: str, moments: tuple[str, ...]
) -> Iterator[tuple[dict[str, Any], list[torch.Tensor], list[torch.Tensor], list[State]]]:
    """``(group, params, grads, states)`` for each parameter group with at least one gradient,
    in order (lazily: a group is collected when the previous one has been stepped).

    ``params`` are the group's tensors with a gradient, ``grads`` their gradients and
    ``states`` their state dicts; a new state gets ``step = 0`` and a zero tensor (the
    parameter's shape, dtype, device and memory format) for each name in ``moments``. Every
    state's ``step`` is advanced by one. A sparse gradient raises :class:`BnnBenchError`.
    """
    for group in optimizer.param_groups:
        params, grads, states = [], [], []
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise BnnBenchError(
                    f"{owner} does not support sparse gradients; use dense gradients "
                    "(e.g. nn.Embedding(sparse=False))"
                )
            state = optimizer.state[p]
            if len(state) == 0:
                state["step"] = 0
                for name in moments:
                    state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
            params.append(p)
            grads.append(grad)
            states.append(state)
        if params:
            yield group, params, grads, states


def device_dtype_buckets(
    params: list[torch.Tensor], grads: list[torch.Tensor], states: list[State]
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor], list[State]]]:
    """``(params, grads, states)`` split by ``(device, dtype)`` of the param, in order of first
    appearance: what one ``torch._foreach_*`` call can take."""
    dtype = params[0].dtype if params else None
    if all(p.is_cpu and p.dtype is dtype for p in params):  # one bucket (one CPU device)
        if params:
            yield params, grads, states
        return
    by_key: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, p in enumerate(params):
        by_key.setdefault((p.device, p.dtype), []).append(i)
    for idx in by_key.values():
        yield [params[i] for i in idx], [grads[i] for i in idx], [states[i] for i in idx]


def scratch_buffers(optimizer: Optimizer, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """One reusable work buffer shaped like each of ``params`` (contiguous, contents
    undefined), cached on ``optimizer`` but not in its state (so not in ``state_dict()``);
    a buffer is remade when its tensor's shape, dtype or device changes."""
    cache = optimizer.__dict__.setdefault("_scratch_buffers", {})
    bufs = []
    for p in params:
        buf = cache.get(p)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype or buf.device != p.device:
            buf = torch.empty_like(p, memory_format=torch.contiguous_format)
            cache[p] = buf
        bufs.append(buf)
    return bufs
