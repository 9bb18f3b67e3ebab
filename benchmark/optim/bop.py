r"""Latent-free binary optimizers: Bop and Bop2ndOrder.

Both update binary weights :math:`w \in \{-1, +1\}` directly: when a group is added, its
tensors are set to :math:`\mathrm{sign}(W)` (``sign(0) = +1``) in place, and afterwards a weight
only ever changes by a sign flip.

**Bop** (Helwegen et al., "Latent Weights Do Not Exist", NeurIPS 2019), hyper-parameters
``threshold`` :math:`\tau` (default 1e-8) and ``gamma`` :math:`\gamma` (default 1e-4):

.. math::

    m &\leftarrow (1 - \gamma)\, m + \gamma\, g \\
    w &\leftarrow -w \quad \text{where } w \odot m > \tau

**Bop2ndOrder** (Suarez-Ramirez et al., "A Bop and Beyond", CVPRW 2021), defaults
:math:`\tau = 10^{-6}`, :math:`\gamma = 10^{-6}`, :math:`\sigma = 10^{-2}`:

.. math::

    m &\leftarrow (1 - \gamma)\, m + \gamma\, g, \qquad
    v \leftarrow (1 - \sigma)\, v + \sigma\, g^2 \\
    w &\leftarrow -w \quad \text{where } w \odot \hat m / (\sqrt{\hat v} + 10^{-10}) > \tau

with :math:`\hat m = m`, :math:`\hat v = v`, or, with ``bias_correction=True``,
:math:`\hat m = m / (1 - (1 - \gamma)^t)`, :math:`\hat v = v / (1 - (1 - \sigma)^t)`.

Each group also has an ``lr`` entry (default 1.0) that multiplies :math:`\gamma`, so that a
``torch.optim.lr_scheduler`` schedule decays the adaptivity rate (as Helwegen et al. decayed
:math:`\gamma`) instead of failing on a missing ``lr``. Both optimizers count the weights
flipped at the last step (kept as a tensor; :meth:`diagnostics` reads it).

The vectorised path (default) tests Bop2ndOrder's flip condition in the equivalent form
:math:`\sqrt{v} - w \odot m\,c_1/(\tau c_2) < -\epsilon / c_2` (:math:`c_1 = 1/(1-(1-\gamma)^t)`,
:math:`c_2 = 1/\sqrt{1-(1-\sigma)^t}`, both 1 without bias correction) to save memory passes;
the per-tensor path (``foreach=False``) follows the formula literally.
With ``fused=True`` tensors of at least 131072 elements take a compiled update instead
(:mod:`benchmark.optim.fused`: momentum, flip test, flip and count in one loop over memory).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

import benchmark.optim.fused as fused_paths
from benchmark.binary.ste import hard_sign
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


class _FlipOptimizer(Optimizer):
    """What Bop and Bop2ndOrder share: binarize on add, the step loop, flip counting."""

    _name = "Bop"
    _kind = "bop"  # the key of benchmark.optim.fused.SAVING_SECONDS_PER_ELEMENT
    _moments: tuple[str, ...] = ("exp_avg",)  # the state tensors, zeros at first

    def __init__(
        self,
        params: Iterable[Any],
        defaults: dict[str, Any],
        fused: bool | None = None,
        fused_min_elements: int | None = None,
        planned_steps: int | None = None,
    ) -> None:
        check_fused_options(self._name, fused, fused_min_elements, planned_steps)
        self.fused = fused
        self.fused_min_elements = fused_min_elements or fused_paths.MIN_ELEMENTS[self._kind]
        self._min_given = fused_min_elements  # None: the C++ kernel's threshold for Bop
        self.planned_steps = planned_steps
        self._paths = {"compiled": 0, "foreach": 0, "per-tensor": 0}
        super().__init__(params, defaults)
        self._flips: list[torch.Tensor] = []
        self._updated = 0

    def _check(self, condition: bool, message: str) -> None:
        require(self._name, condition, message)

    @torch.no_grad()
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group and set its tensors to ``sign(W)`` (``sign(0) = +1``) in place."""
        super().add_param_group(param_group)
        params = self.param_groups[-1]["params"]
        check_real_params(self._name, params)
        for p in params:
            p.copy_(hard_sign(p))

    @staticmethod
    def _flip_where(params: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        """``w <- w - 2 w * mask`` for 0/1 float masks; returns the number of flips (a tensor)."""
        torch._foreach_addcmul_(params, params, masks, value=-2.0)
        return torch.stack([mask.sum() for mask in masks]).sum()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        """One step; ``closure`` re-evaluates the model and returns the loss."""
        loss = evaluate_closure(closure)
        self._flips, self._updated = [], 0
        self._paths = {"compiled": 0, "foreach": 0, "per-tensor": 0}
        for group, params, grads, states in collect_groups(self, self._name, self._moments):
            self._updated += sum(p.numel() for p in params)
            if group["foreach"]:
                for bucket in device_dtype_buckets(params, grads, states):
                    bucket = self._step_compiled(group, *bucket)
                    self._paths["foreach"] += len(bucket[0])
                    if bucket[0]:
                        self._flips.append(self._step_foreach(group, *bucket))
            else:
                self._paths["per-tensor"] += len(params)
                for p, g, state in zip(params, grads, states, strict=True):
                    self._flips.append(self._step_tensor(group, p, g, state))
        return loss

    @property
    def implementation(self) -> str:
        """Which code ran the last step (:func:`benchmark.optim.base.implementation_name`)."""
        return implementation_name(self._paths)

    def _step_compiled(
        self, group: dict, params: list, grads: list, states: list
    ) -> tuple[list, list, list]:
        """The compiled update (:mod:`benchmark.optim.fused`) of the eligible tensors when
        :func:`~benchmark.optim.fused.use_fused` says so; returns the tensors left for the
        foreach path (all of them when none was compiled or compiling failed)."""
        n = self.fused_min_elements

        def every() -> list[torch.Tensor]:
            return [p for group in self.param_groups for p in group["params"]]

        if not fused_paths.use_fused(self.fused, self._kind, every, n, self.planned_steps):
            return params, grads, states
        left: tuple[list, list, list] = ([], [], [])
        failed = False
        for p, g, state in zip(params, grads, states, strict=True):
            flips = fused_paths.FAILED
            if not failed and fused_paths.eligible(p, self._threshold(p, n), g):
                flips = self._compiled_tensor(group, p, g, state)
                failed = flips is fused_paths.FAILED
            if flips is fused_paths.FAILED:
                for xs, x in zip(left, (p, g, state), strict=True):
                    xs.append(x)
            else:
                self._flips.append(flips)
                self._paths["compiled"] += 1
        return left

    def _compiled_tensor(self, group: dict, p: torch.Tensor, g: torch.Tensor, state: dict) -> Any:
        raise NotImplementedError

    def _threshold(self, p: torch.Tensor, n: int) -> int:
        """The smallest tensor compiled: ``fused_min_elements`` if given, else
        :data:`benchmark.optim.native.MIN_ELEMENTS` for the C++ kernel's tensors (Bop's,
        float32 on the CPU) and ``n`` for torch.compile's."""
        if self._min_given is None and self._kind == "bop" and native.handles(p):
            return native.MIN_ELEMENTS
        return n

    def _step_foreach(self, group: dict, params: list, grads: list, states: list) -> torch.Tensor:
        raise NotImplementedError

    def _step_tensor(
        self, group: dict, p: torch.Tensor, g: torch.Tensor, state: dict
    ) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_flips(self) -> int:
        """Number of weights flipped at the last step."""
        return int(sum(int(f) for f in self._flips))  # 0-d tensors, or ints (C++ kernel)

    def diagnostics(self) -> dict[str, float]:
        """``{"flips": count, "flip_fraction": count / weights updated}`` for the last step."""
        if not self._updated:
            return {}
        flips = float(self.last_flips)
        return {"flips": flips, "flip_fraction": flips / self._updated}


class Bop(_FlipOptimizer):
    r"""Bop (Helwegen et al. 2019): flip :math:`w` where :math:`w \odot m > \tau`.

    Args:
        params: binary tensors (set to sign(W) here) or parameter groups.
        threshold: :math:`\tau \ge 0` (default 1e-8).
        gamma: adaptivity rate :math:`\gamma \in (0, 1]` (default 1e-4).
        lr: multiplier of :math:`\gamma` (default 1.0), the handle for LR schedulers.
        foreach: vectorised path (default) or per-tensor path; same numbers.
        fused, fused_min_elements, planned_steps: the compiled update for large tensors, as
            :class:`benchmark.optim.BAMSProd`'s (:mod:`benchmark.optim.fused`).
    """

    _name = "Bop"

    def __init__(
        self,
        params: Iterable[Any],
        threshold: float = 1e-8,
        gamma: float = 1e-4,
        *,
        lr: float = 1.0,
        foreach: bool = True,
        fused: bool | None = None,
        fused_min_elements: int | None = None,
        planned_steps: int | None = None,
    ) -> None:
        self._check(threshold >= 0.0, f"threshold={threshold!r} must be >= 0")
        self._check(0.0 < gamma <= 1.0, f"gamma={gamma!r} must be in (0, 1]")
        self._check(lr >= 0.0, f"lr={lr!r} must be >= 0")
        defaults = {"threshold": threshold, "gamma": gamma, "lr": lr, "foreach": foreach}
        super().__init__(params, defaults, fused, fused_min_elements, planned_steps)

    def _compiled_tensor(self, group: dict, p: torch.Tensor, g: torch.Tensor, state: dict) -> Any:
        rate = group["gamma"] * group["lr"]
        return fused_paths.bop_update(p, g, state["exp_avg"], rate, group["threshold"])

    def _step_tensor(
        self, group: dict, p: torch.Tensor, g: torch.Tensor, state: dict
    ) -> torch.Tensor:
        m = state["exp_avg"]
        m.lerp_(g, group["gamma"] * group["lr"])
        flip = p * m > group["threshold"]
        p.copy_(torch.where(flip, -p, p))
        return flip.sum()

    def _step_foreach(self, group: dict, params: list, grads: list, states: list) -> torch.Tensor:
        exp_avgs = [s["exp_avg"] for s in states]
        torch._foreach_lerp_(exp_avgs, grads, group["gamma"] * group["lr"])
        masks = scratch_buffers(self, params)
        for p, m, mask in zip(params, exp_avgs, masks, strict=True):
            torch.mul(p, m, out=mask).gt_(group["threshold"])
        return self._flip_where(params, masks)


class Bop2ndOrder(_FlipOptimizer):
    r"""Bop2ndOrder (Suarez-Ramirez et al. 2021): flip where
    :math:`w \odot \hat m / (\sqrt{\hat v} + \epsilon) > \tau`.

    Args:
        params: binary tensors (set to sign(W) here) or parameter groups.
        threshold: :math:`\tau \ge 0` (default 1e-6).
        gamma: first-moment rate :math:`\gamma \in (0, 1]` (default 1e-6).
        sigma: second-moment rate :math:`\sigma \in (0, 1]` (default 1e-2).
        bias_correction: divide by :math:`1 - (1-\gamma)^t` and :math:`1 - (1-\sigma)^t`.
        eps: :math:`\epsilon` (default 1e-10), > 0.
        lr: multiplier of :math:`\gamma` (default 1.0), the handle for LR schedulers.
        foreach: vectorised path (default) or per-tensor path; same numbers.
        fused, fused_min_elements, planned_steps: the compiled update for large tensors, as
            :class:`benchmark.optim.BAMSProd`'s (:mod:`benchmark.optim.fused`).
    """

    _name = "Bop2ndOrder"
    _kind = "bop2nd"
    _moments = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Any],
        threshold: float = 1e-6,
        gamma: float = 1e-6,
        sigma: float = 1e-2,
        bias_correction: bool = False,
        eps: float = 1e-10,
        *,
        lr: float = 1.0,
        foreach: bool = True,
        fused: bool | None = None,
        fused_min_elements: int | None = None,
        planned_steps: int | None = None,
    ) -> None:
        self._check(threshold >= 0.0, f"threshold={threshold!r} must be >= 0")
        self._check(0.0 < gamma <= 1.0, f"gamma={gamma!r} must be in (0, 1]")
        self._check(0.0 < sigma <= 1.0, f"sigma={sigma!r} must be in (0, 1]")
        self._check(eps > 0.0, f"eps={eps!r} must be > 0")
        self._check(lr >= 0.0, f"lr={lr!r} must be >= 0")
        defaults = {
            "threshold": threshold,
            "gamma": gamma,
            "sigma": sigma,
            "bias_correction": bool(bias_correction),
            "eps": eps,
            "lr": lr,
            "foreach": foreach,
        }
        super().__init__(params, defaults, fused, fused_min_elements, planned_steps)

    @staticmethod
    def _corrections(group: dict, gamma: float, t: int) -> tuple[float, float]:
        """``(1 - (1-gamma)^t, 1 - (1-sigma)^t)``, or ``(1, 1)`` without bias correction."""
        if not group["bias_correction"]:
            return 1.0, 1.0
        return 1.0 - (1.0 - gamma) ** t, 1.0 - (1.0 - group["sigma"]) ** t

    def _step_tensor(
        self, group: dict, p: torch.Tensor, g: torch.Tensor, state: dict
    ) -> torch.Tensor:
        gamma, sigma = group["gamma"] * group["lr"], group["sigma"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, gamma)
        v.mul_(1.0 - sigma).addcmul_(g, g, value=sigma)
        bc1, bc2 = self._corrections(group, gamma, state["step"])
        ratio = p * (m / bc1) / ((v / bc2).sqrt() + group["eps"])
        flip = ratio > group["threshold"]
        p.copy_(torch.where(flip, -p, p))
        return flip.sum()

    def _flip_test(self, group: dict, gamma: float, t: int) -> tuple[float | None, float]:
        r"""``(coeff, limit)`` of the flip test :math:`\sqrt v + c\,w m < \ell` at step ``t``
        (``coeff=None`` for ``tau = 0``: flip iff ``w m > 0``)."""
        tau = group["threshold"]
        if tau == 0.0:
            return None, 0.0
        bc1, bc2 = self._corrections(group, gamma, t)
        c1, c2 = 1.0 / bc1, 1.0 / math.sqrt(bc2)
        return -c1 / (tau * c2), -group["eps"] / c2

    def _compiled_tensor(self, group: dict, p: torch.Tensor, g: torch.Tensor, state: dict) -> Any:
        gamma = group["gamma"] * group["lr"]
        coeff, limit = self._flip_test(group, gamma, state["step"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        return fused_paths.bop2nd_update(p, g, m, v, gamma, group["sigma"], coeff, limit)

    def _step_foreach(self, group: dict, params: list, grads: list, states: list) -> torch.Tensor:
        gamma, sigma, tau = group["gamma"] * group["lr"], group["sigma"], group["threshold"]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        torch._foreach_lerp_(exp_avgs, grads, gamma)
        torch._foreach_mul_(exp_avg_sqs, 1.0 - sigma)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=sigma)
        masks = scratch_buffers(self, params)
        if tau == 0.0:  # the denominator is positive: flip iff w * m > 0
            for p, m, mask in zip(params, exp_avgs, masks, strict=True):
                torch.mul(p, m, out=mask).gt_(0.0)
            return self._flip_where(params, masks)
        # w m c1 / (sqrt(v) c2 + eps) > tau  <=>  sqrt(v) - w m c1 / (tau c2) < -eps / c2
        coeffs, limits = [], []
        for s in states:
            coeff, limit = self._flip_test(group, gamma, s["step"])
            coeffs.append(coeff)
            limits.append(limit)
        for mask, v in zip(masks, exp_avg_sqs, strict=True):
            torch.sqrt(v, out=mask)
        same = all(c == coeffs[0] for c in coeffs)
        torch._foreach_addcmul_(masks, params, exp_avgs, coeffs[0] if same else coeffs)
        for mask, limit in zip(masks, limits, strict=True):
            mask.lt_(limit)
        return self._flip_where(params, masks)
