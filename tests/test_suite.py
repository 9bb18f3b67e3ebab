"""Suite schema: shipped suites validate, malformed suites give one precise line, the grid
expands in a stable order with stable run ids, and hyper-parameters merge in the documented
order (registry defaults <- tuned params <- fixed overrides)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmark.errors import BnnBenchError
from benchmark.records import RunSpec, spec_hash
from benchmark.suite import (
    Cell,
    Suite,
    cell_hparams,
    cell_search_space,
    cells,
    expand_final_runs,
    expand_tuning_trial,
    load_suite,
    suite_database_url,
)

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "suites").glob("*.yaml"))
ALL_OPTIMIZERS = {
    "bamsprod",
    "bop",
    "bop2nd",
    "adam",
    "amsgrad",
    "adamw",
    "sgd",
    "adabound",
    "amsbound",
    "radam",
}


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


BASE = """\
name: t
models: [mlp]
datasets: [digits]
optimizers: [bop, adam]
"""


def load_text(tmp_path: Path, text: str, name: str = "suite.yaml") -> Suite:
    return load_suite(write(tmp_path, text, name))


def error_of(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(BnnBenchError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith(f"{path}: "), message
    return message


# --------------------------------------------------------------------------------------------
# Shipped suites
# --------------------------------------------------------------------------------------------


def test_the_four_suites_ship() -> None:
    names = {p.stem for p in SUITES}
    assert {"smoke", "quick", "nightly", "paper"} <= names


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suite_validates_and_expands(path: Path) -> None:
    suite = load_suite(path)
    assert suite.name == path.stem
    assert suite.path == path
    if suite.task == "train":
        runs = expand_final_runs(suite)
        assert len(runs) == suite.n_final_runs
        assert len({r.run_id for r in runs}) == len(runs)


def test_smoke_covers_every_registered_optimizer_cheaply() -> None:
    from benchmark.optim import OPTIMIZERS

    suite = load_suite(ROOT / "suites" / "smoke.yaml")
    names = set(suite.optimizer_names)
    assert set(OPTIMIZERS) <= names
    assert names >= ALL_OPTIMIZERS
    assert [m.name for m in suite.models] == ["mlp"]
    assert [d.name for d in suite.datasets] == ["digits"]
    # CI runs tuning, final runs and the defaults' runs end to end, on a tiny budget
    assert 0 < suite.tuning.trials <= 2 and suite.tuning.epochs <= 2 and suite.tuning.defaults
    assert 1 <= len(suite.seeds) <= 2
    assert suite.device == "cpu"


def test_quick_and_nightly_grids() -> None:
    quick = load_suite(ROOT / "suites" / "quick.yaml")
    nightly = load_suite(ROOT / "suites" / "nightly.yaml")
    for suite in (quick, nightly):
        # enough paired seeds for the primary family to reach a verdict (issue 19)
        assert suite.seeds == list(range(10))
        assert suite.eval_schedule is not None and suite.eval_schedule.kind == "log"
        assert suite.device == "cpu"
    assert [(m.name, d.name) for m, d in nightly.pairs][:4] == [
        ("mlp", "digits"), ("mlp", "mnist1d"), ("cnn1d", "digits"), ("cnn1d", "mnist1d"),
    ]  # fmt: skip
    # nightly: + the binary 2-D CNN on real MNIST digits, alone (exclude)
    assert [(m.name, d.name) for m, d in nightly.pairs][4:] == [("cnn2d", "mnist5k")]
    assert set(nightly.optimizer_names) == {
        "bamsprod",
        "bop",
        "bop2nd",
        "adam",
        "amsgrad",
        "amsbound",
        "sgd",
    }
    # quick: the binary MLP on the two datasets with headroom and 1,000-sample test sets;
    # nightly's optimizers less Bop2nd (to fit 5 minutes), tuned on a small budget, and its
    # registry defaults as their own rows
    assert [(m.name, d.name) for m, d in quick.pairs] == [("mlp", "mnist1d"), ("mlp", "mnist5k")]
    assert set(quick.optimizer_names) == set(nightly.optimizer_names) - {"bop2nd"}
    assert quick.tuning.trials == 8 and quick.tuning.epochs == 2 and quick.tuning.defaults
    assert nightly.tuning.trials == 8
    # every nightly optimizer declares what it tunes: Bop's threshold and gamma included
    spaces = {c.optimizer.name: cell_search_space(c) for c in cells(nightly)}
    assert set(spaces["bop"]) == {"threshold", "gamma", "fp_lr"}
    assert set(spaces["bop2nd"]) == {"threshold", "gamma", "sigma", "fp_lr"}
    assert spaces["adam"] == {"lr": {"low": 1e-5, "high": 0.1, "log": True}}
    assert spaces["sgd"]["momentum"] == {"low": 0.0, "high": 0.99, "log": False}


def test_paper_suite_is_bops_published_protocol() -> None:
    suite = load_suite(ROOT / "suites" / "paper.yaml")
    assert [m.name for m in suite.models] == ["binarynet", "bireal_resnet18"]
    assert [d.name for d in suite.datasets] == ["cifar10", "cifar100"]
    assert all(d.options == {"augment": True} for d in suite.datasets)
    assert (suite.batch_size, suite.epochs, suite.device) == (50, 500, "cuda")
    assert suite.lr_schedule is not None
    assert suite.lr_schedule.as_dict() == {"name": "step", "step_size": 100, "gamma": 0.1}
    bop = next(c for c in cells(suite) if c.optimizer.name == "bop")
    hp = cell_hparams(bop)
    assert (hp["threshold"], hp["gamma"], hp["fp_lr"], hp["fp_optimizer"]) == (
        1e-8,
        1e-4,
        0.01,
        "adam",
    )
    assert suite.reference == "bop"


def test_the_documented_example_validates(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "suites.md").read_text()
    example = doc.split("## Example")[1].split("```yaml\n")[1].split("```")[0]
    suite = load_text(tmp_path, example)
    assert suite.name == "my-study" and suite.seeds == [0, 1, 2, 3, 4]
    assert len(expand_final_runs(suite)) == 2 * 2 * 4 * 5


# --------------------------------------------------------------------------------------------
# Malformed suites: one line naming file, key path, bad value and what is allowed
# --------------------------------------------------------------------------------------------


def test_unknown_optimizer_lists_allowed_names(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[bop, adamm]"))
    assert "optimizers[1].name: unknown optimizer 'adamm'" in msg
    assert "did you mean 'adam'" in msg
    for name in ALL_OPTIMIZERS:
        assert name in msg
    assert "package.module:Class" in msg


def test_unknown_dataset_and_model_list_allowed_names(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[digits]", "[digits, mnist_1d]"))
    assert "datasets[1].name: unknown dataset 'mnist_1d'" in msg
    assert "did you mean 'mnist1d'" in msg
    assert "cifar10, cifar100, digits" in msg
    msg = error_of(tmp_path, BASE.replace("[mlp]", "[{name: resnet18}]"))
    assert "models[0].name: unknown model 'resnet18'" in msg
    assert "bireal_resnet18" in msg and "binarynet" in msg


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "epochs: ten\n")
    assert ": epochs: " in msg and "valid integer" in msg and "'ten'" in msg
    msg = error_of(tmp_path, BASE + "clip_latent: [1]\n")
    assert ": clip_latent: " in msg and "[1]" in msg
    msg = error_of(tmp_path, BASE + "diagnostics: 1\n")
    assert ": diagnostics: " in msg and "valid boolean" in msg


def test_negative_or_zero_epochs(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "epochs: -3\n")
    assert ": epochs: " in msg and "greater than or equal to 1" in msg and "got -3" in msg
    msg = error_of(tmp_path, BASE + "tuning: {trials: 4, epochs: 0}\n")
    assert ": tuning.epochs: " in msg and "got 0" in msg


def test_typo_in_key_suggests_closest(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "epochz: 3\n")
    assert ": epochz: unknown key 'epochz' (did you mean 'epochs'?)" in msg
    assert "allowed keys: name, description" in msg
    msg = error_of(tmp_path, BASE + "tuning: {trails: 3}\n")
    assert ": tuning.trails: unknown key 'trails' (did you mean 'trials'?)" in msg
    assert "allowed keys: trials, epochs, sampler, batch, seeds_per_trial, halving, pruner" in msg
    msg = error_of(tmp_path, BASE.replace("[mlp]", "[{name: mlp, optoins: {}}]"))
    assert ": models[0].optoins: unknown key 'optoins' (did you mean 'options'?)" in msg


def test_missing_file_suggests_neighbour(tmp_path: Path) -> None:
    write(tmp_path, BASE, "smoke.yaml")
    missing = tmp_path / "smok.yaml"
    with pytest.raises(BnnBenchError) as info:
        load_suite(missing)
    assert str(info.value) == (
        f"{missing}: suite file not found (did you mean '{tmp_path / 'smoke.yaml'}'?)"
    )


def test_empty_grid(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[mlp]", "[]"))
    assert ": models: the grid is empty" in msg
    msg = error_of(tmp_path, BASE.replace("[digits]", "[]"))
    assert ": datasets: the grid is empty" in msg
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[]") + "reference: bop\n")
    assert ": optimizers: the grid is empty" in msg
    msg = error_of(tmp_path, BASE + "seeds: []\n")
    assert ": seeds: the grid is empty" in msg
    msg = error_of(tmp_path, BASE + "seeds: 0\n")
    assert ": seeds: a seed count must be >= 1" in msg


def test_empty_file_and_non_mapping(tmp_path: Path) -> None:
    assert "the suite file is empty" in error_of(tmp_path, "")
    msg = error_of(tmp_path, "- a\n- b\n")
    assert "the top level must be a mapping" in msg and "got list" in msg


def test_bad_search_space(tmp_path: Path) -> None:
    def space(body: str) -> str:
        return BASE.replace("[bop, adam]", f"[bop, sgd, {{name: adam, search_space: {{{body}}}}}]")

    msg = error_of(tmp_path, space("lr: {low: 1e-1, high: 1e-3, log: true}"))
    assert ": optimizers[2].search_space.lr.low: must be < high (0.001), got 0.1" in msg
    msg = error_of(tmp_path, space("lr: {low: 0, high: 1e-3, log: true}"))
    assert ": optimizers[2].search_space.lr.low: must be > 0 for a log range, got 0" in msg
    msg = error_of(tmp_path, space("lrr: {low: 1e-4, high: 1e-3}"))
    assert ": optimizers[2].search_space.lrr: unknown hyper-parameter 'lrr' of adam" in msg
    assert "did you mean 'lr'" in msg and "allowed: lr, beta1, beta2, eps, weight_decay" in msg
    msg = error_of(tmp_path, space("lr: {low: abc, high: 1e-3}"))
    assert ": optimizers[2].search_space.lr.low: " in msg and "'abc'" in msg
    msg = error_of(tmp_path, space("lr: {high: 1e-3}"))
    assert ": optimizers[2].search_space.lr.low: required key is missing" in msg
    msg = error_of(tmp_path, space("lr: {choices: [], log: true}"))
    assert ": optimizers[2].search_space.lr.log: not allowed together with 'choices'" in msg
    msg = error_of(tmp_path, space("lr: {choices: []}"))
    assert ": optimizers[2].search_space.lr.choices: needs at least one value" in msg
    msg = error_of(tmp_path, space("lr: {low: 1e-3, high: 1e-1, lg: true}"))
    assert ": optimizers[2].search_space.lr.lg: unknown key 'lg' (did you mean 'log'?)" in msg
    msg = error_of(tmp_path, space("weight_decay: {low: 0.5, high: 3, int: true}"))
    assert ".search_space.weight_decay.low: must be a whole number with int: true" in msg


def test_bad_fixed_hparams(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[{name: bop, hparams: {treshold: 1}}]"))
    assert ": optimizers[0].hparams.treshold: unknown hyper-parameter 'treshold' of bop" in msg
    assert "did you mean 'threshold'" in msg
    allowed = msg.split("allowed: ")[1].split(", ")
    assert {"threshold", "gamma", "fp_optimizer", "fp_lr", "fp_beta1"} <= set(allowed)
    both = "[bop, {name: adam, hparams: {lr: 0.1}, search_space: {lr: {low: 1e-4, high: 1}}}]"
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", both))
    assert ": optimizers[1].search_space.lr: 'lr' is both fixed (hparams.lr) and tuned" in msg


def test_registry_value_rules_apply_with_the_key_path(tmp_path: Path) -> None:
    sgd = "[bop, {name: sgd, search_space: {momentum: {low: 0.0, high: 1.5}}}]"
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", sgd))
    assert ": optimizers[1].search_space: " in msg and "momentum=1.5" in msg
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[{name: bop, hparams: {fp_lr: -1}}]"))
    assert ": optimizers[0].hparams: " in msg and "fp_lr=-1" in msg
    nesterov = "[bop, {name: sgd, search_space: {nesterov: {low: 0, high: 1}}}]"
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", nesterov))
    assert ": optimizers[1].search_space: " in msg and "'nesterov' is not numeric" in msg
    fixed = BASE.replace("[bop, adam]", "[bop, {name: adam, hparams: {lr: 0.1}}]")
    msg = error_of(tmp_path, fixed + "tuning: {trials: 2}\n")
    assert ": optimizers[1].search_space: required with tuning.trials > 0" in msg
    assert "(lr) is fixed in hparams" in msg


def test_model_and_dataset_option_names(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[mlp]", "[{name: mlp, options: {hiden: [8, 8]}}]"))
    assert ": models[0].options.hiden: unknown option 'hiden' (did you mean 'hidden'?)" in msg
    msg = error_of(tmp_path, BASE.replace("[mlp]", "[{name: mlp, options: {binary: false}}]"))
    assert ": models[0].options.binary: use the entry's 'binary' key instead" in msg
    bad = "[{name: digits, options: {as_img: true}}]"
    msg = error_of(tmp_path, BASE.replace("[digits]", bad))
    assert ": datasets[0].options.as_img: unknown option 'as_img' (did you mean 'as_image'?)" in (
        msg
    )


def test_plugin_optimizer_by_import_path(tmp_path: Path) -> None:
    plugin = (
        "[bop, {name: 'torch.optim:Adagrad', hparams: {lr_decay: 0.0},"
        " search_space: {lr: {low: 1e-3, high: 1e-1, log: true}}}]"
    )
    suite = load_text(tmp_path, BASE.replace("[bop, adam]", plugin) + "tuning: {trials: 2}\n")
    cell = cells(suite)[1]
    assert cell.key == "mlp/digits/torch.optim:Adagrad"
    # a plug-in has no registry defaults: only tuned and fixed values
    assert expand_tuning_trial(suite, cell, {"lr": 0.01}, 0).hparams == {
        "lr": 0.01,
        "lr_decay": 0.0,
    }
    assert expand_final_runs(suite)[-1].hparams == {"lr_decay": 0.0}
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[bop, 'torch.optim:Nope']"))
    assert ": optimizers[1].name: cannot import optimizer plug-in 'torch.optim:Nope'" in msg
    typo = "[bop, {name: 'torch.optim:Adagrad', hparams: {lrr: 1}}]"
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", typo))
    assert ": optimizers[1].hparams.lrr: unknown hyper-parameter 'lrr'" in msg
    assert "did you mean 'lr'" in msg and "lr_decay" in msg
    msg = error_of(
        tmp_path, BASE.replace("adam]", "'torch.optim:Adagrad']") + "tuning: {trials: 2}\n"
    )
    assert ": optimizers[1].search_space: required with tuning.trials > 0" in msg
    assert "no default search space" in msg


def test_duplicate_names(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[bop, adam, {name: adam}]"))
    assert ": optimizers[2]: optimizer 'adam' is listed twice (also optimizers[1])" in msg
    msg = error_of(tmp_path, BASE + "seeds: [1, 2, 1]\n")
    assert ": seeds: seed 1 appears twice" in msg


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "name: t\nmodels: [mlp\ndatasets: [digits]\n")
    assert ": YAML syntax error at line 3, column " in msg
    msg = error_of(tmp_path, BASE + "epochs: 3\nepochs: 4\n")
    assert ": YAML syntax error at line 6, column 1: duplicate key 'epochs' (first at line 5)" in (
        msg
    )


def test_reference_must_be_a_suite_optimizer(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[adam, sgd]"))
    assert ": reference: 'bop' is not among the suite's optimizers" in msg
    assert "set reference to one of: adam, sgd" in msg
    suite = load_text(tmp_path, BASE.replace("[bop, adam]", "[adam, sgd]") + "reference: sgd\n")
    assert suite.reference == "sgd"


def test_protocol_sections(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "lr_schedule: {name: stepp, step_size: 3}\n")
    assert ": lr_schedule.name: input should be 'step' or 'cosine', got 'stepp'" in msg
    assert "did you mean 'step'" in msg
    msg = error_of(tmp_path, BASE + "lr_schedule: {name: cosine, step_size: 3}\n")
    assert ": lr_schedule.step_size: not a key of the 'cosine' schedule; allowed: min_factor" in (
        msg
    )
    msg = error_of(tmp_path, BASE + "lr_schedule: {name: step}\n")
    assert ": lr_schedule.step_size: required for the 'step' schedule" in msg
    msg = error_of(tmp_path, BASE + "target: {kind: value}\n")
    assert ": target.value: required with kind: value" in msg
    msg = error_of(tmp_path, BASE + "target: {kind: value, value: 95}\n")
    assert ": target.value: must be an accuracy in (0, 1], got 95" in msg
    msg = error_of(tmp_path, BASE + "executor: {kind: dsk}\n")
    assert ": executor.kind: input should be 'local' or 'dask', got 'dsk'" in msg
    msg = error_of(tmp_path, BASE + "executor: {scheduler: 'tcp://h:8786'}\n")
    assert ": executor.scheduler: only used with kind: dask" in msg
    msg = error_of(tmp_path, BASE + "tuning: {pruner: hyperband}\n")
    assert ": tuning.pruner: input should be 'none', got 'hyperband'" in msg
    msg = error_of(tmp_path, BASE + "tuning: {pruner: median}\n")
    assert ": tuning.pruner: 'median' is not offered" in msg and "allowed: none" in msg
    msg = error_of(tmp_path, BASE + "device: gpu\n")
    assert ": device: unknown device 'gpu'" in msg and "allowed: cpu, cuda, cuda:N, mps" in msg
    msg = error_of(tmp_path, BASE + "store: 'not a url'\n")
    assert ": store: not a database URL, got 'not a url'" in msg
    msg = error_of(tmp_path, BASE.replace("name: t", "name: 'a b/c'"))
    assert ": name: 'a b/c' is not a valid suite name" in msg
    for ok in ("cuda", "cuda:1", "mps", "cpu"):
        assert load_text(tmp_path, BASE + f"device: '{ok}'\n").device == ok


def test_several_errors_report_the_first_and_count(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "epochs: x\nbatch_size: y\ndevice: 3\n")
    assert ": epochs: input should be a valid integer, got 'x' (and 2 more)" in msg


# --------------------------------------------------------------------------------------------
# Parsing details
# --------------------------------------------------------------------------------------------


def test_short_and_long_forms_and_yaml_floats(tmp_path: Path) -> None:
    suite = load_text(
        tmp_path,
        """\
        name: t
        models: [{name: mlp, options: {hidden: [32, 16]}, binary: false}]
        datasets: [{name: digits, subset: 500, val_fraction: 0.25, split_seed: 3}]
        optimizers: [bop, {name: adam, hparams: {lr: 1e-3}}]
        seeds: 4
        """,
    )
    assert suite.seeds == [0, 1, 2, 3]
    assert suite.optimizers[1].hparams["lr"] == 0.001  # YAML 1.1 would read the string '1e-3'
    (run, *_) = expand_final_runs(suite)
    assert run.model_options == {"hidden": [32, 16], "binary": False}
    assert run.dataset_options == {"subset": 500, "val_fraction": 0.25, "split_seed": 3}


def test_database_url() -> None:
    suite = Suite.model_validate({"name": "x", "optimizers": [{"name": "bop"}]})
    assert suite_database_url(suite) == "sqlite:///results/x/bnnbench.db"
    assert suite_database_url(suite, "/tmp/r") == "sqlite:////tmp/r/x/bnnbench.db"
    custom = suite.model_copy(update={"store": "postgresql+psycopg://h/db"})
    assert suite_database_url(custom) == "postgresql+psycopg://h/db"


# --------------------------------------------------------------------------------------------
# Grid expansion
# --------------------------------------------------------------------------------------------

GRID = """\
name: g
models: [mlp, cnn1d]
datasets: [digits]
optimizers:
  - bop
  - name: adam
    hparams: {weight_decay: 0.01}
    search_space:
      lr: {low: 1e-4, high: 1e-1, log: true}
