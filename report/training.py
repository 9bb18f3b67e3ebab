"""The sections of a training suite's report: final accuracy, speed of convergence, failed
runs (the tables come from :mod:`report.summary`)."""

from __future__ import annotations

import pandas as pd

from report.blocks import Paragraph, Section, Table
from report.summary import accuracy_table, convergence_table, final_runs

ACCURACY_INTRO = (
    "Per cell over seeds: mean, standard deviation and 95% bootstrap CI of the mean "
    "(n/a with a single seed). Diverged runs count with their last accuracy."
)
FAILED_COLUMNS = ("model", "dataset", "optimizer", "seed", "message")


def convergence_intro(reference: str) -> str:
    return (
        "Steps until test accuracy first reaches the target (the mean final test accuracy of "
        f"the reference optimizer '{reference}' in the cell); a run that never reaches it "
        "counts as its full budget. speedup = reference steps / optimizer steps."
    )


def training_sections(runs: pd.DataFrame, metrics: pd.DataFrame, reference: str) -> list[Section]:
    """The accuracy, convergence and failure sections (none without final runs)."""
    finals = final_runs(runs)
    if finals.empty:
        return []
    sections = [
        Section("Final test accuracy", [Paragraph(ACCURACY_INTRO), Table(accuracy_table(runs))])
    ]
    conv = convergence_table(runs, metrics, reference)
    if not conv.empty:
        intro = Paragraph(convergence_intro(reference))
        sections.append(Section("Speed of convergence", [intro, Table(conv)]))
    failed = finals[finals["status"] == "failed"]
    if not failed.empty:
        cols = [c for c in FAILED_COLUMNS if c in failed]
        intro = Paragraph("Runs that raised an error.")
        sections.append(Section("Failed runs", [intro, Table(failed[cols])]))
    return sections
