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
import sys

import pytest
import torch
import torchvision
from torch import nn

from benchmark.binary import split_parameters
from benchmark.optim import OPTIMIZERS

# the measuring functions live in benchmark.perf_gate, which saves and compares these ratios
# for the nightly gate (docs/nightly.md, "Micro-benchmarks")
from benchmark.perf_gate import (
    CLOCKS,
    FUSED_REFERENCE,
    PARAM_SETS,
    REFERENCE,
    binary_mlp,
    binary_resnet18_shapes,
    build,
    clone,
    measure_ratios,
    param_set,
)


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


@pytest.mark.parametrize("name", [REFERENCE, FUSED_REFERENCE, *OPTIMIZERS])
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
