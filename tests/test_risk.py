"""Band scores against hand-computed values; baseline bands that use only days before each origin."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.bands import baselines as risk
from forecast.errors import DataError


def test_interval_score_by_hand() -> None:
    actual = np.array([100.0, 90.0, 115.0])
    lower, upper = np.array([95.0, 95.0, 95.0]), np.array([105.0, 105.0, 105.0])
    # α = 0.1: width 10; below by 5 → + 20·5; above by 10 → + 20·10
    assert risk.interval_score(actual, lower, upper, 0.9).tolist() == pytest.approx([10.0, 110.0, 210.0])


def test_pinball_loss_by_hand() -> None:
    actual = np.array([10.0])
    quantiles = np.array([[8.0, 12.0]])
    # q=0.1 at 8: y above → 0.1·2 = 0.2; q=0.9 at 12: y below → (1-0.9)·2 = 0.2; mean 0.2
    assert risk.pinball_loss(actual, quantiles, np.array([0.1, 0.9])) == pytest.approx(0.2)
    # a median forecast's pinball loss is half its absolute error
    assert risk.pinball_loss(np.array([3.0, 7.0]), np.array([[5.0], [5.0]]), np.array([0.5])) == pytest.approx(1.0)


def test_a_wide_band_covers_everything_and_still_scores_worse_than_a_sharp_one() -> None:
    rng = np.random.default_rng(0)
    actual = 100 + rng.normal(0, 1, 2000)
    sharp = risk.interval_score(actual, np.full(2000, 100 - 1.645), np.full(2000, 100 + 1.645), 0.9).mean()
    wide = risk.interval_score(actual, np.full(2000, 80.0), np.full(2000, 120.0), 0.9).mean()
    assert ((actual >= 80) & (actual <= 120)).all()  # full coverage…
    assert wide > 5 * sharp  # …at a far worse score


def _random_walk(days: int = 900, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volatility = np.where(np.arange(days) % 200 < 100, 0.01, 0.04)  # calm and turbulent stretches
    return 100 * np.exp(np.cumsum(rng.normal(0, volatility)))


@pytest.mark.parametrize("step", [1, 3])
@pytest.mark.parametrize("method", [risk.empirical, risk.ewma, risk.garch, risk.gjr_garch, risk.qr_har,
                                    lambda c, o, step: risk.garch(c, o, step=step, window=400),
                                    lambda c, o, step: risk.qr_har(c, o, step=step, ranges=_ranges(c))])
def test_a_baseline_band_uses_only_days_before_its_origin(method: object, step: int) -> None:
    closes = _random_walk()
    origins = np.arange(700, 760)
    before = method(closes, origins, step=step)  # type: ignore[operator]
    changed = closes.copy()
    changed[730:] *= np.exp(np.linspace(0, 1, len(closes) - 730))  # rewrite day 730 and after
    after = method(changed, origins, step=step)  # type: ignore[operator]
    assert np.array_equal(before[:31], after[:31])  # origins ≤ 730 (last close ≤ 729): untouched
    assert not np.allclose(before[31:], after[31:])
    assert before.shape == (60, len(risk.QUANTILES)) and (np.diff(before, axis=1) >= 0).all()


def _ranges(closes: np.ndarray) -> np.ndarray:
    """A Parkinson variance per day that follows the close (a made-up range: |log move| wide)."""
    move = np.abs(np.diff(np.log(closes), prepend=np.log(closes[0]))) + 1e-4
    table = np.column_stack([closes, closes, closes * np.exp(move), closes, np.ones(len(closes))])
    return risk.parkinson_variance(table)


def test_baselines_widen_with_the_horizon_as_their_models_say() -> None:
    closes = _random_walk(900)
    origins = np.arange(700, 760)
    log_width = {step: {name: np.log(q[:, -1] / q[:, 0]) for name, q in
                        risk.baseline_quantiles(closes, origins, step).items()} for step in (1, 4)}
    for name in ("empirical", "ewma"):  # √h: four days ahead is twice as wide in log terms
        np.testing.assert_allclose(log_width[4][name], 2 * log_width[1][name], rtol=1e-9)
    ratio = log_width[4]["garch"] / log_width[1]["garch"]
    assert (ratio > 1.5).all() and (ratio < 2.5).all()  # GARCH: its 4-day variance, mean-reverting


def test_a_band_table_h_days_ahead_scores_from_the_origin_h_days_before() -> None:
    closes = _random_walk(900)
    days = np.arange(760, 800)
    q = np.column_stack([closes[days - 2]] * len(risk.QUANTILES)) * np.exp(np.linspace(-0.1, 0.1, len(risk.QUANTILES)))
    table = risk.band_table(closes, days, {"model": q}, step=2)
    assert table["step"] == 2 and table["days"] == 40
    row = next(r for r in table["rows"] if r["method"] == "model")
    lower, upper = risk.band(q, 0.9)
    expected = risk.interval_score(closes[days], lower, upper, 0.9) / closes[days - 2]  # the last close known
    assert row["interval_score_pct"] == pytest.approx(100 * expected.mean())


def test_ewma_follows_the_riskmetrics_recursion() -> None:
    closes = _random_walk(200)
    returns = np.diff(np.log(closes))
    variance = np.mean(returns[:30] ** 2)
    for r in returns[:149]:
        variance = 0.94 * variance + 0.06 * r * r
    assert risk.ewma_sigma(closes, np.array([150]))[0] == pytest.approx(np.sqrt(variance))


def test_volatility_bands_widen_in_turbulent_weeks() -> None:
    closes = _random_walk(1400)
    origins = np.arange(1000, 1400)
    calm = (origins % 200 >= 30) & (origins % 200 < 100)  # well inside a calm stretch
    turbulent = (origins % 200 >= 130)
    for method in (risk.ewma, risk.garch):
        lower, upper = risk.band(method(closes, origins), 0.9)
        width = (upper - lower) / closes[origins - 1]
        assert width[turbulent].mean() > 2 * width[calm].mean()
    lower, upper = risk.band(risk.empirical(closes, origins), 0.9)  # a year of history: no such contrast
    width = (upper - lower) / closes[origins - 1]
    assert width[turbulent].mean() < 1.5 * width[calm].mean()


def test_too_little_history_is_a_data_error_and_the_baseline_is_left_out() -> None:
    closes = _random_walk(400)
    with pytest.raises(DataError, match="GARCH band needs 250 days"):
        risk.garch(closes, np.arange(200, 220))
    assert sorted(risk.baseline_quantiles(closes, np.arange(200, 220))) == ["ewma"]


def test_scores_report_coverage_at_each_level() -> None:
    rng = np.random.default_rng(3)
    last = np.full(5000, 100.0)
    actual = last * np.exp(rng.normal(0, 0.02, 5000))
    from scipy.stats import norm

    quantiles = last[:, None] * np.exp(0.02 * norm.ppf(risk.QUANTILES))[None, :]
    scores = risk.score(actual, last, quantiles)
    for level, observed in scores.coverage.items():
        assert observed == pytest.approx(float(level), abs=0.02)
    assert scores.width_pct == pytest.approx(100 * (np.exp(0.02 * 1.645) - np.exp(-0.02 * 1.645)), rel=1e-3)


def test_garch_fits_once_per_series_and_refit_day_whatever_the_step() -> None:
    """Steps 1…3 from the same origins share each block's fit; the numbers equal fresh fits', and another
    series (here the same prefix with other later days) never reuses them."""
    closes = _random_walk(900, seed=4)
    origins = np.arange(700, 760)
    risk._GARCH_FITS.clear()
    shared = [risk.garch(closes, origins, refit_days=30, step=step) for step in (1, 2, 3)]
    assert len(risk._GARCH_FITS) == 2  # two refit blocks, fitted once each for the three steps
    for step, quantiles in zip((1, 2, 3), shared, strict=True):
        risk._GARCH_FITS.clear()
        np.testing.assert_array_equal(quantiles, risk.garch(closes, origins, refit_days=30, step=step))
    other = closes.copy()
    other[800:] *= 1.5  # the same returns before the origins, other ones after
    risk.garch(other, origins, refit_days=30)
    assert len(risk._GARCH_FITS) == 4  # its two blocks are fitted anew


def test_the_quantile_regression_minimises_the_check_loss() -> None:
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(400), rng.exponential(1.0, (400, 2))])
    y = x @ np.array([0.5, 1.0, -0.3]) + rng.exponential(1.0, 400)

    def loss(beta: np.ndarray, level: float) -> float:
        e = y - x @ beta
        return float(np.sum(np.maximum(level * e, (level - 1) * e)))

    for level in (0.1, 0.5, 0.9):
        beta = risk.quantile_regression(x, y, level)
        best = loss(beta, level)
        for direction in rng.normal(size=(50, 3)):  # no nearby point does better
            assert loss(beta + 1e-3 * direction, level) >= best - 1e-9
        assert np.mean(y <= x @ beta + 1e-9) == pytest.approx(level, abs=0.02)
    only = risk.quantile_regression(np.ones((9, 1)), np.arange(9.0), 0.5)  # intercept only: the sample median
    assert only[0] == pytest.approx(4.0)


def test_qr_har_regresses_the_absolute_return_on_har_features_by_hand() -> None:
    closes = _random_walk(900)
    x = risk.har_features(closes)
    r = np.diff(np.log(closes))
    t = 500
    assert x[t].tolist() == pytest.approx([1.0, abs(r[t - 2]), np.sqrt(np.mean(r[t - 6:t - 1] ** 2)),
                                           np.sqrt(np.mean(r[t - 23:t - 1] ** 2)),
                                           risk.ewma_sigma(closes, np.array([t]))[0]])
    origins = np.arange(700, 730)  # one refit: origins 31 … 699 are known at 700
    q = risk.qr_har(closes, origins)
    rows = np.arange(risk.HAR_FIRST, 700)
    target = np.abs(np.log(closes[rows] / closes[rows - 1]))
    beta = risk.quantile_regression(x[rows], target, 0.9)
    lower, upper = risk.band(q, 0.9)
    np.testing.assert_allclose(np.log(upper / closes[origins - 1]), x[origins] @ beta, rtol=1e-9)
    np.testing.assert_allclose(np.log(closes[origins - 1] / lower), x[origins] @ beta, rtol=1e-9)
    assert (np.diff(q, axis=1) >= 0).all() and np.allclose(q[:, list(risk.QUANTILES).index(0.5)], closes[origins - 1])


def test_gjr_garch_matches_the_arch_package_fitted_by_hand() -> None:
    from arch import arch_model
    from scipy.stats import t as student_t

    closes = _random_walk(700, seed=3)
    origins = np.arange(600, 610)
    q = risk.gjr_garch(closes, origins)
    returns = np.diff(np.log(closes)) * 100
    fitted = arch_model(returns, mean="Zero", vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False).fit(
        last_obs=599, disp="off")
    variance = fitted.forecast(horizon=1, start=598, reindex=True).variance.to_numpy()[origins - 2, 0]
    nu = fitted.params["nu"]
    upper = closes[origins - 1] * np.exp(np.sqrt(variance) / 100 * student_t.ppf(0.95, nu) * np.sqrt((nu - 2) / nu))
    np.testing.assert_allclose(risk.band(q, 0.9)[1], upper, rtol=1e-6)


def test_the_bar_is_chosen_on_the_days_before_and_never_on_the_evaluated_ones() -> None:
    closes = _random_walk(1300)
    days = np.arange(1100, 1300)
    table = risk.band_table(closes, days, {})
    assert table["selection"]["days"] == 365 and table["bar"] == min(
        table["selection"]["interval_score_pct"], key=table["selection"]["interval_score_pct"].get)
    changed = closes.copy()
    changed[1100:] = changed[1099] * np.exp(np.cumsum(np.full(200, 0.001)))  # a quiet climb instead
    again = risk.band_table(changed, days, {})
    assert again["bar"] == table["bar"] and again["selection"] == table["selection"]
    assert {row["method"] for row in table["rows"]} == set(risk.BASELINE_BANDS)
    bar = next(row for row in table["rows"] if row["method"] == table["bar"])
    assert bar["interval_score_vs_bar"] == 1.0 and bar["dm_pvalue_vs_bar"] is None
    assert bar["verdict"] in ("the bar to clear", "miscalibrated")


def test_a_model_band_is_sharper_only_when_the_dm_test_says_so() -> None:
    closes = _random_walk(1300)
    days = np.arange(1100, 1300)
    ewma = risk.ewma(closes, days)
    last = closes[days - 1][:, None]
    narrower = last * (ewma / last) ** 0.97  # 3% narrower in log terms every day
    table = risk.band_table(closes, days, {"same": ewma, "narrower": narrower})
    rows = {row["method"]: row for row in table["rows"]}
    assert rows["same"]["dm_pvalue_vs_ewma"] == 1.0 and rows["same"]["verdict"].startswith("level with EWMA")
    p = rows["narrower"]["dm_pvalue_vs_ewma"]
    sharper = rows["narrower"]["interval_score_vs_ewma"] < 1 and p < 0.05
    assert rows["narrower"]["verdict"].startswith("sharper than EWMA" if sharper else "level with EWMA")
