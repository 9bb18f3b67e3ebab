"""Suite limits: seed ranges and counts, upper limits of every budget, finite floats, and the
static model x dataset compatibility check. Each error is a :class:`BnnBenchError` raised by
``load_suite`` with one line ``<file>: <key path>: <problem>, got <value>; allowed: ...``, and
``bnnbench validate`` reports it as one ``bnnbench: error:`` line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import BnnBenchError
from benchmark.options import MAX_SEEDS, SEED_MAX, is_finite_value, seed_list
from benchmark.suite import LIMITS, expand_final_runs, load_suite

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "suites").glob("*.yaml"))

BASE = """\
name: t
models: [mlp]
datasets: [digits]
optimizers: [bop, adam]
"""
CONVEX = """\
name: cx
task: convex
convex:
  steps: 1000
  optimizers: [adam, amsgrad]
"""
SEED_ALLOWED = "allowed: 0 to 4294967295 (numpy's seed range"


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    """The one-line message ``load_suite`` raises for ``text``; it starts with the file."""
    path = write(tmp_path, text, name)
    with pytest.raises(BnnBenchError) as info:
        load_suite(path)
    assert type(info.value) is BnnBenchError
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith(f"{path}: "), message
    return message


def cli_error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``bnnbench validate`` on ``text``: exit 2 and a single ``bnnbench: error:`` line."""
    from benchmark.cli import main

    path = write(tmp_path, text, "cli.yaml")
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"bnnbench: error: {path}: "), lines[0]
    assert "ok (suite" not in out
    return lines[0]


# --------------------------------------------------------------------------------------------
# 1. Seeds are integers in [0, 2**32 - 1]
# --------------------------------------------------------------------------------------------


def test_seed_range_is_what_training_can_seed() -> None:
    from benchmark.data.batching import epoch_order
    from benchmark.train import seed_everything

    assert SEED_MAX == 2**32 - 1 == LIMITS["seed"][1] and LIMITS["seed"][0] == 0
    for seed in (0, SEED_MAX):
        seed_everything(seed)
        assert len(epoch_order(10, seed=seed, epoch=0)) == 10
    # why the range: numpy's own seed range, and the data order refuses negative seeds
    for seed in (-1, SEED_MAX + 1):
        with pytest.raises(ValueError, match=r"between 0 and 2\*\*32 - 1"):
            np.random.seed(seed)
    with pytest.raises(BnnBenchError, match="non-negative"):
        epoch_order(10, seed=-1, epoch=0)


def test_negative_seed_in_list(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "seeds: [0, -1, 2]\n")
    assert msg == (
        f"{tmp_path / 'bad.yaml'}: seeds[1]: out of range, got -1; {SEED_ALLOWED}; "
        "np.random.seed takes 0 to 2**32 - 1)"
    )


def test_seed_above_numpy_range(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + f"seeds: [{2**32}]\n")
    assert f": seeds[0]: out of range, got {2**32}; {SEED_ALLOWED}" in msg
    suite = load_suite(write(tmp_path, BASE + f"seeds: [0, {SEED_MAX}]\n", "ok.yaml"))
    assert suite.seeds == [0, SEED_MAX]


def test_every_other_seed_has_the_same_range(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "tuning: {seed: 4294967296}\n")
    assert ": tuning.seed: out of range, got 4294967296; " + SEED_ALLOWED in msg
    bad = "[{name: digits, split_seed: -3}]"
    msg = error_of(tmp_path, BASE.replace("[digits]", bad))
    assert ": datasets[0].split_seed: out of range, got -3; " + SEED_ALLOWED in msg
    msg = error_of(tmp_path, CONVEX + "  seeds: [3, -1]\n")
    assert ": convex.seeds[1]: out of range, got -1; " + SEED_ALLOWED in msg
    msg = error_of(tmp_path, CONVEX + "  seeds: [4294967296]\n")
    assert ": convex.seeds[0]: out of range, got 4294967296; " + SEED_ALLOWED in msg


def test_negative_seed_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = cli_error(tmp_path, BASE + "seeds: [-5]\n", capsys)
    assert ": seeds[0]: out of range, got -5; " + SEED_ALLOWED in line


# --------------------------------------------------------------------------------------------
# 2. At most MAX_SEEDS seeds, checked before any list is built
# --------------------------------------------------------------------------------------------


