"""Model folders: atomic replacement, --force, and clear errors for broken folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from forecast import files as artifacts
from forecast.errors import ArtifactError
from forecast.files import staged_folder, write_json
from forecast.store.artifacts import FORMAT_VERSION, read_run


def test_staged_folder_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "m"
    with staged_folder(target, force=False) as staging:
        (staging / "a.txt").write_text("new")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def _model_folder(path: Path, marker: str = "old") -> Path:
    """A folder shaped like one `forecast train` writes (run.json is the marker)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "run.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "marker": marker}))
    (path / "model.keras").write_text(marker)
    return path


def test_interrupted_write_keeps_the_previous_folder(tmp_path: Path) -> None:
    target = _model_folder(tmp_path / "m")
    with pytest.raises(KeyboardInterrupt), staged_folder(target, force=True) as staging:
        (staging / "model.keras").write_text("half")
        raise KeyboardInterrupt
    assert (target / "model.keras").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_force_replaces_a_model_folder_and_no_force_refuses(tmp_path: Path) -> None:
    target = _model_folder(tmp_path / "m")
    with pytest.raises(ArtifactError, match="already holds a model; pass --force"), staged_folder(target, force=False):
        pass
    with staged_folder(target, force=True) as staging:
        (staging / "b.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize("extra", [["data.csv", "notes.md"], ["precious.txt", "sub/"], ["run.json", "notes.md"]])
@pytest.mark.parametrize("force", [False, True])
def test_a_folder_with_files_forecast_did_not_write_is_never_replaced(tmp_path: Path, extra: list[str],
                                                                     force: bool) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    for name in extra:
        if name.endswith("/"):
            (target / name).mkdir()
            (target / name / "inner.txt").write_text("keep")
        else:
            (target / name).write_text(f"user's {name}")
    before = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    with pytest.raises(ArtifactError, match="did not write") as caught, staged_folder(target, force=force):
        pass
    assert "already holds" not in str(caught.value)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]


def test_an_empty_folder_is_used_without_force(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with staged_folder(tmp_path / "m", force=False) as staging:
        (staging / "run.json").write_text("{}")
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["run.json"]


def test_leftover_staging_from_a_killed_run_is_cleared(tmp_path: Path) -> None:
    (tmp_path / ".m.partial-dead").mkdir()
    with staged_folder(tmp_path / "m", force=False):
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_a_second_run_into_the_same_target_fails_and_spares_the_first(tmp_path: Path) -> None:
    target = tmp_path / "m"
    with staged_folder(target, force=True) as first:
        (first / "model.keras").write_text("first")
        with pytest.raises(ArtifactError, match=r"another run \(process \d+\) is writing"), \
                staged_folder(target, force=True):
            pass
        assert (first / "model.keras").read_text() == "first"  # its staging folder survived
    assert (target / "model.keras").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # lock file removed


def test_failure_between_the_two_renames_restores_the_target(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = _model_folder(tmp_path / "m")

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts, "_between_renames", interrupted)
    with pytest.raises(KeyboardInterrupt), staged_folder(target, force=True) as staging:
        (staging / "model.keras").write_text("new")
    assert (target / "model.keras").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


_KILLED_SWAP = """
import os, signal, sys
from pathlib import Path
from forecast import files as artifacts
artifacts._between_renames = lambda: os.kill(os.getpid(), signal.SIGKILL)
with artifacts.staged_folder(Path(sys.argv[1]), force=True) as staging:
    (staging / "model.keras").write_text("new")
"""


@pytest.mark.slow
def test_a_kill_between_the_two_renames_is_recovered_on_the_next_read_or_run(tmp_path: Path) -> None:
    target = _model_folder(tmp_path / "m")
    killed = subprocess.run([sys.executable, "-c", _KILLED_SWAP, str(target)], check=False)
    assert killed.returncode == -signal.SIGKILL
    assert not target.exists()
    assert any(p.name.startswith(".m.old-") for p in tmp_path.iterdir())
    with pytest.raises(ArtifactError, match="malformed field"):  # the next read restores it (a stub run.json)
        read_run(target)
    assert (target / "model.keras").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    killed = subprocess.run([sys.executable, "-c", _KILLED_SWAP, str(target)], check=False)
    assert killed.returncode == -signal.SIGKILL and not target.exists()
    with staged_folder(target, force=True) as staging:  # so does the next run, before replacing it
        (staging / "model.keras").write_text("third")
    assert (target / "model.keras").read_text() == "third"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("file", "is a file"),
        ("empty", "has no run.json"),
        ("garbage", "not valid JSON"),
        ("version", "format_version 99"),
        ("fields", "missing or has a malformed field"),
    ],
)
def test_broken_folders_raise_artifact_error(tmp_path: Path, setup: str, message: str) -> None:
    folder = tmp_path / "m"
    if setup == "file":
        folder.write_text("x")
    elif setup != "missing":
        folder.mkdir()
    if setup == "garbage":
        (folder / "run.json").write_text("{not json")
    if setup == "version":
        write_json(folder / "run.json", {"format_version": 99})
    if setup == "fields":
        write_json(folder / "run.json", {"format_version": FORMAT_VERSION, "config": {}})
    with pytest.raises(ArtifactError, match=message):
        read_run(folder)


def test_write_json_is_plain_json(tmp_path: Path) -> None:
    write_json(tmp_path / "x.json", {"a": [1, 2.5]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": [1, 2.5]}
    assert not list(tmp_path.glob(".*"))


def test_the_lock_works_where_there_is_no_fcntl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no fcntl: the lock goes through the filelock package, with the same behaviour."""
    import forecast.files as artifacts

    monkeypatch.setattr(artifacts, "_fcntl", None)
    target = tmp_path / "m"
    with staged_folder(target, force=True) as first:
        (first / "model.keras").write_text("first")
        assert (tmp_path / ".m.lock.pid").read_text() == str(os.getpid())
        with pytest.raises(ArtifactError, match=rf"another run \(process {os.getpid()}\) is writing"), \
                staged_folder(target, force=True):
            pass
        assert (first / "model.keras").read_text() == "first"
    assert (target / "model.keras").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # lock and pid files removed
    with artifacts.target_lock(target):  # and it can be taken again
        assert (tmp_path / ".m.lock").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_importing_artifacts_needs_no_fcntl(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['fcntl'] = None\nimport forecast.files as a, forecast.runs.pipeline\n"
            "assert a._fcntl is None\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
