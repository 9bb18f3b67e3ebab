r"""Compiled (fused) per-tensor updates of BAMSProd, Bop and Bop2ndOrder for large tensors.

On float32 CPU tensors BAMSProd and Bop run hand-written C++ kernels instead
(:mod:`benchmark.optim.native`: :func:`bamsprod_native`, :func:`bamsprod_native_with_error`,
and inside :func:`bamsprod_update`, :func:`bamsprod_update_with_error`, :func:`bop_update`),
unless ``BNNBENCH_NATIVE=0``; a build failure is handled as a compile failure below. What
follows describes the torch.compile kernels, which serve every other case.

The eager ``torch._foreach_*`` paths of :mod:`benchmark.optim.bamsprod` and
:mod:`benchmark.optim.bop` run each elementwise operation as its own pass over memory (about
8 weight-sized passes for BAMSProd, plus 5 for its error; 5 for Bop). Here one tensor's
update is one ``torch.compile``\ d function (inductor, ``dynamic=True``, ``fullgraph=True``)
whose operations fuse into one loop over memory:

- **BAMSProd** (:func:`bamsprod_update_with_error`): the quantization error (``xnor_l1``: per
  output channel :math:`\alpha = \mathrm{mean}|W|` and
  :math:`\mathrm{mean}\,|A - \alpha| = 2(\alpha - \mathrm{mean}\min(|W|, \alpha))`, sums in
  float64; ``sign_l1``), the range :math:`l = \eta(1 - e/(\gamma t + 1))`,
  :math:`u = \eta(1 + e/(\gamma t))` and the clamp bounds :math:`a/u, a/l` in float64 as the
  eager path, then ``m``, ``v``, ``vmax``, :math:`d = \mathrm{clip}(\sqrt{\hat v} + \epsilon,
  a/u, a/l)` and :math:`p \leftarrow p - a\,m/d` in one elementwise kernel. When the error is
  not due this step (``error_every``), not built in (a callable), the group is not binary or
  the bound is custom, the eager code computes the error and range (as in the foreach path)
  and :func:`bamsprod_update` runs only the elementwise kernel;
- **Bop** (:func:`bop_update`): :math:`m \leftarrow m + \gamma(g - m)` (``lerp``), the flip
  mask :math:`w m > \tau`, the flip and the flip count;
- **Bop2ndOrder** (:func:`bop2nd_update`): ``m``, ``v`` and the flip test in the eager path's
  form :math:`\sqrt v + c\,w m < \ell` (``c``, :math:`\ell` from the bias corrections).

The step's numbers enter as small float64 tensors and the tensors as flat (or, for the error,
``(channels, -1)``) views, so one compilation serves every step and every shape. Scalars are
cast to the parameter's dtype before elementwise use, as the eager kernels cast Python
numbers: the paths agree to float rounding (tests/test_fused_optim.py: parameters and state
to 1e-6 relative after 20 steps, flip counts exactly, BAMSProd's error and range to 1e-6
relative, the compiled error being summed in float64).

**When the compiled path runs** (:func:`use_fused`): ``fused=True`` asks for it, ``False``
forbids it, ``None`` (the default) compiles only when the optimizer's ``planned_steps`` times
the measured saving per step exceeds the kernel's measured build time (:func:`worth_compiling`:
2 s for the C++ kernels, 30 s for torch.compile, :func:`build_seconds`); a training run passes
its planned steps (``trained_epochs`` x batches per epoch, :func:`benchmark.train.train`), and
the shipped suites other than ``paper`` are too short or their models too small for the rule
to compile even at 2 s (docs/performance.md "The auto rule"). Even then a tensor takes the
compiled path only when :func:`eligible`
(floating point, CPU or CUDA, at least :data:`MIN_ELEMENTS` of its optimizer, contiguous and
so is its gradient), BAMSProd's group has ``lr > 0``, and ``torch.compile`` works in this
process: the first failure to compile is caught, warned about once
(:class:`FusedFallbackWarning`), and every later step of the process runs eagerly
(:func:`compile_failure` says why; the run's environment records it).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import torch

from benchmark.optim import native
from benchmark.optim.registry import COMPILED_DEVICES, COMPILED_MIN_ELEMENTS

#: per optimizer, tensors with fewer elements run the eager foreach path (measured: below
#: this size the compiled call's per-tensor overhead eats the saving; docs/performance.md)
MIN_ELEMENTS: dict[str, int] = COMPILED_MIN_ELEMENTS
#: devices with an inductor backend here
DEVICES = COMPILED_DEVICES
#: the auto rule's numbers (:func:`worth_compiling`), measured on the 11.7M ``resnet18`` set (one
#: thread, CPU clock, under load; docs/performance.md). The seconds a run may have to pay
#: before its first compiled step, per kernel: the C++ kernels' cold build (BAMSProd and Bop
#: on float32 CPU tensors, :mod:`benchmark.optim.native`: 1.1-1.7 s wall, 0.75-1.1 CPU-s,
#: rounded up; a cached library loads in milliseconds, which the rule does not assume, so a
#: run's choice never depends on the machine's cache or on the runs before it) and
#: torch.compile's largest cold compile (BAMSProd's two functions, 24.6 s wall, rounded up;
#: it serves Bop2ndOrder, other dtypes, CUDA and ``BNNBENCH_NATIVE=0``). Then the saving per
#: eligible element and step against the foreach update (C++ kernels: BAMSProd 63.1 -> 19.5
#: ms on 11.5M eligible elements, Bop 26.9 -> 10.9 ms on 10.8M; torch.compile: Bop2ndOrder
#: 40.1 -> 20.4 ms)
NATIVE_BUILD_SECONDS = 2.0
COMPILE_SECONDS = 30.0
SAVING_SECONDS_PER_ELEMENT = {"bamsprod": 3.8e-9, "bop": 1.5e-9, "bop2nd": 1.8e-9}

_FAILURE: list[str] = []  # the reason torch.compile failed in this process (at most one)
_COMPILED: dict[str, Callable[..., Any]] = {}
_CALLS = [0]  # compiled updates run in this process (compiled_calls)


class FusedFallbackWarning(RuntimeWarning):
    """``torch.compile`` failed: the optimizers run their eager paths in this process."""


def compile_failure() -> str | None:
    """Why ``torch.compile`` failed in this process (``None`` if it has not failed)."""
    return _FAILURE[0] if _FAILURE else None


def compiled_calls() -> int:
    """How many compiled per-tensor updates this process has run: a run that raised it took
    the compiled path (:func:`benchmark.units.run_unit` records so for ``fused=None``)."""
    return _CALLS[0]


def compile_available() -> bool:
    """False once a compiled update failed to compile in this process."""
    return not _FAILURE


def worth_compiling(
    kind: str, eligible_elements: int, planned_steps: int | None, cost: float | None = None
) -> bool:
    """The auto rule: compile when ``planned_steps * saving(kind) * eligible_elements`` exceeds
    ``cost``, the kernel's build seconds (default :data:`COMPILE_SECONDS`, torch.compile's;
    :data:`NATIVE_BUILD_SECONDS` for the C++ kernels). ``planned_steps=None``, an unknown run
    length: never."""
    if planned_steps is None or eligible_elements == 0:
        return False
    saving = SAVING_SECONDS_PER_ELEMENT[kind] * eligible_elements
    return planned_steps * saving > (COMPILE_SECONDS if cost is None else cost)


#: the optimizers whose float32 CPU tensors the C++ kernels take
NATIVE_KINDS = ("bamsprod", "bop")


def build_seconds(kind: str, tensors: list[torch.Tensor]) -> float:
    """What the auto rule charges for compiling ``tensors`` of optimizer ``kind``: the C++
    kernels' :data:`NATIVE_BUILD_SECONDS` when they take every one of them, else
    torch.compile's :data:`COMPILE_SECONDS`."""
    if kind in NATIVE_KINDS and tensors and all(native.handles(p) for p in tensors):
        return NATIVE_BUILD_SECONDS
    return COMPILE_SECONDS


