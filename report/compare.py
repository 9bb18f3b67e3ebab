r"""The nightly regression gate: two ``summary.json`` documents compared, cell by cell.

``bnnbench compare CURRENT BASELINE`` is :func:`load_summary` twice, :func:`compare` and
:func:`to_markdown`; docs/nightly.md explains the verdict to a reader of a failed job.

**A regression is a statistical verdict plus a tolerance.** For every (cell, optimizer) pair
present in both summaries, two measures are compared across the two runs' seeds (the per-seed
values of ``runs[]``):

- **final test accuracy** ``a``; harm: ``mean(a_base) - mean(a_cur)`` (points of accuracy);
- **speed**, as the error area over training ``e = 1 - auc`` (``auc``: the normalised area
  under the test-accuracy curve, the mean accuracy over the budget); harm: the relative growth
  ``mean(e_cur) / mean(e_base) - 1``. The area needs no target, so it does not jump when a
  plateau sits near the target as steps-to-target does (docs/nightly.md, "Why the area").

A diverged run's missing accuracy or area counts as 0 (it learned nothing usable). Each
measure gets a one-sided Welch t-test in the direction of harm
(``scipy.stats.ttest_ind(cur, base, equal_var=False, alternative=...)``); the p-values of all
the tests (pairs x measures) are Holm-corrected together
(``statsmodels.stats.multitest.multipletests(method="holm")``). A pair is a **regression**
when its corrected p-value is below :data:`ALPHA` (0.05) **and** the harm exceeds the
tolerance: ``acc_tolerance`` (:data:`ACC_TOLERANCE`, 0.01, one point) or ``speed_tolerance``
(:data:`SPEED_TOLERANCE`, 0.10: a 10% larger error area). An **improvement** is the same rule
the other way (its own one-sided tests, their own Holm family); it never fails the gate. A row
where only one of the two conditions holds is listed as **no change detected**, with the
reason. "More than" is strict, with 1e-12 of slack for floating-point rounding.

**Sensitivity.** The smallest harm the gate detects with 80% power at the baseline's seeds
and spread: ``d * sd_base`` with ``d`` the standardised effect that
``statsmodels.stats.power.TTestIndPower`` solves for at one-sided level ``ALPHA / m`` (``m``
tests: a lone regression's Holm threshold). It is reported per measure (median and largest
over the pairs), with the seeds per run that would bring the median pair down to the tolerance.

Besides the tests: **more failed runs** (a run raised an error) is a regression, fewer an
improvement; a **vanished** cell or optimizer (in the baseline, not in the current summary)
is a regression, a **new** one is reported only. A changed count of diverged runs is listed
(no change detected: those runs already count in both tests).

**Old summaries** (no per-seed ``runs[]``, or fewer than 2 seeds on a side) cannot be tested:
such a pair falls back to the old rule, with a warning: a drop beyond ``max(tolerance,
sqrt(h_cur**2 + h_base**2))`` of the 95% CIs' half-widths ``h`` for accuracy, and the same
relative rule for steps-to-target when both have a target.

What makes a comparison unfair is said, not hidden, and does not fail the gate by itself: each
differing field of ``suite.spec`` (thread count included), the reference optimizer, torch and
the GPU become one warning line each; a different CPU model makes the first line of the output
"comparison across machine classes: ...". A current run whose hyper-parameters were pinned
(``suite.hparams_from``, :mod:`benchmark.pinning`) says so; tuning (each cell's best
validation score) is compared separately, reported, never gated.

Two summaries of different suites (``suite.name``) or tasks, a file that is missing or not
JSON, or a ``schema_version`` other than :data:`report.summary_json.SCHEMA_VERSION` raise a
one-line :class:`~benchmark.errors.BnnBenchError` (the CLI exits 2).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from benchmark.errors import BnnBenchError
from report.summary_json import SCHEMA_VERSION
from report.summary_shape import check_shape

#: default accuracy tolerance: a drop of more than one point of test accuracy
ACC_TOLERANCE = 0.01
#: default speed tolerance: a 10% larger error area over training (1 - AUC)
SPEED_TOLERANCE = 0.10
#: the level of the one-sided Welch tests, after Holm over every test of a comparison
ALPHA = 0.05
#: the power at which the detectable harm (sensitivity) is stated
POWER = 0.80
#: slack for floating-point rounding in "more than"
EPSILON = 1e-12

Verdict = Literal["regression", "improvement", "no change detected", "new"]
#: what a row measures: final test accuracy, error area (1 - AUC), steps to target (old
#: summaries), run counts, presence
Measure = Literal["accuracy", "auc", "steps", "runs", "presence"]
_WHAT = {
    "accuracy": ("accuracy drop", "accuracy gain"),
    "auc": ("slower (error area over training)", "faster (error area over training)"),
    "steps": ("slowdown (steps to target)", "speed-up (steps to target)"),
}
_ORDER = {"regression": 0, "improvement": 1, "no change detected": 2, "new": 3}
#: spec fields named in warnings by their documented names
_SPEC_NAMES = {
    "batch_size": "batch size",
    "evals_per_epoch": "evaluations per epoch",
    "clip_latent": "latent clipping",
    "threads_per_worker": "torch threads per run",
    "tuning_trials": "tuning trials",
    "tuning_sampler": "tuning sampler",
    "tuning_seeds_per_trial": "seeds per tuning trial",
    "tuning_halving": "successive halving",
}
#: besides every ``suite.spec`` field, what must be equal for a like-for-like comparison (the
#: CPU model is not here: a difference in it heads the output instead, :func:`machine_line`)
FAIRNESS = (
    ("reference optimizer", ("task", "reference")),
    ("torch version", ("environment", "packages", "torch")),
    ("GPU", ("environment", "gpu")),
)


@dataclass(frozen=True)
class Change:
    """One row of the comparison: what changed for an optimizer in a cell (``optimizer`` is
    ``"*"`` for a whole cell that vanished or appeared).

    ``baseline``/``current`` are the means (accuracy; AUC for ``auc``; steps; counts);
    ``delta`` is ``current - baseline`` for accuracy and run counts, the relative change of the
    error area ``mean(1 - auc_cur) / mean(1 - auc_base) - 1`` for ``auc``, and ``current /
    baseline - 1`` for steps; ``threshold`` is the tolerance ``|delta|`` had to exceed (None
    where any change counts); ``p`` the Holm-corrected one-sided p-value (None without a
    test); ``note`` says why the verdict is what it is."""

    model: str
    dataset: str
    optimizer: str
    what: str
    verdict: Verdict
    measure: Measure = "presence"
    baseline: float | None = None
    current: float | None = None
    delta: float | None = None
    threshold: float | None = None
    note: str = ""
    p: float | None = None

    @property
    def cell(self) -> str:
        return f"{self.model}/{self.dataset}"


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`: the listed rows (regressions first), the fairness
    warnings, how many (cell, optimizer) pairs both summaries have and how many tests ran,
    the machine line (empty when both ran on one CPU model), the sensitivity lines and the
    tuning lines (reported, not gated)."""

    suite: str
    task: str
    changes: list[Change]
    warnings: list[str]
    compared: int
    acc_tolerance: float = ACC_TOLERANCE
    speed_tolerance: float = SPEED_TOLERANCE
    labels: tuple[str, str] = ("current", "baseline")
    tests: int = 0
    machine: str = ""
    sensitivity: list[str] = field(default_factory=list)
    tuning: list[str] = field(default_factory=list)
    pinned: str = ""

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "improvement"]

    @property
    def regressed(self) -> bool:
        """Whether the gate fails (the CLI exits 1)."""
        return bool(self.regressions)


