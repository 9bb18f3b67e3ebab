"""The C++ kernels' library (benchmark/optim/native.py): built with the system compiler into a
cache, loaded with ctypes, parallel with torch's thread count without changing a bit.

Their numbers against the eager optimizers are tested in tests/test_fused_optim.py; here:
thread-count independence (with torch's own OpenMP runtime busy in the same process), the
flip count and the error against independent computations, the cache (keyed, atomic, shared by
processes that build at once) and the refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from benchmark.optim import native

REPO = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


# one process, torch.set_num_threads(2): the kernels at 1 and 2 threads, torch's own parallel
# ops before, between and after them (its OpenMP pool is the one the kernels use)
_THREADS = textwrap.dedent(
    """
    import json, torch
    from benchmark.optim import native

    def busy():  # torch ops that run on torch's OpenMP threads
        x = torch.randn(3_000_000)
        return float((x * 2 + 1).abs().sum()) + float(torch.mm(x[:640_000].view(800, 800),
                                                             x[:640_000].view(800, 800)).sum())

    def tensors(seed):
        g = torch.Generator().manual_seed(seed)
        shape = (512, 1152)  # 589,824 elements: 9 chunks of 65536
        return [torch.randn(shape, generator=g) * s for s in (1.0, 1e-2, 1e-3)] + [
            torch.rand(shape, generator=g) * 1e-5 for _ in range(2)]

    out, first = {}, None
    torch.set_num_threads(2)
    busy()
    for nt in (2, 1, 2):
        torch.set_num_threads(nt)
        p, g, m, v, vmax = tensors(0)
        p0 = p.clone()
        s = [0.1, 0.999, 0.001, 1e-8, 0.01, 1e-3, 1e-3, 1e-3, 5.0, 0.0, 0.0]
        e = native.bamsprod_step(p, g, {"exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": vmax},
                                 s, 1, 512, False)
        w, gb, mb = p0.sign(), g * 10, m.clone()
        w0 = w.clone()
        flips = native.bop_step(w, gb, mb, 0.3, 1e-3)
        busy()
        out[nt] = {"e": e, "flips": flips, "changed": int((w != w0).sum()),
                   "same_as_first": None}
        if first is None:
            first = [p, m, v, vmax, w, mb]
        else:
            out[nt]["same_as_first"] = all(
                torch.equal(a, b) for a, b in zip(first, [p, m, v, vmax, w, mb]))
        if nt == 1:
            x = p0.double().abs()
            alpha = x.mean(dim=1, keepdim=True)
            inner = torch.minimum(x, alpha.float().double()).mean(dim=1, keepdim=True)
            out[nt]["e_float64"] = float((2 * (alpha - inner) / (alpha + 1e-12)).mean().clamp(0, 1))
    libs = {line.split()[-1] for line in open("/proc/self/maps") if "libgomp" in line}
    print(json.dumps({"runs": out, "gomp": sorted(libs), "threads": torch.get_num_threads()}))
    """
)


def test_threads_give_the_same_bits_next_to_torchs_openmp(tmp_path: Path) -> None:
    """Two threads, one, two again, with torch's parallel ops in between (a fresh process, so
    a hang fails on the timeout): identical tensors and flip counts; one libgomp mapped (the
    kernels' OpenMP is torch's runtime); the flip count equals the weights that changed sign;
    the error equals a float64 computation of ``xnor_l1`` to 1e-6 relative."""
    done = subprocess.run(
        [sys.executable, "-c", _THREADS],
        env=_env(BNNBENCH_CACHE_DIR=str(native.cache_dir())),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    runs = result["runs"]
    assert len(result["gomp"]) == 1, result["gomp"]
    assert runs["2"]["same_as_first"] is True  # the second 2-thread run after the 1-thread one
    assert runs["1"]["same_as_first"] is True
    assert runs["1"]["e"] == runs["2"]["e"] and runs["1"]["flips"] == runs["2"]["flips"]
    assert runs["1"]["flips"] == runs["1"]["changed"] > 0
    assert runs["1"]["e"] == pytest.approx(runs["1"]["e_float64"], rel=1e-6)
    assert 0 < runs["1"]["e"] < 1


# two processes that build into one empty cache at the same moment (a barrier: each waits
# for the file "go" after saying it is ready), then step
_BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from benchmark.optim import native

    here = Path(sys.argv[1])
    (here / f"ready-{sys.argv[2]}").touch()
    while not (here / "go").exists():
        time.sleep(0.01)
    native.load()
    p, g, m = torch.ones(1000), torch.ones(1000), torch.zeros(1000)
    print(native.bop_step(p, g, m, 0.5, 0.1))  # m = 0.5: w m = 0.5 > 0.1 everywhere
    """
)


