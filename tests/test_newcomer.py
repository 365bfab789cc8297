"""What a newcomer meets first: the verdict beside every forecast, tables that fit 80 columns,
progress that works in a log file, stdin, readable help, and the conventions users expect."""

from __future__ import annotations

import io
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from forecast.bands.verdicts import band_verdict, model_verdict, verdict, verdict_line
from forecast.cli.app import app
from tests.conftest import tiny_train_args

runner = CliRunner()


# ---------------------------------------------------------------- the verdict goes where the forecast goes


def test_predict_carries_the_models_test_verdict(tiny_model: Path) -> None:
    run = json.loads((tiny_model / "run.json").read_text())
    expected = model_verdict(run["metrics"])
    assert expected is not None and expected["mase"] == run["metrics"]["test"]["mae_ratio"]
    result = runner.invoke(app, ["predict", str(tiny_model), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["verdict"] == expected
    assert payload["verdict"]["label"] == verdict(run["metrics"]["test"]["mae_ratio"],
                                                  run["metrics"]["test"]["dm_pvalue"],
                                                  run["metrics"]["test"]["copies_yesterday"])
    assert result.stderr.splitlines()[0] == verdict_line(expected)
    assert result.stderr.startswith(f"Verdict on {run['metrics']['test']['days']} unseen test days: MAE ")
    table = runner.invoke(app, ["predict", str(tiny_model)])
    assert table.exit_code == 0 and table.stderr.startswith("Verdict on ")


def test_predict_csv_has_the_verdict_columns(tiny_model: Path) -> None:
    result = runner.invoke(app, ["predict", str(tiny_model), "--format", "csv", "--horizon", "2"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["date", "close", "test_mase", "test_dm_pvalue", "verdict", "band_coverage",
                                   "band_vs_ewma", "band_verdict"]
    run = json.loads((tiny_model / "run.json").read_text())
    assert frame["test_mase"].tolist() == pytest.approx([run["metrics"]["test"]["mae_ratio"]] * 2)


def test_a_drift_inside_its_band_is_said_plainly(tiny_model: Path) -> None:
    result = runner.invoke(app, ["predict", str(tiny_model), "--format", "json", "--horizon", "3",
                                 "--interval", "0.5"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    end = payload["forecast"][-1]
    inside = abs(end["close"] - payload["last_close"]) < (end["upper"] - end["lower"]) / 2
    said = any("within the noise" in note for note in payload["notes"])
    assert said == inside


def test_plot_says_the_verdict_too(tiny_model: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plot", str(tiny_model), "--out", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Verdict on ") and (tmp_path / "p.png").stat().st_size > 0


def test_a_folder_without_scores_says_so() -> None:
    assert model_verdict({}) is None and model_verdict({"test": {"mae_ratio": "x"}}) is None
    assert "no test scores" in verdict_line(None)


@pytest.mark.parametrize(("mase", "p", "copies", "label"), [
    (1.036, 0.005, True, "worse than persistence"),  # significantly worse is named, even when it echoes
    (1.004, 0.6, True, "copies yesterday"),
    (0.98, 0.01, False, "beats persistence"),
    (0.99, 0.4, False, "beats persistence (not significant)"),
    (1.01, 0.4, False, "no better than persistence")])
def test_verdict_words(mase: float, p: float, copies: bool, label: str) -> None:
    assert verdict(mase, p, copies) == label


@pytest.mark.parametrize(("vs_ewma", "label"), [(0.997, "level with EWMA"), (1.0, "level with EWMA"),
                                                (0.98, "sharper than EWMA"), (1.02, "wider than EWMA")])
def test_band_verdict_needs_a_real_margin(vs_ewma: float, label: str) -> None:
    assert band_verdict(0.9, 0.9, vs_ewma) == label
    assert band_verdict(0.85, 0.9, vs_ewma) == "miscalibrated"


# ---------------------------------------------------------------- readable everywhere


def _rows(seeds: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for rank, (name, mase) in enumerate((("GRU (return)", 1.00412), ("LSTM (return)", 1.01873),
                                         ("persistence", 1.0), ("moving average (7 d)", 2.37)), start=1):
        row: dict[str, object] = {"rank": rank, "model": name, "mae": 1996.7712 * mase, "rmse": 2792.4, "mape": 3.27,
                                  "mase": mase, "directional_accuracy": 0.538, "dm_pvalue": 0.0123,
                                  "parameters": 54352, "train_seconds": 34.2, "epochs_run": 22.0,
                                  "verdict": "beats persistence (not significant)" if rank == 1 else "copies yesterday"}
        if seeds > 1:
            row |= {"mae_std": 12.345, "mase_std": 0.00617, "dm_pvalue_std": 0.0311}
        rows.append(row)
    return rows


def _bands() -> dict[str, object]:
    rows = [{"method": method, "kind": "baseline", "coverage": {"0.9": cover}, "width_pct": 15.89,
             "interval_score": 4567.891, "interval_score_vs_ewma": vs, "pinball": 312.45,
             "verdict": band_verdict(cover, 0.9, vs, method == "ewma"), "rank": rank}
            for rank, (method, cover, vs) in enumerate((("garch", 0.912, 0.981), ("gru-return-seed42", 0.913, 1.015),
                                                        ("ewma", 0.925, 1.0), ("empirical", 0.95, 1.086)), start=1)]
    return {"level": 0.9, "rows": rows, "notes": []}


@pytest.mark.parametrize("seeds", [1, 3])
def test_compare_fits_80_columns_and_cuts_no_number(seeds: int) -> None:
    from forecast.cli.tables import compare_tables, format_cell

    rows = _rows(seeds)
    evaluation = {"days": 520, "first": "2023-09-12", "last": "2025-02-12"}
    console = Console(width=80, file=io.StringIO(), force_terminal=False, color_system=None)
    for table in compare_tables(evaluation, rows, {"bands": _bands()}):
        console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    flat = text.replace("\n", " ")
    for row in rows:
        for key in ("mase", "dm_pvalue"):
            for part in format_cell(row, key).split(" ± "):
                assert part in flat, (part, text)
    for band in ("0.981", "1.015", "91.2%", "91.3%"):
        assert band in flat


def test_compare_wide_has_every_column() -> None:
    from forecast.cli.tables import TABLE_COLUMNS, compare_tables

    console = Console(width=200, file=io.StringIO(), color_system=None)
    for table in compare_tables({"days": 5, "first": "a", "last": "b"}, _rows(1), {"bands": _bands()}, wide=True):
        console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(title in text for _, title in TABLE_COLUMNS) and "pinball" in text


@pytest.mark.slow
def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(price_csv: Path, tmp_path: Path) -> None:
    args = [arg for arg in tiny_train_args(price_csv, tmp_path / "m") if arg != "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert "… loading TensorFlow" in lines
    epochs = [line for line in lines if line.startswith("training: epoch ")]
    assert [line.split()[2] for line in epochs] == ["1/2", "2/2"]
    assert all("loss" in line for line in epochs)
    assert any(line.startswith("… calibrating the band") for line in lines)
    assert "\r" not in result.stderr and "━" not in result.stderr  # no frozen bar in a log


def test_loss_curves_show_a_negative_log_likelihood(tmp_path: Path) -> None:
    from forecast.render.figures import _loss_curves

    history = pd.DataFrame({"loss": [0.5, -0.2, -0.4, -0.45], "val_loss": [0.3, -0.1, -0.2, -0.15]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's log-axis warning must not leak to stderr
        _loss_curves({"gru": history, "lstm": pd.DataFrame({"loss": [2.0, 1.0], "val_loss": [2.5, 1.5]})},
                     tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_short_synthetic_series_stay_plausible() -> None:
    from forecast.data.synth import synth_prices

    closes = synth_prices(days=100, seed=42)["Close"].to_numpy()
    assert closes.max() / closes.min() < 5  # it was ×310 in 100 days
    bundled = synth_prices(days=2600, seed=42)["Close"].to_numpy()
    assert bundled[-1] / bundled[0] > 100  # the bundled series keeps its 2.5 orders of magnitude


def test_help_has_no_placeholders_or_doubled_defaults() -> None:
    for command in (["train"], ["tune"], ["predict"], ["compare"], ["plot"], ["backtest"], ["data", "inspect"]):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
        assert result.exit_code == 0
        text = result.stdout
        assert "<bool>" not in text and "<list[Path]>" not in text and not re.search(r"\{[a-z_A-Z]+\}", text)
        assert text.count("[default: the bundled data]") <= 1 and "[default: data/btc-synthetic.csv]" not in text
        assert "[default: forecast-]" not in text


# ---------------------------------------------------------------- conventions users expect


def test_stdin_is_read_where_a_csv_is(price_csv: Path) -> None:
    result = runner.invoke(app, ["data", "inspect", "-", "--format", "json"], input=price_csv.read_text())
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["file"] == "-" and payload["rows"] == 300
    empty = runner.invoke(app, ["data", "inspect", "-"], input="")
    assert empty.exit_code == 1 and empty.stderr.startswith("Error: standard input is empty")


def test_predict_reads_recent_closes_from_stdin(tiny_model: Path, price_csv: Path) -> None:
    piped = runner.invoke(app, ["predict", str(tiny_model), "--data", "-", "--format", "json"],
                          input=price_csv.read_text())
    from_file = runner.invoke(app, ["predict", str(tiny_model), "--data", str(price_csv), "--format", "json"])
    assert piped.exit_code == 0 and from_file.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["forecast"] == json.loads(from_file.stdout)["forecast"]


def test_stock_files_say_when_adj_close_differs(tmp_path: Path) -> None:
    from forecast.data.loader import load_prices

    days = pd.bdate_range("2024-01-01", periods=30)
    path = tmp_path / "aapl.csv"
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": np.arange(30.0) + 100,
                  "Adj Close": np.arange(30.0) + 99}).to_csv(path, index=False)
    series = load_prices(path)
    assert series.close_column == "Close"
    assert any("--close-column 'Adj Close'" in warning for warning in series.warnings)


def test_tune_leaves_the_price_target_out_of_its_default_space() -> None:
    from forecast.runs.space import DEFAULT_SPACE

    assert DEFAULT_SPACE["target"] == ["delta", "return"]


def test_compare_from_default_folder_is_named_after_its_folders() -> None:
    from forecast.runs.context import default_from_out

    assert default_from_out([Path("models/gru-btc"), Path("models/lstm-btc")]) == \
        Path("reports/compare-gru-btc-vs-lstm-btc")
    many = default_from_out([Path(f"models/model-number-{i}") for i in range(9)])
    assert many == Path("reports/compare-model-number-0-and-8-more")


@pytest.mark.slow
def test_compare_from_runs_twice_and_matches_the_close_by_role(tiny_model: Path, price_csv: Path,
                                                              tmp_path: Path) -> None:
    other = tmp_path / "investing.csv"  # the same closes under Investing.com's header
    frame = pd.read_csv(price_csv)
    frame.rename(columns={"Close": "Price"}).drop(columns=["Adj Close"]).to_csv(other, index=False)
    copy = tmp_path / "gru"
    shutil.copytree(tiny_model, copy)
    out = tmp_path / "report"
    args = ["compare", "--from", str(tiny_model), str(copy), "--data", str(other), "--out", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*args, "--format", "csv"])  # the same comparison: no --force needed
    assert again.exit_code == 0, again.output
    assert pd.read_csv(io.StringIO(again.stdout))["model"].tolist()[:1] != []
    different = runner.invoke(app, ["compare", "--from", str(tiny_model), "--data", str(other), "--out", str(out)])
    assert different.exit_code == 1 and "--force" in different.stderr


def test_the_bundled_data_is_found_outside_the_repository(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "forecast", "data", "inspect", "data/btc-synthetic.csv", "--format",
                           "json"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["rows"] == 2600 and Path(payload["file"]).is_file()


# ---------------------------------------------------------------- files people have: compressed and Parquet


@pytest.mark.parametrize("packing", ["gz", "bz2", "xz", "zip", "parquet"])
def test_compressed_and_parquet_files_read_the_same_rows(packing: str, price_csv: Path, tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma
    import zipfile

    from forecast.data.loader import load_prices

    raw = price_csv.read_bytes()
    packed = tmp_path / f"prices.csv.{packing}"
    if packing == "zip":
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("prices.csv", raw)
    elif packing == "parquet":
        pytest.importorskip("pyarrow")
        packed = tmp_path / "prices.parquet"
        frame = pd.read_csv(price_csv)
        frame["Date"] = pd.to_datetime(frame["Date"])
        frame.to_parquet(packed)
    else:
        packed.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[packing](raw))
    plain, unpacked = load_prices(price_csv), load_prices(packed)
    pd.testing.assert_series_equal(plain.close, unpacked.close)
    assert unpacked.path == packed and unpacked.steps[0].name == "unpacked"
    assert plain.extra is not None and unpacked.extra is not None
    pd.testing.assert_frame_equal(plain.extra, unpacked.extra)


def test_a_zip_must_hold_one_csv_and_a_bomb_is_bounded(price_csv: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import zipfile

    import forecast.data.loader

    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "Date,Close\n2024-01-01,1\n")
        archive.writestr("b.csv", "Date,Close\n2024-01-01,1\n")
    result = runner.invoke(app, ["data", "inspect", str(two)])
    assert result.exit_code == 1 and "zip holding 2 files (a.csv, b.csv)" in result.stderr
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"Date,Close\n" + b"2024-01-01,1\n" * 200_000))  # 2.6 MB of text in ~10 KB
    monkeypatch.setattr(forecast.data.loader, "MAX_FILE_BYTES", 1 << 20)
    result = runner.invoke(app, ["data", "inspect", str(bomb)])
    assert result.exit_code == 1 and "more than" in result.stderr and bomb.stat().st_size < 50_000
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(gzip.compress(price_csv.read_bytes())[:500])
    result = runner.invoke(app, ["data", "inspect", str(broken)])
    assert result.exit_code == 1 and "could not be unpacked" in result.stderr


def test_an_excel_workbook_is_named_as_such(tmp_path: Path) -> None:
    import zipfile

    book = tmp_path / "prices.xlsx"
    with zipfile.ZipFile(book, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    result = runner.invoke(app, ["train", str(book), "--quiet"])
    assert result.exit_code == 1 and "Excel workbook" in result.stderr and "export it as CSV" in result.stderr


def _steps(days: int) -> list[dict[str, object]]:
    methods = (("garch", 0.982), ("ewma", 1.0), ("empirical", 1.086), ("gru-return-seed42", 1.277))
    return [{"level": 0.9, "step": step,
             "rows": [{"method": name, "coverage": {"0.9": 0.899}, "interval_score_vs_ewma": vs + step / 1000}
                      for name, vs in methods]}
            for step in range(1, days + 1)]


def test_per_step_band_tables_fit_80_columns_whole() -> None:
    from forecast.cli.tables import STEPS_PER_TABLE, _steps_tables

    tables = _steps_tables(_steps(7))  # type: ignore[arg-type]
    assert len(tables) == 2 and STEPS_PER_TABLE == 5
    console = Console(width=80, file=io.StringIO(), color_system=None)
    for table in tables:
        console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text.replace("… day 6, day 7", "") and max(len(line) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    for step in range(1, 8):
        assert f"day {step}" in flat and f"{1.277 + step / 1000:.3f}" in flat
    assert flat.count("(89.9%)") == 4 * 7


def test_a_wide_table_on_a_narrow_terminal_is_drawn_whole_not_cropped() -> None:
    from forecast.cli.tables import TABLE_COLUMNS, _show, compare_tables

    console = Console(width=80, file=io.StringIO(), color_system=None)
    for table in compare_tables({"days": 5, "first": "a", "last": "b"}, _rows(3), {"bands": _bands()}, wide=True):
        _show(console, table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(title in text for _, title in TABLE_COLUMNS) and "pinball" in text and "…" not in text
    assert "2,005.00 ± 12.35" in text and "2,034.17 ± 12.35" in text  # wide MAE cells, whole


def test_stderr_sentences_wrap_at_words_in_a_terminal_only(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from forecast.cli.app import _tell

    text = ("Verdict on 520 unseen test days: MAE 1.001× persistence's (DM p = 0.670) — COPIES YESTERDAY; 90% "
            "band covered 92.9%, interval score 1.029× EWMA's (DM p = 0.026), 1.046× QR-HAR's (p = 0.018)")
    _tell(text)
    assert capsys.readouterr().err == text + "\n"  # a file or a pipe: one line, for grep
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "60")
    _tell(text)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and all(len(line) <= 59 for line in lines)
    assert all(line.startswith("  ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == text  # every word kept, none cut
    assert not any(line.rstrip().endswith(" p") or line.lstrip().startswith("=") for line in lines)
