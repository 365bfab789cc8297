"""Metrics against hand-computed values, and the copies-yesterday flag."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.metrics import compare_to_naive, metrics


def test_metrics_by_hand() -> None:
    actual = np.array([100.0, 110.0, 105.0])
    predicted = np.array([102.0, 106.0, 105.0])
    previous = np.array([101.0, 100.0, 110.0])
    m = metrics(actual, predicted, previous)
    assert m.mae == pytest.approx((2 + 4 + 0) / 3)
    assert m.rmse == pytest.approx(np.sqrt((4 + 16 + 0) / 3))
    assert m.mape == pytest.approx(100 * (2 / 100 + 4 / 110 + 0) / 3)
    # moves: +1 vs -1 (wrong), +6 vs +10 (right), -5 vs -5 (right)
    assert m.directional_accuracy == pytest.approx(2 / 3)


def test_naive_has_no_direction_and_ratio_is_relative_mae() -> None:
    actual = np.array([100.0, 110.0, 105.0])
    previous = np.array([101.0, 100.0, 110.0])
    result = compare_to_naive(actual, actual.copy(), previous)
    assert result.naive.directional_accuracy is None
    assert result.naive.mae == pytest.approx((1 + 10 + 5) / 3)
    assert result.mae_ratio == 0.0
    assert not result.copies_yesterday


def test_a_model_that_returns_the_previous_close_is_flagged() -> None:
    rng = np.random.default_rng(1)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    actual, previous = prices[1:], prices[:-1]
    echo = previous * (1 + rng.normal(0, 0.001, len(previous)))
    flagged = compare_to_naive(actual, echo, previous)
    assert flagged.copies_yesterday
    assert flagged.mae_ratio == pytest.approx(1.0, abs=0.1)
    assert flagged.to_dict()["skill"] == pytest.approx(1 - flagged.mae_ratio)


def test_a_biased_model_is_bad_but_not_called_a_copy() -> None:
    actual = np.linspace(100, 200, 50)
    previous = actual - 2
    biased = actual * 0.5
    result = compare_to_naive(actual, biased, previous)
    assert result.mae_ratio > 10
    assert not result.copies_yesterday


# ---------------------------------------------------------------- NumPy-only metrics (the base install has no scipy)

def test_metrics_equal_scikit_learn_s_on_the_same_numbers() -> None:
    from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, root_mean_squared_error

    from forecast.metrics import metrics

    rng = np.random.default_rng(5)
    actual = rng.lognormal(9, 1, 700)
    predicted = actual * (1 + rng.normal(0, 0.03, 700))
    actual[3] = 0.0  # scikit-learn's MAPE guards a zero with machine epsilon; so does ours
    got = metrics(actual, predicted, np.roll(actual, 1))
    assert got.mae == mean_absolute_error(actual, predicted)
    assert got.rmse == root_mean_squared_error(actual, predicted)
    assert got.mape == 100 * mean_absolute_percentage_error(actual, predicted)


@pytest.mark.parametrize("df", [1, 2, 5, 29, 519, 5000])
def test_student_t_tail_matches_scipy(df: int) -> None:
    from scipy.stats import t as student_t

    from forecast.metrics import student_t_sf

    for value in (0.0, 1e-9, 0.3, 1.0, 1.96, 2.5, 4.0, 12.0, 300.0, -1.5):
        assert student_t_sf(value, df) == pytest.approx(float(student_t.sf(value, df)), rel=1e-9, abs=1e-300)
    assert student_t_sf(float("inf"), df) == 0.0 and student_t_sf(-float("inf"), df) == 1.0
