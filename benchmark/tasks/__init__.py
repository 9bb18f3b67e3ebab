"""Non-dataset tasks.

- :mod:`benchmark.tasks.convex`: the convex counterexample of Reddi et al. (2018) in
  real-valued, binary and stochastic forms, driven by the registry's optimizers.
"""
