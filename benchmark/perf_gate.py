"""The micro-benchmark gate: step-time ratios to torch Adam and forward+backward ratios of
binary models to their full-precision twins, saved and compared.

What is measured, per *set* of the saved document:

- ``mlp`` (0.15M parameters) and ``resnet18`` (11.7M, 11.0M binary): the time of one
  ``optimizer.step()`` (gradients already in place, no forward or backward pass) of every
  registered optimizer, divided by the step time of ``torch.optim.Adam(foreach=True)`` on
  the same parameters, timed in the same process and interleaved with it. On ``mlp`` Python
  overhead dominates, on ``resnet18`` memory traffic: a slower kernel shows only there.
- ``forward_backward``: one training pass (forward, cross-entropy, backward) of a registry
  model (``mlp``, ``cnn1d``, ``cnn2d`` at their defaults, a batch of
  :data:`PASS_BATCH` random inputs) divided by the same pass of its full-precision twin
  (``binary=False``: same layers, ``hardtanh`` for the sign, no binarization), interleaved.
  The binary sign, its straight-through gradients and the binary layers' weight
  binarization are what the ratio sees (issue 21: a slow sign costs up to 19% of a run).
  Its entry ``hard_sign`` is the sign alone: :func:`benchmark.binary.hard_sign` of
  :data:`SIGN_ELEMENTS` floats divided by ``torch.abs`` of the same tensor (one elementwise
  pass), so a sign that grows from 3 passes back to 5 shows plainly.

Each ratio is the median of ``repeats`` timings each (after 3 warm-up calls), and the
median of ``rounds`` such ratios, the entries taking turns round after round. Ratios, not
absolute times, so the machine's speed cancels; the CPU clock (``thread_time``, one torch
thread) ignores time the thread spent waiting for a core, so other jobs on a shared machine
matter much less than on the wall clock. ``tests/perf/test_optim_perf.py`` (pytest-benchmark
and the Markdown ratio table of docs/performance.md) measures with the same functions.

The gate (docs/nightly.md, "Micro-benchmarks")::

    python -m benchmark.perf_gate save ratios.json            # measure (every set, CPU clock)
    python -m benchmark.perf_gate compare ratios.json suites/baselines/optim_ratios.json

``compare`` exits 0 when no optimizer's ratio grew by more than ``--threshold`` (a factor,
default :data:`DEFAULT_THRESHOLD`) and none vanished, 1 on a regression, 2 on bad input (a
missing or malformed file, another schema version, ratios measured with another clock or
thread count). Its report is a Markdown table on stdout.

torch is imported inside the functions that measure, so loading and comparing saved ratios
(and ``compare``) never import it.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import BnnBenchError

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch
    from torch import nn

#: version of the JSON document :func:`save_ratios` writes; :func:`load_ratios` accepts only it
SCHEMA_VERSION = 1
#: a ratio may grow by this factor before ``compare`` calls it a regression. Six runs of ``save``
#: (default settings) on the shared 2-core machine spread by at most 1.11x per ratio (max/min;
#: 1.31x with one round of 400 steps instead of 5 rounds), and ratios measured on another CPU
#: (an Intel Xeon against this AMD EPYC) differed by up to 1.30x: 1.5x stays above both
#: (docs/nightly.md, "Micro-benchmarks") and still catches a step grown by half.
DEFAULT_THRESHOLD = 1.5
#: steps timed per optimizer and round (and as many Adam steps interleaved): ~1 ms each on the
#: mlp set, so the default measurement (all optimizers, 5 rounds) times ~20,000 steps
DEFAULT_REPEATS = 200
#: the default per set: an 11M step takes 30-120 ms, a training pass 1-40 ms
SET_REPEATS = {"mlp": DEFAULT_REPEATS, "resnet18": 8, "forward_backward": 30}
#: rounds per optimizer (the ratio is the median of the rounds' ratios)
DEFAULT_ROUNDS = 5
PARAM_SETS = ("mlp", "resnet18")
#: entries a set measures besides the registered optimizers (when no names are given): the
#: C++ kernels of BAMSProd and Bop (:mod:`benchmark.optim.native`, ``fused=True``) on the 11M
#: set, where their memory traffic shows. Their build (about a second, then cached) falls in
#: the warm-up steps, not in the timings
SET_EXTRAS: dict[str, tuple[str, ...]] = {
    "resnet18": ("bamsprod[fused=True]", "bop[fused=True]"),
}
#: the set of training passes (binary model / its full-precision twin)
PASSES = "forward_backward"
PASS_MODELS = ("mlp", "cnn1d")
#: the entry of the sign alone in the :data:`PASSES` set, and its tensor size
SIGN_ENTRY = "hard_sign"
SIGN_ELEMENTS = 1 << 20
#: the batch of a timed training pass
PASS_BATCH = 64
SETS = (*PARAM_SETS, PASSES)
DEFAULT_SETS = SETS
#: the reference's name in :func:`build`: ``torch.optim.Adam(foreach=True)``
REFERENCE = "adam_foreach"
#: ``torch.optim.Adam(fused=True)`` in :func:`build`: the issue-21 targets' yardstick
FUSED_REFERENCE = "adam_fused"
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}


class PerfGateError(ValueError):
    """Bad input to the gate: a missing or malformed ratios file, another schema version,
    incomparable measurements, a bad threshold. The CLI prints it as one line, exit code 2."""


# --------------------------------------------------------------------------- measuring


def binary_mlp() -> nn.Module:
    """A small binary MLP: real first/last layers, two binary hidden layers, BatchNorm."""
    from torch import nn

    from benchmark.binary import BinaryLinear

    return nn.Sequential(
        nn.Linear(64, 256),
        nn.BatchNorm1d(256),
        BinaryLinear(256, 256, input_estimator="ste"),
        nn.BatchNorm1d(256),
        BinaryLinear(256, 256, input_estimator="ste"),
        nn.BatchNorm1d(256),
        nn.Linear(256, 10),
    )


def binary_resnet18_shapes() -> nn.Module:
    """torchvision's ResNet-18 with every 3x3 convolution replaced by a BinaryConv2d."""
    import torchvision
    from torch import nn

    from benchmark.binary import BinaryConv2d

    model = torchvision.models.resnet18()

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.Conv2d) and child.kernel_size == (3, 3):
                binary = BinaryConv2d(
                    child.in_channels, child.out_channels, 3, stride=child.stride, padding=1
                )
                setattr(module, name, binary)
            else:
                swap(child)

    swap(model)
    return model


