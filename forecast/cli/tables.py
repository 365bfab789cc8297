"""Results → tables, JSON or CSV on stdout. No computation happens here."""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.table import Table

from forecast.bands.verdicts import NAMES, p_words
from forecast.inputs import channels
from forecast.render.markdown import (
    BAND_COLUMNS,
    TABLE_COLUMNS,
    band_cell,
    format_cell,
    markdown_report,
    p_cell,
    score_cell,
    steps_cells,
)

if TYPE_CHECKING:
    from forecast.metrics import Comparison, Metrics
    from forecast.runs.assets import GlobalOutcome
    from forecast.runs.backtest import BacktestOutcome
    from forecast.runs.backtest_assets import AssetsBacktestOutcome
    from forecast.runs.compare import CompareOutcome
    from forecast.runs.compare_assets import AssetsCompareOutcome
    from forecast.runs.pipeline import ForecastOutcome, PlotOutcome
    from forecast.runs.training import TrainOutcome
    from forecast.runs.tune import TuneOutcome
    from forecast.store.record import RunRecord

OutputFormat = Literal["table", "json", "csv"]


def _stdout() -> Console:
    # A terminal gets sentences wrapped at words to its width; piped output is not cut to 80
    # columns: wide tables stay whole in files and CI logs.
    if sys.stdout.isatty():
        return Console(file=sys.stdout)
    return Console(file=sys.stdout, soft_wrap=True, width=200)


def _show(console: Console, table: Table) -> None:
    """Print a table whole: one that cannot fit the console (a --wide table on a narrow terminal) is
    drawn at the width it needs rather than cropped or cut."""
    need = sum(column.min_width or 1 for column in table.columns) + 3 * len(table.columns) + 1  # cells, padding, rules
    if need > console.width:
        console = Console(file=console.file, soft_wrap=True, width=need)
    console.print(table)


def _add_columns(table: Table, titles: list[str], cells: list[list[str]], text: tuple[int, ...] = (),
                 wrapped: tuple[int, ...] = ()) -> None:
    """Add columns whose numbers are never cut ("1,0…"): a number column keeps the width of its longest
    cell; a text column (indices `text`) and a column of several numbers (`wrapped`, "1.015 (91.3%)",
    right-aligned) wrap at spaces, never narrower than a word of 12."""
    for index, title in enumerate(titles):
        values = [line[index] for line in cells]
        if index in text or index in wrapped:
            longest = max((len(word) for value in [title, *values] for word in value.split()), default=1)
            table.add_column(title, justify="left" if index in text else "right", overflow="fold",
                             min_width=min(longest, 12))
        else:
            width = max([len(title), *(len(value) for value in values)])
            table.add_column(title, justify="right", no_wrap=True, min_width=width)


def print_json(payload: Any) -> None:
    from forecast.files import json_text

    sys.stdout.write(json_text(payload) + "\n")


def print_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _fmt(value: float | None, spec: str = ",.2f") -> str:
    return "n/a" if value is None else format(value, spec)


def units(unit: str | None) -> str:
    """What prices are in, for labels: the file's currency when it says it, else "price units"."""
    return unit or "price units"


