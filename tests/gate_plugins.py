"""The gate's test fixtures (tests/test_gate.py): BAMSProd under a plug-in path whose update can
be deliberately damaged, and the tiny tuned suite the gate is tested (and measured) on.

A plug-in cannot take a registry name (``bamsprod`` is always the registry's), so the clean
baseline and the damaged current run both name ``tests.gate_plugins:GateBAMSProd``; the
current suite gives it ``hparams: {noise: ...}``. With ``noise > 0`` every step, after
BAMSProd's own update, adds Gaussian noise of that standard deviation to every parameter (a
generator seeded once per optimizer, so a run stays reproducible): the update is broken, not
the harness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from benchmark.optim import BAMSProd


class GateBAMSProd(BAMSProd):
    """BAMSProd; ``noise > 0`` adds N(0, noise^2) to every parameter after each step."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        final_lr: float = 0.1,
        noise: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, final_lr=final_lr)
        self.noise = float(noise)
        self._noise_rng = torch.Generator().manual_seed(1234)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        loss = super().step(closure)
        if self.noise > 0:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(torch.randn(p.shape, generator=self._noise_rng) * self.noise)
        return loss


#: the plug-in's path: the optimizer's name in the gate's suites and summaries
PLUGIN = "tests.gate_plugins:GateBAMSProd"


def gate_suite(
    path: Path, seeds: list[int], *, threads: int = 1, noise: float = 0.0, epochs: int = 4
) -> Path:
    """The gate's tiny tuned suite, written to ``path``: the binary MLP (64-64) on digits,
    Bop (the reference), Adam and :class:`GateBAMSProd` (``noise`` set when > 0), ``seeds``,
    ``epochs`` epochs, 2 Sobol trials of 2 epochs per cell, one worker with ``threads`` torch
    threads. Seconds per run; 1 and 2 threads give different floating-point results on it
    (checked by the tests)."""
    from tests.conftest import write_suite

    plugin: dict[str, Any] = {
        "name": PLUGIN,
        "search_space": {
            "lr": {"low": 1.0e-4, "high": 1.0e-1, "log": True},
            "final_lr": {"low": 1.0e-3, "high": 1.0, "log": True},
        },
    }
    if noise > 0:
        plugin["hparams"] = {"noise": noise}
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_suite(
        path,
        name="gate",
        models=[{"name": "mlp", "options": {"hidden": [64, 64]}}],
        datasets=["digits"],
        optimizers=["bop", "adam", plugin],
        seeds=seeds,
        epochs=epochs,
        batch_size=64,
        tuning={"trials": 2, "epochs": 2},
        executor={"workers": 1, "threads_per_worker": threads},
    )


def run_gate_suite(
    folder: Path, seeds: list[int], *, threads: int = 1, noise: float = 0.0, pin: Any = None
) -> Path:
    """Run :func:`gate_suite` into ``folder`` (its own results folder and store), pinned to
    the baseline ``pin`` when given; its report folder."""
    from benchmark import run_suite

    suite = gate_suite(folder / "gate.yaml", seeds, threads=threads, noise=noise)
    result = run_suite(
        suite, results_dir=folder, workers=1, progress=False, on_event=lambda e: None,
        hparams_from=pin,
    )  # fmt: skip
    assert result.exit_code == 0 and result.report is not None and result.report.folder
    return result.report.folder
