"""tf.distribute on this 2-core machine: mirrored over two logical CPUs, and two local workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Logical devices must be configured before TensorFlow starts, so each run is its own process.
LAUNCH = """
import sys
import tensorflow as tf
if sys.argv[1] == "two-cpus":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from forecast.cli.app import main
sys.argv = ["forecast", *sys.argv[2:]]
main()
"""
TINY = ["--window", "8", "--units", "4", "--epochs", "2", "--batch-size", "16", "--quiet", "--format", "json"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mirrored_on_two_logical_cpus(price_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "mirrored"
    done = subprocess.run([sys.executable, "-c", LAUNCH, "two-cpus", "train", str(price_csv), *TINY,
                           "--distribute", "mirrored", "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["distribution"] == {"strategy": "mirrored", "replicas": 2, "global_batch_size": 32,
                                       "chief": True}
    predicted = subprocess.run([sys.executable, "-m", "forecast", "predict", str(out), "--format", "json"],
                               capture_output=True, text=True, timeout=120)
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)["forecast"]) == 1


def test_a_global_model_trains_mirrored_on_two_logical_cpus(tmp_path: Path) -> None:
    """Several series train one network under the same strategies: how a global model grows past one machine."""
    from forecast.data.synth import write_synth

    for k, name in enumerate(("aaa", "bbb")):
        write_synth(tmp_path / f"{name}.csv", days=300, seed=k + 1)
    out = tmp_path / "global"
    done = subprocess.run([sys.executable, "-c", LAUNCH, "two-cpus", "train", str(tmp_path / "aaa.csv"),
                           str(tmp_path / "bbb.csv"), *TINY, "--distribute", "mirrored", "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["mode"] == "global" and summary["distribution"]["replicas"] == 2
    predicted = subprocess.run([sys.executable, "-m", "forecast", "predict", str(out), "--asset", "aaa",
                                "--format", "json"], capture_output=True, text=True, timeout=120)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["asset"] == "aaa"


def _two_workers(inputs: list[str], tmp_path: Path) -> list[dict]:  # type: ignore[type-arg]
    """`forecast train INPUTS…` on two local workers of one TF_CONFIG cluster; each one's JSON summary."""
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    try:
        for index in range(2):
            env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                          "task": {"type": "worker", "index": index}})}
            workers.append(subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "plain", "train", *inputs, *TINY,
                 "--distribute", "multi-worker", "--out", str(tmp_path / f"worker{index}")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-2000:]
    return [json.loads(stdout) for stdout, _ in outputs]


def test_multi_worker_on_two_local_processes(price_csv: Path, tmp_path: Path) -> None:
    chief, other = _two_workers([str(price_csv)], tmp_path)
    assert chief["distribution"]["strategy"] == "multi-worker" and chief["distribution"]["replicas"] == 2
    assert chief["distribution"]["chief"] and not other["distribution"]["chief"]
    assert (tmp_path / "worker0" / "model.keras").exists()
    assert not (tmp_path / "worker1").exists()


def test_a_global_model_trains_on_two_local_workers(tmp_path: Path) -> None:
    from forecast.data.synth import write_synth

    files = []
    for k, name in enumerate(("aaa", "bbb")):
        write_synth(tmp_path / f"{name}.csv", days=300, seed=k + 1)
        files.append(str(tmp_path / f"{name}.csv"))
    chief, other = _two_workers(files, tmp_path)
    assert chief["mode"] == "global" and chief["distribution"]["replicas"] == 2
    assert chief["distribution"]["chief"] and not other["distribution"]["chief"]
    assert (tmp_path / "worker0" / "assets" / "bbb" / "run.json").exists()
    assert not (tmp_path / "worker1").exists()  # only the chief writes the folder
