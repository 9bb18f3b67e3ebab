"""The sections of a training suite's report, in the order a reader asks: the headline, the
paper's claims, accuracy, speed of convergence, across cells, inside the binary network,
tuning, diverged and failed runs, the environment. Every number comes from one
:class:`~report.analysis.Analysis` (so the page and ``summary.json`` agree); figures from
:mod:`report.figures`. A tuned suite with ``tuning.defaults`` has two rows per optimizer,
tuned (``"adam"``) and at the registry defaults (``"adam (defaults)"``), side by side in every
table and figure, and a "tuned vs defaults" table of what tuning gained."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import median
from typing import Any

import pandas as pd

from report import figures, stats
from report.analysis import DEFAULTS_SUFFIX, Analysis, analyse, expected_max_curves, tuning_gains
from report.blocks import Block, Figure, Note, Paragraph, Section, Table
from report.markup import number
from report.summary import final_runs

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


def has_defaults(analysis: Analysis) -> bool:
    """Whether the report has rows at the registry defaults (``tuning.defaults``)."""
    return any(
        name.endswith(DEFAULTS_SUFFIX) for cell in analysis.cells for name in cell.optimizers
    )


def _ci(low: float, high: float) -> str:
    return "n/a" if math.isnan(low) or math.isnan(high) else f"[{number(low)}, {number(high)}]"


def _figure(path: Path | None, alt: str, caption: str = "") -> list[Block]:
    return [Figure(path, alt, caption)] if path is not None else []


# ----------------------------------------------------------------------------- headline
def headline_rows(analysis: Analysis) -> pd.DataFrame:
    """Per baseline: in how many cells BAMSProd is better / indistinguishable / worse (the
    paired rule), and the median over cells of its speedup (baseline steps / BAMSProd's)."""
    rows = []
    by_other: dict[str, list[Any]] = {}
    for comparison in analysis.comparisons:
        by_other.setdefault(comparison.other, []).append(comparison)
    for other, comparisons in sorted(by_other.items()):
        verdicts = [c.verdict for c in comparisons]
        speedups = [c.speedup["value"] for c in comparisons if not math.isnan(c.speedup["value"])]
        rows.append(
            {
                "baseline": other,
                "cells": len(comparisons),
                "better": verdicts.count("better"),
                "indistinguishable": verdicts.count("indistinguishable"),
                "worse": verdicts.count("worse"),
                "median speedup": median(speedups) if speedups else math.nan,
            }
        )
    return pd.DataFrame(rows)


def best_rows(analysis: Analysis) -> pd.DataFrame:
    rows = []
    for cell in analysis.cells:
        best = cell.best
        mean = cell.optimizers[best].accuracy["mean"] if best else math.nan
        rows.append({"model": cell.model, "dataset": cell.dataset, "best": best or "n/a",
                     "test acc": mean})  # fmt: skip
    return pd.DataFrame(rows)


def headline_section(analysis: Analysis) -> Section:
    table = headline_rows(analysis)
    n_cells = len(analysis.cells)
    if table.empty:
        text = (
            f"{n_cells} cell(s); BAMSProd is not in this suite (or has no finished run), so "
            "there is no comparison against it. Best optimizer per cell below."
        )
        return Section("Headline", [Paragraph(text), Table(best_rows(analysis))])
    better = int(table["better"].sum())
    worse = int(table["worse"].sum())
    total = int(table["cells"].sum())
    n = sorted(analysis.min_p)
    text = (
        f"Over {n_cells} cell(s), BAMSProd was compared with {len(table)} optimizer(s) on the "
        f"same seeds in final test accuracy: better in {better}, worse in {worse} and "
        f"indistinguishable in {total - better - worse} of {total} comparisons. "
        f"{stats.PAIRED_RULE} "
        f"With {', '.join(map(str, n))} seed(s) per comparison the smallest attainable p is "
        f"{', '.join(number(analysis.min_p[k]) for k in n)}, so a difference this test cannot "
        "detect reads as indistinguishable. Median speedup: the baseline's steps-to-target / "
        "BAMSProd's (> 1: BAMSProd faster)."
    )
    if has_defaults(analysis):
        text += " " + DEFAULTS_NOTE
    return Section(
        "Headline",
        [
            Paragraph(text),
            Table(table),
            Paragraph("Best optimizer per cell (highest mean final test accuracy):"),
            Table(best_rows(analysis)),
        ],
    )


# ----------------------------------------------------------------------------- claims
def claims_table(analysis: Analysis) -> pd.DataFrame:
    rows = []
    for claim in analysis.claims:
        rows.append(
            {
                "claim": "1.2x faster than Bop" if claim.claim == "speed" else "+3.7 points vs Bop",
                "cell": "pooled" if claim.model == "all" else f"{claim.model}/{claim.dataset}",
                "seeds": claim.n,
                "measured": claim.value,
                "95% CI": _ci(claim.ci_low, claim.ci_high),
                "claimed": claim.claimed,
                "verdict": claim.verdict,
            }
        )
    return pd.DataFrame(rows)


def claims_section(analysis: Analysis) -> Section:
    intro = (
        "The paper claims about 1.2x faster convergence and about 3.7% higher accuracy than "
        "Bop. Measured here: speedup = Bop's steps-to-target / BAMSProd's (ratio of means over "
        "the seeds both ran, paired bootstrap CI); accuracy = BAMSProd's final test accuracy "
        "minus Bop's (mean of seed-paired differences, paired bootstrap CI); pooled: every "
        f"(cell, seed) pair together. Rule: {stats.CLAIM_RULE} {RECONSTRUCTION}"
    )
    if not analysis.claims:
        note = Note("No cell has both BAMSProd and Bop: the claims are not tested here.")
        return Section("The paper's claims", [Paragraph(intro), note])
    return Section("The paper's claims", [Paragraph(intro), Table(claims_table(analysis))])


# ----------------------------------------------------------------------------- accuracy
def accuracy_rows(analysis: Analysis) -> pd.DataFrame:
    rows = []
    for cell in analysis.cells:
        for name, r in cell.optimizers.items():
            rows.append(
                {
                    "model": cell.model,
                    "dataset": cell.dataset,
                    "optimizer": name,
                    "seeds": len(r.runs) + r.failed,
                    "diverged": sum(p.status == "diverged" for p in r.runs),
                    "failed": r.failed,
                    "test_acc_mean": r.accuracy["mean"],
                    "test_acc_std": r.accuracy["std"],
                    "ci_low": r.accuracy["ci_low"],
                    "ci_high": r.accuracy["ci_high"],
                    "seconds": r.seconds_per_run,
                }
            )
    return pd.DataFrame(rows)


def comparison_rows(analysis: Analysis) -> pd.DataFrame:
    rows = []
    for c in analysis.comparisons:
        r = c.result
        rows.append(
            {
                "model": c.model,
                "dataset": c.dataset,
                "vs": c.other,
                "seeds": r.n,
                "difference": r.difference,
                "95% CI": _ci(r.ci_low, r.ci_high),
                "p": r.p_value,
                "p (Holm)": c.p_holm,
                "W/T/L": f"{r.wins}/{r.ties}/{r.losses}",
                "verdict": c.verdict,
            }
        )
    return pd.DataFrame(rows)


def gain_rows(analysis: Analysis) -> pd.DataFrame:
    """Per cell and optimizer with both rows: tuned and defaults mean accuracy, the gain
    (tuned - defaults, seed-paired) with its CI, and the seeds whose two runs are one."""
    rows = [
        {
            "model": g.model,
            "dataset": g.dataset,
            "optimizer": g.optimizer,
            "seeds": g.n,
            "tuned": g.tuned,
            "defaults": g.defaults,
            "gain": g.gain,
            "95% CI": _ci(g.ci_low, g.ci_high),
            "same run": f"{g.shared}/{g.n}",
        }
        for g in tuning_gains(analysis)
    ]
    return pd.DataFrame(rows)


def accuracy_section(analysis: Analysis) -> Section:
    blocks: list[Block] = [
        Paragraph(
            "Final test accuracy per cell over seeds: mean, standard deviation and 95% "
            "bootstrap CI of the mean (n/a with a single seed). Diverged runs count with "
            "their last accuracy; failed runs are counted, not averaged."
        ),
        Table(accuracy_rows(analysis)),
    ]
    gains = gain_rows(analysis)
    if not gains.empty:
        blocks += [
            Paragraph(
                "Tuned vs defaults: what tuning gained per cell and optimizer, gain = tuned - "
                "defaults final test accuracy (mean of seed-paired differences, paired "
                "bootstrap CI); same run: seeds where the best point was the defaults, so "
                f"both rows are one run. {DEFAULTS_NOTE}"
            ),
            Table(gains),
        ]
    if analysis.comparisons:
        blocks += [
            Paragraph(
                "BAMSProd against each optimizer on the same seeds: difference = BAMSProd - "
                "other in final test accuracy (paired bootstrap CI), exact sign-flip "
                f"permutation p, Holm-corrected over the {len(analysis.comparisons)} "
                f"comparisons of this report; W/T/L = seeds where BAMSProd won/tied/lost. "
                f"{stats.PAIRED_RULE}"
            ),
            Table(comparison_rows(analysis)),
        ]
    return Section("Final test accuracy", blocks)


# ----------------------------------------------------------------------------- speed
def speed_rows(analysis: Analysis) -> pd.DataFrame:
    rows = []
    for cell in analysis.cells:
        for name, r in cell.optimizers.items():
            s, e, t = r.steps_to_target, r.epochs_to_target, r.seconds_to_target
            rows.append(
                {
                    "model": cell.model,
                    "dataset": cell.dataset,
                    "optimizer": name,
                    "target": cell.target,
                    "steps": s["mean"],
                    "steps CI": _ci(s["ci_low"], s["ci_high"]),
                    "epochs": e["mean"],
                    "seconds": t["mean"],
                    "seconds CI": _ci(t["ci_low"], t["ci_high"]),
                    "reached": f"{r.reached}/{len(r.runs)}",
                    "speedup": r.speedup.get("value", math.nan),
                    "speedup CI": _ci(
                        r.speedup.get("ci_low", math.nan), r.speedup.get("ci_high", math.nan)
                    ),  # fmt: skip
                    "AUC": r.auc,
                }
            )
    return pd.DataFrame(rows)


def speed_section(
    analysis: Analysis, runs: pd.DataFrame, values: pd.DataFrame, out: Path
) -> Section:
    ref = analysis.reference
    intro = (
        "Test accuracy during training, mean over seeds with a 95% bootstrap band, against "
        "optimizer steps and against training wall seconds (BAMSProd and the reference "
        f"'{ref}' drawn thicker; one colour per optimizer in every figure). The target of a "
        f"cell is the mean final test accuracy of '{ref}''s completed runs; steps-, epochs- "
        "and seconds-to-target count until a run first reaches it; a run that never does, and "
        "every diverged run, counts as the cell's full budget. speedup = the reference's "
        "steps / the optimizer's (seed-paired). AUC: area under the accuracy curve over the "
        "step budget (1 = perfect from the first step)."
    )
    if has_defaults(analysis):
        intro += (
            " Dashed, in the optimizer's colour: its runs at the registry defaults (the rows "
            f"'<optimizer> (defaults)'); the target is the tuned '{ref}''s."
        )
    blocks: list[Block] = [Paragraph(intro)]
    targets = {(c.model, c.dataset): c.target for c in analysis.cells}
    seeds = max((len(r.runs) for c in analysis.cells for r in c.optimizers.values()), default=0)
    curves = (
        f"Mean over up to {seeds} seeds per optimizer; band: 95% percentile bootstrap CI of the "
        "mean; dotted: the cell's target; a cross: where a diverged run stopped."
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
    blocks.append(Table(speed_rows(analysis)))
    return Section("Speed of convergence", blocks)


# ----------------------------------------------------------------------------- across cells
def profiles_section(analysis: Analysis, out: Path) -> Section:
    intro = (
        "Performance profiles (Dolan and Moré, 2002) across cells: for each optimizer, the "
        "fraction of cells where its cost is within a factor tau of the best optimizer's. "
        "Costs: final test error (1 - mean accuracy) and mean steps-to-target (infinite when "
        "a seed never reached the target). Higher and further left is better."
    )
    blocks: list[Block] = [Paragraph(intro)]
    for name, label in (("final_error", "final test error"), ("steps_to_target", "steps")):
        profile = analysis.profiles.get(name)
        if profile is not None:
            path = figures.performance_profile_figure(
                profile, out, name=f"profile_{name}", xlabel=f"tau ({label} / best)"
            )
            blocks += _figure(
                path,
                f"performance profile of {label}",
                f"Performance profile of {label} over {len(analysis.cells)} cell(s): the fraction "
                "of cells where an optimizer's cost is within tau times the best (means over seeds).",
            )
    if len(blocks) == 1:
        blocks.append(Note("Not enough cells for a profile."))
    return Section("Across cells", blocks)


# ----------------------------------------------------------------------------- BNN
def bnn_section(runs: pd.DataFrame, values: pd.DataFrame, out: Path) -> Section:
    intro = (
        "Inside the binary network, per optimizer (mean over seeds and over binary layers, "
        "weighted by size): the flip rate (fraction of binary weights whose sign changed since "
        "the previous evaluation), the quantization error of the latent weights (xnor_l1) and "
        "the fraction of latent weights saturated at the clip bound; and BAMSProd's step-size "
        "range (lower, upper bound of its clamp) over training."
    )
    blocks: list[Block] = [Paragraph(intro)]
    blocks += _figure(
        figures.diagnostics_figure(runs, values, out),
        "BNN diagnostics",
        "Flip rate, quantization error and latent saturation against optimizer steps, mean over "
        "seeds and binary layers; latent-weight diagnostics are not applicable to Bop (omitted).",
    )
    blocks += _figure(
        figures.bamsprod_range_figure(runs, values, out),
        "BAMSProd's range",
        "BAMSProd's step-size clamp [lower, upper] against optimizer steps, mean over seeds and "
        "binary tensors, log axis.",
    )
    if len(blocks) == 1:
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
        f"Validation accuracy of each trial against each tuned parameter ({seeds} seed(s) per "
        "trial); line: the slice through the best point; star: the best trial.",
    )
    return blocks


# ----------------------------------------------------------------------------- runs, env
def problems_section(runs: pd.DataFrame) -> Section | None:
    bad = runs[runs["status"].isin(["failed", "diverged"])] if not runs.empty else runs
    if bad.empty:
        return None
    cols = [c for c in FAILED_COLUMNS if c in bad]
    intro = Paragraph(
        "Runs that diverged (stored with their curve so far, counted with their last "
        "accuracy) or failed (raised an error; rerunning the suite retries them)."
    )
    return Section("Diverged and failed runs", [intro, Table(bad[cols])])


def environment_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs executed on: one row per distinct (host, CPU, GPU, torch, git commit)."""
    if runs.empty or "environment" not in runs:
        return pd.DataFrame()
    seen: dict[tuple, int] = {}
    for env in runs["environment"]:
        env = env or {}
        pk = env.get("packages", {})
        key = (env.get("hostname"), env.get("cpu"), env.get("cpu_count"), env.get("gpu"),
               pk.get("torch"), env.get("python"), env.get("git_commit"))  # fmt: skip
        seen[key] = seen.get(key, 0) + 1
    cols = ["host", "cpu", "cores", "gpu", "torch", "python", "git commit", "runs"]
    return pd.DataFrame([(*k, n) for k, n in seen.items()], columns=cols)


def environment_section(runs: pd.DataFrame) -> Section:
    return Section(
        "Environment",
        [
            Paragraph("Where the runs executed (captured by the process that ran each run):"),
            Table(environment_rows(runs)),
        ],  # fmt: skip
    )


def training_sections(
    runs: pd.DataFrame,
    metrics: pd.DataFrame,
    reference: str,
    out_dir: Path | None = None,
    *,
    analysis: Analysis | None = None,
    fixed_target: float | None = None,
) -> list[Section]:
    """Every section of a training report but tuning (inserted by the caller before the
    diverged/failed and environment sections: see :func:`assemble`)."""
    return assemble(runs, metrics, reference, out_dir or Path("."), analysis=analysis,
                    fixed_target=fixed_target)  # fmt: skip


def assemble(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    reference: str,
    out_dir: Path,
    *,
    analysis: Analysis | None = None,
    fixed_target: float | None = None,
    tuning: Section | None = None,
    trials: pd.DataFrame | None = None,
    log_params: tuple[str, ...] = (),
    tuning_epochs: int | None = None,
) -> list[Section]:
    """The report's sections in order (see the module docstring). A tuned suite's ``tuning``
    section (:func:`report.tuning.tuning_section`) gets the tuning figures of ``trials``
    (:func:`benchmark.results.trials_frame`) appended (:func:`tuning_extras`;
    ``tuning_epochs``: the suite's tuning budget, the last rung)."""
    finals = final_runs(runs)
    if finals.empty:
        return [Section("Results", [Note("No final runs in the store yet.")])]
    analysis = analysis or analyse(finals, values, reference, fixed_target)
    sections = [
        headline_section(analysis),
        claims_section(analysis),
        accuracy_section(analysis),
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
    sections.append(environment_section(finals))
    return sections
