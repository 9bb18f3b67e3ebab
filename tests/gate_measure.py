"""Measure the nightly gate's false-alarm rate and detection power on the gate's tiny suite
(tests/gate_plugins.py), as docs/nightly.md reports them:

    python -m tests.gate_measure OUT_DIR [REPETITIONS] [NOISE ...]

``REPETITIONS``: a count ``N`` (repetitions 0 .. N-1) or a range ``A-B`` (A .. B-1, to share
the work between processes). Repetition ``r`` uses the suite seeds ``[10 r, 10 r + 1, 10 r + 2]``: a tuned baseline (1 torch
thread), then pinned to it (``--hparams-from``) a clean run with 2 threads per worker (numeric
noise only: any regression is a false alarm) and one damaged run per ``NOISE`` (the plug-in's
update plus N(0, noise^2) per step: a regression of the plug-in is a detection; one of another
optimizer a false alarm). Prints one JSON line per comparison and the totals.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from report.compare import compare, load_summary
from tests.gate_plugins import PLUGIN, run_gate_suite


def measure(out: Path, repetitions: range, noises: list[float]) -> dict[str, object]:
    totals: dict[str, list[int]] = {"clean": [], **{f"noise {n:g}": [] for n in noises}}
    wrong = 0
    for r in repetitions:
        seeds = [10 * r, 10 * r + 1, 10 * r + 2]
        start = time.perf_counter()
        base = run_gate_suite(out / f"r{r}" / "base", seeds)
        cases = [("clean", run_gate_suite(out / f"r{r}" / "t2", seeds, threads=2, pin=base))]
        for noise in noises:
            folder = out / f"r{r}" / f"noise{noise:g}"
            cases.append((f"noise {noise:g}", run_gate_suite(folder, seeds, noise=noise, pin=base)))
        for name, folder in cases:
            result = compare(load_summary(folder), load_summary(base))
            flagged = sorted({c.optimizer for c in result.regressions})
            others = [o for o in flagged if o != PLUGIN]
            wrong += bool(others) or (name == "clean" and bool(flagged))
            totals[name].append(int(result.regressed))
            line = {"rep": r, "seeds": seeds, "case": name, "regressed": result.regressed}
            print(json.dumps({**line, "flagged": flagged}), flush=True)
        print(json.dumps({"rep": r, "seconds": round(time.perf_counter() - start, 1)}), flush=True)
    summary = {name: f"{sum(v)}/{len(v)} flagged" for name, v in totals.items()}
    summary["runs with a non-plug-in optimizer (or anything, clean) flagged"] = wrong
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    first, _, last = (args[1] if len(args) > 1 else "5").rpartition("-")
    reps = range(int(first or 0), int(last))
    measure(Path(args[0]), reps, [float(a) for a in args[2:]])
