"""What a run is (its spec) and what it produced (its record): the contract between the
suite expander, the executors, the training engine, the tasks and the results store.

A run is a pure function of its spec. ``run_id`` is a hash of the spec's canonical JSON, so a
rerun of a suite skips what the store already holds, and two suites that share a run share
its result. Fields that do not change the numbers (where the data lives, whether to
download it) are *not* part of the spec.

Metrics are tidy: one row per ``(step, split, name)`` with a float ``value``:

- ``split`` is ``"train"``, ``"val"`` or ``"test"`` for dataset metrics (``loss``,
  ``accuracy``), and ``""`` for everything else (diagnostics such as ``flip_rate``,
  ``quantization_error``, ``saturation``, ``lr``, wall-clock ``train_seconds``).
- Per-layer diagnostics are named ``"<metric>/<layer>"`` (e.g. ``"flip_rate/features.3.weight"``);
  the overall value carries the bare name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

RunStatus = Literal["completed", "diverged", "failed"]


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, floats in repr form."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def spec_hash(spec: dict[str, Any], length: int = 16) -> str:
    """Stable id of a spec dict: the first ``length`` hex digits of SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:length]


class SpecBase:
    """What every run spec (a frozen dataclass) shares: its dict form and its id."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @property
    def run_id(self) -> str:
        """First 16 hex digits of SHA-256 of the spec's canonical JSON."""
        return spec_hash(self.to_dict())


@dataclass(frozen=True)
class RunSpec(SpecBase):
    """One training run: everything that determines its numbers.

    ``split`` is the split the run is *scored* on: ``"val"`` for tuning trials, ``"test"`` for
    final runs (all splits are still evaluated and recorded). ``evals_per_epoch`` sets how
    often curves are sampled. ``clip_latent`` clips binary latent weights to
    ``[-clip_latent, clip_latent]`` after every step of a latent-weight optimizer (None: off).
    ``threads`` is the number of torch intra-op threads the run trains with: a reduction split
    over 2 threads adds in another order than over 1, so the thread count changes the numbers
    and is part of the run's identity (docs/protocol.md, "Determinism").
    ``stop_epoch`` (successive halving's lower rungs, :mod:`benchmark.tune.halving`) stops the
    run after that many epochs of an ``epochs``-long run: the learning-rate schedule still
    spans ``epochs``, so the stopped run is exactly the first ``stop_epoch`` epochs of the full
    one (training is deterministic).
    ``eval_schedule`` (the suite's, final runs only) adds evaluation points beside the
    ``evals_per_epoch`` ones, e.g. ``{"kind": "log", "points": 10}``: 10 log-spaced steps from
    the first batch to the last of ``epochs`` (:func:`benchmark.train.schedule_steps`).
    """

    model: str
    dataset: str
    optimizer: str
    hparams: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    split: Literal["val", "test"] = "test"
    evals_per_epoch: int = 1
    clip_latent: float | None = 1.0
    lr_schedule: dict[str, Any] | None = None
    device: str = "cpu"
    diagnostics: bool = True
    threads: int = 1
    task: Literal["train"] = "train"
    stop_epoch: int | None = None
    eval_schedule: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.stop_epoch is not None and not 1 <= self.stop_epoch < self.epochs:
            raise ValueError(
                f"stop_epoch must lie in 1..epochs-1 ({self.epochs - 1}), got {self.stop_epoch}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The spec's fields; ``stop_epoch`` and ``eval_schedule`` only when set, so a run
        without them keeps the id it had before the fields existed."""
        out = asdict(self)
        for key in ("stop_epoch", "eval_schedule"):
            if out[key] is None:
                del out[key]
        return out

    @property
    def trained_epochs(self) -> int:
        """The epochs this run trains: ``stop_epoch`` if set, else ``epochs``."""
        return self.stop_epoch or self.epochs

    def label(self) -> str:
        """Short human-readable label for progress lines."""
        stop = f"/stop{self.stop_epoch}of{self.epochs}" if self.stop_epoch else ""
        return f"{self.model}/{self.dataset}/{self.optimizer}/seed{self.seed}/{self.split}{stop}"


@dataclass
class MetricRow:
    """One tidy metric value. ``epoch`` may be fractional (evaluations inside an epoch)."""

    step: int
    epoch: float
    split: str
    name: str
    value: float


@dataclass
class RunRecord:
    """What one run produced. ``spec`` is the spec's ``to_dict()``; ``task`` names the kind
    of spec (``"train"``, ``"convex"``)."""

    run_id: str
    task: str
    spec: dict[str, Any]
    status: RunStatus
    metrics: list[MetricRow] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    steps: int = 0
    message: str = ""
    summary: dict[str, float] = field(default_factory=dict)
    #: where the run executed (benchmark.environment.run_environment), set by the executor
    environment: dict[str, Any] = field(default_factory=dict)

    def add(self, step: int, epoch: float, split: str, name: str, value: float) -> None:
        """Append one metric row (non-finite values are kept as NaN/inf, never dropped)."""
        self.metrics.append(MetricRow(step, float(epoch), split, name, float(value)))
