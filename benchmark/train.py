r"""One training run: a pure function of its :class:`~benchmark.records.RunSpec`.

``train(spec)`` seeds everything, builds the dataset, model and optimizer, trains for
``spec.epochs`` epochs and evaluates ``spec.evals_per_epoch`` times per epoch (plus once
before the first step, and after each step of ``spec.eval_schedule``,
:func:`schedule_steps`). Each evaluation records, as tidy rows of a
:class:`~benchmark.records.RunRecord`:

- ``loss``/``accuracy`` on ``val`` and ``test`` (full passes, ``model.eval()``), and on
  ``train`` as the mean over the training batches since the previous evaluation (a full
  pass over the training set would double the cost of a run; the running mean is the
  standard training curve);
- ``lr`` (the step size of the first param group: ``lr``, or ``gamma`` for Bop-type groups);
- BNN diagnostics (``spec.diagnostics``): ``flip_rate`` (fraction of binary weights whose
  sign changed since the previous evaluation), ``quantization_error`` (``xnor_l1``),
  ``saturation`` (fraction of latent weights with :math:`|w| \ge` the clip bound), each per
  layer (``name/<layer>``) and overall, plus what the optimizer reports
  (:func:`benchmark.optim.optimizer_diagnostics`: BAMSProd's mean error and clamp range,
  Bop's flips);
- ``train_seconds``/``eval_seconds``: cumulative wall time, training and evaluation apart.

**Divergence** (:func:`divergence_limit`; docs/protocol.md). A run ends with status
``diverged``, its curve so far kept, when

- its training loss is not finite, or exceeds :data:`DIVERGENCE_FACTOR` (100) times the larger
  of its first batch's loss and :math:`\ln C` (the loss of a uniform guess over ``C``
  classes): a blow-up to 1e32 at chance accuracy is a divergence, not a result;
- the optimizer's step overflows (torch refuses a step size beyond float range);
- an evaluation gives a non-finite loss (the last step blew the weights up).

A diverged run keeps its last measured accuracy, scores 0 as a tuning trial, and never
reaches a convergence target (report/summary.py).
Latent clipping (``spec.clip_latent``) is applied after every step of every latent-weight
optimizer, identically; latent-free optimizers (Bop, Bop2ndOrder) hold +-1 weights and are
not clipped.
"""

from __future__ import annotations

import functools
import math
import random
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.binary import (
    FlipTracker,
    binary_named_parameters,
    clip_latent_,
    quantization_error,
    saturation,
)
from benchmark.determinism import deterministic_algorithms, torch_threads
from benchmark.errors import BnnBenchError
from benchmark.records import RunRecord, RunSpec, canonical_json

EVAL_BATCH_SIZE = 1024
#: a training loss above this multiple of the run's reference loss is a divergence
DIVERGENCE_FACTOR = 100.0


def divergence_limit(first_loss: float, num_classes: int) -> float:
    r"""The training loss above which a run has diverged:
    :math:`\text{DIVERGENCE\_FACTOR} \cdot \max(L_1, \ln C)`, with :math:`L_1` the first
    batch's loss and :math:`\ln C` the cross-entropy of a uniform guess. Taking the larger
    keeps the rule meaningful for networks whose initial logits are large (unscaled binary
    layers start far above :math:`\ln C`) and for ones that start near zero loss."""
    return DIVERGENCE_FACTOR * max(first_loss, math.log(max(num_classes, 2)))


def is_overflow(exc: BaseException) -> bool:
    """True for the errors torch raises when a step size or update leaves float range."""
    return isinstance(exc, OverflowError) or (
        isinstance(exc, RuntimeError) and "overflow" in str(exc).lower()
    )


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    """``torch.device(device)``, or a clear error when that device is not available here."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise BnnBenchError(f"device '{device}' is not a torch device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BnnBenchError(
            f"device '{device}' requested but CUDA is not available here; use --device cpu"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise BnnBenchError(
            f"device '{device}' requested but MPS is not available here; use --device cpu"
        )
    return dev


@functools.lru_cache(maxsize=4)
def _cached_dataset(name: str, options_json: str, root: str | None, download: bool) -> Any:
    import json

    from benchmark.data import load_dataset

    return load_dataset(name, root=root, download=download, **json.loads(options_json))


def load_spec_dataset(spec: RunSpec, root: str | None = None, download: bool = False) -> Any:
    """The spec's dataset, cached per process (runs of a suite share their data)."""
    return _cached_dataset(spec.dataset, canonical_json(spec.dataset_options), root, download)


