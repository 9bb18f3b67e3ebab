r"""The figures of a training report, one module per figure family (a new figure is one new
module): each function draws from the tidy frames of the results store
(:mod:`benchmark.results`) or from frames :mod:`report.analysis` computes, saves
``out_dir / "figures" / <name>.png`` and returns that path, or ``None`` when there is nothing
to draw.

- :mod:`report.figures.curves`: :func:`learning_curves` (test accuracy, or test
  error on a log axis where accuracy saturates, against steps or wall seconds, with the
  target line), :func:`loss_curves`, :func:`curve_bands`;
- :mod:`report.figures.diagnostics`: :func:`diagnostics_figure` (flip rate, quantization
  error, latent saturation; not-applicable diagnostics omitted, not drawn as zero),
  :func:`bamsprod_range_figure`;
- :mod:`report.figures.profiles`: :func:`performance_profile_figure`;
- :mod:`report.figures.tuning`: :func:`sensitivity_figure`, :func:`sensitivity_slices`,
  :func:`expected_max_figure`, :func:`t_interval`;
- :mod:`report.figures.common`: what they share (runs drawn, cells, legends, file names).

Layout: one panel per cell (model / dataset, named in the panel's title), the grid sized to
the number of panels (:func:`report.plotting.new_grid`), one legend under the panels. Colours,
markers and dashes come from :mod:`report.palette`: assigned to the optimizers present,
BAMSProd and the reference in the two most distinct colours, every pair told apart by more
than hue. A tuned suite with ``tuning.defaults`` draws its rows at the registry defaults
(``"<name> (defaults)"``) in a separate row of panels, in the optimizer's colour, dashed.

Runs: failed runs are left out everywhere; a diverged run counts until it stops (its last
evaluation is marked with a cross on the learning curves).

The names below are loaded on first use (PEP 562), so importing :mod:`report.figures` does
not import matplotlib.
"""

from __future__ import annotations

from benchmark.lazy import lazy_getattr

_WHERE = {
    "BAND_COLUMNS": "curves",
    "GRID_POINTS": "curves",
    "curve_bands": "curves",
    "learning_curves": "curves",
    "loss_curves": "curves",
    "DIAGNOSTICS": "diagnostics",
    "diagnostics_figure": "diagnostics",
    "bamsprod_range_figure": "diagnostics",
    "performance_profile_figure": "profiles",
    "SLICE_COLUMNS": "tuning",
    "expected_max_figure": "tuning",
    "sensitivity_figure": "tuning",
    "sensitivity_slices": "tuning",
    "t_interval": "tuning",
    "LATENT_FREE": "common",
    "final_runs": "common",
}

__all__ = sorted(_WHERE)


__getattr__ = lazy_getattr(
    __name__, {name: f"report.figures.{module}" for name, module in _WHERE.items()}, globals()
)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