def test_huge_seed_count_is_refused_before_building_the_list(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "seeds: 1000000000\n")
    assert msg == (
        f"{tmp_path / 'bad.yaml'}: seeds: too many seeds, got 1000000000; "
        f"allowed: a seed count of 1 to {MAX_SEEDS}"
    )
    assert MAX_SEEDS == 10_000 == LIMITS["seeds"][1]
    with pytest.raises(ValueError, match="too many seeds"):
        seed_list(10**18)  # would be a MemoryError if the list were built first


def test_seed_list_length_is_capped(tmp_path: Path) -> None:
    seeds = ", ".join(str(i) for i in range(MAX_SEEDS + 1))
    msg = error_of(tmp_path, BASE + f"seeds: [{seeds}]\n")
    assert ": seeds: too many seeds (10001 listed), got [0, 1, 2," in msg
    assert msg.endswith(f"; allowed: a list of at most {MAX_SEEDS} seeds")
    suite = load_suite(write(tmp_path, BASE + f"seeds: {MAX_SEEDS}\n", "ok.yaml"))
    assert len(suite.seeds) == MAX_SEEDS and suite.seeds[-1] == MAX_SEEDS - 1


def test_convex_seed_count_is_capped(tmp_path: Path) -> None:
    msg = error_of(tmp_path, CONVEX + "  seeds: 1000000000\n")
    assert ": convex.seeds: too many seeds, got 1000000000; allowed: a seed count of 1 to " in msg


def test_huge_seed_count_through_the_cli(tmp_path: Path) -> None:
    """The real process: exit 2 and one line, no MemoryError traceback."""
    path = write(tmp_path, BASE + "seeds: 1000000000\n")
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnnbench: error: "), out.stderr
    assert f"{path}: seeds: too many seeds, got 1000000000; allowed: " in lines[0]
    assert "Traceback" not in out.stderr and "MemoryError" not in out.stderr


# --------------------------------------------------------------------------------------------
# 3. Upper limits of every budget
# --------------------------------------------------------------------------------------------

BUDGETS = [
    ("epochs: 100001", "epochs", 100_001, "1 to 100000"),
    ("batch_size: 1000001", "batch_size", 1_000_001, "1 to 1000000"),
    ("evals_per_epoch: 10001", "evals_per_epoch", 10_001, "1 to 10000"),
    ("tuning: {trials: 10001}", "tuning.trials", 10_001, "0 to 10000"),
    ("tuning: {epochs: 100001}", "tuning.epochs", 100_001, "1 to 100000"),
    ("executor: {workers: 1025}", "executor.workers", 1_025, "1 to 1024"),
    ("executor: {threads_per_worker: 257}", "executor.threads_per_worker", 257, "1 to 256"),
]


@pytest.mark.parametrize(("line", "path", "value", "allowed"), BUDGETS, ids=[b[1] for b in BUDGETS])
def test_budget_upper_limits(
    tmp_path: Path, line: str, path: str, value: int, allowed: str
) -> None:
    msg = error_of(tmp_path, BASE + line + "\n")
    assert f": {path}: out of range, got {value}; allowed: {allowed} (" in msg
    # the limit itself is allowed
    at_limit = line.replace(str(value), str(value - 1))
    assert load_suite(write(tmp_path, BASE + at_limit + "\n", "ok.yaml")).name == "t"


ALL_TEN = "[bamsprod, bop, bop2nd, adam, amsgrad, adamw, sgd, adabound, amsbound, radam]"


def test_total_runs_of_the_grid_are_capped(tmp_path: Path) -> None:
    big = (
        BASE.replace("[bop, adam]", ALL_TEN)
        .replace("[mlp]", "[mlp, cnn1d]")
        .replace("[digits]", "[digits, mnist1d, synthetic]")
    )
    msg = error_of(tmp_path, big + "seeds: 10000\ntuning: {trials: 10000}\n")
    assert msg == (
        f"{tmp_path / 'bad.yaml'}: models x datasets x optimizers x (seeds + tuning runs): "
        "too many runs, got 1200000 (60 cells x 20000 runs); allowed: at most 1000000 "
        "(final runs plus tuning trials; one store row each)"
    )
    # exactly at the limit: 50 cells x (10,000 seeds + 10,000 trials)
    at_limit = BASE.replace("[bop, adam]", ALL_TEN).replace(
        "[digits]", "[digits, mnist1d, synthetic, mnist, cifar10]"
    )
    suite = load_suite(write(tmp_path, at_limit + "seeds: 10000\ntuning: {trials: 10000}\n"))
    assert suite.n_final_runs + 50 * suite.tuning.trials == LIMITS["runs"][1]


