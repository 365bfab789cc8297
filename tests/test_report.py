"""Rendering: tables, Markdown and JSON from results — no computation, no NaN or Infinity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from forecast.cli.tables import print_csv, print_json
from forecast.files import json_text
from forecast.render.markdown import format_cell, markdown_report


def _report(failed: list[dict[str, str]] | None = None) -> dict[str, Any]:
    rows = [
        {"rank": 1, "model": "persistence", "kind": "baseline", "mae": 10.0, "mae_std": None, "rmse": 12.5,
         "mape": 1.25, "mase": 1.0, "directional_accuracy": None, "dm_pvalue": None, "parameters": None,
         "train_seconds": None, "epochs_run": None, "verdict": "the bar to clear"},
        {"rank": 2, "model": "GRU", "kind": "model", "mae": 10.5, "mae_std": 0.25, "rmse": 13.0, "mape": 1.3,
         "mase": 1.05, "mase_std": 0.012, "directional_accuracy": 0.512, "dm_pvalue": 0.2, "parameters": 12345,
         "train_seconds": 3.26, "epochs_run": 7, "verdict": "copies yesterday"},
    ]
    return {"data": {"path": "/x/btc.csv", "layout": "yahoo", "rows": 500, "first_date": "2020-01-01",
                     "last_date": "2021-05-14"},
            "evaluation": {"first": "2021-01-01", "last": "2021-05-14", "days": 134, "horizon": 1},
            "setup": {"failed": failed or []}, "rows": rows}


def test_cells_format_by_metric_with_spread_over_seeds() -> None:
    row = _report()["rows"][1]
    assert format_cell(row, "mae") == "10.50 ± 0.25"
    assert format_cell(row, "mase") == "1.050 ± 0.012"
    assert format_cell(row, "directional_accuracy") == "51.2%"
    assert format_cell(row, "parameters") == "12,345"
    assert format_cell(_report()["rows"][0], "dm_pvalue") == "–"
    assert format_cell(row, "verdict") == "copies yesterday"


def test_markdown_report_has_the_table_and_names_what_did_not_finish() -> None:
    text = markdown_report(_report())
    lines = text.splitlines()
    assert lines[0] == "# Model comparison"
    assert "| 2 | GRU | 10.50 ± 0.25 | 13.00 | 1.30 | 1.050 ± 0.012 | 51.2% | 0.200 | 12,345 | 3.3 | 7 | " \
           "copies yesterday |" in lines
    assert "Did not finish" not in text
    failed = markdown_report(_report([{"model": "lstm-seed42", "reason": "the training process died (SIGSEGV)"}]))
    assert "**Did not finish** (left out of the table): lstm-seed42 — the training process died (SIGSEGV)." in failed


def test_json_never_holds_nan_or_infinity(capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    payload = {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": np.float64("-inf"), "e": np.int64(3)}}
    assert json.loads(json_text(payload)) == {"a": None, "b": [None, 1.5], "c": {"d": None, "e": 3}}
    print_json(payload)
    out = capsys.readouterr().out
    assert "NaN" not in out and "Infinity" not in out


def test_csv_rows_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    print_csv([{"date": "2024-01-01", "close": 1.5}, {"date": "2024-01-02", "close": 2.0}])
    assert capsys.readouterr().out == "date,close\n2024-01-01,1.5\n2024-01-02,2.0\n"
    print_csv([])
    assert capsys.readouterr().out == ""
