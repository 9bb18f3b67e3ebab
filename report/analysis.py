r"""Every number a training report states, computed once from the store's frames.

The report's sections (:mod:`report.training`) and its ``summary.json``
(:mod:`report.summary_json`) both read the :class:`Analysis` this module builds, so the
Markdown, the HTML and the JSON cannot disagree.

Per cell (model x dataset), per optimizer, over its seeds (final runs on the test split;
failed runs are counted and listed, never averaged):

- **accuracy**: final test accuracy, mean, standard deviation (ddof 1) and 95% percentile
  bootstrap CI of the mean (diverged runs count with their last accuracy);
- **target**: the mean final test accuracy of the reference optimizer's *completed* runs (or
  the suite's fixed ``target.value``); none when the reference has no completed run;
- **steps-, epochs- and seconds-to-target** per run: the first evaluation whose test accuracy
  reaches the target; a run that never does, and every diverged run, counts as the cell's full
  budget (its longest curve; seconds: the run's own training seconds) and is not "reached".
  Mean and bootstrap CI over seeds;
- **speedup** vs the reference: reference steps / optimizer steps, ratio of the means over
  the seeds both ran, with a paired bootstrap CI;
- **normalised AUC**: area under the test-accuracy curve over the cell's step budget, in [0, 1];
- **paired comparisons** against BAMSProd on the seeds both ran: difference of final
  accuracy (BAMSProd - other) with a paired bootstrap CI, an exact sign-flip permutation
  p-value, Holm-corrected across every comparison of the report, win/tie/loss counts and a
  verdict (:data:`report.stats.PAIRED_RULE`);
- **the paper's claims** against Bop, per cell and pooled over every (cell, seed) pair:
  speedup = Bop's steps / BAMSProd's ("about 1.2x") and the accuracy difference ("about 3.7
  points"), each with a CI and a verdict (:data:`report.stats.CLAIM_RULE`);
- **performance profiles** across cells (Dolan-Moré) of final error (1 - mean accuracy) and of
  steps-to-target (an optimizer with a seed that never reached the target: infinite);
- **tuned vs defaults** (a tuned suite with ``tuning.defaults``): its runs at the registry
  defaults are rows of their own, optimizer ``"<name> (defaults)"``, in every number above
  (compared with BAMSProd like any row; ``"bamsprod (defaults)"`` too); per cell and
  optimizer, what tuning gained: tuned - defaults final accuracy, seed-paired, with a paired
  bootstrap CI (:func:`tuning_gains`). The paper's claims compare tuned BAMSProd with tuned
  Bop only;
- **expected best-of-k** of the tuning trials (Dodge et al. 2019, :func:`expected_max_curves`):
  one score per trial (the mean over its seeds), from the trials that reached the last rung
  only (:func:`final_trials`: a trial stopped by successive halving scored at fewer epochs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from report import stats

CANDIDATE = "bamsprod"
#: how a row of runs at the registry defaults names its optimizer (``"adam (defaults)"``): the
#: store's rows carry it (benchmark.results.DEFAULTS_SUFFIX; not imported, the report needs no
#: store: tests/test_defaults.py keeps the two equal); report/plotting.py dashes those rows
DEFAULTS_SUFFIX = " (defaults)"
#: the paper's claims against Bop (arXiv:2009.13799, abstract): value, no-effect value
SPEED_CLAIM = (1.2, 1.0)
ACCURACY_CLAIM = (0.037, 0.0)
CELL = ("model", "dataset")


@dataclass
class RunPoint:
    """One final run's numbers."""

    run_id: str
    seed: int
    status: str
    accuracy: float
    steps: float
    epochs: float
    seconds: float
    reached: bool
    auc: float


@dataclass
class OptimizerResult:
    """One optimizer in one cell."""

    optimizer: str
    runs: list[RunPoint]
    failed: int
    accuracy: dict[str, float]
    steps_to_target: dict[str, float]
    epochs_to_target: dict[str, float]
    seconds_to_target: dict[str, float]
    reached: int
    auc: float
    speedup: dict[str, float] = field(default_factory=dict)
    seconds_per_run: float = math.nan

    def by_seed(self) -> dict[int, RunPoint]:
        return {r.seed: r for r in self.runs}


