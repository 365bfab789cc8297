"""The model folder on disk: what is in it, writing it into a staging folder, and reading it back
with clear errors.

A model folder holds:

    model.keras            the network (Keras 3 format, loaded in safe mode)
    run.json               everything `predict` needs and a person wants to know (plain JSON)
    history.csv            loss and val_loss per epoch
    test_predictions.csv   date, actual, predicted, naive over the test period
    calibration.json       conformal scores per horizon step, for prediction intervals
    prediction.png         predicted vs actual over the test period (drawn by the training run)

Atomic writes, staging and locks are forecast.files'.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.bands.conformal import Calibration
from forecast.data.series import DailySeries, LoadOptions
from forecast.data.snapshot import read_prices
from forecast.errors import ArtifactError
from forecast.files import (
    CALIBRATION_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    PLOT_FILE,
    RUN_FILE,
    TEST_PREDICTIONS_FILE,
    file_sha256,
    read_json,
    restore_interrupted_swap,
    write_json,
)
from forecast.store.record import ENSEMBLE_DIR, FORMAT_VERSION, RunRecord, check_calibration

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["CALIBRATION_FILE", "FORMAT_VERSION", "HISTORY_FILE", "MODEL_FILE", "PLOT_FILE", "RUN_FILE",
           "TEST_PREDICTIONS_FILE", "RunRecord"]


def write_model_folder(folder: Path, record: RunRecord, *, save_model: Callable[[Path], None],
                       calibration: Calibration, history: pd.DataFrame, test_frame: pd.DataFrame,
                       save_members: Sequence[Callable[[Path], None]] = ()) -> RunRecord:
    """Write every file of a model folder into `folder` (a staging folder: see `staged_folder`).

    run.json is written last, with the sha256 of the model file just saved (and of each further
    network of an ensemble, `save_members`, under ensemble/: run.json's `ensemble` entries, in
    order, get their files and checksums), and returned. The figure (prediction.png) is the
    caller's to draw: storage never draws.
    """
    write_json(folder / CALIBRATION_FILE, calibration.to_dict())
    save_model(folder / MODEL_FILE)
    members = [dict(entry) for entry in record.extra.get("ensemble", [])]
    if len(members) != len(save_members):
        raise ValueError("one ensemble entry in run.json per further network")
    for number, (entry, save) in enumerate(zip(members, save_members, strict=True), start=2):
        name = f"{ENSEMBLE_DIR}/member-{number}.keras"
        (folder / ENSEMBLE_DIR).mkdir(exist_ok=True)
        save(folder / name)
        entry.update(file=name, sha256=file_sha256(folder / name))
    test_frame.to_csv(folder / TEST_PREDICTIONS_FILE, index_label="date", float_format="%.6f")
    history.to_csv(folder / HISTORY_FILE, float_format="%.8g")
    record = dataclasses.replace(record, model_sha256=file_sha256(folder / MODEL_FILE),
                                 extra={**record.extra, "ensemble": members} if members else record.extra)
    write_json(folder / RUN_FILE, record.to_dict())
    return record


def read_run(folder: Path) -> RunRecord:
    """Read and validate run.json of a model folder.

    Every field code relies on is checked for type, range and finiteness before use, so a
    tampered or mixed folder fails here with one clear message instead of later with a
    traceback or a wrong forecast.

    Raises:
        ArtifactError: the folder or run.json is missing, unreadable, or incompatible.
    """
    if not folder.exists():
        restore_interrupted_swap(folder)
    if not folder.exists():
        raise ArtifactError(f"model folder {folder} does not exist; train one with "
                            f"`forecast train --out {folder}`")
    if not folder.is_dir():
        raise ArtifactError(f"{folder} is a file, not a model folder; pass the folder that "
                            f"`forecast train` wrote")
    path = folder / RUN_FILE
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {RUN_FILE}, so it is not a complete model folder; "
                            "retrain with `forecast train --force`")
    raw = read_json(path)
    from forecast.store import pooled

    if pooled.is_global(raw):
        try:
            record = pooled.GlobalRecord.from_dict(raw)
        except ValueError as exc:
            raise ArtifactError(f"{path} {exc}") from None
        raise ArtifactError(f"{folder} is a global model of {len(record.assets)} assets ({record.names()}); pass "
                            "--asset NAME for one of them (predict, plot, compare --from), or `forecast predict "
                            f"{folder} --data FILE` to forecast a new asset")
    try:
        return RunRecord.from_dict(raw)
    except ValueError as exc:
        raise ArtifactError(f"{path} {exc}") from None


def write_asset_folder(folder: Path, record: RunRecord, *, calibration: Calibration, test_frame: pd.DataFrame,
                       model_sha256: str) -> RunRecord:
    """Write one asset's files of a global model (forecast.store.pooled) into `folder`: its
    calibration, test predictions and run.json, tied to the shared network by `model_sha256`."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CALIBRATION_FILE, calibration.to_dict())
    test_frame.to_csv(folder / TEST_PREDICTIONS_FILE, index_label="date", float_format="%.6f")
    record = dataclasses.replace(record, model_sha256=model_sha256)
    write_json(folder / RUN_FILE, record.to_dict())
    return record


def read_calibration(folder: Path) -> Calibration:
    """Read the interval calibration of a model folder.

    Raises:
        ArtifactError: the file is missing or malformed.
    """
    path = folder / CALIBRATION_FILE
    if not path.is_file():
        raise ArtifactError(f"{folder} has no {CALIBRATION_FILE}, so it cannot give intervals; retrain it "
                            "with this version of forecast")
    raw = read_json(path)
    try:
        check_calibration(raw)
        return Calibration.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} is corrupt ({exc}); retrain the model with --force") from None


def series_for(record: RunRecord, data: Path | None, options: LoadOptions | None) -> DailySeries:
    """The series to forecast from: `data`, or the training file run.json names (the asset the model
    was trained on, in a panel file, unless --asset says another). A file cleaned before with the
    same options is read from its snapshot (`forecast.data.snapshot`), without pandas."""
    if data is None:
        recorded = Path(record.data.path)
        if record.data.path == "-":
            raise ArtifactError("this model was trained on standard input; pass --data CSV, or --data - with "
                                "recent closes piped in")
        if not recorded.is_file():
            raise ArtifactError(f"the training data {recorded} is no longer there; pass "
                                "--data CSV with recent closes")
        data = recorded
        options = options or LoadOptions()
        if options.asset is None and record.data.asset is not None:
            options = dataclasses.replace(options, asset=record.data.asset)
    return read_prices(data, options)
