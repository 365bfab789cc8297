"""Matplotlib figures, built with the object-oriented API and saved to a path (never shown)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from forecast.errors import ConfigError

FORMATS = (".png", ".svg", ".pdf")


def predicted_vs_actual(frame: pd.DataFrame, title: str, out: Path, fan: pd.DataFrame | None = None) -> Path:
    """Plot actual, predicted and naive closes over a date index and save the figure.

    Args:
        frame: DatetimeIndex with columns actual, predicted, naive (and lower, upper for a band).
        title: the figure title (name the model and its metrics).
        out: the file; its extension (.png, .svg, .pdf) picks the format.
        fan: optional future forecast after the data: predicted (and lower, upper), drawn as a fan.

    Raises:
        ConfigError: the extension is not supported.
    """
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot write {out.name}: use a file ending in {', '.join(FORMATS)}")
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.add_subplot()
    level = frame.attrs.get("interval")
    if "lower" in frame:
        ax.fill_between(frame.index, frame["lower"], frame["upper"], color="tab:blue", alpha=0.15,
                        label=f"{level:.0%} interval" if level else "interval")
    ax.plot(frame.index, frame["actual"], color="black", linewidth=1.4, label="actual close")
    horizon = int(frame.attrs.get("horizon", 1))
    ax.plot(frame.index, frame["naive"], color="tab:gray", linewidth=1.0, linestyle="--",
            label="naive (tomorrow = today)" if horizon == 1 else f"naive (the close {horizon} days before)")
    ax.plot(frame.index, frame["predicted"], color="tab:blue", linewidth=1.2, label="model forecast")
    if fan is not None:
        if "lower" in fan:
            ax.fill_between(fan.index, fan["lower"], fan["upper"], color="tab:orange", alpha=0.25,
                            label="future interval (fan)")
        ax.plot(fan.index, fan["predicted"], color="tab:orange", linewidth=1.6, marker=".",
                label=f"next {len(fan)} day(s)")
    return _finish(fig, ax, title, out, frame.attrs.get("unit"))


def _finish(fig: Figure, ax: Any, title: str, out: Path, unit: str | None = None) -> Path:
    """Title, price axis (in `unit`, the prices' currency when known), legend, and save: the common
    end of the price-over-time figures."""
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(f"close ({unit or 'price units'})")
    _date_axis(ax)
    ax.legend(loc="upper left")
    from forecast.files import atomic_path

    with atomic_path(out) as tmp:  # only a regular file is replaced, and never half-written
        fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".").lower() or "png")
    return out


def _date_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.grid(alpha=0.3)


def _overlay(frame: pd.DataFrame, title: str, out: Path) -> None:
    fig = Figure(figsize=(12, 6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(frame.index, frame["actual"], color="black", linewidth=1.6, label="actual close")
    ax.plot(frame.index, frame["persistence"], color="tab:gray", linewidth=1.0, linestyle="--",
            label="persistence (tomorrow = today)")
    for name in _models(frame):
        ax.plot(frame.index, frame[name], linewidth=1.1, label=name)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(f"close ({frame.attrs.get('unit') or 'price units'})")
    _date_axis(ax)
    ax.legend(loc="upper left")
    fig.savefig(out, dpi=110)


def _models(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("actual", "persistence")]


def compare_figures(frame: pd.DataFrame, histories: dict[str, pd.DataFrame | None], folder: Path) -> list[Path]:
    """Write the comparison plots into folder and return their paths.

    Args:
        frame: DatetimeIndex; columns actual, persistence, and one per model (its forecasts).
        histories: per model, its loss/val_loss per epoch (None when unknown).
        folder: where overlay.png, overlay_last90.png, loss_curves.png, error_distribution.png
            and rolling_mae.png go.
    """
    folder.mkdir(parents=True, exist_ok=True)
    errors = frame.drop(columns="actual").sub(frame["actual"], axis=0)
    mae = errors.abs().mean()
    ranking = ", ".join(f"{name} {mae[name]:,.0f}" for name in mae.sort_values().index)
    paths = [folder / name for name in ("overlay.png", "overlay_last90.png", "loss_curves.png",
                                        "error_distribution.png", "rolling_mae.png")]
    _overlay(frame, f"One-step forecasts on unseen days — MAE: {ranking}", paths[0])
    _overlay(frame.tail(90), "The last 90 days, zoomed", paths[1])
    _loss_curves(histories, paths[2])
    _error_distribution(errors, paths[3])
    _rolling_mae(errors, paths[4])
    return paths


def _loss_curves(histories: dict[str, pd.DataFrame | None], out: Path) -> None:
    known = {name: h for name, h in histories.items() if h is not None and "loss" in h}
    fig = Figure(figsize=(5 * max(1, len(known)), 4), layout="constrained")
    axes = fig.subplots(1, max(1, len(known)), squeeze=False)[0]
    for ax, (name, history) in zip(axes, known.items(), strict=False):
        epochs = np.arange(1, len(history) + 1)
        ax.plot(epochs, history["loss"], label="training loss")
        if "val_loss" in history:
            ax.plot(epochs, history["val_loss"], label="validation loss")
            best = int(np.argmin(history["val_loss"].to_numpy()))
            ax.axvline(best + 1, color="tab:gray", linestyle=":", label=f"best epoch {best + 1}")
        values = history[[column for column in ("loss", "val_loss") if column in history]].to_numpy()
        positive = bool(np.all(values[np.isfinite(values)] > 0))
        ax.set_yscale("log" if positive else "linear")  # a negative log-likelihood can be below zero
        ax.set_ylabel("loss" + (" (log scale)" if positive else "") + "; lower is better")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if not known:
        axes[0].text(0.5, 0.5, "no training history recorded", ha="center", va="center")
    fig.savefig(out, dpi=100)


def _error_distribution(errors: pd.DataFrame, out: Path) -> None:
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.add_subplot()
    order = errors.abs().mean().sort_values().index
    ax.boxplot([errors[name].to_numpy() for name in order], tick_labels=list(order), showfliers=False)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("forecast − actual (outliers hidden)")
    ax.set_title("Error distribution per forecast, best MAE first")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.grid(alpha=0.3, axis="y")
    fig.savefig(out, dpi=100)


def _rolling_mae(errors: pd.DataFrame, out: Path, days: int = 30) -> None:
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax = fig.add_subplot()
    rolling = errors.abs().rolling(days, min_periods=max(2, days // 3)).mean()
    for name in rolling.columns:
        naive = name == "persistence"
        ax.plot(rolling.index, rolling[name], linewidth=1.2, label=name,
                color="tab:gray" if naive else None, linestyle="--" if naive else "-")
    ax.set_title(f"Rolling {days}-day MAE: lower is better; where a line sits under the dashed "
                 "persistence line, it wins")
    ax.set_ylabel(f"{days}-day MAE")
    _date_axis(ax)
    ax.legend(loc="upper left")
    fig.savefig(out, dpi=100)


def backtest_figure(rows: pd.DataFrame, origins: list[pd.Timestamp], overall: dict[str, Any], out: Path) -> Path:
    """All out-of-sample one-step forecasts against actual closes, fold boundaries marked.

    Args:
        rows: DatetimeIndex; columns actual, predicted, naive, lower, upper.
        origins: the first day of each fold.
        overall: the overall scores (for the title).
        out: the image file.
    """
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(rows.index, rows["lower"], rows["upper"], color="tab:blue", alpha=0.15,
                    label=f"{overall['interval_level']:.0%} interval (coverage {overall['interval_coverage']:.0%})")
    ax.plot(rows.index, rows["actual"], color="black", linewidth=1.4, label="actual close")
    ax.plot(rows.index, rows["naive"], color="tab:gray", linewidth=1.0, linestyle="--", label="persistence")
    ax.plot(rows.index, rows["predicted"], color="tab:blue", linewidth=1.2, label="model, one step ahead")
    for origin in origins:
        ax.axvline(mdates.date2num(origin), color="tab:red", linewidth=0.8, linestyle=":")
    return _finish(fig, ax, f"Walk-forward backtest, {len(origins)} folds (red: refit origins) — MASE "
                   f"{overall['mase']:.3f} against persistence over {overall['days']} days", out)


FEW_TRIALS = 20  # parameter importances from fewer finished trials carry a caveat


def tune_figures(study: Any, history: Path, importances: Path) -> dict[str, Any]:
    """Optuna's own optimisation-history and parameter-importance plots (its matplotlib
    backend), each saved atomically; a plot the study cannot support yet is skipped with the
    reason (e.g. importances need two finished trials whose parameters vary)."""
    import warnings

    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as optuna_plots

    from forecast.files import atomic_path

    made: dict[str, Any] = {"history": None, "importances": None, "skipped": {}}
    for key, path, draw in (("history", history, optuna_plots.plot_optimization_history),
                            ("importances", importances, optuna_plots.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax: Any = draw(study, target_name="validation MASE")
            figure = ax.figure
            figure.set_size_inches(9, 5)
            if key == "history":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers are whole
            finished = sum(trial.state.name == "COMPLETE" for trial in study.trials)
            if key == "importances" and finished < FEW_TRIALS:
                ax.set_title(f"{ax.get_title()}\nfrom only {finished} finished trials: a rough guide, not a ranking",
                             fontsize=10)
                made["caveat"] = f"importances from only {finished} finished trials are a rough guide"
            with atomic_path(path) as tmp:
                figure.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
            plt.close(figure)
            made[key] = path.name
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as exc:
            plt.close("all")
            path.unlink(missing_ok=True)  # an older run's plot would no longer match the study
            made["skipped"][key] = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return made


def calibration_figure(bands: dict[str, Any], out: Path) -> Path:
    """Nominal against observed coverage of every band at each scored level (the diagonal is
    perfect calibration; above it a band is too wide, below too narrow)."""
    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0.4, 1.0], [0.4, 1.0], color="black", linewidth=1, linestyle="--", label="perfect calibration")
    for row in bands["rows"]:
        levels = sorted(float(level) for level in row["coverage"])
        observed = [row["coverage"][f"{level:g}"] for level in levels]
        ax.plot(levels, observed, marker="o", linewidth=2 if row["kind"] == "model" else 1.2,
                linestyle="-" if row["kind"] == "model" else ":",
                label=f"{row['method']} (interval score {row['interval_score_vs_ewma']:.3f}× EWMA)"
                if row["interval_score_vs_ewma"] is not None else row["method"])
    ax.set_xlabel("nominal coverage of the band")
    ax.set_ylabel("share of actual closes inside it")
    ax.set_title(f"Calibration of one-day bands on {bands['days']} unseen days", fontsize=11)
    ax.set_xlim(0.4, 1.0)
    ax.set_ylim(0.3, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def bands_figure(actual: pd.Series, bounds: dict[str, tuple[np.ndarray, np.ndarray]], bands: dict[str, Any],
                 out: Path, days: int = 180) -> Path:
    """Each band (one panel per method, in the table's order) against the actual closes over the
    last `days` evaluated days, its misses marked."""
    rows = [row for row in bands["rows"] if row["method"] in bounds]
    fig = Figure(figsize=(11, 2.6 * max(1, len(rows))), layout="constrained")
    axes = fig.subplots(max(1, len(rows)), 1, sharex=True, squeeze=False)[:, 0]
    level = bands["level"]
    recent = actual.tail(days)
    start = len(actual) - len(recent)
    for ax, row in zip(axes, rows, strict=False):
        lower, upper = (bound[start:] for bound in bounds[row["method"]])
        ax.fill_between(recent.index, lower, upper, color="tab:blue" if row["kind"] == "model" else "tab:gray",
                        alpha=0.3, label=f"{level:.0%} band")
        ax.plot(recent.index, recent.to_numpy(), color="black", linewidth=1.1, label="actual close")
        missed = (recent.to_numpy() < lower) | (recent.to_numpy() > upper)
        ax.scatter(recent.index[missed], recent.to_numpy()[missed], color="tab:red", s=12, zorder=3, label="outside")
        vs = row["interval_score_vs_ewma"]
        ax.set_title(f"{row['method']}: covered {row['coverage'][f'{level:g}']:.1%} of all evaluated days, "
                     f"{row['width_pct']:.2f}% wide" + (f", interval score {vs:.3f}× EWMA's" if vs else "")
                     + f" — {row['verdict']}", fontsize=10, loc="left")
        _date_axis(ax)
    axes[0].legend(loc="upper left", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def small_multiples(frames: dict[str, pd.DataFrame], out: Path, days: int = 365) -> Path:
    """One panel per asset (its last `days` test days): the actual close and each model's one-step
    forecasts (the columns besides `actual`), each panel on its own price scale."""
    names = list(frames)
    columns = min(3, max(1, len(names)))
    rows = -(-len(names) // columns)
    fig = Figure(figsize=(5 * columns, 3.2 * rows), layout="constrained")
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, columns, k + 1)
        frame = frames[name].tail(days)
        ax.plot(frame.index, frame["actual"], color="black", linewidth=1.2, label="actual")
        for model in (c for c in frame.columns if c != "actual"):
            ax.plot(frame.index, frame[model], linewidth=0.9, label=model)
        ax.set_title(name, fontsize=10)
        locator = mdates.AutoDateLocator(maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.4g}"))
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"One-step forecasts on each asset's unseen test days (the last {days} at most)", fontsize=11)
    from forecast.files import atomic_path

    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return out
