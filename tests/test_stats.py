"""robot_rl.stats: Wilson score intervals against hand-computed values."""

from __future__ import annotations

import pytest

from robot_rl.stats import mcnemar_exact, paired_comparison, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "expected"),
    [
        # 0/n: (0, z^2 / (n + z^2)); n/n: (n / (n + z^2), 1); z = 1.959964 at 95 %, 1.644854 at 90 %.
        (0, 10, 0.95, (0.0, 0.277533)),
        (10, 10, 0.95, (0.722467, 1.0)),
        (0, 10, 0.90, (0.0, 0.212942)),
        # 5/10: centre 0.5, half width z / (1 + z^2 / n) * sqrt(0.25 / n + z^2 / (4 n^2)).
        (5, 10, 0.95, (0.236593, 0.763407)),
        # 45/50 (a 90 % success rate over the benchmark's 50 episodes).
        (45, 50, 0.95, (0.786398, 0.956524)),
        (1, 1, 0.95, (0.206549, 1.0)),
    ],
)
def test_known_values(successes: int, trials: int, confidence: float, expected: tuple[float, float]) -> None:
    assert wilson_interval(successes, trials, confidence) == pytest.approx(expected, abs=1e-6)


def test_interval_reaches_0_and_1_exactly_at_the_extremes() -> None:
    for trials in range(1, 201):
        assert wilson_interval(0, trials)[0] == 0.0, trials
        assert wilson_interval(trials, trials)[1] == 1.0, trials


def test_interval_contains_the_rate_and_narrows_with_trials() -> None:
    low, high = wilson_interval(30, 40)
    assert low < 0.75 < high
    wide, narrow = wilson_interval(3, 4), wilson_interval(300, 400)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


@pytest.mark.parametrize(
    ("successes", "trials", "confidence", "match"),
    [
        (0, 0, 0.95, "trials must be >= 1"),
        (-1, 10, 0.95, "successes must be in"),
        (11, 10, 0.95, "successes must be in"),
        (1.0, 10, 0.95, "successes must be an int"),
        (True, 10, 0.95, "successes must be an int"),
        (1, 10, 1.0, "confidence"),
        (1, 10, 0.0, "confidence"),
        (1, 10, float("nan"), "confidence"),
    ],
)
def test_rejects_bad_input(successes: object, trials: object, confidence: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        wilson_interval(successes, trials, confidence)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("only_first", "only_second", "expected"),
    [
        (0, 0, 1.0),  # no discordant pair: no evidence either way
        (3, 3, 1.0),
        (0, 5, 2 / 32),  # every one of 5 discordant pairs one way: 2 * (1/2)^5
        (1, 5, 2 * 7 / 64),  # 2 * (C(6,0) + C(6,1)) / 2^6
        (9, 2, 2 * 67 / 2048),  # 2 * (1 + 11 + 55) / 2^11
    ],
)
def test_mcnemar_exact_known_values(only_first: int, only_second: int, expected: float) -> None:
    assert mcnemar_exact(only_first, only_second) == pytest.approx(expected)
    assert mcnemar_exact(only_second, only_first) == pytest.approx(expected)  # symmetric


@pytest.mark.parametrize(("only_first", "only_second"), [(-1, 2), (1.5, 2), (True, 0)])
def test_mcnemar_exact_rejects_bad_counts(only_first: object, only_second: object) -> None:
    with pytest.raises(ValueError, match="int >= 0"):
        mcnemar_exact(only_first, only_second)  # type: ignore[arg-type]


def test_paired_comparison_counts_the_discordant_seeds() -> None:
    first = {1: True, 2: False, 3: True, 4: True, 5: False}
    second = {1: True, 2: True, 3: False, 4: False, 5: False}
    assert paired_comparison(first, second) == (2, 1, pytest.approx(1.0))
    with pytest.raises(ValueError, match="different seeds"):
        paired_comparison(first, {1: True})