def param_set(name: str, seed: int = 0) -> nn.Module:
    """The named parameter set with seeded gradients on every parameter."""
    import torch

    if name not in PARAM_SETS:
        raise PerfGateError(f"unknown parameter set {name!r} (known: {', '.join(PARAM_SETS)})")
    torch.manual_seed(seed)
    model = binary_mlp() if name == "mlp" else binary_resnet18_shapes()
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-2
    return model


def clone(model: nn.Module) -> nn.Module:
    """A deep copy with the gradients copied too (``deepcopy`` drops ``.grad``)."""
    twin = copy.deepcopy(model)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        q.grad = None if p.grad is None else p.grad.clone()
    return twin


def build(name: str, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer under test: ``REFERENCE`` = torch.optim.Adam(foreach=True),
    ``FUSED_REFERENCE`` = torch.optim.Adam(fused=True), a registry
    name, or ``name[key=value,...]`` for non-default hyper-parameters (e.g.
    ``bamsprod[error_every=10]``)."""
    import torch

    from benchmark.optim import make_optimizer

    if name == REFERENCE:
        return torch.optim.Adam(model.parameters(), foreach=True)
    if name == FUSED_REFERENCE:
        return torch.optim.Adam(model.parameters(), fused=True)
    base, _, rest = name.partition("[")
    hparams = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, _, text = item.partition("=")
        try:
            hparams[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            hparams[key.strip()] = text.strip()
    return make_optimizer(base, model, **hparams)


def step_seconds(step: Callable[[], object], repeats: int, clock: str = "wall") -> list[float]:
    """Seconds per call of ``step``; ``clock="cpu"`` counts this thread's CPU time only (robust
    on a loaded machine, meaningful with one torch thread)."""
    now = CLOCKS[clock]
    times = []
    for _ in range(repeats):
        start = now()
        step()
        times.append(now() - start)
    return times


def measure_ratios(
    set_name: str, names: list[str], repeats: int = 20, clock: str = "wall"
) -> dict[str, tuple[float, float]]:
    """``{name: (median step ms, ratio to Adam(foreach=True))}``; Adam is timed interleaved
    with each optimizer (same process, same model copy size) to cancel machine-load drift."""
    base = param_set(set_name)
    out: dict[str, tuple[float, float]] = {}
    for name in names:
        model, ref_model = clone(base), clone(base)
        opt, ref = build(name, model), build(REFERENCE, ref_model)
        for _ in range(3):  # warm-up: state allocation, scratch buffers
            opt.step()
            ref.step()
        t_opt, t_ref = [], []
        for _ in range(repeats):
            t_ref += step_seconds(ref.step, 1, clock)
            t_opt += step_seconds(opt.step, 1, clock)
        med_opt, med_ref = statistics.median(t_opt), statistics.median(t_ref)
        out[name] = (med_opt * 1e3, med_opt / med_ref)
        del model, ref_model, opt, ref
    return out


def training_pass(model_name: str, binary: bool, seed: int = 0) -> Callable[[], object]:
    """One training pass of registry model ``model_name`` at its defaults (``binary=False``:
    its full-precision twin) on a fixed random batch of :data:`PASS_BATCH` inputs of its
    reference shape: forward, cross-entropy, backward (gradients set to ``None`` first)."""
    import torch
    import torch.nn.functional as F

    from benchmark.models import MODELS, build_model

    spec = MODELS[model_name]
    torch.manual_seed(seed)
    model = build_model(model_name, spec.reference_input, spec.reference_classes, binary=binary)
    model.train()
    x = torch.randn(PASS_BATCH, *spec.reference_input)
    y = torch.randint(0, spec.reference_classes, (PASS_BATCH,))

    def run() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    run.model = model  # type: ignore[attr-defined]  # for tests
    return run


def sign_pair(seed: int = 0) -> tuple[Callable[[], object], Callable[[], object]]:
    """``(hard_sign of a tensor, torch.abs of the same tensor)``: :data:`SIGN_ENTRY`."""
    import torch

    from benchmark.binary.ste import hard_sign

    x = torch.randn(SIGN_ELEMENTS, generator=torch.Generator().manual_seed(seed))
    return (lambda: hard_sign(x)), (lambda: torch.abs(x))


def measure_passes(
    names: list[str], repeats: int = 20, clock: str = "wall"
) -> dict[str, tuple[float, float]]:
    """``{model: (median pass ms, ratio to its full-precision twin's pass)}``, each binary
    pass interleaved with a twin pass (same process) to cancel machine-load drift; the entry
    :data:`SIGN_ENTRY` times :func:`sign_pair` the same way."""
    out: dict[str, tuple[float, float]] = {}
    for name in names:
        if name == SIGN_ENTRY:
            binary, twin = sign_pair()
        else:
            binary, twin = training_pass(name, True), training_pass(name, False)
        for _ in range(3):
            binary()
            twin()
        t_bin, t_twin = [], []
        for _ in range(repeats):
            t_twin += step_seconds(twin, 1, clock)
            t_bin += step_seconds(binary, 1, clock)
        med_bin, med_twin = statistics.median(t_bin), statistics.median(t_twin)
        out[name] = (med_bin * 1e3, med_bin / med_twin)
    return out


def set_entries(set_name: str, names: list[str] | None = None) -> list[str]:
    """What set ``set_name`` measures: for :data:`PASSES` its models and the sign, for a
    parameter set ``names`` if given, else every registered optimizer and the set's
    :data:`SET_EXTRAS`."""
    from benchmark.optim import OPTIMIZERS

    if set_name == PASSES:
        return [*PASS_MODELS, SIGN_ENTRY]
    return list(names) if names else [*OPTIMIZERS, *SET_EXTRAS.get(set_name, ())]


def measure(
    sets: tuple[str, ...] = DEFAULT_SETS,
    repeats: int | None = None,
    clock: str = "cpu",
    names: list[str] | None = None,
    rounds: int = DEFAULT_ROUNDS,
) -> dict[str, dict[str, tuple[float, float]]]:
    """``{set: {name: (median ms, ratio)}}``: for a parameter set every registered optimizer
    and the set's :data:`SET_EXTRAS` (or ``names``) against Adam, for :data:`PASSES` every model of :data:`PASS_MODELS`
    against its twin; with the torch thread count as it is set. ``repeats`` per round
    (default: :data:`SET_REPEATS` of each set).

    Each entry is measured in ``rounds`` rounds of ``repeats`` timings (the entries take
    turns, round after round; :func:`measure_ratios` / :func:`measure_passes` per round) and
    its ratio is the median of its rounds' ratios, so a burst of load from another job that
    hits one round is voted out."""
    given = list(names) if names else None
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for s in sets:
        if s not in SETS:
            raise PerfGateError(f"unknown set {s!r} (known: {', '.join(SETS)})")
        n = repeats or SET_REPEATS[s]
        entries = set_entries(s, given)
        if s == PASSES:
            per_round = [measure_passes(entries, n, clock) for _ in range(rounds)]
        else:
            per_round = [measure_ratios(s, entries, n, clock) for _ in range(rounds)]
        out[s] = {
            name: (
                statistics.median(r[name][0] for r in per_round),
                statistics.median(r[name][1] for r in per_round),
            )
            for name in entries
        }
    return out


# ------------------------------------------------------------------- the saved document


def ratios_document(
    measured: Mapping[str, Mapping[str, tuple[float, float]]],
    *,
    repeats: int | None,
    rounds: int,
    clock: str,
    threads: int,
    torch_version: str,
    cpu: str,
) -> dict[str, Any]:
    """The JSON document :func:`save_ratios` writes, from :func:`measure`'s result
    (``repeats``: as given, ``None`` for each set's default, :data:`SET_REPEATS`)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "what": (
            "parameter sets: optimizer step time / torch.optim.Adam(foreach=True) step time; "
            f"{PASSES}: binary model training pass / full-precision twin's; same process"
        ),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch_version,
        "cpu": cpu,
        "threads": threads,
        "clock": clock,
        "repeats": repeats or DEFAULT_REPEATS,
        "set_repeats": {s: repeats or SET_REPEATS.get(s, DEFAULT_REPEATS) for s in measured},
        "rounds": rounds,
        "ratios": {
            s: {name: round(ratio, 4) for name, (_, ratio) in rows.items()}
            for s, rows in measured.items()
        },
        "step_ms": {
            s: {name: round(ms, 4) for name, (ms, _) in rows.items()}
            for s, rows in measured.items()
        },
    }


def write_json(path: str | Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` to ``path`` atomically (a temporary file beside it, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_ratios(
    path: str | Path,
    *,
    sets: tuple[str, ...] = DEFAULT_SETS,
    repeats: int | None = None,
    rounds: int = DEFAULT_ROUNDS,
    clock: str = "cpu",
    threads: int = 1,
    names: list[str] | None = None,
    measured: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
) -> dict[str, Any]:
    """Measure the ratios (``threads`` torch threads for the measurement, restored after) and
    write them as JSON to ``path``; returns the document. With ``measured`` (what
    :func:`measure` returns) nothing is measured: that is written as measured with these
    settings."""
    import torch

    from benchmark.environment import cpu_model

    if (repeats is not None and repeats < 1) or rounds < 1:
        raise PerfGateError(f"repeats and rounds must be >= 1, got {repeats} and {rounds}")
    if clock not in CLOCKS:
        raise PerfGateError(f"unknown clock {clock!r} (known: {', '.join(sorted(CLOCKS))})")
    if clock == "cpu" and threads != 1:
        raise PerfGateError("the cpu clock measures one thread: use threads=1")
    if measured is None:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            measured = measure(sets, repeats, clock, names, rounds)
        finally:
            torch.set_num_threads(before)
    document = ratios_document(
        measured,
        repeats=repeats,
        rounds=rounds,
        clock=clock,
        threads=threads,
        torch_version=torch.__version__,
        cpu=cpu_model(),
    )
    write_json(path, validate_ratios(document))
    return document


def _is_ratio(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def validate_ratios(document: Any, source: str = "ratios") -> dict[str, Any]:
    """``document`` if it is a ratios document of :data:`SCHEMA_VERSION`, else
    :class:`PerfGateError` saying what is wrong."""
    if not isinstance(document, dict):
        raise PerfGateError(f"{source}: not a JSON object")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PerfGateError(
            f"{source}: schema_version {version!r}, this bnnbench reads {SCHEMA_VERSION} "
            "(re-save it with `python -m benchmark.perf_gate save`)"
        )
    for key in ("clock", "threads", "repeats"):
        if key not in document:
            raise PerfGateError(f"{source}: no {key!r}")
    ratios = document.get("ratios")
    if not isinstance(ratios, dict) or not ratios:
        raise PerfGateError(f"{source}: 'ratios' must map parameter sets to optimizers")
    for set_name, rows in ratios.items():
        if not isinstance(rows, dict) or not rows:
            raise PerfGateError(f"{source}: ratios[{set_name!r}] must map optimizers to ratios")
        for name, value in rows.items():
            if not _is_ratio(value):
                raise PerfGateError(
                    f"{source}: ratios[{set_name!r}][{name!r}] = {value!r} is not a positive "
                    "finite number"
                )
    return document


def load_ratios(path: str | Path) -> dict[str, Any]:
    """The validated ratios document at ``path`` (:class:`PerfGateError` if there is none)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PerfGateError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PerfGateError(f"{path}: not JSON ({exc})") from None
    return validate_ratios(document, str(path))


# ------------------------------------------------------------------------ comparing


@dataclass(frozen=True)
class Regression:
    """One optimizer that failed the gate: slower by more than the threshold, or vanished
    (``current`` is None)."""

    param_set: str
    optimizer: str
    baseline: float
    current: float | None

    @property
    def factor(self) -> float | None:
        return None if self.current is None else self.current / self.baseline

    def __str__(self) -> str:
        if self.current is None:
            return f"{self.param_set}/{self.optimizer}: vanished (baseline {self.baseline:.2f}x)"
        return (
            f"{self.param_set}/{self.optimizer}: {self.baseline:.2f}x -> {self.current:.2f}x "
            f"Adam ({self.factor:.2f}x slower)"
        )


def _document(value: Mapping[str, Any] | str | Path, source: str) -> dict[str, Any]:
    if isinstance(value, str | Path):
        return load_ratios(value)
    return validate_ratios(dict(value), source)


def _steps(document: Mapping[str, Any]) -> str:
    per_set = document.get("set_repeats") or {}
    counts = ", ".join(f"{s} {n}" for s, n in per_set.items()) if per_set else document["repeats"]
    return f"median of {document.get('rounds', 1)} round(s) of {counts} timings per entry"


def compare_ratios(
    current: Mapping[str, Any] | str | Path,
    baseline: Mapping[str, Any] | str | Path,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[Regression], str]:
    """``(regressions, report)``: every optimizer of the baseline whose ratio to Adam grew by
    more than ``threshold`` (``current / baseline > threshold``) or that has no ratio in
    ``current`` (vanished), and a Markdown report of every row. Optimizers only ``current``
    has are listed as new, not flagged; ratios that shrank are fine.

    Documents (dicts) or paths of saved ones; :class:`PerfGateError` for a bad document, a
    threshold not above 1, or ratios measured with another clock or thread count (they are
    not comparable: re-measure with the baseline's settings)."""
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold > 1):
        raise PerfGateError(f"threshold must be a finite factor > 1, got {threshold!r}")
    cur = _document(current, "current")
    base = _document(baseline, "baseline")
    for key in ("clock", "threads"):
        if cur[key] != base[key]:
            raise PerfGateError(
                f"current ratios were measured with {key} {cur[key]!r}, the baseline with "
                f"{base[key]!r}: not comparable (re-measure with --{key} {base[key]})"
            )
    regressions: list[Regression] = []
    rows: list[str] = []
    for set_name, base_rows in base["ratios"].items():
        cur_rows = cur["ratios"].get(set_name, {})
        for name, was in base_rows.items():
            now = cur_rows.get(name)
            if now is None:
                regressions.append(Regression(set_name, name, was, None))
                rows.append(f"| {set_name} | {name} | {was:.2f}x | - | - | **vanished** |")
                continue
            factor = now / was
            if factor > threshold:
                regressions.append(Regression(set_name, name, was, now))
                status = "**REGRESSION**"
            else:
                status = "faster" if factor < 1 / threshold else "ok"
            rows.append(
                f"| {set_name} | {name} | {was:.2f}x | {now:.2f}x | {factor:.2f} | {status} |"
            )
        for name, now in cur_rows.items():
            if name not in base_rows:
                rows.append(f"| {set_name} | {name} | - | {now:.2f}x | - | new |")
    for set_name, cur_rows in cur["ratios"].items():
        if set_name not in base["ratios"]:
            rows += [f"| {set_name} | {n} | - | {v:.2f}x | - | new |" for n, v in cur_rows.items()]

    verdict = (
        f"**{len(regressions)} regression(s)** (a ratio grew by more than {threshold:g}x, "
        "or an optimizer vanished):\n\n" + "\n".join(f"- {r}" for r in regressions)
        if regressions
        else f"No regression: no ratio grew by more than {threshold:g}x and none vanished."
    )
    lines = [
        "### Optimizer step time / Adam step time; training pass / full-precision twin",
        "",
        f"Current: torch {cur.get('torch', '?')}, {cur.get('cpu', '?')}, "
        f"{cur['threads']} thread(s), {cur['clock']} clock, {_steps(cur)}. "
        f"Baseline: torch {base.get('torch', '?')}, {base.get('cpu', '?')}, {_steps(base)}. "
        f"Threshold: {threshold:g}x.",
        "",
        "| set | optimizer | baseline | current | current / baseline | status |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        verdict,
    ]
    return regressions, "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.perf_gate",
        description="Save optimizer step-time ratios to torch Adam, or compare two saved runs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    save = sub.add_parser("save", help="measure the ratios and save them as JSON")
    save.add_argument("out", metavar="OUT.json")
    save.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timings per entry and round (default: per set, "
        + ", ".join(f"{s} {n}" for s, n in SET_REPEATS.items())
        + ")",
    )
    save.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds per optimizer")
    save.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), choices=SETS)
    save.add_argument("--clock", default="cpu", choices=sorted(CLOCKS))
    save.add_argument("--threads", type=int, default=1, help="torch threads (1 with --clock cpu)")
    save.add_argument(
        "--only", nargs="+", default=None, metavar="NAME", help="optimizers (default: all)"
    )
    compare = sub.add_parser("compare", help="compare saved ratios with a baseline")
    compare.add_argument("current", metavar="CURRENT.json")
    compare.add_argument("baseline", metavar="BASELINE.json")
    compare.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"largest allowed growth factor of a ratio (default {DEFAULT_THRESHOLD:g})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (0 ok, 1 regression, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "save":
            document = save_ratios(
                args.out,
                sets=tuple(args.sets),
                repeats=args.repeats,
                rounds=args.rounds,
                clock=args.clock,
                threads=args.threads,
                names=args.only,
            )
            print(
                f"torch {document['torch']}, {document['threads']} thread(s), "
                f"{document['clock']} clock, {_steps(document)}"
            )
            for set_name, rows in document["ratios"].items():
                print(f"{set_name}: " + ", ".join(f"{n} {r:.2f}x" for n, r in rows.items()))
            print(f"saved {args.out}")
            return 0
        regressions, report = compare_ratios(args.current, args.baseline, args.threshold)
        print(report, end="")
        return 1 if regressions else 0
    except (PerfGateError, BnnBenchError) as exc:  # BnnBenchError: e.g. a bad name in --only
        print(f"perf_gate: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
