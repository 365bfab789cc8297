"""The comparison as Markdown (compare's report.md and `--format markdown`), and the table cells
the terminal tables (forecast.cli.tables) share with it. Text only: no computation, no drawing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BAND_COLUMNS = (("rank", "#"), ("method", "band"), ("coverage", "coverage"), ("width_pct", "width % of close"),
                ("interval_score", "interval score"), ("interval_score_vs_ewma", "vs EWMA"),
                ("dm_pvalue_vs_ewma", "DM p"), ("interval_score_vs_bar", "vs bar"), ("dm_pvalue_vs_bar", "DM p"),
                ("pinball", "pinball"), ("verdict", "verdict"))


def band_cell(row: dict[str, Any], key: str, level: float) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    if key == "coverage":
        return f"{value[f'{level:g}']:.1%}"
    if isinstance(value, str):
        return value
    if key.startswith("dm_pvalue"):
        return p_cell(value)
    return format(value, {"rank": "d", "width_pct": ".2f", "interval_score_vs_ewma": ".3f",
                          "interval_score_vs_bar": ".3f"}.get(key, ",.2f"))


def p_cell(value: float) -> str:
    """A p-value in a table cell: three decimals, "<.001" below that."""
    return "<.001" if value < 0.001 else f"{value:.3f}"


def steps_cells(tables: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[str]]]:
    """Per-step band scores as cells: the column titles, and for each method (in step 1's
    ranking) "IS vs EWMA (coverage)" per step."""
    level = tables[0]["level"]
    methods = [row["method"] for row in tables[0]["rows"]]
    cells: dict[str, list[str]] = {method: [] for method in methods}
    for table in tables:
        rows = {row["method"]: row for row in table["rows"]}
        for method in methods:
            row = rows.get(method)
            cells[method].append("–" if row is None else
                                 f"{band_cell(row, 'interval_score_vs_ewma', level)} "
                                 f"({band_cell(row, 'coverage', level)})")
    return [f"day {table['step']}" for table in tables], cells


def _band_markdown(bands: dict[str, Any]) -> list[str]:
    level = bands["level"]
    lines = [f"## {level:.0%} bands one day ahead", "",
             "| " + " | ".join(title for _, title in BAND_COLUMNS) + " |",
             "|" + "|".join(" --- " for _ in BAND_COLUMNS) + "|"]
    lines += ["| " + " | ".join(band_cell(row, key, level) for key, _ in BAND_COLUMNS) + " |"
              for row in bands["rows"]]
    lines += ["", "Interval score: the band's width plus 2/α times how far each actual close fell outside "
              f"(α = {1 - level:.2f}), averaged; a band must be narrow *and* cover to score well. Pinball: the "
              "mean quantile loss over levels 0.05…0.95. Baselines, refitted on days before each origin only: "
              "`empirical` (quantiles of the past 365 daily log-returns), `ewma` (RiskMetrics, λ = 0.94, "
              "Gaussian), `garch` and `gjr-garch` (GARCH(1,1) and GJR-GARCH(1,1,1) with Student-t innovations, "
              "refitted every 30 days on all days or the last 1,500, whichever scored better before), `qr-har` "
              "(a quantile regression of the next absolute return on recent ones, the EWMA σ and the daily "
              "range, refitted every 30 days). The bar is the baseline that scored best on the days before "
              "these. DM p: the Diebold–Mariano test of the daily interval scores (Newey–West); \"sharper\" "
              "and \"wider\" need p < 0.05. \"miscalibrated\": coverage more than 3 points from nominal.", ""]
    lines += [f"Note: {note}" for note in bands.get("notes", [])]
    return lines

TABLE_COLUMNS = (("rank", "#"), ("model", "model"), ("mae", "MAE"), ("rmse", "RMSE"), ("mape", "MAPE %"),
                 ("mase", "MASE"), ("directional_accuracy", "direction"), ("dm_pvalue", "DM p"),
                 ("parameters", "params"), ("train_seconds", "train s"), ("epochs_run", "epochs"),
                 ("verdict", "verdict"))


def score_cell(value: float | None, pct: bool = False) -> str:
    """A ratio (MASE, interval score over EWMA's) to three decimals, or a share as a percentage; — when absent."""
    return "—" if value is None else (f"{100 * value:.1f}%" if pct else f"{value:.3f}")


def format_cell(row: dict[str, Any], key: str) -> str:
    """One table cell as text: `mean ± sd` when several seeds ran."""
    value, spread = row.get(key), row.get(f"{key}_std")
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    spec = {"mase": ".3f", "mape": ".2f", "dm_pvalue": ".3f", "directional_accuracy": ".1%",
            "train_seconds": ".1f", "epochs_run": ".0f", "parameters": ",.0f", "rank": "d"}.get(key, ",.2f")
    text = format(value, spec)
    return f"{text} ± {format(spread, spec)}" if spread is not None else text


def markdown_report(report: dict[str, Any]) -> str:
    """The comparison as a Markdown document (also what `--format markdown` prints)."""
    evaluation, data = report["evaluation"], report["data"]
    lines = [
        "# Model comparison", "",
        f"Data: `{Path(data['path']).name}` ({data['layout']}, {data['rows']} days, "
        f"{data['first_date']} → {data['last_date']}). Evaluated one step ahead on "
        f"{evaluation['days']} days never used for training or early stopping: "
        f"{evaluation['first']} → {evaluation['last']}.", "",
        "| " + " | ".join(title for _, title in TABLE_COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in TABLE_COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(format_cell(row, key) for key, _ in TABLE_COLUMNS) + " |" for row in report["rows"]]
    failed = report["setup"].get("failed") or []
    if failed:
        lines += ["", "**Did not finish** (left out of the table): " + "; ".join(
            f"{f['model']} — {f['reason']}" for f in failed) + "."]
    lines += [
        "", "MASE is MAE divided by persistence's MAE on the same days (below 1 beats "
        "\"tomorrow = today\"). DM p is the two-sided Diebold–Mariano p-value against persistence "
        "(absolute-error loss). \"copies yesterday\": the forecast lines up better with the previous "
        "close than with the actual one, or cannot be told apart from persistence (DM p ≥ 0.05) "
        "without beating it.", "",
        "Plots: `overlay.png`, `overlay_last90.png`, `loss_curves.png`, `error_distribution.png`, "
        "`rolling_mae.png`, `calibration.png` (nominal against observed coverage of every band), `bands.png` "
        "(each 90% band over the last 180 evaluated days).", "",
    ]
    if report.get("bands") and report["bands"]["rows"]:
        lines += [*_band_markdown(report["bands"]), ""]
    if report.get("bands_by_step"):
        titles, cells = steps_cells(report["bands_by_step"])
        lines += [f"## {report['bands_by_step'][0]['level']:.0%} bands by horizon step", "",
                  "Interval score relative to EWMA's band for the same day (coverage in brackets); the "
                  "baselines scale with the horizon (empirical and EWMA by √h, GARCH by its h-day variance).", "",
                  "| band | " + " | ".join(titles) + " |",
                  "|" + "|".join(" --- " for _ in range(len(titles) + 1)) + "|"]
        lines += ["| " + method + " | " + " | ".join(row) + " |" for method, row in cells.items()]
        lines.append("")
    stepped = [row for row in report["rows"] if row.get("by_step")]
    if stepped:
        steps = len(stepped[0]["by_step"])
        lines += [f"## MASE by horizon step (against persistence from the same origin; {steps} steps)", "",
                  "| model | " + " | ".join(f"day {h}" for h in range(1, steps + 1)) + " |",
                  "|" + "|".join(" --- " for _ in range(steps + 1)) + "|"]
        lines += ["| " + row["model"] + " | " + " | ".join(f"{s['mase']:.3f}" for s in row["by_step"]) + " |"
                  for row in stepped]
        lines.append("")
    return "\n".join(lines)
