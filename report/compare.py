r"""The nightly regression gate: two ``summary.json`` documents compared, cell by cell.

``bnnbench compare CURRENT BASELINE`` is :func:`load_summary` twice, :func:`compare` and
:func:`to_markdown`; docs/nightly.md explains the verdict to a reader of a failed job.

The rules, per cell (model x dataset) and per optimizer present in both summaries:

- **accuracy drop** (a regression): ``baseline mean - current mean > max(acc_tolerance,
  noise)`` of the final test accuracy, where ``noise = sqrt(h_cur**2 + h_base**2)`` and ``h``
  is the half-width ``(ci_high - ci_low) / 2`` of a summary's 95% bootstrap CI of the mean. A
  missing CI (one seed) counts as 0, so only the tolerance applies. Default ``acc_tolerance``:
  :data:`ACC_TOLERANCE` (0.01, one point of accuracy). A mean that is gone (no run finished)
  where the baseline had one is a drop too;
- **slowdown** (a regression), only when both summaries have a target for the cell:
  ``current mean steps / baseline mean steps - 1 > max(speed_tolerance, noise)`` of the
  steps-to-target (a run that never reaches the target counts as the cell's budget, as in the
  report), with the relative noise ``sqrt((h_cur / mean_cur)**2 + (h_base / mean_base)**2)``.
  Default ``speed_tolerance``: :data:`SPEED_TOLERANCE` (0.10: 10% more steps);
- **more runs diverged or failed** than in the baseline (the counts increased): a regression,
  since the same spec and seeds now end worse;
- **vanished**: a cell, or an optimizer of a cell, in the baseline but not in the current
  summary: a regression (the gate cannot vouch for what it no longer sees). **New** (appeared):
  reported, never a regression;
- **improved** (informative): the same thresholds the other way round: an accuracy gain
  ``current - baseline > max(acc_tolerance, noise)``, a speed-up ``baseline steps / current
  steps - 1 > max(speed_tolerance, noise)``, fewer diverged or failed runs.

"More than" is strict, with 1e-12 of slack for floating-point rounding (0.90 against 0.89
with tolerance 0.01 is not a drop). Seconds-to-target are not compared: wall time depends on
the machine and its load.

What makes a comparison unfair is said, not hidden, and does not fail the gate by itself:
each differing field of ``suite.spec`` (epochs, batch size, evaluations per epoch, latent
clipping, device, seeds, tuning trials), the reference optimizer (it sets the targets), and
the environment's torch version, CPU model and GPU become one warning line each.

Two summaries of different suites (``suite.name``) or tasks, a file that is missing or not
JSON, or a ``schema_version`` other than :data:`report.summary_json.SCHEMA_VERSION` raise a
one-line :class:`~benchmark.errors.BnnBenchError` (the CLI exits 2).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchmark.errors import BnnBenchError
from report.summary_json import SCHEMA_VERSION

#: default accuracy tolerance: a drop of more than one point of test accuracy
ACC_TOLERANCE = 0.01
#: default speed tolerance: more than 10% more steps to reach the target
SPEED_TOLERANCE = 0.10
#: slack for floating-point rounding in "more than"
EPSILON = 1e-12

Verdict = Literal["regression", "improved", "new"]
#: what a row measures: final test accuracy, steps to target, run counts, presence
Measure = Literal["accuracy", "steps", "runs", "presence"]
_WHAT = {
    "accuracy": ("accuracy drop", "accuracy gain"),
    "steps": ("slowdown (steps to target)", "speed-up (steps to target)"),
}
_ORDER = {"regression": 0, "improved": 1, "new": 2}
#: spec fields named in warnings by their documented names
_SPEC_NAMES = {
    "batch_size": "batch size",
    "evals_per_epoch": "evaluations per epoch",
    "clip_latent": "latent clipping",
    "tuning_trials": "tuning trials",
    "tuning_sampler": "tuning sampler",
    "tuning_seeds_per_trial": "seeds per tuning trial",
    "tuning_halving": "successive halving",
}
#: besides every ``suite.spec`` field, what must be equal for a like-for-like comparison
FAIRNESS = (
    ("reference optimizer", ("task", "reference")),
    ("torch version", ("environment", "packages", "torch")),
    ("CPU", ("environment", "cpu")),
    ("GPU", ("environment", "gpu")),
)


@dataclass(frozen=True)
class Change:
    """One row of the comparison: what changed for an optimizer in a cell (``optimizer`` is
    ``"*"`` for a whole cell that vanished or appeared).

    ``delta`` is ``current - baseline`` for accuracy and run counts, and the relative change
    ``current / baseline - 1`` for steps to target; ``threshold`` is what ``|delta|`` had to
    exceed (None where any change counts)."""

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

    @property
    def cell(self) -> str:
        return f"{self.model}/{self.dataset}"


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`: the changed rows (regressions first), the fairness
    warnings, and how many (cell, optimizer) pairs both summaries have."""

    suite: str
    task: str
    changes: list[Change]
    warnings: list[str]
    compared: int
    acc_tolerance: float = ACC_TOLERANCE
    speed_tolerance: float = SPEED_TOLERANCE
    labels: tuple[str, str] = ("current", "baseline")

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "regression"]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "improved"]

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
    if path.is_dir():
        inner = path / "summary.json"
        if not inner.is_file():
            raise BnnBenchError(
                f"no summary.json in folder '{path}' (a report folder holds one; "
                "rebuild it with `bnnbench report SUITE`)"
            )
        return read_summary(inner)
    if path.suffix in (".yaml", ".yml"):
        return _suite_summary(path, results_dir, store)
    if path.exists() or path.suffix == ".json" or os.sep in text or "/" in text:
        return read_summary(path)
    from benchmark.suite_files import resolve_suite_path

    resolved = resolve_suite_path(text)
    if resolved.suffix == ".yaml" and resolved.is_file():
        return _suite_summary(resolved, results_dir, store)
    raise BnnBenchError(
        f"'{text}' is neither a summary.json file, a report folder nor a suite "
        "(no such file, and no shipped suite of that name)"
    )


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
    ``task`` object, else a one-line :class:`BnnBenchError` naming ``source``."""
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
    """``sqrt(h_cur**2 + h_base**2)``: the two CIs' half-widths combined."""
    return math.hypot(half_width(current), half_width(baseline))


