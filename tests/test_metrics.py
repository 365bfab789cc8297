"""The Diebold–Mariano test of daily losses (interval scores): by hand, on identical, shifted and pooled series."""

from __future__ import annotations

import numpy as np
import pytest


def loss_dm_pvalue(loss_a: np.ndarray, loss_b: np.ndarray, lags: int | None = None) -> float | None:
    """The one-series test, as band tables run it: dm_stats of the difference, then its p-value."""
    from forecast.metrics import dm_stats, pooled_dm_pvalue_of

    stats = dm_stats(loss_a - loss_b, lags)
    return pooled_dm_pvalue_of([stats]) if stats is not None else None


def pooled_dm_pvalue(differences: list[np.ndarray], lags: int | None = None) -> float | None:
    from forecast.metrics import dm_stats, pooled_dm_pvalue_of

    return pooled_dm_pvalue_of([s for s in (dm_stats(d, lags) for d in differences) if s is not None])


def test_the_interval_score_dm_test_gives_one_for_identical_scores_and_small_p_for_a_shift() -> None:
    from forecast.metrics import dm_stats, pooled_dm_pvalue_of

    rng = np.random.default_rng(8)
    scores = rng.exponential(1.0, 500)
    assert loss_dm_pvalue(scores, scores) == 1.0
    assert loss_dm_pvalue(scores, scores + 0.3) == 0.0  # a constant difference: certain
    noisy = scores * np.exp(rng.normal(0, 0.1, 500))
    assert loss_dm_pvalue(noisy - 0.2, scores) < 0.001
    assert loss_dm_pvalue(noisy, noisy[::-1]) > 0.05  # the same scores in another order: no difference
    assert loss_dm_pvalue(scores[:5], scores[:5] + 1) is None  # too few days
    halves = [noisy[:250] - scores[:250], noisy[250:] - scores[250:]]
    pooled = pooled_dm_pvalue(halves, lags=0)
    assert pooled == pytest.approx(loss_dm_pvalue(noisy, scores, lags=0), rel=1e-3)  # pooled halves: one series
    stats = [dm_stats(d) for d in halves]
    assert pooled_dm_pvalue_of([s for s in stats if s is not None]) == pytest.approx(pooled_dm_pvalue(halves))


def test_the_newey_west_variance_by_hand() -> None:
    from forecast.metrics import _long_run

    d = np.array([1.0, 3.0, 2.0, 6.0])
    c = d - d.mean()
    gamma0, gamma1 = c @ c / 4, c[1:] @ c[:-1] / 4
    assert _long_run(d, 1) == pytest.approx(gamma0 + 2 * 0.5 * gamma1)
    assert _long_run(d, 0) == pytest.approx(gamma0)
