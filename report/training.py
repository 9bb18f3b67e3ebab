"""The sections of a training suite's report, in the order a reader asks: the answer (a few
generated sentences and the accuracy matrix), the paper's claims, accuracy, speed of
convergence, across cells, inside the binary network, tuning, diverged and failed runs, the
methods (every rule, stated once) and the environment, each with its fixed number
(:data:`SECTION_NUMBERS`: an absent optional section leaves a gap). Every table puts its
numbers through the report's one formatter (:mod:`report.markup`) with the unit in its
header, and a table with a verdict has it first. Every number comes from one
:class:`~report.analysis.Analysis` (so the page and ``summary.json`` agree); figures from
:mod:`report.figures`; the words of the verdicts from :mod:`report.inference_words`. A tuned
suite with ``tuning.defaults`` has two rows per optimizer, tuned (``"adam"``) and at the
registry defaults (``"adam (defaults)"``), side by side in every table and figure, and a
"tuned vs defaults" table of what tuning gained."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from report import figures
from report import inference as inf
from report import inference_words as words
from report.analysis import (
    CANDIDATE,
    CLAIM_BASELINE,
    DEFAULTS_SUFFIX,
    Analysis,
    Claim,
    Comparison,
    analyse,
    expected_max_curves,
    family_alpha,
    tuning_gains,
)
from report.blocks import Block, Figure, Note, Paragraph, Section, Table
from report.markup import fixed
from report.stats import examples_in_test_set
from report.summary import final_runs

#: every section of a training report has this number whether or not the optional ones
#: (Tuning: tuned suites; Diverged and failed runs: when there are any) are there, so a
#: section's number and anchor ("#4-speed-of-convergence") are the same in every report;
#: "About this report" follows as 11 (report.markup.numbered)
SECTION_NUMBERS = {
    "The answer": 1,
    "The paper's claims": 2,
    "Final test accuracy": 3,
    "Speed of convergence": 4,
    "Across cells": 5,
    "Inside the binary network": 6,
    "Tuning": 7,
    "Diverged and failed runs": 8,
    "Methods": 9,
    "Environment": 10,
}
RECONSTRUCTION = (
    "BAMSProd is this project's documented reconstruction of the paper's optimizer from its "
    "abstract (docs/optimizers.md), not the authors' code: the claims are tested against it."
)
FAILED_COLUMNS = ("model", "dataset", "optimizer", "seed", "status", "message")
DEFAULTS_NOTE = (
    "Rows named '<optimizer> (defaults)' are that optimizer's final runs (same seeds, epochs "
    "and data) at the registry's default hyper-parameters plus the suite's fixed ones, "
    "untuned; the other rows use each cell's tuned point. 'bamsprod' is the tuned BAMSProd "
    "everywhere, and the paper's claims compare tuned BAMSProd with tuned Bop only. A "
    "cell whose best point was the defaults has one run in both rows."
)
#: performance profiles are drawn from this many cells on (one cell: a profile is two steps
#: that repeat the matrix, a panel without information)
MIN_PROFILE_CELLS = 2
#: where the per-seed values behind the page are (report/render.py writes the files)
DATA_NOTE = (
    "Data: every number here comes from the per-seed values in the files beside this page: "
    "runs.csv (one row per final run: its seed, status, final accuracies and losses), "
    "metrics.csv (every stored metric of those runs at every evaluation), summary.json (the "
    "numbers of this page, machine-readable, with each cell's per-seed runs)"
)
TRIALS_NOTE = " and trials.csv (one row per tuning trial)"
#: how every interval is named in a caption
CI = f"95% {inf.INTERVAL_METHOD} interval"


def has_defaults(analysis: Analysis) -> bool:
    """Whether the report has rows at the registry defaults (``tuning.defaults``)."""
    return any(
        name.endswith(DEFAULTS_SUFFIX) for cell in analysis.cells for name in cell.optimizers
    )


def _figure(path: Path | None, alt: str, caption: str) -> list[Block]:
    return [Figure(path, alt, caption)] if path is not None else []


def _cell_name(model: str, dataset: str) -> str:
    return "pooled" if model == "all" else f"{model}/{dataset}"


def _seeds(analysis: Analysis) -> str:
    """The seed counts of the report's rows: ``3`` or ``2-3``."""
    counts = sorted({len(r.runs) for c in analysis.cells for r in c.optimizers.values()})
    if not counts:
        return "0"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _verdict(c: Comparison | Claim, metric: str) -> str:
    """The verdict in words, with the detectable effect when undetermined (for sentences)."""
    return words.verdict(c.verdict, metric, c.margin, c.mde)


def _verdict_word(c: Comparison | Claim, metric: str) -> str:
    """The verdict as a table's first column shows it: ``better``, ``worse``, ``equivalent
    within ±1.0 point`` or ``undetermined``; the detectable effect has its own column."""
    return "undetermined" if c.verdict == "undetermined" else _verdict(c, metric)


#: the columns that name a row of a per-cell table, and of a per-cell comparison
ROW, VERSUS = ("cell", "optimizer"), ("cell", "vs")
#: the header of a detectable-effect column
DETECTABLE = "detectable (80% power)"


