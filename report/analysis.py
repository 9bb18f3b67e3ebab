r"""Every number a training report states, computed once from the store's frames.

The report's sections (:mod:`report.training`) and its ``summary.json``
(:mod:`report.summary_json`) both read the :class:`Analysis` this module builds, so the
Markdown, the HTML and the JSON cannot disagree. The rules are docs/protocol.md's
("Statistics"); the tests of :mod:`report.inference` apply to every number below.

Per cell (model x dataset), per optimizer, over its seeds (final runs on the test split;
failed runs are counted and listed, never averaged):

- **accuracy**: final test accuracy, mean, standard deviation (ddof 1) and Student-t 95%
  interval of the mean (diverged runs count with their last accuracy; one seed: no interval);
- **target** (:func:`cell_target`, the suite's ``target`` rule): ``best_fraction`` (default):
  ``fraction`` (0.95) x the best optimizer's mean final test accuracy in the cell;
  ``value``: a fixed accuracy; ``reference_mean`` (old suites): the reference optimizer's
  mean final accuracy over its completed runs;
- **time-to-target** per run (:func:`report.inference_survival.time_to_target`): the first
  evaluation at or above the target, linearly interpolated from the last one below; a run
  that never reaches it, and every diverged run, is censored at the cell's budget (its
  longest curve). Per optimizer: "reached k of n", the Kaplan-Meier median and the
  restricted mean (RMST up to the budget, = the mean of the censored-at-budget times), with
  a t-interval; epochs and seconds at the same point;
- **speed-up** vs the reference: the geometric mean over seeds of reference time / the
  optimizer's time (restricted times), exponentiated t-interval of the paired log-ratio;
- **normalised AUC**: area under the test-accuracy curve over the cell's step budget, in [0, 1];
- **comparisons** of BAMSProd against every other row, in two declared families
  (:mod:`report.inference`): *primary*, pooled across cells (cells the unit, equal weight;
  one comparison per baseline and metric), and *secondary*, per cell (every cell x baseline x
  metric). Metrics: final accuracy (difference, margin 1 point) and speed (log-ratio of
  restricted time-to-target, margin 10%). Per comparison: the paired t-test, TOST, Holm within
  the family, the verdict, and the minimum detectable effect at 80% power;
- **the paper's claims** against Bop (+3.7 points, 1.2x): the same comparisons (BAMSProd vs
  Bop, per cell and pooled), with the claimed value and whether it lies in the interval, and
  the seeds that would resolve the claimed effect at the observed spread;
- **leaders**: per cell, the optimizer with the highest mean accuracy and every optimizer not
  separable from it (paired t-test of leader - other, Holm over the cell, p >= 0.05);
- **descriptive** (rliable-style, :mod:`report.inference_bootstrap`): probability of
  improvement P(BAMSProd > X) and the interquartile mean, stratified bootstrap over seeds
  within cells;
- **performance profiles** across cells (Dolan-Moré) of final error (1 - mean accuracy) and of
  restricted time-to-target (an optimizer with a seed that never reached it: infinite);
- **tuned vs defaults** (a tuned suite with ``tuning.defaults``): rows ``"<name> (defaults)"``
  like any other, and per cell and optimizer what tuning gained (tuned - defaults final
  accuracy, seed-paired, t-interval: :func:`tuning_gains`). The claims compare tuned BAMSProd
  with tuned Bop only;
- **expected best-of-k** of the tuning trials (Dodge et al. 2019, :func:`expected_max_curves`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from report import inference as inf
from report import stats
from report.inference_bootstrap import Descriptive, stratified_bootstrap
from report.inference_survival import kaplan_meier_median, restricted_mean, time_to_target

CANDIDATE = "bamsprod"
#: how a row of runs at the registry defaults names its optimizer (``"adam (defaults)"``): the
#: store's rows carry it (benchmark.results.DEFAULTS_SUFFIX; not imported, the report needs no
#: store: tests/test_defaults.py keeps the two equal); report/plotting.py dashes those rows
DEFAULTS_SUFFIX = " (defaults)"
#: the paper's claims against Bop (arXiv:2009.13799, abstract): the claimed value and the
#: no-effect value, on the reported scale (speed-up ratio; accuracy difference as a fraction)
SPEED_CLAIM = (1.2, 1.0)
ACCURACY_CLAIM = (0.037, 0.0)
CLAIM_BASELINE = "bop"
CELL = ("model", "dataset")
METRICS = ("accuracy", "speed")
#: the default target rule (benchmark.suite.schema.TargetRule's default)
DEFAULT_FRACTION = 0.95


@dataclass(frozen=True)
class TargetSpec:
    """How a cell's accuracy target is set (the suite's ``target``; docs/protocol.md)."""

    kind: str = "best_fraction"
    value: float | None = None
    fraction: float = DEFAULT_FRACTION

    @classmethod
    def of(cls, rule: Any = None, fixed: float | None = None) -> TargetSpec:
        """From a suite's ``TargetRule`` (or anything with ``kind``/``value``/``fraction``),
        or the old ``fixed_target`` number (kind ``value``); the default rule otherwise."""
        if fixed is not None:
            return cls("value", float(fixed))
        if rule is None:
            return cls()
        fraction = getattr(rule, "fraction", None)
        return cls(
            str(rule.kind),
            getattr(rule, "value", None),
            DEFAULT_FRACTION if fraction is None else float(fraction),
        )

    def describe(self, reference: str) -> str:
        if self.kind == "value":
            return f"a fixed test accuracy of {100 * float(self.value or 0):.1f}% (target.value)"
        if self.kind == "reference_mean":
            return (
                f"the mean final test accuracy of the reference '{reference}' in the cell "
                "(target.kind: reference_mean)"
            )
        return (
            f"{self.fraction:g} x the best optimizer's mean final test accuracy in the cell "
            "(target.kind: best_fraction)"
        )


@dataclass
class RunPoint:
    """One final run's numbers (``steps``: interpolated time-to-target, the budget when not
    ``reached``)."""

    run_id: str
    seed: int
    status: str
    accuracy: float
    steps: float
    epochs: float
    seconds: float
    reached: bool
    auc: float
    #: the size of the test set the accuracy was measured on (``summary.test_examples``,
    #: stored since issue 21; ``nan`` for runs stored before)
    test_examples: float = math.nan


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
    """BAMSProd against one other row on one metric, in one cell (``family`` secondary) or
    pooled across cells (model and dataset ``"all"``, ``family`` primary).

    ``effect`` is on the test's scale (accuracy difference as a fraction; mean log-ratio of
    time-to-target for speed), oriented so that positive favours BAMSProd. ``estimate``,
    ``ci_low``, ``ci_high`` and ``mde`` are on the reported scale (accuracy difference; speed-up
    ratio other's time / BAMSProd's, > 1: BAMSProd faster)."""

    model: str
    dataset: str
    other: str
    metric: str
    family: str
    effect: inf.Effect
    estimate: float
    ci_low: float
    ci_high: float
    mean_a: float = math.nan
    mean_b: float = math.nan
    wins: int = 0
    ties: int = 0
    losses: int = 0
    cells: int = 1
    min_p: float = math.nan
    p_holm: float = math.nan
    p_equivalence_holm: float = math.nan
    verdict: str = "undetermined"
    mde: float = math.nan

    @property
    def margin(self) -> float:
        """The equivalence margin on the reported scale (1 point; a ratio within 1.1x)."""
        m = self.effect.margin
        return m if self.metric == "accuracy" else math.exp(m)


@dataclass
class Claim:
    """One of the paper's claims in one cell (or pooled: model and dataset ``"all"``): the
    comparison BAMSProd vs Bop on its metric, the claimed value and whether it lies in the
    interval, and the seeds that would resolve the claimed effect at the observed spread
    (``seeds_needed``; per cell for a pooled claim)."""

    claim: str
    model: str
    dataset: str
    n: int
    value: float
    ci_low: float
    ci_high: float
    claimed: float
    verdict: str
    claimed_in_interval: bool | None
    p_value: float
    p_holm: float
    mde: float
    seeds_needed: float
    family: str
    margin: float = math.nan  # the equivalence margin, reported scale


@dataclass
class TuningGain:
    """What tuning gained for one optimizer in one cell: tuned - defaults final test accuracy
    (mean of seed-paired differences, t-interval); ``shared``: seeds whose tuned run *is* the
    defaults run (the best point was the defaults)."""

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
    #: per optimizer: "lead" (highest mean accuracy), "tie" (not separable from the leader),
    #: "" (separable: the leader is better)
    standing: dict[str, str] = field(default_factory=dict)

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
    primary: list[Comparison] = field(default_factory=list)
    descriptive: dict[str, dict[str, Descriptive]] = field(default_factory=dict)
    methods: dict[str, Any] = field(default_factory=dict)
    target: TargetSpec = field(default_factory=TargetSpec)

    def family(self, name: str) -> list[Comparison]:
        return self.primary if name == "primary" else self.comparisons


def _summary(values: Sequence[float]) -> dict[str, float]:
    """Mean, sd and Student-t interval (:func:`report.inference.mean_interval`)."""
    i = inf.mean_interval(values)
    return {"n": i.n, "mean": i.mean, "std": i.sd, "ci_low": i.ci_low, "ci_high": i.ci_high}


def _curves(values: pd.DataFrame, split: str, name: str) -> dict[str, pd.DataFrame]:
    frame = values[(values["split"] == split) & (values["name"] == name)]
    return {run_id: group.sort_values("step") for run_id, group in frame.groupby("run_id")}


def _interp(curve: pd.DataFrame | None, step: float, column: str = "value") -> float:
    """The curve's ``column`` at ``step``, linearly interpolated between its points (its last
    value past its end)."""
    if curve is None or curve.empty or math.isnan(step):
        return math.nan
    return float(np.interp(step, curve["step"].to_numpy(float), curve[column].to_numpy(float)))


def cell_target(spec: TargetSpec, ok: pd.DataFrame, reference: str) -> float:
    """The cell's accuracy target by ``spec`` (``ok``: the cell's non-failed runs with a
    ``final_acc`` column); ``nan`` when the rule has nothing to go on."""
    if spec.kind == "value":
        return float(spec.value) if spec.value is not None else math.nan
    if spec.kind == "reference_mean":
        done = ok[(ok["optimizer"] == reference) & (ok["status"] == "completed")]
        return float(done["final_acc"].mean()) if not done.empty else math.nan
    means = ok.groupby("optimizer")["final_acc"].mean().dropna()
    return float(spec.fraction * means.max()) if not means.empty else math.nan


def _run_point(
    row: Any,
    acc: pd.DataFrame | None,
    seconds: pd.DataFrame | None,
    target: float,
    budget: float,
) -> RunPoint:
    steps = math.nan
    if acc is not None and not math.isnan(target):
        steps = time_to_target(acc["step"].to_numpy(), acc["value"].to_numpy(), target)
    reached = row.status != "diverged" and math.isfinite(steps)
    if not math.isnan(target) and not reached:
        steps = budget  # censored: a restricted time
    auc = math.nan
    if acc is not None and not acc.empty and budget > 0:
        auc = stats.normalised_auc(acc["step"].to_numpy(), acc["value"].to_numpy(), budget)
    epochs = _interp(acc, steps, "epoch")
    secs = _interp(seconds, steps) if reached else float(row.train_seconds)
    return RunPoint(
        row.run_id, int(row.seed), row.status, float(row.final_acc), steps, epochs, secs,
        reached, auc, float(row.test_examples),
    )  # fmt: skip


def _time_summary(points: list[RunPoint], budget: float) -> dict[str, float]:
    """Restricted mean time-to-target (t-interval), with the Kaplan-Meier median and RMST."""
    out = _summary([p.steps for p in points])
    times = [p.steps for p in points]
    reached = [p.reached for p in points]
    out["km_median"] = kaplan_meier_median(times, reached)
    out["rmst"] = restricted_mean(times, reached, budget)
    return out


def analyse(
    runs: pd.DataFrame,
    values: pd.DataFrame,
    reference: str,
    fixed_target: float | None = None,
    *,
    target: Any = None,
    accuracy_margin: float = inf.ACCURACY_MARGIN,
    speed_margin: float = inf.SPEED_MARGIN,
    resamples: int = inf.RESAMPLES,
) -> Analysis:
    """The :class:`Analysis` of a training suite's final runs (``runs``: the runs frame of
    test-split runs; ``values``: their long metrics with at least test accuracy and
    ``train_seconds``). ``target``: the suite's ``TargetRule`` (default rule when None);
    ``fixed_target``: the old way to give a fixed value. Margins: 1 point and 10% by
    default (docs/protocol.md)."""
    spec = TargetSpec.of(target, fixed_target)
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
        stored = ok.get("summary.test_examples", math.nan)
        ok["test_examples"] = pd.to_numeric(stored, errors="coerce")
        cell_goal = cell_target(spec, ok, reference)
        budget = max(
            (float(acc_curves[r]["step"].max()) for r in ok["run_id"] if r in acc_curves),
            default=math.nan,
        )
        results: dict[str, OptimizerResult] = {}
        for optimizer, group in cell.groupby("optimizer", sort=True):
            good = ok[ok["optimizer"] == optimizer].sort_values("seed")
            points = [
                _run_point(
                    row, acc_curves.get(row.run_id), sec_curves.get(row.run_id), cell_goal, budget
                )
                for row in good.itertuples(index=False)
            ]
            seconds = (good["train_seconds"] + good["eval_seconds"]).astype(float)
            results[optimizer] = OptimizerResult(
                optimizer=optimizer,
                runs=points,
                failed=int((group["status"] == "failed").sum()),
                accuracy=_summary([p.accuracy for p in points]),
                steps_to_target=_time_summary(points, budget),
                epochs_to_target=_summary([p.epochs for p in points]),
                seconds_to_target=_summary([p.seconds for p in points]),
                reached=sum(p.reached for p in points),
                auc=float(np.nanmean([p.auc for p in points])) if points else math.nan,
                seconds_per_run=float(seconds.mean()) if len(seconds) else math.nan,
            )
        cell_result = CellResult(model, dataset, cell_goal, budget, results)
        if reference in results:
            for result in results.values():
                result.speedup = _speedup(results[reference], result, speed_margin)
        cell_result.standing = _standing(results, accuracy_margin)
        cells.append(cell_result)
    secondary = _cell_comparisons(cells, accuracy_margin, speed_margin)
    primary = _pooled_comparisons(cells, accuracy_margin, speed_margin)
    for family in (primary, secondary):
        _adjust(family)
    analysis = Analysis(
        reference=reference,
        cells=cells,
        comparisons=secondary,
        claims=[],
        profiles=_profiles(cells),
        min_p={c.effect.n: c.min_p for c in secondary},
        primary=primary,
        descriptive=_descriptive(cells, resamples),
        target=spec,
    )
    analysis.claims = _claims(analysis)
    analysis.methods = methods(analysis, accuracy_margin, speed_margin, resamples)
    return analysis


def _paired(a: OptimizerResult, b: OptimizerResult, attr: str) -> tuple[np.ndarray, np.ndarray]:
    """``attr`` of the runs of ``a`` and ``b`` on the seeds both ran, in seed order."""
    sa, sb = a.by_seed(), b.by_seed()
    seeds = sorted(set(sa) & set(sb))
    return (
        np.array([getattr(sa[s], attr) for s in seeds], dtype=float),
        np.array([getattr(sb[s], attr) for s in seeds], dtype=float),
    )


def _ratio_dict(effect: inf.Effect) -> dict[str, float]:
    value, low, high = inf.ratio(effect)
    return {"n": effect.n, "value": value, "ci_low": low, "ci_high": high}


def _speedup(slow: OptimizerResult, fast: OptimizerResult, margin: float) -> dict[str, float]:
    """``slow``'s time-to-target / ``fast``'s, seed-paired: geometric mean ratio with the
    exponentiated t-interval of the mean log-ratio (restricted times)."""
    a, b = _paired(slow, fast, "steps")
    return _ratio_dict(inf.paired_test(inf.log_ratios(a, b), math.log1p(margin)))


def _standing(results: dict[str, OptimizerResult], margin: float) -> dict[str, str]:
    """``lead`` for the highest mean accuracy, ``tie`` for every optimizer the paired t-test
    (leader - other, Holm over the cell's optimizers) cannot separate from it at 0.05 (or
    that shares too few seeds for a test), ``""`` for the rest."""
    scored = [(r.accuracy["mean"], n) for n, r in results.items() if not math.isnan(r.accuracy["mean"])]  # fmt: skip
    if not scored:
        return {}
    leader = max(scored)[1]
    others = [n for _, n in scored if n != leader]
    p = []
    for name in others:
        a, b = _paired(results[leader], results[name], "accuracy")
        p.append(inf.paired_test(a - b, margin).p_value)
    adjusted = inf.holm(p) if p else np.array([])
    standing = {leader: "lead"}
    for name, q in zip(others, adjusted, strict=True):
        standing[name] = "" if q < inf.ALPHA else "tie"  # nan (no test): not separated
    return standing


def _wtl(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    return stats.win_tie_loss(a, b)


def _compare(
    model: str, dataset: str, other: str, metric: str, mine: OptimizerResult,
    theirs: OptimizerResult, margin: float,
) -> Comparison | None:  # fmt: skip
    """One per-cell comparison of BAMSProd (``mine``) with ``theirs`` on ``metric``."""
    if metric == "accuracy":
        a, b = _paired(mine, theirs, "accuracy")
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        if a.size == 0:
            return None
        effect = inf.paired_test(a - b, margin)
        est, low, high = effect.estimate, effect.ci_low, effect.ci_high
        wins, ties, losses = _wtl(a, b)
    else:
        slow, fast = _paired(theirs, mine, "steps")  # the other's time over BAMSProd's
        logs = inf.log_ratios(slow, fast)
        if logs.size == 0:
            return None
        effect = inf.paired_test(logs, math.log1p(margin))
        est, low, high = inf.ratio(effect)
        a, b = fast, slow
        wins, ties, losses = _wtl(slow, fast)  # BAMSProd wins a seed when it is faster
    return Comparison(
        model, dataset, other, metric, "secondary", effect, est, low, high,
        mean_a=float(np.nanmean(a)), mean_b=float(np.nanmean(b)), wins=wins, ties=ties,
        losses=losses, min_p=inf.min_signflip_p(effect.n),
    )  # fmt: skip


def _cell_comparisons(
    cells: list[CellResult], accuracy_margin: float, speed_margin: float
) -> list[Comparison]:
    out: list[Comparison] = []
    for cell in cells:
        mine = cell.optimizers.get(CANDIDATE)
        if mine is None:
            continue
        for metric in METRICS:
            if metric == "speed" and math.isnan(cell.target):
                continue
            margin = accuracy_margin if metric == "accuracy" else speed_margin
            for name, other in cell.optimizers.items():
                if name == CANDIDATE:
                    continue
                c = _compare(cell.model, cell.dataset, name, metric, mine, other, margin)
                if c is not None:
                    out.append(c)
    return out


def _cell_differences(cell: CellResult, other: str, metric: str) -> np.ndarray | None:
    mine, theirs = cell.optimizers.get(CANDIDATE), cell.optimizers.get(other)
    if mine is None or theirs is None:
        return None
    if metric == "accuracy":
        a, b = _paired(mine, theirs, "accuracy")
        d = a - b
        return d[np.isfinite(d)]
    if math.isnan(cell.target):
        return None
    slow, fast = _paired(theirs, mine, "steps")
    return inf.log_ratios(slow, fast)


def _pooled_comparisons(
    cells: list[CellResult], accuracy_margin: float, speed_margin: float
) -> list[Comparison]:
    """The primary family: per baseline and metric, the pooled effect over the cells where
    BAMSProd and the baseline both ran (:func:`report.inference.pooled_test`). Baselines are
    the tuned rows (the benchmark's question under the fairness protocol); the rows at the
    registry defaults are compared per cell only (secondary family)."""
    others = sorted(
        n
        for n in {n for c in cells if CANDIDATE in c.optimizers for n in c.optimizers}
        if n != CANDIDATE and not n.endswith(DEFAULTS_SUFFIX)
    )
    out: list[Comparison] = []
    for metric in METRICS:
        margin = accuracy_margin if metric == "accuracy" else math.log1p(speed_margin)
        for other in others:
            per_cell = [_cell_differences(c, other, metric) for c in cells]
            per_cell = [d for d in per_cell if d is not None and d.size]
            if not per_cell:
                continue
            effect = inf.pooled_test(per_cell, margin)
            if metric == "accuracy":
                est, low, high = effect.estimate, effect.ci_low, effect.ci_high
            else:
                est, low, high = inf.ratio(effect)
            flat = np.concatenate(per_cell)
            out.append(
                Comparison(
                    "all", "all", other, metric, "primary", effect, est, low, high,
                    wins=int((flat > 0).sum()), ties=int((flat == 0).sum()),
                    losses=int((flat < 0).sum()), cells=len(per_cell),
                    min_p=inf.min_signflip_p(effect.n),
                )
            )  # fmt: skip
    return out


def _adjust(family: list[Comparison]) -> None:
    """Holm over the family (t-test p and TOST p separately), verdicts, and the minimum
    detectable effect at the family's first Holm step."""
    if not family:
        return
    p = inf.holm([c.effect.p_value for c in family])
    p_eq = inf.holm([c.effect.p_equivalence for c in family])
    size = int(np.count_nonzero(~np.isnan([c.effect.p_value for c in family])))
    alpha = inf.first_step_alpha(size)
    for c, q, q_eq in zip(family, p, p_eq, strict=True):
        c.p_holm, c.p_equivalence_holm = float(q), float(q_eq)
        c.verdict = inf.verdict(c.p_holm, c.p_equivalence_holm, c.effect.estimate)
        m = inf.detectable_effect(c.effect, alpha)
        c.mde = m if c.metric == "accuracy" else (math.exp(m) if math.isfinite(m) else math.nan)


def family_alpha(family: list[Comparison]) -> float:
    """The family's first Holm step: ``alpha / M`` over its tests with a p-value."""
    return inf.first_step_alpha(
        int(np.count_nonzero(~np.isnan([c.effect.p_value for c in family])))
    )


def _claim_of(c: Comparison, family: list[Comparison]) -> Claim:
    claimed, _ = SPEED_CLAIM if c.metric == "speed" else ACCURACY_CLAIM
    effect = math.log(claimed) if c.metric == "speed" else claimed
    inside = None
    if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
        inside = bool(c.ci_low <= claimed <= c.ci_high)
    alpha = family_alpha(family)
    if c.family == "primary":  # per-cell seeds: the pooled sd is that of one pair
        sd = c.effect.se * math.sqrt(c.effect.n) if math.isfinite(c.effect.se) else math.nan
        total = inf.seeds_needed(effect, sd, alpha)
        needed = math.ceil(total / c.cells) if math.isfinite(total) else math.nan
    else:
        needed = inf.seeds_needed(effect, c.effect.sd, alpha)
    return Claim(
        c.metric, c.model, c.dataset, c.effect.n, c.estimate, c.ci_low, c.ci_high, claimed,
        c.verdict, inside, c.effect.p_value, c.p_holm, c.mde, float(needed), c.family,
        c.margin,
    )  # fmt: skip


def _claims(analysis: Analysis) -> list[Claim]:
    """The claims against Bop, from the comparisons themselves: per cell (the secondary
    family), then pooled (the primary family)."""
    claims = []
    for name in ("secondary", "primary"):
        family = analysis.family(name)
        for metric in ("speed", "accuracy"):
            for c in family:
                if c.other == CLAIM_BASELINE and c.metric == metric:
                    claims.append(_claim_of(c, family))
    return claims


def _descriptive(cells: list[CellResult], resamples: int) -> dict[str, dict[str, Descriptive]]:
    """P(BAMSProd > X) in final accuracy per baseline, and each optimizer's IQM of final
    accuracy, with stratified-bootstrap percentile intervals."""
    out: dict[str, dict[str, Descriptive]] = {"probability_of_improvement": {}, "iqm": {}}
    names = sorted({n for c in cells for n in c.optimizers})
    for name in names:
        per_cell = [
            np.array([[p.accuracy] for p in c.optimizers[name].runs if math.isfinite(p.accuracy)])
            for c in cells
            if name in c.optimizers
        ]
        per_cell = [x for x in per_cell if x.size]
        out["iqm"][name] = stratified_bootstrap(per_cell, "iqm", resamples=resamples)
        if name == CANDIDATE:
            continue
        pairs = []
        for c in cells:
            if CANDIDATE in c.optimizers and name in c.optimizers:
                a, b = _paired(c.optimizers[CANDIDATE], c.optimizers[name], "accuracy")
                keep = np.isfinite(a) & np.isfinite(b)
                if keep.any():
                    pairs.append(np.column_stack([a[keep], b[keep]]))
        if pairs:
            out["probability_of_improvement"][name] = stratified_bootstrap(
                pairs, "probability_of_improvement", resamples=resamples
            )
    return out


def design_check(analysis: Analysis) -> dict[str, float]:
    """The smallest Holm-adjusted p an exact sign-flip test could reach in each family, from
    its seed counts (:func:`report.inference.min_signflip_holm`)."""
    return {
        name: inf.min_signflip_holm([c.effect.n for c in analysis.family(name)])
        for name in ("primary", "secondary")
    }


def methods(
    analysis: Analysis, accuracy_margin: float, speed_margin: float, resamples: int
) -> dict[str, Any]:
    """What summary.json records under ``task.methods`` and the Methods section states."""
    sizes = {name: len(analysis.family(name)) for name in ("primary", "secondary")}
    return {
        "interval": {
            "method": inf.INTERVAL_METHOD,
            "level": inf.LEVEL,
            "ratio": "exponentiated t-interval of the mean paired log-ratio",
            "too_few": inf.NO_INTERVAL,
        },
        "test": inf.TEST,
        "alpha": inf.ALPHA,
        "correction": "holm",
        "families": {
            "primary": {
                "size": sizes["primary"],
                "what": "BAMSProd vs each baseline (the tuned rows), pooled across cells, one "
                "comparison per baseline and metric (accuracy, speed)",
            },
            "secondary": {
                "size": sizes["secondary"],
                "what": "BAMSProd vs each other row (defaults rows included) in each cell, "
                "per metric",
            },
        },
        "margins": {"accuracy": accuracy_margin, "speed": speed_margin},
        "power": {
            "level": inf.POWER,
            "alpha": "alpha / family size (Holm's first step, conservative)",
        },
        "pooling": "cells weighted equally: mean of per-cell mean paired differences, SE = "
        "sqrt(sum s_c^2/n_c)/K, Welch-Satterthwaite df",
        "descriptive": {
            "method": "stratified bootstrap over seeds within cells, percentile interval",
            "resamples": resamples,
            "statistics": ["probability_of_improvement", "iqm"],
        },
        "target": {
            **asdict(analysis.target),
            "description": analysis.target.describe(analysis.reference),
        },
        "time_to_target": "first evaluation at/above the target, linearly interpolated from the "
        "last below; censored at the budget when never reached (Kaplan-Meier median, "
        "restricted mean up to the budget)",
        "min_signflip_holm_p": design_check(analysis),
    }


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
            interval = inf.mean_interval(a - b)
            mine, theirs = tuned.by_seed(), defaults.by_seed()
            shared = sum(mine[s].run_id == theirs[s].run_id for s in set(mine) & set(theirs))
            gains.append(
                TuningGain(
                    cell.model, cell.dataset, name, int(a.size), tuned.accuracy["mean"],
                    defaults.accuracy["mean"], interval.mean, interval.ci_low,
                    interval.ci_high, shared,
                )
            )  # fmt: skip
    return gains


def _profiles(cells: list[CellResult]) -> dict[str, pd.DataFrame]:
    """Dolan-Moré profiles: ``final_error`` (1 - mean accuracy, floored at 1e-6) and
    ``steps_to_target`` (restricted mean time when every seed reached the target, else
    infinite)."""
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
            name: (
                max(r.steps_to_target["mean"], 1e-9)
                if r.runs and r.reached == len(r.runs)
                else math.inf
            )
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
