"""OHLCV inputs: the loader keeps open/high/low/volume, the features are fitted on the training
part only, files without the columns fall back or are refused, and the scale head's band."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.config import WindowConfig
from forecast.data.loader import load_prices
from forecast.data.synth import write_synth
from forecast.errors import ConfigError, DataError
from forecast.inputs.channels import CLIP, Features, fit_features, raw_channels, resolve
from forecast.inputs.targets import fit_target
from forecast.runs.training import prepare
from tests.conftest import tiny_train_args


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def no_volume_csv(tmp_path: Path, days: int = 300) -> Path:
    """The synthetic Yahoo file without its Volume column."""
    full = tmp_path / "full.csv"
    write_synth(full, days=days, seed=7)
    frame = pd.read_csv(full).drop(columns=["Volume"])
    path = tmp_path / "no-volume.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_loader_keeps_open_high_low_volume_under_localised_names(tmp_path: Path) -> None:
    text = ('"Datum";"Zuletzt";"Eröffn.";"Hoch";"Tief";"Vol.";"+/- %"\n'
            '"02.01.2024";"45.000,5";"44.000,0";"46.000,0";"43.500,0";"1,5K";"2,27%"\n'
            '"01.01.2024";"44.000,0";"42.000,0";"44.500,0";"41.900,0";"2,0K";"4,76%"\n')
    series = load_prices(write(tmp_path, text))
    assert series.extra_columns == {"open": "Eröffn.", "high": "Hoch", "low": "Tief", "volume": "Vol."}
    np.testing.assert_allclose(series.table, [[44000.0, 42000.0, 44500.0, 41900.0, 2000.0],
                                              [45000.5, 44000.0, 46000.0, 43500.0, 1500.0]])


def test_intraday_rows_become_the_days_open_high_low_and_total_volume(tmp_path: Path) -> None:
    rows = ["Timestamp,Open,High,Low,Close,Volume_(BTC)"]
    start = 1_700_006_400  # 2023-11-15 00:00 UTC
    for minute, (o, h, low, c, v) in enumerate([(10, 12, 9, 11, 1), (11, 15, 10, 14, 2), (14, 14, 8, 9, 3)]):
        rows.append(f"{start + minute * 60},{o},{h},{low},{c},{v}")
    rows.append(f"{start + 86_400},9,10,7,8,5")
    rows.append(f"{start + 86_460},8,9,8,8.5,")  # a missing volume is not a zero
    series = load_prices(write(tmp_path, "\n".join(rows)))
    np.testing.assert_allclose(series.table[:, :5], [[9, 10, 15, 8, 6], [8.5, 9, 10, 7, 5]])
    assert np.isnan(series.table[:, 5]).all()  # 3 and 2 of a day's 1,440 minute bars: no realized variance


def test_intraday_bars_keep_each_days_realized_variance(tmp_path: Path) -> None:
    """rv = the sum of the day's squared bar log-returns (the first bar's from the previous close);
    a duplicated timestamp adds nothing, and a day with too few bars is flagged, not trusted."""
    rng = np.random.default_rng(3)
    start = 1_700_006_400  # 2023-11-15 00:00 UTC
    hours = [h for h in range(72) if not 48 <= h < 62]  # day 3 keeps 10 of its 24 bars
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(hours))))
    rows = ["unix,open,high,low,close,volume"]
    for k, (hour, close) in enumerate(zip(hours, closes, strict=True)):
        rows.append(f"{start + hour * 3600},{close},{close * 1.01},{close * 0.99},{close},1")
        if k == 5:
            rows.append(f"{start + hour * 3600},{close},{close * 1.01},{close * 0.99},{close},1")  # twice
    series = load_prices(write(tmp_path, "\n".join(rows)))
    rv = series.table[:, 5]
    returns = np.diff(np.log(closes))
    assert rv[0] == pytest.approx(np.sum(returns[:23] ** 2))  # day 1: 23 returns (its first bar has none before)
    assert rv[1] == pytest.approx(np.sum(returns[23:47] ** 2))  # day 2: 24, the first across midnight
    assert np.isnan(rv[2])
    assert series.extra_columns["rv"].startswith("realized variance")
    assert any(step.name == "rv_flagged" and step.count == 1 for step in series.steps)
    from forecast.inputs.channels import resolve

    assert resolve("auto", series.extra_columns, "return", "f")[-1] == "rv"  # rrange only by name
    ranges = np.log(1.01 / 0.99) ** 2
    assert series.table[0, 6] == pytest.approx(24 * ranges) and series.table[1, 6] == pytest.approx(24 * ranges)
    assert np.isnan(series.table[2, 6])  # the flagged day has no realized range either


def test_contradictory_high_low_are_ignored_not_the_close(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n2024-01-01,10,12,9,11,5\n2024-01-02,11,10,12,11.5,6\n"
    series = load_prices(write(tmp_path, text))
    assert list(series.close) == [11.0, 11.5]
    assert np.isnan(series.table[1, 1:4]).all() and series.table[1, 4] == 6
    assert [step.name for step in series.steps] == ["ohlc_inconsistent"]


def test_filled_gap_days_get_no_invented_high_low_or_volume(tmp_path: Path) -> None:
    text = ("Date,Open,High,Low,Close,Volume\n2024-01-01,10,12,9,11,5\n"
            "2024-01-03,11,13,10,12,6\n")
    table = load_prices(write(tmp_path, text)).table
    assert table[1, 0] == 11.0 and np.isnan(table[1, 1:]).all()


def test_data_inspect_lists_the_columns_found(tmp_path: Path) -> None:
    path = no_volume_csv(tmp_path)
    result = CliRunner().invoke(app, ["data", "inspect", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["columns"] == {"close": "Close", "open": "Open", "high": "High", "low": "Low"}


def test_channels_by_hand() -> None:
    table = np.array([[100.0, 98.0, 104.0, 95.0, 10.0], [110.0, 100.0, 111.0, 99.0, 20.0],
                      [105.0, np.nan, 112.0, 104.0, 0.0]])
    raw = raw_channels(table, ("return", "range", "body", "volume"))
    np.testing.assert_allclose(raw[1], [np.log(1.1), np.log(111 / 99), np.log(1.1), np.log(2.0)])
    np.testing.assert_allclose(raw[0, 1:3], [np.log(104 / 95), np.log(100 / 98)])
    assert np.isnan(raw[0, 0]) and np.isnan(raw[0, 3])  # day 0 has no change
    assert np.isnan(raw[2, 2]) and np.isnan(raw[2, 3])  # no open; zero volume is missing, not -inf
    extra = Features(("return", "range", "body", "volume"), (0.0, 0.05, 0.0, 0.0), (0.1, 0.02, 0.05, 1.0)).extra(table)
    assert np.isfinite(extra).all() and np.abs(extra).max() <= CLIP
    assert extra[2, 2] == 0.0 and extra[2, 3] == 0.0  # missing → the training mean


def test_auto_falls_back_to_close_without_volume_and_ohlcv_is_refused(tmp_path: Path) -> None:
    columns = {"open": "Open", "high": "High", "low": "Low"}
    assert resolve("auto", columns, "return", "f.csv") == ()
    assert resolve("auto", {**columns, "volume": "Volume"}, "return", "f.csv") == ("range", "body", "volume", "vol")
    assert resolve("ohlcv", {"high": "H", "low": "L", "volume": "V"}, "price", "f.csv") == ("return", "range",
                                                                                          "volume", "vol")
    with pytest.raises(DataError, match="has no volume"):
        resolve("ohlcv", columns, "return", "f.csv")
    with pytest.raises(ConfigError):
        resolve("everything", columns, "return", "f.csv")  # type: ignore[arg-type]


def test_feature_statistics_come_from_the_training_part_only(price_csv: Path) -> None:
    series = load_prices(price_csv)
    config = WindowConfig(window=10)
    base = prepare(series, config, "return", features="ohlcv")
    assert base.features.channels == ("range", "body", "volume", "vol")
    assert base.parts["train"].x.shape[2] == 5
    later = series.extra.copy()
    test_start = base.split.part("test")[0]
    later.iloc[test_start:, later.columns.get_loc("high")] *= 3  # wilder highs in the test period only
    later.iloc[test_start:, later.columns.get_loc("volume")] *= 50
    moved = prepare(dataclasses.replace(series, extra=later), config, "return", features="ohlcv")
    assert moved.features == base.features
    np.testing.assert_array_equal(moved.parts["train"].x, base.parts["train"].x)
    np.testing.assert_array_equal(moved.parts["val"].x, base.parts["val"].x)
    earlier = series.extra.copy()
    earlier.iloc[:20, earlier.columns.get_loc("high")] *= 3
    assert prepare(dataclasses.replace(series, extra=earlier), config, "return", features="ohlcv").features != \
        base.features


def test_the_vol_channel_is_the_riskmetrics_sigma_of_the_next_day() -> None:
    from forecast.bands.baselines import ewma_sigma
    from forecast.inputs.channels import ewma_log_vol

    closes = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.03, 300)))
    ours = np.exp(ewma_log_vol(closes))
    # after the start value has faded, day t's value is the EWMA σ a forecast for day t + 1 uses
    np.testing.assert_allclose(ours[150:299], ewma_sigma(closes, np.arange(151, 300)), rtol=1e-3)
    changed = closes.copy()
    changed[200:] *= np.exp(np.random.default_rng(1).normal(0, 0.2, 100))
    np.testing.assert_array_equal(np.exp(ewma_log_vol(changed))[:200], ours[:200])  # no look-ahead


def test_fit_features_guards_against_constant_and_empty_channels() -> None:
    table = np.column_stack([np.full(50, 10.0), np.full(50, 10.0), np.full(50, 10.0), np.full(50, 10.0),
                             np.full(50, np.nan)])
    fitted = fit_features(table, ("range", "volume"), 40)
    assert fitted.std == (1.0, 1.0) and fitted.mean == (0.0, 0.0)


def test_a_malformed_features_block_is_refused() -> None:
    good = {"kind": "ohlcv", "channels": ["range"], "mean": [0.1], "std": [0.02]}
    assert Features.from_dict(good).channels == ("range",)
    for bad in ({**good, "channels": ["rsi"]}, {**good, "std": [0.0]}, {**good, "mean": [float("nan")]},
                {**good, "mean": []}, {"kind": "ohlcv"}):
        with pytest.raises(ConfigError):
            Features.from_dict(bad)


def test_scale_head_outputs_become_price_sigmas_by_hand() -> None:
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, 100)))
    target = fit_target("return", closes)
    log_scales = np.log(np.array([[1.0, 2.0]]))
    point = np.array([[100.0, 110.0]])
    sigma = target.scale_to_prices(log_scales, point, cumulative=True)
    s = target.std
    np.testing.assert_allclose(sigma, [[100 * s, 110 * s * np.sqrt(1 + 4)]])
    price = fit_target("price", closes)
    width = price.scaler.high - price.scaler.low  # type: ignore[union-attr]
    np.testing.assert_allclose(price.scale_to_prices(log_scales, point, cumulative=False), [[width, 2 * width]])


@pytest.mark.slow
def test_ohlcv_is_refused_for_a_file_without_volume_and_auto_trains_on_the_close(tmp_path: Path) -> None:
    path = no_volume_csv(tmp_path)
    refused = CliRunner().invoke(app, [*tiny_train_args(path, tmp_path / "m"), "--features", "ohlcv"])
    assert refused.exit_code == 1
    assert refused.output.strip().startswith("Error:") and len(refused.output.strip().splitlines()) == 1
    assert "volume" in refused.output and not (tmp_path / "m").exists()
    trained = CliRunner().invoke(app, tiny_train_args(path, tmp_path / "auto"))
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "auto" / "run.json").read_text())["features"]["kind"] == "close"


@pytest.mark.slow
def test_an_ohlcv_model_refuses_a_newer_file_without_its_columns(tmp_path: Path) -> None:
    full = tmp_path / "full.csv"
    write_synth(full, days=300, seed=7)
    result = CliRunner().invoke(app, [*tiny_train_args(full, tmp_path / "m"), "--features", "ohlcv"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "m" / "run.json").read_text())
    assert run["features"]["channels"] == ["range", "body", "volume", "vol"] and len(run["features"]["std"]) == 4
    ok = CliRunner().invoke(app, ["predict", str(tmp_path / "m"), "--horizon", "3", "--interval", "0.8",
                                  "--format", "json"])
    assert ok.exit_code == 0, ok.output
    rows = json.loads(ok.stdout)["forecast"]
    assert len(rows) == 3 and all(r["lower"] < r["close"] < r["upper"] for r in rows)
    widths = [r["upper"] - r["lower"] for r in rows]
    assert widths == sorted(widths)  # the band widens with the horizon
    refused = CliRunner().invoke(app, ["predict", str(tmp_path / "m"), "--data", str(no_volume_csv(tmp_path))])
    assert refused.exit_code == 1 and refused.output.startswith("Error:") and "no volume column" in refused.output


def clustered_csv(path: Path, days: int = 1600, seed: int = 3) -> Path:
    """Daily OHLCV whose log-returns have a known, strongly clustered volatility: log σ follows an
    AR(1) (φ = 0.98), so calm and turbulent stretches last weeks, as in crypto."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    log_vol = lfilter([1.0], [1.0, -0.98], rng.normal(0.0, 0.12, days)) + np.log(0.03)
    vol = np.exp(log_vol)
    close = 100 * np.exp(np.cumsum(vol * rng.standard_normal(days)))
    opens = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(opens, close) * np.exp(np.abs(rng.normal(0.0, 0.5, days)) * vol)  # the day's range
    low = np.minimum(opens, close) / np.exp(np.abs(rng.normal(0.0, 0.5, days)) * vol)  # grows with σ
    pd.DataFrame({"Date": pd.date_range("2018-01-01", periods=days, freq="D").strftime("%Y-%m-%d"),
                  "Open": opens, "High": high, "Low": low, "Close": close,
                  "Volume": rng.lognormal(10.0, 0.3, days).round()}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_the_scale_head_band_is_sharper_than_a_constant_band_at_the_same_coverage(tmp_path: Path) -> None:
    from forecast.bands.baselines import interval_score
    from forecast.bands.conformal import coverage
    from forecast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig
    from forecast.forecaster import Forecaster
    from forecast.runs import pipeline

    csv = clustered_csv(tmp_path / "clustered.csv")
    config = RunConfig(window=WindowConfig(window=20, test_size=0.25),
                       model=ModelConfig(units=(8,), dropout=0.0, features="ohlcv", interval_method="scale-conformal"),
                       train=TrainConfig(epochs=25, batch_size=64, patience=5, learning_rate=5e-3))
    from forecast.runs.context import RunContext

    pipeline.train(csv, config, RunContext(tmp_path / "m"))
    model = Forecaster.load(tmp_path / "m", "numpy", calibrated=True)
    series = load_prices(csv)
    closes, prices = series.closes, model.prices(series)
    split = model.run.split
    test_first = len(closes) - split["test"].days
    point = model.forecast(prices, test_first, len(closes))
    lower, upper = model.band(prices, test_first, len(closes), point, 0.9)
    actual, last = closes[test_first:], closes[test_first - 1:-1]
    ours = coverage(actual[:, None], lower, upper)[0]
    assert abs(ours - 0.9) < 0.04  # honest about coverage on days it never saw
    # The constant band: the same point, a width fixed as a share of the last close, set on the test
    # days themselves to cover exactly as often as ours (an advantage no real constant band has).
    miss = np.abs(actual - point[:, 0]) / last
    share = np.quantile(miss, ours, method="inverted_cdf")
    flat_lower, flat_upper = point[:, 0] - share * last, point[:, 0] + share * last
    assert coverage(actual[:, None], flat_lower[:, None], flat_upper[:, None])[0] == pytest.approx(ours, abs=0.005)
    sharp = np.mean(interval_score(actual, lower[:, 0], upper[:, 0], 0.9) / last)
    wide = np.mean(interval_score(actual, flat_lower, flat_upper, 0.9) / last)
    assert sharp < 0.95 * wide  # the band that follows the volatility scores at least 5% better
    widths = (upper - lower)[:, 0] / last
    assert widths.max() > 2 * widths.min()  # it widens in turbulent weeks and narrows in calm ones


@pytest.mark.slow
def test_a_calibration_made_for_another_band_method_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    calibration = json.loads((folder / "calibration.json").read_text())
    assert calibration["method"] == "quantile" and calibration["samples"] == 0
    calibration.update(method="mc-conformal", samples=20)
    (folder / "calibration.json").write_text(json.dumps(calibration))
    result = CliRunner().invoke(app, ["predict", str(folder), "--interval", "0.9"])
    assert result.exit_code == 1 and result.output.startswith("Error:") and "mismatched" in result.output
    assert CliRunner().invoke(app, ["predict", str(folder)]).exit_code == 0  # the point forecast needs no band