seeds: [3, 1]
epochs: 5
batch_size: 32
evals_per_epoch: 2
clip_latent: null
lr_schedule: {name: cosine}
tuning: {trials: 4, epochs: 2}
device: cpu
"""


def test_cells_and_final_runs_in_stable_order(tmp_path: Path) -> None:
    suite = load_text(tmp_path, GRID)
    assert [c.key for c in cells(suite)] == [
        "mlp/digits/bop",
        "mlp/digits/adam",
        "cnn1d/digits/bop",
        "cnn1d/digits/adam",
    ]
    runs = expand_final_runs(suite)
    assert [(r.model, r.dataset, r.optimizer, r.seed) for r in runs] == [
        ("mlp", "digits", "bop", 3),
        ("mlp", "digits", "bop", 1),
        ("mlp", "digits", "adam", 3),
        ("mlp", "digits", "adam", 1),
        ("cnn1d", "digits", "bop", 3),
        ("cnn1d", "digits", "bop", 1),
        ("cnn1d", "digits", "adam", 3),
        ("cnn1d", "digits", "adam", 1),
    ]
    for r in runs:
        assert (r.split, r.epochs, r.batch_size, r.evals_per_epoch) == ("test", 5, 32, 2)
        assert r.clip_latent is None and r.device == "cpu" and r.task == "train"
        assert r.lr_schedule == {"name": "cosine", "min_factor": 0.0}
    assert len({r.run_id for r in runs}) == 8


def test_hparams_merge_defaults_then_tuned_then_fixed(tmp_path: Path) -> None:
    from benchmark.optim import get_optimizer_spec

    suite = load_text(tmp_path, GRID)
    defaults = dict(get_optimizer_spec("adam").defaults)
    assert {"lr", "beta1", "beta2", "eps", "weight_decay"} <= set(defaults)
    best = {"mlp/digits/adam": {"lr": 0.05, "weight_decay": 0.5}, "not/a/cell": {"lr": 9.0}}
    runs = expand_final_runs(suite, best)
    by = {(r.model, r.optimizer): r.hparams for r in runs}
    # tuned lr replaces the default; the fixed weight_decay wins over the tuned one
    assert by["mlp", "adam"] == {**defaults, "lr": 0.05, "weight_decay": 0.01}
    # a cell without tuned params: defaults + fixed overrides only
    assert by["cnn1d", "adam"] == {**defaults, "weight_decay": 0.01}
    assert by["mlp", "bop"] == dict(get_optimizer_spec("bop").defaults)
    # runs do not share one mutable dict
    runs[0].hparams["lr"] = -1.0
    assert runs[1].hparams.get("lr") != -1.0


def test_tuning_trial_spec(tmp_path: Path) -> None:
    suite = load_text(tmp_path, GRID)
    cell = cells(suite)[1]
    assert isinstance(cell, Cell) and cell.key == "mlp/digits/adam"
    assert cell_search_space(cell) == {"lr": {"low": 1e-4, "high": 0.1, "log": True}}
    trial = expand_tuning_trial(suite, cell, {"lr": 0.003}, trial_seed=7)
    assert (trial.split, trial.epochs, trial.seed) == ("val", 2, 7)
    assert trial.hparams["lr"] == 0.003 and trial.hparams["weight_decay"] == 0.01
    # without tuning.epochs the trial runs the suite's epochs
    plain = load_text(tmp_path, GRID.replace("tuning: {trials: 4, epochs: 2}", ""), "p.yaml")
    assert expand_tuning_trial(plain, cells(plain)[1], {}, 0).epochs == 5


_ID_SCRIPT = """
import json, sys
from benchmark.suite import expand_final_runs, load_suite
print(json.dumps([r.run_id for r in expand_final_runs(load_suite(sys.argv[1]))]))
"""


def test_run_ids_are_stable_across_loads_and_processes(tmp_path: Path) -> None:
    path = write(tmp_path, GRID)
    ids = [r.run_id for r in expand_final_runs(load_suite(path))]
    assert ids == [r.run_id for r in expand_final_runs(load_suite(path))]
    out = subprocess.run(
        [sys.executable, "-c", _ID_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(out.stdout) == ids
    # any change to the protocol changes every id
    changed = write(tmp_path, GRID.replace("batch_size: 32", "batch_size: 16"), "c.yaml")
    assert not set(ids) & {r.run_id for r in expand_final_runs(load_suite(changed))}


def test_run_id_changes_with_every_spec_field() -> None:
    base = RunSpec(model="mlp", dataset="digits", optimizer="adam", hparams={"lr": 0.001})
    changes = {
        "model": "cnn1d",
        "dataset": "mnist1d",
        "optimizer": "sgd",
        "hparams": {"lr": 0.002},
        "model_options": {"binary": False},
        "dataset_options": {"subset": 10},
        "epochs": 11,
        "batch_size": 64,
        "seed": 1,
        "split": "val",
        "evals_per_epoch": 2,
        "clip_latent": None,
        "lr_schedule": {"name": "cosine", "min_factor": 0.0},
        "device": "cuda",
        "diagnostics": False,
        "threads": 2,
        "stop_epoch": 3,
        "eval_schedule": {"kind": "log", "points": 10},
    }
    fields = {f.name for f in dataclasses.fields(RunSpec)} - {"task"}
    assert set(changes) == fields, "every field that changes the numbers is covered"
    ids = {base.run_id}
    for name, value in changes.items():
        ids.add(dataclasses.replace(base, **{name: value}).run_id)
    assert len(ids) == len(changes) + 1
    # a run that trains to the end, on the per-epoch points only, keeps the id it had before
    # stop_epoch and eval_schedule existed
    assert "stop_epoch" not in base.to_dict() and "eval_schedule" not in base.to_dict()
    new = ("stop_epoch", "eval_schedule")
    assert base.run_id == spec_hash(
        {k: v for k, v in dataclasses.asdict(base).items() if k not in new}
    )


# --------------------------------------------------------------------------------------------
# The convex task
# --------------------------------------------------------------------------------------------

CONVEX = """\
name: cx
task: convex
convex:
  steps: 1000
  optimizers: [adam, amsgrad]