# ----------------------------------------------------------------------------- the answer
def _half_width(acc: dict[str, float]) -> float:
    low, high = acc["ci_low"], acc["ci_high"]
    return (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.nan


def _matrix_cell(cell: Any, name: str) -> str:
    """One optimizer row's accuracy in one cell: ``mean ± half-width`` in points, with its
    standing, ``-`` when it has no finished run."""
    r = cell.optimizers.get(name)
    if r is None or not math.isfinite(r.accuracy["mean"]):
        return "-"
    h = _half_width(r.accuracy)
    text = words.points(r.accuracy["mean"])
    text += f" ± {words.points(h)}" if math.isfinite(h) else f" (n={r.accuracy['n']})"
    mark = cell.standing.get(name, "")
    return text + (f" ({mark})" if mark else "")


def matrix_rows(analysis: Analysis) -> pd.DataFrame:
    """Optimizers x cells: final test accuracy in points, ``mean ± half-width`` of the
    t-interval, ``(lead)`` for each cell's highest mean and ``(tie)`` for every row not
    separable from it (:attr:`report.analysis.CellResult.standing`). With rows at the
    registry defaults, an optimizer's tuned and defaults rows are one line of the matrix,
    two columns per cell (``tuned``, ``defaults``): half the lines, so the matrix of a suite
    with defaults stays in the first screen."""
    names = sorted({n for c in analysis.cells for n in c.optimizers})
    paired = has_defaults(analysis)
    if paired:
        names = sorted({n.removesuffix(DEFAULTS_SUFFIX) for n in names})
    rows = []
    for name in names:
        row: dict[str, Any] = {"optimizer": name}
        for cell in analysis.cells:
            where = _cell_name(cell.model, cell.dataset)
            if paired:
                row[f"{where} tuned (points)"] = _matrix_cell(cell, name)
                row[f"{where} defaults (points)"] = _matrix_cell(cell, name + DEFAULTS_SUFFIX)
            else:
                row[f"{where} (points)"] = _matrix_cell(cell, name)
        rows.append(row)
    return pd.DataFrame(rows)


#: at most this many optimizers are named as tied with a leader; more are counted (the matrix
#: marks every one), so the opening stays a few lines long
TIES_NAMED = 3


def _ties_text(ties: list[str], others: int) -> str:
    """What the opening says of the rows not separable from a cell's leader."""
    if not ties:
        return ", ahead of every other"
    if len(ties) == others and others > 1:
        return ", not separable from any other row"
    if len(ties) > TIES_NAMED:
        return f", not separable from {len(ties)} of the {others} other rows (marked tie)"
    return f", not separable from {', '.join(ties)}"


def _leaders_sentence(analysis: Analysis) -> str:
    parts = []
    for cell in analysis.cells:
        lead = [n for n, s in cell.standing.items() if s == "lead"]
        if not lead:
            parts.append(f"{cell.model}/{cell.dataset}: no finished run")
            continue
        r = cell.optimizers[lead[0]].accuracy
        ties = sorted(n for n, s in cell.standing.items() if s == "tie")
        h = _half_width(r)
        text = f"{cell.model}/{cell.dataset}: {lead[0]} {words.points(r['mean'])}%"
        text += f" (± {words.points(h)})" if math.isfinite(h) else ""
        parts.append(text + _ties_text(ties, len(cell.optimizers) - 1))
    if len(parts) > 4:
        leads = [n for c in analysis.cells for n, s in c.standing.items() if s == "lead"]
        counts = ", ".join(f"{n} in {leads.count(n)}" for n in sorted(set(leads)))
        return (
            f"Highest mean final test accuracy, by cell: {counts} of {len(analysis.cells)} cells."
        )
    return "Highest mean final test accuracy: " + "; ".join(parts) + "."


def _primary(analysis: Analysis, other: str, metric: str) -> Comparison | None:
    for c in analysis.primary:
        if c.other == other and c.metric == metric:
            return c
    return None


def _primary_sentence(analysis: Analysis) -> str:
    if not analysis.primary:
        return ""
    counts = {v: 0 for v in inf.VERDICTS}
    for c in analysis.primary:
        counts[c.verdict] += 1
    k = max(c.cells for c in analysis.primary)
    return (
        f"Pooled over {_plural(k, 'cell')}, BAMSProd against each baseline (the primary family, "
        f"{len(analysis.primary)} comparisons of final accuracy and speed): better in "
        f"{counts['better']}, worse in {counts['worse']}, equivalent in "
        f"{counts['equivalent']}, undetermined in {counts['undetermined']}."
    )


def _claims_sentence(analysis: Analysis) -> str:
    pooled = {c.claim: c for c in analysis.claims if c.family == "primary"}
    if not pooled:
        return "The paper's claims are not tested here (no cell has both BAMSProd and Bop)."
    parts = []
    for metric, claimed in (("accuracy", "+3.7 points accuracy"), ("speed", "1.2x speed")):
        c = pooled.get(metric)
        if c is None:
            continue
        inside = {True: "inside", False: "outside", None: "with no interval for"}[
            c.claimed_in_interval
        ]
        parts.append(
            f"{claimed}: measured {words.effect(c.value, metric)} "
            f"{words.interval(c.ci_low, c.ci_high, metric)}, {_verdict(c, metric)}, the "
            f"claimed value {inside} the interval"
        )
    return "The paper's claims against Bop, pooled: " + "; ".join(parts) + "."


def _sure_sentence(analysis: Analysis) -> str:
    """How sure, in one sentence: the seeds, the smallest effects the primary family detects,
    and the seeds the claimed effects would need."""
    seeds = _seeds(analysis)
    text = f"How sure: {seeds} seed{'' if seeds == '1' else 's'} per optimizer and cell"
    acc = _primary(analysis, CLAIM_BASELINE, "accuracy") or next(
        (c for c in analysis.primary if c.metric == "accuracy"), None
    )
    if acc is not None:
        speed = _primary(analysis, acc.other, "speed")
        text += (
            f"; the smallest effects this suite detects with 80% power (BAMSProd vs "
            f"{acc.other}, pooled) are {words.mde(acc.mde, 'accuracy')} of accuracy"
            + (f" and {words.mde(speed.mde, 'speed')} of speed" if speed else "")
        )
    needed = {c.claim: c.seeds_needed for c in analysis.claims if c.family == "primary"}
    if needed:
        bits = [
            f"{'+3.7 points' if k == 'accuracy' else '1.2x'} "
            f"{int(v) if math.isfinite(v) else 'n/a'}"
            for k, v in sorted(needed.items())
        ]
        text += "; seeds per cell to resolve the claimed effects: " + ", ".join(bits)
    return text + "."


def answer_text(analysis: Analysis) -> str:
    """The opening: who leads where (with intervals), the primary verdicts, the claims, how
    sure (seeds, the smallest detectable effect)."""
    sentences = [_leaders_sentence(analysis)]
    if CANDIDATE in {n for c in analysis.cells for n in c.optimizers}:
        sentences += [_primary_sentence(analysis), _claims_sentence(analysis)]
    sentences.append(_sure_sentence(analysis))
    return " ".join(s for s in sentences if s)


def test_set_size(runs: list[Any]) -> tuple[int | None, bool]:
    """A cell's test-set size and whether it was read from the store: the runs'
    ``summary.test_examples`` when they all agree on one (stored since issue 21); for runs
    stored before, the size read from the granularity of their final accuracies
    (:func:`report.stats.examples_in_test_set`; ``None`` when that cannot tell)."""
    stored = {p.test_examples for p in runs if math.isfinite(p.test_examples)}
    if len(stored) == 1:
        return int(stored.pop()), True
    return examples_in_test_set(np.array([p.accuracy for p in runs], dtype=float)), False


def sizes_of_test_sets(analysis: Analysis) -> str:
    """The cells' test-set sizes (:func:`test_set_size`) with what one example is worth in
    points; those read from the accuracies' granularity say so; "" when no cell's size is
    known."""
    sizes: dict[str, int] = {}
    inferred: set[str] = set()
    for cell in analysis.cells:
        n, from_store = test_set_size([p for r in cell.optimizers.values() for p in r.runs])
        if n is not None:
            name = _cell_name(cell.model, cell.dataset)
            sizes[name] = n
            if not from_store:
                inferred.add(name)
    if not sizes:
        return ""
    how = " read from the accuracies' granularity"
    if len(set(sizes.values())) == 1 and len(sizes) == len(analysis.cells):
        n = next(iter(sizes.values()))
        note = f";{how}" if inferred else ""
        worth = words.points(1 / n, 2)
        return f" Test sets: {n:,} examples per cell (one example = {worth} points{note})."
    listed = ", ".join(
        f"{cell} {n:,} (one = {words.points(1 / n, 2)} points"
        + (f",{how}" if cell in inferred else "")
        + ")"
        for cell, n in sizes.items()
    )
    return f" Test sets, examples per cell: {listed}."


def answer_section(analysis: Analysis) -> Section:
    caption = (
        f"Final test accuracy in points: mean ± half-width of the {CI} over the seeds of each "
        f"row (n = {_seeds(analysis)}; 'n=1': too few for an interval). (lead): the "
        "highest mean of the cell; (tie): not separable from it (paired t-test of the leader "
        "minus the row, Holm over the cell's rows, p >= 0.05)."
        + (
            " Tuned: at the cell's tuned point; defaults: the same seeds at the registry's "
            "defaults (both compete for the lead)."
            if has_defaults(analysis)
            else ""
        )
        + sizes_of_test_sets(analysis)
    )
    return Section(
        "The answer",
        [
            Paragraph(answer_text(analysis)),
            Table(matrix_rows(analysis), caption, keys=("optimizer",)),
        ],
    )


# ----------------------------------------------------------------------------- claims
def claims_table(analysis: Analysis) -> pd.DataFrame:
    """One row per claim and cell (pooled last), the verdict first (on a phone the first
    columns are the ones on screen). The column ``measured`` mixes a speed-up and an accuracy
    difference, so its cells carry their units (``1.12x``, ``-6.0 points``)."""
    rows = []
    for claim in analysis.claims:
        metric = claim.claim
        rows.append(
            {
                "verdict": _verdict_word(claim, metric),
                "claim vs Bop": "1.2x speed" if metric == "speed" else "+3.7 points",
                "cell": _cell_name(claim.model, claim.dataset),
                "measured": words.with_unit(words.effect(claim.value, metric), metric),
                "95% CI": words.with_unit(
                    words.interval(claim.ci_low, claim.ci_high, metric), metric
                ),
                "claim in CI": {True: "yes", False: "no", None: "n/a"}[claim.claimed_in_interval],
                "p (Holm)": words.p_value(claim.p_holm),
                DETECTABLE: words.mde(claim.mde, metric),
                "seeds (pairs)": claim.n,
                "seeds to resolve (per cell)": claim.seeds_needed,
            }
        )
    return pd.DataFrame(rows)


def claims_section(analysis: Analysis) -> Section:
    intro = (
        "The paper claims about 1.2x faster convergence and about 3.7 points higher accuracy "
        "than Bop. Each claim is tested with the comparison BAMSProd vs Bop itself (the same "
        "estimate, interval, test and verdict as the comparisons below; per cell: the "
        "secondary family, pooled: the primary), and the table adds whether the claimed value "
        f"lies in the interval. {RECONSTRUCTION}"
    )
    if not analysis.claims:
        note = Note("No cell has both BAMSProd and Bop: the claims are not tested here.")
        return Section("The paper's claims", [Paragraph(intro), note])
    caption = (
        "The claims: measured speed-up (Bop's restricted time-to-target / BAMSProd's, geometric "
        "mean over seeds) and accuracy difference (BAMSProd - Bop, points) with the "
        f"{CI} (ratios: of the log-ratio, exponentiated); seeds: pairs; seeds to resolve: "
        "seeds per cell at which the claimed effect would be detected with 80% power at the "
        "observed spread."
    )
    table = Table(claims_table(analysis), caption, keys=("claim vs Bop", "cell"))
    return Section("The paper's claims", [Paragraph(intro), table])


# ----------------------------------------------------------------------------- accuracy
def accuracy_rows(analysis: Analysis) -> pd.DataFrame:
    """Per cell and optimizer: seeds, diverged and failed runs, the mean final test accuracy
    with its sd and t-interval in points, and the mean wall time per run in seconds."""
    rows = []
    for cell in analysis.cells:
        for name, r in cell.optimizers.items():
            acc = r.accuracy
            rows.append(
                {
                    "cell": _cell_name(cell.model, cell.dataset),
                    "optimizer": name,
                    "seeds": len(r.runs) + r.failed,
                    "diverged": sum(p.status == "diverged" for p in r.runs),
                    "failed": r.failed,
                    "accuracy (points)": words.points(acc["mean"]),
                    "sd (points)": words.points(acc["std"]),
                    "95% CI (points)": words.interval(
                        acc["ci_low"], acc["ci_high"], "accuracy", signed=False
                    ),
                    "time per run (s)": fixed(r.seconds_per_run, 1),
                }
            )
    return pd.DataFrame(rows)


def comparison_rows(
    analysis: Analysis, metric: str = "accuracy", family: str = "secondary"
) -> pd.DataFrame:
    """BAMSProd against every other row on ``metric``, per cell (``secondary``) or pooled
    (``primary``: the number of ``cells`` pooled, last, instead of the cell), the verdict
    first. Accuracy:
    difference BAMSProd - other in points; speed: the speed-up ratio (``x``)."""
    unit = "points" if metric == "accuracy" else "x"
    estimate = "difference (points)" if metric == "accuracy" else "speed-up (x)"
    rows = []
    for c in analysis.family(family):
        if c.metric != metric:
            continue
        rows.append(
            {
                "verdict": _verdict_word(c, metric),
                "cell": _cell_name(c.model, c.dataset) if family != "primary" else c.cells,
                "vs": c.other,
                estimate: words.effect(c.estimate, metric, unit=False),
                f"95% CI ({unit})": words.interval(c.ci_low, c.ci_high, metric, unit=False),
                "p": words.p_value(c.effect.p_value),
                "p (Holm)": words.p_value(c.p_holm),
                DETECTABLE: words.mde(c.mde, metric),
                "seeds (pairs)": c.effect.n,
                "W/T/L (seeds)": f"{c.wins}/{c.ties}/{c.losses}",
            }
        )
    frame = pd.DataFrame(rows)
    if family == "primary" and not frame.empty:  # the number of cells pooled, last
        frame = frame[[c for c in frame.columns if c != "cell"] + ["cell"]]
        frame = frame.rename(columns={"cell": "cells"})
    return frame


def gain_rows(analysis: Analysis) -> pd.DataFrame:
    """Per cell and optimizer with both rows: tuned and defaults mean accuracy, the gain
    (tuned - defaults, seed-paired) with its t-interval, and the seeds whose two runs are
    one."""
    rows = [
        {
            "cell": _cell_name(g.model, g.dataset),
            "optimizer": g.optimizer,
            "seeds": g.n,
            "tuned (points)": words.points(g.tuned),
            "defaults (points)": words.points(g.defaults),
            "gain (points)": words.points(g.gain, signed=True),
            "95% CI (points)": words.interval(g.ci_low, g.ci_high, "accuracy"),
            "same run (seeds)": f"{g.shared}/{g.n}",
        }
        for g in tuning_gains(analysis)
    ]
    return pd.DataFrame(rows)


def horizon_note(protocol: dict[str, Any] | None) -> str:
    """Where the tuning trials ran fewer epochs than the final runs, a sentence saying so."""
    tuning = (protocol or {}).get("tuning") or {}
    short, final = tuning.get("epochs"), (protocol or {}).get("epochs")
    if not tuning.get("trials") or short is None or final is None or short >= final:
        return ""
    return (
        f" The tuning trials ran {_plural(short, 'epoch')}, the final runs {final}: points chosen at "
        "the shorter horizon can favour fast early learning over the final accuracy."
    )


def accuracy_section(analysis: Analysis, protocol: dict[str, Any] | None = None) -> Section:
    blocks: list[Block] = [
        Table(
            accuracy_rows(analysis),
            "Final test accuracy in points per cell and optimizer over its seeds: mean, sd "
            f"and the {CI} of the mean ('{inf.NO_INTERVAL}': one seed). Diverged runs count "
            "with their last accuracy; failed runs are counted, not averaged; time per run: "
            "mean wall seconds of training and evaluation.",
            keys=ROW,
        ),
    ]
    gains = gain_rows(analysis)
    if not gains.empty:
        blocks += [
            Paragraph("Tuned vs defaults: what tuning gained, per cell and optimizer."),
            Table(
                gains,
                "Tuned vs defaults: what tuning gained, tuned - defaults final test accuracy "
                f"in points (mean of seed-paired differences, {CI}); same run: seeds where "
                "the best point was the defaults, so both rows are one run."
                + horizon_note(protocol),
                keys=ROW,
            ),
        ]
    if any(c.metric == "accuracy" for c in analysis.comparisons):
        blocks += [
            Table(
                comparison_rows(analysis, "accuracy"),
                "BAMSProd against each row in final test accuracy, per cell (the secondary "
                f"family, {len(analysis.comparisons)} tests): difference = BAMSProd - other in "
                f"points with the {CI} of the seed-paired differences; p: paired t-test; "
                "p (Holm): adjusted over the family; detectable: the smallest difference the "
                "test detects with 80% power at the family's first Holm level; W/T/L: seeds "
                "BAMSProd won/tied/lost.",
                keys=VERSUS,
            ),
        ]
    return Section("Final test accuracy", blocks)


# ----------------------------------------------------------------------------- speed
def speed_rows(analysis: Analysis) -> pd.DataFrame:
    """Per cell and optimizer: the target in points, reached k of n, the Kaplan-Meier median
    and the restricted mean time-to-target in steps (with its t-interval), the restricted mean
    in epochs and seconds, the speed-up vs the reference (``x``) and the AUC (mean test
    accuracy over the step budget, points)."""
    ref = analysis.reference
    rows = []
    for cell in analysis.cells:
        for name, r in cell.optimizers.items():
            s, t = r.steps_to_target, r.seconds_to_target
            rows.append(
                {
                    "cell": _cell_name(cell.model, cell.dataset),
                    "optimizer": name,
                    "target (points)": words.points(cell.target),
                    "reached (runs)": f"{r.reached} of {len(r.runs)}",
                    "median, KM (steps)": fixed(s.get("km_median", math.nan), 0),
                    "restricted mean (steps)": fixed(s["mean"], 0),
                    "95% CI (steps)": _steps_ci(s),
                    "restricted mean (epochs)": fixed(r.epochs_to_target["mean"], 2),
                    "restricted mean (s)": fixed(t["mean"], 2),
                    f"speed-up vs {ref} (x)": words.ratio(
                        r.speedup.get("value", math.nan), unit=False
                    ),
                    "95% CI (x)": words.interval(
                        r.speedup.get("ci_low", math.nan),
                        r.speedup.get("ci_high", math.nan),
                        "speed",
                        unit=False,
                    ),
                    "AUC (points)": words.points(r.auc),
                }
            )
    return pd.DataFrame(rows)


def _steps_ci(s: dict[str, float]) -> str:
    if not (math.isfinite(s["ci_low"]) and math.isfinite(s["ci_high"])):
        return inf.NO_INTERVAL
    return f"[{fixed(s['ci_low'], 0)}, {fixed(s['ci_high'], 0)}]"


def speed_section(
    analysis: Analysis, runs: pd.DataFrame, values: pd.DataFrame, out: Path
) -> Section:
    ref = analysis.reference
    n = _seeds(analysis)
    blocks: list[Block] = []
    targets = {(c.model, c.dataset): c.target for c in analysis.cells}
    curves = (
        f"Mean over n = {n} seeds per optimizer; band: 95% Student-t interval of the mean; "
        "dotted: the cell's target; a cross: where a diverged run stopped (BAMSProd and the "
        f"reference '{ref}' drawn thicker)."
    )
    blocks += _figure(
        figures.learning_curves(runs, values, out, x="step", reference=ref, target=targets),
        "test accuracy against optimizer steps, per cell",
        f"Test accuracy (or error, log axis, where it saturates) against optimizer steps. {curves}",
    )
    blocks += _figure(
        figures.learning_curves(runs, values, out, x="seconds", reference=ref, target=targets),
        "test accuracy against training seconds, per cell",
        f"The same against training wall seconds (evaluation excluded). {curves}",
    )
    blocks += _figure(
        figures.loss_curves(runs, values, out, reference=ref),
        "training loss against optimizer steps, per cell",
        f"Training loss (cross-entropy, log axis) against optimizer steps. {curves}",
    )
    blocks.append(
        Table(
            speed_rows(analysis),
            f"Time to the cell's target ({analysis.target.describe(ref)}), per optimizer over "
            f"n = {n} seeds: reached k of n; the Kaplan-Meier median (inf: at most half "
            "reached it within the budget); the restricted mean (runs that never reached it "
            f"count at the budget) with its {CI}; epochs and seconds at that point; speed-up = "
            f"the reference's restricted time / the optimizer's (geometric mean, {CI} of the "
            "log-ratio, exponentiated); AUC: mean test accuracy over the step budget.",
            keys=ROW,
        )
    )
    if any(c.metric == "speed" for c in analysis.comparisons):
        blocks.append(
            Table(
                comparison_rows(analysis, "speed"),
                "BAMSProd against each row in speed, per cell (secondary family): speed-up = "
                "the other's restricted time-to-target / BAMSProd's (> 1: BAMSProd faster), "
                f"geometric mean with the {CI} of the paired log-ratio, exponentiated; p: "
                "paired t-test of the log-ratios; detectable: the smallest speed-up the test "
                "detects with 80% power at the family's first Holm level; W/T/L: seeds "
                "BAMSProd was faster/equal/slower.",
                keys=VERSUS,
            )
        )
    return Section("Speed of convergence", blocks)


# ----------------------------------------------------------------------------- across cells
def descriptive_rows(analysis: Analysis) -> pd.DataFrame:
    rows = []
    poi = analysis.descriptive.get("probability_of_improvement", {})
    for name, d in analysis.descriptive.get("iqm", {}).items():
        p = poi.get(name)
        rows.append(
            {
                "optimizer": name,
                "IQM accuracy (points)": words.points(d.estimate),
                "95% CI (points)": words.interval(d.ci_low, d.ci_high, "accuracy", signed=False),
                "P(BAMSProd > it)": words.ratio(p.estimate, unit=False) if p else "-",
                "95% CI of P": words.interval(p.ci_low, p.ci_high, "speed", unit=False)
                if p
                else "-",
                "runs": d.runs,
            }
        )
    return pd.DataFrame(rows)


def profiles_section(analysis: Analysis, out: Path) -> Section:
    blocks: list[Block] = []
    for metric, what in (("accuracy", "difference in points"), ("speed", "speed-up ratio")):
        rows = comparison_rows(analysis, metric, "primary")
        if rows.empty:
            continue
        blocks.append(
            Table(
                rows,
                f"The primary family ({len(analysis.primary)} tests), {metric}: BAMSProd "
                "against each baseline pooled over the cells where both ran, each cell "
                f"weighted equally ({what}, {CI} with Welch-Satterthwaite degrees of "
                "freedom; seeds: pairs over all cells; p (Holm) over the whole family).",
                keys=("vs",),
            )
        )
    desc = descriptive_rows(analysis)
    if not desc.empty:
        blocks.append(
            Table(
                desc,
                "Descriptive, not a verdict: the interquartile mean of final test accuracy "
                "over every run of every cell, and the probability that a BAMSProd run beats "
                "a run of the row in the same cell (averaged over cells), each with a 95% "
                f"percentile interval from a stratified bootstrap over seeds within cells "
                f"({inf.RESAMPLES} resamples).",
                keys=("optimizer",),
            )
        )
    cells = len(analysis.cells)
    for name, label in (("final_error", "final test error"), ("steps_to_target", "steps")):
        profile = analysis.profiles.get(name)
        if profile is not None and cells >= MIN_PROFILE_CELLS:
            path = figures.performance_profile_figure(
                profile, out, name=f"profile_{name}", xlabel=f"tau ({label} / best)"
            )
            blocks += _figure(
                path,
                f"performance profile of {label}",
                f"Performance profile (Dolan and Moré 2002) of {label} over "
                f"{cells} cells: the fraction of cells where an optimizer's "
                "mean cost is within a factor tau of the best (steps: infinite when a seed "
                "never reached the target). Higher and further left is better.",
            )
    if cells < MIN_PROFILE_CELLS:
        blocks.append(
            Note(
                f"No performance profiles: they compare optimizers across cells, and this "
                f"suite has {_plural(cells, 'cell')} (the matrix above says the same)."
            )
        )
    return Section("Across cells", blocks)


# ----------------------------------------------------------------------------- BNN
def bnn_section(runs: pd.DataFrame, values: pd.DataFrame, out: Path) -> Section:
    blocks: list[Block] = []
    blocks += _figure(
        figures.diagnostics_figure(runs, values, out),
        "BNN diagnostics",
        "Inside the binary network, per optimizer (mean over seeds and over binary layers, "
        "weighted by size): the flip rate (fraction of binary weights whose sign changed since "
        "the previous evaluation), the quantization error of the latent weights (xnor_l1) and "
        "the fraction of latent weights saturated at the clip bound.",
    )
    blocks += _figure(
        figures.bamsprod_range_figure(runs, values, out),
        "BAMSProd's range",
        "BAMSProd's step-size clamp [lower, upper] against optimizer steps, mean over seeds and "
        "binary tensors, log axis.",
    )
    if not blocks:
        blocks.append(Note("No diagnostics stored (diagnostics: false)."))
    return Section("Inside the binary network", blocks)


# ----------------------------------------------------------------------------- tuning
def tuning_extras(
    trials: pd.DataFrame | None,
    log_params: tuple[str, ...],
    out: Path,
    *,
    tuning_epochs: int | None = None,
) -> list[Block]:
    r"""Expected best validation accuracy after k trials (Dodge et al. 2019, exact from the
    trials: :func:`report.analysis.expected_max_curves`) and the sensitivity plot
    (:func:`report.figures.sensitivity_figure`), with the paragraph that explains both.

    ``trials``: one row per trial, its score the mean validation accuracy over its
    :math:`S` seeds. Expected best-of-k counts only the trials that reached the last rung
    (``tuning_epochs`` epochs; default: each cell's longest trial): a trial stopped by
    halving scores at fewer epochs. The sensitivity bands are t-intervals over seeds,
    :math:`\bar a \pm t_{0.975, S-1}\, s/\sqrt S`."""
    if trials is None or trials.empty:
        return []
    done = trials[trials["status"] != "missing"] if "status" in trials else trials
    curves = expected_max_curves(done, epochs=tuning_epochs)
    seeds = int(pd.to_numeric(done.get("seeds", pd.Series([1])), errors="coerce").max() or 1)
    stopped = 0
    if "stopped" in done:
        stopped = int(done["stopped"].fillna(False).astype(bool).sum())
    score = (
        f"a trial's score is the mean validation accuracy of its {seeds} seeds"
        if seeds > 1
        else "a trial's score is its run's validation accuracy"
    )
    text = (
        f"Expected best validation accuracy after k of a cell's N trials (Dodge et al. 2019: "
        f"computed exactly from the trials, as if k were drawn with replacement; {score})."
    )
    if stopped:
        text += (
            f" Only the trials that reached the last rung count (N excludes the {stopped} "
            "trial(s) stopped early by halving: their scores are at fewer epochs)."
        )
    text += (
        " Then validation accuracy against each tuned parameter: per optimizer, the slice "
        "through its best point (the trials whose other parameters equal the best point's: "
        "a grid's row; every trial of a one-parameter space) drawn as a line"
    )
    if seeds > 1:
        text += (
            " with a band of 95% t-intervals over each trial's seeds (mean ± t(0.975, S-1) "
            "sd / sqrt(S))"
        )
    text += ", its other trials as faint points, its best trial a star"
    if stopped:
        text += ", trials stopped by halving hollow (their scores are at fewer epochs)"
    text += "; a diverged trial (a cross) scores 0."
    blocks: list[Block] = [Paragraph(text)]
    blocks += _figure(
        figures.expected_max_figure(curves, out),
        "expected best of k trials",
        "Expected best validation accuracy after k trials (Dodge et al. 2019), exact from the "
        "trials that reached the last rung.",
    )
    blocks += _figure(
        figures.sensitivity_figure(done, out, log_params=log_params, epochs=tuning_epochs),
        "tuning sensitivity",
        "Validation accuracy against each tuned parameter through the best point"
        + (" (band: 95% Student-t interval over each trial's seeds)." if seeds > 1 else "."),
    )
    return blocks


# ----------------------------------------------------------------------------- runs, env
def problems_section(runs: pd.DataFrame) -> Section | None:
    bad = runs[runs["status"].isin(["failed", "diverged"])] if not runs.empty else runs
    if bad.empty:
        return None
    cols = [c for c in FAILED_COLUMNS if c in bad]
    caption = (
        "Runs that diverged (stored with their curve so far, counted with their last "
        "accuracy, never reaching a target) or failed (raised an error; rerunning the suite "
        "retries them)."
    )
    return Section("Diverged and failed runs", [Table(bad[cols], caption)])


def _short_commit(commit: Any) -> Any:
    """A git commit as its first 12 hex digits (``+dirty`` kept; runs.csv and summary.json
    keep the whole hash)."""
    if not isinstance(commit, str):
        return commit
    head, plus, rest = commit.partition("+")
    return head[:12] + plus + rest


def environment_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs executed on: one row per distinct (host, CPU, GPU, torch, git commit)."""
    if runs.empty or "environment" not in runs:
        return pd.DataFrame()
    seen: dict[tuple, int] = {}
    for env in runs["environment"]:
        env = env or {}
        pk = env.get("packages", {})
        key = (env.get("hostname"), env.get("cpu"), env.get("cpu_count"), env.get("gpu"),
               pk.get("torch"), env.get("python"), _short_commit(env.get("git_commit")))  # fmt: skip
        seen[key] = seen.get(key, 0) + 1
    cols = ["host", "cpu", "cores", "gpu", "torch", "python", "git commit", "runs"]
    return pd.DataFrame([(*k, n) for k, n in seen.items()], columns=cols)


def environment_section(runs: pd.DataFrame) -> Section:
    return Section(
        "Environment",
        [
            Table(
                environment_rows(runs),
                "Where the runs executed (captured by the process that ran each run), one "
                "row per distinct host, CPU, GPU, torch, python and git commit.",
            ),
        ],
    )


# ----------------------------------------------------------------------------- methods
def methods_text(analysis: Analysis, protocol: dict[str, Any] | None = None) -> list[str]:
    """The rules of every number above, once (docs/protocol.md, "Statistics", gives the
    reasons)."""
    m = analysis.methods
    fam = m["families"]
    design = m["min_signflip_holm_p"]
    acc_margin = words.margin("accuracy", m["margins"]["accuracy"])
    speed_margin = words.margin("speed", 1 + m["margins"]["speed"])
    primary_alpha = family_alpha(analysis.primary) if analysis.primary else math.nan
    paragraphs = [
        f"Intervals: every mean and every mean paired difference over seeds has a {CI} "
        "(mean ± t(0.975, n-1) sd / sqrt(n)); a ratio (speed-up) is the exponentiated "
        "t-interval of the mean paired log-ratio (a geometric mean ratio). With a single seed "
        f"there is no interval ('{inf.NO_INTERVAL}').",
        "Verdicts, one standard for comparisons and claims: the paired t-test of the "
        "per-seed differences (accuracy: BAMSProd - other; speed: log of the other's "
        "restricted time-to-target over BAMSProd's), Holm-adjusted over a declared family. "
        f"'better'/'worse': adjusted p < {m['alpha']:g}; 'equivalent within ±m': the "
        "equivalence test (TOST) with margin m rejects, Holm-adjusted over the same family "
        f"(m = {acc_margin} of accuracy, {speed_margin} of speed); otherwise 'undetermined', "
        "with the smallest effect the test detects with 80% power at the family's first "
        "Holm level (alpha / family size: conservative).",
        f"Families: primary = {fam['primary']['what']} ({fam['primary']['size']} tests"
        + (f", first Holm level {primary_alpha:.3g}" if math.isfinite(primary_alpha) else "")
        + f"); secondary = {fam['secondary']['what']} ({fam['secondary']['size']} tests). "
        "Pooled across cells, the cells are the unit and weigh equally: the pooled effect is "
        "the mean over cells of the per-cell mean paired difference, its standard error "
        "sqrt(sum over cells of s_c^2 / n_c) / K with Welch-Satterthwaite degrees of freedom "
        "(cells fixed, seeds the replication).",
        f"Speed: a cell's target is {analysis.target.describe(analysis.reference)}. "
        "Time-to-target is the first evaluation at or above it, linearly interpolated between "
        "the last evaluation below and that one; a run that never reaches it (and every "
        "diverged run) is censored at the cell's budget: the tables give 'reached k of n', "
        "the Kaplan-Meier median and the restricted mean (censored runs counted at the "
        "budget, the restricted mean time up to the budget), and speed comparisons use the "
        "paired log-ratio of these restricted times.",
        "Descriptive summaries (no verdict): probability of improvement and interquartile "
        f"mean, stratified bootstrap over seeds within cells ({m['descriptive']['resamples']} "
        "resamples, percentile intervals; as rliable does).",
    ]
    if math.isfinite(design.get("primary", math.nan)):
        paragraphs.append(
            "Design check: with these seed counts an exact sign-flip test (no normality "
            "assumption) could reach at best a Holm-adjusted p of "
            f"{words.p_value(design['primary'])} in the primary family and "
            f"{words.p_value(design['secondary'])} in the secondary one."
        )
    if protocol:
        tuning = protocol.get("tuning") or {}
        if tuning.get("trials"):
            overlap = tuning.get("seeds_shared_with_final_runs") or []
            paragraphs.append(
                f"Tuning: {tuning['trials']} trials per cell, each on the validation split with "
                f"seed{'s' if len(tuning.get('seeds', [])) > 1 else ''} "
                f"{', '.join(map(str, tuning.get('seeds', [])))} for "
                f"{_plural(tuning.get('epochs'), 'epoch')}; the final runs train "
                f"{_plural(protocol.get('epochs'), 'epoch')} on seeds "
                f"{', '.join(map(str, protocol.get('seeds', [])))}"
                + (
                    f" (shared with the trials: {', '.join(map(str, overlap))}: those final "
                    "runs repeat a trial's data order and initialisation)."
                    if overlap
                    else "; no final run shares a seed with a tuning trial."
                )
            )
    if has_defaults(analysis):
        paragraphs.append(DEFAULTS_NOTE)
    tuned = bool(((protocol or {}).get("tuning") or {}).get("trials"))
    paragraphs.append(DATA_NOTE + (TRIALS_NOTE if tuned else "") + ".")
    return paragraphs


def methods_section(analysis: Analysis, protocol: dict[str, Any] | None = None) -> Section:
    return Section("Methods", [Paragraph(p) for p in methods_text(analysis, protocol)])


def training_sections(
    runs: pd.DataFrame,
    metrics: pd.DataFrame,
    reference: str,
    out_dir: Path | None = None,
    *,
    analysis: Analysis | None = None,
    fixed_target: float | None = None,
    target: Any = None,
) -> list[Section]:
    """Every section of a training report but tuning (inserted by the caller before the
    diverged/failed and environment sections: see :func:`assemble`)."""
    return assemble(runs, metrics, reference, out_dir or Path("."), analysis=analysis,
                    fixed_target=fixed_target, target=target)  # fmt: skip


def assemble(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    reference: str,
    out_dir: Path,
    *,
    analysis: Analysis | None = None,
    fixed_target: float | None = None,
    target: Any = None,
    tuning: Section | None = None,
    trials: pd.DataFrame | None = None,
    log_params: tuple[str, ...] = (),
    tuning_epochs: int | None = None,
    protocol: dict[str, Any] | None = None,
) -> list[Section]:
    """The report's sections in order (see the module docstring). A tuned suite's ``tuning``
    section (:func:`report.tuning.tuning_section`) gets the tuning figures of ``trials``
    (:func:`benchmark.results.trials_frame`) appended (:func:`tuning_extras`;
    ``tuning_epochs``: the suite's tuning budget, the last rung). ``protocol``: the suite's
    seeds and tuning (:func:`report.summary_json.protocol_part`) for the Methods."""
    finals = final_runs(runs)
    if finals.empty:
        return [Section("Results", [Note("No final runs in the store yet.")])]
    analysis = analysis or analyse(finals, values, reference, fixed_target, target=target)
    sections = [
        answer_section(analysis),
        claims_section(analysis),
        accuracy_section(analysis, protocol),
        speed_section(analysis, finals, values, out_dir),
        profiles_section(analysis, out_dir),
        bnn_section(finals, values, out_dir),
    ]
    if tuning is not None:
        tuning.blocks.extend(
            tuning_extras(trials, log_params, out_dir, tuning_epochs=tuning_epochs)
        )
        sections.append(tuning)
    problems = problems_section(finals)
    if problems is not None:
        sections.append(problems)
    sections.append(methods_section(analysis, protocol))
    sections.append(environment_section(finals))
    for section in sections:
        section.number = SECTION_NUMBERS[section.title]
    return sections
