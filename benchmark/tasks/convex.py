r"""The convex counterexample (Reddi, Kale & Kumar, ICLR 2018), as a benchmark task.

**Problem** (docs/convex.md, Reddi et al. Theorem 1). Domain
:math:`x \in [-1, 1]` (projection by clipping after every step), constant :math:`C > 2`,
linear losses at steps :math:`t = 1, 2, \dots`

.. math::  f_t(x) = c_t\,x, \qquad c_t = C \text{ if } t \bmod 3 = 1, \text{ else } -1.

Over a period the sum is :math:`(C - 2)\,x`, so the best fixed decision is :math:`x^* = -1`.
Regret after :math:`T` steps, against the best fixed point in hindsight:

.. math::  R_T = \sum_{t \le T} c_t\,p_t - \min_{x \in [-1, 1]} x \sum_{t \le T} c_t
              = \sum_{t \le T} c_t\,p_t + \Big|\sum_{t \le T} c_t\Big|

where :math:`p_t` is the point *played* at step :math:`t`. The task records :math:`R_t / t`.

**Forms.**

- ``real``: the learner plays its iterate, :math:`p_t = x_t`; gradient :math:`c_t`.
- ``binary``: the learner keeps a latent :math:`x_t` in a binary layer (:class:`LatentScalar`)
  and plays :math:`p_t = b_t = \mathrm{sign}(x_t)` (``sign(0) = +1``); the gradient reaches
  :math:`x_t` through the clipped straight-through estimator of
  :func:`benchmark.binary.sign` (``"clipped"``): :math:`g_t = c_t\,\mathbb{1}\{|x_t| \le 1\}`.
  The optimizer sees the tensor as a binary latent weight (Bop flips it, BAMSProd measures its
  quantization error).
- ``stochastic`` (Reddi et al. Theorem 3): real-valued play, :math:`c_t = C` with probability
  :math:`p = (1 + \delta) / (C + 1)`, else :math:`-1`, drawn i.i.d. from the run's seed, so
  :math:`\mathbb{E}[c_t] = \delta > 0` and the optimum is still :math:`-1`.

**Step size.** ``lr_schedule: constant`` keeps each group's ``lr``; ``inv_sqrt`` sets
:math:`\mathrm{lr}_t = \mathrm{lr} / \sqrt{t}` before step :math:`t` (Reddi et al.'s
:math:`\alpha_t = \alpha / \sqrt t`), in every parameter group that has an ``lr`` (like a
``LambdaLR`` scheduler: AdaBound's and BAMSProd's final step size follow it; Bop reads its
``lr`` as a multiplier of ``gamma``).

**Verdict** of one run (``summary.converged``): 1.0 iff all three hold

1. :math:`R_T / T \le` ``regret_tol`` (default 0.05);
2. :math:`R_T / T \le R_{T_0} / T_0` with :math:`T_0 = \lceil T / 10 \rceil` (not rising over
   the last decade of steps);
3. the mean played point over the last 10% of steps is :math:`\le -1 +` ``x_tol`` (default 0.5).

**Speed.** A run is one ``(optimizer, form, seed)``; :func:`run_convex_batch` runs every
run of a batch through *one* optimizer object, one ``step()`` per time step for all of them
(:func:`convex_batches`: same optimizer, ``steps``, ``x0`` and schedule, and hyper-parameters
that differ at most in per-group options). Runs with equal hyper-parameters are instances of
one :class:`ConvexLearner`: the real-valued ones are entries of one vector (the registry
optimizers are elementwise on it); a binary instance is a one-element tensor of its own (so a
per-tensor quantity such as BAMSProd's error is never shared), or, for elementwise optimizers
that ignore the binary flag, one more entry of that vector (:func:`can_pack`). Each distinct
set of hyper-parameters gets its own parameter groups in the object
(:func:`benchmark.optim.make_multipart_optimizer`), and the groups run the optimizers'
per-tensor kernels (:func:`use_per_tensor_kernels`). Each run's numbers equal its solo run's
(tested). :func:`run_convex` is a batch of one. The per-step cost is the optimizer's
``step()`` plus a few cheap operations: no autograd (the STE gradient is a float expression,
tested against autograd through :func:`benchmark.binary.sign`), iterates and gradients read
and written through numpy views, regret computed afterwards, vectorised over time.
Everything is float64.

**Size.** About 500 lines, kept in one module on purpose: the problem's math, its learners
and the batched simulation share one invariant (each run of a batch gives its solo run's
numbers), which is easier to check, and test, in one place. The suite section's schema lives
in ``benchmark/suite/convex_schema.py`` and the Task wrapper in ``convex_task.py``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from benchmark.binary.layers import BinaryLayer
from benchmark.binary.ste import sign
from benchmark.determinism import torch_threads
from benchmark.errors import BnnBenchError
from benchmark.records import RunRecord, SpecBase, canonical_json

# the suite section (schema, defaults, entry checks) is part of the suite schema; re-exported
from benchmark.suite.convex_schema import DEFAULT_OPTIMIZERS as DEFAULT_OPTIMIZERS
from benchmark.suite.convex_schema import FORMS as FORMS
from benchmark.suite.convex_schema import REDDI as REDDI
from benchmark.suite.convex_schema import ConvexOptimizer as ConvexOptimizer
from benchmark.suite.convex_schema import (
    ConvexSection,
    Form,
    LrScheduleName,
    resolve_hparams,
)

ESTIMATOR = "clipped"
TAIL_FRACTION = 0.1
"""The verdict's tail: the last 10% of steps; its early point is T / 10."""


