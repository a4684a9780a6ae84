"""Benchmarks that need ../shared/data say so clearly when it is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import data


def test_it_names_the_missing_data_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given no evaluation data beside the repository
    monkeypatch.setattr(data, "SHARED_DATA", tmp_path / "shared" / "data")
    # when a benchmark asks for a set, or for all of them
    with pytest.raises(SystemExit) as one:
        data.set_file("pandalm")
    with pytest.raises(SystemExit) as every:
        data.all_sets()
    # then it stops with a message saying where it looked
    assert "shared/data/pandalm/dev.jsonl not found" in str(one.value)
    assert "no evaluation sets under" in str(every.value)


def test_it_lists_the_sets_that_are_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("b_set", "a_set"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dev.jsonl").write_text("{}\n")
    monkeypatch.setattr(data, "SHARED_DATA", tmp_path)
    assert data.all_sets() == ["a_set", "b_set"]
    assert data.set_file("a_set") == tmp_path / "a_set" / "dev.jsonl"
