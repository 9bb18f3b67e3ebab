"""The micro-benchmark gate (benchmark/perf_gate.py): saving step-time ratios, comparing them
with a baseline (worked by hand), the committed baseline, and the CLI's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmark.perf_gate import (
    DEFAULT_SETS,
    DEFAULT_THRESHOLD,
    PASS_MODELS,
    PASSES,
    SCHEMA_VERSION,
    SET_EXTRAS,
    SET_REPEATS,
    SIGN_ENTRY,
    PerfGateError,
    Regression,
    compare_ratios,
    load_ratios,
    main,
    save_ratios,
    set_entries,
)

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "suites" / "baselines" / "optim_ratios.json"


def doc(ratios: dict[str, dict[str, float]], **overrides: Any) -> dict[str, Any]:
    """A valid ratios document with these ratios."""
    return {
        "schema_version": SCHEMA_VERSION,
        "torch": "2.x",
        "cpu": "test CPU",
        "threads": 1,
        "clock": "cpu",
        "repeats": 10,
        "ratios": ratios,
        **overrides,
    }


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


# ------------------------------------------------------------------ compare, by hand


def test_growth_under_the_threshold_passes() -> None:
    # bamsprod 1.0 -> 1.4: 1.4 / 1.0 = 1.4 <= 1.5; sgd 0.5 -> 0.5: 1.0
    regressions, report = compare_ratios(
        doc({"mlp": {"bamsprod": 1.4, "sgd": 0.5}}),
        doc({"mlp": {"bamsprod": 1.0, "sgd": 0.5}}),
        threshold=1.5,
    )
    assert regressions == []
    assert "| mlp | bamsprod | 1.00x | 1.40x | 1.40 | ok |" in report
    assert "| mlp | sgd | 0.50x | 0.50x | 1.00 | ok |" in report
    assert "No regression" in report


def test_growth_over_the_threshold_is_flagged() -> None:
    # bamsprod 1.0 -> 1.6: 1.6 > 1.5; bop 0.8 -> 1.0: 1.25, fine
    regressions, report = compare_ratios(
        doc({"mlp": {"bamsprod": 1.6, "bop": 1.0}}),
        doc({"mlp": {"bamsprod": 1.0, "bop": 0.8}}),
        threshold=1.5,
    )
    assert regressions == [Regression("mlp", "bamsprod", 1.0, 1.6)]
    assert regressions[0].factor == pytest.approx(1.6)
    assert "| mlp | bamsprod | 1.00x | 1.60x | 1.60 | **REGRESSION** |" in report
    assert "| mlp | bop | 0.80x | 1.00x | 1.25 | ok |" in report
    assert "**1 regression(s)**" in report
    assert "mlp/bamsprod: 1.00x -> 1.60x Adam (1.60x slower)" in report


def test_the_threshold_itself_passes_and_faster_is_fine() -> None:
    # exactly 1.5x is not "more than" 1.5x; 1.2 -> 0.6 (0.5x) is faster, never flagged
    regressions, report = compare_ratios(
        doc({"mlp": {"adam": 1.5, "radam": 0.6}}),
        doc({"mlp": {"adam": 1.0, "radam": 1.2}}),
    )
    assert DEFAULT_THRESHOLD == 1.5
    assert regressions == []
    assert "| mlp | radam | 1.20x | 0.60x | 0.50 | faster |" in report


def test_a_vanished_optimizer_or_set_is_flagged_a_new_one_is_not() -> None:
    regressions, report = compare_ratios(
        doc({"mlp": {"bamsprod": 1.0, "lion": 0.7}}),
        doc({"mlp": {"bamsprod": 1.0, "bop": 0.8}, "resnet18": {"bop": 0.75}}),
    )
    assert regressions == [
        Regression("mlp", "bop", 0.8, None),
        Regression("resnet18", "bop", 0.75, None),
    ]
    assert regressions[0].factor is None and "vanished" in str(regressions[0])
    assert "| mlp | bop | 0.80x | - | - | **vanished** |" in report
    assert "| mlp | lion | - | 0.70x | - | new |" in report
    assert "**2 regression(s)**" in report


def test_a_wrong_schema_version_is_an_error() -> None:
    good = doc({"mlp": {"adam": 1.0}})
    for bad in (doc({"mlp": {"adam": 1.0}}, schema_version=SCHEMA_VERSION + 1), {"ratios": {}}):
        with pytest.raises(PerfGateError, match="schema_version"):
            compare_ratios(bad, good)
        with pytest.raises(PerfGateError, match="schema_version"):
            compare_ratios(good, bad)


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ({}, "'ratios' must map"),
        ({"mlp": {}}, "must map optimizers"),
        ({"mlp": {"adam": 0}}, "not a positive finite number"),
        ({"mlp": {"adam": "1.2"}}, "not a positive finite number"),
        ({"mlp": {"adam": float("nan")}}, "not a positive finite number"),
        ({"mlp": {"adam": True}}, "not a positive finite number"),
    ],
)
def test_malformed_ratios_are_an_error(ratios: dict, message: str) -> None:
    with pytest.raises(PerfGateError, match=message):
        compare_ratios(doc(ratios), doc({"mlp": {"adam": 1.0}}))


def test_incomparable_settings_and_bad_thresholds_are_errors() -> None:
    base = doc({"mlp": {"adam": 1.0}})
    with pytest.raises(PerfGateError, match="clock 'wall'.*not comparable"):
        compare_ratios(doc({"mlp": {"adam": 1.0}}, clock="wall", threads=2), base)
    with pytest.raises(PerfGateError, match="threads 2"):
        compare_ratios(doc({"mlp": {"adam": 1.0}}, threads=2), base)
    for threshold in (1.0, 0.5, float("inf"), float("nan")):
        with pytest.raises(PerfGateError, match="threshold"):
            compare_ratios(base, base, threshold=threshold)


# ------------------------------------------------------------------------- saving


def test_saved_ratios_round_trip(tmp_path: Path) -> None:
    """The pure part: a measured dict written with its settings, read back identical."""
    measured = {"mlp": {"bamsprod": (1.19, 1.4912), "sgd": (0.34, 0.48)}}
    out = tmp_path / "deep" / "ratios.json"
    document = save_ratios(out, repeats=7, measured=measured)
    loaded = load_ratios(out)
    assert loaded == document
    assert loaded["schema_version"] == SCHEMA_VERSION
    assert loaded["ratios"] == {"mlp": {"bamsprod": 1.4912, "sgd": 0.48}}
    assert loaded["step_ms"] == {"mlp": {"bamsprod": 1.19, "sgd": 0.34}}
    assert (loaded["repeats"], loaded["clock"], loaded["threads"]) == (7, "cpu", 1)
    assert loaded["torch"] and loaded["cpu"]
    assert compare_ratios(out, out)[0] == []
    assert list(tmp_path.rglob("*.tmp")) == []  # written atomically, nothing left behind


def test_save_rejects_bad_settings(tmp_path: Path) -> None:
    measured = {"mlp": {"adam": (1.0, 1.0)}}
    with pytest.raises(PerfGateError, match="one thread"):
        save_ratios(tmp_path / "r.json", threads=2, measured=measured)
    with pytest.raises(PerfGateError, match="repeats"):
        save_ratios(tmp_path / "r.json", repeats=0, measured=measured)
    assert not (tmp_path / "r.json").exists()


def test_cli_save_measures_and_compare_passes_against_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny real measurement (2 steps of two optimizers on the mlp set), through the CLI."""
    out = tmp_path / "ratios.json"
    args = ["--repeats", "2", "--rounds", "1", "--sets", "mlp", "--only", "sgd", "bop"]
    assert main(["save", str(out), *args]) == 0
    assert f"saved {out}" in capsys.readouterr().out
    saved = load_ratios(out)
    assert set(saved["ratios"]) == {"mlp"} and set(saved["ratios"]["mlp"]) == {"sgd", "bop"}
    assert saved["repeats"] == 2 and saved["clock"] == "cpu" and saved["threads"] == 1
    assert saved["set_repeats"] == {"mlp": 2}
    assert all(ms > 0 for ms in saved["step_ms"]["mlp"].values())
    assert main(["compare", str(out), str(out)]) == 0
    assert main(["save", str(tmp_path / "x.json"), "--repeats", "1", "--only", "nope"]) == 2
    assert "perf_gate: error:" in capsys.readouterr().err