def test_two_processes_building_at_once_both_succeed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = _env(BNNBENCH_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD, str(tmp_path), str(k)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    try:
        for k in range(2):  # both imported torch and wait: let them build together
            for _ in range(6000):
                if (tmp_path / f"ready-{k}").exists() or procs[k].poll() is not None:
                    break
                subprocess.run(["sleep", "0.05"], check=True)
        (tmp_path / "go").touch()
        outs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            proc.kill() if proc.poll() is None else None
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        assert out.strip() == "1000"
    # one library, no temporary file left; and it is the one this process would load
    assert [f.name for f in cache.iterdir()] == [native.library_path().name]


def test_the_cache_folder_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BNNBENCH_CACHE_DIR", str(tmp_path / "given"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert native.cache_dir() == tmp_path / "given"
    monkeypatch.delenv("BNNBENCH_CACHE_DIR")
    assert native.cache_dir() == tmp_path / "xdg" / "bnnbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert native.cache_dir() == Path.home() / ".cache" / "bnnbench"
    monkeypatch.setenv("CXX", "g++")
    assert native.compiler() == ["g++"]
    # the compiler command is part of the key (and the --version output; same for both here)
    assert native.library_path(["g++"]) == native.library_path(["g++"])
    assert native.library_path(["g++"]) != native.library_path(["c++"])


def test_a_failed_build_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "lib.so"
    broken = ["c++", "-include", str(tmp_path / "no-such-header.h")]
    with pytest.raises(native.NativeBuildError, match=r"failed \(exit 1\).*no-such-header"):
        native.build(target, broken)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(native.NativeBuildError, match="cannot run the C.. compiler"):
        native.library_path([str(tmp_path / "no-compiler")])
    with pytest.raises(native.NativeBuildError, match="--version failed"):
        native.library_path(["false"])


def test_the_kernels_refuse_what_they_cannot_read() -> None:
    ok = torch.zeros(4, 6)
    state = {k: torch.zeros(4, 6) for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}
    s = [0.1, 0.999, 0.001, 1e-8, 0.0, 1e-3, 1e-3, 1e-3, 1.0, 0.0, 1.0]
    bad = {
        "not contiguous": torch.zeros(6, 4).t(),
        "float64": torch.zeros(4, 6, dtype=torch.float64),
        "other size": torch.zeros(4, 5),
    }
    for what, x in bad.items():
        with pytest.raises(ValueError, match="contiguous float32 CPU tensors of one size"):
            native.bop_step(ok.clone(), x, torch.zeros(4, 6), 0.1, 0.0)
        with pytest.raises(ValueError, match="contiguous float32 CPU tensors"):
            native.bamsprod_step(ok.clone(), x, state, s, 1, 4, False)
        assert what
    with pytest.raises(ValueError, match="bamsprod_step: arguments"):
        native.bamsprod_step(ok, ok.clone(), state, s, 1, 5, False)  # 24 elements, 5 rows
    with pytest.raises(ValueError, match="bamsprod_step: arguments"):
        native.bamsprod_step(ok, ok.clone(), state, s[:10], 0, 1, False)


def _bamsprod_case(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(shape, generator=g),
        torch.randn(shape, generator=g) * 1e-2,
        torch.randn(shape, generator=g) * 1e-3,
        torch.rand(shape, generator=g) * 1e-5,
        torch.rand(shape, generator=g) * 2e-5,
    )


def test_the_batch_call_gives_each_tensors_own_call_bit_for_bit() -> None:
    """bamsprod_steps (one ctypes call for many tensors) against bamsprod_step per tensor:
    the same errors and the same bits in p, m, v, vmax, for every error kind."""
    shapes = [(64, 3, 3, 3), (10, 33), (7,), (300, 70), (1,)]
    cases = [(1, 64), (2, 10), (0, 1), (1, 300), (2, 1)]  # (kind, rows)
    s0 = [0.1, 0.999, 0.001, 1e-8, 0.01, 1e-3, 1e-3, 1e-3, 3.0, 0.0, 0.0]
    for maximize in (False, True):
        one, many, items, expected = [], [], [], []
        for k, (shape, (kind, rows)) in enumerate(zip(shapes, cases, strict=True)):
            s = s0[:9] + ([0.01, 0.5] if kind == 0 else [0.0, 0.0])
            a, b = _bamsprod_case(k, shape), _bamsprod_case(k, shape)
            st = dict(zip(("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), a[2:], strict=True))
            expected.append(native.bamsprod_step(a[0], a[1], st, s, kind, rows, maximize))
            one.append(a)
            st = dict(zip(("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), b[2:], strict=True))
            items.append((b[0], b[1], st, s, kind, rows))
            many.append(b)
        assert native.bamsprod_steps(items, maximize) == expected
        assert expected[2] == -1.0 and 0.0 < expected[0] <= 1.0
        for a, b in zip(one, many, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_batch_call_refuses_before_writing_any_tensor() -> None:
    """A bad tensor anywhere in the batch: ValueError, and no tensor of the batch changed."""
    s = [0.1, 0.999, 0.001, 1e-8, 0.0, 1e-3, 1e-3, 1e-3, 1.0, 0.0, 1.0]
    good = _bamsprod_case(0, (4, 6))
    before = [x.clone() for x in good]
    st = dict(zip(("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), good[2:], strict=True))
    bad_state = {k: torch.zeros(4, 6) for k in ("exp_avg", "exp_avg_sq")}
    bad_state["max_exp_avg_sq"] = torch.zeros(4, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="contiguous float32 CPU tensors of one size"):
        native.bamsprod_steps(
            [
                (good[0], good[1], st, s, 1, 4),
                (torch.zeros(4, 6), torch.zeros(4, 6), bad_state, s, 1, 4),
            ],
            False,
        )
    with pytest.raises(ValueError, match="bamsprod_step: arguments"):
        native.bamsprod_steps(
            [(good[0], good[1], st, s, 1, 4), (good[0], good[1], st, s, 1, 5)], False
        )
    assert all(torch.equal(x, y) for x, y in zip(good, before, strict=True))
    assert native.bamsprod_steps([], False) == []
