r"""The convex-counterexample section of a report (task ``convex``, docs/convex.md).

From the tidy ``runs``/``metrics`` frames (:mod:`benchmark.frames`) of convex runs:

- a table per (optimizer, form): hyper-parameters, final latent :math:`x_{T+1}`, final played
  point, average regret :math:`R_T / T` (mean over seeds, with the range for the stochastic
  form), runs that converged and the verdict;
- the verdict per (optimizer, form): "converges to the optimum" when every run of the group
  converged by the criterion of :func:`benchmark.tasks.convex.verdict` (stated in the text),
  else "does not", with ``k/n`` seeds for the stochastic form;
- figures (PNG, Agg): :math:`R_t / t` against :math:`t` on log-log axes (mean over seeds,
  min-max band), and the trajectories :math:`x_t` (every seed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from report.blocks import Block, Figure, Note, Paragraph, Section, Table
from report.markup import assignments, number
from report.plotting import legend_below, new_grid, palette, save_figure

FORMS = ("real", "binary", "stochastic")
FORM_TITLES = {
    "real": "real-valued (plays x)",
    "binary": "binary (plays sign(x), clipped STE)",
    "stochastic": "stochastic (real-valued)",
}
OPTIMIZER_ORDER = ("adam", "amsgrad", "adabound", "amsbound", "bamsprod", "sgd", "bop", "bop2nd")
REGRET_FLOOR = 1e-5
CONVERGES, DOES_NOT = "converges to the optimum", "does not"
TITLE = "Convex counterexample"
REGRET_ALT = "average regret R_t/t against t (log-log)"
TRAJECTORY_ALT = "trajectories x_t"
TABLE_CAPTION = (
    "Per optimizer and form: the verdict by the criterion above; the hyper-parameters; the "
    "runs; the final latent x, the final played point and the average regret R_T/T (with "
    "several seeds: mean [min, max] over the seeds, no interval); the runs that converged."
)
CAPTIONS = {
    REGRET_ALT: "Average regret R_t/t against t, log-log, per form: mean over seeds, band: "
    "min-max over seeds.",
    TRAJECTORY_ALT: "The latent iterate x_t against t per form, every seed; dashed: the optimum "
    "x* = -1.",
}


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------
def _label_column(runs: pd.DataFrame) -> str:
    return "optimizer_label" if "optimizer_label" in runs else "optimizer"


def _ordered_labels(runs: pd.DataFrame) -> list[str]:
    col = _label_column(runs)
    firsts = runs.drop_duplicates(col)
    rank = {name: i for i, name in enumerate(OPTIMIZER_ORDER)}

    def key(row: Any) -> tuple:
        return (rank.get(row.optimizer, len(rank)), str(getattr(row, col)))

    return [getattr(r, col) for r in sorted(firsts.itertuples(index=False), key=key)]


def _spread(values: pd.Series, digits: int = 3) -> str:
    """``mean`` for one value, ``mean [min, max]`` for several (``digits`` decimals)."""
    values = values.astype(float)
    if len(values) == 1:
        return number(values.iloc[0], digits, fixed=True)
    low, mean, high = (
        number(v, digits, fixed=True) for v in (values.min(), values.mean(), values.max())
    )
    return f"{mean} [{low}, {high}]"


def _hparams_text(value: Any) -> str:
    return assignments(value) if isinstance(value, dict) and value else "defaults"


def verdict_text(converged: int, total: int) -> str:
    """The group verdict: every run must converge; ``k/n`` shown for several runs."""
    word = CONVERGES if total > 0 and converged == total else DOES_NOT
    return f"{word} ({converged}/{total} seeds)" if total > 1 else word


def convex_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer, form) over the completed/diverged runs (strings, formatted)."""
    col = _label_column(runs)
    done = runs[runs["status"].isin(["completed", "diverged"])]
    rows = []
    for label in _ordered_labels(done):
        for form in FORMS:
            group = done[(done[col] == label) & (done["form"] == form)]
            if group.empty:
                continue
            k = int((group["summary.converged"].astype(float) == 1.0).sum())
            n = len(group)
            diverged = int((group["status"] == "diverged").sum())
            rows.append(
                {
                    "optimizer": label,
                    "form": form,
                    "hyper-parameters": _hparams_text(group["hparams"].iloc[0])
                    if "hparams" in group
                    else "",
                    "runs": n,
                    "final x": _spread(group["summary.final_x"]),
                    "final played": _spread(group["summary.final_played"]),
                    "R_T/T": _spread(group["summary.avg_regret"], 4),
                    "converged": f"{k}/{n}" + (f" ({diverged} diverged)" if diverged else ""),
                    "verdict": verdict_text(k, n),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------
def _curves(runs: pd.DataFrame, metrics: pd.DataFrame, name: str) -> pd.DataFrame:
    col = _label_column(runs)
    keep = runs[runs["status"].isin(["completed", "diverged"])][["run_id", col, "form", "seed"]]
    m = metrics[(metrics["name"] == name) & metrics["run_id"].isin(keep["run_id"])]
    out = m[["run_id", "step", "value"]].merge(keep, on="run_id")
    return out.rename(columns={col: "optimizer"})


def _forms_present(frame: pd.DataFrame) -> list[str]:
    return [f for f in FORMS if f in set(frame["form"])]


def _shared_legend(fig: Any, axes: Any) -> None:
    """One legend (the union of the panels' entries) under the panels."""
    handles: dict[str, Any] = {}
    for ax in np.atleast_1d(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    legend_below(fig, list(handles.values()), list(handles.keys()))


LINESTYLES: tuple[Any, ...] = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 2)))


