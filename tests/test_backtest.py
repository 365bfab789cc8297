"""Walk-forward backtests: origins, no leakage past an origin, and the command end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.config import WindowConfig
from forecast.data.loader import load_prices
from forecast.errors import ConfigError
from forecast.runs.backtest import fold_origins, prepare_fold


def test_fold_origins_cover_the_last_days_in_blocks() -> None:
    assert fold_origins(100, 3, 10) == [70, 80, 90]
    with pytest.raises(ConfigError, match="need more than 100 days"):
        fold_origins(100, 5, 20)
    with pytest.raises(ConfigError):
        fold_origins(100, 0, 10)


@pytest.mark.parametrize("target", ["price", "delta", "return"])
def test_changing_data_after_an_origin_changes_nothing_fitted_there(price_csv: Path, target: str) -> None:
    series = load_prices(price_csv)
    origin, step = 240, 20
    altered = series.close.copy()
    altered.iloc[origin:] *= 3.0  # a different future
    other = dataclasses.replace(series, close=altered)
    config = WindowConfig(window=8)
    base = prepare_fold(series, config, origin, step, target, 1)  # type: ignore[arg-type]
    moved = prepare_fold(other, config, origin, step, target, 1)  # type: ignore[arg-type]
    assert base.split.part("test") == (origin, origin + step)
    assert base.target == moved.target
    for part in ("train", "val"):
        np.testing.assert_array_equal(base.parts[part].x, moved.parts[part].x)
        np.testing.assert_array_equal(base.parts[part].y, moved.parts[part].y)
    assert not np.array_equal(base.closes[origin:], moved.closes[origin:])  # only the held-out days moved


@pytest.mark.slow
def test_backtest_end_to_end(price_csv: Path, tmp_path: Path) -> None:
    from forecast.cli.app import app

    out = tmp_path / "bt"
    result = CliRunner().invoke(app, ["backtest", str(price_csv), "--folds", "2", "--step", "15", "--horizon", "2",
                                      "--window", "8", "--units", "4", "--epochs", "2", "--no-refit",
                                      "--out", str(out), "--quiet", "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [f["fold"] for f in payload["folds"]] == [1, 2]
    assert payload["overall"]["days"] == 30
    assert 0 <= payload["overall"]["interval_coverage"] <= 1
    assert len(payload["overall"]["by_step"]) == 2
    bands = payload["overall"]["bands"]  # each fold's band, and the baselines refitted before each day
    assert bands["days"] == 30 and sorted(row["method"] for row in bands["rows"]) == ["ewma", "garch", "gjr-garch",
                                                                                     "model"]
    assert bands["notes"] == [f"{name}: too little history before the first evaluated day"
                              for name in ("empirical", "qr-har")] + [
        "the bar: EWMA (too little history before these days to choose a baseline on)"]
    model = next(row for row in bands["rows"] if row["method"] == "model")
    written = pd.read_csv(out / "backtest.csv")
    inside = ((written["actual"] >= written["lower"]) & (written["actual"] <= written["upper"])).mean()
    assert model["coverage"]["0.9"] == pytest.approx(inside)  # the same band as backtest.csv's at 90%
    stepped = payload["overall"]["bands_by_step"]  # 2 days ahead: from origins whose day 2 is in the fold
    assert [table["step"] for table in stepped] == [1, 2] and [table["days"] for table in stepped] == [28, 28]
    two = {row["method"]: row for row in stepped[1]["rows"]}
    assert {"ewma", "garch", "gjr-garch", "model"} <= set(two) and two["ewma"]["interval_score_vs_ewma"] == 1.0
    assert two["model"]["width_pct"] > next(r for r in stepped[0]["rows"] if r["method"] == "model")["width_pct"]
    rows = pd.read_csv(out / "backtest.csv")
    assert list(rows.columns) == ["date", "fold", "actual", "predicted", "naive", "lower", "upper"]
    assert len(rows) == 30 and rows["date"].is_monotonic_increasing
    assert (out / "backtest.png").stat().st_size > 10_000 and (out / "backtest.json").exists()
    first_fold = json.loads((out / "folds" / "fold-1" / "run.json").read_text())
    assert first_fold["split"]["test"]["first"] == payload["folds"][0]["origin"]
    from forecast.files import check_target

    check_target(out, force=True)  # every file backtest writes is one --force may replace (artifacts._OWNED)
