"""Covariates from other files: used only once known, carried at most --max-gap days, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.data.covariates import Request, Spec, align, attach, load_covariate
from forecast.data.loader import load_prices
from forecast.data.synth import write_synth
from forecast.errors import DataError

runner = CliRunner()


def _weekday_index(path: Path, start: str, days: int, seed: int = 0) -> Path:
    """An index on weekdays only (like the S&P 500 or DXY), Close column, 100–200."""
    dates = pd.bdate_range(start, periods=days)
    values = 150 + np.cumsum(np.random.default_rng(seed).normal(0, 1, days))
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": values}).to_csv(path, index=False)
    return path


def test_spec_reads_file_and_column(tmp_path: Path) -> None:
    assert Spec.parse("fear.csv:value") == Spec(Path("fear.csv"), "value")
    odd = tmp_path / "a:b.csv"
    odd.write_text("x")
    assert Spec.parse(str(odd)) == Spec(odd)  # an existing path is a file, colons and all
    with pytest.raises(DataError):
        Spec.parse(" ")


def test_a_covariate_file_without_a_close_asks_for_its_column(tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    pd.DataFrame({"Date": ["2024-01-01", "2024-01-02"], "USD": [2000.0, 2010.0], "EUR": [1800.0, 1805.0]}).to_csv(
        path, index=False)
    with pytest.raises(DataError, match=r"--covariate gold.csv: .*name the column: --covariate FILE:COLUMN"):
        load_covariate(Spec(path))
    assert load_covariate(Spec(path, "EUR")).dated.iloc[-1] == 1805.0


def test_weekend_gaps_are_carried_at_most_max_gap_days(tmp_path: Path) -> None:
    covariate = load_covariate(Spec(_weekday_index(tmp_path / "idx.csv", "2024-01-01", 30)))
    assert covariate.kind == "change"  # prices above 100: read as log changes
    days = pd.date_range("2024-01-02", "2024-01-31")
    tight, loose = align(covariate, days, lag=0, max_gap=1), align(covariate, days, lag=0, max_gap=2)
    weekday = days.day_of_week
    assert np.isnan(tight.level[weekday == 6]).all() and np.isfinite(tight.level[weekday == 5]).all()  # Sun: 2 days
    assert np.isfinite(loose.level).all()
    assert tight.carried == int((weekday == 5).sum()) and tight.missing == int((weekday == 6).sum())
    friday = days[weekday == 4][0]
    assert tight.level[days.get_loc(friday + pd.Timedelta(days=1))] == covariate.dated[friday]  # Saturday = Friday's


def test_a_value_dated_d_is_first_used_on_d_plus_lag(tmp_path: Path) -> None:
    covariate = load_covariate(Spec(_weekday_index(tmp_path / "idx.csv", "2024-01-01", 30)))
    days = pd.DatetimeIndex(["2024-01-03", "2024-01-04"])  # a Wednesday and a Thursday
    lag1, lag0 = align(covariate, days, lag=1, max_gap=7), align(covariate, days, lag=0, max_gap=7)
    assert lag0.level[0] == covariate.dated["2024-01-03"]
    assert lag1.level[1] == covariate.dated["2024-01-03"] and lag1.level[0] == covariate.dated["2024-01-02"]


def test_a_bounded_index_is_read_as_its_level(tmp_path: Path) -> None:
    path = tmp_path / "fear.csv"
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=40).strftime("%Y-%m-%d"),
                  "value": np.arange(40) % 90 + 5, "value_classification": "Fear"}).to_csv(path, index=False)
    covariate = load_covariate(Spec(path, "value"))
    assert covariate.kind == "level" and covariate.column == "value"
    write_synth(tmp_path / "p.csv", days=50, seed=1, start="2024-01-01")
    series = load_prices(tmp_path / "p.csv")
    attached = attach(series, [covariate], Request((Spec(path, "value"),), lag=1, max_gap=7))
    assert attached.table.shape[1] == 8 and attached.extra_columns["cov0"] == "fear.csv:value"
    assert attached.covariates["files"][0]["channel"] == "cov0-level"
    assert np.isnan(attached.table[0, 7]) and attached.table[1, 7] == 5  # day 1 sees day 0's value
    assert np.isfinite(attached.table[41:48, 7]).all()  # the last value (day 39) carried up to 7 days past it
    assert np.isnan(attached.table[48:, 7]).all()  # then missing, never invented
    assert any(step.name == "covariate0" and "missing" in step.detail for step in attached.steps)


@pytest.fixture(scope="module")
def covariate_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("cov")
    prices = root / "prices.csv"
    write_synth(prices, days=400, seed=5, start="2020-01-01")
    index = _weekday_index(root / "index.csv", "2019-12-01", 320, seed=2)
    result = runner.invoke(app, ["train", str(prices), "--covariate", str(index), "--window", "8", "--units", "4",
                                 "--epochs", "2", "--batch-size", "32", "--out", str(root / "model"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root / "model", prices, index


@pytest.mark.slow
def test_run_json_records_each_covariate_and_its_training_statistics(covariate_model: tuple[Path, Path, Path],
                                                                     ) -> None:
    model, _, index = covariate_model
    run = json.loads((model / "run.json").read_text())
    entry = run["covariates"]["files"][0]
    assert entry["file"] == str(index.resolve()) and entry["column"] == "Close" and entry["kind"] == "change"
    assert len(entry["sha256"]) == 64 and run["covariates"]["lag"] == 1
    channels = run["features"]["channels"]
    assert channels[-1] == "cov0-change" and len(run["features"]["mean"]) == len(channels)


@pytest.mark.slow
def test_changing_a_covariates_later_values_changes_no_earlier_forecast(covariate_model: tuple[Path, Path, Path],
                                                                        tmp_path: Path) -> None:
    from forecast.forecaster import Forecaster
    from forecast.runs.pipeline import with_recorded_covariates

    model, prices, index = covariate_model
    forecaster = Forecaster.load(model, "numpy")
    block = forecaster.run.extra["covariates"]
    series = load_prices(prices)
    original = with_recorded_covariates(block, series, (), None)
    frame = pd.read_csv(index)
    cut = pd.Timestamp("2020-10-01")
    later = pd.to_datetime(frame["Date"]) >= cut
    frame.loc[later, "Close"] *= np.linspace(1.5, 0.5, int(later.sum()))
    moved_path = tmp_path / "index.csv"
    frame.to_csv(moved_path, index=False)
    moved = with_recorded_covariates(block, series, (Spec(moved_path),), None)
    first, end = forecaster.window, len(series.closes)
    a = forecaster.forecast(forecaster.prices(original), first, end)[:, 0]
    b = forecaster.forecast(forecaster.prices(moved), first, end)[:, 0]
    days = series.close.index[first:end]
    before = days <= cut + pd.Timedelta(days=1)  # made at the close of cut (lag 1) or earlier: cut's value unseen
    np.testing.assert_array_equal(a[before], b[before])
    assert not np.allclose(a[~before], b[~before])  # and the covariate is read after it


@pytest.mark.slow
def test_predict_refuses_a_covariate_that_is_too_old(covariate_model: tuple[Path, Path, Path],
                                                     tmp_path: Path) -> None:
    model, _, index = covariate_model
    old = tmp_path / "old.csv"
    pd.read_csv(index).head(200).to_csv(old, index=False)
    result = runner.invoke(app, ["predict", str(model), "--covariate", str(old)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --covariate old.csv") and "known up to" in lines[0]
    assert "pass a newer old.csv" in lines[0]
    fine = runner.invoke(app, ["predict", str(model), "--format", "json"])  # the recorded file reaches the end
    assert fine.exit_code == 0, fine.output
