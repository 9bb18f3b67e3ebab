"""The compiled (fused) updates of BAMSProd, Bop and Bop2ndOrder against their eager paths.

Each optimizer runs 20 steps twice on the same random parameters and gradients, once with
``fused=True`` (the compiled update on tensors of at least ``fused_min_elements`` elements,
lowered here so small tensors compile quickly) and once with ``fused=False`` (the foreach
path, the reference): parameters and every state tensor agree to 1e-6 relative, flip counts
exactly, BAMSProd's diagnostics to 1e-6 relative (its compiled error sums in float64).
Compilation is per process and reused: the default run compiles five small functions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from benchmark.errors import BnnBenchError
from benchmark.optim import BAMSProd, Bop, Bop2ndOrder, make_optimizer, native, validate_hparams
from benchmark.optim import fused as fused_paths
from benchmark.optim.registry import COMPILED_MIN_ELEMENTS, implementation_of
from tests.conftest import assert_rel_close

REPO = Path(__file__).resolve().parents[1]
SMALL = 1000  # fused_min_elements in these tests: the (64, 3, 5, 5) and (128, 40) tensors compile
SHAPES = [(64, 3, 5, 5), (300,), (128, 40)]  # 4800, 300 (stays eager), 5120 elements
STEPS = 20


def _params(seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g) for s in SHAPES]


def _run(cls: type, fused: bool | None, *, binary_groups: bool = True, **options):
    """(params, optimizer, diagnostics per step) after STEPS steps with seeded gradients."""
    params = [p.clone() for p in _params()]
    if cls is BAMSProd and binary_groups:
        groups = [{"params": params[:2], "binary": True}, {"params": params[2:], "binary": False}]
    else:
        groups = params
    opt = cls(groups, fused=fused, **{"fused_min_elements": SMALL, **options})
    gen = torch.Generator().manual_seed(2)
    diagnostics = []
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen) * 1e-2
        opt.step()
        diagnostics.append(opt.diagnostics())
    return params, opt, diagnostics


def _same_states(fused_opt, eager_opt, fused_params, eager_params) -> None:
    for p, q in zip(fused_params, eager_params, strict=True):
        assert_rel_close(p, q)
        a, b = fused_opt.state[p], eager_opt.state[q]
        assert a.keys() == b.keys() and a["step"] == b["step"] == STEPS
        for key in a.keys() - {"step"}:
            assert_rel_close(a[key], b[key])


def _same_diagnostics(fused_diag: list[dict], eager_diag: list[dict], rel: float) -> None:
    assert len(fused_diag) == len(eager_diag) == STEPS
    for a, b in zip(fused_diag, eager_diag, strict=True):
        assert a.keys() == b.keys() and a
        for key in a:
            assert abs(a[key] - b[key]) <= rel * abs(b[key]), (key, a[key], b[key])


BAMSPROD_CASES = {
    "defaults": {},
    "decay+error_every": {"weight_decay": 0.1, "error_every": 3, "lr": 3e-3},
    "custom error": {"error": lambda p: (p.abs() - p.abs().mean()).abs().mean().clamp(0, 1)},
    "custom bound": {"bound": lambda t, e, eta, gamma: (0.5 * eta * (1 - e), eta * (1 + 1 / t))},
}
BAMSPROD_SLOW = {
    "maximize": {"maximize": True, "weight_decay": 0.05},
    "sign_l1": {"error": "sign_l1"},
}


@pytest.mark.parametrize(
    "options",
    [
        *BAMSPROD_CASES.values(),
        *(pytest.param(v, marks=pytest.mark.slow) for v in BAMSPROD_SLOW.values()),
    ],
    ids=[*BAMSPROD_CASES, *BAMSPROD_SLOW],
)
@pytest.mark.parametrize("kernel", ["c++", "inductor"])
def test_bamsprod_compiled_matches_eager(options: dict, kernel: str, monkeypatch) -> None:
    """Both kernels of the compiled path: the C++ one (float32 CPU tensors, the default)
    and torch.compile's (``BNNBENCH_NATIVE=0``; also every other dtype and device)."""
    monkeypatch.setattr(native, "ENABLED", kernel == "c++")
    calls = fused_paths.compiled_calls()
    fused_params, fused_opt, fused_diag = _run(BAMSProd, True, **options)
    assert fused_paths.compiled_calls() == calls + 2 * STEPS
    assert bool(native._MODULE) or kernel == "inductor"  # the C++ kernel ran
    eager_params, eager_opt, eager_diag = _run(BAMSProd, False, **options)
    assert fused_opt.implementation == "bnnbench compiled (2 tensors) + foreach (1 tensors)"
    assert eager_opt.implementation == "bnnbench foreach"
    _same_states(fused_opt, eager_opt, fused_params, eager_params)
    _same_diagnostics(fused_diag, eager_diag, rel=1e-6)
    # the updates really moved the weights (a test that cannot fail would pass on a no-op)
    assert all(not torch.equal(p, q) for p, q in zip(fused_params, _params(), strict=True))


