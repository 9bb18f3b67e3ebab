"""Finding suite files, cheaply: a shipped suite's name -> its path, and a suite's ``task``
read from the raw YAML. Torch-free and pydantic-free, so the CLI can choose the workers'
fork-server preload before it imports anything heavy."""

from __future__ import annotations

import os
from pathlib import Path

#: the suites that ship with bnnbench
SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"


def resolve_suite_path(name_or_path: str | Path) -> Path:
    """A suite file path, or a shipped suite's name (``quick`` -> ``suites/quick.yaml``,
    looked up in ``./suites`` first, then in bnnbench's own)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text:
        return path  # a path: loading it reports a missing or unreadable file in one line
    try:
        if path.is_file():  # not a directory: `bnnbench show quick` inside results/ means
            return path  # the suite quick, not the folder results/quick
    except OSError:
        return path
    for directory in (Path.cwd() / "suites", SUITES_DIR):
        candidate = directory / f"{text}.yaml"
        if candidate.exists():
            return candidate
    return path


def peek_task(path: Path) -> str:
    """The suite's ``task`` read from the raw YAML, cheaply (no torch import), to choose the
    worker server's preload before the suite is validated; ``"train"`` when unreadable (the
    real load then reports the error)."""
    import yaml

    from benchmark.errors import BnnBenchError
    from benchmark.input_bounds import MAX_SUITE_BYTES, check_yaml, read_text

    try:  # bounded like the real load: an alias bomb or deep nesting must not stall here
        text = read_text(path, str(path), "suite file", MAX_SUITE_BYTES)
        check_yaml(text, str(path))
        data = yaml.safe_load(text)
    except (BnnBenchError, yaml.YAMLError):
        return "train"
    task = data.get("task", "train") if isinstance(data, dict) else "train"
    return task if isinstance(task, str) else "train"
