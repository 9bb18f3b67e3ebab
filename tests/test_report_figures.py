"""Report figures (report/figures.py) and the colour/line helpers of report/plotting.py, on
small hand-built frames: 2 cells x 3 optimizers x 2 seeds, one diverged run, one failed run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from report import figures
from report.figures import (
    bamsprod_range_figure,
    curve_bands,
    diagnostics_figure,
    expected_max_figure,
    learning_curves,
    performance_profile_figure,
    sensitivity_figure,
)
from report.plotting import (
    REGISTRY_ORDER,
    THICK,
    THIN,
    emphasis,
    optimizer_colors,
    optimizer_order,
    palette,
)

CELLS = [("mlp", "mnist1d"), ("cnn", "cifar10")]
OPTIMIZERS = ["adam", "bamsprod", "bop"]
STEPS = [0, 10, 20, 30, 40]
DIVERGED = ("mlp", "mnist1d", "adam", 1)  # stops after step 20
FAILED = ("cnn", "cifar10", "bop", 1)
MAX_BYTES = 200_000


def accuracy(cell: int, optimizer: str, seed: int, step: int) -> float:
    """Hand-made curves; in cell 1 BAMSProd's two seeds are identical (zero-width band)."""
    base = 0.1 + 0.8 * step / STEPS[-1] * (0.9 if optimizer == "bop" else 1.0)
    if cell == 1 and optimizer == "bamsprod":
        return base
    return base + 0.02 * seed - 0.01 * OPTIMIZERS.index(optimizer)


def seconds_per_step(optimizer: str, seed: int) -> float:
    return {"adam": 0.5, "bamsprod": 2.0, "bop": 1.0}[optimizer] * (1.0 + 0.5 * seed)