BOP_CASES = [
    (Bop, {}),
    (Bop, {"threshold": 0.0, "gamma": 0.05, "lr": 0.5}),
    (Bop2ndOrder, {"threshold": 1e-3, "gamma": 1e-2, "bias_correction": True}),
]
BOP_SLOW = [(Bop2ndOrder, {"threshold": 0.0}), (Bop2ndOrder, {"threshold": 1e-4, "gamma": 1e-3})]


@pytest.mark.parametrize(
    ("cls", "options"),
    [*BOP_CASES, *(pytest.param(*case, marks=pytest.mark.slow) for case in BOP_SLOW)],
)
@pytest.mark.parametrize("kernel", ["c++", "inductor"])
def test_flip_optimizers_compiled_match_eager(
    cls: type, options: dict, kernel: str, monkeypatch
) -> None:
    """Bop's C++ kernel (float32 CPU, the default) and torch.compile's; Bop2ndOrder has
    torch.compile's only."""
    monkeypatch.setattr(native, "ENABLED", kernel == "c++")
    fused_params, fused_opt, fused_diag = _run(cls, True, **options)
    eager_params, eager_opt, eager_diag = _run(cls, False, **options)
    assert fused_opt.implementation == "bnnbench compiled (2 tensors) + foreach (1 tensors)"
    _same_states(fused_opt, eager_opt, fused_params, eager_params)
    assert fused_diag == eager_diag  # flip counts exactly equal
    assert sum(d["flips"] for d in eager_diag) > 0  # weights did flip
    for p in fused_params:
        assert set(p.unique().tolist()) <= {-1.0, 1.0}


# ------------------------------------------------------------------- when it falls back


def test_small_tensors_take_the_eager_path_with_identical_numbers(monkeypatch) -> None:
    """At torch.compile's default thresholds these tensors are all too small: ``fused=True``
    runs the very foreach code, so the numbers are bitwise those of ``fused=False``. The C++
    kernel of BAMSProd takes every float32 CPU tensor by default (native.MIN_ELEMENTS = 1),
    to the eager numbers within 1e-6."""
    assert native.MIN_ELEMENTS == 1
    fused_params, fused_opt, fused_diag = _run(BAMSProd, True, fused_min_elements=None)
    eager_params, eager_opt, eager_diag = _run(BAMSProd, False, fused_min_elements=None)
    assert fused_opt.implementation == "bnnbench compiled"
    _same_states(fused_opt, eager_opt, fused_params, eager_params)
    _same_diagnostics(fused_diag, eager_diag, rel=1e-6)
    monkeypatch.setattr(native, "ENABLED", False)
    assert max(p.numel() for p in _params()) < min(COMPILED_MIN_ELEMENTS.values())
    for cls in (BAMSProd, Bop, Bop2ndOrder):
        fused_params, fused_opt, fused_diag = _run(cls, True, fused_min_elements=None)
        eager_params, _, eager_diag = _run(cls, False, fused_min_elements=None)
        assert fused_opt.implementation == "bnnbench foreach"
        assert fused_diag == eager_diag
        assert all(torch.equal(p, q) for p, q in zip(fused_params, eager_params, strict=True))