# --------------------------------------------------------------------------------------
# Run spec
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvexRunSpec(SpecBase):
    """One convex run: ``(optimizer, form, seed)`` and everything that sets its numbers.

    ``hparams`` are resolved (``beta2`` a number); ``C`` is the form's constant; ``delta`` is
    ``None`` for the deterministic forms, whose ``seed`` is always 0 (nothing is random).
    """

    optimizer: str
    optimizer_label: str
    form: Form
    hparams: dict[str, Any] = field(default_factory=dict)
    C: float = 3.0
    delta: float | None = None
    steps: int = 100_000
    seed: int = 0
    x0: float = 1.0
    lr_schedule: LrScheduleName = "inv_sqrt"
    checkpoints: int = 200
    regret_tol: float = 0.05
    x_tol: float = 0.5
    task: Literal["convex"] = "convex"

    def label(self) -> str:
        """Short human-readable label for progress lines."""
        return f"convex/{self.form}/{self.optimizer_label}/seed{self.seed}"

    @property
    def batch_key(self) -> str:
        """Runs with equal keys share one optimizer object (see :func:`run_convex_batch`): the
        same optimizer, ``steps``, ``x0`` and schedule, and equal hyper-parameters except those
        a registered latent-weight optimizer keeps per parameter group (so the forms of an
        entry, whose ``beta2`` follows each form's C, share one object, as do entries that
        differ only in such options)."""
        from benchmark.optim import OPTIMIZERS

        spec = OPTIMIZERS.get(self.optimizer)
        if spec is not None and spec.kind == "latent":
            shared = {k: v for k, v in self.hparams.items() if k in spec.object_hparams}
        else:
            shared = self.hparams
        return canonical_json([self.optimizer, shared, self.steps, self.x0, self.lr_schedule])


def expand_convex(section: ConvexSection) -> list[ConvexRunSpec]:
    """One spec per (optimizer entry, form, seed); deterministic forms run once (seed 0)."""
    specs: list[ConvexRunSpec] = []
    for entry in section.optimizers:
        for form in section.optimizer_forms(entry):
            C = section.form_C(form)
            stochastic = form == "stochastic"
            for seed in section.seeds if stochastic else [0]:
                specs.append(
                    ConvexRunSpec(
                        optimizer=entry.name,
                        optimizer_label=entry.display,
                        form=form,  # type: ignore[arg-type]
                        hparams=resolve_hparams(entry.hparams, C),
                        C=float(C),
                        delta=float(section.delta) if stochastic else None,
                        steps=section.steps,
                        seed=seed,
                        x0=float(section.x0),
                        lr_schedule=section.lr_schedule,
                        checkpoints=section.checkpoints,
                        regret_tol=float(section.regret_tol),
                        x_tol=float(section.x_tol),
                    )
                )
    return specs


