r"""BAMSProd's and Bop's update of one float32 CPU tensor as hand-written C++ kernels.

Plain C++ (no torch headers) behind a C ABI, compiled on first use with the system C++
compiler (``$CXX``, else ``c++``) into a shared library and loaded with :mod:`ctypes`; the
Python side checks the tensors (contiguous float32 CPU tensors of one size) and passes their
``data_ptr()`` (packed with the sizes and scalars into two byte strings: one cheap ctypes call
per tensor, or per parameter group with :func:`bamsprod_steps`, which the optimizer uses: its
C entry loops over the tensors calling the same per-tensor function, so the bits are those of
:func:`bamsprod_step`). Flags :data:`FLAGS`: plain ``-O3 -fno-math-errno -fopenmp``, no
``-march=native`` (the cache may be shared between Intel and AMD machines); the loops carry
``target_clones("avx2", "default")``, so GCC emits an AVX2 and a baseline version and picks
one at load time (neither enables FMA contraction: both give the same bits). The library is
cached in :func:`cache_dir` (``BNNBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/bnnbench`` or
``~/.cache/bnnbench``) under a name keyed by a hash of the source, the flags and the
compiler's ``--version`` output, built into a temporary file beside it and renamed into place
(atomic: processes building at once all succeed). Measured (2-core AMD EPYC, under load,
load average 4-5): a cold build 1.1-1.7 s wall, 0.75-1.1 CPU-s; a cached library loads in
2-11 ms (the compiler's ``--version`` for the key, then ``dlopen``). The torch-extension
build of the same loops it replaced (``torch.utils.cpp_extension.load_inline``) took 35-55 s
in every fresh venv. Steps at 11.7M parameters (one thread, CPU clock, load average about 2,
12 runs alternating with the extension): BAMSProd median 1.64x ``Adam(fused=True)``
(extension 1.66x), Bop 0.86x (extension 0.90x); docs/performance.md.

Parallelism: OpenMP with ``nt = torch.get_num_threads()`` threads, passed on each call (the
libgomp torch loads serves it: one OpenMP runtime in the process); serial when ``nt == 1`` or
the tensor has at most 65536 elements. Results do not depend on ``nt``: the update is
elementwise, Bop's flips are counted per chunk of 65536 elements and the chunks' counts added
in order, BAMSProd's per-row errors are summed in row order.

One call does one tensor's step (:func:`bamsprod_step`):

1. the quantization error of the tensor (``kind`` 1, ``xnor_l1``), one row per output channel
   (``rows``, ``cols``): :math:`\alpha_r = \frac1{c}\sum_j |W_{rj}|`,
   :math:`\frac1c\sum_j \min(|W_{rj}|, \alpha_r)`, :math:`e = \mathrm{clip}(\frac1R\sum_r
   2(\alpha_r - \mathrm{inner}_r)/(\alpha_r + 10^{-12}), 0, 1)`; or ``sign_l1`` (``kind`` 2):
   :math:`\mathrm{clip}(\frac1n\sum |\,|W| - 1|, 0, 1)`. A row is short (at most a few
   thousand floats), so its second pass reads the cache, not memory. Sums: float partial sums
   of 256 elements (16 lanes), added in double; :math:`e` rounded to float32 as the eager path
   stores it;
2. the range and the clamp bounds in double, as the eager and compiled paths:
   :math:`l = \eta(1 - e/(\gamma t + 1))`, :math:`u = \eta(1 + e/(\gamma t))`,
   :math:`d_{min} = a/u`, :math:`d_{max} = \max(a/\max(l, 0), d_{min})` (``kind`` 0: the
   caller's ``d_min``, ``d_max``);
3. one elementwise loop in float32 with the eager kernels' formulas: :math:`g \leftarrow \pm g
   + \lambda w`, ``m`` by torch's ``lerp`` formula, :math:`v \leftarrow \beta_2 v +
   (1-\beta_2) g^2`, :math:`\hat v = \max(\hat v, v)`, :math:`d = \mathrm{clip}(\sqrt{\hat v}
   + \epsilon, d_{min}, d_{max})`, :math:`w \leftarrow w - a\,m/d` (chunks of 65536 elements
   across the threads).

Bop (:func:`bop_step`): one loop doing ``m`` by torch's ``lerp`` formula, the flip test
:math:`w m > \tau` (float32, as the eager ``gt_``), the flip and the count (int64 per chunk
of 65536 elements, summed in order).

The numbers agree with the eager foreach path to float rounding (tests/test_fused_optim.py:
1e-6 relative over 20 steps), and are bit for bit those of the torch-extension build of the
same loops this module used before. When the library cannot be built (no compiler, a failed
compile) :func:`load` raises :class:`NativeBuildError`; :mod:`benchmark.optim.fused` records
the failure and warns once, as for ``torch.compile``, and the optimizers run eagerly.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

_SOURCE = r"""
// bnnbench's BAMSProd and Bop kernels: plain C++ behind a C ABI (no torch headers), loaded
// with ctypes. The loops are those of the torch-extension version they replace, unchanged.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
constexpr int64_t LANES = 8;
constexpr int64_t CHUNK = 256;
// elements per parallel chunk (the update loop and Bop's flip counts)
constexpr int64_t GRAIN = 65536;

typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

inline v8 load8(const float* x) { v8 r; __builtin_memcpy(&r, x, sizeof r); return r; }
inline v8 vabs(v8 a) { v8i b; __builtin_memcpy(&b, &a, sizeof b); b &= 0x7fffffff; v8 r; __builtin_memcpy(&r, &b, sizeof r); return r; }
inline float hsum(v8 a) { float s = 0.f; for (int k = 0; k < 8; ++k) s += a[k]; return s; }

// op 0: |x|, 1: min(|x|, alpha), 2: ||x| - 1|; float partial sums per 256 elements, total in double
template <int OP>
__attribute__((target_clones("avx2", "default")))
double reduce(const float* x, int64_t n, float alpha) {
  double total = 0.0;
  int64_t i = 0;
  const v8 va = {alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha};
  const v8 one = {1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f};
  for (; i + CHUNK <= n; i += CHUNK) {
    v8 acc0 = {0}, acc1 = {0};
    for (int64_t j = 0; j < CHUNK; j += 16) {
      v8 a = vabs(load8(x + i + j)), b = vabs(load8(x + i + j + 8));
      if (OP == 1) { a = a < va ? a : va; b = b < va ? b : va; }
      if (OP == 2) { a = vabs(a - one); b = vabs(b - one); }
      acc0 += a; acc1 += b;
    }
    total += hsum(acc0 + acc1);
  }
  for (; i < n; ++i) {
    float a = std::fabs(x[i]);
    if (OP == 1) a = std::min(a, alpha);
    if (OP == 2) a = std::fabs(a - 1.f);
    total += a;
  }
  return total;
}
double sum_abs(const float* x, int64_t n) { return reduce<0>(x, n, 0.f); }
double sum_min_abs(const float* x, int64_t n, float alpha) { return reduce<1>(x, n, alpha); }
double sum_abs_minus_one(const float* x, int64_t n) { return reduce<2>(x, n, 0.f); }