def test_unsupported_options_take_the_eager_path() -> None:
    # lr = 0: BAMSProd's eager path updates the moments and leaves the weights
    _, opt, _ = _run(BAMSProd, True, lr=0.0)
    assert opt.implementation == "bnnbench foreach"
    # the per-tensor reference path stays what it is
    _, opt, _ = _run(BAMSProd, True, foreach=False)
    assert opt.implementation == "bnnbench per-tensor"
    _, opt, _ = _run(Bop, True, foreach=False)
    assert opt.implementation == "bnnbench per-tensor"
    # fused=False forbids it
    _, opt, _ = _run(Bop2ndOrder, False)
    assert opt.implementation == "bnnbench foreach"


def test_eligibility_rules() -> None:
    """What the compiled path takes: floating point, CPU/CUDA, large enough, contiguous."""
    x = torch.zeros(40, 50)
    assert fused_paths.eligible(x, 2000, torch.zeros(40, 50))
    assert not fused_paths.eligible(x, 2001)  # too small
    assert not fused_paths.eligible(torch.zeros(40, 50, dtype=torch.int32), 10)  # not float
    assert not fused_paths.eligible(torch.zeros(40, 50, device="meta"), 10)  # other device
    assert not fused_paths.eligible(x.t(), 10)  # not contiguous
    assert not fused_paths.eligible(x, 10, torch.zeros(50, 40).t())  # gradient not contiguous


def test_non_contiguous_gradient_falls_back_per_tensor() -> None:
    params = [p.clone() for p in _params()]
    opt = Bop(params, fused=True, fused_min_elements=SMALL)
    for p in params:
        p.grad = torch.randn(p.shape[::-1]).t() if p.dim() == 2 else torch.randn(p.shape)
    opt.step()
    assert opt.implementation == "bnnbench compiled (1 tensors) + foreach (2 tensors)"


def test_auto_rule_compiles_only_when_the_planned_run_amortises_it() -> None:
    """``fused=None``: compile iff planned_steps * saving per element * elements > the
    kernel's build seconds: 2 s for the C++ kernels (BAMSProd and Bop on float32 CPU
    tensors), 30 s for torch.compile (Bop2ndOrder; other dtypes)."""
    assert (fused_paths.NATIVE_BUILD_SECONDS, fused_paths.COMPILE_SECONDS) == (2.0, 30.0)
    saving = fused_paths.SAVING_SECONDS_PER_ELEMENT["bamsprod"]
    elements = 11_000_000
    break_even = fused_paths.COMPILE_SECONDS / (saving * elements)  # 30 / 0.0418 = 717.7
    assert not fused_paths.worth_compiling("bamsprod", elements, None)
    assert not fused_paths.worth_compiling("bamsprod", elements, int(break_even))
    assert fused_paths.worth_compiling("bamsprod", elements, int(break_even) + 1)
    # the C++ kernels' 2 s: 2 / 0.0418 = 47.8 steps
    assert not fused_paths.worth_compiling("bamsprod", elements, 47, cost=2.0)
    assert fused_paths.worth_compiling("bamsprod", elements, 48, cost=2.0)
    assert not fused_paths.worth_compiling("bop", 0, 10**9)
    # what each kernel is charged
    f32, f64 = [torch.zeros(3)], [torch.zeros(3, dtype=torch.float64)]
    assert fused_paths.build_seconds("bop", f32) == fused_paths.NATIVE_BUILD_SECONDS
    assert fused_paths.build_seconds("bop", f32 + f64) == fused_paths.COMPILE_SECONDS
    assert fused_paths.build_seconds("bop2nd", f32) == fused_paths.COMPILE_SECONDS
    # in an optimizer: unknown length -> eager; a long enough plan -> compiled
    _, opt, _ = _run(Bop, None)
    assert opt.implementation == "bnnbench foreach"
    eligible = SHAPES[0][0] * 75 + SHAPES[2][0] * 40  # 9920 elements, float32: C++ kernel
    per_step = fused_paths.SAVING_SECONDS_PER_ELEMENT["bop"] * eligible  # 1.488e-5 s
    enough = int(fused_paths.NATIVE_BUILD_SECONDS / per_step) + 1  # 134,409 steps
    _, opt, _ = _run(Bop, None, planned_steps=enough - 1)
    assert opt.implementation == "bnnbench foreach"
    _, opt, _ = _run(Bop, None, planned_steps=enough)
    assert opt.implementation == "bnnbench compiled (2 tensors) + foreach (1 tensors)"
    # Bop2ndOrder has torch.compile's kernel only: the same plan stays eager at 30 s
    _, opt, _ = _run(Bop2ndOrder, None, planned_steps=enough)
    assert opt.implementation == "bnnbench foreach"


