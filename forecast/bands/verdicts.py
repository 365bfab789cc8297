"""The words every report uses for a model against its baselines, and the verdict a model folder
carries to every forecast made from it (predict, plot).

Nothing heavy is imported here: `predict` reads a verdict without scipy or scikit-learn.
"""

from __future__ import annotations

import math
from typing import Any

SIGNIFICANCE = 0.05
# The baseline bands as people read them (forecast.bands.baselines has their methods).
NAMES = {"empirical": "empirical", "ewma": "EWMA", "garch": "GARCH", "gjr-garch": "GJR-GARCH", "qr-har": "QR-HAR"}
COVERAGE_TOLERANCE = 0.03  # a 90% band covering outside 87–93% is miscalibrated
# Without a p-value (a folder trained before the test was made) "sharper" needs a 1% margin on the score.
BAND_MARGIN = 0.01


def verdict(mase: float, dm_pvalue: float | None, copies_yesterday: bool) -> str:
    """The one label every report uses for a forecast against persistence.

    Significantly worse than persistence is said first (even when the forecasts also sit near
    yesterday's close); then "copies yesterday"; otherwise the side of 1 the MASE falls on,
    qualified by whether the Diebold–Mariano test calls the difference significant (p < 0.05).
    """
    significant = dm_pvalue is not None and dm_pvalue < SIGNIFICANCE
    if significant and mase > 1:
        return "worse than persistence"
    if copies_yesterday:
        return "copies yesterday"
    if mase < 1:
        return "beats persistence" if significant else "beats persistence (not significant)"
    return "no better than persistence"


def _against(name: str, ratio: float, p_value: float | None) -> str:
    """Sharper than / level with / wider than a reference band: by the Diebold–Mariano test when
    there is a p-value, else (an older folder) by a margin of BAND_MARGIN on the score."""
    if p_value is not None:
        if p_value >= SIGNIFICANCE:
            return f"level with {name}"
        return f"sharper than {name}" if ratio < 1 else f"wider than {name}"
    if ratio < 1 - BAND_MARGIN:
        return f"sharper than {name}"
    return f"level with {name}" if ratio <= 1 + BAND_MARGIN else f"wider than {name}"


def band_verdict(coverage: float, level: float, vs_ewma: float | None, is_ewma: bool = False,
                 p_ewma: float | None = None, bar: tuple[str, float | None, float | None] | None = None,
                 is_bar: bool | None = None) -> str:
    """Miscalibrated when coverage is more than 3 points from nominal; else sharper than EWMA's
    band, level with it or wider — "sharper" and "wider" only when the Diebold–Mariano test of
    the daily interval scores says so at 5% (`p_ewma`); and, given the `bar` (name, ratio, p) —
    the best baseline on the days before, when it is not EWMA — the same against it. `is_bar` marks the bar's own row
    (by default EWMA's)."""
    if abs(coverage - level) > COVERAGE_TOLERANCE:
        return "miscalibrated"
    if is_ewma if is_bar is None else is_bar:
        return "the bar to clear"
    if is_ewma:
        return "the reference"
    if vs_ewma is None:
        return "no EWMA band to compare with"
    words = _against("EWMA", vs_ewma, p_ewma)
    if bar is not None and bar[1] is not None:
        words += "; " + _against(bar[0], bar[1], bar[2])
    return words


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) and math.isfinite(value) else None


def model_verdict(metrics: Any) -> dict[str, Any] | None:
    """The model's verdict on its unseen test days, from run.json's metrics (None when the folder
    does not hold one): MASE against persistence, the DM p-value, the label, and the one-day band's."""
    test = metrics.get("test") if isinstance(metrics, dict) else None
    if not isinstance(test, dict):
        return None
    mase, p_value, days = _number(test.get("mae_ratio")), _number(test.get("dm_pvalue")), test.get("days")
    copies = test.get("copies_yesterday")
    if mase is None or type(copies) is not bool or type(days) is not int:
        return None
    out: dict[str, Any] = {"test_days": days, "mase": mase, "dm_pvalue": p_value, "copies_yesterday": copies,
                           "label": verdict(mase, p_value, copies), "band": None}
    bands = metrics.get("test_bands")
    rows = bands.get("rows") if isinstance(bands, dict) else None
    level = _number(bands.get("level")) if isinstance(bands, dict) else None
    model = next((row for row in rows if isinstance(row, dict) and row.get("method") == "model"), None) \
        if isinstance(rows, list) else None
    if model is not None and level is not None:
        coverage = model.get("coverage")
        covered = _number(coverage.get(f"{level:g}")) if isinstance(coverage, dict) else None
        vs_ewma, p_ewma = _number(model.get("interval_score_vs_ewma")), _number(model.get("dm_pvalue_vs_ewma"))
        bar = bands.get("bar")
        bar = bar if isinstance(bar, str) and bar in NAMES and bar != "ewma" else None
        vs_bar, p_bar = _number(model.get("interval_score_vs_bar")), _number(model.get("dm_pvalue_vs_bar"))
        if covered is not None:
            out["band"] = {"level": level, "coverage": covered, "interval_score_vs_ewma": vs_ewma,
                           "dm_pvalue_vs_ewma": p_ewma, "bar": bar, "interval_score_vs_bar": vs_bar,
                           "dm_pvalue_vs_bar": p_bar,
                           "label": band_verdict(covered, level, vs_ewma, p_ewma=p_ewma,
                                                 bar=(NAMES[bar], vs_bar, p_bar) if bar else None)}
    return out


def verdict_line(found: dict[str, Any] | None, new_asset: bool = False) -> str:
    """One line for stderr: how the model did on days it never saw, so no forecast travels without it."""
    if found is None and new_asset:
        return ("Verdict: none for this asset — the global model never saw it, so it has no test score here (see the "
                "note, and `forecast train`'s per-asset table).")
    if found is None:
        return "Verdict: this model folder holds no test scores; retrain it to see how it does on unseen days."
    p_value = found["dm_pvalue"]
    text = (f"Verdict on {found['test_days']} unseen test days: MAE {found['mase']:.3f}× persistence's"
            + (f" (DM p {p_words(p_value)})" if p_value is not None else "") + f" — {found['label'].upper()}")
    band = found["band"]
    if band is not None:
        text += f"; {band['level']:.0%} band covered {band['coverage']:.1%}"
        if band["interval_score_vs_ewma"] is not None:
            text += f", interval score {band['interval_score_vs_ewma']:.3f}× EWMA's"
            if band.get("dm_pvalue_vs_ewma") is not None:
                text += f" (DM p {p_words(band['dm_pvalue_vs_ewma'])})"
        if band.get("bar") and band.get("interval_score_vs_bar") is not None:
            text += f", {band['interval_score_vs_bar']:.3f}× {NAMES[band['bar']]}'s"
            if band.get("dm_pvalue_vs_bar") is not None:
                text += f" (p {p_words(band['dm_pvalue_vs_bar'])})"
        text += f" — {band['label'].upper()}"
    return text + "."


def p_words(value: float) -> str:
    """A p-value in a sentence: "= 0.041", "< 0.001"."""
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"