@dataclass
class Comparison:
    """BAMSProd against one other optimizer in one cell (seed-paired)."""

    model: str
    dataset: str
    other: str
    result: stats.PairedComparison
    p_holm: float = math.nan
    verdict: str = "indistinguishable"
    speedup: dict[str, float] = field(default_factory=dict)


@dataclass
class Claim:
    """One of the paper's claims in one cell (or pooled: model and dataset ``"all"``)."""

    claim: str
    model: str
    dataset: str
    n: int
    value: float
    ci_low: float
    ci_high: float
    claimed: float
    verdict: str


@dataclass
class TuningGain:
    """What tuning gained for one optimizer in one cell: tuned - defaults final test accuracy
    (mean of seed-paired differences, paired bootstrap CI); ``shared``: seeds whose tuned run
    *is* the defaults run (the best point was the defaults)."""

    model: str
    dataset: str
    optimizer: str
    n: int
    tuned: float
    defaults: float
    gain: float
    ci_low: float
    ci_high: float
    shared: int


@dataclass
class CellResult:
    model: str
    dataset: str
    target: float
    budget: float
    optimizers: dict[str, OptimizerResult]

    @property
    def best(self) -> str | None:
        """The optimizer with the highest mean final accuracy (None when no run finished)."""
        scored = [
            (r.accuracy["mean"], name)
            for name, r in self.optimizers.items()
            if not math.isnan(r.accuracy["mean"])
        ]
        return max(scored)[1] if scored else None


@dataclass
class Analysis:
    reference: str
    cells: list[CellResult]
    comparisons: list[Comparison]
    claims: list[Claim]
    profiles: dict[str, pd.DataFrame]
    min_p: dict[int, float]


