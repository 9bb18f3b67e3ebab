"""bnnbench: an optimizer benchmark suite for binary neural networks.

The library lives in sub-packages with one job each:

- :mod:`benchmark.binary`: sign quantizers with straight-through estimators, binary layers,
  BNN metrics (quantization error, flip rate, saturation).
- :mod:`benchmark.optim`: BAMSProd (a documented reconstruction), Bop, Bop2ndOrder,
  parameter routing and the optimizer registry.
- :mod:`benchmark.models`, :mod:`benchmark.data`: the workloads.
- :mod:`benchmark.tasks`: non-dataset tasks (the convex counterexample).
- :mod:`benchmark.suite`, :mod:`benchmark.train`, :mod:`benchmark.store`,
  :mod:`benchmark.execute`, :mod:`benchmark.cli`: the harness.
"""

from benchmark.errors import BnnBenchError

__version__ = "0.1.0"
__all__ = ["BnnBenchError", "__version__"]
