"""Small statistics helpers for reporting evaluation results."""

from __future__ import annotations

import math
from statistics import NormalDist


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (low, high) of a success rate ``successes / trials``.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or ``trials``
    successes, which is where policy success rates usually are.

    Raises:
        ValueError: If ``trials < 1``, ``successes`` is not in [0, trials] (both must be ints), or
            ``confidence`` is not in (0, 1).
    """
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, {trials}], got {successes}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)  # two-sided standard normal quantile
    rate, z2 = successes / trials, z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half_width = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # Clamp away rounding (at 0 or all successes one bound is exactly 0 or 1).
    return max(0.0, centre - half_width), min(1.0, centre + half_width)
