"""Matplotlib figures, built with the object-oriented API and saved to a path (never shown)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from forecast.errors import ConfigError

FORMATS = (".png", ".svg", ".pdf")


def predicted_vs_actual(frame: pd.DataFrame, title: str, out: Path) -> Path:
    """Plot actual, predicted and naive closes over a date index and save the figure.

    Args:
        frame: DatetimeIndex with columns actual, predicted, naive.
        title: the figure title (name the model and its metrics).
        out: the file; its extension (.png, .svg, .pdf) picks the format.

    Raises:
        ConfigError: the extension is not supported.
    """
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot write {out.name}: use a file ending in {', '.join(FORMATS)}")
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(frame.index, frame["actual"], color="black", linewidth=1.4, label="actual close")
    ax.plot(frame.index, frame["naive"], color="tab:gray", linewidth=1.0, linestyle="--",
            label="naive (tomorrow = today)")
    ax.plot(frame.index, frame["predicted"], color="tab:blue", linewidth=1.2, label="model forecast")
    ax.set_title(title, fontsize=11)
    ax.set_ylabel("close")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
