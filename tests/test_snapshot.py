"""Series snapshots (forecast.data.snapshot): a file cleaned before is read back exactly, without
pandas; a changed file, other options or a damaged snapshot is a miss, never an error or a stale series."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import files
from forecast.data import snapshot
from forecast.data.loader import LoadOptions, PriceSeries, load_prices
from forecast.data.synth import write_synth
from forecast.inputs.recursive import future_days
from tests.conftest import predict_without

FIELDS = ("path", "layout", "date_column", "close_column", "rows_read", "frequency", "steps", "warnings",
          "extra_columns", "asset", "unit", "sha256", "first_date", "last_date")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(folder))
    monkeypatch.delenv(snapshot.OFF_ENV, raising=False)
    return folder / "series"


def assert_same(loaded: PriceSeries, kept: snapshot.Snapshot) -> None:
    for name in FIELDS:
        assert getattr(kept, name) == getattr(loaded, name), name
    np.testing.assert_array_equal(kept.closes, loaded.closes)
    np.testing.assert_array_equal(kept.table, loaded.table)
    np.testing.assert_array_equal(kept.dates, loaded.dates)
    assert kept.dates.dtype == np.dtype("datetime64[D]") and kept.describe() == loaded.describe()
    back = kept.as_price_series()
    pd.testing.assert_series_equal(back.close, loaded.close, check_freq=True)
    if loaded.extra is None:
        assert back.extra is None
    else:
        pd.testing.assert_frame_equal(back.extra, loaded.extra, check_freq=True)


def kept_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def test_a_file_read_once_is_read_back_exactly(tmp_path: Path, _own_cache: Path) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=400, seed=3)
    first = snapshot.read_prices(csv)
    assert isinstance(first, PriceSeries) and len(kept_files(_own_cache)) == 1  # a miss: loaded, then kept
    second = snapshot.read_prices(csv)
    assert isinstance(second, snapshot.Snapshot)
    assert_same(load_prices(csv), second)
    assert second.table.shape == (400, 5) and not np.isnan(second.table[:, 2]).any()  # OHLCV came back


def test_business_days_dropped_gaps_and_cleaning_steps_come_back(tmp_path: Path) -> None:
    days = pd.bdate_range("2021-01-04", periods=300)
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, len(days))))
    text = "Date,Close\n" + "".join(f"{d:%m/%d/%Y},\"{c:,.2f}\"\n" for d, c in zip(days, closes, strict=True))
    csv = tmp_path / "stock.csv"
    csv.write_text(text + f"{days[-1]:%m/%d/%Y},\"{closes[-1]:,.2f}\"\n")  # a duplicated last day
    options = LoadOptions(gaps="drop")
    loaded = load_prices(csv, options)
    assert loaded.frequency == "B" and loaded.steps  # something was cleaned and said
    assert isinstance(snapshot.read_prices(csv, options), PriceSeries)  # a miss: cleaned, then kept
    kept = snapshot.read_prices(csv, options)
    assert isinstance(kept, snapshot.Snapshot)
    assert_same(loaded, kept)
    assert isinstance(snapshot.read_prices(csv), PriceSeries)  # other options: another snapshot


def test_a_changed_file_is_read_again_never_served_stale(tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    snapshot.read_prices(csv)
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-1]) + "\n")  # the last day removed: same size order, other bytes
    again = snapshot.read_prices(csv)
    assert isinstance(again, PriceSeries) and len(again.closes) == 299
    assert snapshot.read_prices(csv).last_date == again.last_date  # and kept for next time


def test_a_snapshot_made_by_other_loader_code_is_not_read(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    snapshot.read_prices(csv)
    assert isinstance(snapshot.read_prices(csv), snapshot.Snapshot)
    monkeypatch.setattr(snapshot, "_code", lambda: "1" * 64)  # the loader changed since
    assert isinstance(snapshot.read_prices(csv), PriceSeries)


def test_the_cache_can_be_off_read_only_or_in_the_way(tmp_path: Path, _own_cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    monkeypatch.setenv(snapshot.OFF_ENV, "1")
    assert isinstance(snapshot.read_prices(csv), PriceSeries) and isinstance(snapshot.read_prices(csv), PriceSeries)
    assert not _own_cache.exists()
    monkeypatch.delenv(snapshot.OFF_ENV)
    _own_cache.parent.mkdir(parents=True)
    _own_cache.write_text("a file where the folder would go")  # mkdir fails: skipped, no error
    assert isinstance(snapshot.read_prices(csv), PriceSeries)
    assert _own_cache.read_text() == "a file where the folder would go"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return  # root writes through permissions
    _own_cache.unlink()
    _own_cache.mkdir()
    _own_cache.chmod(0o500)
    try:
        assert isinstance(snapshot.read_prices(csv), PriceSeries) and kept_files(_own_cache) == []
    finally:
        _own_cache.chmod(0o700)


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "garbage":
        path.write_bytes(b"PK\x03\x04" + os.urandom(500))
    elif how == "pickled":
        with np.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
        arrays["closes"] = np.array([object()] * 3, dtype=object)
        np.savez(path.open("wb"), **arrays)
    elif how == "other-file":  # a snapshot of another file's bytes under this name
        with np.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays["meta"].tobytes())
        meta["sha256"] = "0" * 64
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        np.savez(path.open("wb"), **arrays)
    elif how == "unsorted":
        with np.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
        arrays["dates"] = arrays["dates"][::-1].copy()
        np.savez(path.open("wb"), **arrays)
    elif how == "extra-array":
        with np.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
        np.savez(path.open("wb"), **arrays, surprise=np.zeros(3))


@pytest.mark.parametrize("how", ["truncated", "garbage", "pickled", "other-file", "unsorted", "extra-array"])
def test_a_damaged_snapshot_is_a_miss_and_is_replaced(tmp_path: Path, _own_cache: Path, how: str) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    snapshot.read_prices(csv)
    [kept] = kept_files(_own_cache)
    damage(kept, how)
    again = snapshot.read_prices(csv)
    assert isinstance(again, PriceSeries) and len(again.closes) == 300  # the file, read again
    assert isinstance(snapshot.read_prices(csv), snapshot.Snapshot)  # a good snapshot in its place
    assert_same(load_prices(csv), snapshot.read_prices(csv))  # type: ignore[arg-type]


def test_a_link_in_the_cache_is_never_followed_or_replaced(tmp_path: Path, _own_cache: Path) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    snapshot.read_prices(csv)
    [kept] = kept_files(_own_cache)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    kept.unlink()
    kept.symlink_to(victim)
    assert isinstance(snapshot.read_prices(csv), PriceSeries)
    assert kept.is_symlink() and victim.read_text() == "precious"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_an_entry_others_could_have_written_is_never_read(tmp_path: Path, _own_cache: Path) -> None:
    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    snapshot.read_prices(csv)
    [kept] = kept_files(_own_cache)
    assert kept.stat().st_mode & 0o077 == 0 and _own_cache.stat().st_mode & 0o077 == 0  # private when made
    kept.chmod(0o666)  # as if another user of the group had put it there
    assert isinstance(snapshot.read_prices(csv), PriceSeries)
    _own_cache.chmod(0o777)  # a folder anyone may write to: nothing read from it, nothing written to it
    for entry in kept_files(_own_cache):
        entry.unlink()
    assert isinstance(snapshot.read_prices(csv), PriceSeries) and isinstance(snapshot.read_prices(csv), PriceSeries)
    assert kept_files(_own_cache) == []


def test_the_least_recently_used_snapshots_go(tmp_path: Path, _own_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "CACHE_ENTRIES", 2)
    csvs = []
    for seed in range(3):
        csv = tmp_path / f"p{seed}.csv"
        write_synth(csv, days=120, seed=seed)
        csvs.append(csv)
    snapshot.read_prices(csvs[0])
    snapshot.read_prices(csvs[1])
    os.utime(kept_files(_own_cache)[0], (1, 1))  # make one clearly the oldest
    oldest = kept_files(_own_cache)[0]
    snapshot.read_prices(csvs[2])
    assert len(kept_files(_own_cache)) == 2 and oldest not in kept_files(_own_cache)


def test_stdin_and_panels_are_not_kept(tmp_path: Path, _own_cache: Path) -> None:
    panel = tmp_path / "panel.csv"
    rows = [f"2021-01-{d:02d},{sym},{100 + d}" for d in range(1, 29) for sym in ("BTC", "ETH")]
    panel.write_text("date,symbol,close\n" + "\n".join(rows) + "\n")
    with pytest.raises(Exception, match="assets"):
        snapshot.read_prices(panel)
    assert kept_files(_own_cache) == []  # an error is never kept
    one = snapshot.read_prices(panel, LoadOptions(asset="ETH"))
    kept = snapshot.read_prices(panel, LoadOptions(asset="ETH"))
    assert isinstance(kept, snapshot.Snapshot) and kept.asset == one.asset
    assert_same(one, kept)  # type: ignore[arg-type]


@pytest.mark.parametrize("frequency", ["D", "B"])
def test_future_days_are_pandas_calendar_or_business_days(frequency: str) -> None:
    for start in pd.date_range("2024-03-01", periods=9):  # every weekday, twice over a weekend
        for horizon in (1, 3, 8):
            offset = pd.offsets.BDay(1) if frequency == "B" else pd.offsets.Day(1)
            want = pd.date_range(start + offset, periods=horizon, freq=offset)
            got = future_days(np.datetime64(start.date()), horizon, frequency)  # type: ignore[arg-type]
            assert [str(d) for d in got] == [f"{d:%Y-%m-%d}" for d in want]


def test_what_train_loads_is_kept(tmp_path: Path, _own_cache: Path) -> None:
    from forecast.runs.context import RunContext

    csv = tmp_path / "prices.csv"
    write_synth(csv, days=300, seed=3)
    loaded = RunContext(out=tmp_path / "out").load(csv)
    assert len(kept_files(_own_cache)) == 1
    kept = snapshot.read_prices(csv)
    assert isinstance(kept, snapshot.Snapshot)
    assert_same(loaded, kept)


def test_predict_from_an_unchanged_file_imports_no_pandas(tiny_model: Path, _own_cache: Path) -> None:
    """From a kept snapshot, predict never imports pandas (nor TensorFlow), and forecasts exactly
    what it forecasts from the file itself."""
    from forecast.store.artifacts import read_run

    snapshot.read_prices(read_run(tiny_model).data.path)  # the model's training file, kept
    fast = predict_without(("pandas", "tensorflow"), tiny_model, "--format", "json", "--horizon", "3",
                           "--interval", "0.9", "--engine", "numpy")
    assert fast.returncode == 0, fast.stderr
    slow = subprocess.run([sys.executable, "-m", "forecast", "predict", str(tiny_model), "--format", "json",
                           "--horizon", "3", "--interval", "0.9", "--engine", "numpy"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, snapshot.OFF_ENV: "1"})
    assert slow.returncode == 0, slow.stderr
    assert json.loads(fast.stdout) == json.loads(slow.stdout) and fast.stderr == slow.stderr
    forecast = json.loads(fast.stdout)
    assert len(forecast["forecast"]) == 3 and forecast["forecast"][0]["date"] > forecast["last_date"]


# ---------------------------------------------------------------- a model file's weights


def test_a_model_files_weights_are_kept_checked_and_never_trusted_blindly(tiny_model: Path, _own_cache: Path) -> None:
    from forecast.nets.archive import read_archive
    from forecast.store.artifacts import read_run

    record = read_run(tiny_model)
    expected, sha = record.architecture(), record.model_sha256
    first = read_archive(tiny_model / "model.keras", expected, sha)
    [kept] = kept_files(_own_cache.parent / "weights")
    second = read_archive(tiny_model / "model.keras", expected, sha)
    assert first.weights.keys() == second.weights.keys()
    for layer, arrays in first.weights.items():
        for a, b in zip(arrays, second.weights[layer], strict=True):
            np.testing.assert_array_equal(a, b)
    with np.load(kept) as npz:
        arrays = {name: npz[name] for name in npz.files}
    name = sorted(arrays)[0]
    arrays[name] = np.full_like(arrays[name], np.nan)  # a kept copy gone bad
    np.savez(kept.open("wb"), **arrays)
    third = read_archive(tiny_model / "model.keras", expected, sha)  # read from the file again
    layer, i = name.split(":")
    np.testing.assert_array_equal(third.weights[layer][int(i)], first.weights[layer][int(i)])
    assert read_archive(tiny_model / "model.keras", expected, None).weights.keys() == first.weights.keys()


def test_a_second_predict_reads_no_hdf5(tiny_model: Path) -> None:
    code = ("import sys\n"
            "from forecast.cli.app import main\n"
            f"sys.argv = ['forecast', 'predict', {str(tiny_model)!r}, '--format', 'json', '--engine', 'numpy']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('h5py' in sys.modules, file=sys.stderr)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
            for _ in range(2)]
    assert [run.stderr.splitlines()[-1] for run in runs] == ["True", "False"], runs[0].stderr
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)
