"""The third hostile audit's failures, one regression test each (small hand-made cases).

Classes, as in the audit: writing (never replace what is not ours; full and read-only disks),
input files (panels never mixed, closed-market days never invented, encodings), option values,
model folders, tune (bounded reads, in-memory and locked storages, start-up loops) and workers
(they end with their parent, quietly; --jobs is capped).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.config import MAX_LAYERS, MAX_UNITS, parse_units
from forecast.data.loader import LoadOptions, PanelError, load_prices
from forecast.errors import ArtifactError, ConfigError
from tests.conftest import REPO, tiny_train_args

runner = CliRunner()
POSIX = pytest.mark.skipif(os.name != "posix", reason="FIFOs, devices and signals are POSIX")


def _one_error(result: object) -> str:
    """The single `Error: …` line of a failed command (asserting exit 1 and nothing else on stderr)."""
    code, stderr = result.exit_code, result.stderr  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 1, (code, result.output)  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return lines[0]


# ---------------------------------------------------------------- writing: never destroy what is not ours


@POSIX
def test_synth_never_replaces_a_device_fifo_or_folder(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    for out, kind in (("/dev/null", "character device"), (str(fifo), "named pipe"), (str(folder), "folder"),
                      (".", "folder")):
        line = _one_error(runner.invoke(app, ["data", "synth", "--out", out, "--days", "30", "--force"]))
        assert kind in line and "choose another --out" in line
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert (folder / "keep.txt").read_text() == "mine"


@POSIX
def test_synth_never_writes_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.csv"
    victim.write_text("precious")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    line = _one_error(runner.invoke(app, ["data", "synth", "--out", str(link), "--days", "30", "--force"]))
    assert "symbolic link" in line
    assert victim.read_text() == "precious" and link.is_symlink()


def test_synth_replaces_its_own_regular_file(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    assert runner.invoke(app, ["data", "synth", "--out", str(out), "--days", "30"]).exit_code == 0
    assert runner.invoke(app, ["data", "synth", "--out", str(out), "--days", "40", "--force"]).exit_code == 0
    assert len(pd.read_csv(out)) == 40


@POSIX
def test_plot_never_replaces_a_fifo(tiny_model: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.png"
    os.mkfifo(fifo)
    line = _one_error(runner.invoke(app, ["plot", str(tiny_model), "--out", str(fifo)]))
    assert "named pipe" in line and stat.S_ISFIFO(fifo.lstat().st_mode)
    line = _one_error(runner.invoke(app, ["plot", str(tiny_model), "--out", str(tmp_path / "x.txt")]))
    assert ".png" in line


@POSIX
def test_train_into_a_symlinked_folder_is_refused_before_training(price_csv: Path, tmp_path: Path) -> None:
    real = tmp_path / "real-model"
    real.mkdir()
    (real / "run.json").write_text("{}")
    link = tmp_path / "link"
    link.symlink_to(real)
    started = time.monotonic()
    line = _one_error(runner.invoke(app, [*tiny_train_args(price_csv, link), "--force"]))
    assert "symbolic link" in line and time.monotonic() - started < 5  # refused, not trained then failed
    assert link.is_symlink() and sorted(p.name for p in real.iterdir()) == ["run.json"]
    assert not list(tmp_path.glob(".link.*"))


def _read_only_statvfs(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs

    class ReadOnly:
        def __init__(self, result: os.statvfs_result) -> None:
            self.f_flag, self.f_bavail, self.f_frsize = result.f_flag | os.ST_RDONLY, result.f_bavail, result.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly(real(path)))


@pytest.mark.skipif(not hasattr(os, "statvfs"), reason="statvfs is POSIX")
@pytest.mark.parametrize("command", [["train"], ["compare"], ["backtest"], ["tune", "--trials", "1"]])
def test_read_only_output_is_refused_before_any_work(command: list[str], price_csv: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _read_only_statvfs(monkeypatch)
    started = time.monotonic()
    line = _one_error(runner.invoke(app, [*command, str(price_csv), "--out", str(tmp_path / "out"), "--quiet"]))
    assert "read-only file system" in line and str(tmp_path / "out") in line
    assert time.monotonic() - started < 5 and not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "statvfs"), reason="statvfs is POSIX")
def test_a_full_disk_is_refused_up_front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs

    class Full:
        def __init__(self, result: os.statvfs_result) -> None:
            self.f_flag, self.f_bavail, self.f_frsize = result.f_flag, 0, result.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda path: Full(real(path)))
    line = _one_error(runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "s.csv")]))
    assert "disk" in line and "full" in line and not (tmp_path / "s.csv").exists()


def test_disk_full_while_writing_is_one_line_and_leaves_nothing(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    out = tmp_path / "s.csv"
    line = _one_error(runner.invoke(app, ["data", "synth", "--out", str(out), "--days", "30"]))
    assert line == f"Error: could not write {out}: the disk is full — free some space or write elsewhere (--out)"
    assert list(tmp_path.iterdir()) == []


def test_os_errors_anywhere_become_one_line(price_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import forecast.data.loader

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "/somewhere/file")

    monkeypatch.setattr(forecast.data.loader, "load_prices", read_only)  # inspect imports it when it runs
    line = _one_error(runner.invoke(app, ["data", "inspect", str(price_csv)]))
    assert "/somewhere/file" in line and "read-only" in line


@pytest.mark.workers
@pytest.mark.slow
def test_disk_full_in_a_compare_worker_is_one_line(price_csv: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TEST_CRASH_JOB", "gru-seed42:enospc")
    out = tmp_path / "report"
    args = ["compare", str(price_csv), "--models", "gru", "--window", "8", "--units", "4", "--epochs", "1",
            "--out", str(out), "--quiet"]
    line = _one_error(runner.invoke(app, args))
    assert "the disk is full" in line and "RuntimeError" not in line and "failed in the worker" not in line
    assert not out.exists() and not list(tmp_path.glob(".report.*"))


# ---------------------------------------------------------------- input files: never mix, never invent


def _panel(path: Path, layout: str = "kaggle") -> Path:
    dates = pd.date_range("2021-01-01", periods=40, freq="D")
    rows = []
    for number, (name, symbol, base) in enumerate((("Bitcoin", "BTC", 30000.0), ("Litecoin", "LTC", 130.0))):
        span = dates if number == 0 else dates[10:]  # ragged: LTC starts later
        for i, day in enumerate(span):
            rows.append({"slug": name.lower(), "symbol": symbol, "name": name, "date": f"{day.day}/{day.month}/"
                         f"{day.year}", "close": base + i, "Date": f"{day:%Y-%m-%d} 23:59:59"})
    frame = pd.DataFrame(rows)
    if layout == "kaggle":  # coin_*.csv concatenated: SNo,Name,Symbol,Date,…,Close
        frame.insert(0, "SNo", range(1, len(frame) + 1))
        frame = frame[["SNo", "name", "symbol", "Date", "close"]].rename(
            columns={"name": "Name", "symbol": "Symbol", "close": "Close"})
    else:  # crypto-markets.csv: slug,symbol,name,date (D/M/YYYY),…,close
        frame = frame[["slug", "symbol", "name", "date", "close"]]
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("layout", ["kaggle", "crypto-markets"])
def test_a_panel_file_is_refused_naming_its_assets(layout: str, tmp_path: Path) -> None:
    panel = _panel(tmp_path / "panel.csv", layout)
    with pytest.raises(PanelError) as caught:
        load_prices(panel)
    assert [asset["asset"] for asset in caught.value.assets] == ["BTC", "LTC"]
    assert caught.value.column == ("Symbol" if layout == "kaggle" else "symbol")
    line = _one_error(runner.invoke(app, ["tune", str(panel), "--quiet"]))  # a command of one series
    assert "2 assets" in line and "BTC, LTC" in line and "--asset NAME" in line
    # train takes every asset of a panel as its own series (one global network), never one mixed series
    line = _one_error(runner.invoke(app, ["train", str(panel), "--quiet"]))
    assert "2 series" in line and "window (60)" in line, line
    line = _one_error(runner.invoke(app, ["backtest", str(panel), "--quiet"]))
    assert "2 series" in line and "5 folds of 30 days" in line, line


@pytest.mark.parametrize("layout", ["kaggle", "crypto-markets"])
def test_asset_reads_that_assets_rows_alone(layout: str, tmp_path: Path) -> None:
    panel = _panel(tmp_path / "panel.csv", layout)
    ltc = load_prices(panel, LoadOptions(asset="ltc"))
    assert ltc.asset == "LTC" and len(ltc.close) == 30 and ltc.first_date == "2021-01-11"
    np.testing.assert_allclose(ltc.closes, 130.0 + np.arange(30))
    by_name = load_prices(panel, LoadOptions(asset="Bitcoin"))
    np.testing.assert_allclose(by_name.closes, 30000.0 + np.arange(40))
    assert not any(step.name == "duplicate_days" for step in by_name.steps)


def test_an_unknown_asset_lists_the_assets(tmp_path: Path) -> None:
    panel = _panel(tmp_path / "panel.csv")
    line = _one_error(runner.invoke(app, ["data", "inspect", str(panel), "--asset", "DOGE"]))
    assert "no such asset" in line and "BTC, LTC" in line
    single = tmp_path / "single.csv"
    pd.DataFrame({"Date": pd.date_range("2021-01-01", periods=5).strftime("%Y-%m-%d"),
                  "Close": [1.0, 2, 3, 4, 5]}).to_csv(single, index=False)
    assert "no asset column" in _one_error(runner.invoke(app, ["data", "inspect", str(single), "--asset", "BTC"]))


def test_inspect_lists_a_panels_assets(tmp_path: Path) -> None:
    panel = _panel(tmp_path / "panel.csv", "crypto-markets")
    result = runner.invoke(app, ["data", "inspect", str(panel), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["layout"] == "panel" and payload["asset_column"] == "symbol"
    assert payload["assets"] == [
        {"asset": "BTC", "also": ["Bitcoin", "bitcoin"], "rows": 40, "first_date": "2021-01-01",
         "last_date": "2021-02-09"},
        {"asset": "LTC", "also": ["Litecoin", "litecoin"], "rows": 30, "first_date": "2021-01-11",
         "last_date": "2021-02-09"}]
    table = runner.invoke(app, ["data", "inspect", str(panel)])
    assert table.exit_code == 0 and "LTC" in table.stdout and "--asset" in table.stderr


def test_one_asset_files_with_a_symbol_column_are_not_panels(tmp_path: Path) -> None:
    path = tmp_path / "coin_Ethereum.csv"
    days = pd.date_range("2021-01-01", periods=20)
    pd.DataFrame({"SNo": range(1, 21), "Name": "Ethereum", "Symbol": "ETH", "Date": days.strftime("%Y-%m-%d"),
                  "Close": np.arange(20.0) + 1}).to_csv(path, index=False)
    series = load_prices(path)
    assert len(series.close) == 20 and series.asset is None
    renamed = tmp_path / "renamed.csv"  # a name that changed over time, never two on one day: one asset
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "name": ["Old"] * 10 + ["New"] * 10,
                  "Close": np.arange(20.0) + 1}).to_csv(renamed, index=False)
    assert len(load_prices(renamed).close) == 20


@pytest.mark.slow
def test_a_model_of_one_panel_asset_predicts_from_that_asset(tmp_path: Path) -> None:
    panel = tmp_path / "panel.csv"
    days = pd.date_range("2021-01-01", periods=200)
    rng = np.random.default_rng(3)
    frame = pd.concat([pd.DataFrame({"symbol": symbol, "date": days.strftime("%Y-%m-%d"),
                                     "close": base * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))})
                       for symbol, base in (("AAA", 100.0), ("BBB", 5.0))])
    frame.to_csv(panel, index=False)
    out = tmp_path / "model"
    result = runner.invoke(app, [*tiny_train_args(panel, out), "--asset", "BBB"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["data"]["asset"] == "BBB"
    predicted = runner.invoke(app, ["predict", str(out), "--format", "json"])
    assert predicted.exit_code == 0, predicted.output
    payload = json.loads(predicted.stdout)
    assert payload["last_close"] == pytest.approx(frame[frame.symbol == "BBB"]["close"].iloc[-1])


def _business_days_with_saturdays(path: Path, weekdays: int, saturdays: int) -> pd.DatetimeIndex:
    days = pd.bdate_range("2015-01-05", periods=weekdays)
    extra = pd.date_range(days[0], days[-1], freq="W-SAT")[:saturdays]
    index = days.union(extra)
    pd.DataFrame({"Date": index.strftime("%Y-%m-%d"), "Close": 100 + np.arange(len(index)) * 0.1}).to_csv(
        path, index=False)
    return index


def test_a_business_day_file_with_some_weekend_rows_gets_no_invented_days(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    index = _business_days_with_saturdays(path, 1500, 45)
    series = load_prices(path)
    assert series.frequency == "B" and len(series.close) == len(index) == 1545
    assert pd.DatetimeIndex(series.close.index).equals(index)
    assert not any(step.name == "gaps_filled" for step in series.steps)
    assert any("weekend" in warning for warning in series.warnings)


def test_a_nine_row_business_day_file_gets_no_weekend_filled(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    index = _business_days_with_saturdays(path, 9, 0)
    series = load_prices(path)
    assert series.frequency == "B" and len(series.close) == 9
    assert pd.DatetimeIndex(series.close.index).equals(index)


def test_crypto_with_a_missing_weekend_is_still_filled(tmp_path: Path) -> None:
    path = tmp_path / "crypto.csv"
    days = pd.date_range("2021-01-01", periods=60).delete([15, 16])  # one weekend missing
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": np.arange(58.0) + 1}).to_csv(path, index=False)
    series = load_prices(path)
    assert series.frequency == "D" and len(series.close) == 60


def test_latin1_and_cp1252_prices_are_read(tmp_path: Path) -> None:
    days = pd.date_range("2021-01-01", periods=30).strftime("%Y-%m-%d")
    pound = tmp_path / "pound.csv"
    pound.write_bytes(("Date,Close\n" + "".join(f"{d},£{1234.5 + i:.2f}\n" for i, d in enumerate(days)))
                      .encode("latin-1"))
    euro = tmp_path / "euro.csv"
    euro.write_bytes(("Date;Close\n" + "".join(f"{d};€{1000 + i:.2f}\n" for i, d in enumerate(days)))
                     .encode("cp1252"))
    np.testing.assert_allclose(load_prices(pound).closes, 1234.5 + np.arange(30))
    np.testing.assert_allclose(load_prices(euro).closes, 1000.0 + np.arange(30))
    assert any(step.name == "encoding" for step in load_prices(euro).steps)


def test_a_bom_file_with_one_bad_byte_keeps_its_header(tmp_path: Path) -> None:
    days = pd.date_range("2021-01-01", periods=30).strftime("%Y-%m-%d")
    body = ('"Date","Close"\n' + "".join(f'"{d}","{100 + i}"\n' for i, d in enumerate(days))).encode()
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + body.replace(b'"2021-01-10"', b'"2021-01-10\xff"'))
    series = load_prices(path)
    assert series.date_column == "Date" and len(series.close) == 30  # the one unreadable day is filled
    assert series.close.iloc[0] == 100 and series.close.iloc[-1] == 129


@pytest.mark.parametrize(("option", "value", "words"), [
    ("--sep", ",,", "--sep takes one character"), ("--sep", r"\s+", "--sep takes one character"),
    ("--date-format", "%Q%Q", "--date-format '%Q%Q' cannot be used")])
def test_loader_options_that_cannot_work_are_one_line(option: str, value: str, words: str,
                                                      price_csv: Path) -> None:
    assert words in _one_error(runner.invoke(app, ["data", "inspect", str(price_csv), option, value]))


# ---------------------------------------------------------------- option values


@pytest.mark.parametrize("units", [",".join(["8"] * (MAX_LAYERS + 1)), str(MAX_UNITS + 1), "1000000"])
def test_units_beyond_what_a_folder_may_hold_are_refused_when_parsed(units: str, price_csv: Path) -> None:
    with pytest.raises(ConfigError):
        parse_units(units)
    started = time.monotonic()
    line = _one_error(runner.invoke(app, ["train", str(price_csv), "--units", units, "--quiet"]))
    assert f"1–{MAX_LAYERS} layers of 1–{MAX_UNITS} units" in line and time.monotonic() - started < 5


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("option", ["--test-size", "--val-size"])
def test_non_finite_split_sizes_are_one_line(option: str, value: str, price_csv: Path) -> None:
    line = _one_error(runner.invoke(app, ["train", str(price_csv), option, value, "--quiet"]))
    assert "must be a fraction" in line


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_seeds_outside_32_bits_are_refused_before_tensorflow(seed: str, price_csv: Path) -> None:
    code = ("import sys; from forecast.cli.app import main; sys.argv = ['forecast', 'train', sys.argv[1], '--seed', "
            "sys.argv[2]]\ntry:\n    main()\nexcept SystemExit as e:\n    print('tf' if 'tensorflow' in sys.modules "
            "else 'no-tf', e.code)")
    done = subprocess.run([sys.executable, "-c", code, str(price_csv), seed], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.stdout.split() == ["no-tf", "2"], done.stdout + done.stderr
    assert "--seed" in done.stderr and "Traceback" not in done.stderr


def test_a_direct_horizon_longer_than_a_part_is_one_line(price_csv: Path) -> None:
    line = _one_error(runner.invoke(app, ["train", str(price_csv), "--multistep", "direct", "--horizon", "365",
                                          "--window", "8", "--quiet"]))
    assert "--horizon 365" in line and "lower --horizon" in line


@pytest.mark.slow
def test_train_on_a_short_file_keeps_the_model_without_a_90_band(tmp_path: Path) -> None:
    from forecast.data.synth import write_synth

    csv = tmp_path / "short.csv"
    write_synth(csv, days=70, seed=1)
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", str(csv), "--window", "8", "--units", "4", "--epochs", "1", "--out",
                                 str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "--interval" not in result.output
    multi = json.loads((out / "run.json").read_text())["metrics"]["test_multi_step"]
    assert multi["interval_coverage_by_step"] == [] and "too few" in multi["interval_note"]


# ---------------------------------------------------------------- tune: bounded, and never looping


@POSIX
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "fifo"])
def test_space_is_read_only_from_a_small_regular_file(device: str, tmp_path: Path) -> None:
    from forecast.runs.space import load_space

    if device == "fifo":
        device = str(tmp_path / "space.json")
        os.mkfifo(device)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a regular file") as caught:
        load_space(Path(device))
    assert time.monotonic() - started < 2 and "retrain" not in str(caught.value)


def test_a_huge_or_broken_space_file_is_not_called_a_corrupt_folder(tmp_path: Path) -> None:
    from forecast.runs.space import load_space

    huge = tmp_path / "huge.json"
    huge.write_text(" " * (1 << 20) + "{}")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for path in (huge, broken):
        with pytest.raises(ConfigError) as caught:
            load_space(path)
        assert "--space" in str(caught.value) and "folder" not in str(caught.value)
        assert "retrain" not in str(caught.value)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_study_storage_is_refused_up_front(url: str, price_csv: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    line = _one_error(runner.invoke(app, ["tune", str(price_csv), "--storage", url, "--out", str(tmp_path / "t"),
                                          "--quiet"]))
    assert "in-memory" in line and time.monotonic() - started < 10 and not (tmp_path / "t").exists()


def test_a_locked_study_database_is_waited_for_with_a_bound(price_csv: Path, tmp_path: Path) -> None:
    database = tmp_path / "study.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = runner.invoke(app, ["tune", str(price_csv), "--storage", f"sqlite:///{database}",
                                     "--storage-timeout", "1.5", "--out", str(tmp_path / "t"), "--quiet"])
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 2, result.output
    assert lines[0].startswith("Note: waiting for the study database") and "locked" in lines[1]
    assert lines[1].startswith("Error: ") and "--storage-timeout" in lines[1]
    assert 1.0 < waited < 15


@pytest.mark.workers
@pytest.mark.slow
def test_workers_that_die_at_start_up_stop_the_run(price_csv: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_TEST_TUNE_STARTUP_FAILS", "1")
    started = time.monotonic()
    line = _one_error(runner.invoke(app, ["tune", str(price_csv), "--trials", "3", "--window", "8", "--units", "4",
                                          "--epochs", "1", "--out", str(tmp_path / "t"), "--quiet"]))
    assert "3 tune workers in a row stopped before their first trial" in line
    assert "start-up failure injected" in line and time.monotonic() - started < 120


# ---------------------------------------------------------------- workers end with their parent


_ORPHAN = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from forecast.runs.pool import die_with_parent

    def child(parent):
        die_with_parent(parent)
        time.sleep(120)

    if __name__ == "__main__":
        process = multiprocessing.get_context("spawn").Process(target=child, args=(os.getpid(),))
        process.start()
        print(process.pid, flush=True)
        time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.is_file() and "State:\tZ" in status.read_text())


@pytest.mark.workers
@POSIX
def test_a_worker_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the worker outlived its SIGKILLed parent"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(part) for part in task.read_text().split()]
    return found


@pytest.mark.workers
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_tune_workers_stop_when_tune_is_killed(price_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    tune = subprocess.Popen([sys.executable, "-m", "forecast", "tune", str(price_csv), "--trials", "20", "--window",
                             "8", "--units", "4", "--epochs", "50", "--patience", "50", "--out", str(out)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
    assert tune.stderr is not None
    for line in tune.stderr:
        if "started" in line:
            break
    workers = [pid for pid in _children(tune.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert workers
    tune.send_signal(signal.SIGKILL)
    tune.wait(10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a tune worker outlived its killed parent"


def test_jobs_beyond_the_trainings_or_cores_are_said(capsys: pytest.CaptureFixture[str]) -> None:
    from forecast.cli.app import _say_jobs

    _say_jobs(64, 2, quiet=False)
    _say_jobs(1, 1000, quiet=False)
    err = capsys.readouterr().err
    assert f"more than this machine's {os.cpu_count()} cores" in err
    assert "more than the 2 training(s) to run; 2 process(es) start" in err
    assert "1,000 trainings to run" in err and "hours" in err


@pytest.mark.workers
def test_run_jobs_never_starts_more_workers_than_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    import forecast.runs.pool as pool
    from forecast.runs.training import Job, run_jobs

    started: list[int] = []

    class Fake:
        def __init__(self, threads: int, number: int = 1, shared: object = None) -> None:
            started.append(threads)
            raise RuntimeError("stop here")

    monkeypatch.setattr(pool, "_Worker", Fake)
    job = Job("a", None, None, Path("x"))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="stop here"):
        next(iter(run_jobs([job], workers=8)))
    assert started == [os.cpu_count() or 1]  # one worker, with every core


# ---------------------------------------------------------------- model folders


@POSIX
def test_a_fifo_in_a_model_folder_does_not_block(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    (folder / "calibration.json").unlink()
    os.mkfifo(folder / "calibration.json")
    done = subprocess.run([sys.executable, "-m", "forecast", "predict", str(folder), "--interval", "0.9"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
    assert "calibration.json" in done.stderr
    with pytest.raises(ArtifactError, match="not a regular file"):
        from forecast.files import read_json

        read_json(folder / "calibration.json")


@pytest.mark.parametrize("command", ["train", "compare", "backtest"])
@pytest.mark.parametrize("out", [".", "/"])
def test_the_current_folder_or_the_root_as_out_is_one_line(command: str, out: str, price_csv: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("keep")
    monkeypatch.chdir(work)
    line = _one_error(runner.invoke(app, [command, str(price_csv), "--out", out, "--force", "--quiet"]))
    assert ("root of the file system" if out == "/" else "did not write (mine.txt)") in line
    assert sorted(p.name for p in work.iterdir()) == ["mine.txt"]