def convex_batches(specs: Sequence[ConvexRunSpec]) -> list[list[ConvexRunSpec]]:
    """Group ``specs`` into batches that :func:`run_convex_batch` can run together, keeping
    first-seen order."""
    groups: dict[str, list[ConvexRunSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.batch_key, []).append(spec)
    return list(groups.values())


def batch_cost(batch: Sequence[ConvexRunSpec]) -> int:
    """A relative cost estimate of :func:`run_convex_batch` on ``batch``: steps x the tensors
    the optimizer steps through (per set of hyper-parameters, the real-valued vector plus each
    binary instance that cannot be packed into it), the term that dominates each step."""
    if not batch:
        return 0
    pack = can_pack(batch[0].optimizer)
    tensors = 0
    for group in split_by_hparams(batch):
        n_binary = sum(s.form == "binary" for s in group)
        n_real = len(group) - n_binary
        tensors += (1 if n_real or (pack and n_binary) else 0) + (0 if pack else n_binary)
    return batch[0].steps * tensors


# --------------------------------------------------------------------------------------
# Problem math (numpy, vectorised over time)
# --------------------------------------------------------------------------------------
def loss_coefficients(
    form: str, C: float, steps: int, delta: float | None = None, seed: int = 0
) -> np.ndarray:
    """The slopes :math:`c_1, \\dots, c_T` of :math:`f_t(x) = c_t x` (float64, length T)."""
    if form == "stochastic":
        if delta is None:
            raise BnnBenchError("convex: the stochastic form needs delta")
        p = (1.0 + delta) / (C + 1.0)
        draws = np.random.default_rng(seed).random(steps)
        return np.where(draws < p, C, -1.0)
    t = np.arange(1, steps + 1)
    return np.where(t % 3 == 1, C, -1.0)


def average_regret(coefs: np.ndarray, played: np.ndarray) -> np.ndarray:
    """:math:`R_t / t` for every :math:`t` (axis 0 is time; further axes are instances)."""
    cum_loss = np.cumsum(coefs * played, axis=0)
    best = -np.abs(np.cumsum(coefs, axis=0))
    t = np.arange(1, coefs.shape[0] + 1, dtype=np.float64).reshape(-1, *([1] * (coefs.ndim - 1)))
    return (cum_loss - best) / t


def checkpoint_steps(steps: int, count: int) -> np.ndarray:
    """About ``count`` log-spaced steps in ``[1, steps]`` (distinct integers, both ends in)."""
    points = np.unique(np.round(np.geomspace(1, steps, count)).astype(np.int64))
    return np.union1d(points, [1, steps])


def verdict(avg_regret: np.ndarray, played: np.ndarray, regret_tol: float, x_tol: float) -> dict:
    """The run's verdict numbers from its full ``R_t / t`` and played-point series (1-d)."""
    steps = avg_regret.shape[0]
    early_t = max(1, math.ceil(steps * TAIL_FRACTION))
    tail = played[steps - max(1, int(steps * TAIL_FRACTION)) :]
    final, early = float(avg_regret[-1]), float(avg_regret[early_t - 1])
    tail_played = float(np.mean(tail))
    converged = final <= regret_tol and final <= early and tail_played <= -1.0 + x_tol
    return {
        "avg_regret": final,
        "avg_regret_early": early,
        "tail_played": tail_played,
        "converged": 1.0 if converged else 0.0,
    }


# --------------------------------------------------------------------------------------
# Learners
# --------------------------------------------------------------------------------------
class RealPoint(nn.Module):
    """Real-valued iterates of ``n`` independent instances: ``weight`` of shape ``(n,)``."""

    def __init__(self, n: int, x0: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((n,), float(x0), dtype=torch.float64))

    def forward(self) -> torch.Tensor:
        return self.weight


class LatentScalar(BinaryLayer, nn.Module):
    """A binary layer holding latent iterates ``weight`` of shape ``(n,)``; it plays
    ``sign(weight)`` with the clipped STE. Declared binary, so the registry routes it as a
    binary latent weight (Bop flips it; BAMSProd measures its quantization error)."""

    def __init__(self, n: int = 1, x0: float = 1.0, estimator: str = ESTIMATOR) -> None:
        nn.Module.__init__(self)
        self.weight = nn.Parameter(torch.full((n,), float(x0), dtype=torch.float64))
        self.scale = False
        self.weight_estimator = estimator
        self.input_estimator = None

    def forward(self) -> torch.Tensor:
        return sign(self.weight, self.weight_estimator)


def binary_gradient(x: float, coef: float) -> float:
    """:math:`\\partial f_t(\\mathrm{sign}(x)) / \\partial x` under the clipped STE, for one
    instance: ``coef * 1{|x| <= 1}``, on Python floats, without autograd (equals autograd
    through ``benchmark.binary.sign(x, "clipped")``; tested)."""
    return coef if -1.0 <= x <= 1.0 else 0.0


class ConvexLearner(nn.Module):
    """The instances of one set of hyper-parameters: ``real``, one :class:`RealPoint` of the
    real-valued instances (or None), and ``binary``, one :class:`LatentScalar` per binary
    instance (a tensor of its own, declared binary: Bop flips it, BAMSProd measures its error).

    ``pack=True`` puts the binary instances at the end of the ``real`` vector instead (``n_packed``
    of them), for optimizers whose update is elementwise and ignores the binary flag
    (:attr:`benchmark.optim.OptimizerSpec.elementwise`): their numbers are the same, and one
    tensor costs less per step than several.
    """

    def __init__(self, n_real: int, n_binary: int, x0: float, pack: bool = False) -> None:
        super().__init__()
        n_vector = n_real + (n_binary if pack else 0)
        self.real = RealPoint(n_vector, x0) if n_vector else None
        self.n_packed = n_binary if pack else 0
        self.binary = nn.ModuleList(LatentScalar(1, x0) for _ in range(0 if pack else n_binary))

    def slots(self) -> list[tuple[torch.Tensor, list[int]]]:
        """``(tensor, positions of binary instances in it)``, in column order."""
        out: list[tuple[torch.Tensor, list[int]]] = []
        if self.real is not None:
            n = self.real.weight.numel()
            out.append((self.real.weight, list(range(n - self.n_packed, n))))
        out += [(m.weight, [0]) for m in self.binary]
        return out


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------
def use_per_tensor_kernels(optimizer: Any) -> None:
    """Switch every parameter group that has a ``foreach`` option to the per-tensor
    implementation (``foreach=False``: torch.optim's, pytorch_optimizer's and bnnbench's
    documented equivalent of the vectorised path). On one-element tensors it is the cheaper
    one: the ``torch._foreach_*`` kernels cost more to launch than they save. torch's
    ``fused=True`` kernels (the registry's Adam/AdamW/SGD, issue 21) are switched off too:
    they round a vector's elements differently from lone scalars, which packing forbids."""
    for group in optimizer.param_groups:
        if "foreach" in group:
            group["foreach"] = False
        if group.get("fused"):
            group["fused"] = False


def run_convex(spec: ConvexRunSpec) -> RunRecord:
    """Run one convex spec (a batch of one; see :func:`run_convex_batch`)."""
    return run_convex_batch([spec])[0]


@torch.no_grad()
def _simulate(
    optimizer: Any, learners: Sequence[ConvexLearner], coefs: np.ndarray, steps: int, schedule: str
) -> tuple[np.ndarray, np.ndarray]:
    """The online loop over every instance of ``learners`` (per learner: its real instances,
    then its binary ones; learners in order; see :meth:`ConvexLearner.slots`).

    ``coefs`` is ``(T, n)`` in that column order. Returns ``(xs, final)``: ``xs[t-1]`` holds
    the iterates played at step ``t`` (before its update), ``final`` the iterates after step
    ``T``. Iterates and gradients are read and written through numpy views of the parameter
    and gradient storage (cheaper than torch ops on one-element tensors); the optimizers update
    in place, which is checked at the end.
    """
    params: list[torch.Tensor] = []
    # per tensor: its columns, iterate and gradient views, and its binary instances as
    # (position in the tensor, column)
    slots: list[tuple[slice, np.ndarray, np.ndarray, list[tuple[int, int]]]] = []
    for learner in learners:
        for w, binary in learner.slots():
            w.grad = torch.zeros_like(w)
            start = sum(p.numel() for p in params)
            params.append(w)
            columns = slice(start, start + w.numel())
            binaries = [(k, start + k) for k in binary]
            slots.append((columns, w.detach().numpy(), w.grad.numpy(), binaries))
    pointers = [p.data_ptr() for p in params]
    xs = np.empty((steps, sum(p.numel() for p in params)))
    groups = [g for g in optimizer.param_groups if "lr" in g]
    bases = [g["lr"] for g in groups]
    scale = (1.0 / np.sqrt(np.arange(1, steps + 1, dtype=np.float64))).tolist()
    inv_sqrt = schedule == "inv_sqrt"
    step = optimizer.step
    for t in range(steps):
        row, c = xs[t], coefs[t]
        for columns, x, g, binaries in slots:
            row[columns] = x
            g[:] = c[columns]
            for k, j in binaries:  # clipped STE for the binary instances
                g[k] = binary_gradient(x[k], c[j])
        if inv_sqrt:
            s = scale[t]
            for g, base in zip(groups, bases, strict=True):
                g["lr"] = base * s
        step()
        for p in params:
            p.clamp_(-1.0, 1.0)
    if inv_sqrt:
        for g, base in zip(groups, bases, strict=True):
            g["lr"] = base
    if [p.data_ptr() for p in params] != pointers:
        raise BnnBenchError("convex: the optimizer replaced a parameter's storage (not in place)")
    final = np.concatenate([p.detach().numpy().copy() for p in params]) if params else np.empty(0)
    return xs, final


def can_pack(optimizer: str) -> bool:
    """Whether binary instances may share the real-valued vector under ``optimizer``: a
    registered latent-weight optimizer whose update is elementwise and ignores the binary flag
    (the numbers are then those of separate one-element tensors; tested)."""
    from benchmark.optim import OPTIMIZERS

    spec = OPTIMIZERS.get(optimizer)
    return (
        spec is not None
        and spec.kind == "latent"
        and spec.elementwise
        and not spec.reads_binary_flag
    )


def split_by_hparams(specs: Sequence[ConvexRunSpec]) -> list[list[ConvexRunSpec]]:
    """``specs`` grouped by equal hyper-parameters, in first-seen order."""
    groups: dict[str, list[ConvexRunSpec]] = {}
    for spec in specs:
        groups.setdefault(canonical_json(spec.hparams), []).append(spec)
    return list(groups.values())


def run_convex_batch(
    specs: Sequence[ConvexRunSpec], *, per_tensor: bool = True, pack: bool | None = None
) -> list[RunRecord]:
    """Run ``specs`` (equal :attr:`ConvexRunSpec.batch_key`) through one optimizer object and
    return one record per spec, in order. Each run's numbers are those of running it alone:
    runs with equal hyper-parameters are instances of one learner (the math is elementwise per
    instance; binary instances are separate tensors unless packed), each distinct set of
    hyper-parameters
    gets its own learner and parameter groups
    (:func:`benchmark.optim.make_multipart_optimizer`). ``per_tensor`` selects the
    optimizers' per-tensor kernels (see :func:`use_per_tensor_kernels`); ``False`` keeps the
    registry's vectorised default. ``pack`` puts binary instances into the real-valued vector
    (:class:`ConvexLearner`); ``None``: when the optimizer allows it (:func:`can_pack`)."""
    from benchmark.optim import make_multipart_optimizer

    if not specs:
        return []
    first = specs[0]
    for spec in specs:
        if spec.batch_key != first.batch_key:
            raise BnnBenchError(
                f"convex: '{spec.label()}' cannot share a batch with '{first.label()}' "
                "(optimizer, object-level hparams, steps, x0 and lr_schedule must be equal)"
            )
    started = time.time()
    t0 = time.perf_counter()
    steps = first.steps
    if pack is None:
        pack = can_pack(first.optimizer)
    parts: list[tuple[ConvexLearner, dict[str, Any]]] = []
    ordered: list[ConvexRunSpec] = []
    for group in split_by_hparams(specs):
        real_specs = [s for s in group if s.form != "binary"]
        bin_specs = [s for s in group if s.form == "binary"]
        learner = ConvexLearner(len(real_specs), len(bin_specs), first.x0, pack=pack)
        parts.append((learner, group[0].hparams))
        ordered += real_specs + bin_specs
    coefs = np.stack(
        [loss_coefficients(s.form, s.C, steps, s.delta, s.seed) for s in ordered], axis=1
    )
    optimizer = make_multipart_optimizer(first.optimizer, parts)
    if per_tensor:
        use_per_tensor_kernels(optimizer)
    with torch_threads(1):  # one-element tensors: the protocol's one thread (determinism.py)
        xs, final = _simulate(optimizer, [learner for learner, _ in parts], coefs, steps,
                              first.lr_schedule)  # fmt: skip
    seconds = time.perf_counter() - t0
    finished = time.time()
    records: dict[int, RunRecord] = {}
    for j, spec in enumerate(ordered):
        records[id(spec)] = _record(
            spec, xs[:, j], coefs[:, j], float(final[j]), spec.form == "binary",
            seconds / len(specs), started, finished,
        )  # fmt: skip
    return [records[id(s)] for s in specs]


def _played(x: np.ndarray, binary: bool) -> np.ndarray:
    return np.where(x >= 0.0, 1.0, -1.0) if binary else x


def _record(
    spec: ConvexRunSpec, x: np.ndarray, coefs: np.ndarray, final_x: float, binary: bool,
    seconds: float, started: float, finished: float,
) -> RunRecord:  # fmt: skip
    """The record of one instance from its trajectory ``x`` (played at steps 1..T)."""
    played = _played(x, binary)
    avg = average_regret(coefs, played)
    summary = verdict(avg, played, spec.regret_tol, spec.x_tol)
    final_played = float(_played(np.array([final_x]), binary)[0])
    summary = {"final_x": final_x, "final_played": final_played, **summary}
    status, message = "completed", ""
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size or not math.isfinite(final_x):
        status = "diverged"
        at = int(bad[0]) + 1 if bad.size else spec.steps + 1
        message = f"x became non-finite at step {at}"
        summary["converged"] = 0.0
    record = RunRecord(
        run_id=spec.run_id,
        task="convex",
        spec={**spec.to_dict(), "label": spec.label()},
        status=status,  # type: ignore[arg-type]
        started_at=started,
        finished_at=finished,
        train_seconds=seconds,
        steps=spec.steps,
        message=message,
        summary=summary,
    )
    for t in checkpoint_steps(spec.steps, spec.checkpoints):
        i = int(t) - 1
        record.add(int(t), 0.0, "", "x", float(x[i]))
        record.add(int(t), 0.0, "", "played", float(played[i]))
        record.add(int(t), 0.0, "", "avg_regret", float(avg[i]))
    return record