def run_id(cell: int, optimizer: str, seed: int) -> str:
    return f"c{cell}-{optimizer}-s{seed}"


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    runs, values = [], []
    for c, (model, dataset) in enumerate(CELLS):
        for optimizer in OPTIMIZERS:
            for seed in (0, 1):
                rid = run_id(c, optimizer, seed)
                key = (model, dataset, optimizer, seed)
                status = (
                    "diverged" if key == DIVERGED else "failed" if key == FAILED else "completed"
                )
                steps = [s for s in STEPS if s <= 20] if status == "diverged" else STEPS
                final = accuracy(c, optimizer, seed, steps[-1])
                runs.append(
                    {
                        "run_id": rid, "task": "train", "status": status, "model": model,
                        "dataset": dataset, "optimizer": optimizer, "seed": seed,
                        "steps": steps[-1], "train_seconds": steps[-1] * 1.0, "eval_seconds": 1.0,
                        "summary.final_test_accuracy": final,
                    }
                )  # fmt: skip

                def add(step: int, split: str, name: str, value: float, rid: str = rid) -> None:
                    values.append((rid, step, step / 40, split, name, value))

                for step in steps:
                    add(step, "test", "accuracy", accuracy(c, optimizer, seed, step))
                    add(step, "test", "loss", 2.0 - step / 40)
                    add(step, "", "train_seconds", step * seconds_per_step(optimizer, seed))
                    add(step, "", "lr", 1e-3)
                    # flip rate spans > 2 decades in cell 0 (log axis), not in cell 1
                    flips = 0.2 * (0.001 if c == 0 else 0.5) ** (step / 40)
                    add(step, "", "flip_rate", 0.0 if step == 0 else flips)
                    if optimizer.startswith("bop"):
                        add(step, "", "quantization_error", 0.0)
                        add(step, "", "saturation", 1.0)  # +-1 weights: skipped in the figure
                    else:
                        add(step, "", "quantization_error", 0.5 - step / 100)
                        add(step, "", "saturation", step / 200)
                    if optimizer == "bamsprod" and step > 0:
                        add(step, "", "bamsprod_lower", 1e-4 * (1 - 1 / (1 + step)))
                        add(step, "", "bamsprod_upper", 1e-2 * (1 + 1 / step))
                        add(step, "", "bamsprod_error", 0.3)
    runs_df = pd.DataFrame(runs)
    values_df = pd.DataFrame(values, columns=["run_id", "step", "epoch", "split", "name", "value"])
    return runs_df, values_df


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    rows = []
    spaces = {
        "adam": {"lr": [1e-4, 1e-3, 1e-2, 1e-1], "schedule": ["cosine", "none", "cosine", "none"]},
        "bamsprod": {"lr": [3e-4, 3e-3, 3e-2, 3e-1]},
        "bop": {"threshold": [1e-8, 1e-7, 1e-6, 1e-5], "gamma": [1e-5, 1e-4, 1e-3, 1e-2]},
    }
    for model, dataset in CELLS:
        for optimizer, space in spaces.items():
            scores = [0.5, 0.7, 0.6, 0.0] if optimizer != "bop" else [0.4, math.nan, 0.8, 0.3]
            best = int(np.nanargmax(scores))
            for t in range(4):
                status = "completed"
                if optimizer != "bop" and t == 3:
                    status = "diverged"
                if optimizer == "bop" and t == 1:
                    status = "failed"
                rows.append(
                    {
                        "model": model, "dataset": dataset, "optimizer": optimizer, "trial": t,
                        **{f"param.{k}": v[t] for k, v in space.items()},
                        "status": status, "score": scores[t], "score_sd": math.nan, "seeds": 1,
                        "rung": 1, "epochs": 2, "stopped": False, "epochs_spent": 2,
                        "seconds": 1.5, "run_id": f"{model}-{optimizer}-t{t}", "best": t == best,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def check_png(path: Path | None) -> None:
    assert path is not None and path.is_file()
    size = path.stat().st_size
    assert 0 < size < MAX_BYTES, f"{path.name}: {size} bytes"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert 0 < image.width <= 1600, f"{path.name}: {image.width} px wide"


def band(bands: pd.DataFrame, cell: int, optimizer: str) -> pd.DataFrame:
    model, dataset = CELLS[cell]
    pick = (
        (bands["model"] == model)
        & (bands["dataset"] == dataset)
        & (bands["optimizer"] == optimizer)
    )
    return bands[pick].set_index("x")


# ----------------------------------------------------------------------------- colours
def test_registry_order_and_latent_free_match_the_registry() -> None:
    from benchmark.optim import OPTIMIZERS, is_latent_free

    assert list(REGISTRY_ORDER) == list(OPTIMIZERS)
    assert {n for n in OPTIMIZERS if is_latent_free(n)} == figures.LATENT_FREE


def test_optimizer_colors_are_assigned_to_the_optimizers_present() -> None:
    from report.palette import COLORS

    every = optimizer_colors(REGISTRY_ORDER)
    assert len(set(every.values())) == len(REGISTRY_ORDER)  # ten distinct colours
    # BAMSProd and the reference take the first two colours, whoever else is present
    for names in (["bamsprod", "bop"], ["sgd", "bop", "bamsprod"], REGISTRY_ORDER):
        colors = optimizer_colors(names, "bop")
        assert (colors["bamsprod"], colors["bop"]) == COLORS[:2]
    assert optimizer_colors(["adam", "sgd"], "sgd")["sgd"] == COLORS[0]  # no BAMSProd: first
    # an absent optimizer holds no colour: the others follow in the registry's order
    assert list(optimizer_colors(["sgd", "adam", "bamsprod"], "bop").values()) == list(COLORS[:3])
    assert optimizer_colors(["bop", "adam"]) == optimizer_colors(["adam", "bop", "adam"])
    # a defaults row keeps its optimizer's colour
    assert optimizer_colors(["adam", "adam (defaults)"])["adam (defaults)"] == COLORS[0]
    # names the registry does not know come after the known ones, sorted
    plug = optimizer_colors(["pkg.mod:Opt", "adam", "another"])
    assert list(plug) == ["adam", "another", "pkg.mod:Opt"]
    assert list(plug.values()) == list(COLORS[:3])
    assert optimizer_order(["sgd", "x", "bamsprod"]) == ["bamsprod", "sgd", "x"]
    assert palette(["sgd", "bamsprod"]) == {"sgd": COLORS[1], "bamsprod": COLORS[0]}


def test_emphasis() -> None:
    assert emphasis("bamsprod", "bop")["linewidth"] == THICK
    assert emphasis("bop", "bop")["linewidth"] == THICK
    assert emphasis("adam", "bop")["linewidth"] == THIN
    assert emphasis("adam", "bop")["zorder"] < emphasis("bamsprod", "bop")["zorder"]
    assert emphasis("BAMSProd")["linewidth"] == THICK


# ----------------------------------------------------------------------------- curve data
def test_curve_bands_by_step(frames: tuple) -> None:
    runs, values = frames
    bands = curve_bands(runs, values, x="step")
    assert list(bands.columns) == figures.BAND_COLUMNS
    # hand-computed mean over the two seeds
    adam = band(bands, 1, "adam")
    expected = (accuracy(1, "adam", 0, 10) + accuracy(1, "adam", 1, 10)) / 2
    assert adam.loc[10.0, "mean"] == pytest.approx(expected)
    assert adam.loc[10.0, "n"] == 2
    assert adam.loc[10.0, "low"] <= expected <= adam.loc[10.0, "high"]
    assert adam.loc[10.0, "low"] < adam.loc[10.0, "high"]
    # identical seeds: a zero-width band at every point
    same = band(bands, 1, "bamsprod")
    assert list(same.index) == [float(s) for s in STEPS]
    assert (same["low"] == same["high"]).all()
    np.testing.assert_allclose(same["mean"], [accuracy(1, "bamsprod", 0, s) for s in STEPS])
    np.testing.assert_allclose(same["low"], same["mean"])
    # the diverged seed counts until it stops: after step 20 only seed 0, no band
    diverged = band(bands, 0, "adam")
    assert list(diverged["n"]) == [2, 2, 2, 1, 1]
    assert diverged.loc[40.0, "mean"] == pytest.approx(accuracy(0, "adam", 0, 40))
    assert diverged.loc[[30.0, 40.0], ["low", "high"]].isna().all().all()
    # the failed run is left out although it has values
    assert (band(bands, 1, "bop")["n"] == 1).all()


def test_curve_bands_by_seconds_use_train_seconds(frames: tuple) -> None:
    runs, values = frames
    bands = curve_bands(runs, values, x="seconds")
    same = band(bands, 1, "bamsprod")  # both seeds identical accuracy, 2 s / 3 s per step
    # the curve ends at the shortest completed run: 40 steps * 2.0 s
    assert same.index.max() == pytest.approx(40 * seconds_per_step("bamsprod", 0))
    assert same.index.min() == 0.0
    # each seed interpolated in its own time: accuracy(step = t / seconds_per_step)
    ts = same.index.to_numpy()
    acc = [
        [
            np.interp(t / seconds_per_step("bamsprod", seed), STEPS,
                      [accuracy(1, "bamsprod", seed, s) for s in STEPS])
            for seed in (0, 1)
        ]
        for t in ts
    ]  # fmt: skip
    np.testing.assert_allclose(same["mean"], np.mean(acc, axis=1))
    # the grid of a cell is common to its optimizers
    adam = band(bands, 1, "adam")
    longest = 40 * seconds_per_step("bamsprod", 1)  # the cell's longest drawn run
    grid = set(np.linspace(0, longest, figures.GRID_POINTS))
    end = 40 * seconds_per_step("adam", 0)
    assert set(adam.index) == {t for t in grid if t <= end} | {end}
    # a diverged run counts over its own time span only
    diverged = band(bands, 0, "adam")
    stop = 20 * seconds_per_step("adam", 1)
    assert (diverged.loc[diverged.index <= stop, "n"] == 2).all()
    assert (diverged.loc[diverged.index > stop, "n"] == 1).all()
    assert not bands.equals(curve_bands(runs, values, x="step"))


def test_curve_bands_empty_and_bad_x(frames: tuple) -> None:
    runs, values = frames
    assert curve_bands(runs.iloc[0:0], values).empty
    assert curve_bands(runs, values.iloc[0:0], x="seconds").empty
    with pytest.raises(ValueError, match="x must be one of"):
        curve_bands(runs, values, x="epoch")


# ----------------------------------------------------------------------------- figures
def test_learning_curves(frames: tuple, tmp_path: Path) -> None:
    runs, values = frames
    steps = learning_curves(runs, values, tmp_path, x="step", reference="bop")
    seconds = learning_curves(runs, values, tmp_path, x="seconds", reference="bop")
    assert steps == tmp_path / "figures" / "learning_curves_steps.png"
    assert seconds == tmp_path / "figures" / "learning_curves_seconds.png"
    check_png(steps)
    check_png(seconds)
    assert learning_curves(runs.iloc[0:0], values, tmp_path) is None
    assert learning_curves(runs, values.iloc[0:0], tmp_path, x="seconds") is None
    only_failed = runs.assign(status="failed")
    assert learning_curves(only_failed, values, tmp_path) is None


def test_diagnostics_figure(frames: tuple, tmp_path: Path) -> None:
    runs, values = frames
    path = diagnostics_figure(runs, values, tmp_path)
    assert path == tmp_path / "figures" / "bnn_diagnostics.png"
    check_png(path)
    assert diagnostics_figure(runs.iloc[0:0], values, tmp_path) is None
    assert diagnostics_figure(runs, values.iloc[0:0], tmp_path) is None
    # only Bop and no saturation stored: still drawn (flip rate, quantization error)
    bop = runs[runs["optimizer"] == "bop"]
    no_sat = values[values["name"] != "saturation"]
    check_png(diagnostics_figure(bop, no_sat, tmp_path / "bop"))
    # no diagnostics stored at all
    curves_only = values[values["split"] != ""]
    assert diagnostics_figure(runs, curves_only, tmp_path) is None


def test_bamsprod_range_figure(frames: tuple, tmp_path: Path) -> None:
    runs, values = frames
    path = bamsprod_range_figure(runs, values, tmp_path)
    assert path == tmp_path / "figures" / "bamsprod_range.png"
    check_png(path)
    no_bamsprod = runs[runs["optimizer"] != "bamsprod"]
    assert bamsprod_range_figure(no_bamsprod, values, tmp_path / "none") is None
    assert not (tmp_path / "none").exists()
    assert bamsprod_range_figure(runs.iloc[0:0], values, tmp_path) is None


def test_performance_profile_figure(tmp_path: Path) -> None:
    taus = np.geomspace(1.0, 4.0, 20)
    profile = pd.DataFrame(
        [
            {"optimizer": opt, "tau": t, "fraction": min(1.0, frac * t)}
            for opt, frac in (("bamsprod", 0.5), ("adam", 0.25), ("bop", 0.4))
            for t in taus
        ]
    )
    path = performance_profile_figure(
        profile, tmp_path, name="profile_final_error", xlabel="tau (final test error / best)"
    )
    assert path == tmp_path / "figures" / "profile_final_error.png"
    check_png(path)
    empty = profile.iloc[0:0]
    assert performance_profile_figure(empty, tmp_path, name="p", xlabel="tau") is None
    assert performance_profile_figure(None, tmp_path, name="p", xlabel="tau") is None


def test_sensitivity_figure(trials: pd.DataFrame, tmp_path: Path) -> None:
    path = sensitivity_figure(trials, tmp_path, log_params=("lr", "param.threshold", "gamma"))
    assert path == tmp_path / "figures" / "tuning_sensitivity.png"
    check_png(path)
    assert sensitivity_figure(trials.iloc[0:0], tmp_path) is None
    assert sensitivity_figure(None, tmp_path) is None
    assert sensitivity_figure(trials.assign(score=math.nan), tmp_path) is None


def test_expected_max_figure(trials: pd.DataFrame, tmp_path: Path) -> None:
    from report.stats import expected_max_curve

    rows = []
    for (model, dataset, optimizer), group in trials.groupby(["model", "dataset", "optimizer"]):
        curve = expected_max_curve(group["score"].to_numpy(dtype=float))
        rows += [
            {"model": model, "dataset": dataset, "optimizer": optimizer, "k": k + 1,
             "expected_max": float(v)}
            for k, v in enumerate(curve)
        ]  # fmt: skip
    path = expected_max_figure(pd.DataFrame(rows), tmp_path)
    assert path == tmp_path / "figures" / "tuning_expected_max.png"
    check_png(path)
    empty = pd.DataFrame(columns=["model", "dataset", "optimizer", "k", "expected_max"])
    assert expected_max_figure(empty, tmp_path) is None


@pytest.mark.slow  # 11 s under load (figures of a large synthetic suite)
def test_a_larger_suite_stays_small(frames: tuple, tmp_path: Path) -> None:
    """Six cells and ten optimizers: every figure still well under the size budget."""
    runs, values = frames
    many_runs, many_values = [], []
    for i in range(3):
        for opt in REGISTRY_ORDER:
            ids = {r: f"{r}-{i}-{opt}" for r in runs["run_id"]}
            many_runs.append(
                runs.assign(
                    run_id=runs["run_id"].map(ids),
                    model=runs["model"] + str(i),
                    optimizer=runs["optimizer"].where(runs["optimizer"] != "adam", opt),
                )
            )
            many_values.append(values.assign(run_id=values["run_id"].map(ids)))
    big_runs = pd.concat(many_runs, ignore_index=True)
    big_values = pd.concat(many_values, ignore_index=True)
    for path in (
        learning_curves(big_runs, big_values, tmp_path, x="step"),
        learning_curves(big_runs, big_values, tmp_path, x="seconds"),
        diagnostics_figure(big_runs, big_values, tmp_path),
        bamsprod_range_figure(big_runs, big_values, tmp_path),
    ):
        check_png(path)


# ----------------------------------------------------------------------------- issue 20
def test_a_profile_step_at_the_largest_ratio_is_drawn_inside_the_frame() -> None:
    """SGD reaches every cell only at the largest ratio: its last step must be visible."""
    import matplotlib.pyplot as plt

    from report.figures.profiles import BEYOND, draw_profile

    profile = pd.DataFrame(
        [("bop", 1.0, 0.5), ("bop", 2.0, 1.0), ("bop", 4.0, 1.0),
         ("sgd", 1.0, 0.25), ("sgd", 2.0, 0.75), ("sgd", 4.0, 1.0)],
        columns=["optimizer", "tau", "fraction"],
    )  # fmt: skip
    fig, ax = plt.subplots()
    end = draw_profile(ax, profile)
    assert end == pytest.approx(4.0 * BEYOND) and ax.get_xlim()[1] == pytest.approx(end)
    sgd = ax.get_lines()[1]  # drawn in palette order: bop (the reference), then sgd
    xs, ys = np.asarray(sgd.get_xdata(), float), np.asarray(sgd.get_ydata(), float)
    assert xs.max() > 4.0  # the line goes on past the step at tau = 4 ...
    assert ys[xs > 4.0].tolist() == [1.0]  # ... at the fraction it stepped up to
    assert ys[xs == 4.0].tolist() == [1.0] and ys[xs == 2.0].tolist() == [0.75]
    plt.close(fig)


def test_not_applicable_diagnostics_are_omitted_not_drawn_as_zero(frames: tuple) -> None:
    from report.figures.diagnostics import diagnostic_panels, diagnostic_series

    runs, values = frames
    series = diagnostic_series(runs, values)
    bop = series[series["optimizer"] == "bop"]
    # Bop has no latent weights: its stored quantization error (0) and saturation (1) are gone
    assert set(bop["name"]) == {"flip_rate"}
    assert {"quantization_error", "saturation"} <= set(series["name"])
    panels, dropped = diagnostic_panels(series)
    assert len(panels) == 6 and dropped == []  # 2 cells x 3 diagnostics with information
    # a diagnostic at 0 throughout carries no information: no panel, a note instead
    flat = series.assign(value=series["value"].where(series["name"] != "saturation", 0.0))
    panels, dropped = diagnostic_panels(flat)
    assert [name for _, name in panels].count("saturation") == 0 and len(dropped) == 2
    assert dropped[0] == "cnn / cifar10: latent saturation 0 throughout"


def test_tuned_and_defaults_rows_get_their_own_panels() -> None:
    from report.figures.curves import _panels, _targets

    cells = [("mlp", "digits"), ("cnn", "cifar10")]
    tuned = _panels(["adam", "bop"], cells)
    assert [p[2] for p in tuned] == ["mlp / digits", "cnn / cifar10"]
    both = _panels(["adam", "adam (defaults)", "bop"], cells)
    assert [(p[0], p[1]) for p in both] == [
        (cells[0], False), (cells[0], True), (cells[1], False), (cells[1], True)
    ]  # fmt: skip
    assert both[1][2] == "mlp / digits: at defaults"
    assert _targets({cells[0]: 0.9, cells[1]: math.nan}, cells) == {cells[0]: 0.9}
    assert _targets(0.8, cells) == {cells[0]: 0.8, cells[1]: 0.8}
    assert _targets(None, cells) == {}


def test_learning_curves_with_a_target_and_loss_curves(frames: tuple, tmp_path: Path) -> None:
    runs, values = frames
    targets = {CELLS[0]: 0.85, CELLS[1]: 0.9}
    check_png(learning_curves(runs, values, tmp_path, target=targets))
    path = figures.loss_curves(runs, values, tmp_path, split="test")
    assert path == tmp_path / "figures" / "loss_test.png"
    check_png(path)
    assert figures.loss_curves(runs, values, tmp_path, split="train") is None  # none stored


def test_figures_drawn_in_parallel_are_the_files_drawn_serially(
    frames: tuple, tmp_path: Path
) -> None:
    from report.figure_pool import parallel_figures

    runs, values = frames
    serial = diagnostics_figure(runs, values, tmp_path / "serial")
    with parallel_figures(workers=2) as workers:
        parallel = diagnostics_figure(runs, values, tmp_path / "parallel")
        learning_curves(runs, values, tmp_path / "parallel")
    assert workers == 2
    assert parallel.read_bytes() == serial.read_bytes()
    assert (tmp_path / "parallel" / "figures" / "learning_curves_steps.png").is_file()
    with parallel_figures(enabled=False) as workers:
        assert workers == 0


def test_a_loss_above_one_is_inside_its_axis_and_log_axes_carry_enough_labels() -> None:
    """The y zoom caps an accuracy or an error at 1, never a loss (a cross-entropy of 1.5 to
    2.4 was drawn outside an axis ending at 1); a log axis spanning less than a decade
    labels more than one tick."""
    import matplotlib.pyplot as plt

    from report.figures.curves import _zoom

    fig, (loss, error, accuracy) = plt.subplots(1, 3)
    try:
        loss.set_yscale("log")
        _zoom(loss, np.array([1.5, 2.4]), log=True, ceiling=None)
        low, high = loss.get_ylim()
        assert low < 1.5 and high > 2.4
        error.set_yscale("log")
        _zoom(error, np.array([0.077, 0.085, 0.1]), log=True)
        low, high = error.get_ylim()
        assert low < 0.077 and high == pytest.approx(0.13)  # 0.1 x 1.3, under the cap of 1
        fig.canvas.draw()
        labels = [t.get_text() for t in error.get_yticklabels() if t.get_text()]
        shown = [float(t) for t in labels if low <= float(t) <= high]
        assert {0.06, 0.07, 0.08, 0.09, 0.1} <= set(shown), labels
        _zoom(accuracy, np.array([0.95, 0.999]), log=False)
        assert accuracy.get_ylim()[1] == 1.0  # an accuracy: capped at 1
    finally:
        plt.close(fig)
