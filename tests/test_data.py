"""The loader: layouts, cleaning rules, and clear errors (generated files only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.loader import LoadOptions, load_prices
from forecast.errors import DataError


def write(tmp_path: Path, text: str | bytes, name: str = "p.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def steps(series) -> dict[str, int]:
    return {s.name: s.count for s in series.steps}


def test_yahoo_layout(tmp_path: Path) -> None:
    path = write(tmp_path, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                 "2024-01-01,1,1,1,100.5,100.5,10\n2024-01-02,1,1,1,101.5,101.5,10\n"
                 "2024-01-03,1,1,1,99.0,99.0,10")
    series = load_prices(path)
    assert series.layout == "yahoo"
    assert series.close_column == "Close"
    assert list(series.close) == [100.5, 101.5, 99.0]
    assert series.first_date == "2024-01-01" and series.last_date == "2024-01-03"
    assert series.close.index.freq is None or series.close.index.freqstr == "D"


def test_coinmarketcap_semicolon_bom_newest_first(tmp_path: Path) -> None:
    text = ("\ufefftimeOpen;timeClose;timeHigh;timeLow;name;open;high;low;close;volume;marketCap;timestamp\n"
            '"2025-05-31T00:00:00.000Z";"2025-05-31T23:59:59.999Z";"x";"x";"2781";1;2;0.5;104638.09;1;1;"2025-05-31T23:59:59.999Z"\n'
            '"2025-05-30T00:00:00.000Z";"2025-05-30T23:59:59.999Z";"x";"x";"2781";1;2;0.5;103998.57;1;1;"2025-05-30T23:59:59.999Z"')
    series = load_prices(write(tmp_path, text))
    assert series.layout == "coinmarketcap"
    assert series.date_column == "timeOpen"
    assert list(series.close) == [103998.57, 104638.09]
    assert steps(series)["sorted"] == 2


def test_investing_quoted_thousands_mmddyyyy(tmp_path: Path) -> None:
    text = ('\ufeff"Date","Price","Open","High","Low","Vol.","Change %"\n'
            '"01/02/2024","93,557.2","92,777.2","96,163.4","92,036.2","74.85K","0.84%"\n'
            '"01/01/2024","92,779.8","93,718.7","94,936.4","91,522.3","1.2M","-1.00%"')
    series = load_prices(write(tmp_path, text))
    assert series.layout == "investing"
    assert series.close_column == "Price"
    assert series.close.index[0] == pd.Timestamp("2024-01-01")
    assert list(series.close) == [92779.8, 93557.2]
    assert steps(series)["thousands_separators"] == 2


def test_investing_month_name_dates(tmp_path: Path) -> None:
    text = 'Date,Price,Open\n"Jan 02, 2024","1,000.5",1\n"Jan 01, 2024","900",1\n'
    series = load_prices(write(tmp_path, text))
    assert list(series.close.index.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-02"]
    assert list(series.close) == [900.0, 1000.5]


def test_day_first_dates_decided_by_the_whole_column(tmp_path: Path) -> None:
    rows = "\n".join(f"{d:02d}/01/2024,{d}" for d in range(1, 20))
    series = load_prices(write(tmp_path, "date,close\n" + rows))
    assert series.first_date == "2024-01-01" and series.last_date == "2024-01-19"


def test_ambiguous_dates_read_as_the_daily_interpretation(tmp_path: Path) -> None:
    path = write(tmp_path, "date,close\n01/02/2024,1\n02/02/2024,2\n03/02/2024,3\n")
    series = load_prices(path)  # month-first would make this monthly
    assert series.first_date == "2024-02-01" and series.last_date == "2024-02-03"
    assert load_prices(path, LoadOptions(dayfirst=True)).first_date == "2024-02-01"
    with pytest.raises(DataError, match="monthly"):
        load_prices(path, LoadOptions(date_format="%m/%d/%Y"))


def test_dayfirst_breaks_a_true_tie(tmp_path: Path) -> None:
    path = write(tmp_path, "date,close\n05/06/2024,1\n", "tie.csv")
    assert load_prices(path).first_date == "2024-05-06"
    assert load_prices(path, LoadOptions(dayfirst=True)).first_date == "2024-06-05"


def test_binance_headerless_milliseconds_and_microseconds(tmp_path: Path) -> None:
    ms = 1643673600000
    row = "{t},1,2,0.5,{c},10,{t2},1,1,1,1,0"
    text = "\r\n".join(row.format(t=ms + i * 86_400_000, c=100 + i, t2=ms + (i + 1) * 86_400_000 - 1)
                       for i in range(3))
    series = load_prices(write(tmp_path, text))
    assert series.layout == "binance-klines"
    assert series.first_date == "2022-02-01"
    assert list(series.close) == [100.0, 101.0, 102.0]
    micro = "\n".join(row.format(t=(ms + i * 86_400_000) * 1000, c=5 + i, t2=0) for i in range(3))
    assert load_prices(write(tmp_path, micro, "u.csv")).first_date == "2022-02-01"


def test_binance_with_date_strings(tmp_path: Path) -> None:
    text = ("Open time,Open,High,Low,Close,Volume,Close time\n"
            "2022-02-01 00:00:00,1,1,1,38694.59,1,2022-02-01 23:59:59.999\n"
            "2022-02-02 00:00:00,1,1,1,36896.36,1,2022-02-02 23:59:59.999\n")
    series = load_prices(write(tmp_path, text))
    assert series.date_column == "Open time"
    assert list(series.close) == [38694.59, 36896.36]


def test_minute_dump_resampled_to_last_price_of_each_utc_day(tmp_path: Path) -> None:
    start = 1325376000  # 2012-01-01 00:00 UTC
    stamps = start + 60 * np.arange(3 * 1440)
    close = np.arange(len(stamps), dtype=float)
    close[5] = np.nan  # newer Kaggle versions: empty minutes are NaN
    frame = pd.DataFrame({"Timestamp": stamps, "Open": close, "High": close, "Low": close,
                          "Close": close, "Volume_(BTC)": 1.0, "Volume_(Currency)": 1.0,
                          "Weighted_Price": close})
    path = tmp_path / "minute.csv"
    frame.to_csv(path, index=False, na_rep="NaN")
    series = load_prices(path)
    assert series.layout == "bitstamp-minute"
    assert len(series.close) == 3
    assert list(series.close) == [1439.0, 2879.0, 4319.0]
    assert steps(series)["missing_close"] == 1
    assert steps(series)["resampled_daily"] == 3 * 1440 - 1 - 3


def test_coingecko_utc_suffix_off_midnight_and_gaps(tmp_path: Path) -> None:
    text = ("snapped_at,price,market_cap,total_volume\n"
            "2017-06-05 00:00:00 UTC,2721.5,1,1\n2017-06-06 23:29:55 UTC,2903.4,,1\n"
            "2017-06-09 00:00:00 UTC,2817.0,1,1\n")
    path = write(tmp_path, text)
    series = load_prices(path)
    assert series.layout == "coingecko"
    assert list(series.close.index.strftime("%d")) == ["05", "06", "07", "08", "09"]
    assert list(series.close) == [2721.5, 2903.4, 2903.4, 2903.4, 2817.0]
    assert steps(series)["gaps_filled"] == 2
    assert len(load_prices(path, LoadOptions(gaps="drop")).close) == 3
    with pytest.raises(DataError, match="missing 2 day"):
        load_prices(path, LoadOptions(gaps="error"))


def test_cryptodatadownload_preamble_mixed_units_and_null(tmp_path: Path) -> None:
    text = ("https://www.CryptoDataDownload.com\n"
            "unix,date,symbol,open,high,low,close,Volume BTC,Volume USD\n"
            "1660953600000,2022-08-20 00:00:00,BTC/USD,1,1,1,20957,1,1\n"
            "1660867200,2022-08-19 00:00:00,BTC/USD,1,1,1,NULL,1,1\n"
            "1660780800,2022-08-18 00:00:00,BTC/USD,1,1,1,23201,1,1\n")
    series = load_prices(write(tmp_path, text))
    assert series.layout == "cryptodatadownload"
    assert series.date_column == "date"
    assert list(series.close) == [23201.0, 23201.0, 20957.0]  # the NULL day filled forward
    assert steps(series)["skip_preamble"] == 1
    assert steps(series)["missing_close"] == 1
    unix_only = load_prices(write(tmp_path, text, "u.csv"), LoadOptions(date_column="unix"))
    assert unix_only.first_date == "2022-08-18" and unix_only.last_date == "2022-08-20"


def test_yfinance_three_row_header(tmp_path: Path) -> None:
    text = ("Price,Close,High,Low,Open,Volume\nTicker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD\n"
            "Date,,,,,\n2024-01-01 00:00:00+00:00,42280.2,1,1,1,1\n"
            "2024-01-02 00:00:00+00:00,44187.1,1,1,1,1\n")
    series = load_prices(write(tmp_path, text))
    assert series.layout == "yfinance"
    assert series.close_column == "Close"
    assert list(series.close) == [42280.2, 44187.1]


def test_timezone_offsets_convert_to_utc_days(tmp_path: Path) -> None:
    text = "Datetime,Close\n2024-01-01T23:30:00-02:00,1\n2024-01-03T00:30:00+00:00,2\n"
    series = load_prices(write(tmp_path, text))
    assert series.first_date == "2024-01-02"  # 01:30 UTC on the 2nd


def test_duplicate_days_keep_the_latest(tmp_path: Path) -> None:
    text = "date,close\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n2024-01-03,4\n"
    series = load_prices(write(tmp_path, text))
    assert list(series.close) == [1.0, 3.0, 4.0]
    assert steps(series)["duplicate_days"] == 1


def test_business_day_series_keeps_its_calendar(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-01", periods=30)
    frame = pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": np.arange(30.0) + 1})
    frame.to_csv(tmp_path / "stock.csv", index=False)
    series = load_prices(tmp_path / "stock.csv")
    assert series.frequency == "B"
    assert len(series.close) == 30
    assert "gaps_filled" not in steps(series)


def test_weekly_file_is_refused(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-07", periods=20, freq="W")
    frame = pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": np.arange(20.0) + 1})
    frame.to_csv(tmp_path / "weekly.csv", index=False)
    with pytest.raises(DataError, match="weekly"):
        load_prices(tmp_path / "weekly.csv")


def test_european_decimal_commas(tmp_path: Path) -> None:
    text = "Datum;Schlusskurs;Close\n01.01.2024;1.234,56;1.234,56\n02.01.2024;1.300,10;1.300,10\n"
    series = load_prices(write(tmp_path, text))
    assert list(series.close) == [1234.56, 1300.10]
    assert series.last_date == "2024-01-02"


def test_overrides_pick_columns(tmp_path: Path) -> None:
    text = "when,a,b\n2024-01-01,1,10\n2024-01-02,2,20\n"
    series = load_prices(write(tmp_path, text), LoadOptions(date_column="when", close_column="b"))
    assert list(series.close) == [10.0, 20.0]


def test_warnings_for_jumps_and_stale_runs(tmp_path: Path) -> None:
    closes = [10, 10, 10, 10, 10, 10, 30, 31]
    rows = "\n".join(f"2024-01-{i + 1:02d},{c}" for i, c in enumerate(closes))
    series = load_prices(write(tmp_path, "date,close\n" + rows))
    joined = " ".join(series.warnings)
    assert "moved more than 50%" in joined
    assert "identical closes" in joined


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("date,open,high\n2024-01-01,1,2\n2024-01-02,1,2\n", "no close column found"),
        ("date,close\nbar,1\nbaz,2\n", "does not hold dates"),
        ("foo,close\nbar,1\nbaz,2\n", "no date column found"),
        ("date,close\n2024-01-01,n/a\n2024-01-02,-\n", "no row with both a date and a numeric"),
        ("date,close\n", "no data rows"),
        ("just one line of words\n", "does not look like a table"),
    ],
)
def test_bad_files_raise_data_error(tmp_path: Path, content: str | bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_prices(write(tmp_path, content))


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_prices(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        load_prices(tmp_path)


def test_close_column_override_not_found_lists_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "date,price\n2024-01-01,1\n")
    with pytest.raises(DataError, match="columns are: date, price"):
        load_prices(path, LoadOptions(close_column="close"))


def test_yyyymmdd_integers_and_epoch_seconds(tmp_path: Path) -> None:
    series = load_prices(write(tmp_path, "date,close\n20240101,1\n20240102,2\n"))
    assert series.first_date == "2024-01-01" and series.last_date == "2024-01-02"
    epoch = load_prices(write(tmp_path, "time,close\n1704067200,1\n1704153600.0,2\n", "e.csv"))
    assert epoch.first_date == "2024-01-01" and epoch.last_date == "2024-01-02"


def test_coinmarketcap_legacy_table(tmp_path: Path) -> None:
    text = ("Date,Open*,High,Low,Close**,Volume,Market Cap\n"
            '"Dec 31, 2020","28,841.57","29,244.88","28,201.99","29,001.72","46,754,964,848","539,438,036,654"\n'
            '"Dec 30, 2020","27,360.09","28,937.74","27,360.09","28,840.95","51,287,442,704","536,155,578,648"\n')
    series = load_prices(write(tmp_path, text))
    assert series.layout == "coinmarketcap-legacy"
    assert series.close_column == "Close**"
    assert list(series.close) == [28840.95, 29001.72]


def test_investing_resaved_without_quotes(tmp_path: Path) -> None:
    text = ("Date,Price,Open,High,Low,Vol.,Change %\n12/31/2024,93557.2,92777.2,96163.4,92036.2,74.85K,0.84%\n"
            "12/30/2024,92779.8,93718.7,94936.4,91522.3,112.43K,-1.00%\n")
    series = load_prices(write(tmp_path, text))
    assert series.layout == "investing"
    assert list(series.close) == [92779.8, 93557.2]


def test_hourly_binance_resampled(tmp_path: Path) -> None:
    start = 1672531200000  # 2023-01-01 00:00 UTC
    rows = [f"{start + h * 3_600_000},100,999,1,{100 + h},1,{start + (h + 1) * 3_600_000 - 1},1,1,1,1,0"
            for h in range(48)]
    series = load_prices(write(tmp_path, "\n".join(rows)))
    assert list(series.close) == [123.0, 147.0]
    assert {s.name for s in series.steps} == {"resampled_daily"}


def test_two_column_headerless(tmp_path: Path) -> None:
    series = load_prices(write(tmp_path, "2024-01-01,5\n2024-01-02,6\n"))
    assert series.layout == "headerless" and list(series.close) == [5.0, 6.0]


def test_truncated_last_row_is_dropped_and_counted(tmp_path: Path) -> None:
    text = ("Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-01,1,1,1,10,10,5\n"
            "2024-01-02,1,1,1,11,11,5\n2024-01-03,1,1")
    series = load_prices(write(tmp_path, text))
    assert list(series.close) == [10.0, 11.0]
    assert {s.name: s.count for s in series.steps}["missing_close"] == 1


def test_scientific_notation_and_currency_symbols(tmp_path: Path) -> None:
    series = load_prices(write(tmp_path, "date,close\n2024-01-01,1.5E+04\n2024-01-02,$15100\n"))
    assert list(series.close) == [15000.0, 15100.0]


def test_file_too_large_for_memory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import forecast.data.loader

    monkeypatch.setattr(forecast.data.loader, "_available_memory", lambda: 100)
    with pytest.raises(DataError, match="more than half the free memory"):
        load_prices(write(tmp_path, "date,close\n2024-01-01,1\n" * 20))


def test_all_nan_prices(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no row with both a date and a numeric"):
        load_prices(write(tmp_path, "date,close\n2024-01-01,NaN\n2024-01-02,\n2024-01-03,NULL\n"))


def test_coinmarketcap_comma_separated_copy(tmp_path: Path) -> None:
    text = ("timeOpen,timeClose,timeHigh,timeLow,name,open,high,low,close,volume,marketCap,timestamp\n"
            '"2025-05-30T00:00:00.000Z","2025-05-30T23:59:59.999Z","x","x","2781",1,2,0.5,103998.57,1,1,"x"\n'
            '"2025-05-31T00:00:00.000Z","2025-05-31T23:59:59.999Z","x","x","2781",1,2,0.5,104638.09,1,1,"x"\n')
    series = load_prices(write(tmp_path, text))
    assert series.layout == "coinmarketcap" and list(series.close) == [103998.57, 104638.09]


def test_yfinance_single_header_lowercase_alphabetical_with_extras(tmp_path: Path) -> None:
    text = ("datetime,adj close,close,dividends,high,low,open,stock splits,ticker,volume\n"
            "2024-01-01 00:00:00+00:00,42280.2,42280.2,0.0,1,1,1,0.0,BTC-USD,5\n"
            "2024-01-02 00:00:00+00:00,44187.1,44187.1,0.0,1,1,1,0.0,BTC-USD,5\n")
    series = load_prices(write(tmp_path, text))
    assert series.close_column == "close" and series.date_column == "datetime"
    assert list(series.close) == [42280.2, 44187.1] and series.first_date == "2024-01-01"


def test_german_investing_export_with_quoted_decimal_commas(tmp_path: Path) -> None:
    text = ('"Datum","Zuletzt","Eröffn.","Hoch","Tief","Vol.","+/- %"\n'
            '"31.12.2024","93.557,2","92.777,2","96.163,4","92.036,2","74,85K","0,84%"\n'
            '"30.12.2024","92.779,8","93.718,7","94.936,4","91.522,3","112,43K","-1,00%"\n')
    series = load_prices(write(tmp_path, text))
    assert series.close_column == "Zuletzt" and series.date_column == "Datum"
    assert list(series.close) == [92779.8, 93557.2]
    assert series.first_date == "2024-12-30"


def test_old_cryptodatadownload_hour_format(tmp_path: Path) -> None:
    text = ("https://www.CryptoDataDownload.com\nDate,Symbol,Open,High,Low,Close,Volume BTC\n"
            "2020-03-11 11-PM,BTCUSD,1,1,1,7900,1\n2020-03-11 10-PM,BTCUSD,1,1,1,7800,1\n"
            "2020-03-10 11-PM,BTCUSD,1,1,1,7700,1\n")
    series = load_prices(write(tmp_path, text))
    assert list(series.close) == [7700.0, 7900.0]


def test_accented_column_names(tmp_path: Path) -> None:
    series = load_prices(write(tmp_path, "Fecha,Último,Apertura\n01.01.2024,\"1,5\",1\n02.01.2024,\"2,5\",1\n"))
    assert series.close_column == "Último" and list(series.close) == [1.5, 2.5]


# ---------------------------------------------------------------- nothing invented


def _daily_file(path: Path, dates: list[str], closes: list[object]) -> Path:
    path.write_text("date,close\n" + "\n".join(f"{d},{c}" for d, c in zip(dates, closes, strict=True)) + "\n")
    return path


DAYS = [f"{d:%Y-%m-%d}" for d in pd.date_range("2024-01-01", periods=100)]


@pytest.mark.parametrize("bad_date", ["9999-12-31", "0001-01-01", "1700-06-01", "2262-04-12", "-1"])
def test_out_of_range_dates_are_dropped_and_counted_never_wrapped(tmp_path: Path, bad_date: str) -> None:
    path = _daily_file(tmp_path / "f.csv", [*DAYS[:50], bad_date, *DAYS[50:]], [*range(100, 150), 5, *range(150, 200)])
    series = load_prices(path)
    assert len(series.close) == 100  # was 74,522 invented days starting in 1816 for 9999-12-31
    assert (series.first_date, series.last_date) == ("2024-01-01", "2024-04-09")
    steps = {step.name: step.count for step in series.steps}
    assert steps.get("date_out_of_range", 0) + steps.get("missing_date", 0) == 1
    assert 5.0 not in series.close.to_numpy()


def test_epoch_far_outside_the_calendar_is_not_wrapped(tmp_path: Path) -> None:
    epochs = [1704067200 + 86_400 * i for i in range(30)]
    path = _daily_file(tmp_path / "f.csv", [str(e) for e in [*epochs, 10**19, -(10**19)]], [*range(30), 1, 1])
    series = load_prices(path)
    assert len(series.close) == 30 and series.first_date == "2024-01-01"


@pytest.mark.parametrize("bad_close", ["inf", "-inf", "1e400", "Infinity"])
def test_non_finite_prices_are_dropped_and_counted(tmp_path: Path, bad_close: str) -> None:
    path = _daily_file(tmp_path / "f.csv", DAYS, [bad_close, *range(101, 200)])
    series = load_prices(path)
    assert np.isfinite(series.close.to_numpy()).all() and len(series.close) == 99
    assert {step.name: step.count for step in series.steps}["non_finite_close"] == 1


def test_inspect_json_never_holds_infinity_or_nan(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from forecast.cli.app import app

    path = _daily_file(tmp_path / "f.csv", DAYS, [*range(100, 199), "1e400"])
    result = CliRunner().invoke(app, ["data", "inspect", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "Infinity" not in result.stdout and "NaN" not in result.stdout
    import json

    assert json.loads(result.stdout)["last_close"] == 198.0


def test_a_megabyte_cell_is_not_a_date(tmp_path: Path) -> None:
    path = _daily_file(tmp_path / "f.csv", [*DAYS, "2" * 2_000_000], [*range(100, 200), 1])
    series = load_prices(path)  # dateutil took 83 s on this cell before cells were bounded
    assert len(series.close) == 100
    assert {step.name: step.count for step in series.steps}["missing_date"] == 1


def test_a_long_gap_is_filled_with_a_warning(tmp_path: Path) -> None:
    path = _daily_file(tmp_path / "f.csv", DAYS[:40] + DAYS[70:], [*range(40), *range(70, 100)])
    series = load_prices(path)
    assert len(series.close) == 100
    assert any("longer than 7 days" in w and "30 days, 2024-02-10 to 2024-03-10" in w for w in series.warnings)
    quiet = load_prices(path, LoadOptions(max_gap=30))
    assert not any("longer than" in w for w in quiet.warnings)


def test_a_gap_far_past_the_limit_is_refused_not_invented(tmp_path: Path) -> None:
    days = [f"{d:%Y-%m-%d}" for d in pd.date_range("2020-01-01", periods=400)]
    path = _daily_file(tmp_path / "f.csv", days[:100] + days[200:], [*range(100), *range(200, 400)])
    with pytest.raises(DataError, match="no prices for 100 days in a row"):
        load_prices(path)
    assert len(load_prices(path, LoadOptions(gaps="drop")).close) == 300
    assert len(load_prices(path, LoadOptions(max_gap=10)).close) == 400  # the user's call: 10x10 days allowed


def test_files_past_the_size_cap_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forecast.data import loader as data

    path = _daily_file(tmp_path / "f.csv", DAYS, list(range(100)))
    monkeypatch.setattr(data, "MAX_FILE_BYTES", 1000)
    with pytest.raises(DataError, match="resample it to daily closes first"):
        load_prices(path)


def test_a_2_gib_file_that_starts_like_a_csv_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = _daily_file(tmp_path / "big.csv", DAYS, list(range(100)))
    with path.open("r+b") as handle:
        handle.truncate(2 << 30)  # sparse: no disk used, but 2 GiB to any reader
    with pytest.raises(DataError, match=r"2\.0 GiB; forecast reads price files up to 1 GiB"):
        load_prices(path)


def test_the_price_table_columns_are_the_roles_the_loader_finds() -> None:
    """Input channels read the table by name (config.TABLE_COLUMNS); the loader fills it in that order."""
    from forecast.config import TABLE_COLUMNS
    from forecast.data.loader import _EXTRA_NAMES, EXTRA_COLUMNS

    assert TABLE_COLUMNS[0] == "close" and EXTRA_COLUMNS == tuple(_EXTRA_NAMES) == TABLE_COLUMNS[1:5]
    assert TABLE_COLUMNS[5:7] == ("rv", "rr")  # made from intraday bars, not columns of the file
    assert TABLE_COLUMNS[7:] == tuple(f"cov{k}" for k in range(8))  # covariates' levels (forecast.data.covariates)
