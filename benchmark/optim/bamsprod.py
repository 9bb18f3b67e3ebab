r"""BAMSProd: AMSBound whose step-size range is scaled by the quantization error.

**This is a reconstruction**, built from the published description (the abstract) of
"BAMSProd: A Step towards Generalizing the Adaptive Optimization Methods to Deep Binary Model"
(arXiv:2009.13799, CVPR Workshops 2020). The paper's Algorithm 1, its error measure and its
bound functions were not available; the two unknown pieces (``error`` and ``bound``) are
pluggable, so the paper's exact formulas can be dropped in. See ``docs/optimizers.md``.

Update rule, per parameter tensor :math:`p` with gradient :math:`g` at its step
:math:`t = 1, 2, \dots`:

.. math::

    g &\leftarrow g + \lambda p                       && \text{coupled L2 (off by default)} \\
    m &\leftarrow \beta_1 m + (1 - \beta_1) g \\
    v &\leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
    \hat v &\leftarrow \max(\hat v, v)                && \text{AMSGrad memory} \\
    a_t &= \mathrm{lr}\,\sqrt{1 - \beta_2^t} / (1 - \beta_1^t) \\
    e &= \mathrm{error}(p) \in [0, 1]                 && e = 1 \text{ for non-binary tensors} \\
    \eta &= \mathrm{final\_lr} \cdot \mathrm{lr} / \mathrm{base\_lr} \\
    l_t &= \eta\,(1 - e / (\gamma t + 1)), \qquad u_t = \eta\,(1 + e / (\gamma t)) \\
    p &\leftarrow p - \operatorname{clip}\!\big(a_t / (\sqrt{\hat v} + \epsilon), l_t, u_t\big) \odot m

``base_lr`` is the group's ``lr`` when the group was added (stored in the group, so it
survives ``state_dict``), hence LR schedulers scale :math:`\eta` as in AdaBound. With
:math:`e = 1` the rule is exactly AMSBound (Luo et al. 2019); as :math:`e \to 0` the range
collapses onto :math:`\eta` (momentum SGD).

Which tensors are binary latent weights is told by the parameter group flag ``binary: True``
(set by :func:`benchmark.optim.routing.make_optimizer`); every other tensor uses :math:`e = 1`.

Two implementations give the same numbers (to float rounding): the default vectorised
``torch._foreach_*`` path, and a per-tensor reference path (``foreach=False``) that follows the
formulas literally and computes the error with :func:`benchmark.binary.quantization_error`.
The foreach path computes the same errors with fewer passes over memory (see
:func:`_fast_errors`), clamps the denominator instead of the ratio
(:math:`\mathrm{clip}(a/d, l, u) = a / \mathrm{clip}(d, a/u, a/l)` for :math:`a, d > 0`),
keeps one scratch buffer per tensor (not part of the state) and keeps the errors as tensors;
only on the CPU, where no device sync exists, are the per-tensor clamp bounds read back as
Python floats (one ``tolist()`` per step) so that one clamp pass replaces two.

A third, the compiled update for large tensors (``fused=True``, :mod:`benchmark.optim.fused`),
does a tensor's error, range and update in one ``torch.compile``\ d function; the foreach path
stays the default and the reference (the same numbers to 1e-6 relative, tested).

**Size.** About 680 lines: one algorithm per file, as in ``torch.optim`` (docstring with the
update rule, the argument checks, the vectorised and the per-tensor path, and the dispatch of
large tensors to the compiled update, batched into one C++ call per group); the helpers it
shares with Bop live in ``benchmark/optim/base.py``, the compiled functions in
``benchmark/optim/fused.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

import benchmark.optim.fused as fused_paths
from benchmark.binary.metrics import QUANTIZATION_ERRORS, quantization_error
from benchmark.errors import unknown_name
from benchmark.optim import native
from benchmark.optim.base import (
    check_fused_options,
    check_real_params,
    collect_groups,
    device_dtype_buckets,
    evaluate_closure,
    implementation_name,
    require,
    scratch_buffers,
)
from benchmark.optim.fused import compile_available

ErrorFn = Callable[[torch.Tensor], "float | torch.Tensor"]
BoundFn = Callable[[int, torch.Tensor, float, float], "tuple[Any, Any]"]

_IN_GRAPH = ("xnor_l1", "sign_l1")  # errors the compiled step computes itself
_QERR_EPS = 1e-12  # the epsilon of benchmark.binary.quantization_error("xnor_l1")
_MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")  # the state tensors, zeros at first


def default_bound(
    t: int | torch.Tensor, e: float | torch.Tensor, eta: float, gamma: float
) -> tuple[Any, Any]:
    r"""The reconstruction's range: :math:`(\eta(1 - e/(\gamma t + 1)),\ \eta(1 + e/(\gamma t)))`.

    Works elementwise on floats or tensors (``t`` and ``e`` may be vectors).
    """
    return eta * (1.0 - e / (gamma * t + 1.0)), eta * (1.0 + e / (gamma * t))


def _check(condition: bool, message: str) -> None:
    require("BAMSProd", condition, message)


def _channels(x: torch.Tensor) -> torch.Tensor:
    """``x`` as ``(channels, -1)``: first dimension = output channel; dim <= 1 is one channel."""
    return x.view(x.shape[0], -1) if x.dim() >= 2 else x.view(1, -1)


def _fast_errors(kind: str, params: list[torch.Tensor], bufs: list[torch.Tensor]) -> list:
    r"""Quantization errors of ``params`` (0-d tensors), using ``bufs`` as workspace.

    The numbers of :func:`benchmark.binary.quantization_error` (to float32 rounding, ~1e-7)
    in fewer passes over memory, with :math:`A = |W|` (sign(0) = +1 changes nothing):

    - ``xnor_l1``: :math:`|W - \alpha\,\mathrm{sign}(W)| = |A - \alpha|` and, as
      :math:`\alpha = \mathrm{mean}(A)`, :math:`\mathrm{mean}|A - \alpha| =
      2(\alpha - \mathrm{mean}\min(A, \alpha))`: abs, mean, minimum, mean per channel;
    - ``sign_l1``: :math:`|W - \mathrm{sign}(W)| = |A - 1|`.
    """
    for p, buf in zip(params, bufs, strict=True):
        torch.abs(p, out=buf)
    views = [_channels(b) for b in bufs]
    if kind == "xnor_l1":
        alphas = [v.mean(dim=1, keepdim=True) for v in views]
        torch._foreach_minimum_(views, alphas)
        return [
            (2.0 * (a - v.mean(dim=1, keepdim=True)) / (a + _QERR_EPS)).mean().clamp(0.0, 1.0)
            for v, a in zip(views, alphas, strict=True)
        ]
    # sign_l1
    torch._foreach_sub_(views, 1.0)
    torch._foreach_abs_(views)
    return [v.mean().clamp(0.0, 1.0) for v in views]


class BAMSProd(Optimizer):
    r"""BAMSProd, a documented reconstruction (see the module docstring for the update rule).

    Args:
        params: tensors or parameter groups; a group with ``binary: True`` holds binary latent
            weights (their quantization error scales the range), every other tensor uses e = 1.
        lr: base step size (default 1e-3).
        betas: ``(beta1, beta2)`` moment decay rates (default ``(0.9, 0.999)``).
        final_lr: the final step size :math:`\eta` at ``lr = base_lr`` (default 0.1).
        gamma: convergence speed of the range (default 1e-3), > 0.
        eps: added to :math:`\sqrt{\hat v}` (default 1e-8).
        weight_decay: coupled L2 coefficient :math:`\lambda` (default 0).
        error: ``"xnor_l1"`` (default), ``"sign_l1"``, ``"none"`` (e = 1) or a callable
            ``error(p) -> float | Tensor`` returning a value in [0, 1] for a binary tensor.
        bound: ``None`` (the reconstruction's range, :func:`default_bound`) or a callable
            ``bound(t, e, eta, gamma) -> (lower, upper)`` with ``t`` an int, ``e`` a 0-d tensor,
            returning floats or 0-d tensors with ``0 <= lower <= upper``.
        error_every: recompute the error every ``k`` steps of a tensor (at t = 1, k+1, ...),
            reusing the last value in between (default 1: exact).
        maximize: maximize the objective (the gradient's sign is flipped), as in Adam.
        foreach: vectorised ``torch._foreach_*`` path (default ``True``) or per-tensor path.
        fused: the compiled update for large tensors (:mod:`benchmark.optim.fused`): ``True``
            where eligible, ``False`` never, ``None`` (default) only when ``planned_steps``
            amortises the compile time (:func:`benchmark.optim.fused.worth_compiling`). Only
            with ``foreach=True``; the error and the range stay eager (same diagnostics).
        fused_min_elements: the smallest tensor the compiled update takes (``None``: every
            float32 CPU tensor for the C++ kernel, ``benchmark.optim.native.MIN_ELEMENTS``;
            ``benchmark.optim.fused.MIN_ELEMENTS["bamsprod"]``, 65536, for torch.compile's).
        planned_steps: the run's planned number of steps, for ``fused=None``.

    ``error`` and ``bound`` apply to the whole optimizer (attributes ``error``/``bound``; being
    code, they are not part of ``state_dict()``: pass them again when rebuilding). Every other
    option may differ per parameter group, like ``torch.optim.Adam``'s. The state per tensor
    is ``step`` (int), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` and, for binary tensors,
    ``error`` (0-d tensor, the value in use).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        error: str | ErrorFn = "xnor_l1",
        bound: BoundFn | None = None,
        error_every: int = 1,
        *,
        maximize: bool = False,
        foreach: bool = True,
        fused: bool | None = None,
        fused_min_elements: int | None = None,
        planned_steps: int | None = None,
    ) -> None:
        _check(isinstance(lr, int | float) and lr >= 0.0, f"lr={lr!r} must be >= 0")
        _check(
            len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
            f"betas={betas!r} must be two numbers in [0, 1)",
        )
        _check(final_lr >= 0.0, f"final_lr={final_lr!r} must be >= 0")
        _check(gamma > 0.0, f"gamma={gamma!r} must be > 0")
        _check(eps >= 0.0, f"eps={eps!r} must be >= 0")
        _check(weight_decay >= 0.0, f"weight_decay={weight_decay!r} must be >= 0")
        if not callable(error) and error not in QUANTIZATION_ERRORS:
            raise unknown_name("BAMSProd error", str(error), QUANTIZATION_ERRORS)
        _check(bound is None or callable(bound), f"bound={bound!r} must be None or a callable")
        _check(
            isinstance(error_every, int) and not isinstance(error_every, bool) and error_every >= 1,
            f"error_every={error_every!r} must be an integer >= 1",
        )
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "final_lr": final_lr,
            "gamma": gamma,
            "eps": eps,
            "weight_decay": weight_decay,
            "error_every": error_every,
            "maximize": maximize,
            "foreach": foreach,
            "binary": False,
        }
        check_fused_options("BAMSProd", fused, fused_min_elements, planned_steps)
        self.error = error
        self.bound = bound
        self.fused = fused
        self.fused_min_elements = fused_min_elements or fused_paths.MIN_ELEMENTS["bamsprod"]
        # None: the C++ kernel's threshold for its tensors (native.MIN_ELEMENTS), else this
        self._min_given = fused_min_elements
        self.planned_steps = planned_steps
        self._paths = {"compiled": 0, "foreach": 0, "per-tensor": 0}
        super().__init__(params, defaults)
        # per step and group: (errors, lowers, uppers), tensors or lists of floats
        self._diagnostics: list[tuple[Any, Any, Any]] = []

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; remembers its ``lr`` as ``base_lr`` (the reference for :math:`\\eta`)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("base_lr", group["lr"])
        check_real_params("BAMSProd", group["params"])

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _eta(group: dict[str, Any]) -> float:
        """:math:`\\eta = \\mathrm{final\\_lr} \\cdot \\mathrm{lr} / \\mathrm{base\\_lr}` (as AdaBound)."""
        if group["base_lr"] == 0.0 and group["lr"] > 0.0:
            group["base_lr"] = group["lr"]
        base = group["base_lr"]
        return group["final_lr"] * group["lr"] / base if base > 0.0 else 0.0

    @staticmethod
    def _base_step(group: dict[str, Any], t: int) -> float:
        """:math:`a_t = \\mathrm{lr}\\sqrt{1 - \\beta_2^t} / (1 - \\beta_1^t)`."""
        beta1, beta2 = group["betas"]
        return group["lr"] * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)

    @classmethod
    def _base_steps(cls, group: dict[str, Any], steps: list[int]) -> list[float]:
        """:meth:`_base_step` of each of ``steps``, computed once per distinct step."""
        known: dict[int, float] = {}
        out = []
        for t in steps:
            a = known.get(t)
            if a is None:
                a = known[t] = cls._base_step(group, t)
            out.append(a)
        return out

    def _needs_error(self, group: dict[str, Any], state: dict[str, Any]) -> bool:
        return (state["step"] - 1) % group["error_every"] == 0 or "error" not in state

    @staticmethod
    def _as_error(value: float | torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(value, dtype=p.dtype, device=p.device).detach().reshape(())

    def _bounds(
        self, group: dict[str, Any], steps: list[int], errors: torch.Tensor | None, eta: float
    ) -> tuple[Any, Any]:
        """Per-tensor ``(lower, upper)``: float64 vectors (binary group or custom bound) or
        lists of floats (non-binary group with the default bound)."""
        gamma, bound = group["gamma"], self.bound
        if bound is None and errors is None:
            known: dict[int, tuple[float, float]] = {}  # once per distinct step
            pairs = [
                known.get(t) or known.setdefault(t, default_bound(t, 1.0, eta, gamma))
                for t in steps
            ]
            return [lo for lo, _ in pairs], [hi for _, hi in pairs]
        if bound is None:
            t = torch.tensor(steps, dtype=torch.float64, device=errors.device)
            lower, upper = default_bound(t, errors.to(torch.float64), eta, gamma)
            return lower, upper
        if errors is None:
            errors = torch.ones(len(steps), dtype=torch.float64)
        pairs = [bound(t, e, eta, gamma) for t, e in zip(steps, errors.unbind(), strict=True)]
        device = errors.device
        lower = torch.stack(
            [torch.as_tensor(lo, dtype=torch.float64, device=device) for lo, _ in pairs]
        )
        upper = torch.stack(
            [torch.as_tensor(hi, dtype=torch.float64, device=device) for _, hi in pairs]
        )
        return lower, upper

    def _record(self, errors: torch.Tensor, lower: Any, upper: Any) -> None:
        device = errors.device
        self._diagnostics.append(
            (
                errors.to(torch.float64),
                torch.as_tensor(lower, dtype=torch.float64, device=device),
                torch.as_tensor(upper, dtype=torch.float64, device=device),
            )
        )

    # ------------------------------------------------------------------ step
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        """One optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        self._diagnostics = []
        self._paths = {"compiled": 0, "foreach": 0, "per-tensor": 0}
        for group, params, grads, states in collect_groups(self, "BAMSProd", _MOMENTS):
            if group["foreach"]:
                for bucket in device_dtype_buckets(params, grads, states):
                    self._step_foreach(group, *bucket)
            else:
                self._step_per_tensor(group, params, grads, states)
                self._paths["per-tensor"] += len(params)
        return loss

    @property
    def implementation(self) -> str:
        """Which code ran the last step (:func:`benchmark.optim.base.implementation_name`)."""
        return implementation_name(self._paths)

    def _step_per_tensor(
        self, group: dict[str, Any], params: list, grads: list, states: list
    ) -> None:
        """Reference path: the formulas of the module docstring, one tensor at a time.

        The error and the range :math:`[l_t, u_t]` are Python floats here (reading a binary
        tensor's error is a device sync off the CPU; the foreach path avoids it), which makes
        this the cheaper path for a few tiny tensors, as in the convex task.
        """
        beta1, beta2 = group["betas"]
        eta, gamma = self._eta(group), group["gamma"]
        binary, error, bound = group["binary"], self.error, self.bound
        errs: list[float] = []
        lows: list[float] = []
        ups: list[float] = []
        for p, g, state in zip(params, grads, states, strict=True):
            t = state["step"]
            if group["maximize"]:
                g = -g
            if group["weight_decay"] != 0.0:
                g = g.add(p, alpha=group["weight_decay"])
            m, v, vmax = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
            m.lerp_(g, 1.0 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            torch.maximum(vmax, v, out=vmax)
            e = 1.0
            if binary:
                if self._needs_error(group, state):
                    raw = error(p) if callable(error) else quantization_error(p, error)
                    state["error"] = self._as_error(raw, p)
                e = float(state["error"])
            if bound is None:
                lower, upper = default_bound(t, e, eta, gamma)
            else:  # a custom bound gets e as a 0-d tensor, as in the foreach path
                e_t = state["error"] if binary else torch.ones((), dtype=torch.float64)
                lower, upper = (float(b) for b in bound(t, e_t, eta, gamma))
            if binary:
                errs.append(e)
                lows.append(lower)
                ups.append(upper)
            if group["lr"] == 0.0:
                continue
            step = vmax.sqrt().add_(group["eps"])
            step = torch.full_like(step, self._base_step(group, t)).div_(step)
            # clamp(x, lo, hi) with lo > hi gives hi: the step is the upper bound then
            step.clamp_(max(lower, 0.0), upper)
            p.addcmul_(step, m, value=-1.0)
        if errs:
            self._diagnostics.append((errs, lows, ups))  # floats: made tensors on demand

    def _step_foreach(self, group: dict[str, Any], params: list, grads: list, states: list) -> None:
        """Vectorised path: same numbers as :meth:`_step_per_tensor` (to float rounding).

        Of the tensors :meth:`_compiled_indices` picks, those of a binary group whose error
        is due this step (built-in ``error``, default ``bound``) take the compiled step with
        the error inside (:func:`benchmark.optim.fused.bamsprod_update_with_error`). Then the
        other errors, the range and the clamp bounds of every tensor (they read only ``p``);
        the other picked tensors take the compiled update with that range
        (:func:`benchmark.optim.fused.bamsprod_update`), the rest the foreach passes."""
        steps = [s["step"] for s in states]
        compiled = self._compiled_indices(params, grads) if group["lr"] != 0.0 else []
        done: set[int] = set()
        if compiled and group["binary"] and self.bound is None and self.error in _IN_GRAPH:
            todo = [i for i in compiled if self._needs_error(group, states[i])]
            done, found = self._step_compiled_with_error(group, params, grads, states, todo)
            if found is not None and len(found) == len(params):
                # every tensor took the C++ kernel with its error: the default range of the
                # diagnostics in Python floats (the same double operations as on the float64
                # vectors of _bounds: the same bits, without six tensor operations)
                eta, gamma = self._eta(group), group["gamma"]
                pairs = [default_bound(t, e, eta, gamma) for t, e in zip(steps, found, strict=True)]
                lows, ups = [lo for lo, _ in pairs], [hi for _, hi in pairs]
                self._diagnostics.append((found, lows, ups))  # floats: made tensors on demand
                self._paths["compiled"] += len(params)
                return
        errors = self._foreach_errors(group, params, states, skip=done)
        lower, upper = self._bounds(group, steps, errors, self._eta(group))
        if group["binary"]:
            self._record(errors, lower, upper)
        if len(done) == len(params):  # every tensor stepped with its error: nothing is left
            self._paths["compiled"] += len(params)
            return
        base, d_min, d_max = self._clamp_bounds(group, steps, lower, upper)
        compiled = [i for i in compiled if i not in done]
        if compiled and compile_available():
            done |= self._step_compiled(group, params, grads, states, base, d_min, d_max, compiled)
        eager = [i for i in range(len(params)) if i not in done]
        self._paths["compiled"] += len(params) - len(eager)
        self._paths["foreach"] += len(eager)
        if not eager:
            return
        bufs = scratch_buffers(self, params)  # made only when the foreach passes need them
        if len(eager) < len(params):
            params, grads, states, bufs = (
                [xs[i] for i in eager] for xs in (params, grads, states, bufs)
            )
            base, d_min, d_max = ([xs[i] for i in eager] for xs in (base, d_min, d_max))
        self._moments_foreach(group, params, grads, states)
        if group["lr"] == 0.0:
            return
        # denominator d = sqrt(vmax) + eps, clamped to [a/u, a/l]; then p -= a * m / d.
        for buf, s in zip(bufs, states, strict=True):
            torch.sqrt(s["max_exp_avg_sq"], out=buf)
        torch._foreach_add_(bufs, group["eps"])
        if isinstance(d_min[0], float):
            for buf, lo, hi in zip(bufs, d_min, d_max, strict=True):
                buf.clamp_(lo, max(lo, hi))  # one pass
        else:  # max first: if lower > upper the step is upper, as in the per-tensor path
            torch._foreach_clamp_max_(bufs, d_max)
            torch._foreach_clamp_min_(bufs, d_min)
        same_step = all(a == base[0] for a in base)
        exp_avgs = [s["exp_avg"] for s in states]
        torch._foreach_addcdiv_(
            params, exp_avgs, bufs, -base[0] if same_step else [-a for a in base]
        )

    @staticmethod
    def _moments_foreach(group: dict[str, Any], params: list, grads: list, states: list) -> None:
        """``m``, ``v`` and ``vmax`` of every tensor, one foreach pass each."""
        beta1, beta2 = group["betas"]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if group["weight_decay"] != 0.0:
            if group["maximize"]:
                torch._foreach_add_(grads, params, alpha=group["weight_decay"])
            else:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        max_sqs = [s["max_exp_avg_sq"] for s in states]
        torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
        torch._foreach_maximum_(max_sqs, exp_avg_sqs)

    def _foreach_errors(
        self, group: dict[str, Any], params: list, states: list, skip: set[int]
    ) -> torch.Tensor | None:
        """The errors of a binary group's tensors (recomputed where :meth:`_needs_error`,
        except for the indices in ``skip``, whose state already holds this step's; stored in
        the state) as one vector; ``None`` for a non-binary group."""
        if not group["binary"]:
            return None
        error = self.error
        todo = [i for i, s in enumerate(states) if i not in skip and self._needs_error(group, s)]
        if todo:
            if callable(error):
                fresh = [self._as_error(error(params[i]), params[i]) for i in todo]
            elif error == "none":
                fresh = [
                    torch.ones((), dtype=params[i].dtype, device=params[i].device) for i in todo
                ]
            else:
                todo_params = [params[i] for i in todo]
                fresh = _fast_errors(error, todo_params, scratch_buffers(self, todo_params))
            for i, e in zip(todo, fresh, strict=True):
                states[i]["error"] = e
        return torch.stack([s["error"] for s in states])

    def _clamp_bounds(
        self, group: dict[str, Any], steps: list[int], lower: Any, upper: Any
    ) -> tuple[list[float], list[Any], list[Any]]:
        """``(a_t, a_t / u_t, a_t / l_t)`` per tensor: Python floats, or 0-d tensors when the
        bounds stay on the device (:meth:`_bounds_on_device`)."""
        base = self._base_steps(group, steps)
        if isinstance(lower, list):
            d_min = [a / hi if hi > 0.0 else math.inf for a, hi in zip(base, upper, strict=True)]
            d_max = [a / lo if lo > 0.0 else math.inf for a, lo in zip(base, lower, strict=True)]
            return base, d_min, d_max
        base_t = torch.tensor(base, dtype=torch.float64, device=lower.device)
        d_min_t, d_max_t = base_t / upper, base_t / lower.clamp_min(0.0)
        if self._bounds_on_device(lower.device):
            return base, list(d_min_t.unbind()), list(d_max_t.unbind())
        return base, d_min_t.tolist(), d_max_t.tolist()  # on the CPU: no device sync

    def _all_params(self) -> list[torch.Tensor]:
        """Every tensor of the optimizer (the auto rule weighs them all against one compile)."""
        return [p for group in self.param_groups for p in group["params"]]

    def _compiled_indices(self, params: list, grads: list) -> list[int]:
        """The tensors that take the compiled update this step (:mod:`benchmark.optim.fused`):
        none unless :func:`~benchmark.optim.fused.use_fused` says so, then the eligible ones."""
        if not fused_paths.use_fused(
            self.fused, "bamsprod", self._all_params, self.fused_min_elements, self.planned_steps
        ):
            return []
        n, given = self.fused_min_elements, self._min_given
        if params and native.handles(params[0]):
            # one (device, dtype) bucket of float32 CPU tensors: fused_paths.eligible's tests,
            # the dtype and device ones already known to pass
            low = max(given or native.MIN_ELEMENTS, 1)
            return [
                i
                for i, (p, g) in enumerate(zip(params, grads, strict=True))
                if low <= p.numel() < 2**31
                and p.is_contiguous()
                and g.is_contiguous()
                and g.dtype is p.dtype
            ]
        return [
            i
            for i, p in enumerate(params)
            if fused_paths.eligible(
                p, given or (native.MIN_ELEMENTS if native.handles(p) else n), grads[i]
            )
        ]

    def _step_compiled_with_error(
        self, group: dict[str, Any], params: list, grads: list, states: list, indices: list[int]
    ) -> tuple[set[int], list[float] | None]:
        """The compiled step of ``params[i]`` for ``i`` in ``indices``, the error computed in
        the same compiled function (:func:`benchmark.optim.fused.bamsprod_update_with_error`)
        and stored in the state; returns the indices done (fewer when compiling failed) and,
        when the C++ kernel did them all, their errors as Python floats (else ``None``)."""
        beta1, beta2 = group["betas"]
        eta, gamma = self._eta(group), group["gamma"]
        done: set[int] = set()
        consts = [1.0 - beta1, beta2, 1.0 - beta2, group["eps"], group["weight_decay"]]
        if indices and native.handles(params[indices[0]]):
            # one (device, dtype) bucket: the C++ kernel takes every tensor, in one call
            kind = fused_paths.NATIVE_KIND[self.error]
            steps = [states[i]["step"] for i in indices]
            items = []
            for i, t, a in zip(indices, steps, self._base_steps(group, steps), strict=True):
                p = params[i]
                scalars = [*consts, a, eta, gamma, float(t), 0.0, 0.0]
                rows = p.shape[0] if p.dim() >= 2 else 1  # one row per output channel
                items.append((p, grads[i], states[i], scalars, kind, rows))
            errors = fused_paths.bamsprod_native_batch(items, group["maximize"])
            if errors is fused_paths.FAILED:
                return done, None
            dtype = params[indices[0]].dtype
            for i, e in zip(indices, errors, strict=True):
                # scalar_tensor: the same 0-d tensor as torch.tensor, in less than half its time
                states[i]["error"] = torch.scalar_tensor(e, dtype=dtype)
            return set(indices), errors
        for i in indices:
            p, state = params[i], states[i]
            if native.handles(p):  # the C++ kernel takes Python floats
                e = fused_paths.bamsprod_native_with_error(
                    p,
                    grads[i],
                    state,
                    consts,
                    self._base_step(group, state["step"]),
                    eta,
                    gamma,
                    state["step"],
                    self.error,
                    group["maximize"],
                )
                if e is fused_paths.FAILED:
                    break
                state["error"] = e
                done.add(i)
                continue
            c = fused_paths.bamsprod_scalars(
                beta1, beta2, group["eps"], group["weight_decay"], p.device
            )
            a = self._base_step(group, state["step"])
            s = torch.tensor([a, eta, gamma, state["step"]], dtype=torch.float64, device=p.device)
            out = fused_paths.bamsprod_update_with_error(
                p, grads[i], state, c, s, self.error, group["maximize"]
            )
            if out is fused_paths.FAILED:
                break
            state["error"] = out[0]
            done.add(i)
        return done, None

    def _step_compiled(
        self,
        group: dict[str, Any],
        params: list,
        grads: list,
        states: list,
        base: list[float],
        d_min: list[Any],
        d_max: list[Any],
        indices: list[int],
    ) -> set[int]:
        """The compiled update of ``params[i]`` for ``i`` in ``indices``; returns the indices
        done (all of them, or fewer when compiling failed)."""
        beta1, beta2 = group["betas"]
        done: set[int] = set()
        consts: dict[torch.device, torch.Tensor] = {}
        floats = [1.0 - beta1, beta2, 1.0 - beta2, group["eps"], group["weight_decay"]]
        if indices and native.handles(params[indices[0]]) and isinstance(d_min[0], float):
            # one (device, dtype) bucket: the C++ kernel takes every tensor, in one call
            items = [
                (
                    params[i],
                    grads[i],
                    states[i],
                    [*floats, base[i], 0.0, 0.0, 0.0, d_min[i], max(d_min[i], d_max[i])],
                    0,
                    1,
                )
                for i in indices
            ]
            if fused_paths.bamsprod_native_batch(items, group["maximize"]) is fused_paths.FAILED:
                return done
            return set(indices)
        for i in indices:
            p = params[i]
            if native.handles(p) and isinstance(d_min[i], float):
                hi = max(d_min[i], d_max[i])
                bounds = [base[i], 0.0, 0.0, 0.0, d_min[i], hi]
                if not fused_paths.bamsprod_native(
                    p, grads[i], states[i], floats + bounds, group["maximize"]
                ):
                    break
                done.add(i)
                continue
            c = consts.get(p.device)
            if c is None:
                c = consts[p.device] = fused_paths.bamsprod_scalars(
                    beta1, beta2, group["eps"], group["weight_decay"], p.device
                )
            lo, hi = d_min[i], d_max[i]
            if isinstance(lo, float):
                d = torch.tensor([base[i], lo, max(lo, hi)], dtype=torch.float64, device=p.device)
            else:
                a = torch.tensor(base[i], dtype=torch.float64, device=p.device)
                d = torch.stack([a, lo, torch.maximum(lo, hi)])
            if not fused_paths.bamsprod_update(p, grads[i], states[i], c, d, group["maximize"]):
                break
            done.add(i)
        return done

    def _bounds_on_device(self, device: torch.device) -> bool:
        """Keep the clamp bounds as 0-d tensors (no ``.item()`` sync) unless on the CPU."""
        forced = self.__dict__.get("_force_device_bounds")
        return device.type != "cpu" if forced is None else bool(forced)

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict[str, float]:
        """Means over the binary tensors updated at the last step: the error ``e`` and the
        range ``[lower, upper]``; ``{}`` if no binary tensor was updated."""
        if not self._diagnostics:
            return {}
        errors, lower, upper = (
            torch.cat(
                [
                    torch.as_tensor(d[k], dtype=torch.float64).reshape(-1).cpu()
                    for d in self._diagnostics
                ]
            )
            for k in range(3)
        )
        return {
            "bamsprod_error": float(errors.mean()),
            "bamsprod_lower": float(lower.mean()),
            "bamsprod_upper": float(upper.mean()),
        }