def test_the_cpp_kernels_are_measured_on_the_11m_set(tmp_path: Path) -> None:
    """The gate's 11M entries ``bamsprod[fused=True]`` and ``bop[fused=True]``, measured for
    real (1 timing, 1 round): they take the C++ kernels (the compiled-call counter grows by
    the tensors they update) and give positive finite ratios."""
    from benchmark.optim import fused

    extras = list(SET_EXTRAS["resnet18"])
    calls = fused.compiled_calls()
    out = tmp_path / "cpp.json"
    args = ["--sets", "resnet18", "--repeats", "1", "--rounds", "1", "--only", *extras]
    assert main(["save", str(out), *args]) == 0
    assert fused.compile_failure() is None
    # 4 steps each (3 warm-up, 1 timed): BAMSProd's 62 tensors, Bop's 16 binary ones
    assert fused.compiled_calls() - calls == 4 * (62 + 16)
    saved = load_ratios(out)
    assert set(saved["ratios"]["resnet18"]) == set(extras)
    assert all(ms > 0 for ms in saved["step_ms"]["resnet18"].values())


def test_a_real_training_pass_measurement(tmp_path: Path) -> None:
    """The forward+backward set, measured for real (1 timing, 1 round): one ratio per model
    and one for the sign, binary pass / twin pass, positive and finite."""
    out = tmp_path / "passes.json"
    assert main(["save", str(out), "--sets", PASSES, "--repeats", "1", "--rounds", "1"]) == 0
    saved = load_ratios(out)
    assert set(saved["ratios"]) == {PASSES}
    assert set(saved["ratios"][PASSES]) == {"mlp", "cnn1d", SIGN_ENTRY}
    assert all(ms > 0 for ms in saved["step_ms"][PASSES].values())


