"""bnnbench: an optimizer benchmark suite for binary neural networks.

The Python API (what ``bnnbench run``, ``report`` and ``show`` call)::

    from benchmark import run_suite, load_results, build_report

    result = run_suite("smoke", workers=2)     # tune -> final runs -> report; resumes
    tune_suite("sensitivity")                  # only the tuning phase (bnnbench tune)
    res = load_results("smoke")                # tidy frames: runs, metrics, values, trials
    build_report("smoke", out_dir="out/")      # rebuild the report from the store alone

The library lives in sub-packages with one job each:

- :mod:`benchmark.binary`: sign quantizers with straight-through estimators, binary layers,
  BNN metrics (quantization error, flip rate, saturation).
- :mod:`benchmark.optim`: BAMSProd (a documented reconstruction), Bop, Bop2ndOrder,
  parameter routing and the optimizer registry.
- :mod:`benchmark.models`, :mod:`benchmark.data`: the workloads.
- :mod:`benchmark.tasks`: what a task is (training, the convex counterexample).
- :mod:`benchmark.suite`, :mod:`benchmark.pipeline`, :mod:`benchmark.results`,
  :mod:`benchmark.train`, :mod:`benchmark.store`, :mod:`benchmark.execute`: the harness;
  :mod:`benchmark.cli` only parses, calls them and prints.

The API names are imported on first use, so ``import benchmark`` stays cheap (no torch).
"""

from benchmark.errors import BnnBenchError
from benchmark.lazy import lazy_getattr
from benchmark.progress import silence_widget_fallback_warning

silence_widget_fallback_warning()

__version__ = "0.1.0"
__all__ = [
    "BnnBenchError",
    "Event",
    "Results",
    "SuiteResult",
    "__version__",
    "build_report",
    "load_results",
    "run_suite",
    "tune_suite",
]

_LAZY = {
    "run_suite": "benchmark.pipeline",
    "tune_suite": "benchmark.pipeline",
    "build_report": "benchmark.pipeline",
    "SuiteResult": "benchmark.pipeline",
    "Event": "benchmark.pipeline",
    "load_results": "benchmark.results",
    "Results": "benchmark.results",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