"""


def test_convex_task_carries_its_own_section(tmp_path: Path) -> None:
    suite = load_text(tmp_path, CONVEX)
    assert suite.task == "convex"
    with pytest.raises(BnnBenchError, match="task 'convex' has no model x dataset grid"):
        expand_final_runs(suite)
    for key in ("models: [mlp]", "datasets: [digits]"):
        msg = error_of(tmp_path, CONVEX + key + "\n")
        assert f": {key.split(':')[0]}: not used by task 'convex'" in msg
    msg = error_of(tmp_path, CONVEX + "optimizers: [adam]\n")
    assert ": optimizers: not used by task 'convex'; list them under convex.optimizers" in msg
    msg = error_of(tmp_path, CONVEX + "seeds: 3\n")
    assert ": seeds: not used by task 'convex'; list them under convex.seeds" in msg
    msg = error_of(tmp_path, BASE + "convex: {}\n")
    assert ": convex: only allowed with task: convex" in msg
    msg = error_of(tmp_path, CONVEX.replace("task: convex", "task: convx"))
    assert (
        ": task: unknown task (did you mean 'convex'?), got 'convx'; allowed: train, convex" in msg
    )


def test_convex_section_is_validated_by_the_task_model(tmp_path: Path) -> None:
    from benchmark.tasks.convex import ConvexSection

    suite = load_text(tmp_path, CONVEX)
    assert isinstance(suite.convex, ConvexSection) and suite.convex.steps == 1000
    msg = error_of(tmp_path, CONVEX.replace("steps: 1000", "stpes: 1000"))
    assert ": convex.stpes: unknown key 'stpes' (did you mean 'steps'?)" in msg
    msg = error_of(tmp_path, CONVEX.replace("steps: 1000", "steps: -5"))
    assert ": convex.steps: " in msg and "got -5" in msg
    msg = error_of(tmp_path, CONVEX + "reference: bop\n")
    assert ": reference: 'bop' is not among convex.optimizers; allowed: adam, amsgrad" in msg
    assert load_text(tmp_path, CONVEX + "reference: adam\n").reference == "adam"


def test_convex_section_is_typed_once_by_the_suite_schema(tmp_path: Path) -> None:
    from benchmark.suite.convex_schema import DEFAULT_OPTIMIZERS, ConvexSection
    from benchmark.tasks import convex as task

    assert task.ConvexSection is ConvexSection  # the task re-exports the schema's names
    assert task.DEFAULT_OPTIMIZERS is DEFAULT_OPTIMIZERS
    assert Suite.model_fields["convex"].annotation == ConvexSection | None
    suite = load_text(tmp_path, CONVEX)
    assert type(suite.convex) is ConvexSection
    assert [o.name for o in suite.convex.optimizers] == ["adam", "amsgrad"]
    # validating an already validated section again is harmless: the same object
    assert ConvexSection.model_validate(suite.convex) is suite.convex
    # task: convex without a section: every default, typed as well
    bare = load_text(tmp_path, "name: cx\ntask: convex\n", "bare.yaml")
    assert bare.convex == ConvexSection()
    assert load_text(tmp_path, BASE).convex is None
    msg = error_of(tmp_path, CONVEX + "  seeds: [1, 1]\n")
    assert msg.endswith(": convex.seeds: seeds must be distinct, got [1, 1]")


_IMPORT_SCRIPT = """
import sys
import benchmark.suite as suite
names = [*suite.__all__, "LIMITS", "GRID_PATH", "PLUGIN_PATTERN", "NAME_PATTERN",
         "DEVICE_PATTERN", "DEVICES", "SCHEDULE_KEYS"]