def comparison_table(comparison: Comparison, title: str, unit: str | None = None) -> Table:
    """Model vs naive on the same unseen days, one row per metric."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric (test days)")
    table.add_column("model", justify="right")
    table.add_column("naive: tomorrow = today", justify="right")
    rows: list[tuple[str, str, str]] = [
        (f"MAE ({units(unit)})", _fmt(comparison.model.mae), _fmt(comparison.naive.mae)),
        (f"RMSE ({units(unit)})", _fmt(comparison.model.rmse), _fmt(comparison.naive.rmse)),
        ("MAPE %", _fmt(comparison.model.mape, ".3f"), _fmt(comparison.naive.mape, ".3f")),
        ("direction right", _percent(comparison.model), _percent(comparison.naive)),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _percent(metrics: Metrics) -> str:
    accuracy = metrics.directional_accuracy
    return "n/a" if accuracy is None else f"{100 * accuracy:.1f}%"


def verdict_sentence(comparison: Comparison, unit: str | None = None) -> str:
    """One honest sentence about the model against persistence (the label is verdicts.verdict's)."""
    from forecast.bands.verdicts import verdict as label

    ratio = comparison.mae_ratio
    change = f"{100 * abs(1 - ratio):.1f}% {'lower' if ratio < 1 else 'higher'} MAE"
    head = (f"MAE / naive MAE = {ratio:.3f} ({change} than tomorrow = today): "
            f"{label(ratio, comparison.dm_pvalue, comparison.copies_yesterday).upper()}, "
            f"Diebold–Mariano p = {comparison.dm_pvalue:.3f}.")
    if comparison.copies_yesterday:
        head += (f" Its forecasts sit {comparison.lag1_mae:,.2f} {units(unit)} from the previous close on average, "
                 "closer than the price moves in a day: it mostly repeats yesterday's close.")
    return head


def band_summary(bands: dict[str, Any]) -> str:
    """One sentence: the model's band on the test days against the volatility baselines."""
    rows = {row["method"]: row for row in bands["rows"]}
    level = bands["level"]
    model = rows.get("model")
    if model is None:
        return f"{level:.0%} band: " + "; ".join(bands["notes"])
    others = ", ".join(f"{NAMES.get(name, name)} {row['interval_score_vs_ewma']:.3f}×"
                       for name, row in rows.items() if name not in ("model", "ewma")
                       and row["interval_score_vs_ewma"] is not None)
    vs_ewma, bar = model["interval_score_vs_ewma"], bands.get("bar")
    p_ewma, p_bar = model.get("dm_pvalue_vs_ewma"), model.get("dm_pvalue_vs_bar")
    vs_bar = model.get("interval_score_vs_bar")
    against_bar = (f", {vs_bar:.3f}× the bar's ({NAMES.get(bar, bar)}"
                   + (f", p {p_words(p_bar)}" if p_bar is not None else "") + ")"
                   if bar not in (None, "ewma") and vs_bar is not None else "")
    return (f"{level:.0%} band one day ahead on the test days: covered {model['coverage'][f'{level:g}']:.1%}, "
            f"{model['width_pct']:.2f}% of the close wide; interval score "
            + (f"{vs_ewma:.3f}× EWMA's" + (f" (DM p {p_words(p_ewma)})" if p_ewma is not None else "")
               if vs_ewma is not None else f"{model['interval_score']:,.2f}")
            + against_bar + (f" (baselines: {others})" if others else "") + f": {model['verdict'].upper()}.")


def bar_line(bands: dict[str, Any] | None) -> str | None:
    """The sentence under a band table that names its bar and what "sharper" means."""
    if not bands or not bands.get("rows"):
        return None
    bar, selection = bands.get("bar") or "ewma", bands.get("selection")
    chosen = (f"the best baseline on the {selection['days']} days before these" if selection
              else "too little history before these days to choose another")
    return (f"The bar: {NAMES.get(bar, bar)} ({chosen}). DM p: Diebold–Mariano on the daily interval scores "
            "against EWMA's; \"sharper\" needs p < 0.05.")


def inputs(record: RunRecord, words: bool = False) -> list[str]:
    """The network's input channels: the target's transform, then the features (in words for people)."""
    first = {"price": "scaled close", "delta": "scaled close", "return": "log-return"}[record.target.kind]
    if not words:
        return [first, *record.features.channels]
    words_of = {name: channel.words or name for name, channel in channels.CHANNELS.items()}  # run.json: names
    return [words_of["return"] if first == "log-return" else first,
            *(words_of.get(channel, channel) for channel in record.features.channels)]


def train_summary(outcome: TrainOutcome, fmt: Literal["table", "json"]) -> None:
    training = outcome.record.training
    if fmt == "json":
        print_json({
            "folder": str(outcome.folder), "epochs_run": training.epochs_run,
            "best_epoch": training.best_epoch, "seconds": round(training.seconds, 2),
            "parameters": training.parameters, "split": outcome.record.to_dict()["split"],
            "inputs": inputs(outcome.record), "interval_method": outcome.record.config.model.interval_method,
            "distribution": outcome.distribution, "ensemble": outcome.record.config.train.ensemble,
            "test": outcome.comparison.to_dict(),
            "bands": outcome.evaluation.bands, "bands_by_step": outcome.evaluation.bands_by_step or None,
        })
        return
    console = _stdout()
    test = outcome.record.split["test"]
    unit = outcome.record.data.unit
    console.print(comparison_table(
        outcome.comparison,
        f"Test period {test.first} → {test.last} ({test.days} days, never seen in training)", unit))
    console.print(verdict_sentence(outcome.comparison, unit))
    console.print(band_summary(outcome.evaluation.bands))
    if outcome.evaluation.bands_by_step:
        for table in _steps_tables(outcome.evaluation.bands_by_step):
            _show(console, table)
    size, seed = outcome.record.config.train.ensemble, outcome.record.config.train.seed
    epochs = f"{training.epochs_run} epochs (best {training.best_epoch})"
    what = (f"{size} networks (seeds {seed}–{seed + size - 1}; the first {epochs})" if size > 1 else epochs)
    each = " each" if size > 1 else ""
    console.print(f"Trained {what} in {training.seconds:.1f} s; {training.parameters:,} parameters{each}; inputs: "
                  f"{', '.join(inputs(outcome.record, words=True))}; band: "
                  f"{outcome.record.config.model.interval_method}.")
    plan = outcome.distribution
    if plan.get("replicas", 1) > 1 or plan.get("strategy") == "multi-worker":
        console.print(f"Distributed ({plan['strategy']}) over {plan['replicas']} replicas: global batch "
                      f"{plan['global_batch_size']} ({plan['global_batch_size'] // plan['replicas']} per replica).")
    if plan.get("chief", True):
        console.print(f"Model folder: {outcome.folder}")
    else:
        console.print("This worker is not the chief: the chief writes the model folder.")


def _price(value: float) -> str:
    """A price for people: cents above 1 (12,345.67), four significant digits below (0.1423, 0.0002681)."""
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


def forecast_output(outcome: ForecastOutcome, fmt: OutputFormat) -> None:
    if fmt == "json":
        print_json(outcome.to_dict())
        return
    if fmt == "csv":
        print_csv([{**row, **_verdict_columns(outcome.verdict)} for row in outcome.forecast])
        return
    console = _stdout()
    asset = f" ({outcome.asset})" if outcome.asset is not None else ""
    table = Table(title=f"{outcome.model}{asset}: last close {_price(outcome.last_close)} on {outcome.last_date}",
                  title_justify="left")
    table.add_column("date")
    table.add_column("forecast close", justify="right")
    table.add_column("change vs last close", justify="right")
    bounded = "lower" in outcome.forecast[0]
    if bounded:
        table.add_column("interval", justify="right")
    for row in outcome.forecast:
        change = 100 * (row["close"] / outcome.last_close - 1)
        cells = [row["date"], _price(row["close"]), f"{change:+.2f}%"]
        if bounded:
            cells.append(f"{_price(row['lower'])} – {_price(row['upper'])}")
        table.add_row(*cells)
    console.print(table)


def _verdict_columns(found: dict[str, Any] | None) -> dict[str, Any]:
    """The model's test verdict as flat CSV columns (the same on every row)."""
    found = found or {}
    band = found.get("band") or {}
    return {"test_mase": found.get("mase"), "test_dm_pvalue": found.get("dm_pvalue"),
            "verdict": found.get("label", "no test scores"), "band_coverage": band.get("coverage"),
            "band_vs_ewma": band.get("interval_score_vs_ewma"), "band_verdict": band.get("label")}


def plot_output(outcome: PlotOutcome) -> None:
    span = f"the last {outcome.days} of {outcome.of_days} unseen days" if outcome.of_days > outcome.days else \
        f"{outcome.days} unseen days"
    _stdout().print(f"Wrote {outcome.path} ({span}). {verdict_sentence(outcome.comparison, outcome.unit)}")


def inspect_output(description: dict[str, Any], fmt: Literal["table", "json"]) -> None:
    if fmt == "json":
        print_json(description)
        return
    if description["layout"] == "panel":
        _panel_output(description)
        return
    table = Table(title=description["file"], title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key in ("layout", "date_column", "close_column", "rows_read", "rows", "first_date",
                "last_date", "frequency"):
        table.add_row(key.replace("_", " "), str(description[key]))
    table.add_row("last close", f"{description['last_close']:,.6g}")
    others = {role: name for role, name in description["columns"].items() if role != "close"}
    found = ", ".join(f"{role} ({name})" for role, name in others.items()) or "none"
    full = all(role in others for role in ("high", "low", "volume"))
    table.add_row("other columns", f"{found} — --features auto uses {'ohlcv' if full else 'the close only'}")
    for step in description["steps"]:
        table.add_row(f"step: {step['name']}", f"{step['detail']} ({step['count']})")
    for warning in description["warnings"]:
        table.add_row("warning", warning)
    _stdout().print(table)


def _panel_output(description: dict[str, Any]) -> None:
    assets = description["assets"]
    table = Table(title=f"{description['file']}: {len(assets)} assets in rows (column "
                  f"{description['asset_column']!r})", title_justify="left")
    for title, justify in (("asset", "left"), ("also named", "left"), ("rows", "right"), ("first", "left"),
                           ("last", "left")):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for asset in assets:
        table.add_row(asset["asset"], ", ".join(asset["also"]), f"{asset['rows']:,}", asset["first_date"] or "–",
                      asset["last_date"] or "–")
    _stdout().print(table)
    sys.stderr.write(description["hint"] + "\n")


def compare_output(outcome: CompareOutcome, fmt: Literal["table", "json", "csv", "markdown"],
                   wide: bool = False) -> None:
    """The ranked comparison on stdout (compact unless `wide`); where the files went on stderr."""

    failed = outcome.report["setup"].get("failed") or []
    if fmt == "json":
        print_json({"out": str(outcome.out), "evaluation": outcome.evaluation, "rows": outcome.rows,
                    "bands": outcome.report.get("bands"), "bands_by_step": outcome.report.get("bands_by_step"),
                    "failed": failed})
    elif fmt == "csv":
        print_csv(outcome.rows)
    elif fmt == "markdown":
        sys.stdout.write(markdown_report(outcome.report))
    else:
        console = _stdout()
        for table in compare_tables(outcome.evaluation, outcome.rows, outcome.report, wide):
            _show(console, table)
        bar = bar_line(outcome.report.get("bands"))
        if bar:
            console.print(bar)
        if not wide:
            Console(stderr=True).print("All columns: --wide, or report.md in the report folder.")
    for run in failed:
        Console(stderr=True).print(f"Warning: {run['model']} did not finish ({run['reason']}); the report "
                                   "covers the models that did", style="yellow")
    Console(stderr=True).print(f"Report, plots and model folders: {outcome.out}")


# backtest's fold table: compact on a terminal (fits 80 columns), every column with --wide.
FOLD_COLUMNS = ("fold", "origin", "days", "trained through", "MAE", "naive MAE", "MASE", "direction", "DM p",
                "interval coverage")
COMPACT_FOLD_COLUMNS = ("fold", "origin", "days", "MASE", "DM p", "coverage")


def backtest_output(outcome: BacktestOutcome, fmt: Literal["table", "json"], wide: bool = False) -> None:
    """Per-fold and overall backtest scores on stdout (compact unless `wide`)."""
    for fold in outcome.failed:
        Console(stderr=True).print(f"Warning: fold {fold['fold']} did not finish ({fold['reason']}); the scores "
                                   "cover the folds that did", style="yellow")
    if fmt == "json":
        print_json({"out": str(outcome.out), "folds": outcome.folds, "overall": outcome.overall,
                    "failed": outcome.failed})
        return
    table = Table(title="Walk-forward backtest: one-step forecasts on days after each origin", title_justify="left")
    titles = FOLD_COLUMNS if wide else COMPACT_FOLD_COLUMNS
    cells = []
    for fold in [*outcome.folds, {**outcome.overall, "fold": "all", "origin": "", "trained_on": {"last": ""}}]:
        direction = fold["directional_accuracy"]
        every = dict(zip(FOLD_COLUMNS, (
            str(fold["fold"]), fold["origin"], str(fold["days"]), fold["trained_on"]["last"], f"{fold['mae']:,.2f}",
            f"{fold['naive_mae']:,.2f}", f"{fold['mase']:.3f}", "n/a" if direction is None else f"{direction:.1%}",
            f"{fold['dm_pvalue']:.3f}", f"{fold['interval_coverage']:.0%}"), strict=True))
        every["coverage"] = every["interval coverage"]
        cells.append([every[title] for title in titles])
    _add_columns(table, list(titles), cells)
    for line in cells:
        table.add_row(*line)
    console = _stdout()
    _show(console, table)
    level = outcome.overall["interval_level"]
    console.print(f"Overall MASE {outcome.overall['mase']:.3f} against persistence; {level:.0%} intervals "
                  f"covered {outcome.overall['interval_coverage']:.0%} of actual closes. Files: {outcome.out}")
    bands = outcome.overall.get("bands")
    if bands and bands["rows"]:
        _show(console, _band_table(bands, wide))
        for note in bands["notes"]:
            console.print(f"Note: {note}")
    if outcome.overall.get("bands_by_step"):
        for table in _steps_tables(outcome.overall["bands_by_step"]):
            _show(console, table)
    if not wide:
        Console(stderr=True).print("All columns: --wide.")


# ---------------------------------------------------------------- compare rendering

# The compact default fits 80 columns: the verdicts and the numbers they rest on.
COMPACT_COLUMNS = (("rank", "#"), ("model", "model"), ("mase", "MASE"), ("dm_pvalue", "DM p"), ("verdict", "verdict"))
COMPACT_BAND_COLUMNS = (("method", "band"), ("coverage", "coverage"), ("interval_score_vs_ewma", "vs EWMA"),
                        ("dm_pvalue_vs_ewma", "DM p"), ("verdict", "verdict"))
_TEXT_KEYS = ("model", "verdict", "method")


def compare_tables(evaluation: dict[str, Any], rows: list[dict[str, Any]], report: dict[str, Any],
                   wide: bool = False) -> list[Table]:
    """compare's tables for a terminal: compact (MASE, DM p, verdict; band coverage, vs EWMA,
    verdict) or `wide` (every column). Numbers are never cut: a narrow terminal wraps the words."""
    columns = TABLE_COLUMNS if wide else COMPACT_COLUMNS
    table = Table(title=f"One-step forecasts on {evaluation['days']} unseen days, "
                  f"{evaluation['first']} → {evaluation['last']} (ranked by MAE)", title_justify="left")
    cells = [[format_cell(row, key) for key, _ in columns] for row in rows]
    _add_columns(table, [title for _, title in columns], cells, _text_columns(columns))
    for row, line in zip(rows, cells, strict=True):
        table.add_row(*line, style="bold red" if row["verdict"] in ("copies yesterday", "worse than persistence")
                      else None)
    tables = [table]
    bands = report.get("bands")
    if bands and bands["rows"]:
        tables.append(_band_table(bands, wide))
    if report.get("bands_by_step"):
        tables += _steps_tables(report["bands_by_step"])
    return tables


def _text_columns(columns: tuple[tuple[str, str], ...]) -> tuple[int, ...]:
    return tuple(index for index, (key, _) in enumerate(columns) if key in _TEXT_KEYS)


def _band_table(bands: dict[str, Any], wide: bool = True) -> Table:
    level = bands["level"]
    columns = BAND_COLUMNS if wide else COMPACT_BAND_COLUMNS
    title = (f"{level:.0%} bands one day ahead on the same days (ranked by interval score: width plus "
             f"{2 / (1 - level):.0f}× each miss; lower is better)") if wide else \
        f"{level:.0%} bands one day ahead, same days (ranked by interval score)"
    table = Table(title=title, title_justify="left")
    cells = [[band_cell(row, key, level) for key, _ in columns] for row in bands["rows"]]
    _add_columns(table, [title for _, title in columns], cells, _text_columns(columns))
    for row, line in zip(bands["rows"], cells, strict=True):
        table.add_row(*line, style="bold red" if row["verdict"] == "miscalibrated" else None)
    return table


STEPS_PER_TABLE = 5  # horizon steps side by side in one terminal table: five fit 80 columns


def _steps_tables(tables: list[dict[str, Any]]) -> list[Table]:
    """The per-step band scores as terminal tables of at most STEPS_PER_TABLE steps each."""
    level = tables[0]["level"]
    titles, cells = steps_cells(tables)
    out = []
    for start in range(0, len(titles), STEPS_PER_TABLE):
        chunk = slice(start, start + STEPS_PER_TABLE)
        title = (f"{level:.0%} bands by horizon step: interval score vs EWMA's (coverage); √h-scaled empirical and "
                 "EWMA, GARCH's h-day variance") if start == 0 else f"… {', '.join(titles[chunk])}"
        table = Table(title=title, title_justify="left")
        lines = [[method, *row[chunk]] for method, row in cells.items()]
        _add_columns(table, ["band", *titles[chunk]], lines, text=(0,), wrapped=tuple(range(1, len(lines[0]))))
        for line in lines:
            table.add_row(*line)
        out.append(table)
    return out


def trial_config(values: dict[str, Any]) -> str:
    """One trial's configuration in a few words."""
    if not values:
        return ""
    units = ",".join(map(str, values.get("units", [])))
    return (f"{values.get('model', '?')} {units} · window {values.get('window')} · {values.get('target')} · "
            f"dropout {values.get('dropout', 0):.2f} · lr {values.get('learning_rate', 0):.1e} · "
            f"batch {values.get('batch_size')}")


def tune_output(outcome: TuneOutcome, fmt: OutputFormat) -> None:
    """The ranked trial table (the best 20 on a terminal table), then the best configuration
    and its one evaluation on the test part."""
    from forecast.runs.tune import table_rows

    payload = outcome.to_dict()
    for note in payload["notes"]:
        sys.stderr.write(f"Note: {note}\n")
    if fmt == "json":
        print_json(payload)
        return
    if fmt == "csv":
        print_csv(table_rows(outcome.rows))
        return
    console = _stdout()
    trials = payload["trials"]
    table = Table(title=f"Study {payload['study']} ({payload['storage']}): {trials['total']} trials — "
                        f"{trials['complete']} complete, {trials['pruned']} pruned, {trials['failed']} failed; "
                        "ranked by validation MASE (lower is better; 1 = persistence)", title_justify="left")
    cells = [[str(row["rank"]), str(row["trial"]), row["state"], _fmt(row["val_mase"], ".4f"),
              trial_config(row["config"]), "" if row["epochs"] is None else str(row["epochs"]),
              _fmt(row["seconds"], ".0f"), row["note"]] for row in outcome.rows[:20]]
    _add_columns(table, ["rank", "trial", "state", "val MASE", "configuration", "epochs", "seconds", "note"], cells,
                 text=(2, 4, 7))
    for line in cells:
        table.add_row(*line)
    _show(console, table)
    if len(outcome.rows) > 20:
        console.print(f"… and {len(outcome.rows) - 20} more in trials.csv")
    best, test = payload["best"], payload["test"]
    console.print(f"Best: trial {best['trial']} — {trial_config(best['config'])} — validation MASE "
                  f"{best['val_mase']:.4f}")
    console.print(f"Trained as `train` does and scored once on {test['days']} unseen test days: MASE "
                  f"{_fmt(test['mase'], '.4f')} (MAE {_fmt(test['mae'])} vs persistence {_fmt(test['naive_mae'])}, "
                  f"DM p = {_fmt(test['dm_pvalue'], '.3f')}): {test['verdict']}")
    kept = " (unchanged: it already held this configuration)" if payload["model_folder_kept"] else ""
    console.print(f"Model folder: {payload['model_folder']}{kept}")
    skipped = payload["plots"]["skipped"]
    made = [name for name in ("history", "importances") if payload["plots"][name]]
    console.print(f"{payload['new_trials']} new trial(s) in {payload['seconds']:.0f} s with {payload['jobs']} job(s); "
                  f"plots: {', '.join(payload['plots'][name] for name in made) or 'none'}"
                  + "".join(f" ({name} skipped: {why})" for name, why in skipped.items()))


def assets_summary(outcome: GlobalOutcome, fmt: Literal["table", "json"]) -> None:
    """A multi-asset training: per asset and pooled (forecast.runs.assets)."""
    pooled = outcome.pooled
    if fmt == "json":
        print_json({"folder": str(outcome.folder), "mode": outcome.mode, "split": outcome.split.describe(),
                    "seconds": round(outcome.seconds, 2), "epochs_run": outcome.epochs_run,
                    "windows": outcome.windows, "distribution": outcome.distribution or None,
                    "assets": pooled["assets"], "left_out": outcome.left_out,
                    "pooled": {key: value for key, value in pooled.items() if key != "assets"}})
        return
    console = _stdout()
    split = outcome.split.describe()
    what = "one network" if outcome.mode == "global" else "one network per asset"
    table = Table(title=f"{len(pooled['assets'])} assets, {what}; test part from {split['test_from']} "
                        f"(validation from {split['val_from']}) for every series", title_justify="left")
    for name, justify in (("asset", "left"), ("test days", "right"), ("MASE", "right"), ("90% cover", "right"),
                          ("IS/EWMA", "right"), ("IS/GARCH", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    for row in pooled["assets"]:
        name = row["asset"][:22] + ("" if row["seen"] else " *")
        table.add_row(name, str(row["test_days"]), score_cell(row["mase"]), score_cell(row["coverage"], True),
                      score_cell(row["is_vs_ewma"]), score_cell(row["is_vs_garch"]))
    table.add_row("mean", "", score_cell(pooled["mean_mase"]), score_cell(pooled["mean_coverage"], True),
                  score_cell(pooled["mean_is_vs_ewma"]), score_cell(pooled["mean_is_vs_garch"]), style="bold")
    _show(console, table)
    console.print(f"IS: the 90% band's interval score over EWMA's (GARCH's) on the same days; below 1 is sharper. "
                  f"Coverage in 88–92% on {pooled['calibrated']} of {pooled['scored']}."
                  + (" *: not trained on, scored as an asset the network never saw." if any(
                      not row["seen"] for row in pooled["assets"]) else ""))
    for item in outcome.left_out:
        console.print(f"left out: {item['name']}: {item['reason']}")
    if outcome.mode == "global":
        console.print(f"Trained {outcome.epochs_run} epochs on {outcome.windows:,} pooled windows in "
                      f"{outcome.seconds:.1f} s.")
    else:
        console.print(f"Trained {len(pooled['assets'])} networks in {outcome.seconds:.1f} s.")
    console.print(f"Model folder: {outcome.folder}")


def assets_compare_output(outcome: AssetsCompareOutcome, fmt: Literal["table", "json", "csv", "markdown"]) -> None:
    """compare on several series: each asset's headline numbers, then the pooled means."""
    from forecast.runs.compare_assets import asset_cells, markdown

    cells = {name: asset_cells(o) for name, o in outcome.per_asset.items()}
    if fmt == "json":
        print_json({"out": str(outcome.out), "split": outcome.split, "pooled": outcome.pooled,
                    "assets": {name: {**cells[name], "seen": outcome.seen[name],
                                      "evaluation": o.evaluation} for name, o in outcome.per_asset.items()},
                    "left_out": outcome.left_out})
    elif fmt == "csv":
        print_csv(outcome.pooled)
    elif fmt == "markdown":
        sys.stdout.write(markdown(outcome.report))
    else:
        console = _stdout()

        table = Table(title=f"Per asset, test from {outcome.split['test_from']}: MASE and the 90% band's interval "
                            "score over EWMA's", title_justify="left")
        for name in ("asset", "global", "per-asset", "IS global", "IS per-asset", "IS GARCH"):
            table.add_column(name, justify="left" if name == "asset" else "right")
        for name, values in cells.items():
            table.add_row(name[:20] + ("" if outcome.seen[name] else " *"),
                          *(score_cell(values[key]) for key in ("global_mase", "per-asset_mase", "global_is",
                                                               "per-asset_is", "garch_is")))
        _show(console, table)
        pooled = Table(title="Pooled over the assets (means)", title_justify="left")
        for name in ("model", "assets", "MASE", "IS/EWMA", "DM p", "90% cover", "88–92%"):
            pooled.add_column(name, justify="left" if name == "model" else "right")
        for row in outcome.pooled:
            p_value = row.get("pooled_dm_pvalue_vs_ewma")
            pooled.add_row(row["model"], str(row["assets"]), score_cell(row["mean_mase"]),
                           score_cell(row["mean_is_vs_ewma"]), "—" if p_value is None else p_cell(p_value),
                           score_cell(row["mean_coverage"], True),
                           "—" if row["calibrated"] is None else str(row["calibrated"]))
        _show(console, pooled)
        if not all(outcome.seen.values()):
            console.print("*: not trained on, scored as an asset the global network never saw (no per-asset model).")
    notes = Console(stderr=True, soft_wrap=True)  # one line each, in a log file too
    for item in outcome.left_out:
        notes.print(f"left out: {item['name']}: {item['reason']}")
    notes.print(f"Report, plots and model folders: {outcome.out}")


def assets_backtest_output(outcome: AssetsBacktestOutcome, fmt: Literal["table", "json"]) -> None:
    """A walk-forward backtest of a global network: each asset over the folds, and the mean."""
    if fmt == "json":
        print_json({"out": str(outcome.out), "folds": outcome.folds, "overall": outcome.overall})
        return
    console = _stdout()

    origins = ", ".join(fold["origin"] for fold in outcome.folds)
    table = Table(title=f"Walk-forward backtest of one global network, origins {origins}", title_justify="left")
    for name in ("asset", "folds", "MASE", "90% cover", "IS/EWMA", "IS/GARCH"):
        table.add_column(name, justify="left" if name == "asset" else "right")
    for row in outcome.overall:
        table.add_row(row["asset"][:24], str(row["folds"]), score_cell(row["mase"]), score_cell(row["coverage"], True),
                      score_cell(row["is_vs_ewma"]), score_cell(row["is_vs_garch"]),
                      style="bold" if row["asset"] == "mean" else "")
    _show(console, table)
    console.print("Means over the folds each asset was scored in; IS: the 90% band's interval score over EWMA's "
                  "(GARCH's) on the same days.")
    Console(stderr=True, soft_wrap=True).print(f"backtest.json and each fold's model folder: {outcome.out}")