def _summary(values: Sequence[float]) -> dict[str, float]:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    low, high = stats.bootstrap_ci(x)
    return {
        "n": int(x.size),
        "mean": float(x.mean()) if x.size else math.nan,
        "std": float(x.std(ddof=1)) if x.size > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def _curves(values: pd.DataFrame, split: str, name: str) -> dict[str, pd.DataFrame]:
    frame = values[(values["split"] == split) & (values["name"] == name)]
    return {run_id: group.sort_values("step") for run_id, group in frame.groupby("run_id")}


def _at_step(curve: pd.DataFrame | None, step: float, column: str = "value") -> float:
    """The curve's value at ``step`` (the last one when ``step`` is past its end)."""
    if curve is None or curve.empty or math.isnan(step):
        return math.nan
    upto = curve[curve["step"] <= step]
    return float((upto if not upto.empty else curve)[column].iloc[-1])


def _target(reference_runs: pd.DataFrame, fixed: float | None) -> float:
    if fixed is not None:
        return float(fixed)
    completed = reference_runs[reference_runs["status"] == "completed"]
    if completed.empty:
        return math.nan
    return float(completed["summary.final_test_accuracy"].astype(float).mean())


def _run_point(
    row: Any,
    acc: pd.DataFrame | None,
    seconds: pd.DataFrame | None,
    target: float,
    budget: float,
) -> RunPoint:
    steps = math.nan
    if acc is not None and not math.isnan(target):
        steps = stats.steps_to_target(acc["step"].to_numpy(), acc["value"].to_numpy(), target)
    reached = row.status != "diverged" and math.isfinite(steps)
    if not math.isnan(target) and not reached:
        steps = budget
    auc = math.nan
    if acc is not None and not acc.empty and budget > 0:
        auc = stats.normalised_auc(acc["step"].to_numpy(), acc["value"].to_numpy(), budget)
    epochs = _at_step(acc, steps, "epoch")
    secs = _at_step(seconds, steps) if reached else float(row.train_seconds)
    return RunPoint(
        row.run_id,
        int(row.seed),
        row.status,
        float(row.final_acc),
        steps,
        epochs,
        secs,
        reached,
        auc,
    )


def analyse(
    runs: pd.DataFrame, values: pd.DataFrame, reference: str, fixed_target: float | None = None
) -> Analysis:
    """The :class:`Analysis` of a training suite's final runs (``runs``: the runs frame of
    test-split runs; ``values``: their long metrics with at least test accuracy and
    ``train_seconds``)."""
    finals = runs[(runs["task"] == "train")] if not runs.empty else runs
    if "split" in finals:
        finals = finals[finals["split"] == "test"]
    acc_curves = _curves(values, "test", "accuracy")
    sec_curves = _curves(values, "", "train_seconds")
    cells: list[CellResult] = []
    for (model, dataset), cell in finals.groupby(list(CELL), sort=True):
        ok = cell[cell["status"] != "failed"].copy()
        ok["final_acc"] = ok.get("summary.final_test_accuracy", pd.Series(dtype=float)).astype(
            float
        )
        target = _target(ok[ok["optimizer"] == reference], fixed_target)
        budget = max(
            (float(acc_curves[r]["step"].max()) for r in ok["run_id"] if r in acc_curves),
            default=math.nan,
        )
        results: dict[str, OptimizerResult] = {}
        for optimizer, group in cell.groupby("optimizer", sort=True):
            good = ok[ok["optimizer"] == optimizer].sort_values("seed")
            points = [
                _run_point(
                    row, acc_curves.get(row.run_id), sec_curves.get(row.run_id), target, budget
                )
                for row in good.itertuples(index=False)
            ]
            seconds = (good["train_seconds"] + good["eval_seconds"]).astype(float)
            results[optimizer] = OptimizerResult(
                optimizer=optimizer,
                runs=points,
                failed=int((group["status"] == "failed").sum()),
                accuracy=_summary([p.accuracy for p in points]),
                steps_to_target=_summary([p.steps for p in points]),
                epochs_to_target=_summary([p.epochs for p in points]),
                seconds_to_target=_summary([p.seconds for p in points]),
                reached=sum(p.reached for p in points),
                auc=float(np.nanmean([p.auc for p in points])) if points else math.nan,
                seconds_per_run=float(seconds.mean()) if len(seconds) else math.nan,
            )
        cell_result = CellResult(model, dataset, target, budget, results)
        if reference in results:
            for result in results.values():
                result.speedup = _speedup(results[reference], result)
        cells.append(cell_result)
    comparisons = _comparisons(cells)
    return Analysis(
        reference=reference,
        cells=cells,
        comparisons=comparisons,
        claims=_claims(cells),
        profiles=_profiles(cells),
        min_p={c.result.n: c.result.min_p for c in comparisons},
    )


def _paired(a: OptimizerResult, b: OptimizerResult, attr: str) -> tuple[np.ndarray, np.ndarray]:
    """``attr`` of the runs of ``a`` and ``b`` on the seeds both ran, in seed order."""
    sa, sb = a.by_seed(), b.by_seed()
    seeds = sorted(set(sa) & set(sb))
    return (
        np.array([getattr(sa[s], attr) for s in seeds], dtype=float),
        np.array([getattr(sb[s], attr) for s in seeds], dtype=float),
    )


def _interval(point: float, low: float, high: float, n: int) -> dict[str, float]:
    return {"n": n, "value": point, "ci_low": low, "ci_high": high}


def _speedup(slow: OptimizerResult, fast: OptimizerResult) -> dict[str, float]:
    """``slow``'s steps-to-target / ``fast``'s, seed-paired (ratio of means, bootstrap CI)."""
    a, b = _paired(slow, fast, "steps")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0 or not (b > 0).all():
        return _interval(math.nan, math.nan, math.nan, int(a.size))
    point, low, high = stats.paired_bootstrap_ci(a, b, stats.ratio_of_means)
    return _interval(point, low, high, int(a.size))


def _comparisons(cells: list[CellResult]) -> list[Comparison]:
    out: list[Comparison] = []
    for cell in cells:
        mine = cell.optimizers.get(CANDIDATE)
        if mine is None:
            continue
        for name, other in cell.optimizers.items():
            if name == CANDIDATE:
                continue
            a, b = _paired(mine, other, "accuracy")
            if a.size == 0:
                continue
            comparison = Comparison(cell.model, cell.dataset, name, stats.paired_comparison(a, b))
            comparison.speedup = _speedup(other, mine)
            out.append(comparison)
    adjusted = stats.holm([c.result.p_value for c in out]) if out else []
    for comparison, p in zip(out, adjusted, strict=True):
        comparison.p_holm = float(p)
        comparison.verdict = stats.verdict(float(p), comparison.result.difference)
    return out


def _claim(claim: str, model: str, dataset: str, a: np.ndarray, b: np.ndarray) -> Claim:
    """``a`` and ``b`` are seed-paired: Bop and BAMSProd steps (speed), or BAMSProd and Bop
    accuracies (accuracy)."""
    claimed, null = SPEED_CLAIM if claim == "speed" else ACCURACY_CLAIM
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    statistic = stats.ratio_of_means if claim == "speed" else stats.mean_difference
    if a.size == 0 or (claim == "speed" and not (b > 0).all()):
        point = low = high = math.nan
    else:
        point, low, high = stats.paired_bootstrap_ci(a, b, statistic)
    return Claim(
        claim, model, dataset, int(a.size), point, low, high, claimed,
        stats.claim_verdict(low, high, claimed, null),
    )  # fmt: skip


def _claims(cells: list[CellResult]) -> list[Claim]:
    claims: list[Claim] = []
    pooled: dict[str, list[np.ndarray]] = {"speed_a": [], "speed_b": [], "acc_a": [], "acc_b": []}
    for cell in cells:
        mine, bop = cell.optimizers.get(CANDIDATE), cell.optimizers.get("bop")
        if mine is None or bop is None:
            continue
        speed_a, speed_b = _paired(bop, mine, "steps")
        acc_a, acc_b = _paired(mine, bop, "accuracy")
        claims.append(_claim("speed", cell.model, cell.dataset, speed_a, speed_b))
        claims.append(_claim("accuracy", cell.model, cell.dataset, acc_a, acc_b))
        for key, arr in (("speed_a", speed_a), ("speed_b", speed_b), ("acc_a", acc_a), ("acc_b", acc_b)):  # fmt: skip
            pooled[key].append(arr)
    if len(claims) > 2:  # pooled over every (cell, seed) pair, when there is more than a cell
        cat = {k: np.concatenate(v) for k, v in pooled.items()}
        claims.append(_claim("speed", "all", "all", cat["speed_a"], cat["speed_b"]))
        claims.append(_claim("accuracy", "all", "all", cat["acc_a"], cat["acc_b"]))
    return claims


def tuning_gains(analysis: Analysis) -> list[TuningGain]:
    """Per cell and optimizer with both rows (tuned and ``"<name> (defaults)"``): the
    :class:`TuningGain`. Empty for a suite without ``tuning.defaults``."""
    gains = []
    for cell in analysis.cells:
        for name, tuned in cell.optimizers.items():
            defaults = cell.optimizers.get(name + DEFAULTS_SUFFIX)
            if defaults is None:
                continue
            a, b = _paired(tuned, defaults, "accuracy")
            keep = np.isfinite(a) & np.isfinite(b)
            a, b = a[keep], b[keep]
            point = low = high = math.nan
            if a.size:
                point, low, high = stats.paired_bootstrap_ci(a, b, stats.mean_difference)
            mine, theirs = tuned.by_seed(), defaults.by_seed()
            shared = sum(mine[s].run_id == theirs[s].run_id for s in set(mine) & set(theirs))
            gains.append(
                TuningGain(
                    cell.model, cell.dataset, name, int(a.size), tuned.accuracy["mean"],
                    defaults.accuracy["mean"], point, low, high, shared,
                )
            )  # fmt: skip
    return gains


def _profiles(cells: list[CellResult]) -> dict[str, pd.DataFrame]:
    """Dolan-Moré profiles: ``final_error`` (1 - mean accuracy, floored at 1e-6) and
    ``steps_to_target`` (mean steps when every seed reached the target, else infinite)."""
    error: dict[str, dict[str, float]] = {}
    steps: dict[str, dict[str, float]] = {}
    for cell in cells:
        key = f"{cell.model}/{cell.dataset}"
        error[key] = {
            name: max(1.0 - r.accuracy["mean"], 1e-6)
            for name, r in cell.optimizers.items()
            if not math.isnan(r.accuracy["mean"])
        }
        steps[key] = {
            name: (r.steps_to_target["mean"] if r.runs and r.reached == len(r.runs) else math.inf)
            for name, r in cell.optimizers.items()
            if not math.isnan(cell.target)
        }
    out = {}
    for name, table in (("final_error", error), ("steps_to_target", steps)):
        costs = pd.DataFrame.from_dict(table, orient="index")
        if costs.empty or costs.shape[1] == 0:
            continue
        costs = costs.astype(float).fillna(math.inf)
        out[name] = stats.performance_profile(costs, stats.profile_taus(costs))
    return out


def final_trials(trials: pd.DataFrame, epochs: int | None = None) -> pd.DataFrame:
    """The trials whose score is at the full tuning budget: stored (``status`` not
    ``missing``), not stopped by halving (``stopped``) and at ``epochs`` epochs (the last rung;
    default: the largest ``epochs`` of the trial's cell). A stopped trial's score is at fewer
    epochs, so it is not comparable with theirs. Frames without those columns are kept whole."""
    if trials is None or trials.empty:
        return trials
    keep = pd.Series(True, index=trials.index)
    if "status" in trials:
        keep &= trials["status"] != "missing"
    if "stopped" in trials:
        keep &= ~trials["stopped"].fillna(False).astype(bool)
    if "epochs" in trials:
        done = pd.to_numeric(trials["epochs"], errors="coerce")
        if epochs is None:
            full = done.groupby([trials[c] for c in ("model", "dataset", "optimizer")]).transform(
                "max"
            )
        else:
            full = pd.Series(float(epochs), index=trials.index)
        keep &= done.isna() | (done >= full)
    return trials[keep]


def expected_max_curves(trials: pd.DataFrame, *, epochs: int | None = None) -> pd.DataFrame:
    r"""Per cell and optimizer, Dodge et al.'s expected best validation score after k of its N
    trials (k = 1..N): columns ``model, dataset, optimizer, k, expected_max``.

    ``trials`` is the trials frame, one row (one score) per trial: the mean validation
    accuracy of its seeds. Only the trials that reached the last rung count
    (:func:`final_trials`; ``epochs``: the tuning epochs), and failed ones (score NaN) are
    dropped, leaving :math:`N` scores :math:`v_{(1)} \le \dots \le v_{(N)}`; then
    :math:`E[\max_k] = \sum_i v_{(i)} ig((i/N)^k - ((i-1)/N)^kig)`
    (:func:`report.stats.expected_max_curve`: k trials drawn with replacement)."""
    rows = []
    if trials is None or trials.empty:
        return pd.DataFrame(columns=["model", "dataset", "optimizer", "k", "expected_max"])
    for (model, dataset, optimizer), group in final_trials(trials, epochs).groupby(
        ["model", "dataset", "optimizer"], sort=True
    ):
        curve = stats.expected_max_curve(group["score"].to_numpy(dtype=float))
        rows += [
            {"model": model, "dataset": dataset, "optimizer": optimizer, "k": k + 1,
             "expected_max": float(v)}
            for k, v in enumerate(curve)
        ]  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=["model", "dataset", "optimizer", "k", "expected_max"])
    return pd.DataFrame(rows)