def build_spec_model(spec: RunSpec, dataset: Any) -> nn.Module:
    from benchmark.models import build_model

    return build_model(
        spec.model, tuple(dataset.input_shape), dataset.num_classes, **spec.model_options
    )


def scheduled_key(group: dict[str, Any]) -> str:
    """The step-size key an LR schedule scales in a param group: ``gamma`` for Bop-type groups
    (their adaptivity rate is their step size; Helwegen et al. decay it), else ``lr``."""
    return "gamma" if "threshold" in group else "lr"


def schedule_factor(schedule: dict[str, Any] | None, epoch: int, epochs: int) -> float:
    r"""Multiplier of the initial step size at the start of ``epoch`` (0-based).

    - ``None`` or ``{"name": "constant"}``: 1.
    - ``{"name": "step", "step_size": s, "gamma": g}``: :math:`g^{\lfloor epoch / s \rfloor}` (as StepLR).
    - ``{"name": "cosine", "min_factor": m}``: :math:`m + (1 - m)(1 + \cos(\pi\,epoch/epochs))/2`.
    """
    if not schedule or schedule.get("name", "constant") == "constant":
        return 1.0
    name = schedule["name"]
    if name == "step":
        return float(schedule.get("gamma", 0.1)) ** (epoch // int(schedule["step_size"]))
    if name == "cosine":
        low = float(schedule.get("min_factor", 0.0))
        return low + (1.0 - low) * (1.0 + math.cos(math.pi * epoch / max(epochs, 1))) / 2.0
    raise BnnBenchError(
        f"lr_schedule.name: unknown schedule '{name}'; allowed: constant, step, cosine"
    )


class _Evaluator:
    """Records one evaluation point of a run into its record."""

    def __init__(
        self,
        spec: RunSpec,
        model: nn.Module,
        optimizer: Any,
        dataset: Any,
        device: torch.device,
        record: RunRecord,
    ) -> None:
        self.spec, self.model, self.optimizer = spec, model, optimizer
        self.dataset, self.device, self.record = dataset, device, record
        self.binary = list(binary_named_parameters(model))
        self.flips = FlipTracker(model) if spec.diagnostics and self.binary else None

    @torch.no_grad()
    def split_metrics(self, split: Any) -> tuple[float, float]:
        """(mean loss, accuracy) over a whole split, in eval mode."""
        self.model.eval()
        total_loss, correct, count = 0.0, 0, 0
        for x, y in split.batches(
            EVAL_BATCH_SIZE, seed=0, epoch=0, shuffle=False, device=self.device
        ):
            out = self.model(x)
            total_loss += F.cross_entropy(out, y, reduction="sum").item()
            correct += int((out.argmax(dim=1) == y).sum().item())
            count += y.numel()
        self.model.train()
        return total_loss / max(count, 1), correct / max(count, 1)

    def __call__(self, step: int, epoch: float, train_loss: float, train_acc: float) -> bool:
        """Record one evaluation; False when a split's loss is not finite (a divergence)."""
        finite = True
        add = self.record.add
        if not math.isnan(train_loss):
            add(step, epoch, "train", "loss", train_loss)
            add(step, epoch, "train", "accuracy", train_acc)
        for split_name in ("val", "test"):
            split = getattr(self.dataset, split_name)
            if len(split) == 0:
                continue
            loss, acc = self.split_metrics(split)
            finite = finite and math.isfinite(loss)
            add(step, epoch, split_name, "loss", loss)
            add(step, epoch, split_name, "accuracy", acc)
        group = self.optimizer.param_groups[0]
        add(step, epoch, "", "lr", float(group[scheduled_key(group)]))
        if self.spec.diagnostics:
            self.diagnostics(step, epoch)
        return finite

    @torch.no_grad()
    def diagnostics(self, step: int, epoch: float) -> None:
        from benchmark.optim import optimizer_diagnostics

        add = self.record.add
        if self.binary:
            assert self.flips is not None
            for name, rate in self.flips.update().items():
                add(
                    step, epoch, "", "flip_rate" if name == "overall" else f"flip_rate/{name}", rate
                )
            bound = self.spec.clip_latent or 1.0
            errors, sats, sizes = [], [], []
            for name, p in self.binary:
                err = float(quantization_error(p, "xnor_l1"))
                sat = saturation(p, bound)
                add(step, epoch, "", f"quantization_error/{name}", err)
                add(step, epoch, "", f"saturation/{name}", sat)
                errors.append(err)
                sats.append(sat)
                sizes.append(p.numel())
            weights = np.asarray(sizes, dtype=float) / sum(sizes)
            add(step, epoch, "", "quantization_error", float(np.dot(weights, errors)))
            add(step, epoch, "", "saturation", float(np.dot(weights, sats)))
        for name, value in optimizer_diagnostics(self.optimizer).items():
            add(step, epoch, "", name, float(value))


def eval_points(num_batches: int, evals_per_epoch: int) -> set[int]:
    """Batch indices (1-based, within an epoch) after which to evaluate: evenly spaced, the
    last batch always included."""
    n = max(1, min(evals_per_epoch, num_batches))
    return {round(num_batches * (k + 1) / n) for k in range(n)}


def schedule_steps(schedule: dict[str, Any] | None, total_steps: int) -> set[int]:
    r"""The optimizer steps (1-based, over the whole run) after which ``schedule`` adds an
    evaluation, for a run of ``total_steps`` steps (epochs x batches per epoch).

    - ``None``: none.
    - ``{"kind": "log", "points": N}``: :math:`s_k = \lfloor T^{k/(N-1)} + 1/2 \rfloor`,
      :math:`k = 0, \dots, N - 1` (:math:`T` = ``total_steps``): log-spaced from the first
      batch (:math:`s_0 = 1`) to the last (:math:`s_{N-1} = T`), as a set, so steps that
      round alike early in training count once (at most :math:`N` points, fewer when
      :math:`T` is small). E.g. :math:`T = 420`, :math:`N = 10`: 1, 2, 4, 7, 15, 29, 56,
      110, 215, 420.
    """
    if not schedule:
        return set()
    if schedule.get("kind") != "log":
        raise BnnBenchError(
            f"eval_schedule.kind: unknown kind {schedule.get('kind')!r}; allowed: log"
        )
    points, total = int(schedule["points"]), max(int(total_steps), 1)
    return {min(total, math.floor(total ** (k / (points - 1)) + 0.5)) for k in range(points)}


def train(spec: RunSpec, *, data_root: str | None = None, download: bool = False) -> RunRecord:
    """Run ``spec`` to completion (or divergence) and return its record."""
    from benchmark.optim import is_latent_free, make_optimizer

    record = RunRecord(spec.run_id, "train", {**spec.to_dict(), "label": spec.label()}, "completed")
    record.started_at = time.time()
    device = resolve_device(spec.device)
    dataset = load_spec_dataset(spec, data_root, download)
    with torch_threads(spec.threads), deterministic_algorithms():
        seed_everything(spec.seed)
        model = build_spec_model(spec, dataset).to(device)
        model.train()
        num_batches = dataset.train.num_batches(spec.batch_size)
        # the steps this process will run: the auto rule of a compiled update weighs them
        # against its compile time (benchmark.optim.fused.worth_compiling)
        planned = spec.trained_epochs * num_batches
        optimizer = make_optimizer(spec.optimizer, model, planned_steps=planned, **spec.hparams)
        clip = spec.clip_latent if spec.clip_latent and not is_latent_free(spec.optimizer) else None
        if clip:
            clip_latent_(model, clip)
        initial = [float(g[scheduled_key(g)]) for g in optimizer.param_groups]
        evaluate = _Evaluator(spec, model, optimizer, dataset, device, record)
        points = eval_points(num_batches, spec.evals_per_epoch)
        # the schedule spans the full horizon, so a stopped run evaluates a prefix of it
        extra = schedule_steps(spec.eval_schedule, spec.epochs * num_batches)

        t0 = time.perf_counter()
        evaluate(0, 0.0, math.nan, math.nan)
        record.eval_seconds += time.perf_counter() - t0
        record.add(0, 0.0, "", "train_seconds", 0.0)
        record.add(0, 0.0, "", "eval_seconds", record.eval_seconds)

        step = 0
        limit = math.inf

        def diverge(at_step: int, at_epoch: float, why: str) -> None:
            record.status = "diverged"
            record.message = f"{why} at step {at_step} (epoch {int(at_epoch)})"
            record.add(at_step, at_epoch, "", "diverged", 1.0)

        for epoch in range(spec.trained_epochs):  # the schedule spans spec.epochs
            factor = schedule_factor(spec.lr_schedule, epoch, spec.epochs)
            for group, base in zip(optimizer.param_groups, initial, strict=True):
                group[scheduled_key(group)] = base * factor
            loss_sum = torch.zeros((), device=device)
            correct_sum = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            t_train = time.perf_counter()
            batches = dataset.train.batches(
                spec.batch_size, seed=spec.seed, epoch=epoch, device=device
            )
            for index, (x, y) in enumerate(batches, start=1):
                optimizer.zero_grad(set_to_none=True)
                out = model(x)
                loss = F.cross_entropy(out, y)
                value = float(loss.detach())
                if step == 0:
                    limit = divergence_limit(value, dataset.num_classes)
                if not math.isfinite(value) or value > limit:
                    why = (
                        "non-finite training loss"
                        if not math.isfinite(value)
                        else f"training loss {value:.3g} > limit {limit:.3g}"
                    )
                    diverge(step + 1, epoch + index / num_batches, why)
                    break
                loss.backward()
                try:
                    optimizer.step()
                except (RuntimeError, OverflowError) as exc:
                    if not is_overflow(exc):
                        raise
                    diverge(
                        step + 1, epoch + index / num_batches, f"optimizer step overflow ({exc})"
                    )
                    break
                if clip:
                    clip_latent_(model, clip)
                step += 1
                loss_sum += loss.detach() * y.numel()
                correct_sum += (out.detach().argmax(dim=1) == y).sum()
                seen += y.numel()
                if index in points or step in extra:
                    record.train_seconds += time.perf_counter() - t_train
                    t_eval = time.perf_counter()
                    fraction = epoch + index / num_batches
                    finite = evaluate(
                        step, fraction, loss_sum.item() / seen, correct_sum.item() / seen
                    )
                    record.eval_seconds += time.perf_counter() - t_eval
                    record.add(step, fraction, "", "train_seconds", record.train_seconds)
                    record.add(step, fraction, "", "eval_seconds", record.eval_seconds)
                    loss_sum.zero_()
                    correct_sum.zero_()
                    seen = 0
                    t_train = time.perf_counter()
                    if not finite:
                        diverge(step, fraction, "non-finite evaluation loss")
                        break
            record.train_seconds += time.perf_counter() - t_train
            if record.status == "diverged":
                break

    record.steps = step
    record.finished_at = time.time()
    record.summary = summarize(record)
    if len(dataset.test):  # the report states each cell's test-set size from this
        record.summary["test_examples"] = float(len(dataset.test))
    return record


def summarize(record: RunRecord) -> dict[str, float]:
    """Final and best values of the dataset metrics (from the last evaluation)."""
    summary: dict[str, float] = {"steps": float(record.steps)}
    last: dict[tuple[str, str], float] = {}
    best_val = -math.inf
    for m in record.metrics:
        if m.split:
            last[(m.split, m.name)] = m.value
            if m.split == "val" and m.name == "accuracy":
                best_val = max(best_val, m.value)
    for (split, name), value in last.items():
        summary[f"final_{split}_{name}"] = value
    if best_val > -math.inf:
        summary["best_val_accuracy"] = best_val
    return summary
