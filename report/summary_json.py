"""``summary.json``: the report's numbers, machine-readable (the nightly gate reads it).

Built from the same :class:`~report.analysis.Analysis` as the page, so the two agree.
Versioned by :data:`SCHEMA_VERSION`; the JSON Schema is ``report/summary.schema.json`` and
docs/results.md describes every field. Non-finite numbers (NaN, inf: "no value") are written
as ``null``; store URLs never carry a password.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from report.analysis import Analysis, Comparison

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")


def clean(value: Any) -> Any:
    """``value`` with every non-finite float as None and numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _interval(d: dict[str, float]) -> dict[str, Any]:
    return {k: d.get(k) for k in ("n", "mean", "std", "ci_low", "ci_high")}


def _comparison(c: Comparison) -> dict[str, Any]:
    """One comparison: on the reported scale (``estimate``, ``ci_low``, ``ci_high``, ``mde``,
    ``margin``: an accuracy difference as a fraction, or a speed-up ratio) and on the test's
    scale (``difference``: the mean paired difference or log-ratio, ``se``, ``df``)."""
    e = c.effect
    return {
        "model": c.model,
        "dataset": c.dataset,
        "optimizer": "bamsprod",
        "vs": c.other,
        "metric": c.metric,
        "family": c.family,
        "scale": "difference" if c.metric == "accuracy" else "ratio",
        "n": e.n,
        "cells": c.cells,
        "estimate": c.estimate,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "difference": e.estimate,
        "sd": e.sd,
        "se": e.se,
        "df": e.df,
        "mean_a": c.mean_a,
        "mean_b": c.mean_b,
        "p_value": e.p_value,
        "p_holm": c.p_holm,
        "p_equivalence": e.p_equivalence,
        "p_equivalence_holm": c.p_equivalence_holm,
        "margin": c.margin,
        "verdict": c.verdict,
        "mde": c.mde,
        "min_p": c.min_p,
        "wins": c.wins,
        "ties": c.ties,
        "losses": c.losses,
    }


def _descriptive(analysis: Analysis) -> dict[str, Any]:
    return {
        kind: {name: asdict(d) for name, d in values.items()}
        for kind, values in analysis.descriptive.items()
    }


def protocol_part(suite: Any) -> dict[str, Any]:
    """The suite's seeds and tuning protocol as the report states it: final seeds and epochs,
    with tuning the trials' seeds (``benchmark.tune.trials.trial_seeds``), their epochs (the
    tuning horizon) and the seeds they share with the final runs; and the design check from
    the suite file's seed counts (``benchmark.planning.design_families``)."""
    if suite is None:
        return {}
    seeds = [int(s) for s in getattr(suite, "seeds", []) or []]
    part: dict[str, Any] = {"seeds": seeds, "epochs": getattr(suite, "epochs", None)}
    tuning = getattr(suite, "tuning", None)
    trials = int(getattr(tuning, "trials", 0) or 0)
    entry: dict[str, Any] = {"trials": trials}
    if trials:
        from benchmark.tune.trials import trial_seeds

        tseeds = [int(s) for s in trial_seeds(suite)]
        entry.update(
            {
                "seeds": tseeds,
                "seeds_per_trial": int(getattr(tuning, "seeds_per_trial", 1)),
                "epochs": getattr(suite, "tuning_epochs", None),
                "seeds_shared_with_final_runs": sorted(set(tseeds) & set(seeds)),
            }
        )
    part["tuning"] = entry
    from benchmark.planning import design_families
    from report.inference import min_signflip_holm

    part["design_min_signflip_holm_p"] = {
        name: min_signflip_holm(pairs) for name, pairs in design_families(suite).items()
    }
    return part


