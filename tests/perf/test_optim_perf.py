"""Optimizer step-time micro-benchmarks (pytest-benchmark) and the ratio-table script.

The plain ``pytest`` run executes every benchmark once without timing (``--benchmark-disable``
in pyproject). To time them::

    pytest tests/perf/test_optim_perf.py --benchmark-enable --benchmark-only

To print the table of step time / ``torch.optim.Adam(foreach=True)`` step time (measured in the
same process, interleaved, median of repeats) that ``docs/performance.md`` reports::

    python tests/perf/test_optim_perf.py --repeats 30 --threads 1

Two parameter sets, gradients filled with seeded noise (the step time does not depend on the
model's forward pass): ``mlp`` (a small binary MLP, ~0.15M parameters) and ``resnet18``
(torchvision's ResNet-18 shapes, 11.7M parameters, the 3x3 convolutions as binary layers:
11.0M binary, 0.7M real).
"""

from __future__ import annotations

import argparse
import ast
import copy
import statistics
import sys
import time
from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

from benchmark.binary import BinaryConv2d, BinaryLinear, split_parameters
from benchmark.optim import OPTIMIZERS, make_optimizer

PARAM_SETS = ("mlp", "resnet18")
REFERENCE = "adam_foreach"


def binary_mlp() -> nn.Module:
    """A small binary MLP: real first/last layers, two binary hidden layers, BatchNorm."""
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
    """The optimizer under test: ``REFERENCE`` = torch.optim.Adam(foreach=True), a registry
    name, or ``name[key=value,...]`` for non-default hyper-parameters (e.g.
    ``bamsprod[error_every=10]``)."""
    if name == REFERENCE:
        return torch.optim.Adam(model.parameters(), foreach=True)
    base, _, rest = name.partition("[")
    hparams = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, _, text = item.partition("=")
        try:
            hparams[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            hparams[key.strip()] = text.strip()
    return make_optimizer(base, model, **hparams)


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}


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


def ratio_table(
    repeats: int,
    sets: tuple[str, ...] = PARAM_SETS,
    clock: str = "wall",
    names: list[str] | None = None,
) -> str:
    """A Markdown table: rows = optimizers, columns = ms per step and ratio per set."""
    names = names or [*OPTIMIZERS]
    results = {s: measure_ratios(s, names, repeats, clock) for s in sets}
    header = "| optimizer | " + " | ".join(f"{s} ms | {s} / Adam" for s in sets) + " |"
    rule = "|---" * (1 + 2 * len(sets)) + "|"
    rows = [header, rule]
    for name in names:
        cells = " | ".join(f"{results[s][name][0]:.2f} | {results[s][name][1]:.2f}x" for s in sets)
        rows.append(f"| {name} | {cells} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------- pytest-benchmark


@pytest.fixture(scope="module", params=PARAM_SETS)
def base_model(request: pytest.FixtureRequest) -> tuple[str, nn.Module]:
    return request.param, param_set(request.param)


@pytest.mark.parametrize("name", [REFERENCE, *OPTIMIZERS])
def test_step_time(benchmark, base_model: tuple[str, nn.Module], name: str) -> None:
    """Time one optimizer step on a parameter set (run once without timing by default)."""
    set_name, base = base_model
    model = clone(base)
    opt = build(name, model)
    if not benchmark.disabled:
        opt.step()  # allocate the state outside the timed region
    before = [p.detach().clone() for p in model.parameters()]
    benchmark.group = f"step-{set_name}"
    benchmark(opt.step)
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert changed > 0  # the timed step really updated the parameters


def test_ratio_helper_reports_every_optimizer() -> None:
    """The table helper measures optimizers against Adam and renders one row per optimizer."""
    ratios = measure_ratios("mlp", ["bamsprod", "bop"], repeats=2, clock="cpu")
    assert set(ratios) == {"bamsprod", "bop"}
    assert all(ms > 0 and ratio > 0 for ms, ratio in ratios.values())
    table = ratio_table(1, ("mlp",), names=["sgd"]).splitlines()
    assert table[0] == "| optimizer | mlp ms | mlp / Adam |" and table[2].startswith("| sgd | ")


def test_build_parses_hyper_parameters() -> None:
    opt = build("bamsprod[error=none,error_every=3,lr=0.01]", binary_mlp())
    assert opt.error == "none"
    assert opt.param_groups[0]["error_every"] == 3 and opt.param_groups[0]["lr"] == 0.01


def test_resnet18_param_set_matches_resnet18() -> None:
    """The large set has ResNet-18's 11.69M parameters, the 3x3 convolutions binary."""
    model = binary_resnet18_shapes()
    binary, real = split_parameters(model)
    reference = sum(p.numel() for p in torchvision.models.resnet18().parameters())
    assert sum(p.numel() for p in binary) + sum(p.numel() for p in real) == reference
    assert all(p.dim() == 4 and p.shape[-2:] == (3, 3) for p in binary)
    assert len(binary) == 16


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: least noisy)")
    parser.add_argument("--sets", nargs="+", default=list(PARAM_SETS), choices=PARAM_SETS)
    parser.add_argument("--clock", default="wall", choices=sorted(CLOCKS))
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        help="names, e.g. bamsprod 'bamsprod[error=none]' (default: all)",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu measures one thread: use --threads 1")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} clock, "
        f"median of {args.repeats} steps"
    )
    print(ratio_table(args.repeats, tuple(args.sets), args.clock, args.only))


if __name__ == "__main__":
    sys.exit(main())
