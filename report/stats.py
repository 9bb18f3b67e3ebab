"""Small statistics used by the reports: bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(
    values: np.ndarray, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded, so reports are reproducible).

    With fewer than 2 finite values the interval is ``(nan, nan)``: one seed carries no
    uncertainty estimate, and the report says so rather than printing a zero-width interval.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = rng.choice(x, size=(resamples, x.size), replace=True).mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)