def training_part(
    analysis: Analysis,
    tuning: Any = None,
    trials: pd.DataFrame | None = None,
    *,
    suite: Any = None,
) -> dict:
    """The training-specific fields: methods, cells, comparisons (both families), claims,
    descriptive summaries, tuning."""
    cells = []
    for cell in analysis.cells:
        optimizers = {}
        for name, r in cell.optimizers.items():
            optimizers[name] = {
                "seeds": len(r.runs) + r.failed,
                "completed": sum(p.status == "completed" for p in r.runs),
                "diverged": sum(p.status == "diverged" for p in r.runs),
                "failed": r.failed,
                "accuracy": _interval(r.accuracy),
                "steps_to_target": {
                    **_interval(r.steps_to_target),
                    "reached": r.reached,
                    "km_median": r.steps_to_target.get("km_median"),
                    "rmst": r.steps_to_target.get("rmst"),
                },
                "epochs_to_target": _interval(r.epochs_to_target),
                "seconds_to_target": _interval(r.seconds_to_target),
                "speedup_vs_reference": r.speedup or None,
                "auc": r.auc,
                "seconds_per_run": r.seconds_per_run,
                "standing": cell.standing.get(name, ""),
                "runs": [asdict(p) for p in r.runs],
            }
        cells.append(
            {
                "model": cell.model,
                "dataset": cell.dataset,
                "target": cell.target,
                "budget_steps": cell.budget,
                "best": cell.best,
                "leaders": sorted(n for n, s in cell.standing.items() if s in ("lead", "tie")),
                "optimizers": optimizers,
            }
        )
    part: dict[str, Any] = {
        "reference": analysis.reference,
        "methods": {**analysis.methods, "protocol": protocol_part(suite)},
        "cells": cells,
        "comparisons": [_comparison(c) for c in analysis.comparisons],
        "primary": [_comparison(c) for c in analysis.primary],
        "claims": [asdict(c) for c in analysis.claims],
        "descriptive": _descriptive(analysis),
    }
    if tuning is not None:
        part["tuning"] = tuning_part(tuning, trials)
    return part


def _cell_trials(trials: pd.DataFrame | None, key: str) -> pd.DataFrame | None:
    """The rows of the trials frame of the cell ``key`` (``model/dataset/optimizer``)."""
    if trials is None or trials.empty or not {"model", "dataset", "optimizer"} <= set(trials):
        return None
    keys = (
        trials["model"].astype(str)
        + "/"
        + trials["dataset"].astype(str)
        + "/"
        + trials["optimizer"].astype(str)
    )
    return trials[keys == key]


def _tuning_cell(tuning: Any, key: str, counts: dict, rows: pd.DataFrame | None) -> dict:
    """One cell of ``task.tuning.cells``: the best point, its trial and score (mean over the
    trial's seeds, their sample sd, how many seeds), the counts by status, trials stopped by
    halving, and the tuning compute (epochs and seconds of every run of its trials)."""
    best_trial = getattr(tuning, "best_trial", {}).get(key)
    entry: dict[str, Any] = {
        "best_params": tuning.best_params.get(key),
        "best_score": tuning.best_score.get(key),
        "best_trial": best_trial,
        "trials": counts,
        "stopped": int(counts.get("stopped", 0)),
    }
    if rows is None or rows.empty:
        return entry
    if "stopped" in rows:
        entry["stopped"] = int(rows["stopped"].fillna(False).astype(bool).sum())
    for column, name in (("epochs_spent", "epochs_spent"), ("seconds", "seconds")):
        if column in rows:
            total = pd.to_numeric(rows[column], errors="coerce").fillna(0).sum()
            entry[name] = int(total) if name == "epochs_spent" else float(total)
    best = rows[rows["best"].fillna(False).astype(bool)] if "best" in rows else rows.iloc[0:0]
    if not best.empty:
        row = best.iloc[0]
        entry["best_trial"] = int(row["trial"]) if "trial" in row else best_trial
        entry["best_score_sd"] = float(row.get("score_sd", math.nan))
        entry["best_seeds"] = int(row.get("seeds", 1))
    return entry


