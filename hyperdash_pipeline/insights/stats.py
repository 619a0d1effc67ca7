"""Binomial proportion intervals without scipy (the same formula as SQL's analytics.wilson_bound)."""

from __future__ import annotations

import math
from statistics import NormalDist


def z_for_confidence(confidence: float) -> float:
    """The two-sided normal quantile: 0.95 -> 1.959963984540054."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


Z95 = z_for_confidence(0.95)


def wilson_interval(successes: float, trials: float, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for successes/trials; None when there are no trials.

    Wilson rather than the normal approximation because it stays inside [0, 1] and keeps its coverage
    for small samples and rates near 0, exactly where a creative with few customers lives.
    """
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within [0, trials], got {successes} of {trials}")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # Clamped to [0, 1] and to either side of p: exact maths gives low <= p <= high, floats may not.
    return max(0.0, min(p, centre - half_width)), min(1.0, max(p, centre + half_width))
