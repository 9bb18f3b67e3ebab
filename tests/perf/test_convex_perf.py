"""Convex-task micro-benchmarks (pytest-benchmark) and the per-step table script.

The plain ``pytest`` run executes every benchmark once without timing. To time them::

    pytest tests/perf/test_convex_perf.py --benchmark-enable --benchmark-only

To print the table ``docs/convex.md`` reports: for each optimizer of the shipped convex suite,
the per-step cost of its whole batch (every form and seed, one optimizer object) as run by the
suite and as run with the registry's vectorised kernels and no packing, each as a ratio to one
``torch.optim.Adam(foreach=True)`` step on a one-element float64 tensor measured in the same
process, interleaved (the VM's speed drifts; the ratios do not)::

    python tests/perf/test_convex_perf.py --steps 5000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import pytest
import torch

from benchmark.tasks.convex import ConvexSection, convex_batches, expand_convex, run_convex_batch

#: as the suite runs it, and the earlier configuration (vectorised kernels, binary tensors apart)
MODES: dict[str, dict[str, bool | None]] = {
    "suite": {"per_tensor": True, "pack": None},
    "vectorised, unpacked": {"per_tensor": False, "pack": False},
}


def suite_batches(steps: int) -> dict[str, list]:
    """The shipped convex suite's batches (its default section), at ``steps`` steps."""
    specs = expand_convex(ConvexSection(steps=steps))
    return {batch[0].optimizer: batch for batch in convex_batches(specs)}


def adam_step_seconds(repeats: int = 2000) -> float:
    """Mean wall time of one Adam(foreach) step on a one-element float64 tensor."""
    p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    p.grad = torch.full_like(p, 0.5)
    opt = torch.optim.Adam([p], lr=0.1, foreach=True)
    for _ in range(100):
        opt.step()
    t0 = time.perf_counter()
    for _ in range(repeats):
        opt.step()
    return (time.perf_counter() - t0) / repeats


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("optimizer", ["adam", "bamsprod", "bop"])
def test_batch_time(benchmark, optimizer: str, mode: str) -> None:
    batch = suite_batches(300)[optimizer]
    records = benchmark(lambda: run_convex_batch(batch, **MODES[mode]))
    assert [r.status for r in records] == ["completed"] * len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    batches = suite_batches(args.steps)
    ratios: dict[tuple[str, str], list[float]] = {}
    micros: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name, batch in batches.items():
            for mode, options in MODES.items():
                reference = adam_step_seconds()
                t0 = time.perf_counter()
                run_convex_batch(batch, **options)
                per_step = (time.perf_counter() - t0) / args.steps
                ratios.setdefault((name, mode), []).append(per_step / reference)
                micros.setdefault((name, mode), []).append(per_step * 1e6)
    print(f"steps {args.steps}, repeats {args.repeats}, medians; reference: one Adam step")
    print("| optimizer | runs | " + " | ".join(f"{m} (us, x Adam step)" for m in MODES) + " |")
    print("|---|---|" + "---|" * len(MODES))
    for name, batch in batches.items():
        cells = [
            f"{statistics.median(micros[(name, m)]):.0f} us, "
            f"{statistics.median(ratios[(name, m)]):.1f}x"
            for m in MODES
        ]
        print(f"| {name} | {len(batch)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