def test_convex_runs_are_capped(tmp_path: Path) -> None:
    entries = ", ".join(f"{{name: adam, label: a{i}}}" for i in range(101))
    text = CONVEX.replace("[adam, amsgrad]", f"[{entries}]") + "  seeds: 10000\n"
    msg = error_of(tmp_path, text)
    assert ": convex: too many runs, got 1010202 (101 optimizers x forms, 10000 seeds); " in msg
    assert msg.endswith(
        "allowed: at most 1000000 (final runs plus tuning trials; one store row each)"
    )


def test_budget_limit_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = cli_error(tmp_path, BASE + "epochs: 1000000000000\n", capsys)
    assert ": epochs: out of range, got 1000000000000; allowed: 1 to 100000 (" in line


def test_convex_step_and_checkpoint_limits(tmp_path: Path) -> None:
    msg = error_of(tmp_path, CONVEX.replace("steps: 1000", "steps: 100000000000"))
    assert ": convex.steps: out of range, got 100000000000; allowed: 10 to 10000000 (" in msg
    msg = error_of(tmp_path, CONVEX + "  checkpoints: 100001\n")
    assert ": convex.checkpoints: out of range, got 100001; allowed: 2 to 100000 (" in msg
    ok = CONVEX.replace("steps: 1000", "steps: 10000000") + "  checkpoints: 100000\n"
    assert load_suite(write(tmp_path, ok, "ok.yaml")).convex.steps == 10_000_000


def test_every_limit_is_documented() -> None:
    doc = (ROOT / "docs" / "suites.md").read_text()
    table = doc.split("## Limits")[1].split("\n## ")[0]
    for key, (low, high, _) in LIMITS.items():
        assert f"{high:,}" in table, f"limit {key} ({high:,}) not in the Limits table"
        assert f"{low}" in table
    assert "finite (no `.inf`, `-.inf`, `.nan`)" in table
    assert "`models[i] x datasets[j]`" in table


# --------------------------------------------------------------------------------------------
# 4. Every float hyper-parameter and range bound is finite
# --------------------------------------------------------------------------------------------

FINITE = "allowed: finite numbers only (not .inf, -.inf or .nan)"


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_fixed_hparam(tmp_path: Path, value: str) -> None:
    text = BASE.replace("[bop, adam]", f"[bop, {{name: adam, hparams: {{lr: {value}}}}}]")
    msg = error_of(tmp_path, text)
    shown = {".inf": "inf", "-.inf": "-inf", ".nan": "nan"}[value]
    assert (
        msg
        == f"{tmp_path / 'bad.yaml'}: optimizers[1].hparams.lr: must be finite, got {shown}; {FINITE}"
    )


