"""The torch-free model budget (benchmark/model_budget.py, issue 22): the parameter count
matches the model torch builds, and ``validate`` refuses what ``run`` cannot train."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.errors import BnnBenchError
from benchmark.model_budget import mlp_parameters, mlp_problem, training_bytes
from benchmark.suite import load_suite
from tests.conftest import REPO, write_suite


@pytest.mark.parametrize(
    ("shape", "classes", "hidden"),
    [((64,), 10, (256, 256)), ((1, 8, 8), 10, (32, 16, 8)), ((40,), 3, (5, 7))],
)
def test_mlp_parameter_count_is_torchs(
    shape: tuple[int, ...], classes: int, hidden: tuple[int, ...]
) -> None:
    from benchmark.models.mlp import MLP

    model = MLP(shape, classes, hidden)
    assert mlp_parameters(math.prod(shape), hidden, classes) == sum(
        p.numel() for p in model.parameters()
    )


def test_mlp_budget_by_hand() -> None:
    # 64 inputs, hidden (2, 3), 4 classes: 64*2 + 2*3 + 2*(2+3) + 3*4 + 4 = 128+6+10+12+4 = 160
    assert mlp_parameters(64, (2, 3), 4) == 160
    assert training_bytes(160, 5, 10) == 16 * 160 + 16 * 10 * 5
    assert mlp_problem([2, 3], (64,), 4, 10, memory=3360) is None  # exactly fits
    assert "more than this machine's" in (mlp_problem([2, 3], (64,), 4, 10, memory=3359) or "")
    assert "positive integers" in (mlp_problem([0, 0], (64,), 4, 10, memory=None) or "")
    assert "positive integers" in (mlp_problem([1e8, 1e8], (64,), 4, 10, memory=None) or "")


@pytest.mark.parametrize(
    ("hidden", "named"),
    [
        ([0, 0], "must be a list of at least 2 positive integers, got [0, 0]"),
        ([1e8, 1e8], "got [100000000.0, 100000000.0]"),
        ([100_000_000, 100_000_000], "more than this machine's"),
    ],
)
def test_validate_refuses_what_run_cannot_train(hidden: list, named: str, tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path / "m.yaml", models=[{"name": "mlp", "options": {"hidden": hidden}}]
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "validate", str(suite)],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
    assert "models[0].options.hidden" in done.stderr


@pytest.mark.parametrize(
    ("hparams", "named"),
    [
        ({"lr": "fast"}, "TypeError: '<' not supported"),
        ({"lr": 0.1, "momentum": [0.9]}, "TypeError"),
        ({"lr": 0.1, "nesterov": "yes"}, "ValueError: Nesterov momentum requires"),
    ],
)
def test_a_plugin_hparam_of_the_wrong_type_is_refused_by_validate(
    hparams: dict, named: str, tmp_path: Path
) -> None:
    """The plug-in is built on a tiny parameter and stepped once when the suite loads: a
    value run would fail on is one line at validate (it used to say "ok")."""
    suite = write_suite(tmp_path / "p.yaml", reference="adam",
                        optimizers=[{"name": "torch.optim:SGD", "hparams": hparams}, "adam"])  # fmt: skip
    with pytest.raises(BnnBenchError) as excinfo:
        load_suite(suite)
    message = str(excinfo.value)
    assert (
        "\n" not in message
        and f"{suite}: optimizers[0].hparams: plug-in 'torch.optim:SGD'" in message
    )
    assert named in message, message


def test_a_good_plugin_and_a_tuned_one_pass(tmp_path: Path) -> None:
    good = write_suite(tmp_path / "g.yaml", reference="adam",
                       optimizers=[{"name": "torch.optim:SGD", "hparams": {"lr": 0.1}}, "adam"])  # fmt: skip
    tuned = write_suite(tmp_path / "t.yaml", reference="adam", tuning={"trials": 2, "epochs": 1},
                        optimizers=[{"name": "torch.optim:SGD", "search_space": {
                            "lr": {"low": 0.001, "high": 0.1, "log": True}}}, "adam"])  # fmt: skip
    assert load_suite(good).optimizers[0].hparams == {"lr": 0.1}
    assert load_suite(tuned).optimizers[0].search_space["lr"].low == 0.001
