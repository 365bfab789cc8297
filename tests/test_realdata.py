"""Every real file in FORECAST_REAL_DATA loads to the values read off the files by hand.

The expectations come from reading the raw files (head/tail and PROVENANCE.md), not from the
loader: first and last date, days after cleaning, and the close on the last date.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.data.loader import load_prices

pytestmark = pytest.mark.realdata

EXPECTED = {
    # file: (layout, first date, last date, days, last close)
    "yahoo-btc-usd-daily.csv": ("yahoo", "2014-09-17", "2024-08-08", 3614, 59549.183594),
    "coinmarketcap-btc.csv": ("coinmarketcap", "2024-04-27", "2025-05-31", 400, 104638.0912550028),
    "investing-btc.csv": ("investing", "2019-01-01", "2024-12-31", 2192, 93557.2),
    # 67,824 minutes resample to the 48 UTC days 2011-12-31 … 2012-02-16
    "bitstamp-btc-minute.csv": ("bitstamp-minute", "2011-12-31", "2012-02-16", 48, 4.61),
    "binance-btcusdt-1d.csv": ("binance-klines", "2022-02-01", "2023-06-15", 500, 25077.63),
    # 3,776 rows + the two missing days (2013-06-04, 2015-01-28) filled forward
    "coingecko-btc-usd.csv": ("coingecko", "2013-04-28", "2023-08-31", 3778, 27297.261438480404),
    "cryptodatadownload-btc-daily.csv": ("cryptodatadownload", "2014-11-28", "2022-08-20", 2823,
                                         20957.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_loads_to_hand_read_values(real_data: Path, name: str) -> None:
    path = real_data / name
    if not path.exists():
        pytest.skip(f"{name} is not in {real_data}")
    layout, first, last, days, last_close = EXPECTED[name]
    series = load_prices(path)
    assert series.layout == layout
    assert series.first_date == first
    assert series.last_date == last
    assert len(series.close) == days
    assert series.close.iloc[-1] == pytest.approx(last_close, rel=1e-12)
    assert series.close.index.is_monotonic_increasing and series.close.index.is_unique
    assert series.close.notna().all()


def test_every_csv_in_the_folder_loads_or_says_why(real_data: Path) -> None:
    runner = CliRunner()
    for path in sorted(real_data.glob("*.csv")):
        result = runner.invoke(app, ["data", "inspect", str(path), "--format", "json"])
        assert result.exit_code in (0, 1), (path.name, result.output)
        if result.exit_code == 1:
            assert result.stderr.startswith("Error: ") and "Traceback" not in result.output


def test_coingecko_fills_exactly_the_two_missing_days(real_data: Path) -> None:
    series = load_prices(real_data / "coingecko-btc-usd.csv")
    steps = {s.name: s.count for s in series.steps}
    assert steps["gaps_filled"] == 2
    assert series.close["2013-06-04"] == series.close["2013-06-03"]
    assert series.close["2015-01-28"] == series.close["2015-01-27"]


def test_minute_dump_is_too_short_for_the_default_window(real_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", str(real_data / "bitstamp-btc-minute.csv"),
                                      "--out", str(tmp_path / "m"), "--quiet"])
    assert result.exit_code == 1
    assert "the data has 48 days" in result.stderr and "lower --window" in result.stderr


@pytest.mark.slow
def test_train_and_predict_on_a_real_file(real_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "investing"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(real_data / "investing-btc.csv"), "--window", "10",
                                  "--units", "8", "--epochs", "2", "--out", str(out), "--quiet",
                                  "--format", "json"])
    assert trained.exit_code == 0, trained.output
    predicted = runner.invoke(app, ["predict", str(out), "--format", "json", "--horizon", "2"])
    assert predicted.exit_code == 0, predicted.output
    assert '"last_date": "2024-12-31"' in predicted.stdout
    assert '"date": "2025-01-02"' in predicted.stdout


def test_the_44_coin_panel_is_refused_listed_and_read_by_asset(multi_data: Path) -> None:
    from forecast.data.loader import LoadOptions, PanelError

    path = multi_data / "panel-crypto-markets-kaggle.csv"
    with pytest.raises(PanelError) as caught:
        load_prices(path)
    assets = {asset["asset"]: asset for asset in caught.value.assets}
    assert len(assets) == 44 and caught.value.column == "symbol"  # PROVENANCE.md: 44 slugs
    assert assets["BTC"]["rows"] == 1793 and assets["BTC"]["first_date"] == "2013-04-28"
    assert assets["DCR"]["last_date"] == "2017-09-22"  # the cut-off last slug
    btc = load_prices(path, LoadOptions(asset="bitcoin"))
    assert (btc.asset, len(btc.close), btc.first_date, btc.last_date) == ("BTC", 1793, "2013-04-28", "2018-03-25")
    assert btc.close.loc["2013-04-29"] == pytest.approx(144.54)  # the file's second row


@pytest.mark.parametrize(("name", "frequency"), [("sp500-yahoo.csv", "B"), ("cov-dxy-investing.csv", "B"),
                                                 ("ethereum-kaggle-coin.csv", "D"), ("bnb-binance-cdd.csv", "D")])
def test_closed_markets_are_never_filled(multi_data: Path, name: str, frequency: str) -> None:
    series = load_prices(multi_data / name)
    assert series.frequency == frequency
    if frequency == "B":
        assert not any(step.name == "gaps_filled" for step in series.steps)


@pytest.mark.parametrize("name", ["binance-btcusdt-1h-2017-2021.csv", "binance-ethusdt-1h-2017-2021.csv"])
def test_hourly_files_with_two_date_formats_become_1394_days(intraday_data: Path, name: str) -> None:
    series = load_prices(intraday_data / name)
    # PROVENANCE.md: 2017-08-17 04:00 → 2021-06-10 00:00, agreeing with Binance's 1,394 daily candles
    assert (series.first_date, series.last_date, len(series.close)) == ("2017-08-17", "2021-06-10", 1394)
    assert series.unit == "USDT"


def test_the_44_coin_panel_reads_every_asset_in_one_pass(multi_data: Path) -> None:
    import numpy as np

    from forecast.data.loader import LoadOptions, Unreadable, load_assets

    path = multi_data / "panel-crypto-markets-kaggle.csv"
    read = load_assets(path)
    series = {item.asset: item for item in read if not isinstance(item, Unreadable)}
    bad = [item for item in read if isinstance(item, Unreadable)]
    assert len(read) == 44 and len(series) == 43
    assert [item.asset for item in bad] == ["REP"] and "99 days in a row" in bad[0].reason  # augur's 100-day gap
    assert len(series["BTC"].close) == 1793 and series["DCR"].last_date == "2017-09-22"
    for name in ("BTC", "DOGE", "XMR"):
        alone = load_prices(path, LoadOptions(asset=name))
        np.testing.assert_array_equal(series[name].table, alone.table)


@pytest.mark.parametrize("name", ["binance-btcusdt-1h-2017-2021.csv", "binance-ethusdt-1h-2017-2021.csv"])
def test_hourly_files_keep_each_days_realized_variance(intraday_data: Path, name: str) -> None:
    import numpy as np

    series = load_prices(intraday_data / name)
    rv = series.table[:, 5]
    # the last day, 2021-06-10, holds only its 00:00 bar: flagged, not trusted; every other day is
    assert np.isnan(rv[-1]) and np.isfinite(rv[:-1]).all()
    returns = np.abs(np.diff(np.log(series.closes)))
    assert np.corrcoef(np.sqrt(rv[1:-1]), returns[:-1])[0, 1] > 0.5  # a day's rv tracks its move
    assert 0.5 < np.median(np.sqrt(rv[1:-1]) / np.maximum(returns[:-1], 1e-9)) < 5


def test_real_covariates_are_carried_at_most_max_gap_days(real_data: Path, multi_data: Path) -> None:
    import pandas as pd

    from forecast.data.covariates import Request, Spec, align, attach, load_covariate

    btc = load_prices(real_data / "yahoo-btc-usd-daily.csv")
    dxy = load_covariate(Spec(multi_data / "cov-dxy-investing.csv"))
    fear = load_covariate(Spec(multi_data / "cov-fear-greed-alternative-me.csv", "value"))
    assert dxy.kind == "change" and fear.kind == "level" and fear.column == "value"
    weekend = pd.date_range("2020-01-04", "2020-01-05")  # Sat, Sun after Friday 2020-01-03
    for gap, expect in ((1, 1), (2, 0)):
        assert align(dxy, weekend, lag=0, max_gap=gap).missing == expect
    attached = attach(btc, [fear, dxy], Request((), lag=1, max_gap=7))
    assert attached.table.shape[1] == 9
    fear_days = attached.table[:, 7]
    # Fear & Greed starts 2018-02-01: with lag 1, first seen by 2018-02-02's inputs
    first = attached.close.index[int(pd.Series(fear_days).first_valid_index())]
    assert first == pd.Timestamp("2018-02-02")