def test_non_finite_companion_and_plugin_hparams(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", "[{name: bop, hparams: {fp_lr: .inf}}]"))
    assert f": optimizers[0].hparams.fp_lr: must be finite, got inf; {FINITE}" in msg
    plugin = "[bop, {name: 'torch.optim:Adagrad', hparams: {lr_decay: .nan}}]"
    msg = error_of(tmp_path, BASE.replace("[bop, adam]", plugin))
    assert f": optimizers[1].hparams.lr_decay: must be finite, got nan; {FINITE}" in msg


def test_non_finite_search_space_bounds_and_choices(tmp_path: Path) -> None:
    def space(body: str) -> str:
        return BASE.replace("[bop, adam]", f"[bop, {{name: adam, search_space: {{{body}}}}}]")

    msg = error_of(tmp_path, space("lr: {low: 1e-5, high: .inf, log: true}"))
    assert f": optimizers[1].search_space.lr.high: must be finite, got inf; {FINITE}" in msg
    msg = error_of(tmp_path, space("lr: {low: -.inf, high: 1e-1}"))
    assert f": optimizers[1].search_space.lr.low: must be finite, got -inf; {FINITE}" in msg
    msg = error_of(tmp_path, space("lr: {choices: [1e-3, .nan]}"))
    assert f": optimizers[1].search_space.lr.choices[1]: must be finite, got nan; {FINITE}" in msg


def test_non_finite_clip_latent_options_and_convex_values(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BASE + "clip_latent: .inf\n")
    assert f": clip_latent: must be finite, got inf; {FINITE}" in msg
    model = "[{name: binarynet, options: {width: .inf}}]"
    msg = error_of(tmp_path, BASE.replace("[mlp]", model).replace("[digits]", "[cifar10]"))
    assert f": models[0].options.width: must be finite, got inf; {FINITE}" in msg
    msg = error_of(tmp_path, CONVEX + "  C: .inf\n")
    assert f": convex.C: must be finite, got inf; {FINITE}" in msg
    text = CONVEX.replace("[adam, amsgrad]", "[{name: adam, hparams: {lr: .inf}}]")
    msg = error_of(tmp_path, text)
    assert f": convex.optimizers[0].hparams.lr: must be finite, got inf; {FINITE}" in msg


def test_registry_refuses_non_finite_values_too() -> None:
    """One rule: the registry's value checks (used by tuning, the convex task, plug-ins)."""
    from benchmark.optim import validate_hparams, validate_search_space

    assert not is_finite_value(float("inf")) and not is_finite_value([0.9, float("nan")])
    assert is_finite_value(1e308) and is_finite_value("adam") and is_finite_value(3)
    with pytest.raises(BnnBenchError, match=r"lr=inf must be finite; allowed: finite numbers"):
        validate_hparams("adam", {"lr": float("inf")})
    with pytest.raises(BnnBenchError, match=r"fp_beta1=nan must be finite"):
        validate_hparams("bop", {"fp_beta1": float("nan")})
    # the search-space rule is the suite's own (benchmark.search_space), with the registry's prefix
    with pytest.raises(
        BnnBenchError, match=r"search space: lr\.high: must be finite, got inf; allowed: finite"
    ):
        validate_search_space("adam", {"lr": {"low": 1e-5, "high": float("inf")}})


def test_non_finite_hparam_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace("[bop, adam]", "[bop, {name: adam, hparams: {lr: .inf}}]")
    line = cli_error(tmp_path, text, capsys)
    assert f": optimizers[1].hparams.lr: must be finite, got inf; {FINITE}" in line


# --------------------------------------------------------------------------------------------
# 5. Every model accepts every dataset's inputs (static metadata, no data loaded)
# --------------------------------------------------------------------------------------------

BINARYNET_ON_MNIST1D = BASE.replace("[mlp]", "[mlp, binarynet]").replace(
    "[digits]", "[digits, mnist1d]"
)


def test_model_dataset_mismatch(tmp_path: Path) -> None:
    msg = error_of(tmp_path, BINARYNET_ON_MNIST1D)
    assert msg == (
        f"{tmp_path / 'bad.yaml'}: models[1] x datasets[0]: model 'binarynet' does not accept "
        "1-D inputs of dataset 'digits' (shape (64,)); allowed for it: images C x H x W, H,W >= 8"
        " (or leave the pair out: exclude: [{model: binarynet, dataset: digits}])"
    )
    only_mnist1d = BINARYNET_ON_MNIST1D.replace("[digits, mnist1d]", "[mnist1d]")
    msg = error_of(tmp_path, only_mnist1d)
    assert (
        ": models[1] x datasets[0]: model 'binarynet' does not accept 1-D inputs of dataset "
        "'mnist1d' (shape (40,)); allowed for it: images C x H x W, H,W >= 8"
    ) in msg


def test_mismatch_follows_dataset_and_model_options(tmp_path: Path) -> None:
    image_digits = "[{name: digits, options: {as_image: true}}]"
    ok = BASE.replace("[mlp]", "[mlp, binarynet, bireal_resnet18]").replace(
        "[digits]", image_digits
    )
    assert len(load_suite(write(tmp_path, ok, "ok.yaml")).models) == 3
    msg = error_of(tmp_path, BASE.replace("[mlp]", "[cnn1d]").replace("[digits]", "[cifar10]"))
    assert ": models[0] x datasets[0]: model 'cnn1d' does not accept 3-D inputs of dataset " in msg
    assert "'cifar10' (shape (3, 32, 32)); allowed for it: signals (L,) or (C, L)" in msg
    deep = "[{name: cnn1d, options: {channels: [8, 8, 8, 8, 8, 8, 8, 8]}}]"
    msg = error_of(tmp_path, BASE.replace("[mlp]", deep).replace("[digits]", "[mnist1d]"))
    assert ": models[0] x datasets[0]: model 'cnn1d' does not accept 1-D inputs" in msg
    synthetic = "[{name: synthetic, options: {shape: [3, 16, 16]}}]"
    ok = BASE.replace("[mlp]", "[binarynet]").replace("[digits]", synthetic)
    assert load_suite(write(tmp_path, ok, "ok2.yaml")).models[0].name == "binarynet"


def test_model_dataset_mismatch_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace("[mlp]", "[binarynet]").replace("[digits]", "[mnist1d]")
    line = cli_error(tmp_path, text, capsys)
    assert (
        "models[0] x datasets[0]: model 'binarynet' does not accept 1-D inputs of dataset " in line
    )
    assert "'mnist1d' (shape (40,)); allowed for it: images C x H x W, H,W >= 8" in line


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("digits", {}),
        ("digits", {"as_image": True}),
        ("mnist1d", {}),
        ("mnist1d", {"with_channel": True}),
        ("synthetic", {}),
        ("synthetic", {"n_features": 7, "n_classes": 3, "n_samples": 100}),
        ("synthetic", {"shape": [2, 8, 8], "n_classes": 5, "n_samples": 200, "kind": "blobs"}),
    ],
)
def test_static_metadata_matches_the_loaded_dataset(
    data_root: Path, name: str, options: dict
) -> None:
    from benchmark.data import load_dataset
    from benchmark.data.registry import static_input

    data = load_dataset(name, root=data_root, **options)
    assert static_input(name, options) == (tuple(data.input_shape), data.num_classes)


