"""Shared test fixtures: tiny suites that run in seconds on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A private data root, so tests never touch the user's cache."""
    root = tmp_path / "data"
    root.mkdir()
    return root


def write_suite(path: Path, **overrides: object) -> Path:
    """Write a tiny training suite (synthetic data, small MLP) with ``overrides`` applied."""
    suite: dict[str, object] = {
        "name": path.stem,
        "models": [{"name": "mlp", "options": {"hidden": [32, 32]}}],
        "datasets": [
            {"name": "synthetic", "options": {"n_samples": 400, "n_features": 16, "n_classes": 4}}
        ],
        "optimizers": ["adam", "bop"],
        "seeds": [0, 1],
        "epochs": 2,
        "batch_size": 32,
        "executor": {"workers": 1},
    }
    suite.update(overrides)
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def assert_rel_close(a: Any, b: Any, rel: float = 1e-6) -> None:
    """``max|a - b| <= rel * max|b|``: equal to ``rel`` relative to the tensor's scale (how the
    fused optimizers are compared with their references: an element near zero is held to the
    tensor's scale, not to its own)."""
    a, b = a.detach(), b.detach()
    scale = float(b.abs().max()) if b.numel() else 0.0
    diff = float((a - b).abs().max()) if b.numel() else 0.0
    assert diff <= rel * scale, f"max |diff| {diff:.3g} > {rel:g} * {scale:.3g}"


#: bnnbench's main() with some packages unimportable (``sys.argv[1]``: their names, comma
#: separated); exit 3 if a module of one got into ``sys.modules`` some other way
BLOCKED_CLI = """
import sys
BLOCKED = tuple(sys.argv[1].split(","))

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"import of {name} refused by the test")
        return None

sys.meta_path.insert(0, Refuse())
from benchmark.cli import main
code = main(sys.argv[2:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
if loaded:
    print("loaded:", loaded, file=sys.stderr)
    sys.exit(3)
sys.exit(code)
"""


def run_cli_blocking(
    blocked: tuple[str, ...], *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``bnnbench ARGS`` in a fresh interpreter in which importing any of ``blocked`` fails
    (:data:`BLOCKED_CLI`)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_CLI, ",".join(blocked), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: the tests' models are tiny, and on a 2-core machine
    shared with other work, intra-op threads cost far more than they give."""
    import torch

    torch.set_num_threads(1)
