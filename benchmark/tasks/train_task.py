"""The training benchmark as a :class:`~benchmark.tasks.base.Task`: models x datasets x
optimizers x seeds, optionally tuned (:mod:`benchmark.tune`) and then also run at the
registry defaults (``tuning.defaults``: rows ``"<optimizer> (defaults)"``), each run a call of
:func:`benchmark.train.train`. Torch-free at import; the engine is imported when a run or a
preflight needs it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmark.records import RunRecord
from benchmark.tasks.base import Task


class TrainingTask(Task):
    """``task: train`` (the default)."""

    name = "train"
    #: what the report reads: test accuracy, training seconds, BNN diagnostics, BAMSProd's range
    report_metrics = (
        "accuracy",
        "loss",
        "train_seconds",
        "flip_rate",
        "quantization_error",
        "saturation",
        "bamsprod_lower",
        "bamsprod_upper",
        "bamsprod_error",
    )
    grid = True

    def check_suite(self, suite: Any, where: str) -> None:
        from benchmark.suite.checks import check_training_suite

        check_training_suite(suite, where)

    def tunes(self, suite: Any) -> bool:
        return suite.tuning.trials > 0

    def final_specs(
        self, suite: Any, best_params: Mapping[str, Mapping[str, Any]] | None = None
    ) -> list[Any]:
        from benchmark.suite import expand_final_runs

        return expand_final_runs(suite, best_params)

    def summary_line(self, suite: Any) -> str:
        line = f"final runs: {suite.n_final_runs}"
        if suite.tuning.trials and suite.tuning.defaults:
            line += f" tuned + {suite.n_final_runs} at the registry defaults"
        if suite.tuning.trials:
            from benchmark.tune import expected_trial_runs, tuning_budget

            line += f"; {tuning_budget(suite)}, at most {expected_trial_runs(suite)} runs"
        return line

    def tuning_note(self, suite: Any) -> str:
        t = suite.tuning
        if t.trials:
            from benchmark.tune import describe_sampler, rung_epochs

            runs = f"{suite.tuning_epochs} epochs each"
            if t.halving is not None:
                rungs = "/".join(map(str, rung_epochs(suite)))
                runs = (
                    f"synchronous successive halving over {rungs} epochs (the best 1/"
                    f"{t.halving.eta} of each rung go on)"
                )
            if t.seeds_per_trial > 1:
                runs += f", {t.seeds_per_trial} seeds per trial (score: their mean)"
            note = (
                f"tuning: {t.trials} trials per cell, the same for every optimizer: "
                f"{describe_sampler(t)}; {runs}, scored on the validation split (diverged = "
                "accuracy 0); final runs use each cell's best point (docs/protocol.md)"
            )
            if t.defaults:
                note += (
                    "; the same final runs at the registry defaults (+ the suite's overrides) "
                    "are the rows '<optimizer> (defaults)'"
                )
            return note
        return "tuning: none (trials: 0); final runs use registry defaults + the suite's overrides"

    def preflight(self, specs: Sequence[Any], data_root: str | None, download: bool) -> None:
        """Load each dataset, build each model and optimizer once: the device, missing dataset
        files, a model that does not accept a dataset's inputs and bad hyper-parameters are
        one clear error before any run, not a suite full of failed runs."""
        from benchmark.optim import make_optimizer
        from benchmark.train import build_spec_model, load_spec_dataset, resolve_device

        checked: set[tuple[str, ...]] = set()
        for spec in specs:
            key = (
                spec.device,
                spec.dataset,
                repr(spec.dataset_options),
                spec.model,
                repr(spec.model_options),
                spec.optimizer,
                repr(sorted(spec.hparams.items())),
            )
            if key in checked:
                continue
            checked.add(key)
            resolve_device(spec.device)
            dataset = load_spec_dataset(spec, data_root, download)
            model = build_spec_model(spec, dataset)
            make_optimizer(spec.optimizer, model, **spec.hparams)

    def run_unit(
        self, unit: Sequence[Any], data_root: str | None = None, download: bool = False
    ) -> list[RunRecord]:
        from benchmark.train import train

        return [train(spec, data_root=data_root, download=download) for spec in unit]

    def summary_table(self, runs: Any) -> Any:
        """Per cell: seeds, statuses, final test accuracy mean/std/CI (report/summary.py)."""
        from report.summary import accuracy_table

        return accuracy_table(runs)

    def report(
        self,
        suite: Any,
        runs: Any,
        values: Any,
        *,
        out_dir: Path,
        trial_runs: Any = None,
        trials: Any = None,
        tuning: Any = None,
    ) -> tuple[list[Any], dict[str, Any]]:
        from report.analysis import analyse
        from report.summary import final_runs
        from report.summary_json import protocol_part, training_part
        from report.training import assemble

        finals = final_runs(runs)
        analysis = (
            analyse(finals, values, suite.reference, target=suite.target)
            if not finals.empty
            else None
        )
        section = None
        if tuning is not None:
            from report.tuning import tuning_section

            section = tuning_section(suite, trials, tuning)
        sections = assemble(
            runs, values, suite.reference, out_dir, analysis=analysis, target=suite.target,
            tuning=section, trials=trials, log_params=self._log_params(suite),
            tuning_epochs=suite.tuning_epochs if tuning is not None else None,
            protocol=protocol_part(suite),
        )  # fmt: skip
        part = training_part(analysis, tuning, trials, suite=suite) if analysis is not None else {}
        return sections, part

    @staticmethod
    def _log_params(suite: Any) -> tuple[str, ...]:
        """The tuned parameters searched on a log scale (their sensitivity plots use log x)."""
        if not suite.tuning.trials:
            return ()
        from benchmark.suite import cell_search_space, cells

        names = {
            key for cell in cells(suite) for key, rng in cell_search_space(cell).items()
            if rng.get("log")
        }  # fmt: skip
        return tuple(sorted(names))