def test_static_metadata_of_every_dataset() -> None:
    from benchmark.data import DATASETS
    from benchmark.data.registry import static_input

    assert static_input("mnist") == static_input("fashion_mnist") == ((1, 28, 28), 10)
    assert static_input("cifar10") == ((3, 32, 32), 10)
    assert static_input("cifar100") == ((3, 32, 32), 100)
    for name in DATASETS:
        assert static_input(name) is not None, f"{name} declares no static shape"
    # unknown names, option names or values: left to the loader
    assert static_input("nope") is None
    assert static_input("digits", {"as_img": True}) is None
    assert static_input("synthetic", {"shape": "x"}) is None


def test_accepts_input_is_the_rule_build_model_applies() -> None:
    from benchmark.models import MODELS, build_model
    from benchmark.models.registry import accepts_input

    shapes = [(64,), (40,), (1, 40), (1, 8, 8), (1, 4, 4), (3, 32, 32), (2, 3, 8, 8)]
    for name in MODELS:
        for shape in shapes:
            try:
                build_model(
                    name, shape, 10, **({"width": 0.05} if "width" in MODELS[name].options else {})
                )
                built = True
            except BnnBenchError as exc:
                assert "not accepted" in str(exc)
                built = False
            assert accepts_input(name, shape) is built, (name, shape)


def test_compatibility_check_loads_no_data(tmp_path: Path) -> None:
    """Validation imports neither scikit-learn, mnist1d nor torchvision (no data is loaded)."""
    path = write(tmp_path, BINARYNET_ON_MNIST1D.replace("binarynet", "cnn1d"), "ok.yaml")
    code = (
        "import sys\n"
        "from benchmark.suite import load_suite\n"
        f"load_suite({str(path)!r})\n"
        "print(sorted(m for m in ('sklearn', 'mnist1d', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Shipped suites
# --------------------------------------------------------------------------------------------


def test_shipped_suites_validate_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmark.cli import main

    assert main(["validate", *map(str, SUITES)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count(": ok (suite ") == len(SUITES)
    for path in SUITES:
        suite = load_suite(path)
        if suite.task == "train":
            assert all(0 <= s <= SEED_MAX for s in suite.seeds)
            assert len(expand_final_runs(suite)) == suite.n_final_runs


def test_a_suite_name_fits_the_stores_column(tmp_path: Path) -> None:
    """suite_runs.suite is VARCHAR(128): PostgreSQL enforces it, so a longer name would fail
    at the first write, after a run had trained."""
    ok = BASE.replace("name: t\n", f"name: {'n' * 128}\n")
    assert len(load_suite(write(tmp_path, ok, "ok.yaml")).name) == 128
    msg = error_of(tmp_path, BASE.replace("name: t\n", f"name: {'n' * 129}\n"))
    assert ": name: " in msg and "at most 128 characters" in msg


def test_a_bad_store_url_is_one_line_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = cli_error(tmp_path, BASE + "store: postgresql+psycopg://u:s3cret@h:notaport/x\n", capsys)
    assert ": store: not a database URL, got " in line and "s3cret" not in line
    assert "u:***@h:notaport" in line