def test_bad_fused_options_are_refused() -> None:
    with pytest.raises(BnnBenchError, match=r"BAMSProd: fused='yes' must be true, false or null"):
        BAMSProd([torch.zeros(3)], fused="yes")
    with pytest.raises(BnnBenchError, match=r"Bop: fused_min_elements=0 must be"):
        Bop([torch.zeros(3)], fused_min_elements=0)
    with pytest.raises(BnnBenchError, match=r"planned_steps=-1"):
        Bop2ndOrder([torch.zeros(3)], planned_steps=-1)
    with pytest.raises(BnnBenchError, match=r"optimizer 'bop': fused='auto' must be true, false"):
        validate_hparams("bop", {"fused": "auto"})


# ------------------------------------------------------------------- registry and environment


def test_registry_states_the_implementation() -> None:
    assert implementation_of("bamsprod") == "bnnbench foreach"
    assert implementation_of("bamsprod", fused=False) == "bnnbench foreach"
    assert (
        implementation_of("bamsprod", "cuda:0", fused=True)
        == "bnnbench compiled (tensors >= 65536 elements) + foreach"
    )
    assert implementation_of("bamsprod", fused=True) == (
        "bnnbench compiled (C++ kernel for float32) + foreach"
    )
    assert implementation_of("bop", fused=True) == (
        "bnnbench compiled (C++ kernel for float32) + foreach + adam: torch fused"
    )
    assert implementation_of("bop2nd", fused=True) == (
        "bnnbench compiled (tensors >= 131072 elements) + foreach + adam: torch fused"
    )
    assert implementation_of("bop2nd", "mps", fused=True).startswith("bnnbench foreach + adam")
    assert implementation_of("bamsprod", fused=True, compile_failure="X: no g++") == (
        "bnnbench foreach (compile failed: X: no g++)"
    )
    assert fused_paths.MIN_ELEMENTS is COMPILED_MIN_ELEMENTS


def test_registry_builds_the_compiled_optimizer() -> None:
    """``make_optimizer(..., fused=True)`` (a suite's ``fused: true``) reaches the optimizer:
    a BinaryLinear of 256 x 512 = 131072 weights is at both thresholds."""
    from benchmark.binary import BinaryLinear

    model = torch.nn.Sequential(torch.nn.Linear(8, 512), BinaryLinear(512, 256))
    expected = {
        "bamsprod": "bnnbench compiled",  # the C++ kernel takes every float32 CPU tensor
        "bop": "bnnbench compiled",  # Bop has the binary weight only; Adam the others
    }
    for name, implementation in expected.items():
        opt = make_optimizer(name, model, fused=True)
        model(torch.randn(4, 8)).sum().backward()
        opt.step()
        inner = opt.binary_optimizer if name == "bop" else opt
        assert inner.fused is True
        assert inner.implementation == implementation


# ------------------------------------------------------------------- compile unavailable