__attribute__((target_clones("avx2", "default")))
void update_loop(float* __restrict p, const float* __restrict g, float* __restrict m,
                 float* __restrict v, float* __restrict vmax, int64_t n, float w1, float b2,
                 float c2, float eps, float wd, float neg_a, float lo, float hi, bool maximize,
                 bool small_w1) {
  for (int64_t i = 0; i < n; ++i) {
    float gi = maximize ? -g[i] : g[i];
    gi = gi + wd * p[i];
    float mi = m[i];
    mi = small_w1 ? mi + w1 * (gi - mi) : gi - (gi - mi) * (1.f - w1);
    float vi = v[i] * b2 + c2 * gi * gi;
    float mx = std::max(vmax[i], vi);
    float d = std::min(std::max(std::sqrt(mx) + eps, lo), hi);
    m[i] = mi; v[i] = vi; vmax[i] = mx;
    p[i] = p[i] + neg_a * (mi / d);
  }
}
__attribute__((target_clones("avx2", "default")))
int64_t bop_loop(float* __restrict p, const float* __restrict g, float* __restrict m, int64_t n,
                 float w, float tau, bool small_w) {
  int64_t flips = 0;
  for (int64_t i = 0; i < n; ++i) {
    float mi = m[i];
    mi = small_w ? mi + w * (g[i] - mi) : g[i] - (g[i] - mi) * (1.f - w);
    m[i] = mi;
    float pi = p[i];
    bool flip = pi * mi > tau;
    p[i] = flip ? -pi : pi;
    flips += flip;
  }
  return flips;
}

// one row's share of the error: kind 1 xnor_l1 (2 (alpha - inner) / (alpha + 1e-12)),
// kind 2 sign_l1 (the row's sum of ||x| - 1|)
double row_error(const float* x, int64_t cols, int64_t kind) {
  if (kind == 1) {
    double alpha = sum_abs(x, cols) / cols;
    double inner = sum_min_abs(x, cols, (float)alpha) / cols;
    return 2.0 * (alpha - inner) / (alpha + 1e-12);
  }
  return sum_abs_minus_one(x, cols);
}
}  // namespace

extern "C" {

// Bop: m <- lerp(m, g, rate), flip where w m > tau; returns the number of flips (counted per
// chunk of GRAIN elements, the chunks' counts added in order). nt threads (1: serial).
int64_t bnnbench_bop_step(float* pp, const float* gp, float* mp, int64_t n, double rate,
                          double tau, int32_t nt) {
  const int64_t chunks = (n + GRAIN - 1) / GRAIN;
  const float w = (float)rate, t = (float)tau;
  const bool small_w = std::fabs(w) < 0.5f;
  std::vector<int64_t> counts(chunks, 0);
  auto run = [&](int64_t k) {
    const int64_t lo = k * GRAIN, len = std::min(GRAIN, n - lo);
    counts[k] = bop_loop(pp + lo, gp + lo, mp + lo, len, w, t, small_w);
  };
#ifdef _OPENMP
  if (nt > 1 && chunks > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t k = 0; k < chunks; ++k) run(k);
  } else
#endif
  {
    for (int64_t k = 0; k < chunks; ++k) run(k);
  }
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  return total;
}

// BAMSProd's step of one tensor of n elements (rows x n / rows).
// error kind: 0 none (bounds given), 1 xnor_l1, 2 sign_l1.
// s = [1-beta1, beta2, 1-beta2, eps, wd, a, eta, gamma, t, d_min, d_max]
// returns e (float32 rounded, as a double); -1 when kind 0. nt threads (1: serial).
double bnnbench_bamsprod_step(float* pp, const float* gp, float* mp, float* vp, float* xp,
                              int64_t n, const double* s, int64_t kind, int64_t rows,
                              int32_t maximize, int32_t nt) {
  double d_min = s[9], d_max = s[10], e_out = -1.0;
  const bool parallel = nt > 1 && n > GRAIN;
  if (kind != 0) {
    const int64_t cols = n / rows;
    std::vector<double> per(rows);
#ifdef _OPENMP
    if (parallel && rows > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
      for (int64_t r = 0; r < rows; ++r) per[r] = row_error(pp + r * cols, cols, kind);
    } else
#endif
    {
      for (int64_t r = 0; r < rows; ++r) per[r] = row_error(pp + r * cols, cols, kind);
    }
    double total = 0.0;
    for (double x : per) total += x;
    double e = kind == 1 ? total / rows : total / n;
    e = std::min(std::max(e, 0.0), 1.0);
    e = (double)(float)e;
    e_out = e;
    double a = s[5], eta = s[6], gamma = s[7], t = s[8];
    double lower = eta * (1.0 - e / (gamma * t + 1.0));
    double upper = eta * (1.0 + e / (gamma * t));
    d_min = a / upper;
    d_max = std::max(a / std::max(lower, 0.0), d_min);
  }
  const float w1 = (float)s[0];
  const float b2 = (float)s[1], c2 = (float)s[2], eps = (float)s[3], wd = (float)s[4];
  const float neg_a = (float)(-s[5]), lo = (float)d_min, hi = (float)d_max;
  const bool small_w1 = std::fabs(w1) < 0.5f, max_ = maximize != 0;
#ifdef _OPENMP
  if (parallel) {
    const int64_t chunks = (n + GRAIN - 1) / GRAIN;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t b = k * GRAIN, len = std::min(GRAIN, n - b);
      update_loop(pp + b, gp + b, mp + b, vp + b, xp + b, len, w1, b2, c2, eps, wd, neg_a, lo,
                  hi, max_, small_w1);
    }
  } else
