"""Several series, one network: panel reading, the common date split, global model folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.config import ModelConfig, RunConfig, TrainConfig, WindowConfig
from forecast.data.loader import LoadOptions, Unreadable, load_assets, load_prices
from forecast.data.synth import write_synth
from forecast.errors import ArtifactError, ConfigError, DataError
from forecast.inputs.windows import split_days
from forecast.runs import assets as multi

runner = CliRunner()
TINY = RunConfig(window=WindowConfig(window=8), model=ModelConfig(units=(4,)),
                 train=TrainConfig(epochs=2, batch_size=32))


def _panel(tmp_path: Path) -> Path:
    """Three assets interleaved by date (rows of one day together), as panel exports are."""
    frames = []
    for k, (symbol, name) in enumerate((("AAA", "alpha"), ("BBB", "beta"), ("CCC", "gamma"))):
        frame = write_synth(tmp_path / f"{symbol}.csv", days=300 + 10 * k, seed=k + 1)
        frame.insert(0, "symbol", symbol)
        frame.insert(1, "name", name)
        frames.append(frame)
    panel = pd.concat(frames).sort_values(["Date", "symbol"], kind="stable")
    path = tmp_path / "panel.csv"
    panel.to_csv(path, index=False, float_format="%.6f")
    return path


def test_a_panel_is_read_in_one_pass_with_each_assets_own_rows(tmp_path: Path) -> None:
    path = _panel(tmp_path)
    read = load_assets(path)
    assert [s.asset for s in read if not isinstance(s, Unreadable)] == ["AAA", "BBB", "CCC"]
    raw = pd.read_csv(path)
    for series in read:
        assert not isinstance(series, Unreadable)
        mine = raw[raw["symbol"] == series.asset]
        np.testing.assert_allclose(series.closes, mine["Close"].to_numpy())  # the right rows, in date order
        assert series.first_date == mine["Date"].iloc[0]
        one = load_prices(path, LoadOptions(asset=series.asset))  # the same as reading that asset alone
        np.testing.assert_array_equal(one.table, series.table)
        assert one.steps == series.steps
    by_alias = load_assets(path, assets=["gamma", "aaa"])  # any of its names, any case, in the order asked
    assert [s.asset for s in by_alias if not isinstance(s, Unreadable)] == ["CCC", "AAA"]


def test_a_compressed_panel_reads_the_same_assets(tmp_path: Path) -> None:
    import gzip

    path = _panel(tmp_path)
    packed = tmp_path / "panel.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    plain, unpacked = load_assets(path), load_assets(packed)
    assert len(plain) == len(unpacked) == 3
    for a, b in zip(plain, unpacked, strict=True):
        assert not isinstance(a, Unreadable) and not isinstance(b, Unreadable)
        assert a.asset == b.asset and b.path == packed
        np.testing.assert_array_equal(a.table, b.table)


def test_assets_a_panel_does_not_hold_are_refused_with_the_list(tmp_path: Path) -> None:
    path = _panel(tmp_path)
    with pytest.raises(DataError, match=r"no asset 'ZZZ'.*AAA, BBB, CCC"):
        load_assets(path, assets=["ZZZ"])
    with pytest.raises(DataError, match="twice"):
        load_assets(path, assets=["AAA", "alpha"])
    with pytest.raises(DataError, match="holds one series"):
        load_assets(tmp_path / "AAA.csv", assets=["AAA"])


def test_an_asset_that_cannot_be_read_is_named_not_dropped(tmp_path: Path) -> None:
    path = _panel(tmp_path)
    raw = pd.read_csv(path)
    dates = pd.to_datetime(raw["Date"])
    gap = (raw["symbol"] == "BBB") & (dates > dates.min() + pd.Timedelta(days=100)) & \
          (dates < dates.min() + pd.Timedelta(days=180))
    raw[~gap].to_csv(path, index=False)
    read = load_assets(path)
    bad = [item for item in read if isinstance(item, Unreadable)]
    assert [item.asset for item in bad] == ["BBB"] and "days in a row" in bad[0].reason
    assets, unreadable = multi.gather([path])
    assert [a.name for a in assets] == ["AAA", "CCC"] and unreadable[0]["name"] == "BBB"


def test_one_series_splits_by_date_exactly_as_it_splits_alone(price_csv: Path) -> None:
    series = load_prices(price_csv)
    common = multi.date_split([series], TINY.window).of(series, 8)
    assert common == split_days(len(series.closes), TINY.window)


def test_the_split_is_one_date_for_every_series(tmp_path: Path) -> None:
    long, short, late = (tmp_path / name for name in ("long.csv", "short.csv", "late.csv"))
    write_synth(long, days=400, seed=1, start="2020-01-01")
    write_synth(short, days=300, seed=2, start="2020-03-01")  # the middle end: the split is of the days up to it
    write_synth(late, days=250, seed=3, start="2020-10-01")  # starts after the validation date: scored as new
    assets, _ = multi.gather([long, short, late])
    split = multi.date_split([a.series for a in assets], TINY.window)
    calendar = pd.date_range("2020-01-01", load_prices(long).close.index[-1])  # the end half of them reach
    alone = split_days(len(calendar), TINY.window)
    assert split.val_from == calendar[alone.train_end] and split.test_from == calendar[alone.val_end]
    pooled = multi.prepare_assets(assets, TINY)
    assert pooled.seen == {"long": True, "short": True, "late": False}
    for name in ("long", "short"):
        prepared = pooled.prepared[name]
        index = prepared.series.close.index
        assert index[prepared.split.train_end] == split.val_from and index[prepared.split.val_end] == split.test_from
        # the pooled training windows never reach a day of any series' validation or test part
        assert prepared.parts["train"].target_days.max() < prepared.split.train_end
    assert len(pooled.train.x) == sum(len(pooled.prepared[n].parts["train"].x) for n in ("long", "short"))


def test_a_series_that_ends_early_trains_and_one_that_would_leak_is_not_scored(tmp_path: Path) -> None:
    for k, name in enumerate(("a", "b", "c")):
        write_synth(tmp_path / f"{name}.csv", days=500, seed=k + 1, start="2018-01-01")
    write_synth(tmp_path / "early.csv", days=200, seed=4, start="2018-01-01")  # ends before the validation date
    write_synth(tmp_path / "mid.csv", days=45, seed=5, start="2018-12-20")  # its own test part: before test_from
    assets, _ = multi.gather([tmp_path / f"{n}.csv" for n in ("a", "b", "c", "early", "mid")])
    split = multi.date_split([a.series for a in assets], TINY.window)
    pooled = multi.prepare_assets(assets, TINY)
    reasons = {item["name"]: item["reason"] for item in pooled.left_out}
    assert reasons["early"].startswith("trained on, not scored") and "early" not in pooled.prepared
    early = load_prices(tmp_path / "early.csv")
    assert early.close.index[-1] < split.val_from
    windows = [len(pooled.prepared[n].parts["train"].x) for n in ("a", "b", "c")]
    assert len(pooled.train.x) == sum(windows) + len(early.closes) - 8  # every early day after its first window
    assert "mid" not in pooled.prepared and "overlap the other assets' training days" in reasons["mid"]


def test_a_series_too_short_for_anything_is_reported(tmp_path: Path) -> None:
    write_synth(tmp_path / "a.csv", days=300, seed=1)
    write_synth(tmp_path / "b.csv", days=300, seed=2)
    write_synth(tmp_path / "tiny.csv", days=12, seed=3, start="2018-06-01")
    assets, _ = multi.gather([tmp_path])  # a folder: its price files
    pooled = multi.prepare_assets(assets, TINY)
    assert "tiny" not in pooled.prepared
    assert [item["name"] for item in pooled.left_out] == ["tiny"] and "too short" in pooled.left_out[0]["reason"]


def test_a_price_level_target_cannot_be_pooled(tmp_path: Path) -> None:
    write_synth(tmp_path / "a.csv", days=300, seed=1)
    write_synth(tmp_path / "b.csv", days=300, seed=2)
    assets, _ = multi.gather([tmp_path])
    config = RunConfig(window=TINY.window, model=ModelConfig(units=(4,), target="price"), train=TINY.train)
    with pytest.raises(ConfigError, match="--target return"):
        multi.prepare_assets(assets, config)


def _train(tmp_path: Path, files: list[Path], out: Path) -> multi.GlobalOutcome:
    assets, _ = multi.gather(files)
    return multi.train_global(multi.prepare_assets(assets, TINY), TINY, out)


@pytest.mark.slow
def test_moving_one_assets_test_prices_changes_no_statistic_or_weight(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_synth(a, days=260, seed=1)
    write_synth(b, days=260, seed=2)
    first = _train(tmp_path, [a, b], tmp_path / "one")
    frame = pd.read_csv(b)
    test_from = first.split.test_from
    later = pd.to_datetime(frame["Date"]) >= test_from
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        frame.loc[later, column] *= 3.0  # B's test part moves; nothing fitted may notice
    frame.to_csv(b, index=False, float_format="%.6f")
    second = _train(tmp_path, [a, b], tmp_path / "two")
    assert second.split == first.split
    for name in ("a", "b"):
        one, two = (json.loads((run / "assets" / name / "run.json").read_text())
                    for run in (tmp_path / "one", tmp_path / "two"))
        assert one["target"] == two["target"] and one["features"] == two["features"]
    from forecast.forecaster import Forecaster

    x = np.random.default_rng(0).normal(size=(5, 8, first.results[0].prepared.features.width)).astype("float32")
    outputs = [Forecaster.load_asset(run, "a", "numpy").network.predict(x) for run in (tmp_path / "one",
                                                                                      tmp_path / "two")]
    np.testing.assert_array_equal(outputs[0], outputs[1])  # the same weights


@pytest.fixture(scope="module")
def global_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("global")
    for k, name in enumerate(("aaa", "bbb")):
        write_synth(root / f"{name}.csv", days=500, seed=k + 3)
    result = runner.invoke(app, ["train", str(root / "aaa.csv"), str(root / "bbb.csv"), "--window", "8", "--units",
                                 "4", "--epochs", "2", "--batch-size", "32", "--out", str(root / "model"), "--quiet",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [row["asset"] for row in summary["assets"]] == ["aaa", "bbb"]
    assert summary["mode"] == "global" and summary["pooled"]["scored"] == 2
    return root / "model"


@pytest.mark.slow
def test_a_global_folder_holds_the_shared_network_and_each_asset(global_model: Path) -> None:
    top = json.loads((global_model / "run.json").read_text())
    assert top["kind"] == "global" and [a["folder"] for a in top["assets"]] == ["aaa", "bbb"]
    for name in ("aaa", "bbb"):
        sub = global_model / "assets" / name
        assert {p.name for p in sub.iterdir()} >= {"run.json", "calibration.json", "test_predictions.csv",
                                                   "prediction.png"}
        record = json.loads((sub / "run.json").read_text())
        assert record["model_sha256"] == top["model_sha256"]
        assert record["split"]["test"]["first"] == top["split"]["test_from"]


@pytest.mark.slow
def test_each_asset_forecasts_the_same_on_both_engines(global_model: Path) -> None:
    outs = []
    for engine in ("numpy", "keras"):
        result = runner.invoke(app, ["predict", str(global_model), "--asset", "BBB", "--interval", "0.9",
                                     "--horizon", "3", "--engine", engine, "--format", "json"])
        assert result.exit_code == 0, result.output
        outs.append(json.loads(result.stdout))
    assert outs[0]["asset"] == "bbb" and outs[0]["data"].endswith("bbb.csv")
    for a, b in zip(outs[0]["forecast"], outs[1]["forecast"], strict=True):
        for key in ("close", "lower", "upper"):
            assert a[key] == pytest.approx(b[key], rel=1e-5)


@pytest.mark.slow
def test_a_global_model_without_asset_lists_its_assets(global_model: Path) -> None:
    for command in (["predict", str(global_model)], ["plot", str(global_model)],
                    ["predict", str(global_model), "--asset", "nope"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and "aaa, bbb" in lines[0], lines


@pytest.mark.slow
def test_a_new_assets_file_is_forecast_and_labelled(global_model: Path, tmp_path: Path) -> None:
    new = tmp_path / "newcoin.csv"
    write_synth(new, days=200, seed=11)
    result = runner.invoke(app, ["predict", str(global_model), "--data", str(new), "--interval", "0.9",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["asset"] == "newcoin.csv" and out["verdict"] is None
    assert any("never saw" in note for note in out["notes"])
    row = out["forecast"][0]
    assert row["lower"] < row["close"] < row["upper"]


@pytest.mark.slow
def test_a_tampered_asset_folder_is_refused(global_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(global_model, copy)
    top = json.loads((copy / "run.json").read_text())
    top["assets"][0]["folder"] = "../../etc"
    (copy / "run.json").write_text(json.dumps(top))
    with pytest.raises(ArtifactError, match="plain, unique folder name"):
        from forecast.forecaster import Forecaster

        Forecaster.load_asset(copy, "aaa")


@pytest.mark.slow
def test_compare_on_several_series_puts_global_beside_per_asset(tmp_path: Path) -> None:
    for k, name in enumerate(("aaa", "bbb")):
        write_synth(tmp_path / f"{name}.csv", days=500, seed=k + 1)
    write_synth(tmp_path / "late.csv", days=200, seed=9, start="2019-01-01")  # after the validation date
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", str(tmp_path / "aaa.csv"), str(tmp_path / "bbb.csv"),
                                 str(tmp_path / "late.csv"), "--window", "8", "--units", "4", "--epochs", "2",
                                 "--batch-size", "32", "--out", str(out), "--quiet", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["assets"]) == {"aaa", "bbb", "late"} and report["assets"]["late"]["seen"] is False
    assert report["assets"]["late"]["per-asset_mase"] is None  # no per-asset model without training days
    models = {row["model"]: row for row in report["pooled"]}
    assert models["global"]["assets"] == 3 and models["per-asset"]["assets"] == 2
    assert models["ewma"]["mean_is_vs_ewma"] == pytest.approx(1.0)
    assert models["ewma"]["pooled_dm_pvalue_vs_ewma"] is None
    from forecast.metrics import pooled_dm_pvalue_of

    stats = [r["dm_vs_ewma"] for n in ("aaa", "bbb", "late")
             for r in json.loads((out / "assets" / n / "report.json").read_text())["bands"]["rows"]
             if r["method"] == "garch"]
    assert len(stats) == 2  # the late series has too little history for GARCH
    assert models["garch"]["pooled_dm_pvalue_vs_ewma"] == pytest.approx(pooled_dm_pvalue_of(stats))  # every day
    for name in ("aaa", "bbb"):  # the per-asset table is the one compare writes for each series
        each = json.loads((out / "assets" / name / "report.json").read_text())
        assert {"global", "per-asset", "persistence"} <= {row["model"] for row in each["rows"]}
        mean = np.mean([report["assets"][n]["global_mase"] for n in ("aaa", "bbb", "late")])
        assert models["global"]["mean_mase"] == pytest.approx(mean, abs=1e-4)
    assert {p.name for p in (out / "assets" / "aaa").iterdir()} >= {"overlay.png", "bands.png", "report.md"}
    assert (out / "small_multiples.png").stat().st_size > 10_000
    assert (out / "global" / "run.json").is_file() and (out / "per-asset" / "aaa" / "model.keras").is_file()
    again = runner.invoke(app, ["compare", "--from", str(out / "global"), str(out / "per-asset" / "bbb"),
                                "--asset", "bbb", "--out", str(tmp_path / "from"), "--format", "json"])
    assert again.exit_code == 0, again.output
    rows = {row["model"]: row for row in json.loads(again.stdout)["rows"]}
    assert rows["global (bbb)"]["mase"] == pytest.approx(report["assets"]["bbb"]["global_mase"], rel=1e-6)


@pytest.mark.slow
def test_force_replaces_a_global_folder_only_while_it_holds_nothing_else(global_model: Path, tmp_path: Path) -> None:
    import shutil

    from forecast.files import check_target

    copy = tmp_path / "copy"
    shutil.copytree(global_model, copy)
    check_target(copy, force=True)  # every file in it, down to assets/<NAME>/, is one forecast wrote
    with pytest.raises(ArtifactError, match="already holds a model"):
        check_target(copy, force=False)
    (copy / "assets" / "aaa" / "notes.md").write_text("mine")
    with pytest.raises(ArtifactError, match=r"did not write \(assets\)"):
        check_target(copy, force=True)
    per_asset = tmp_path / "per"
    (per_asset / "aaa").mkdir(parents=True)
    shutil.copy(global_model / "run.json", per_asset / "aaa" / "run.json")
    (per_asset / "summary.json").write_text("{}")
    check_target(per_asset, force=True)
    (per_asset / "aaa" / "data.csv").write_text("x")
    with pytest.raises(ArtifactError, match="did not write"):
        check_target(per_asset, force=True)


def test_prices_below_one_keep_four_significant_digits() -> None:
    from forecast.cli.tables import _price

    assert (_price(12345.678), _price(1.5), _price(0.190512), _price(0.00026812)) == \
        ("12,345.68", "1.50", "0.1905", "0.0002681")


@pytest.mark.slow
def test_compare_and_train_take_some_assets_of_a_panel(tmp_path: Path) -> None:
    path = _panel(tmp_path)
    tiny = ["--window", "8", "--units", "4", "--epochs", "1", "--batch-size", "32", "--quiet", "--format", "json"]
    result = runner.invoke(app, ["compare", str(path), "--assets", "alpha,CCC", "--out", str(tmp_path / "c"), *tiny])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["assets"]) == {"AAA", "CCC"}
    result = runner.invoke(app, ["train", str(path), "--hold-out", "BBB", "--out", str(tmp_path / "t"), *tiny])
    assert result.exit_code == 0, result.output
    rows = {row["asset"]: row["seen"] for row in json.loads(result.stdout)["assets"]}
    assert rows == {"AAA": True, "BBB": False, "CCC": True}


@pytest.mark.slow
def test_a_backtest_of_several_series_refits_at_common_origins(tmp_path: Path) -> None:
    for k, name in enumerate(("aaa", "bbb")):
        write_synth(tmp_path / f"{name}.csv", days=400 + 20 * k, seed=k + 1)
    out = tmp_path / "bt"
    result = runner.invoke(app, ["backtest", str(tmp_path / "aaa.csv"), str(tmp_path / "bbb.csv"), "--folds", "2",
                                 "--step", "20", "--window", "8", "--units", "4", "--epochs", "1", "--batch-size",
                                 "32", "--out", str(out), "--quiet", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    calendar = pd.date_range("2018-01-01", periods=400)  # up to the end half the series reach: aaa's
    assert [fold["origin"] for fold in report["folds"]] == [f"{calendar[360]:%Y-%m-%d}", f"{calendar[380]:%Y-%m-%d}"]
    for k, fold in enumerate(report["folds"], start=1):
        for name in ("aaa", "bbb"):
            record = json.loads((out / "folds" / f"fold-{k}" / "assets" / name / "run.json").read_text())
            assert record["split"]["test"]["first"] == fold["origin"]  # nothing fitted saw the fold's days
            assert record["split"]["test"]["days"] == 20
    overall = {row["asset"]: row for row in report["overall"]}
    assert overall["aaa"]["folds"] == 2 and overall["mean"]["mase"] == pytest.approx(
        np.mean([overall["aaa"]["mase"], overall["bbb"]["mase"]]), abs=1e-4)
