"""Figures: written to the path asked for, axes labelled, never shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # matplotlib


@pytest.fixture(autouse=True)
def _no_show_and_text_in_svg(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("plt.show() must never be called")

    monkeypatch.setattr(plt, "show", refuse)
    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")  # keep text searchable


def _frame(days: int = 120) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=days, name="date")
    actual = 100 + np.cumsum(np.random.default_rng(0).normal(0, 1, days))
    return pd.DataFrame({"actual": actual, "predicted": actual + 0.5, "naive": np.roll(actual, 1)}, index=index)


def test_predicted_vs_actual_writes_a_labelled_figure(tmp_path: Path) -> None:
    from forecast.render.figures import predicted_vs_actual

    out = predicted_vs_actual(_frame(), "GRU on unseen days", tmp_path / "p.svg")
    text = out.read_text()
    assert out == tmp_path / "p.svg"
    for label in ("GRU on unseen days", ">close (price units)<", "actual close", "naive (tomorrow = today)",
                  "model forecast"):
        assert label in text, label
    with pytest.raises(Exception, match=r"\.png"):
        predicted_vs_actual(_frame(), "t", tmp_path / "p.gif")


def test_compare_figures_writes_five_pngs(tmp_path: Path) -> None:
    from forecast.render.figures import compare_figures

    frame = _frame().rename(columns={"predicted": "GRU", "naive": "persistence"})
    histories = {"GRU": pd.DataFrame({"loss": [1.0, 0.5], "val_loss": [1.2, 0.8]})}
    paths = compare_figures(frame, histories, tmp_path)
    assert sorted(p.name for p in paths) == ["error_distribution.png", "loss_curves.png", "overlay.png",
                                             "overlay_last90.png", "rolling_mae.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
