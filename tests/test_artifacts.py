"""Model folders: atomic replacement, --force, and clear errors for broken folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forecast.artifacts import FORMAT_VERSION, read_run, staged_folder, write_json
from forecast.errors import ArtifactError


def test_staged_folder_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "m"
    with staged_folder(target, force=False) as staging:
        (staging / "a.txt").write_text("new")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_interrupted_write_keeps_the_previous_folder(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "a.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), staged_folder(target, force=True) as staging:
        (staging / "a.txt").write_text("half")
        raise KeyboardInterrupt
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_force_replaces_and_no_force_refuses(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "a.txt").write_text("old")
    with pytest.raises(ArtifactError, match="--force"), staged_folder(target, force=False):
        pass
    with staged_folder(target, force=True) as staging:
        (staging / "b.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_leftover_staging_from_a_killed_run_is_cleared(tmp_path: Path) -> None:
    (tmp_path / ".m.partial-dead").mkdir()
    with staged_folder(tmp_path / "m", force=False):
        pass
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