_NO_COMPILER = textwrap.dedent(
    """
    import json, warnings
    import torch
    from benchmark.optim import BAMSProd, Bop
    from benchmark.optim import fused

    def run(fused_flag):
        torch.manual_seed(0)
        p = torch.randn(64, 40)
        opt = BAMSProd([{"params": [p], "binary": True}], fused=fused_flag, fused_min_elements=10)
        for _ in range(3):
            p.grad = torch.randn_like(p)
            opt.step()
        return p, opt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p, opt = run(True)
        q = torch.ones(64, 40)
        bop = Bop([q], fused=True, fused_min_elements=10)
        q.grad = torch.randn_like(q)
        bop.step()
    reference, _ = run(False)
    print(json.dumps({
        "warnings": [str(w.message) for w in caught if w.category is fused.FusedFallbackWarning],
        "implementation": opt.implementation,
        "bop": bop.implementation,
        "failure": fused.compile_failure(),
        "equal": bool(torch.equal(p, reference)),
    }))
    """
)


def test_compile_failure_warns_once_and_runs_eagerly(tmp_path: Path) -> None:
    """A real failure: no C++ compiler (``CXX`` names a missing program) and empty inductor
    and extension caches, in a fresh process. The first compiled step warns once, that step and
    every later one (Bop's too) run the eager path, with the eager path's numbers."""
    env = {
        **os.environ,
        "CXX": str(tmp_path / "no-such-compiler"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),
        "BNNBENCH_CACHE_DIR": str(tmp_path / "bnnbench-cache"),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", _NO_COMPILER],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (warning,) = result["warnings"]  # BAMSProd builds the C++ kernel first
    assert warning.startswith("building the C++ kernels failed")
    assert result["failure"]
    assert result["implementation"] == "bnnbench foreach"
    assert result["bop"] == "bnnbench foreach"
    assert result["equal"] is True


def test_a_compiled_step_in_a_fresh_process_prints_nothing() -> None:
    """Bop2ndOrder's compiled step (torch.compile; no C++ kernel for it) on a CPU-only
    machine: no "No CUDA runtime is found" line (torch.utils.cpp_extension logs it on import)
    nor anything else on stderr, and the step took the compiled path."""
    code = textwrap.dedent(
        """
        import torch
        from benchmark.optim import Bop2ndOrder
        w = torch.randn(512, 512)
        opt = Bop2ndOrder([{"params": [w], "binary": True}], fused=True)
        for _ in range(2):
            w.grad = torch.randn_like(w)
            opt.step()
        print(opt.implementation)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "bnnbench compiled"
    assert done.stderr == "", done.stderr[-2000:]


# ------------------------------------------------------------------- runs pass their length


def _planned(cls_kind: str, model: torch.nn.Module, opt, planned: int) -> bool:
    """The auto rule's decision for ``opt`` built for ``model`` with ``planned`` steps."""
    assert opt.planned_steps == planned  # make_optimizer handed the run length on
    return fused_paths.use_fused(
        opt.fused, cls_kind, model.parameters, opt.fused_min_elements, opt.planned_steps
    )


def test_quick_suite_cell_plans_its_steps_and_stays_eager() -> None:
    """The quick suite's BAMSProd cell (mlp on mnist1d, 5 epochs of batch 64: 285 steps, as
    suites/quick.yaml states): the run passes 285 planned steps, which amortise not even the
    C++ kernels' build (285 x 3.8e-9 s x 65,536 eligible elements, the 256x256 layer, =
    0.07 s < 2 s), so the run records the eager implementation as before."""
    from benchmark.execute import run_unit
    from benchmark.records import RunSpec
    from benchmark.train import build_spec_model, load_spec_dataset

    spec = RunSpec(
        model="mlp", dataset="mnist1d", optimizer="bamsprod", epochs=5, batch_size=64, seed=0
    )
    dataset = load_spec_dataset(spec, None, False)
    steps = spec.trained_epochs * dataset.train.num_batches(spec.batch_size)
    assert steps == 285
    model = build_spec_model(spec, dataset)
    opt = make_optimizer("bamsprod", model, planned_steps=steps)
    assert not _planned("bamsprod", model, opt, steps)
    (record,) = run_unit([spec])
    assert record.status == "completed"
    assert record.environment["optimizer_implementation"] == "bnnbench foreach"


def test_long_large_run_would_compile() -> None:
    """The 11M-parameter ``resnet18`` set with a binary group: 100 epochs of 390 batches
    (CIFAR-10 at batch 128) plan 39,000 steps, 39,000 x 3.8e-9 s x 11.5M = 1,700 s saved
    against the C++ kernels' 2 s of building: compiled; 40 steps (1.7 s saved) stay eager.
    Bop's companion (Adam) gets no planned steps."""
    from benchmark.perf_gate import binary_resnet18_shapes

    model = binary_resnet18_shapes()
    eligible = sum(p.numel() for p in model.parameters() if p.numel() >= 65536)
    saving = fused_paths.SAVING_SECONDS_PER_ELEMENT["bamsprod"] * eligible
    assert 39_000 * saving > fused_paths.NATIVE_BUILD_SECONDS > 40 * saving
    assert _planned(
        "bamsprod", model, make_optimizer("bamsprod", model, planned_steps=39_000), 39_000
    )
    assert not _planned("bamsprod", model, make_optimizer("bamsprod", model, planned_steps=40), 40)
    case = make_optimizer("bop", model, planned_steps=39_000)
    assert case.binary_optimizer.planned_steps == 39_000
    assert "planned_steps" not in case.real_optimizer.defaults
    adam = make_optimizer("adam", model, planned_steps=39_000)  # torch's Adam: not handed on
    assert "planned_steps" not in adam.defaults


def test_a_run_records_the_compiled_path_the_auto_rule_chose(monkeypatch) -> None:
    """With the build cost set to 0 the auto rule compiles any eligible tensor: a Bop run
    (``fused`` unset) takes the compiled path (the C++ kernel: every float32 CPU tensor; the
    512x256 layer would be eligible for torch.compile's too), and its record says so (train
    passes the planned steps, run_unit sees the calls)."""
    from benchmark.execute import run_unit
    from benchmark.records import RunSpec

    monkeypatch.setattr(fused_paths, "NATIVE_BUILD_SECONDS", 0.0)
    spec = RunSpec(
        model="mlp",
        dataset="synthetic",
        optimizer="bop",
        model_options={"hidden": [512, 256]},
        dataset_options={"n_samples": 64, "n_features": 8, "n_classes": 3},
        epochs=1,
        batch_size=32,
        seed=0,
    )
    (record,) = run_unit([spec])
    assert record.status == "completed"
    assert record.environment["optimizer_implementation"] == (
        "bnnbench compiled (C++ kernel for float32) + foreach + adam: torch fused"
    )


def test_bamsprod_native_diagnostics_are_the_range_of_the_stored_errors_bit_for_bit() -> None:
    """When the C++ kernel steps every binary tensor with its error, the diagnostics come
    from Python floats: they equal, exactly, the range computed on float64 vectors from the
    errors stored in the state (the formula of the module docstring, as the foreach path
    computes it), for several steps and learning rates."""
    g = torch.Generator().manual_seed(5)
    binary = [torch.randn(s, generator=g) for s in [(16, 3, 3, 3), (40, 7), (9,), (33,)]]
    real = [torch.randn(12, generator=g)]
    opt = BAMSProd(
        [{"params": binary, "binary": True}, {"params": real}],
        lr=3e-3,
        final_lr=0.05,
        gamma=0.01,
        fused=True,
    )
    for step in range(1, 6):
        if step == 4:
            opt.param_groups[0]["lr"] = 1e-3  # eta = final_lr * lr / base_lr
        for p in binary + real:
            p.grad = torch.randn(p.shape, generator=g) * 1e-2
        opt.step()
        assert opt.implementation == "bnnbench compiled"
        e = torch.stack([opt.state[p]["error"] for p in binary]).to(torch.float64)
        t = torch.tensor([opt.state[p]["step"] for p in binary], dtype=torch.float64)
        eta, gamma = 0.05 * opt.param_groups[0]["lr"] / 3e-3, 0.01
        lower = eta * (1.0 - e / (gamma * t + 1.0))
        upper = eta * (1.0 + e / (gamma * t))
        assert opt.diagnostics() == {
            "bamsprod_error": float(e.mean()),
            "bamsprod_lower": float(lower.mean()),
            "bamsprod_upper": float(upper.mean()),
        }