def eligible(p: torch.Tensor, min_elements: int, g: torch.Tensor | None = None) -> bool:
    """A tensor the compiled path handles: floating point, on the CPU or CUDA, at least
    ``min_elements`` elements, contiguous, and so is its gradient ``g`` (the compiled
    functions see flat views: one shape symbol, so one compilation serves every shape)."""
    return (
        p.is_floating_point()
        and p.device.type in DEVICES
        and max(min_elements, 1) <= p.numel() < 2**31  # flip counts are int32
        and p.is_contiguous()
        and (g is None or (g.is_contiguous() and g.dtype == p.dtype))
    )


def use_fused(
    fused: bool | None,
    kind: str,
    tensors: Callable[[], list[torch.Tensor]],
    min_elements: int,
    planned: int | None,
) -> bool:
    """Whether this optimizer's eligible tensors take the compiled path now (see the module
    docstring): ``fused``, and for ``None`` :func:`worth_compiling` over ``tensors()`` (every
    tensor of the optimizer: one compilation serves them all; charged
    :func:`build_seconds`), called only then."""
    if fused is False or not compile_available():
        return False
    if fused is None:
        if planned is None:  # the default in runs: no per-step cost beyond this test
            return False
        counted = [p for p in tensors() if eligible(p, min_elements)]
        total = sum(p.numel() for p in counted)
        return worth_compiling(kind, total, planned, build_seconds(kind, counted))
    return True