def _styles(labels: list[str]) -> dict[str, tuple[Any, Any]]:
    """A fixed (colour, line style) per optimizer label, the same in every figure."""
    colors = palette(labels)
    return {lab: (colors[lab], LINESTYLES[i % len(LINESTYLES)]) for i, lab in enumerate(labels)}


def regret_figure(runs: pd.DataFrame, metrics: pd.DataFrame, path: Path) -> Path | None:
    """:math:`R_t/t` against :math:`t`, log-log, one panel per form: the mean over seeds, with
    the min-max band where there are several seeds (values below ``REGRET_FLOOR``, including
    negative ones, drawn at the floor). Aggregated with pandas, drawn with matplotlib."""
    data = _curves(runs, metrics, "avg_regret")
    if data.empty:
        return None
    data["value"] = data["value"].clip(lower=REGRET_FLOOR)
    forms = _forms_present(data)
    labels = _ordered_labels(runs)
    styles = _styles(labels)
    fig, axes = new_grid(len(forms))  # at most two columns: legible on a phone
    for ax, form in zip(np.atleast_1d(axes), forms, strict=True):
        sub = data[data["form"] == form]
        for label in labels:
            curve = sub[sub["optimizer"] == label]
            if curve.empty:
                continue
            stats = curve.groupby("step")["value"].agg(["mean", "min", "max"])
            color, style = styles[label]
            ax.plot(stats.index, stats["mean"], color=color, linestyle=style, linewidth=1.4,
                    label=label)  # fmt: skip
            if curve["seed"].nunique() > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15,
                                linewidth=0)  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="step t", ylabel="")
        ax.set_title(FORM_TITLES[form])
    np.atleast_1d(axes)[0].set_ylabel("average regret R_t / t")
    _shared_legend(fig, axes)
    fig.suptitle("Average regret (mean over seeds, band: min-max)")
    return save_figure(fig, path)


