"""--precision: bfloat16 only where native and measured faster; the verdict cached per machine;
a bfloat16-trained folder forecasts in float32 on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast.cli.app import app
from forecast.nets import precision
from tests.conftest import tiny_train_args

runner = CliRunner()
NATIVE = {"avx512f", "avx512_bf16"}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(precision.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(precision.sys, "platform", "linux")
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    return tmp_path / "cache" / "precision.json"


def test_explicit_choices_are_kept_whatever_the_cpu(cache: Path) -> None:
    assert precision.resolve("bfloat16", flags=set()) == "bfloat16"
    assert precision.resolve("float32", flags=NATIVE) == "float32"
    assert not cache.exists()


def test_auto_without_native_bfloat16_or_with_a_gpu_is_float32_and_measures_nothing(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def measure() -> dict[str, float]:
        raise AssertionError("measured")

    assert precision.resolve("auto", flags={"avx2", "avx512f"}, measure=measure) == "float32"
    assert precision.resolve("auto", gpus=1, flags=NATIVE, measure=measure) == "float32"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert precision.resolve("auto", flags=NATIVE, measure=measure) == "float32"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setattr(precision.platform, "machine", lambda: "arm64")
    assert precision.resolve("auto", flags=NATIVE, measure=measure) == "float32"
    assert not cache.exists()


@pytest.mark.parametrize(("speeds", "verdict"), [
    ({"float32": 1000.0, "bfloat16": 1450.0}, "bfloat16"),
    ({"float32": 1000.0, "bfloat16": 1050.0}, "float32"),  # under MIN_SPEEDUP: not worth the rounding
    ({"float32": 2668.0, "bfloat16": 2045.0}, "float32"),  # this project's Intel Xeon with AVX-512 BF16
])
def test_auto_measures_once_per_machine_and_caches_the_verdict(cache: Path, speeds: dict[str, float],
                                                              verdict: str) -> None:
    calls: list[int] = []

    def measure() -> dict[str, float]:
        calls.append(1)
        return speeds

    assert precision.resolve("auto", flags=NATIVE, measure=measure) == verdict
    assert precision.resolve("auto", flags=NATIVE, measure=measure) == verdict
    assert len(calls) == 1
    stored = json.loads(cache.read_text())
    assert stored["verdict"] == verdict and stored["windows_per_second"] == speeds
    assert stored["key"] == precision.machine_key(NATIVE)


def test_another_machine_s_or_a_damaged_cache_is_measured_again(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    for text in ('{"key": "another CPU", "verdict": "bfloat16"}', "not json", '{"key": 1}', "[]",
                 json.dumps({"key": precision.machine_key(NATIVE), "verdict": "float16"})):
        cache.write_text(text)
        assert precision.cached_verdict(precision.machine_key(NATIVE)) is None
        assert precision.resolve("auto", flags=NATIVE, measure=lambda: {"float32": 1.0, "bfloat16": 2.0}) == "bfloat16"
    cache.unlink()
    cache.mkdir()  # not a regular file: skipped on read, and left alone on write
    assert precision.resolve("auto", flags=NATIVE, measure=lambda: {"float32": 2.0, "bfloat16": 1.0}) == "float32"
    assert cache.is_dir()


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\n\n")
    assert precision.cpu_flags(info) == {"fpu", "avx2", "avx512_bf16", "amx_tile"}
    assert precision.cpu_flags(tmp_path / "missing") == set()


@pytest.mark.slow
def test_a_bfloat16_training_records_it_and_forecasts_in_float32_on_both_engines(price_csv: Path,
                                                                                 tmp_path: Path) -> None:
    out = tmp_path / "bf16"
    result = runner.invoke(app, [*tiny_train_args(price_csv, out), "--precision", "bfloat16"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["training"]["precision"] == "bfloat16" and run["config"]["train"]["precision"] == "bfloat16"
    config = json.loads(__import__("zipfile").ZipFile(out / "model.keras").read("config.json"))
    policies = {layer["config"]["dtype"]["config"]["name"] for layer in config["config"]["layers"][1:]}
    assert policies == {"float32"}  # the saved network is float32
    closes = {}
    for engine in ("numpy", "keras"):
        done = runner.invoke(app, ["predict", str(out), "--format", "json", "--horizon", "3", "--engine", engine])
        assert done.exit_code == 0, done.output
        closes[engine] = [step["close"] for step in json.loads(done.stdout)["forecast"]]
    assert closes["numpy"] == pytest.approx(closes["keras"], rel=1e-6)
    assert len(closes["numpy"]) == 3
