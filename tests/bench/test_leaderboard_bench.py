"""Smoke test: bench/leaderboard.py's pieces run, and a missing data file says what is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench import leaderboard


def test_it_explains_a_missing_data_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "dev.jsonl"
    monkeypatch.setattr(sys, "argv", ["bench/leaderboard.py", "--data", str(missing)])
    with pytest.raises(SystemExit, match="dev.jsonl is missing"):
        leaderboard.main()


def test_synthetic_votes_time_both_fits() -> None:
    rows = leaderboard.synthetic_rows(2000, 5, seed=0)
    assert {r[0] for r in rows} == {"a", "b", "tie", "both_bad"}
    assert all(r[1] != r[2] for r in rows)
    times = leaderboard.time_fit(rows, rounds=200, repeat=1)
    assert set(times) == {"plain", "length control"}
    assert all(len(v) == 1 and v[0] > 0 for v in times.values())
