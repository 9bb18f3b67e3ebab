"""Shared test fixtures: tiny suites that run in seconds on the CPU."""

from __future__ import annotations

import os
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


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: the tests' models are tiny, and on a 2-core machine
    shared with other work, intra-op threads cost far more than they give."""
    import torch

    torch.set_num_threads(1)
