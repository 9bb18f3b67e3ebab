r"""BAMSProd's and Bop's update of one float32 CPU tensor as hand-written C++ kernels.

Built on first use with :func:`torch.utils.cpp_extension.load_inline` (g++ and ninja; plain
``-O3 -fno-math-errno``, no ``-march=native``: the build cache may be shared between Intel
and AMD machines; the loops carry ``target_clones("avx2", "default")``, so GCC emits an AVX2
and a baseline version and picks one at load time). The build is cached on disk
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``; a changed source is
rebuilt): 35-53 s wall the first time (measured under load), 0.2 s in later processes.

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
   + \epsilon, d_{min}, d_{max})`, :math:`w \leftarrow w - a\,m/d` (``at::parallel_for`` over
   chunks of 65536 elements: one thread runs them in order).

Bop (:func:`bop_step`): one loop doing ``m`` by torch's ``lerp`` formula, the flip test
:math:`w m > \tau` (float32, as the eager ``gt_``), the flip and the count (int64 per chunk
of 65536 elements, summed in order).

The numbers agree with the eager foreach path to float rounding (tests/test_fused_optim.py:
1e-6 relative over 20 steps). When the extension cannot be built (no compiler, no ninja),
:mod:`benchmark.optim.fused` records the failure and warns once, as for ``torch.compile``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <algorithm>
#include <vector>

namespace {
constexpr int64_t LANES = 8;
constexpr int64_t CHUNK = 256;

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
}  // namespace

// Bop: m <- lerp(m, g, rate), flip where w m > tau; returns the number of flips.
int64_t bop_step(torch::Tensor p, torch::Tensor g, torch::Tensor m, double rate, double tau) {
  for (const auto& x : {p, g, m})
    TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
                    x.numel() == p.numel(),
                "bop_step: contiguous float32 CPU tensors of one size");
  const int64_t n = p.numel(), chunk = 65536, chunks = (n + chunk - 1) / chunk;
  std::vector<int64_t> counts(chunks, 0);
  float* pp = p.data_ptr<float>();
  float* gp = g.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  const float w = (float)rate, t = (float)tau;
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t lo = k * chunk, len = std::min(chunk, n - lo);
      counts[k] = bop_loop(pp + lo, gp + lo, mp + lo, len, w, t, std::fabs(w) < 0.5f);
    }
  });
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  return total;
}

// error kind: 0 none (bounds given), 1 xnor_l1, 2 sign_l1.
// s = [1-beta1, beta2, 1-beta2, eps, wd, a, eta, gamma, t, d_min, d_max]
// returns e (float32 rounded, as a double); -1 when kind 0.
double bamsprod_step(torch::Tensor p, torch::Tensor g, torch::Tensor m, torch::Tensor v,
                     torch::Tensor vmax, std::vector<double> s, int64_t kind, int64_t rows,
                     bool maximize) {
  for (const auto& x : {p, g, m, v, vmax})
    TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
                    x.numel() == p.numel(),
                "bamsprod_step: contiguous float32 CPU tensors of one size");
  TORCH_CHECK(s.size() == 11 && rows >= 1 && p.numel() % rows == 0, "bamsprod_step: arguments");
  const int64_t n = p.numel();
  float* pp = p.data_ptr<float>();
  double d_min = s[9], d_max = s[10], e_out = -1.0;
  if (kind != 0) {
    const int64_t cols = n / rows;
    std::vector<double> per(rows);
    at::parallel_for(0, rows, 1, [&](int64_t b, int64_t end) {
      for (int64_t r = b; r < end; ++r) {
        const float* x = pp + r * cols;
        if (kind == 1) {
          double alpha = sum_abs(x, cols) / cols;
          double inner = sum_min_abs(x, cols, (float)alpha) / cols;
          per[r] = 2.0 * (alpha - inner) / (alpha + 1e-12);
        } else {
          per[r] = sum_abs_minus_one(x, cols);
        }
      }
    });
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
  float w1 = (float)s[0];
  float* gp = g.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  float* xp = vmax.data_ptr<float>();
  float b2 = (float)s[1], c2 = (float)s[2], eps = (float)s[3], wd = (float)s[4];
  float neg_a = (float)(-s[5]), lo = (float)d_min, hi = (float)d_max;
  at::parallel_for(0, n, 65536, [&](int64_t b, int64_t end) {
    update_loop(pp + b, gp + b, mp + b, vp + b, xp + b, end - b, w1, b2, c2, eps, wd, neg_a, lo,
                hi, maximize, std::fabs(w1) < 0.5f);
  });
  return e_out;
}
"""

_MODULE: list[Any] = []  # the loaded extension (at most one)
#: the smallest tensor the kernel takes by default: every one (measured on ``resnet18``, one
#: thread: BAMSProd 1.78x Adam(fused) with tensors >= 65536 elements in the kernel, 1.65x
#: >= 4096, 1.62x all of them; the call costs less than the foreach passes it replaces)
MIN_ELEMENTS = 1
#: ``BNNBENCH_NATIVE=0`` in the environment: use ``torch.compile``'s kernel instead (to
#: compare the two; docs/performance.md)
ENABLED = os.environ.get("BNNBENCH_NATIVE", "1") != "0"


def load() -> Any:
    """The built extension (built on the first call in a process; raises when it cannot be)."""
    if not _MODULE:
        # torch.utils.cpp_extension logs "No CUDA runtime is found" on import on a machine
        # without CUDA; the kernels here are CPU ones, so that line only confuses a reader
        cpp_log = logging.getLogger("torch.utils.cpp_extension")
        level = cpp_log.level
        cpp_log.setLevel(logging.ERROR)
        try:
            from torch.utils.cpp_extension import load_inline
        finally:
            cpp_log.setLevel(level)

        _MODULE.append(
            load_inline(
                "bnnbench_native_v1",
                cpp_sources=_SOURCE,
                functions=["bamsprod_step", "bop_step"],
                extra_cflags=["-O3", "-fno-math-errno"],
                verbose=False,
            )
        )
    return _MODULE[0]


def handles(p: torch.Tensor) -> bool:
    """Tensors the kernel takes: float32 on the CPU (the caller checked contiguity), unless
    :data:`ENABLED` is off (then ``torch.compile``'s kernel runs them)."""
    return ENABLED and p.dtype == torch.float32 and p.device.type == "cpu"


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
    return load().bamsprod_step(
        p,
        g,
        state["exp_avg"],
        state["exp_avg_sq"],
        state["max_exp_avg_sq"],
        scalars,
        kind,
        rows,
        maximize,
    )


def bop_step(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, rate: float, tau: float) -> int:
    """Bop's step of one tensor in place: ``m <- lerp(m, g, rate)``, flip where ``w m >
    tau``; returns the number of flips."""
    return load().bop_step(p, g, m, rate, tau)
