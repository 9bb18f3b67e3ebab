"""Ctrl-C and SIGTERM during a guarded import (benchmark/import_guard.py): they wait for the
import to end, then do what they would have done. Each case runs in a fresh interpreter that
signals itself from inside the import of a small package written here (the CLI guards
torch's import, where the interrupt would end the process in std::terminate; the end-to-end
case is tests/test_execute.py's Ctrl-C while the fork server imports torch)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

PROBE = textwrap.dedent(
    """
    import signal, sys
    sys.path.insert(0, sys.argv[1])
    from benchmark import import_guard

    class Terminated(Exception):
        pass

    def on_sigterm(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    if sys.argv[2] == "guarded":
        import_guard.install(["probe_pkg"])
    try:
        import probe_pkg
        print("no signal raised")
    except (KeyboardInterrupt, Terminated) as exc:
        import builtins
        print(type(exc).__name__, "import ran to its end:", hasattr(builtins, "PROBE_DONE"))
    print("guard left:", any(type(f).__name__ == "_ImportGuard" for f in sys.meta_path))
    """
)


def _run(tmp_path: Path, signal_name: str, mode: str) -> list[str]:
    package = tmp_path / "probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        f"import os, signal\nos.kill(os.getpid(), signal.{signal_name})\n"
        "import time\nfor _ in range(3):\n    time.sleep(0.01)  # Python code after the signal\n"
        "import builtins\nbuiltins.PROBE_DONE = True\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), mode],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("signal_name", "raised"), [("SIGINT", "KeyboardInterrupt"), ("SIGTERM", "Terminated")]
)
def test_a_signal_inside_a_guarded_import_is_raised_after_it(
    tmp_path: Path, signal_name: str, raised: str
) -> None:
    assert _run(tmp_path, signal_name, "guarded") == [
        f"{raised} import ran to its end: True",
        "guard left: False",
    ]


@pytest.mark.parametrize(
    ("signal_name", "raised"), [("SIGINT", "KeyboardInterrupt"), ("SIGTERM", "Terminated")]
)
def test_without_the_guard_the_signal_breaks_into_the_import(
    tmp_path: Path, signal_name: str, raised: str
) -> None:
    """The control: the same import, unguarded, is cut off where the signal lands."""
    assert _run(tmp_path, signal_name, "unguarded") == [
        f"{raised} import ran to its end: False",
        "guard left: False",
    ]


def test_the_guard_imports_torch_as_usual() -> None:
    """Under the guard, torch imports and works, its loader's other methods still answer,
    and the guard is gone afterwards."""
    code = textwrap.dedent(
        """
        import sys
        from benchmark import import_guard
        import_guard.install()
        import torch
        print(float(torch.ones(3).sum()), torch.__spec__.loader.is_package("torch"))
        print(any(type(f).__name__ == "_ImportGuard" for f in sys.meta_path))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3.0", "True", "False"]
