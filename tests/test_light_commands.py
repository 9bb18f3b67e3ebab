"""The light commands (`--help`, `list`, `validate`, `show`) import neither torch nor
pytorch_optimizer (issue 21): each runs in a fresh interpreter whose import system refuses
them, and the static tables these commands read instead agree with the implementations."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.binary import names
from benchmark.binary.metrics import quantization_error
from benchmark.binary.ste import SURROGATE_GRADIENTS
from benchmark.models import MODELS, build_model, count_parameters, describe_models
from benchmark.models.registry import _ACCEPTS
from tests.conftest import REPO, run_cli_blocking, write_suite

#: the packages the light commands must do without (tests.conftest.run_cli_blocking makes
#: them unimportable and fails when one got into sys.modules some other way)
BLOCKED = ("torch", "pytorch_optimizer", "sympy", "torchvision")


def _blocked(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli_blocking(BLOCKED, *args, cwd=cwd)


def test_the_blocker_does_refuse_torch(tmp_path: Path) -> None:
    """The harness itself: a command that needs torch (building a report reads the store
    with torch-free code, but `run` trains) fails under it."""
    suite = write_suite(tmp_path / "tiny.yaml", seeds=[0], epochs=1)
    done = _blocked(
        "run", str(suite), "--results-dir", str(tmp_path / "r"), "--quiet", cwd=tmp_path
    )
    assert done.returncode != 0
    assert "refused by the test" in done.stderr


def test_help_list_and_validate_run_without_torch(tmp_path: Path) -> None:
    help_ = _blocked("--help", cwd=tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert "validate" in help_.stdout
    listed = _blocked("list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in ("bamsprod", "amsbound", "mlp", "bireal_resnet18", "digits", "cifar10", "smoke"):
        assert name in listed.stdout
    assert "binary 65,536 / real 19,978" in listed.stdout  # mlp's stated reference counts
    shipped = sorted(str(p) for p in (REPO / "suites").glob("*.yaml"))
    validated = _blocked("validate", *shipped, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count(": ok (suite") == len(shipped) >= 5


def test_validate_reports_a_bad_suite_without_torch(tmp_path: Path) -> None:
    bad = write_suite(tmp_path / "bad.yaml", optimizers=["adam", "bamsprod"])
    text = bad.read_text().replace("- bamsprod", "- name: bamsprod\n  hparams: {error: l2}")
    bad.write_text(text)
    done = _blocked("validate", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("bnnbench: error: ") and "error=" in done.stderr
    assert "xnor_l1" in done.stderr  # the allowed values, from the torch-free table


def test_show_runs_without_torch(tmp_path: Path) -> None:
    from benchmark.pipeline import run_suite

    suite = write_suite(tmp_path / "tiny.yaml", optimizers=["adam", "bop"], seeds=[0], epochs=1)
    results = tmp_path / "results"
    assert run_suite(suite, results_dir=results, report=False, progress=False).exit_code == 0
    done = _blocked("show", str(suite), "--results-dir", str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 final runs stored" in done.stdout and "completed: 2" in done.stdout


def test_static_tables_agree_with_the_implementations() -> None:
    assert tuple(SURROGATE_GRADIENTS) == names.ESTIMATORS
    import torch

    w = torch.randn(4, 5)
    for kind in names.QUANTIZATION_ERRORS:
        assert 0.0 <= float(quantization_error(w, kind)) <= 1.0
    with pytest.raises(Exception, match="unknown quantization error"):
        quantization_error(w, "l2")
    modules = {"mlp": "mlp", "binarynet": "binarynet", "cnn1d": "cnn1d", "cnn2d": "cnn2d"}
    modules["bireal"] = "bireal"
    for key, module in modules.items():
        assert _ACCEPTS[key] == importlib.import_module(f"benchmark.models.{module}").ACCEPTS
    rows = {row["name"]: row for row in describe_models()}
    for name, spec in MODELS.items():
        built = count_parameters(build_model(name, spec.reference_input, spec.reference_classes))
        assert (rows[name]["binary_parameters"], rows[name]["real_parameters"]) == (
            built["binary"],
            built["real"],
        )


def test_importing_the_packages_imports_no_torch() -> None:
    code = (
        "import sys, benchmark, benchmark.binary, benchmark.optim, benchmark.data, "
        "benchmark.models, benchmark.optim.registry, benchmark.suite, benchmark.pipeline; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'pytorch_optimizer')))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