print([n for n in names if not hasattr(suite, n)], "torch" in sys.modules)
"""


def test_the_suite_package_keeps_its_names_and_imports_no_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.stdout.split() == ["[]", "False"]
    from benchmark.search_space import Dimension
    from benchmark.suite import ParamRange

    assert ParamRange is Dimension


# --------------------------------------------------------------------------------------------
# exclude: pairs left out of the model x dataset grid
# --------------------------------------------------------------------------------------------
def test_exclude_leaves_pairs_out_of_the_grid_and_its_checks(tmp_path: Path) -> None:
    from tests.conftest import write_suite

    both = [{"name": "mlp", "options": {"hidden": [8, 8]}}, {"name": "cnn2d"}]
    data = ["digits", {"name": "mnist5k", "subset": 200}]
    refused = write_suite(tmp_path / "a.yaml", models=both, datasets=data)
    with pytest.raises(BnnBenchError, match=r"models\[1\] x datasets\[0\]: .*exclude: "):
        load_suite(refused)
    path = write_suite(
        tmp_path / "b.yaml",
        models=both,
        datasets=data,
        exclude=[{"model": "cnn2d", "dataset": "digits"}, {"model": "mlp", "dataset": "mnist5k"}],
    )
    suite = load_suite(path)
    assert [(m.name, d.name) for m, d in suite.pairs] == [("mlp", "digits"), ("cnn2d", "mnist5k")]
    assert [c.key for c in cells(suite)] == [
        "mlp/digits/adam", "mlp/digits/bop", "cnn2d/mnist5k/adam", "cnn2d/mnist5k/bop",
    ]  # fmt: skip
    assert suite.n_final_runs == 2 * 2 * 2 == len(expand_final_runs(suite))
    # a dataset alone excludes it for every model
    only = write_suite(tmp_path / "c.yaml", models=both[:1], datasets=data,
                       exclude=[{"dataset": "mnist5k"}])  # fmt: skip
    assert [(m.name, d.name) for m, d in load_suite(only).pairs] == [("mlp", "digits")]


@pytest.mark.parametrize(
    ("exclude", "expected"),
    [
        ([{"model": "mpl"}], "exclude[0].model: 'mpl' is not among the suite's models (did you mean 'mlp'?); allowed: mlp"),
        ([{"dataset": "synthetic"}], "exclude: leaves no model x dataset pair to run"),
        ([{}], "exclude[0]: name a model, a dataset, or both"),
        ([{"model": "mlp", "optimizer": "adam"}], "exclude[0].optimizer: unknown key"),
    ],
)  # fmt: skip
def test_bad_exclude_entries_are_one_line_errors(
    tmp_path: Path, exclude: list, expected: str
) -> None:
    from tests.conftest import write_suite

    with pytest.raises(BnnBenchError) as err:
        load_suite(write_suite(tmp_path / "x.yaml", exclude=exclude))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_folder_named_like_a_shipped_suite_does_not_hide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bnnbench show quick`` run inside ``results/`` (which holds a folder ``quick``) means
    the shipped suite, not the folder; a name that is neither stays a path for the loader's
    one-line error."""
    from benchmark.suite_files import SUITES_DIR, resolve_suite_path

    (tmp_path / "quick").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_suite_path("quick") == SUITES_DIR / "quick.yaml"
    assert resolve_suite_path("elsewhere") == Path("elsewhere")
    (tmp_path / "mine").write_text("name: mine\n")
    assert resolve_suite_path("mine") == Path("mine")  # an existing file is taken as given