def trajectory_figure(runs: pd.DataFrame, metrics: pd.DataFrame, path: Path) -> Path | None:
    """The iterates :math:`x_t` against :math:`t` (log axis), every seed drawn."""
    data = _curves(runs, metrics, "x")
    if data.empty:
        return None
    forms = _forms_present(data)
    labels = _ordered_labels(runs)
    styles = _styles(labels)
    fig, axes = new_grid(len(forms))  # at most two columns: legible on a phone
    for ax, form in zip(np.atleast_1d(axes), forms, strict=True):
        sub = data[data["form"] == form]
        stochastic = form == "stochastic"
        for label in labels:
            color, style = styles[label]
            for i, (_, run) in enumerate(sub[sub["optimizer"] == label].groupby("seed")):
                run = run.sort_values("step")
                ax.plot(run["step"], run["value"], color=color, linestyle=style,
                        linewidth=0.9 if stochastic else 1.2, alpha=0.6 if stochastic else 0.9,
                        label=label if i == 0 else None)  # fmt: skip
        ax.axhline(-1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set(xscale="log", ylim=(-1.08, 1.08), xlabel="step t", ylabel="")
        ax.set_title(FORM_TITLES[form])
    np.atleast_1d(axes)[0].set_ylabel("latent x_t")
    _shared_legend(fig, axes)
    fig.suptitle("Trajectories x_t (dashed: the optimum x* = -1)")
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------
# The section
# --------------------------------------------------------------------------------------
def _unique(runs: pd.DataFrame, column: str) -> str:
    if column not in runs:
        return "n/a"
    values = sorted({v for v in runs[column] if v is not None and not _isnan(v)}, key=str)
    return ", ".join(number(v, 6) for v in values) or "n/a"


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _settings(runs: pd.DataFrame) -> str:
    det = runs[runs["form"] != "stochastic"]
    sto = runs[runs["form"] == "stochastic"]
    parts = [f"T = {_unique(runs, 'steps')} steps", f"x_1 = {_unique(runs, 'x0')}"]
    if not det.empty:
        parts.append(f"C = {_unique(det, 'C')} (real and binary forms)")
    if not sto.empty:
        parts.append(
            f"stochastic: C = {_unique(sto, 'C')}, delta = {_unique(sto, 'delta')}, "
            f"{sto['seed'].nunique()} seeds"
        )
    parts.append(f"step-size schedule: {_unique(runs, 'lr_schedule')}")
    return "; ".join(parts) + "."


def _criterion(runs: pd.DataFrame) -> str:
    return (
        "Verdict criterion, per run: (1) average regret R_T/T <= "
        f"{_unique(runs, 'regret_tol')}, (2) R_T/T no larger than at T/10 (not rising), and "
        "(3) mean played point over the last 10% of steps <= -1 + "
        f"{_unique(runs, 'x_tol')}. A group (optimizer, form) converges to the optimum when "
        "every run of it does; for the stochastic form k/n counts the seeds that converged."
    )


INTRO = (
    "Reddi et al.'s online problem f_t(x) = C x if t mod 3 = 1, else -x, on [-1, 1] "
    "(optimum x* = -1); binary form: the learner plays sign(x) through the clipped STE; "
    "stochastic form: f_t(x) = C x with probability (1 + delta) / (C + 1), else -x. "
    "Adam-type optimizers use beta1 = 0 and beta2 = 1 / (1 + C^2) of the form's C where the "
    "suite says so (the hyper-parameters column shows the values used). "
    "BAMSProd is a documented reconstruction (docs/optimizers.md); its result is reported as "
    "measured."
)


def convex_section(runs: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> Section:
    """The convex section: table, verdicts, regret and trajectory figures (PNG in ``out_dir``,
    referenced relatively from both formats)."""
    out_dir = Path(out_dir)
    if runs.empty or "form" not in runs:
        return Section(TITLE, [Note("No convex runs in the store.")])
    runs = runs[runs["task"] == "convex"] if "task" in runs else runs
    table = convex_table(runs)
    drawn = [
        (regret_figure(runs, metrics, out_dir / "convex_avg_regret.png"), REGRET_ALT),
        (trajectory_figure(runs, metrics, out_dir / "convex_trajectories.png"), TRAJECTORY_ALT),
    ]
    blocks: list[Block] = [
        Paragraph(INTRO),
        Paragraph(_settings(runs)),
        Paragraph(_criterion(runs)),
    ]
    failed = runs[runs["status"] == "failed"]
    if not failed.empty:
        col = _label_column(runs)
        names = ", ".join(
            f"{r[col]}/{r['form']}/seed{r['seed']}: {r.get('message', '')}"
            for _, r in failed.iterrows()
        )
        blocks.append(Paragraph(f"Failed runs (not in the table): {names}."))
    if not table.empty:  # the verdict first: on a phone it is the column on screen
        table = table[["verdict", *(c for c in table.columns if c != "verdict")]]
    blocks.append(Table(table, TABLE_CAPTION, keys=("optimizer", "form")))
    blocks += [Figure(path, alt, CAPTIONS[alt]) for path, alt in drawn if path is not None]
    return Section(TITLE, blocks)
