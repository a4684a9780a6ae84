"""Smoke test: bench/statistics_latency.py measures computing and serving at a small scale."""

from __future__ import annotations

import pytest

from bench import statistics_latency

pytestmark = pytest.mark.django_db


def test_it_times_computing_and_serving_both_statistics() -> None:
    result = statistics_latency.measure(votes=300, models=3, repeat=1, keep=False)
    for name in ("leaderboard", "quality"):
        assert result[f"{name}_computed_cpu_ms"] > 0
        for where in ("api", "page"):
            assert result[f"{name}_{where}_served_wall_ms"] > 0
            assert 0 < result[f"{name}_{where}_served_statements"] <= 8
