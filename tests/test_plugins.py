"""A band method, a network kind and an input channel are each one class and one registry line.

The plug-in below lives only in this test. Loaded before the CLI (as a real plug-in would be),
it trains, predicts on both engines, compares and round-trips a model folder, with no other
module of forecast touched.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from forecast.data.synth import write_synth

PLUGIN = textwrap.dedent('''
    import numpy as np

    from forecast.bands import methods
    from forecast.inputs import channels
    from forecast.nets import kinds


    class ConstantWidth(methods.BandMethod):
        """A band of constant width in prices: split conformal on the absolute errors."""

        name = "constant-width"
        summary = "a band of constant width"

        def sigma(self, model, prices, first, end, point, sampler=None, stride=1):
            return np.ones_like(point)


    class CloseLag(channels.Channel):
        """Yesterday's log-return, one day late."""

        name, words = "close-lag", "yesterday's log-return"

        def raw(self, columns):
            out = np.full(columns.days, np.nan)
            out[2:] = np.diff(np.log(columns("close")))[:-1]
            return out


    def simple_rnn(x, kernel, recurrent, bias, return_sequences):
        h = np.zeros((len(x), recurrent.shape[0]), dtype="float32")
        sequence = []
        for t in range(x.shape[1]):
            h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
            sequence.append(h)
        return np.stack(sequence, axis=1) if return_sequences else h


    methods.register(ConstantWidth())
    channels.register(CloseLag())
    kinds.register(kinds.NetworkKind("simple-rnn", "SimpleRNN", gates=1, cell=simple_rnn,
                                     recurrent_activation=None, summary="a plain tanh recurrence"))
''')


def _forecast(plugin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import plugin\n"
            "from forecast.cli.app import main\nsys.argv[0] = 'forecast'; main()")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-c", code, str(plugin_dir), *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_a_plugged_in_method_kind_and_channel_train_predict_compare_and_round_trip(tmp_path: Path) -> None:
    (tmp_path / "plugin.py").write_text(PLUGIN)
    data = tmp_path / "prices.csv"
    write_synth(data, days=600, seed=3)  # a 60-day validation part: enough calibration origins for a 90% band
    folder = tmp_path / "model"
    _forecast(tmp_path, "train", str(data), "--model", "simple-rnn", "--features", "close-lag", "--interval-method",
              "constant-width", "--units", "6", "--epochs", "2", "--window", "12", "--out", str(folder), "--quiet")

    run = json.loads((folder / "run.json").read_text())
    assert run["config"]["model"]["kind"] == "simple-rnn"
    assert run["config"]["model"]["interval_method"] == "constant-width"
    assert run["features"]["channels"] == ["close-lag"]
    calibration = json.loads((folder / "calibration.json").read_text())
    assert calibration["method"] == "constant-width" and calibration["samples"] == 0

    answers = {}
    for engine in ("numpy", "keras"):
        done = _forecast(tmp_path, "predict", str(folder), "--engine", engine, "--interval", "0.9", "--horizon", "3",
                         "--format", "json")
        answers[engine] = json.loads(done.stdout)
    numpy_rows, keras_rows = answers["numpy"]["forecast"], answers["keras"]["forecast"]
    assert answers["numpy"]["engine"] == "numpy" and answers["keras"]["engine"] == "keras"  # the kind runs on both
    assert len(numpy_rows) == 3
    for ours, theirs in zip(numpy_rows, keras_rows, strict=True):
        assert ours["close"] == pytest.approx(theirs["close"], rel=1e-5)
        assert ours["lower"] == pytest.approx(theirs["lower"], rel=1e-5)

    # σ ≡ 1 price unit: the band's half-width is the conformal quantile of the step's absolute errors
    # (online calibration adds the test days' errors to the validation ones, so compare with its range).
    first = numpy_rows[0]
    half = first["upper"] - first["close"]
    assert half == pytest.approx(first["close"] - first["lower"], rel=1e-6)
    scores = np.sort(np.asarray(calibration["scores"][0]))
    validation_only = scores[math.ceil((len(scores) + 1) * 0.9) - 1]
    assert half > 0 and 0.2 * validation_only < half < 5 * validation_only

    done = _forecast(tmp_path, "compare", "--from", str(folder), "--out", str(tmp_path / "cmp"), "--format", "json")
    report = json.loads(done.stdout)
    models = [row for row in report["rows"] if row["kind"] == "model"]
    assert [row["model"] for row in models] == ["model"] and models[0]["mase"] > 0
    bands = {row["method"]: row for row in report["bands"]["rows"]}
    assert {"model", "ewma"} <= set(bands) and 0.5 < bands["model"]["coverage"]["0.9"] <= 1
