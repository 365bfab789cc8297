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
