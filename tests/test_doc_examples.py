"""Every ```python block of README.md and docs/*.md runs as a user pastes it: saved as a script
(no ``if __name__ == "__main__":`` guard), piped to ``python -``, and as a cell of a Jupyter
notebook (nbclient driving a real ipykernel).

The blocks are run unchanged. Those that read a suite's results (``load_results("quick")``,
``results/nightly/bnnbench.db``) run in a folder whose ``suites/`` holds tiny tuned stand-ins
named ``quick``, ``nightly`` and ``smoke`` (a suite's name is looked up in ``./suites`` first,
benchmark/suite_files.py), run once beforehand, so they read real stores without the shipped
suites' minutes of training. Blocks of other fences (``text``, ``bash``, ``yaml``) are not
Python and are not run here; the README's ``bash`` commands are what .ci/run runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, write_suite

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}


def python_blocks() -> list[tuple[str, str]]:
    """``(id, code)`` of every ```python block, ids like ``docs/results.md#2``."""
    blocks = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for number, match in enumerate(FENCE.finditer(text), start=1):
            blocks.append((f"{path.relative_to(REPO)}#{number}", match.group(1)))
    return blocks


BLOCKS = python_blocks()
README_BLOCK = "README.md#1"


def test_the_docs_have_python_examples_and_each_is_valid_python() -> None:
    """The collection is not empty (a changed fence would silently test nothing), and each
    block compiles: an API listing belongs in a ```text fence, not a ```python one."""
    assert README_BLOCK in dict(BLOCKS) and len(BLOCKS) >= 8
    for name, code in BLOCKS:
        compile(code, name, "exec")


def _stand_in(path: Path, *, workers: int) -> None:
    """A tiny tuned suite under the name of ``path``'s stem (2 optimizers, 2 seeds, 1 epoch)."""
    tuning = {"trials": 2, "epochs": 1, "sampler": "random", "seed": 0}
    write_suite(path, epochs=1, reference="adam", tuning=tuning, executor={"workers": workers})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``suites/{quick,nightly,smoke}.yaml`` stand-ins; quick's and nightly's
    results already stored in ``results/`` (the README's block runs smoke itself)."""
    from benchmark import run_suite

    root = tmp_path_factory.mktemp("docs")
    (root / "suites").mkdir()
    for name in ("quick", "nightly"):
        _stand_in(root / "suites" / f"{name}.yaml", workers=1)
        done = run_suite(str(root / "suites" / f"{name}.yaml"), results_dir=root / "results",
                         progress=False)  # fmt: skip
        assert done.exit_code == 0
    _stand_in(root / "suites" / "smoke.yaml", workers=2)
    assert yaml.safe_load((root / "suites" / "smoke.yaml").read_text())["name"] == "smoke"
    return root


def _run_python(code: str, how: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "example.py"
    script.write_text(code, encoding="utf-8")
    command = [sys.executable, str(script)] if how == "script" else [sys.executable, "-"]
    return subprocess.run(
        command,
        input=code if how == "stdin" else None,
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _run_notebook(code: str, cwd: Path) -> list[dict]:
    """``code`` as the one cell of a notebook executed by a real Python kernel; its outputs
    (an error output raises ``CellExecutionError``, which fails the test with the traceback)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    old = os.environ.copy()
    os.environ.update({"PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"})  # the kernel's env
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return notebook.cells[0].outputs


def _check_script_run(name: str, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr[-3000:]


DOCS_BLOCKS = [(name, code) for name, code in BLOCKS if name != README_BLOCK]


@pytest.mark.parametrize(("name", "code"), DOCS_BLOCKS, ids=[n for n, _ in DOCS_BLOCKS])
def test_each_docs_example_runs_as_a_script(name: str, code: str, workdir: Path) -> None:
    """Saved as a file and run with ``python file.py``: exit 0, no traceback, no warning."""
    _check_script_run(name, _run_python(code, "script", workdir))


@pytest.mark.slow  # ~5 s a block for stdin, ~8 s for a kernel start; the README's runs a suite
@pytest.mark.parametrize("how", ["stdin", "notebook"])
@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[n for n, _ in BLOCKS])
def test_each_example_runs_piped_to_python_and_in_a_notebook(
    name: str, code: str, how: str, workdir: Path
) -> None:
    """Piped to ``python -`` and as a notebook cell: no error, no warning in the output (the
    README's block runs the smoke stand-in with 2 workers: in a kernel, ``__main__`` is
    ipykernel's, and the pool must neither re-run it nor print tqdm's widget warning)."""
    if how == "stdin":
        _check_script_run(name, _run_python(code, "stdin", workdir))
        return
    outputs = _run_notebook(code, workdir)
    streams = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    if "benchmark" not in code:  # plain Optuna: its own tqdm.auto import warns without
        # ipywidgets; bnnbench filters that warning only once it is imported (progress.py)
        streams = re.sub(r".*TqdmWarning: IProgress not found.*\n.*\n", "", streams)
    assert "Traceback" not in streams and "Warning" not in streams, streams[-3000:]
    if name == README_BLOCK:
        printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
        assert printed.startswith("0 ") and "index.html" in printed, printed
