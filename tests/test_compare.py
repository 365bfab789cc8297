"""compare: baselines and the DM test by hand, the copies-yesterday flag, and the command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.metrics import baselines, compare_to_naive, diebold_mariano
from tests.conftest import tiny_train_args

runner = CliRunner()
TINY = ["--window", "8", "--units", "4", "--epochs", "2", "--batch-size", "32", "--quiet"]


def test_diebold_mariano_by_hand() -> None:
    # d = |e_a| - |e_b| = [0, 1, 2, 0, 1]: mean 0.8, gamma0 = 2.8 / 5 = 0.56, var(mean) = 0.112,
    # DM = 0.8 / sqrt(0.112) = 2.3905; HLN factor sqrt((5 + 1 - 2) / 5) → 2.1381; t(4), two-sided.
    e_a, e_b = np.array([1.0, -2.0, 3.0, -1.0, 2.0]), np.ones(5)
    assert diebold_mariano(e_a, e_b) == pytest.approx(0.099300683, rel=1e-6)
    # squared loss: d = [0, 3, 8, 0, 3], statistic 1.9140 → p 0.12815
    assert diebold_mariano(e_a, e_b, power=2) == pytest.approx(0.128147949, rel=1e-6)
    assert diebold_mariano(e_b, e_b) == 1.0
    assert diebold_mariano(-e_a, e_a) == 1.0  # same absolute errors


def test_dm_separates_a_clearly_better_forecast() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, 400)
    assert diebold_mariano(0.2 * noise, noise) < 1e-6


def test_baselines_by_hand() -> None:
    values = np.array([10.0, 12, 11, 13, 15, 14, 16, 18, 17, 19])
    out = baselines(values, 8, 10)
    assert out["persistence"].tolist() == [18.0, 17.0]
    # drift: previous + (previous - first) / (t - 1): 18 + 8/7, 17 + 7/8
    assert out["drift"] == pytest.approx([18 + 8 / 7, 17 + 7 / 8])
    assert out["moving average (7 d)"] == pytest.approx([np.mean(values[1:8]), np.mean(values[2:9])])


def test_lag_check_flags_the_previous_close_not_the_true_next_close() -> None:
    rng = np.random.default_rng(3)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 500)))
    actual, previous = prices[1:], prices[:-1]
    assert compare_to_naive(actual, previous.copy(), previous).copies_yesterday
    oracle = compare_to_naive(actual, actual.copy(), previous)
    assert not oracle.copies_yesterday and oracle.dm_pvalue < 1e-6


@pytest.mark.slow
def test_compare_end_to_end(price_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", str(price_csv), "--models", "gru,lstm", "--seeds", "2",
                                 "--out", str(out), "--format", "json", *TINY])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    names = [row["model"] for row in payload["rows"]]
    assert sorted(names) == sorted(["GRU", "LSTM", "persistence", "drift", "moving average (7 d)"])
    maes = [row["mae"] for row in payload["rows"]]
    assert maes == sorted(maes) and [row["rank"] for row in payload["rows"]] == [1, 2, 3, 4, 5]
    gru = next(row for row in payload["rows"] if row["model"] == "GRU")
    assert gru["runs"] == 2 and gru["mae_std"] is not None and gru["parameters"] > 0
    persistence = next(row for row in payload["rows"] if row["model"] == "persistence")
    assert persistence["mase"] == pytest.approx(1.0) and persistence["verdict"] == "the bar to clear"
    for name in ("report.json", "report.md", "overlay.png", "overlay_last90.png", "loss_curves.png",
                 "error_distribution.png", "rolling_mae.png"):
        assert (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "models").iterdir()) == [
        "gru-seed42", "gru-seed43", "lstm-seed42", "lstm-seed43"]
    report = json.loads((out / "report.json").read_text())
    assert report["evaluation"]["days"] == 60 and report["setup"]["seeds"] == 2
    assert "| persistence |" in (out / "report.md").read_text()
    bands = payload["bands"]  # one-day 90% bands of each model and the volatility baselines, same days
    assert [row["method"] for row in bands["rows"]] == ["ewma"]
    too_few = ("no band: its validation part calibrated 13 origins, too few for a 95% band; train on more history "
               "or with a larger --val-size")
    assert bands["notes"] == [f"GRU: {too_few}", f"LSTM: {too_few}",  # 24 validation days
                              *(f"{name}: too little history before the first evaluated day"
                                for name in ("empirical", "garch", "gjr-garch", "qr-har")),
                              "the bar: EWMA (too little history before these days to choose a baseline on)"]
    assert bands["bar"] == "ewma" and bands["selection"] is None and bands["rows"][0]["verdict"] == "the bar to clear"
    scores = [row["interval_score"] for row in bands["rows"]]
    assert scores == sorted(scores) and all(s > 0 for s in scores)
    for row in bands["rows"]:
        assert sorted(row["coverage"]) == ["0.5", "0.8", "0.9", "0.95"]
        assert row["coverage"]["0.5"] <= row["coverage"]["0.8"] <= row["coverage"]["0.9"] <= row["coverage"]["0.95"]
    ewma = next(row for row in bands["rows"] if row["method"] == "ewma")
    assert ewma["interval_score_vs_ewma"] == 1.0
    assert "## 90% bands one day ahead" in (out / "report.md").read_text()
    assert (out / "calibration.png").stat().st_size > 10_000 and (out / "bands.png").stat().st_size > 10_000
    again = runner.invoke(app, ["compare", str(price_csv), "--out", str(out), *TINY])
    assert again.exit_code == 1 and "--force" in again.stderr
    from forecast.files import check_target

    check_target(out, force=True)  # every file compare writes is one --force may replace (artifacts._OWNED)
    for model in (out / "models").iterdir():
        check_target(model, force=True)


@pytest.mark.slow
def test_compare_scores_model_bands_against_every_volatility_baseline(tmp_path: Path) -> None:
    from forecast.data.synth import write_synth

    csv = tmp_path / "long.csv"
    write_synth(csv, days=900, seed=5)  # test part: the last 180 days, after a year of history
    folder = tmp_path / "gru"
    trained = runner.invoke(app, [*tiny_train_args(csv, folder)[:-1]])  # without --quiet: the summary
    assert trained.exit_code == 0, trained.output
    assert "90% band one day ahead on the test days: covered " in trained.stdout
    in_train = json.loads((folder / "run.json").read_text())["metrics"]["test_bands"]
    assert sorted(row["method"] for row in in_train["rows"]) == ["empirical", "ewma", "garch", "gjr-garch", "model",
                                                                 "qr-har"]
    result = runner.invoke(app, ["compare", "--from", str(folder), "--out", str(tmp_path / "cmp"), "--format", "json"])
    assert result.exit_code == 0, result.output
    bands = json.loads(result.stdout)["bands"]
    rows = {row["method"]: row for row in bands["rows"]}
    assert sorted(rows) == ["empirical", "ewma", "garch", "gjr-garch", "gru", "qr-har"]
    assert bands["notes"] == in_train["notes"]  # the bar (and how the baselines were fitted), the same days
    assert bands["bar"] == in_train["bar"] in rows and bands["notes"][0].startswith("the bar: ")
    assert 300 < bands["selection"]["days"] <= 365  # the days before the test part, after a year of history
    assert rows[bands["bar"]]["verdict"] in ("the bar to clear", "miscalibrated")
    for name in ("empirical", "ewma", "garch", "gjr-garch", "qr-har"):  # the same days: the same baseline scores
        twin = next(row for row in in_train["rows"] if row["method"] == name)
        assert rows[name]["interval_score"] == pytest.approx(twin["interval_score"])
    assert rows["gru"]["kind"] == "model" and rows["garch"]["kind"] == "baseline"
    for row in rows.values():
        expected = "miscalibrated" if abs(row["coverage"]["0.9"] - 0.9) > 0.03 else None
        assert expected is None or row["verdict"] == expected
        assert (row["dm_pvalue_vs_ewma"] is None) == (row["method"] == "ewma")
        assert row["dm_pvalue_vs_ewma"] is None or 0 <= row["dm_pvalue_vs_ewma"] <= 1
    table = runner.invoke(app, ["compare", "--from", str(folder), "--out", str(tmp_path / "cmp2")])
    assert "90% bands one day ahead" in table.stdout and "garch" in table.stdout


@pytest.mark.slow
def test_compare_reuses_the_band_each_training_made(tmp_path: Path) -> None:
    """A model compare trains brings the quantiles its training made on these same test days: the
    band row equals the one in the model's run.json (no second sampling from the folder)."""
    from forecast.data.synth import write_synth

    csv = tmp_path / "long.csv"
    write_synth(csv, days=900, seed=5)
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(csv), "--models", "gru", "--out", str(out), "--format", "json",
                                 *TINY])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout)["bands"]["rows"] if r["method"] == "GRU")
    run = json.loads((out / "models" / "gru-seed42" / "run.json").read_text())
    trained = next(r for r in run["metrics"]["test_bands"]["rows"] if r["method"] == "model")
    assert row["interval_score"] == trained["interval_score"] and row["coverage"] == trained["coverage"]