# ----------------------------------------------------------------------------- loading
def load_summary(
    path_or_suite: Any, *, results_dir: str | Path = "results", store: str | None = None
) -> dict[str, Any]:
    """A summary document from a ``summary.json`` file, a report folder holding one, or a
    suite (a :class:`~benchmark.suite.Suite`, a suite file or a shipped suite's name: its
    summary is computed from its store, opened read-only, in a temporary folder that is
    removed again). Raises a one-line :class:`BnnBenchError` for a missing or unreadable
    file, a document that is not a summary, or another schema version."""
    if not isinstance(path_or_suite, str | Path):
        return _suite_summary(path_or_suite, results_dir, store)
    text = str(path_or_suite)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") and not path.is_dir():
        return _suite_summary(path, results_dir, store)
    if path.exists() or path.suffix == ".json" or os.sep in text or "/" in text:
        return read_summary(summary_path(path))
    from benchmark.suite_files import resolve_suite_path

    resolved = resolve_suite_path(text)
    if resolved.suffix == ".yaml" and resolved.is_file():
        return _suite_summary(resolved, results_dir, store)
    raise BnnBenchError(
        f"'{text}' is neither a summary.json file, a report folder nor a suite "
        "(no such file, and no shipped suite of that name)"
    )


def summary_path(source: str | Path, option: str = "") -> Path:
    """The ``summary.json`` that ``source`` names: the file itself, or the one in a report
    folder; a one-line :class:`BnnBenchError` (starting with ``option``, e.g.
    ``"--hparams-from: "``) when there is none. ``compare`` and ``--hparams-from`` both
    resolve their summaries here."""
    path = Path(source)
    if path.is_dir():
        inner = path / "summary.json"
        if not inner.is_file():
            raise BnnBenchError(
                f"{option}no summary.json in folder '{path}' (a report folder holds one: give "
                "a summary.json file or a report folder holding one, or rebuild it with "
                "`bnnbench report SUITE`)"
            )
        return inner
    if not path.exists():
        raise BnnBenchError(
            f"{option}no such file or folder: '{path}' (give a summary.json file or a report "
            "folder holding one)"
        )
    return path