#endif
  {
    update_loop(pp, gp, mp, vp, xp, n, w1, b2, c2, eps, wd, neg_a, lo, hi, max_, small_w1);
  }
  return e_out;
}

// The entry points Python calls (one ctypes call each, two packed arguments: converting
// 15-20 typed arguments costs ctypes more than the kernel takes on a small tensor).
// a = [p, g, m, v, vmax, n, kind, rows, maximize, nt] (int64), s = the 11 scalars above
double bnnbench_bamsprod_packed(const char* a, const char* s) {
  int64_t i[10];
  double d[11];
  std::memcpy(i, a, sizeof i);
  std::memcpy(d, s, sizeof d);
  return bnnbench_bamsprod_step((float*)i[0], (const float*)i[1], (float*)i[2], (float*)i[3],
                                (float*)i[4], i[5], d, i[6], i[7], (int32_t)i[8], (int32_t)i[9]);
}
// count tensors' steps in one call: a = count x the 10 int64 above, s = count x the 11
// scalars; out[k] = tensor k's return value (each one bnnbench_bamsprod_step call, in order)
void bnnbench_bamsprod_batch(int64_t count, const char* a, const char* s, double* out) {
  for (int64_t k = 0; k < count; ++k)
    out[k] = bnnbench_bamsprod_packed(a + k * 10 * sizeof(int64_t), s + k * 11 * sizeof(double));
}
// a = [p, g, m, n, nt] (int64), s = [rate, tau]
int64_t bnnbench_bop_packed(const char* a, const char* s) {
  int64_t i[5];
  double d[2];
  std::memcpy(i, a, sizeof i);
  std::memcpy(d, s, sizeof d);
  return bnnbench_bop_step((float*)i[0], (const float*)i[1], (float*)i[2], i[3], d[0], d[1],
                           (int32_t)i[4]);
}

}  // extern "C"
"""

#: compiler flags (besides ``-o``): no ``-march=native`` (a shared cache may serve other CPUs);
#: ``-Wno-psabi`` silences GCC's note on 32-byte vector arguments (inlined: no ABI involved)
FLAGS = ("-O3", "-fno-math-errno", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-Wno-psabi")
#: the library's ABI version, part of the cache key (bump when the C signatures change)
ABI = "3"

_MODULE: list[ctypes.CDLL] = []  # the loaded library (at most one)
_F32 = torch.float32
#: the smallest tensor the kernel takes by default: every one (measured on ``resnet18``, one
#: thread: BAMSProd 1.78x Adam(fused) with tensors >= 65536 elements in the kernel, 1.65x
#: >= 4096, 1.62x all of them; the call costs less than the foreach passes it replaces)
MIN_ELEMENTS = 1
#: ``BNNBENCH_NATIVE=0`` in the environment: use ``torch.compile``'s kernel instead (to
#: compare the two; docs/performance.md)
ENABLED = os.environ.get("BNNBENCH_NATIVE", "1") != "0"


class NativeBuildError(RuntimeError):
    """The C++ library could not be built or loaded (no compiler, a failed compile)."""


def cache_dir() -> Path:
    """Where the built library is kept: ``$BNNBENCH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/bnnbench``, else ``~/.cache/bnnbench``."""
    given = os.environ.get("BNNBENCH_CACHE_DIR")
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bnnbench"


def compiler() -> list[str]:
    """The C++ compiler command: ``$CXX`` (split like a shell word list), else ``c++``."""
    return shlex.split(os.environ.get("CXX", "").strip() or "c++")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:  # no such program, not executable
        raise NativeBuildError(f"cannot run the C++ compiler {command[0]!r}: {exc}") from None


def library_path(cxx: list[str] | None = None) -> Path:
    """The cached library's path for this source, :data:`FLAGS` and compiler (its
    ``--version`` output is part of the key: another compiler builds another file)."""
    cxx = cxx or compiler()
    version = _run([*cxx, "--version"])
    if version.returncode != 0:
        raise NativeBuildError(
            f"{shlex.join(cxx)} --version failed: {version.stderr.strip()[:200]}"
        )
    key = "\0".join([ABI, _SOURCE, shlex.join(cxx), *FLAGS, version.stdout])
    return cache_dir() / f"bnnbench_native-{hashlib.sha256(key.encode()).hexdigest()[:20]}.so"


def build(path: Path, cxx: list[str] | None = None) -> Path:
    """Compile the library to ``path``: into a temporary file in the same folder, then
    :func:`os.replace` (atomic: a process loading ``path`` sees a whole library, and
    processes building at once all succeed, the last rename winning)."""
    cxx = cxx or compiler()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, source = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".cpp")
    with os.fdopen(fd, "w") as fh:
        fh.write(_SOURCE)
    out = source[: -len(".cpp")] + ".so"
    try:
        done = _run([*cxx, *FLAGS, source, "-o", out])
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise NativeBuildError(
                f"{shlex.join(cxx)} failed (exit {done.returncode}): "
                + (" | ".join(detail[:3]) if detail else "no output")
            )
        os.replace(out, path)
    finally:
        Path(source).unlink(missing_ok=True)
        Path(out).unlink(missing_ok=True)
    return path


def load() -> ctypes.CDLL:
    """The library (built on the first call in a process unless cached; raises
    :class:`NativeBuildError` when it cannot be built or loaded)."""
    if not _MODULE:
        cxx = compiler()
        path = library_path(cxx)
        if not path.exists():
            build(path, cxx)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise NativeBuildError(f"cannot load {path}: {exc}") from None
        for name, restype in (("bamsprod", ctypes.c_double), ("bop", ctypes.c_int64)):
            fn = getattr(lib, f"bnnbench_{name}_packed")
            fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            fn.restype = restype
        batch = lib.bnnbench_bamsprod_batch
        batch.argtypes = [ctypes.c_int64, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
        batch.restype = None
        _MODULE.append(lib)
    return _MODULE[0]


def handles(p: torch.Tensor) -> bool:
    """Tensors the kernel takes: float32 on the CPU (the caller checked contiguity), unless
    :data:`ENABLED` is off (then ``torch.compile``'s kernel runs them)."""
    return ENABLED and p.dtype is _F32 and p.is_cpu  # is_cpu: 4x cheaper than device.type


# the packed arguments of the library's entry points (bnnbench_*_packed)
_BAMSPROD_INTS, _BAMSPROD_SCALARS = struct.Struct("=10q"), struct.Struct("=11d")
_BOP_INTS, _BOP_SCALARS = struct.Struct("=5q"), struct.Struct("=2d")


def _refuse(what: str, tensors: tuple[torch.Tensor, ...], n: int) -> None:
    """:class:`ValueError` unless ``tensors`` are contiguous float32 CPU tensors of ``n``
    elements each (the kernel reads raw pointers: nothing else is safe)."""
    for x in tensors:
        if not (x.dtype is _F32 and x.is_contiguous() and x.is_cpu and x.numel() == n):
            raise ValueError(f"{what}: contiguous float32 CPU tensors of one size")


def bamsprod_step(
    p: torch.Tensor,
    g: torch.Tensor,
    state: dict[str, Any],
    scalars: list[float],
    kind: int,
    rows: int,
    maximize: bool,
) -> float:
    """One tensor's step in place; ``scalars = [1 - beta1, beta2, 1 - beta2, eps,
    weight_decay, a, eta, gamma, t, d_min, d_max]``; ``kind`` 0 (bounds given), 1
    (``xnor_l1``) or 2 (``sign_l1``) with ``rows`` output channels. Returns the error
    (``-1`` for ``kind`` 0)."""
    lib = _MODULE[0] if _MODULE else load()
    m, v, vmax = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
    n = p.numel()
    _refuse("bamsprod_step", (p, g, m, v, vmax), n)
    if len(scalars) != 11 or kind not in (0, 1, 2) or rows < 1 or n % rows:
        raise ValueError("bamsprod_step: arguments")
    ints = _BAMSPROD_INTS.pack(
        p.data_ptr(),
        g.data_ptr(),
        m.data_ptr(),
        v.data_ptr(),
        vmax.data_ptr(),
        n,
        kind,
        rows,
        bool(maximize),
        torch.get_num_threads(),
    )
    return lib.bnnbench_bamsprod_packed(ints, _BAMSPROD_SCALARS.pack(*scalars))


def bop_step(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, rate: float, tau: float) -> int:
    """Bop's step of one tensor in place: ``m <- lerp(m, g, rate)``, flip where ``w m >
    tau``; returns the number of flips."""
    lib = _MODULE[0] if _MODULE else load()
    n = p.numel()
    _refuse("bop_step", (p, g, m), n)
    ints = _BOP_INTS.pack(p.data_ptr(), g.data_ptr(), m.data_ptr(), n, torch.get_num_threads())
    return lib.bnnbench_bop_packed(ints, _BOP_SCALARS.pack(rate, tau))


def bamsprod_steps(
    items: list[tuple[torch.Tensor, torch.Tensor, dict[str, Any], list[float], int, int]],
    maximize: bool,
) -> list[float]:
    """:func:`bamsprod_step` of each ``(p, g, state, scalars, kind, rows)`` in ``items``, in
    order, in one ctypes call (the same C function per tensor: the same bits); the same
    checks, all done before any tensor is written. Returns the errors (``-1`` for ``kind``
    0)."""
    lib = _MODULE[0] if _MODULE else load()
    nt = torch.get_num_threads()
    ints: list[int] = []
    flat: list[float] = []
    for p, g, state, scalars, kind, rows in items:
        m, v, vmax = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
        n = p.numel()
        for x in (p, g, m, v, vmax):  # _refuse, inlined (a call per tensor costs here)
            if not (x.dtype is _F32 and x.is_contiguous() and x.is_cpu and x.numel() == n):
                raise ValueError("bamsprod_step: contiguous float32 CPU tensors of one size")
        if len(scalars) != 11 or kind not in (0, 1, 2) or rows < 1 or n % rows:
            raise ValueError("bamsprod_step: arguments")
        ints += (
            p.data_ptr(),
            g.data_ptr(),
            m.data_ptr(),
            v.data_ptr(),
            vmax.data_ptr(),
            n,
            kind,
            rows,
            bool(maximize),
            nt,
        )
        flat += scalars
    count = len(items)
    out = (ctypes.c_double * count)()
    lib.bnnbench_bamsprod_batch(
        count, struct.pack(f"={10 * count}q", *ints), struct.pack(f"={11 * count}d", *flat), out
    )
    return list(out)
