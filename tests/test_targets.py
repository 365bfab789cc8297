"""Targets: fitted on training closes only, and round-tripping to prices exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from forecast.errors import ConfigError
from forecast.inputs.targets import Target, fit_target

CLOSES = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.03, 200)))


@pytest.mark.parametrize("kind", ["price", "delta", "return"])
def test_true_targets_round_trip_to_the_true_prices(kind: str) -> None:
    target = fit_target(kind, CLOSES[:120])  # type: ignore[arg-type]
    horizon = 5
    ys = target.targets(CLOSES, horizon)
    origins = np.arange(60, 190)
    prices = target.to_prices(ys[origins], CLOSES[origins - 1])
    expected = np.stack([CLOSES[origins + h] for h in range(horizon)], axis=1)
    np.testing.assert_allclose(prices, expected, rtol=1e-10)


@pytest.mark.parametrize("kind", ["price", "delta", "return"])
def test_next_input_matches_inputs(kind: str) -> None:
    target = fit_target(kind, CLOSES[:120])  # type: ignore[arg-type]
    inputs = target.inputs(CLOSES)
    np.testing.assert_allclose(target.next_input(CLOSES[:-1], CLOSES[1:]), inputs[1:], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["price", "delta", "return"])
def test_json_round_trip(kind: str) -> None:
    target = fit_target(kind, CLOSES[:120])  # type: ignore[arg-type]
    assert Target.from_dict(target.to_dict()) == target


@pytest.mark.parametrize("kind", ["price", "delta", "return"])
def test_prepare_fits_statistics_on_the_training_part_only(price_csv: Path, kind: str) -> None:
    """Through the code that chooses the slice: validation and test prices change nothing fitted."""
    from forecast.config import WindowConfig
    from forecast.data.loader import load_prices
    from forecast.runs.training import prepare

    series = load_prices(price_csv)
    config = WindowConfig(window=20)
    base = prepare(series, config, kind)  # type: ignore[arg-type]
    train_end = base.split.train_end
    later = series.close.copy()
    later.iloc[train_end:] *= 50  # wild validation and test periods
    moved = prepare(dataclasses.replace(series, close=later), config, kind)  # type: ignore[arg-type]
    assert moved.target == base.target
    np.testing.assert_array_equal(moved.parts["train"].x, base.parts["train"].x)
    earlier = series.close.copy()
    earlier.iloc[train_end - 30:train_end] *= 2  # the check can fail: the training part does move it
    assert prepare(dataclasses.replace(series, close=earlier), config, kind).target != base.target  # type: ignore[arg-type]


def test_return_target_is_scale_free_and_standardised() -> None:
    target = fit_target("return", CLOSES[:120])
    z = target.inputs(CLOSES)[1:120]
    assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0)
    assert target.training_range() is None
    np.testing.assert_allclose(fit_target("return", 10 * CLOSES[:120]).inputs(10 * CLOSES), target.inputs(CLOSES))


def test_bad_target_inputs() -> None:
    with pytest.raises(ConfigError, match="positive closes"):
        fit_target("return", np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ConfigError, match="unknown target"):
        Target.from_dict({"kind": "volatility"})