def _fail(exc: BaseException, what: str = "torch.compile failed") -> None:
    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    _FAILURE.append(reason[:300])
    warnings.warn(
        f"{what} ({reason[:300]}); BAMSProd/Bop/Bop2ndOrder run their eager "
        "foreach paths in this process",
        FusedFallbackWarning,
        stacklevel=3,
    )


#: what :func:`call` returns when compiling failed
FAILED = object()


def call(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``torch.compile(fn, dynamic=True, fullgraph=True)(*args)`` (compiled once per process
    and ``name``); :data:`FAILED` if compiling failed (then :func:`compile_available` is False
    from now on).

    A compilation error is raised before the compiled code runs, so no input was changed
    when :data:`FAILED` is returned: the caller runs its eager path on the same tensors."""
    if _FAILURE:
        return FAILED
    compiled = _COMPILED.get(name)
    if compiled is None:
        _import_cpp_extension_quietly()
        compiled = _COMPILED[name] = torch.compile(fn, dynamic=True, fullgraph=True)
    try:
        out = compiled(*args)
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
        _fail(exc)
        return FAILED
    _CALLS[0] += 1
    return out


def _import_cpp_extension_quietly() -> None:
    """Import :mod:`torch.utils.cpp_extension` (inductor does on its first CPU compile) with
    its logger at ``ERROR``: on a machine without CUDA it logs "No CUDA runtime is found"
    on import, which says nothing about a CPU kernel and only confuses a reader."""
    cpp_log = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_log.level
    cpp_log.setLevel(logging.ERROR)
    try:
        import torch.utils.cpp_extension  # noqa: F401
    finally:
        cpp_log.setLevel(level)


# --------------------------------------------------------------------------- BAMSProd


def bamsprod_scalars(
    beta1: float, beta2: float, eps: float, wd: float, device: torch.device
) -> torch.Tensor:
    """A group's constant numbers ``[1 - beta1, beta2, 1 - beta2, eps, weight_decay]`` as one
    float64 tensor on ``device`` (a graph input: changing them does not recompile)."""
    return torch.tensor(
        [1.0 - beta1, beta2, 1.0 - beta2, eps, wd], dtype=torch.float64, device=device
    )


def _bamsprod_body(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    vmax: torch.Tensor,
    c: torch.Tensor,
    d: torch.Tensor,
    maximize: bool,
) -> None:
    """One tensor's BAMSProd update in place, in one elementwise kernel: ``c`` from
    :func:`bamsprod_scalars`, ``d = [a, d_min, d_max]`` (the step's :math:`a_t` and the clamp
    bounds of the denominator, ``d_min <= d_max``)."""
    dt = p.dtype
    if maximize:
        g = -g
    g = g + c[4].to(dt) * p
    m.lerp_(g, c[0].to(dt))
    v.mul_(c[1].to(dt)).addcmul_(g, g, value=c[2].to(dt))
    torch.maximum(vmax, v, out=vmax)
    denom = (vmax.sqrt() + c[3].to(dt)).clamp(d[1].to(dt), d[2].to(dt))
    p.addcdiv_(m, denom, value=(-d[0]).to(dt))


def _bamsprod(*args: Any) -> None:
    _bamsprod_body(*args, maximize=False)


def _bamsprod_maximize(*args: Any) -> None:
    _bamsprod_body(*args, maximize=True)


def _xnor_l1(p: torch.Tensor) -> torch.Tensor:
    r"""``"xnor_l1"`` of :func:`benchmark.binary.quantization_error`, as the eager
    :func:`benchmark.optim.bamsprod._fast_errors` computes it
    (:math:`\mathrm{mean}|A - \alpha| = 2(\alpha - \mathrm{mean}\min(A, \alpha))`, per
    output channel) but with float64 sums: inductor's float32 sums over rows longer than
    4096 use a cascade summation that made this reduction 2-3x slower (measured)."""
    a = p.abs()  # p is (channels, -1)
    n = a.shape[1]
    alpha = a.sum(dim=1, keepdim=True, dtype=torch.float64) / n
    inner = torch.minimum(a, alpha.to(a.dtype)).sum(dim=1, keepdim=True, dtype=torch.float64) / n
    return (2.0 * (alpha - inner) / (alpha + 1e-12)).mean().clamp(0.0, 1.0)


def _sign_l1(p: torch.Tensor) -> torch.Tensor:
    r"""``"sign_l1"``: :math:`\mathrm{mean}\,|\,|W| - 1|` (float64 sum)."""
    return ((p.abs() - 1.0).abs().sum(dtype=torch.float64) / p.numel()).clamp(0.0, 1.0)


def _bamsprod_error_body(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    vmax: torch.Tensor,
    c: torch.Tensor,
    s: torch.Tensor,
    kind: str,
    maximize: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The error ``e`` of ``p`` (``kind``), the default range
    :math:`l = \eta(1 - e/(\gamma t + 1))`, :math:`u = \eta(1 + e/(\gamma t))` (float64,
    as the eager path) and :func:`_bamsprod_body` with the clamp bounds :math:`a/u`,
    :math:`a/l`; ``s = [a, eta, gamma, t]``. Returns ``(e, l, u)``."""
    e = (_xnor_l1(p) if kind == "xnor_l1" else _sign_l1(p)).to(p.dtype)
    a, eta, gamma, t = s[0], s[1], s[2], s[3]
    e64 = e.to(torch.float64)
    lower = eta * (1.0 - e64 / (gamma * t + 1.0))
    upper = eta * (1.0 + e64 / (gamma * t))
    d_min = a / upper
    d_max = torch.maximum(a / lower.clamp_min(0.0), d_min)
    _bamsprod_body(p, g, m, v, vmax, c, torch.stack([a, d_min, d_max]), maximize)
    return e, lower, upper


def _bamsprod_xnor(*args: Any) -> Any:
    return _bamsprod_error_body(*args, kind="xnor_l1", maximize=False)


def _bamsprod_xnor_maximize(*args: Any) -> Any:
    return _bamsprod_error_body(*args, kind="xnor_l1", maximize=True)


def _bamsprod_sign(*args: Any) -> Any:
    return _bamsprod_error_body(*args, kind="sign_l1", maximize=False)


def _bamsprod_sign_maximize(*args: Any) -> Any:
    return _bamsprod_error_body(*args, kind="sign_l1", maximize=True)


_WITH_ERROR = {
    ("xnor_l1", False): _bamsprod_xnor,
    ("xnor_l1", True): _bamsprod_xnor_maximize,
    ("sign_l1", False): _bamsprod_sign,
    ("sign_l1", True): _bamsprod_sign_maximize,
}


def bamsprod_update(
    p: torch.Tensor,
    g: torch.Tensor,
    state: dict[str, Any],
    c: torch.Tensor,
    d: torch.Tensor,
    maximize: bool,
) -> bool:
    """BAMSProd's compiled update of one tensor (in place) with a known range: ``d = [a,
    d_min, d_max]`` from the eager code. False when compiling failed (nothing changed: run
    the eager path)."""
    if native.handles(p):
        scalars = [*c.tolist(), float(d[0]), 0.0, 0.0, 0.0, float(d[1]), float(d[2])]
        return _native(p, g, state, scalars, 0, 1, maximize) is not FAILED
    name, fn = ("bamsprod/max", _bamsprod_maximize) if maximize else ("bamsprod", _bamsprod)
    tensors = (p, g, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"])
    return call(name, fn, *(x.view(-1) for x in tensors), c, d) is not FAILED


def bamsprod_update_with_error(
    p: torch.Tensor,
    g: torch.Tensor,
    state: dict[str, Any],
    c: torch.Tensor,
    s: torch.Tensor,
    kind: str,
    maximize: bool,
) -> Any:
    """BAMSProd's compiled step of one binary tensor, its error (``kind``: ``"xnor_l1"`` or
    ``"sign_l1"``) and default range included (``s = [a, eta, gamma, t]``, float64):
    ``(e, lower, upper)`` as 0-d tensors, or :data:`FAILED`."""
    if native.handles(p):
        a, eta, gamma, t = s.tolist()
        scalars = [*c.tolist(), a, eta, gamma, t, 0.0, 0.0]
        channels = p.shape[0] if p.dim() >= 2 else 1
        e = _native(p, g, state, scalars, _NATIVE_KIND[kind], channels, maximize)
        if e is FAILED:
            return FAILED
        lower = eta * (1.0 - e / (gamma * t + 1.0))
        upper = eta * (1.0 + e / (gamma * t))
        return torch.scalar_tensor(e, dtype=p.dtype), lower, upper
    fn = _WITH_ERROR[(kind, maximize)]
    rows = (p.shape[0], -1) if p.dim() >= 2 else (1, -1)  # one row per output channel
    tensors = (p, g, state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"])
    return call(f"bamsprod/{kind}/{maximize}", fn, *(x.view(rows) for x in tensors), c, s)


_NATIVE_KIND = {"xnor_l1": 1, "sign_l1": 2}


def bamsprod_native(
    p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], scalars: list[float], maximize: bool
) -> bool:
    """The C++ kernel's update of one float32 CPU tensor with a known range (``scalars`` as
    :func:`benchmark.optim.native.bamsprod_step`'s); False when it cannot be built."""
    return _native(p, g, state, scalars, 0, 1, maximize) is not FAILED


def bamsprod_native_with_error(
    p: torch.Tensor,
    g: torch.Tensor,
    state: dict[str, Any],
    consts: list[float],
    a: float,
    eta: float,
    gamma: float,
    t: int,
    kind: str,
    maximize: bool,
) -> Any:
    """The C++ kernel's step of one binary float32 CPU tensor, its error (``kind``) inside:
    the error as a 0-d tensor (float32), or :data:`FAILED`. ``consts = [1 - beta1, beta2,
    1 - beta2, eps, weight_decay]``."""
    channels = p.shape[0] if p.dim() >= 2 else 1  # one row per output channel
    scalars = [*consts, a, eta, gamma, float(t), 0.0, 0.0]
    e = _native(p, g, state, scalars, _NATIVE_KIND[kind], channels, maximize)
    # scalar_tensor: the same 0-d tensor as torch.tensor, in less than half its time
    return FAILED if e is FAILED else torch.scalar_tensor(e, dtype=p.dtype)


def bamsprod_native_batch(
    items: list[tuple[torch.Tensor, torch.Tensor, dict[str, Any], list[float], int, int]],
    maximize: bool,
) -> Any:
    """The C++ kernel's steps of float32 CPU tensors in one call
    (:func:`benchmark.optim.native.bamsprod_steps`: ``(p, g, state, scalars, kind, rows)``
    each, ``kind`` 0 with the bounds in ``scalars`` or :data:`NATIVE_KIND`'s with ``rows``
    output channels): the errors (``-1`` for ``kind`` 0), or :data:`FAILED` when the library
    cannot be built (recorded and warned once; no tensor written)."""
    if not _native_loaded():
        return FAILED
    out = native.bamsprod_steps(items, maximize)
    _CALLS[0] += len(items)
    return out


#: the C++ kernel's error kinds (:func:`benchmark.optim.native.bamsprod_step`)
NATIVE_KIND = _NATIVE_KIND


def _native_loaded() -> bool:
    """The C++ library is loaded (first call: builds or loads it; a failure is recorded and
    warned once, as a compile failure, before any tensor is written)."""
    if _FAILURE:
        return False
    if native._MODULE:
        return True
    try:
        native.load()
    except Exception as exc:  # noqa: BLE001 - any build failure means: run eagerly
        _fail(exc, "building the C++ kernels failed")
        return False
    return True


def _native(
    p: torch.Tensor,
    g: torch.Tensor,
    state: dict[str, Any],
    scalars: list[float],
    kind: int,
    rows: int,
    maximize: bool,
) -> Any:
    """:func:`benchmark.optim.native.bamsprod_step`, or :data:`FAILED` when the extension
    cannot be built (recorded and warned once, as a compile failure; the build fails
    before any tensor is written)."""
    if not _native_loaded():
        return FAILED
    out = native.bamsprod_step(p, g, state, scalars, kind, rows, maximize)
    _CALLS[0] += 1
    return out


# --------------------------------------------------------------------------- Bop


def _bop_body(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``s = [gamma * lr, tau]``: ``m <- lerp(m, g, gamma)``, flip where ``w m > tau``."""
    m.lerp_(g, s[0].to(p.dtype))
    flip = p * m > s[1].to(p.dtype)
    p.copy_(torch.where(flip, -p, p))
    return flip.sum(dtype=torch.int32)  # int32: 12% faster than int64 (measured)


def bop_update(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, rate: float, tau: float) -> Any:
    """Bop's compiled step of one tensor (in place): the flip count (0-d tensor, or an int
    from the C++ kernel on float32 CPU tensors), or :data:`FAILED`."""
    if native.handles(p):
        if not _native_loaded():
            return FAILED
        _CALLS[0] += 1
        return native.bop_step(p, g, m, rate, tau)
    s = torch.tensor([rate, tau], dtype=torch.float64, device=p.device)
    return call("bop", _bop_body, p.view(-1), g.view(-1), m.view(-1), s)


def _bop2nd_body(
    p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """``s = [gamma, 1 - sigma, sigma, coeff, limit]``: the moments, then flip where
    ``sqrt(v) + coeff * w m < limit`` (the eager path's form of the ratio test)."""
    dt = p.dtype
    m.lerp_(g, s[0].to(dt))
    v.mul_(s[1].to(dt)).addcmul_(g, g, value=s[2].to(dt))
    flip = v.sqrt() + s[3].to(dt) * (p * m) < s[4].to(dt)
    p.copy_(torch.where(flip, -p, p))
    return flip.sum(dtype=torch.int32)  # int32: 12% faster than int64 (measured)


def _bop2nd_zero_body(
    p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """``tau = 0``: the denominator is positive, so flip where ``w m > 0``."""
    dt = p.dtype
    m.lerp_(g, s[0].to(dt))
    v.mul_(s[1].to(dt)).addcmul_(g, g, value=s[2].to(dt))
    flip = p * m > 0.0
    p.copy_(torch.where(flip, -p, p))
    return flip.sum(dtype=torch.int32)  # int32: 12% faster than int64 (measured)


def bop2nd_update(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    gamma: float,
    sigma: float,
    coeff: float | None,
    limit: float,
) -> Any:
    """Bop2ndOrder's compiled step of one tensor (``coeff=None``: ``tau = 0``)."""
    s = torch.tensor(
        [gamma, 1.0 - sigma, sigma, 0.0 if coeff is None else coeff, limit],
        dtype=torch.float64,
        device=p.device,
    )
    flat = (p.view(-1), g.view(-1), m.view(-1), v.view(-1), s)
    if coeff is None:
        return call("bop2nd/zero", _bop2nd_zero_body, *flat)
    return call("bop2nd", _bop2nd_body, *flat)
