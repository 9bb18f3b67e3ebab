"""Optimizer step-time micro-benchmarks (pytest-benchmark) and the ratio-table script.

The plain ``pytest`` run executes every benchmark once without timing (``--benchmark-disable``
in pyproject). To time them::

    pytest tests/perf/test_optim_perf.py --benchmark-enable --benchmark-only

To print the table of step time / ``torch.optim.Adam(foreach=True)`` step time (measured in the
same process, interleaved, median of repeats) that ``docs/performance.md`` reports::

    python tests/perf/test_optim_perf.py --repeats 30 --threads 1

and the table of the compiled (``fused=True``) BAMSProd/Bop/Bop2ndOrder steps against their
foreach steps and ``torch.optim.Adam(fused=True)``, with each one's first-step (compile)
seconds (``TORCHINDUCTOR_CACHE_DIR`` pointing at an empty directory measures a cold
compile)::

    python tests/perf/test_optim_perf.py --fused --sets resnet18 --repeats 10 --clock cpu

Two parameter sets, gradients filled with seeded noise (the step time does not depend on the
model's forward pass): ``mlp`` (a small binary MLP, ~0.15M parameters) and ``resnet18``
(torchvision's ResNet-18 shapes, 11.7M parameters, the 3x3 convolutions as binary layers:
11.0M binary, 0.7M real).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

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
    step_seconds,
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


#: the compiled variants (benchmark.optim.fused) timed beside the registry entries
FUSED_VARIANTS = ("bamsprod[fused=True]", "bop[fused=True]", "bop2nd[fused=True]")


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (inductor compiles in workers)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def fused_rows(set_name: str, repeats: int, clock: str = "cpu") -> list[dict[str, float | str]]:
    """Per optimizer: the foreach and the compiled step, each timed interleaved with
    ``Adam(fused=True)`` (median of ``repeats``), and the compiled variant's first step
    (wall and CPU seconds, children included: the compilation when the cache is cold)."""
    base = param_set(set_name)
    rows = []
    for name in ("bamsprod", "bop", "bop2nd"):
        row: dict[str, float | str] = {"optimizer": name}
        for label, variant in (("foreach", name), ("compiled", f"{name}[fused=True]")):
            opt, ref = build(variant, clone(base)), build(FUSED_REFERENCE, clone(base))
            wall, cpu = time.perf_counter(), _cpu_seconds()
            opt.step()
            row[f"{label}_first_wall"] = time.perf_counter() - wall
            row[f"{label}_first_cpu"] = _cpu_seconds() - cpu
            for _ in range(2):
                opt.step()
                ref.step()
            mine, adam = [], []
            for _ in range(repeats):
                adam += step_seconds(ref.step, 1, clock)
                mine += step_seconds(opt.step, 1, clock)
            row[f"{label}_ms"] = statistics.median(mine) * 1e3
            row[f"{label}_adam_ms"] = statistics.median(adam) * 1e3
            inner = getattr(opt, "binary_optimizer", None) or opt
            row[f"{label}_implementation"] = inner.implementation
            del opt, ref
        rows.append(row)
    return rows


def fused_table(set_name: str, repeats: int, clock: str = "cpu") -> str:
    """:func:`fused_rows` as a Markdown table (ratios: step / interleaved Adam(fused) step)."""
    lines = [
        f"| {set_name} | foreach ms | / Adam(fused) | compiled ms | / Adam(fused) | "
        "compiled / foreach | first compiled step: wall s, CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in fused_rows(set_name, repeats, clock):
        f_ratio = r["foreach_ms"] / r["foreach_adam_ms"]
        c_ratio = r["compiled_ms"] / r["compiled_adam_ms"]
        lines.append(
            f"| {r['optimizer']} | {r['foreach_ms']:.1f} | {f_ratio:.2f}x | "
            f"{r['compiled_ms']:.1f} | {c_ratio:.2f}x | {r['compiled_ms'] / r['foreach_ms']:.2f} | "
            f"{r['compiled_first_wall']:.1f}, {r['compiled_first_cpu']:.1f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------- pytest-benchmark


@pytest.fixture(scope="module", params=PARAM_SETS)
def base_model(request: pytest.FixtureRequest) -> tuple[str, nn.Module]:
    return request.param, param_set(request.param)


@pytest.mark.parametrize(
    "name",
    [
        REFERENCE,
        FUSED_REFERENCE,
        *OPTIMIZERS,
        # compiling costs seconds per process: not in the default run
        *(pytest.param(v, marks=pytest.mark.slow) for v in FUSED_VARIANTS),
    ],
)
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
    if name in FUSED_VARIANTS and set_name == "resnet18":  # mlp: Bop's tensors are too small
        inner = getattr(opt, "binary_optimizer", None) or opt
        assert inner.implementation.startswith("bnnbench compiled")


def test_ratio_helper_reports_every_optimizer() -> None:
    """The table helper measures optimizers against Adam and renders one row per optimizer."""
    ratios = measure_ratios("mlp", ["bamsprod", "bop"], repeats=2, clock="cpu")
    assert set(ratios) == {"bamsprod", "bop"}
    assert all(ms > 0 and ratio > 0 for ms, ratio in ratios.values())
    table = ratio_table(1, ("mlp",), names=["sgd"]).splitlines()
    assert table[0] == "| optimizer | mlp ms | mlp / Adam |" and table[2].startswith("| sgd | ")


@pytest.mark.slow  # compiles the three updates
def test_fused_table_compares_compiled_and_foreach_steps() -> None:
    table = fused_table("mlp", 2).splitlines()
    assert table[0].startswith("| mlp | foreach ms | / Adam(fused) | compiled ms |")
    assert [line.split(" | ")[0] for line in table[2:]] == ["| bamsprod", "| bop", "| bop2nd"]


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
    parser.add_argument(
        "--fused",
        action="store_true",
        help="the compiled BAMSProd/Bop/Bop2ndOrder steps against foreach and Adam(fused=True)",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu measures one thread: use --threads 1")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.clock} clock, "
        f"median of {args.repeats} steps"
    )
    if args.fused:
        for set_name in args.sets:
            print(fused_table(set_name, args.repeats, args.clock))
        return
    print(ratio_table(args.repeats, tuple(args.sets), args.clock, args.only))


if __name__ == "__main__":
    sys.exit(main())
