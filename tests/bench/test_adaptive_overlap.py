"""bench/adaptive_overlap.py replays the demo's three annotators through the real queue."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.adaptive_overlap import independent_alpha

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "annotate" / "demo" / "pandalm-labelled.jsonl"


def test_its_independent_alpha_matches_krippendorffs_example() -> None:
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[v for v in unit if v is not None] for unit in zip(*observers, strict=True)]
    assert independent_alpha(units) == pytest.approx(0.743, abs=0.0005)


@pytest.mark.slow
def test_it_saves_votes_and_keeps_the_majority_on_the_demo_data(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bench.sqlite3",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "bench/adaptive_overlap.py", "--data", str(DEMO)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    table = result.stdout
    saved = _number(r"\| votes saved against always 3 \| ([\d.]+)%", table)
    match = _number(r"\| final label = 3-vote majority \| ([\d.]+)%", table)
    difference = _number(r"\| difference \| ([\d.]+)", table)
    assert saved >= 25 and match == 100.0 and difference < 0.005, table


def _number(pattern: str, table: str) -> float:
    """The number that `pattern`'s group captures in the printed table."""
    found = re.search(pattern, table)
    assert found is not None, table
    return float(found.group(1))