def tuning_part(tuning: Any, trials: pd.DataFrame | None) -> dict[str, Any]:
    """Per cell (:func:`_tuning_cell`): the best point, trial and score (mean, sd, seeds),
    the trial counts, trials stopped by halving, epochs and seconds spent; per optimizer:
    tuning seconds and epochs, summed over its cells' trials (every run, stopped ones
    included)."""
    seconds: dict[str, float] = {}
    epochs: dict[str, int] = {}
    if trials is not None and not trials.empty:
        by = trials.groupby(trials["optimizer"].astype(str))
        if "seconds" in trials:
            seconds = {k: float(v) for k, v in by["seconds"].sum().items()}
        if "epochs_spent" in trials:
            epochs = {k: int(v) for k, v in by["epochs_spent"].sum().items()}
    return {
        "cells": {
            key: _tuning_cell(tuning, key, counts, _cell_trials(trials, key))
            for key, counts in tuning.counts.items()
        },
        "seconds_per_optimizer": seconds,
        "epochs_per_optimizer": epochs,
    }


def environment_part(runs: pd.DataFrame) -> dict[str, Any]:
    """The environment of the first run and the distinct hosts and git commits of all."""
    if runs.empty or "environment" not in runs:
        return {"hosts": [], "git_commits": []}
    envs = [e or {} for e in runs["environment"]]
    first = envs[0]
    return {
        "python": first.get("python"),
        "platform": first.get("platform"),
        "packages": first.get("packages", {}),
        "cpu": first.get("cpu"),
        "cpu_count": first.get("cpu_count"),
        "gpu": first.get("gpu"),
        "cuda": first.get("cuda"),
        "hosts": sorted({str(e.get("hostname")) for e in envs}),
        "git_commits": sorted({str(e.get("git_commit")) for e in envs}),
    }


def build_summary(
    *,
    suite: Any,
    store_url: str,
    runs: pd.DataFrame,
    task_part: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """The whole document (see docs/results.md, "summary.json")."""
    statuses = runs["status"].value_counts().to_dict() if not runs.empty else {}
    spec = {
        key: getattr(suite, key)
        for key in ("epochs", "batch_size", "evals_per_epoch", "clip_latent", "device")
        if hasattr(suite, key)
    }
    spec["seeds"] = list(getattr(suite, "seeds", []) or [])
    target = getattr(suite, "target", None)
    if target is not None and target.kind != "reference_mean":
        # the rule the steps-to-target count to: recorded where it differs from the rule of
        # summaries written before it existed, so `bnnbench compare` warns when two differ
        spec["target"] = {"kind": target.kind}
        if target.kind == "best_fraction":
            spec["target"]["fraction"] = target.fraction or 0.95
        else:
            spec["target"]["value"] = target.value
    if (executor := getattr(suite, "executor", None)) is not None:  # threads change the numbers
        spec["threads_per_worker"] = executor.threads_per_worker
    tuning = getattr(suite, "tuning", None)
    spec["tuning_trials"] = getattr(tuning, "trials", 0)
    if spec["tuning_trials"]:  # how the trials were run, where it differs from the defaults
        # (so that summaries written before these settings existed compare without a warning)
        for key, default in (("sampler", "qmc"), ("seeds_per_trial", 1), ("halving", None)):
            value = getattr(tuning, key, default)
            if value != default:
                spec[f"tuning_{key}"] = (
                    value.model_dump() if hasattr(value, "model_dump") else value
                )
    return clean(
        {
            "schema_version": SCHEMA_VERSION,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "suite": {
                "name": suite.name,
                "description": suite.description,
                "task": suite.task,
                "spec": spec,
            },
            "store": store_url,
            "runs": {"total": int(len(runs)), "by_status": statuses},
            "environment": environment_part(runs),
            "notes": notes,
            "task": task_part,
        }
    )


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
