"""Run the README's examples (short trainings) on the bundled data and keep every output, so a
refactor can show that what users see did not change: run it before and after, then diff.

    python benchmarks/readme_outputs.py /tmp/before
    ... change the code ...
    python benchmarks/readme_outputs.py /tmp/after && diff -r /tmp/before /tmp/after

Times, dates of creation and temporary paths are masked; everything else is kept byte for byte.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "btc-synthetic.csv"
SHORT = ["--epochs", "3", "--units", "8,8", "--window", "30"]


def examples(work: Path) -> list[tuple[str, list[str]]]:
    gru, lstm = str(work / "models" / "gru"), str(work / "models" / "lstm")
    return [
        ("inspect", ["data", "inspect", str(DATA)]),
        ("inspect-json", ["data", "inspect", str(DATA), "--format", "json"]),
        ("train-lstm", ["train", str(DATA), "--model", "lstm", *SHORT, "--out", lstm]),
        ("train-gru-json", ["train", str(DATA), "--model", "gru", *SHORT, "--out", gru, "--format", "json"]),
        ("predict", ["predict", lstm, "--horizon", "7", "--interval", "0.9"]),
        ("predict-json", ["predict", lstm, "--horizon", "7", "--interval", "0.9", "--format", "json"]),
        ("predict-keras", ["predict", gru, "--engine", "keras", "--horizon", "3", "--format", "csv"]),
        ("plot", ["plot", lstm, "--last", "120", "--horizon", "7", "--interval", "0.9", "--out",
                  str(work / "lstm.svg")]),
        ("compare", ["compare", str(DATA), "--models", "gru,lstm", "--targets", "price,return", "--seeds", "2",
                     *SHORT, "--out", str(work / "reports" / "compare")]),
        ("compare-from", ["compare", "--from", gru, lstm, "--data", str(DATA), "--format", "markdown", "--out",
                          str(work / "reports" / "from")]),
        ("backtest", ["backtest", str(DATA), "--folds", "2", "--step", "30", *SHORT, "--out",
                      str(work / "reports" / "backtest"), "--format", "json"]),
        ("synth", ["data", "synth", "--out", str(work / "my-synthetic.csv"), "--days", "300", "--seed", "7"]),
        ("error-missing", ["predict", str(work / "nowhere")]),
    ]


def mask(text: str, work: Path) -> str:
    text = _mask_column(text.replace(str(work), "WORK").replace(str(ROOT), "ROOT"), "train s")
    text = re.sub(r'"model_sha256": "[0-9a-f]+"', '"model_sha256": X', text)  # the archive records its save time
    text = re.sub(r"\b\d+:\d\d:\d\d\b", "H:MM:SS", text)  # progress-bar clocks
    text = re.sub(r"(in|took) [\d.]+ ?s\b", r"\1 N s", text)
    text = re.sub(r'"(seconds|train_seconds|created|date_saved|wall_seconds)": [^,\n]+', r'"\1": X', text)
    return re.sub(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\s\"]*", "TIMESTAMP", text)


def _mask_column(text: str, title: str) -> str:
    """Blank one column of rich or Markdown tables (the header names it)."""
    lines, column = text.splitlines(keepends=True), None
    for i, line in enumerate(lines):
        cells = re.split(r"[┃│|]", line)
        if any(cell.strip() == title for cell in cells):
            column = next(k for k, cell in enumerate(cells) if cell.strip() == title)
        elif column is not None and len(cells) > column + 1 and not set(cells[column].strip()) <= set("-━─"):
            cells[column] = "X"
            separators = re.findall(r"[┃│|]", line)
            lines[i] = "".join(c + (separators[k] if k < len(separators) else "") for k, c in enumerate(cells))
    return "".join(lines)


def main() -> None:
    out = Path(sys.argv[1])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="readme-"))
    for name, args in examples(work):
        done = subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True, text=True,
                              cwd=ROOT, check=False)
        (out / f"{name}.txt").write_text(f"exit {done.returncode}\n--- stdout\n{mask(done.stdout, work)}"
                                         f"--- stderr\n{mask(done.stderr, work)}")
        print(f"{name}: exit {done.returncode}", flush=True)
    for path in sorted(work.rglob("*.json")) + sorted(work.rglob("*.csv")) + sorted(work.rglob("*.md")):
        relative = str(path.relative_to(work)).replace("/", "__")
        text = path.read_text()
        if path.name == "run.json":
            run = json.loads(text)
            run.get("training", {}).pop("seconds", None)
            run.pop("created", None)
            text = json.dumps(run, indent=2)
        (out / f"file__{relative}").write_text(mask(text, work))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
