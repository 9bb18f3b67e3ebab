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

See ``docs/optimizers.md``.
"""

from benchmark.optim.bamsprod import BAMSProd, default_bound
from benchmark.optim.base import ReportsDiagnostics, optimizer_diagnostics
from benchmark.optim.bop import Bop, Bop2ndOrder
from benchmark.optim.registry import (
    OPTIMIZERS,
    OptimizerSpec,
    allowed_hparams,
    get_optimizer_spec,
    is_latent_free,
    validate_hparams,
    validate_search_space,
)
from benchmark.optim.routing import (
    CaseOptimizer,
    make_multipart_optimizer,
    make_optimizer,
)

__all__ = [
    "OPTIMIZERS",
    "BAMSProd",
    "Bop",
    "Bop2ndOrder",
    "CaseOptimizer",
    "OptimizerSpec",
    "ReportsDiagnostics",
    "allowed_hparams",
    "default_bound",
    "get_optimizer_spec",
    "is_latent_free",
    "make_multipart_optimizer",
    "make_optimizer",
    "optimizer_diagnostics",
    "validate_hparams",
    "validate_search_space",
]