#: the largest summary.json ``compare`` reads (bytes): a 20-optimizer nightly's is ~100 KB
MAX_SUMMARY_BYTES = 16_000_000
#: the deepest nesting of objects and arrays in a summary.json (the schema needs 6)
MAX_SUMMARY_DEPTH = 32
_TOO_DEEP = object()


def read_summary(path: str | Path) -> dict[str, Any]:
    """The summary in the JSON file ``path``, its schema version checked (one-line errors).
    At most :data:`MAX_SUMMARY_BYTES` are read (``/dev/zero`` is refused, not read whole)
    and the document nests at most :data:`MAX_SUMMARY_DEPTH` levels."""
    from benchmark.input_bounds import read_text

    path = Path(path)
    if not path.exists():
        raise BnnBenchError(f"no such file: '{path}'")
    text = read_text(path, f"'{path}'", "summary", MAX_SUMMARY_BYTES)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BnnBenchError(
            f"'{path}' is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        document = _TOO_DEEP  # deeper than Python's parser goes
    if document is _TOO_DEEP or _depth_over(document, MAX_SUMMARY_DEPTH):
        raise BnnBenchError(
            f"'{path}' nests deeper than {MAX_SUMMARY_DEPTH} levels; not a bnnbench summary.json"
        )
    return check_summary(document, str(path))


def _depth_over(document: Any, limit: int) -> bool:
    """Whether ``document`` nests objects/arrays deeper than ``limit`` (iterative walk)."""
    todo: list[tuple[Any, int]] = [(document, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            todo.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_summary(document: Any, source: str) -> dict[str, Any]:
    """``document`` if it is a summary of :data:`SCHEMA_VERSION` with a ``suite`` and a
    ``task`` object whose values read here have their types (:mod:`report.summary_shape`:
    no ``"0.9"`` for a number), else a one-line :class:`BnnBenchError` naming ``source``
    (and the key)."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise BnnBenchError(
            f"'{source}' is not a bnnbench summary.json (no schema_version at the top level)"
        )
    version = document["schema_version"]
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise BnnBenchError(
            f"'{source}' has summary schema version {json.dumps(version)}; this bnnbench reads "
            f"version {SCHEMA_VERSION} only (rebuild it with this bnnbench: `bnnbench report`)"
        )
    for key in ("suite", "task"):
        if not isinstance(document.get(key), dict):
            raise BnnBenchError(f"'{source}' is not a bnnbench summary.json (no '{key}' object)")
    check_shape(document, source)
    return document


def _suite_summary(suite: Any, results_dir: str | Path, store: str | None) -> dict[str, Any]:
    """The summary a suite's report would write now, built into a temporary folder."""
    from benchmark.pipeline import build_report

    with tempfile.TemporaryDirectory(prefix="bnnbench-compare-") as tmp:
        paths = build_report(suite, results_dir=results_dir, store=store, out_dir=tmp)
        if paths.summary is None:  # pragma: no cover - every task's report writes one
            raise BnnBenchError(f"the report of suite '{suite}' wrote no summary.json")
        return read_summary(paths.summary)


# ----------------------------------------------------------------------------- comparing
def half_width(interval: Mapping[str, Any] | None) -> float:
    """Half the width of a ``{ci_low, ci_high}`` interval; 0 when either end is missing."""
    low, high = (interval or {}).get("ci_low"), (interval or {}).get("ci_high")
    if low is None or high is None:
        return 0.0
    return (float(high) - float(low)) / 2.0


def accuracy_noise(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> float:
    """``sqrt(h_cur**2 + h_base**2)``: the two CIs' half-widths combined (old rule)."""
    return math.hypot(half_width(current), half_width(baseline))


def relative_noise(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> float:
    """``sqrt((h_cur / mean_cur)**2 + (h_base / mean_base)**2)`` (a term with a missing CI or
    a mean of 0 counts as 0; old rule)."""

    def term(interval: Mapping[str, Any]) -> float:
        mean = interval.get("mean")
        return half_width(interval) / float(mean) if mean else 0.0

    return math.hypot(term(current), term(baseline))


def _exceeds(value: float, threshold: float) -> bool:
    return value > threshold + EPSILON


def _cells(summary: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    cells = summary["task"].get("cells") or []
    return {(str(c.get("model")), str(c.get("dataset"))): c for c in cells}


def _dig(document: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        document = document.get(key) if isinstance(document, Mapping) else None
    return document


def fairness_warnings(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """One line per difference that makes the comparison unfair (:data:`FAIRNESS`: every
    ``suite.spec`` field, the reference, torch, GPU), naming both values; a spec field one
    summary does not record (written before it was) is said so."""
    specs = [(d["suite"].get("spec") or {}) for d in (current, baseline)]
    fields = [
        (f"suite spec: {_SPEC_NAMES.get(key, key)}", ("suite", "spec", key))
        for key in sorted(set(specs[0]) | set(specs[1]))
    ]
    lines = []
    for name, keys in [*fields, *FAIRNESS]:
        cur, base = _dig(current, keys), _dig(baseline, keys)
        if cur != base:
            unrecorded = keys[:2] == ("suite", "spec") and (
                keys[2] not in specs[1] or keys[2] not in specs[0]
            )
            why = " (not recorded in one summary: written before it was)" if unrecorded else ""
            lines.append(
                f"{name} differs: baseline {_plain(base)}, current {_plain(cur)}{why}; the "
                "numbers may differ for that reason alone (compared all the same)"
            )
    return lines


def machine_line(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    """``"comparison across machine classes: ..."`` when the CPU models differ, else ``""``.
    A machine class is a CPU model and a torch thread count (``suite.spec.threads_per_worker``)."""
    cpus = [_dig(d, ("environment", "cpu")) for d in (current, baseline)]
    if cpus[0] == cpus[1]:
        return ""
    threads = [_dig(d, ("suite", "spec", "threads_per_worker")) for d in (current, baseline)]

    def machine(i: int) -> str:
        t = threads[i]
        return (
            f"{_plain(cpus[i])} ({'threads not recorded' if t is None else f'{t} torch threads'})"
        )

    return (
        f"comparison across machine classes: baseline {machine(1)}, current {machine(0)}; "
        "floating-point results differ across CPUs, and the gate counts that as seed-to-seed "
        "noise: a baseline from this machine class is the fairer one (docs/nightly.md)"
    )


def _plain(value: Any) -> str:
    return "none" if value is None else json.dumps(value) if isinstance(value, list) else str(value)


# ----------------------------------------------------------------------------- the tests
@dataclass
class _Test:
    """One measure of one pair: the per-seed values of both sides and the raw one-sided
    p-values of harm and of gain."""

    where: tuple[str, str, str]
    measure: Measure
    base: list[float]
    cur: list[float]
    tolerance: float
    p_harm: float = 1.0
    p_gain: float = 1.0

    @property
    def harm(self) -> float:
        """Accuracy: ``mean_base - mean_cur``; error area: ``mean_cur / mean_base - 1``."""
        b, c = statistics.fmean(self.base), statistics.fmean(self.cur)
        if self.measure == "accuracy":
            return b - c
        return _ratio(c, b) - 1.0

    @property
    def gain(self) -> float:
        b, c = statistics.fmean(self.base), statistics.fmean(self.cur)
        if self.measure == "accuracy":
            return c - b
        return _ratio(b, c) - 1.0


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == b else math.inf


def welch_p(current: Sequence[float], baseline: Sequence[float], alternative: str) -> float:
    """The one-sided Welch t-test's p-value of ``current`` against ``baseline``
    (``alternative``: ``"less"``, current's mean below; ``"greater"``); 1 where it is
    undefined (both samples constant and equal)."""
    from scipy import stats

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)  # constant samples: nan, read as 1
        p = stats.ttest_ind(current, baseline, equal_var=False, alternative=alternative).pvalue
    return 1.0 if math.isnan(p) else float(p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (``statsmodels.stats.multitest.multipletests``)."""
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(list(p_values), alpha=ALPHA, method="holm")[1]]


def _per_seed(entry: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    """The per-seed final accuracies and error areas ``1 - auc`` of an optimizer's runs
    (a missing value, as a diverged run has, counts as accuracy 0, error area 1); None when
    the summary has no per-seed runs (written before they were stored)."""
    runs = entry.get("runs")
    if not runs:
        return None
    acc = [float(r.get("accuracy") or 0.0) for r in runs]
    err = [1.0 - float(r.get("auc") or 0.0) for r in runs]
    return acc, err


def detectable(test: _Test, m: int) -> float:
    """The smallest harm detected with :data:`POWER` at the baseline's seeds and spread, for a
    lone regression among ``m`` tests (one-sided level ``ALPHA / m``): ``d * sd_base`` (for the
    error area relative to its baseline mean). ``inf`` when no test is possible."""
    d = effect_size(len(test.base), len(test.cur), ALPHA / max(m, 1))
    sd = statistics.stdev(test.base)
    if test.measure == "accuracy":
        return d * sd
    mean = statistics.fmean(test.base)
    return d * sd / mean if mean > 0 else math.inf


def effect_size(n_base: int, n_cur: int, alpha: float) -> float:
    """The standardised effect a one-sided two-sample t-test detects with :data:`POWER`
    (``statsmodels.stats.power.TTestIndPower.solve_power``)."""
    from statsmodels.stats.power import TTestIndPower

    return float(
        TTestIndPower().solve_power(
            effect_size=None,
            nobs1=n_base,
            ratio=n_cur / n_base,
            alpha=alpha,
            power=POWER,
            alternative="larger",
        )
    )


def seeds_needed(sd: float, tolerance: float, m: int, limit: int = 1000) -> int | None:
    """The fewest seeds per side at which the detectable harm ``d * sd`` is within
    ``tolerance``: ``ceil`` of the sample size ``TTestIndPower`` solves for at effect
    ``tolerance / sd`` (at least 2; None when above ``limit``)."""
    if sd <= tolerance * 1e-9:
        return 2
    from statsmodels.stats.power import TTestIndPower

    n = TTestIndPower().solve_power(
        effect_size=tolerance / sd,
        nobs1=None,
        ratio=1.0,
        alpha=ALPHA / max(m, 1),
        power=POWER,
        alternative="larger",
    )
    n = max(2, math.ceil(float(n) - 1e-9))
    return n if n <= limit else None


def _judge_test(test: _Test, p_harm: float, p_gain: float) -> list[Change]:
    """The row of one test: regression, improvement, no change detected (one condition
    only), or none (neither condition)."""
    b, c = statistics.fmean(test.base), statistics.fmean(test.cur)
    if test.measure == "auc":
        b, c = 1.0 - b, 1.0 - c  # shown as AUC
    # accuracy: current - baseline; error area: its relative change
    delta = c - b if test.measure == "accuracy" else test.harm
    names = _WHAT[test.measure]
    tol = test.tolerance
    rows = []
    for kind, amount, p, what in (
        ("regression", test.harm, p_harm, names[0]),
        ("improvement", test.gain, p_gain, names[1]),
    ):
        big, rejected = _exceeds(amount, tol), p < ALPHA
        if not (big or rejected):
            continue
        shown = f"{amount:.4f}" if test.measure == "accuracy" else f"{amount:.1%}"
        limit = f"{tol:g}" if test.measure == "accuracy" else f"{tol:.0%}"
        if big and rejected:
            verdict: Verdict = kind  # type: ignore[assignment]
            note = f"p = {p:.2g} < {ALPHA:g} (Holm) and {shown} > {limit}"
        elif big:
            verdict = "no change detected"
            note = f"{shown} > {limit} but p = {p:.2g} >= {ALPHA:g} (Holm): within seed noise"
        else:
            verdict = "no change detected"
            note = f"p = {p:.2g} < {ALPHA:g} (Holm) but {shown} <= {limit}: within tolerance"
        rows.append(Change(*test.where, what, verdict, test.measure, b, c, delta, tol, note, p))
    # both directions cannot both exceed: keep the stronger row
    return sorted(rows, key=lambda r: (_ORDER[r.verdict], r.p or 1.0))[:1]


# ----------------------------------------------------------------------------- old rule
def _old_judge(
    where: tuple[str, str, str],
    measure: Measure,
    values: tuple[float, float],
    worse: float,
    better: float,
    noise: float,
    tolerance: float,
) -> list[Change]:
    """The old rule (summaries without per-seed runs): a regression row when ``worse``
    exceeds ``max(tolerance, noise)``, an improvement row when ``better`` does."""
    threshold = max(tolerance, noise)
    note = "old rule: CI noise" if noise > tolerance else "old rule: tolerance"
    base, cur = values
    delta = cur - base if measure == "accuracy" else cur / base - 1.0
    names = _WHAT[measure]
    for verdict, amount, what in (
        ("regression", worse, names[0]),
        ("improvement", better, names[1]),
    ):
        if _exceeds(amount, threshold):
            return [Change(*where, what, verdict, measure, base, cur, delta, threshold, note)]  # type: ignore[arg-type]
    return []


def _old_accuracy(where: tuple[str, str, str], cur: dict, base: dict, tol: float) -> list[Change]:
    a_cur, a_base = cur.get("accuracy") or {}, base.get("accuracy") or {}
    m_cur, m_base = a_cur.get("mean"), a_base.get("mean")
    if m_base is None:  # the baseline has no accuracy to hold the current one to
        return []
    if m_cur is None:
        note = "no run finished now"
        return [Change(*where, "accuracy drop", "regression", "accuracy", m_base, note=note)]
    noise = accuracy_noise(a_cur, a_base)
    drop = float(m_base) - float(m_cur)
    return _old_judge(where, "accuracy", (m_base, m_cur), drop, -drop, noise, tol)


def _old_steps(where: tuple[str, str, str], cur: dict, base: dict, tol: float) -> list[Change]:
    s_cur, s_base = cur.get("steps_to_target") or {}, base.get("steps_to_target") or {}
    m_cur, m_base = s_cur.get("mean"), s_base.get("mean")
    if m_cur is None or m_base is None or m_cur <= 0 or m_base <= 0:
        return []  # no value, or the target reached before training: no ratio
    noise = relative_noise(s_cur, s_base)
    slower, faster = m_cur / m_base - 1.0, m_base / m_cur - 1.0
    return _old_judge(where, "steps", (m_base, m_cur), slower, faster, noise, tol)


def _counts(where: tuple[str, str, str], cur: dict, base: dict, tested: bool) -> list[Change]:
    """More failed runs: a regression (fewer: an improvement). A changed count of diverged
    runs: listed (no change detected) when the pair was tested, since a diverged run counts in
    both tests already; judged like failed runs by the old rule otherwise."""
    changes = []
    for key in ("diverged", "failed"):
        n_cur, n_base = int(cur.get(key) or 0), int(base.get(key) or 0)
        if n_cur == n_base:
            continue
        worse = n_cur > n_base
        what = f"{'more' if worse else 'fewer'} runs {key}"
        verdict: Verdict = "regression" if worse else "improvement"
        note = ""
        if key == "diverged" and tested:
            verdict, note = "no change detected", "counted in the accuracy and AUC tests"
        elif key == "failed":
            note = "a run raised an error" if worse else ""
        changes.append(
            Change(*where, what, verdict, "runs", n_base, n_cur, n_cur - n_base, note=note)
        )
    return changes


def _presence(where: tuple[str, str, str], kind: str, cell: dict, gone: bool) -> Change:
    """A cell or optimizer that vanished (a regression) or appeared (new)."""
    names = ", ".join(sorted(cell.get("optimizers", {})))
    note = f"optimizers: {names}" if names else ""
    if gone:
        return Change(*where, f"{kind} vanished", "regression", note=note)
    return Change(*where, f"new {kind}", "new", note=note)


# ----------------------------------------------------------------------------- sensitivity
def sensitivity_lines(
    tests: Sequence[_Test], speed_tolerance: float, acc_tolerance: float
) -> list[str]:
    """Per measure: the harm the gate detects with :data:`POWER` (median and largest over the
    pairs, :func:`detectable`), how many pairs it exceeds the tolerance in, and the seeds per
    run that would bring the median pair to the tolerance."""
    m = len(tests)
    lines = []
    for measure, tol, unit in (
        ("accuracy", acc_tolerance, "accuracy drop"),
        ("auc", speed_tolerance, "growth of the error area over training"),
    ):
        mine = [t for t in tests if t.measure == measure]
        if not mine:
            continue
        found = sorted(((detectable(t, m), t) for t in mine), key=lambda vt: vt[0])
        values = [v for v, _ in found]
        median = statistics.median(values)
        worst, worst_test = found[-1]
        over = sum(_exceeds(v, tol) for v in values)
        seeds = sorted({len(t.base) for t in mine})
        fmt = (lambda v: f"{v:.3f}") if measure == "accuracy" else (lambda v: f"{v:.0%}")
        tol_text = f"{tol:g}" if measure == "accuracy" else f"{tol:.0%}"
        line = (
            f"{unit}: detected at {POWER:.0%} power from {fmt(median)} (median over "
            f"{len(mine)} pairs; largest {fmt(worst)}, {'/'.join(worst_test.where)}) at the "
            f"baseline's {'/'.join(map(str, seeds))} seeds and spread (one-sided level "
            f"{ALPHA:g}/{m}); above the tolerance {tol_text} in {over} of {len(mine)} pairs"
        )
        if over:
            mid = found[len(found) // 2][1]
            sd = statistics.stdev(mid.base)
            if measure == "auc":
                mean = statistics.fmean(mid.base)
                sd = sd / mean if mean > 0 else math.inf
            need = seeds_needed(sd, tol, m) if math.isfinite(sd) else None
            line += (
                f"; {need} seeds per run would bring the median pair to the tolerance"
                if need
                else "; no seed count up to 1000 brings the median pair to the tolerance"
            )
        lines.append(line)
    return lines


# ----------------------------------------------------------------------------- tuning
def tuning_lines(
    current: Mapping[str, Any], baseline: Mapping[str, Any], acc_tolerance: float
) -> list[str]:
    """Tuning, reported and never gated: per cell both summaries tuned, the best validation
    score and whether the best point is the same. A pinned current run did not tune."""
    pinned = current["suite"].get("hparams_from")
    if pinned:
        return ["tuning: not compared (the current run did not tune: its points are pinned)"]
    cur = _dig(current, ("task", "tuning", "cells")) or {}
    base = _dig(baseline, ("task", "tuning", "cells")) or {}
    keys = sorted(
        k
        for k in set(cur) & set(base)
        if cur[k].get("best_score") is not None and base[k].get("best_score") is not None
    )
    if not keys:
        return []
    deltas = {k: float(cur[k]["best_score"]) - float(base[k]["best_score"]) for k in keys}
    moved = [k for k in keys if cur[k].get("best_params") != base[k].get("best_params")]
    worst = min(keys, key=deltas.__getitem__)
    lines = [
        f"tuning (reported, not gated): {len(keys)} cells tuned in both; {len(moved)} chose "
        f"another best point; best validation score: mean change "
        f"{statistics.fmean(deltas.values()):+.4f}, largest drop {deltas[worst]:+.4f} ({worst})"
    ]
    lower = [k for k in keys if -deltas[k] > acc_tolerance + EPSILON]
    if lower:
        shown = ", ".join(f"{k} {deltas[k]:+.4f}" for k in lower[:10])
        more = f" and {len(lower) - 10} more" if len(lower) > 10 else ""
        lines.append(
            f"tuning: best validation score lower by more than {acc_tolerance:g} in "
            f"{len(lower)} cells: {shown}{more} (one trial's score each: no test)"
        )
    return lines


def _source(pinned: Any) -> str:
    if isinstance(pinned, Mapping):
        return str(pinned.get("path", pinned))
    return str(pinned)


# ----------------------------------------------------------------------------- compare
def compare(
    current: Mapping[str, Any],
    baseline: Mapping[str, Any],
    *,
    acc_tolerance: float = ACC_TOLERANCE,
    speed_tolerance: float = SPEED_TOLERANCE,
    labels: tuple[str, str] = ("current", "baseline"),
) -> Comparison:
    """Compare two summaries by the rules of this module's docstring. ``labels`` name the two
    documents in error messages (e.g. their paths). Raises a one-line :class:`BnnBenchError`
    when they are of different suites or tasks, or a tolerance is negative or not finite."""
    for option, value in (("accuracy", acc_tolerance), ("speed", speed_tolerance)):
        if not (math.isfinite(value) and value >= 0):
            raise BnnBenchError(f"the {option} tolerance must be a number >= 0, got {value}")
    current = check_summary(current, labels[0])
    baseline = check_summary(baseline, labels[1])
    who = [(d["suite"].get("name"), d["suite"].get("task")) for d in (current, baseline)]
    if who[0] != who[1]:
        (name_c, task_c), (name_b, task_b) = who
        raise BnnBenchError(
            f"the summaries are of different suites: {labels[0]} is suite '{name_c}' (task "
            f"{task_c}), {labels[1]} is suite '{name_b}' (task {task_b}); compare a suite's "
            "summary with a baseline of the same suite"
        )
    cells_cur, cells_base = _cells(current), _cells(baseline)
    changes: list[Change] = []
    tests: list[_Test] = []
    untested: list[str] = []
    compared = 0
    for key in sorted(set(cells_cur) | set(cells_base)):
        cur_cell, base_cell = cells_cur.get(key), cells_base.get(key)
        if cur_cell is None or base_cell is None:
            changes.append(_presence((*key, "*"), "cell", base_cell or cur_cell, cur_cell is None))
            continue
        opt_cur, opt_base = cur_cell.get("optimizers", {}), base_cell.get("optimizers", {})
        both_targets = cur_cell.get("target") is not None and base_cell.get("target") is not None
        for name in sorted(set(opt_cur) | set(opt_base)):
            where = (*key, name)
            if name not in opt_cur or name not in opt_base:
                changes.append(_presence(where, "optimizer", {}, name not in opt_cur))
                continue
            compared += 1
            cur, base = opt_cur[name], opt_base[name]
            seeds_cur, seeds_base = _per_seed(cur), _per_seed(base)
            testable = (
                seeds_cur is not None
                and seeds_base is not None
                and min(len(seeds_cur[0]), len(seeds_base[0])) >= 2
            )
            if testable:
                assert seeds_cur is not None and seeds_base is not None
                tests.append(_Test(where, "accuracy", seeds_base[0], seeds_cur[0], acc_tolerance))
                tests.append(_Test(where, "auc", seeds_base[1], seeds_cur[1], speed_tolerance))
            else:
                untested.append("/".join(where))
                changes += _old_accuracy(where, cur, base, acc_tolerance)
                if both_targets:
                    changes += _old_steps(where, cur, base, speed_tolerance)
            changes += _counts(where, cur, base, testable)
    for test in tests:
        alternative = ("less", "greater") if test.measure == "accuracy" else ("greater", "less")
        test.p_harm = welch_p(test.cur, test.base, alternative[0])
        test.p_gain = welch_p(test.cur, test.base, alternative[1])
    harm, gain = holm([t.p_harm for t in tests]), holm([t.p_gain for t in tests])
    for test, p_harm, p_gain in zip(tests, harm, gain, strict=True):
        changes += _judge_test(test, p_harm, p_gain)
    changes.sort(key=lambda c: (_ORDER[c.verdict], c.model, c.dataset, c.optimizer))
    warnings = fairness_warnings(current, baseline)
    if untested:
        shown = ", ".join(untested[:5]) + (
            f" and {len(untested) - 5} more" if len(untested) > 5 else ""
        )
        warnings.append(
            f"{len(untested)} pairs have no per-seed runs, or fewer than 2 seeds, in one "
            f"summary ({shown}): no test possible, judged by the old rule (tolerance or the "
            "CIs' noise); refresh the baseline with this bnnbench"
        )
    if compared == 0:
        warnings.append(
            f"no (cell, optimizer) pair is in both summaries (task {who[0][1]}): nothing was "
            "compared"
        )
    pinned = current["suite"].get("hparams_from")
    return Comparison(
        suite=str(who[0][0]),
        task=str(who[0][1]),
        changes=changes,
        warnings=warnings,
        compared=compared,
        acc_tolerance=acc_tolerance,
        speed_tolerance=speed_tolerance,
        labels=labels,
        tests=len(tests),
        machine=machine_line(current, baseline),
        sensitivity=sensitivity_lines(tests, speed_tolerance, acc_tolerance),
        tuning=tuning_lines(current, baseline, acc_tolerance),
        pinned=_source(pinned) if pinned else "",
    )


# ----------------------------------------------------------------------------- output
def _number(change: Change, value: float | None) -> str:
    from report.markup import number

    if value is None:
        return "n/a" if change.measure != "presence" else ""
    return number(value, 4, fixed=change.measure in ("accuracy", "auc"))


def _delta(change: Change) -> str:
    if change.delta is None:
        return ""
    if change.measure == "steps":
        return f"{change.delta:+.1%}"
    if change.measure == "auc":
        return f"{change.delta:+.1%} error area"
    return f"{change.delta:+.4f}" if change.measure == "accuracy" else f"{change.delta:+g}"


def _threshold(change: Change) -> str:
    if change.threshold is None:
        return ""
    value = change.threshold
    shown = f"{value:.1%}" if change.measure in ("steps", "auc") else f"{value:.4g}"
    return (
        shown
        if change.note and not change.note.startswith("old rule")
        else f"{shown} ({change.note})"
    )


def row(change: Change) -> dict[str, str]:
    """A change as the table's row of texts."""
    c = change
    presence = c.measure == "presence"
    what = f"{c.what}: {c.note}" if presence and c.note else c.what
    why = "" if presence or c.note.startswith("old rule") else c.note
    return {
        "cell": c.cell,
        "optimizer": c.optimizer,
        "change": what,
        "baseline": _number(c, c.baseline),
        "current": _number(c, c.current),
        "delta": _delta(c),
        "tolerance": _threshold(c),
        "p (Holm)": "" if c.p is None else f"{c.p:.2g}",
        "verdict": "REGRESSION" if c.verdict == "regression" else c.verdict,
        "why": why,
    }


def verdict_line(comparison: Comparison) -> str:
    """One line: passed or failed, the counts, the suite, the rule and the tolerances."""
    c = comparison

    def count(n: int, what: str) -> str:
        return f"{n} {what}{'s' * (n != 1)}"

    new = sum(ch.verdict == "new" for ch in c.changes)
    warned = f", {count(len(c.warnings), 'warning')}" if c.warnings else ""
    return (
        f"**Regression gate {'FAILED' if c.regressed else 'passed'}** (suite '{c.suite}', "
        f"{c.compared} (cell, optimizer) pairs compared, {c.tests} tests): "
        f"{count(len(c.regressions), 'regression')}, {count(len(c.improvements), 'improvement')}"
        f", {new} new{warned}. A regression: a one-sided Welch t-test across seeds rejects at "
        f"{ALPHA:g} after Holm over the {c.tests} tests and the harm exceeds the tolerance "
        f"(accuracy drop > {c.acc_tolerance:g}; error area over training, 1 - AUC, larger by > "
        f"{c.speed_tolerance:.0%})."
    )


def to_markdown(comparison: Comparison) -> str:
    """The machine line (across machine classes only), the verdict line, one ``warning:``
    line per fairness warning, the pinning, sensitivity and tuning lines, and a
    GitHub-flavoured table of the listed rows (regressions first): fits a CI job summary."""
    import pandas as pd

    from report.markup import markdown_table

    parts = [comparison.machine] if comparison.machine else []
    parts.append(verdict_line(comparison))
    if comparison.warnings:
        parts.append("\n".join(f"- warning: {line}" for line in comparison.warnings))
    notes = []
    if comparison.pinned:
        notes.append(
            f"the current run trained at hyper-parameters pinned from {comparison.pinned} "
            "(no tuning trials)"
        )
    notes += [f"sensitivity: {line}" for line in comparison.sensitivity]
    notes += comparison.tuning
    if notes:
        parts.append("\n".join(f"- {line}" for line in notes))
    if comparison.changes:
        parts.append(markdown_table(pd.DataFrame([row(c) for c in comparison.changes])))
    else:
        parts.append("No change detected: no test rejected, no effect beyond the tolerances.")
    return "\n\n".join(parts) + "\n"
