"""Stored statistics in tests without a worker: run what a worker and beat would run, here."""

from __future__ import annotations

from typing import Any

from annotate.models import StatisticsSnapshot
from annotate.statistics import compute_snapshot, refresh_snapshots


def compute_requested() -> int:
    """Run beat's look, then compute every requested statistic with the task's body (the
    tests' transaction never commits, so no task is sent); how many were computed."""
    refresh_snapshots(debounce_seconds=0)
    ids = list(
        StatisticsSnapshot.objects.filter(requested_at__isnull=False).values_list("pk", flat=True)
    )
    for pk in ids:
        compute_snapshot(pk)
    return len(ids)


def fetched(client: Any, url: str, **kwargs: Any) -> Any:
    """GET a stored statistic (API, page or CSV) as it is once beat and the worker caught up:
    GET it (a miss queues it), run what they would run, and GET it again if anything changed."""
    response = client.get(url, **kwargs)
    if compute_requested():
        response = client.get(url, **kwargs)
    return response


def store_statistics(project: Any) -> None:
    """Compute every stored statistic of the project now, as a worker would."""
    from annotate.statistics import LEADERBOARD, QUALITY, serve

    serve(project, LEADERBOARD, {"length_control": False})
    serve(project, LEADERBOARD, {"length_control": True})
    serve(project, QUALITY)
    serve(project, "random_slice")
    for pk in StatisticsSnapshot.objects.filter(project=project).values_list("pk", flat=True):
        compute_snapshot(pk)
