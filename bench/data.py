"""Where the benchmarks find the evaluation data: `../shared/data` beside the repository.

The data is not part of the repository (the tests use the demo slice instead); a benchmark
that needs it stops with a message saying where it looked and what to pass instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def set_file(name: str) -> Path:
    """`../shared/data/NAME/dev.jsonl`, or exit with a clear message when it is missing."""
    path = SHARED_DATA / name / "dev.jsonl"
    if not path.is_file():
        sys.exit(
            f"{path} not found: this benchmark reads the evaluation sets from ../shared/data "
            "beside the repository (one NAME/dev.jsonl per set, in the pairs format)."
        )
    return path


def all_sets() -> list[str]:
    """Names of the sets under `../shared/data`, or exit with a clear message when none."""
    names = sorted(p.parent.name for p in SHARED_DATA.glob("*/dev.jsonl"))
    if not names:
        sys.exit(
            f"no evaluation sets under {SHARED_DATA}: place NAME/dev.jsonl files there, or pass "
            "the data file(s) where the benchmark accepts them (e.g. --data FILE.jsonl)."
        )
    return names