@pytest.mark.slow
def test_compare_from_folders(price_csv: Path, tmp_path: Path) -> None:
    folders = []
    for kind in ("gru", "lstm"):
        folders.append(tmp_path / kind)
        # a longer validation part: enough calibration origins for the 95% band 3 days ahead
        assert runner.invoke(app, [*tiny_train_args(price_csv, folders[-1], kind), "--val-size", "0.3"]).exit_code == 0
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", "--from", *map(str, folders), "--out", str(out),
                                 "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Model comparison")
    assert "| gru |" in result.stdout and "| lstm |" in result.stdout
    assert (out / "overlay.png").exists()
    stepped = runner.invoke(app, ["compare", "--from", *map(str, folders), "--out", str(tmp_path / "steps"),
                                  "--horizon", "3", "--format", "json"])
    assert stepped.exit_code == 0, stepped.output
    tables = json.loads(stepped.stdout)["bands_by_step"]
    assert [table["step"] for table in tables] == [1, 2, 3]
    for table in tables:
        assert {"gru", "lstm", "ewma"} <= {row["method"] for row in table["rows"]}
    markdown = (tmp_path / "steps" / "report.md").read_text()
    assert "## 90% bands by horizon step" in markdown and "| band | day 1 | day 2 | day 3 |" in markdown


@pytest.mark.slow
def test_compare_from_refuses_a_folder_whose_window_does_not_fit(tiny_model: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    short.write_text("Date,Close\n" + "\n".join(f"2024-01-{d:02d},{100 + d}" for d in range(1, 8)))
    result = runner.invoke(app, ["compare", "--from", str(tiny_model), "--data", str(short),
                                 "--out", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "needs 8 days of history" in result.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_compare_rejects_unknown_models(price_csv: Path) -> None:
    result = runner.invoke(app, ["compare", str(price_csv), "--models", "gru,transformer"])
    assert result.exit_code == 1 and "--models takes gru and/or lstm" in result.stderr