def relative_noise(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> float:
    """``sqrt((h_cur / mean_cur)**2 + (h_base / mean_base)**2)`` (a term with a missing CI or
    a mean of 0 counts as 0)."""

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
    ``suite.spec`` field, the reference, torch, CPU, GPU), naming both values."""
    specs = [(d["suite"].get("spec") or {}) for d in (current, baseline)]
    fields = [
        (f"suite spec: {_SPEC_NAMES.get(key, key)}", ("suite", "spec", key))
        for key in sorted(set(specs[0]) | set(specs[1]))
    ]
    lines = []
    for name, keys in [*fields, *FAIRNESS]:
        cur, base = _dig(current, keys), _dig(baseline, keys)
        if cur != base:
            lines.append(
                f"{name} differs: baseline {_plain(base)}, current {_plain(cur)}; the numbers "
                "may differ for that reason alone (compared all the same)"
            )
    return lines


def _plain(value: Any) -> str:
    return "none" if value is None else json.dumps(value) if isinstance(value, list) else str(value)


def _judge(
    where: tuple[str, str, str],
    measure: Measure,
    values: tuple[float, float],
    worse: float,
    better: float,
    noise: float,
    tolerance: float,
) -> list[Change]:
    """A regression row when ``worse`` exceeds ``max(tolerance, noise)``, an improvement row
    when ``better`` does, else none (``values``: the baseline's and the current mean)."""
    threshold = max(tolerance, noise)
    note = "CI noise" if noise > tolerance else "tolerance"
    base, cur = values
    delta = cur - base if measure == "accuracy" else cur / base - 1.0
    names = _WHAT[measure]
    for verdict, amount, what in (("regression", worse, names[0]), ("improved", better, names[1])):
        if _exceeds(amount, threshold):
            return [Change(*where, what, verdict, measure, base, cur, delta, threshold, note)]
    return []


def _accuracy(where: tuple[str, str, str], cur: dict, base: dict, tol: float) -> list[Change]:
    a_cur, a_base = cur.get("accuracy") or {}, base.get("accuracy") or {}
    m_cur, m_base = a_cur.get("mean"), a_base.get("mean")
    if m_base is None:  # the baseline has no accuracy to hold the current one to
        return []
    if m_cur is None:
        note = "no run finished now"
        return [Change(*where, "accuracy drop", "regression", "accuracy", m_base, note=note)]
    noise = accuracy_noise(a_cur, a_base)
    drop = float(m_base) - float(m_cur)
    return _judge(where, "accuracy", (m_base, m_cur), drop, -drop, noise, tol)


def _steps(where: tuple[str, str, str], cur: dict, base: dict, tol: float) -> list[Change]:
    s_cur, s_base = cur.get("steps_to_target") or {}, base.get("steps_to_target") or {}
    m_cur, m_base = s_cur.get("mean"), s_base.get("mean")
    if m_cur is None or m_base is None or m_cur <= 0 or m_base <= 0:
        return []  # no value, or the target reached before training: no ratio
    noise = relative_noise(s_cur, s_base)
    slower, faster = m_cur / m_base - 1.0, m_base / m_cur - 1.0
    return _judge(where, "steps", (m_base, m_cur), slower, faster, noise, tol)


def _counts(where: tuple[str, str, str], cur: dict, base: dict) -> list[Change]:
    changes = []
    for key in ("diverged", "failed"):
        n_cur, n_base = int(cur.get(key) or 0), int(base.get(key) or 0)
        if n_cur != n_base:
            worse = n_cur > n_base
            what = f"{'more' if worse else 'fewer'} runs {key}"
            verdict: Verdict = "regression" if worse else "improved"
            changes.append(Change(*where, what, verdict, "runs", n_base, n_cur, n_cur - n_base))
    return changes


def _presence(where: tuple[str, str, str], kind: str, cell: dict, gone: bool) -> Change:
    """A cell or optimizer that vanished (a regression) or appeared (new)."""
    names = ", ".join(sorted(cell.get("optimizers", {})))
    note = f"optimizers: {names}" if names else ""
    if gone:
        return Change(*where, f"{kind} vanished", "regression", note=note)
    return Change(*where, f"new {kind}", "new", note=note)


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
            changes += _accuracy(where, cur, base, acc_tolerance)
            if both_targets:
                changes += _steps(where, cur, base, speed_tolerance)
            changes += _counts(where, cur, base)
    changes.sort(key=lambda c: (_ORDER[c.verdict], c.model, c.dataset, c.optimizer))
    warnings = fairness_warnings(current, baseline)
    if compared == 0:
        warnings.append(
            f"no (cell, optimizer) pair is in both summaries (task {who[0][1]}): nothing was "
            "compared"
        )
    return Comparison(
        suite=str(who[0][0]),
        task=str(who[0][1]),
        changes=changes,
        warnings=warnings,
        compared=compared,
        acc_tolerance=acc_tolerance,
        speed_tolerance=speed_tolerance,
        labels=labels,
    )


# ----------------------------------------------------------------------------- output
def _number(change: Change, value: float | None) -> str:
    from report.markup import number

    if value is None:
        return "n/a" if change.measure != "presence" else ""
    return number(value, 4, fixed=change.measure == "accuracy")


def _delta(change: Change) -> str:
    if change.delta is None:
        return ""
    if change.measure == "steps":
        return f"{change.delta:+.1%}"
    return f"{change.delta:+.4f}" if change.measure == "accuracy" else f"{change.delta:+g}"


def _threshold(change: Change) -> str:
    if change.threshold is None:
        return ""
    value = change.threshold
    shown = f"{value:.1%}" if change.measure == "steps" else f"{value:.4g}"
    return f"{shown} ({change.note})"


def row(change: Change) -> dict[str, str]:
    """A change as the table's row of texts."""
    c = change
    what = f"{c.what}: {c.note}" if c.note and c.threshold is None else c.what
    return {
        "cell": c.cell,
        "optimizer": c.optimizer,
        "change": what,
        "baseline": _number(c, c.baseline),
        "current": _number(c, c.current),
        "delta": _delta(c),
        "threshold": _threshold(c),
        "verdict": "REGRESSION" if c.verdict == "regression" else c.verdict,
    }


def verdict_line(comparison: Comparison) -> str:
    """One line: passed or failed, the counts, the suite and the tolerances."""
    c = comparison

    def count(n: int, what: str) -> str:
        return f"{n} {what}{'s' * (n != 1)}"

    new = len(c.changes) - len(c.regressions) - len(c.improvements)
    warned = f", {count(len(c.warnings), 'warning')}" if c.warnings else ""
    return (
        f"**Regression gate {'FAILED' if c.regressed else 'passed'}** (suite '{c.suite}', "
        f"{c.compared} (cell, optimizer) pairs compared): {count(len(c.regressions), 'regression')}"
        f", {count(len(c.improvements), 'improvement')}, {new} new{warned}; accuracy tolerance "
        f"{c.acc_tolerance:g}, speed tolerance {c.speed_tolerance:.0%} (or the CIs' noise when "
        "larger)."
    )


def to_markdown(comparison: Comparison) -> str:
    """The verdict line, one ``warning:`` line per fairness warning, and a GitHub-flavoured
    table of the changed rows only (regressions first): fits a CI job summary."""
    import pandas as pd

    from report.markup import markdown_table

    parts = [verdict_line(comparison)]
    if comparison.warnings:
        parts.append("\n".join(f"- warning: {line}" for line in comparison.warnings))
    if comparison.changes:
        parts.append(markdown_table(pd.DataFrame([row(c) for c in comparison.changes])))
    else:
        parts.append("No change beyond the thresholds.")
    return "\n\n".join(parts) + "\n"