def test_the_training_pass_is_binary_against_its_twin() -> None:
    """What the passes compare: the binary model's pass runs the sign (its gradients reach
    the latent weights through the STE), the twin's has no binary layer at all."""
    import torch

    from benchmark.binary import binary_parameters
    from benchmark.perf_gate import sign_pair, training_pass

    for binary in (True, False):
        run = training_pass("mlp", binary)
        run()
        model = run.__closure__ and next(
            c.cell_contents for c in run.__closure__ if isinstance(c.cell_contents, torch.nn.Module)
        )
        assert model is not None
        assert bool(binary_parameters(model)) is binary
        assert all(p.grad is not None for p in model.parameters())
    signed, absolute = sign_pair()
    assert set(signed().unique().tolist()) == {-1.0, 1.0}
    assert bool((absolute() >= 0).all())


# ---------------------------------------------------------------------------- CLI


def test_cli_compare_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path / "base.json", doc({"mlp": {"bamsprod": 1.0, "bop": 0.8}}))
    ok = write(tmp_path / "ok.json", doc({"mlp": {"bamsprod": 1.4, "bop": 0.8}}))
    slow = write(tmp_path / "slow.json", doc({"mlp": {"bamsprod": 1.6, "bop": 0.8}}))
    gone = write(tmp_path / "gone.json", doc({"mlp": {"bamsprod": 1.0}}))
    old = write(tmp_path / "old.json", doc({"mlp": {"bamsprod": 1.0}}, schema_version=0))
    (tmp_path / "broken.json").write_text("{not json")

    assert main(["compare", str(ok), str(base)]) == 0
    assert "| mlp | bamsprod | 1.00x | 1.40x | 1.40 | ok |" in capsys.readouterr().out
    assert main(["compare", str(slow), str(base)]) == 1
    assert "**REGRESSION**" in capsys.readouterr().out
    assert main(["compare", str(slow), str(base), "--threshold", "1.7"]) == 0
    assert main(["compare", str(gone), str(base)]) == 1
    assert "**vanished**" in capsys.readouterr().out

    for args in (
        [str(old), str(base)],
        [str(tmp_path / "broken.json"), str(base)],
        [str(tmp_path / "missing.json"), str(base)],
        [str(ok), str(base), "--threshold", "0.9"],
    ):
        assert main(["compare", *args]) == 2, args
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.startswith("perf_gate: error: ")
        assert len(captured.err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as usage:
        main(["compare", str(ok)])
    assert usage.value.code == 2


def test_python_m_entry_point_compares_without_torch(tmp_path: Path) -> None:
    """``python -m benchmark.perf_gate compare`` exits with the gate's code and never imports
    torch (the comparison is cheap enough to run anywhere)."""
    base = write(tmp_path / "base.json", doc({"mlp": {"bamsprod": 1.0}}))
    slow = write(tmp_path / "slow.json", doc({"mlp": {"bamsprod": 1.6}}))
    code = (
        "import runpy, sys\n"
        "sys.argv = ['perf_gate', 'compare', sys.argv[1], sys.argv[2]]\n"
        "try:\n"
        "    runpy.run_module('benchmark.perf_gate', run_name='__main__')\n"
        "finally:\n"
        "    assert 'torch' not in sys.modules, 'compare imported torch'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(slow), str(base)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "**REGRESSION**" in done.stdout


# ------------------------------------------------------------- the committed baseline


def test_committed_baseline_is_valid_and_names_registered_optimizers() -> None:
    """The nightly gate measures every registered optimizer with the defaults of ``save``:
    the baseline must have been saved the same way, and name no optimizer that no longer
    exists (it would be flagged as vanished every night)."""
    from benchmark.optim import OPTIMIZERS

    baseline = load_ratios(BASELINE)
    assert (baseline["clock"], baseline["threads"]) == ("cpu", 1)
    assert set(baseline["ratios"]) == set(DEFAULT_SETS) == {"mlp", "resnet18", PASSES}
    assert set(baseline["ratios"]["mlp"]) == set(set_entries("mlp")) == set(OPTIMIZERS)
    # the 11M set: every optimizer and the C++ kernels of BAMSProd and Bop
    assert set(baseline["ratios"]["resnet18"]) == set(set_entries("resnet18"))
    assert (
        set(set_entries("resnet18")) - set(OPTIMIZERS)
        == set(SET_EXTRAS["resnet18"])
        == {
            "bamsprod[fused=True]",
            "bop[fused=True]",
        }
    )
    assert set(baseline["ratios"][PASSES]) == {*PASS_MODELS, SIGN_ENTRY}
    assert baseline["set_repeats"] == SET_REPEATS
