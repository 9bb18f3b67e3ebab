"""Optimizers for binary networks and the registry the benchmark draws them from.

- :class:`BAMSProd`: a documented reconstruction of BAMSProd (AMSBound whose range width scales
  with the quantization error of binary latent weights).
- :class:`Bop`, :class:`Bop2ndOrder`: latent-free binary optimizers (flip weights directly).
- :func:`make_optimizer`: registry name -> one ``torch.optim.Optimizer`` for a model, routing
  binary and real-valued tensors (:class:`CaseOptimizer` for latent-free optimizers);
  :func:`make_multipart_optimizer`: one object over several models with their own
  hyper-parameters.
- :data:`OPTIMIZERS`, :func:`get_optimizer_spec`, :func:`validate_hparams`,
  :func:`validate_search_space`, :func:`is_latent_free`: the registry.
- :func:`optimizer_diagnostics`: per-step diagnostics (quantization error and range, flips) of
  any optimizer that defines ``diagnostics()`` (the :class:`ReportsDiagnostics` protocol).
- :mod:`benchmark.optim.base`: the plumbing the optimizers share (closure, state collection,
  device/dtype buckets, scratch buffers, argument checks) and the diagnostics protocol.

The names are imported on first use (PEP 562): the registry (:mod:`benchmark.optim.registry`)
imports neither torch nor pytorch_optimizer until an optimizer is built, so ``bnnbench list``
and ``validate`` stay light. See ``docs/optimizers.md``.
"""

from __future__ import annotations

from benchmark.lazy import lazy_getattr

_LAZY = {
    "BAMSProd": "benchmark.optim.bamsprod",
    "default_bound": "benchmark.optim.bamsprod",
    "ReportsDiagnostics": "benchmark.optim.base",
    "optimizer_diagnostics": "benchmark.optim.base",
    "Bop": "benchmark.optim.bop",
    "Bop2ndOrder": "benchmark.optim.bop",
    "OPTIMIZERS": "benchmark.optim.registry",
    "OptimizerSpec": "benchmark.optim.registry",
    "allowed_hparams": "benchmark.optim.registry",
    "get_optimizer_spec": "benchmark.optim.registry",
    "is_latent_free": "benchmark.optim.registry",
    "validate_hparams": "benchmark.optim.registry",
    "validate_search_space": "benchmark.optim.registry",
    "CaseOptimizer": "benchmark.optim.routing",
    "make_multipart_optimizer": "benchmark.optim.routing",
    "make_optimizer": "benchmark.optim.routing",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
