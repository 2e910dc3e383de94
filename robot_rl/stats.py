"""Small statistics helpers for reporting evaluation results."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    # At 0 or all successes one bound is exactly 0 or 1; rounding would leave it a hair inside (1.4e-17 at 0/20),
    # and a plotted error bar of rate - low would then be negative.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == trials else min(1.0, centre + half_width)
    return low, high


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value for paired successes (the same seeds run by two policies).

    Only the discordant pairs count: ``only_first`` seeds where the first policy alone succeeded, ``only_second``
    where the second alone did. Under "no difference" each discordant pair goes either way with probability 1/2,
    so p = min(1, 2 * P(Binomial(n, 1/2) <= min(only_first, only_second))) with n their sum; 1.0 when n = 0.

    Raises:
        ValueError: If a count is not an int >= 0.
    """
    for name, value in (("only_first", only_first), ("only_second", only_second)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(only_first, only_second) + 1)) / 2**discordant
    return min(1.0, 2.0 * tail)


def paired_comparison(first: Mapping[int, bool], second: Mapping[int, bool]) -> tuple[int, int, float]:
    """Two policies run on the same seeds ({seed: success} each): seeds where only the first succeeded, seeds where
    only the second did, and the exact McNemar p-value (:func:`mcnemar_exact`).

    Raises:
        ValueError: If the two ran different seeds.
    """
    if first.keys() != second.keys():
        raise ValueError("the two evaluations ran different seeds")
    only_first = sum(bool(first[seed]) and not second[seed] for seed in first)
    only_second = sum(bool(second[seed]) and not first[seed] for seed in first)
    return only_first, only_second, mcnemar_exact(only_first, only_second)
