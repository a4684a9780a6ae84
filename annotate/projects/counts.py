"""A project's counts (prompts, pairs by status, judgements, annotators, models with votes).

Counting a million pairs takes seconds, so on a large project the project list, the project page
and the projects API read the counts a worker stored (the `counts` statistic,
annotate/statistics.py): one indexed read per page. Until the first count is in they say
"counting…" rather than wait. Beat recounts when the votes, the newest pair or the annotators
change; imports and overlap changes ask for a recount at once. A small project (its pair ids
span fewer than COUNT_NOW_BELOW, two index probes) is counted as it is asked for: exact, now,
and a few milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.leaderboard.board import models_with_votes
from annotate.models import (
    Judgement,
    Pair,
    PairStatus,
    Project,
    ResponseSource,
    Role,
    StatisticsSnapshot,
)
from annotate.statistics import Freshness, Served, StatisticStatus, refresh_kind, serve

PROJECT_COUNTS = "counts"
# The counts every reader is given, in this order; None while the first count is running.
COUNT_NAMES = (
    "prompts",
    "pairs",
    "pending",
    "complete",
    "judgements",
    "human_judgements",
    "annotators",
    "models_with_votes",
)
# A project whose pair ids span fewer than this is counted when asked (tens of milliseconds);
# a larger one is served its stored counts.
COUNT_NOW_BELOW = 20_000
# What the project list shows of each project.
LIST_NAMES = ("pairs", "pending", "judgements")


def pair_status_counts(project: Project) -> dict[str, int]:
    """Pending and complete pairs, in one query."""
    return Pair.objects.filter(project=project).aggregate(
        pending=Count("id", filter=Q(status=PairStatus.PENDING)),
        complete=Count("id", filter=Q(status=PairStatus.COMPLETE)),
    )


def project_counts(project: Project) -> dict[str, int]:
    """Every count, exactly, now: seconds on a large project, so a worker's job."""
    pairs = pair_status_counts(project)
    judgements = (
        Judgement.objects.valid()
        .filter(pair__project=project)
        .aggregate(total=Count("id"), human=Count("id", filter=Q(source=Judgement.Source.HUMAN)))
    )
    return {
        "prompts": project.prompts.count(),
        "pairs": pairs["pending"] + pairs["complete"],
        "pending": pairs["pending"],
        "complete": pairs["complete"],
        "judgements": judgements["total"],
        "human_judgements": judgements["human"],
        "annotators": project.memberships.filter(role=Role.ANNOTATOR).count(),
        "models_with_votes": models_with_votes(project),
    }


# Source models the pairs page suggests in its filter, at most.
MODEL_NAMES_SHOWN = 200


def compute_counts(project: Project, options: dict[str, str]) -> dict[str, Any]:
    """The statistic's compute function (registered in AnnotateConfig.ready): the counts, and
    the source models the pairs page suggests (a scan of every response source)."""
    return {**project_counts(project), "model_names": source_models(project)}


def source_models(project: Project) -> list[str]:
    """The responses' source models in this project, by name (the first MODEL_NAMES_SHOWN)."""
    names = (
        ResponseSource.objects.filter(response__prompt__project=project)
        .values_list("model_name", flat=True)
        .distinct()
        .order_by("model_name")
    )
    return list(names[:MODEL_NAMES_SHOWN])


def current_source_models(project: Project) -> list[str]:
    """A small project's source models read now; a large one's as the worker stored them with
    its counts (none until the first count is in)."""
    if pair_id_span(project) < COUNT_NOW_BELOW:
        return source_models(project)
    names = (stored_counts(project).payload or {}).get("model_names")
    return [str(name) for name in names] if isinstance(names, list) else []


def counts_state(sender: Any, project: Project, kind: str, **kwargs: Any) -> str | None:
    """What the counts depend on beyond the votes: the newest pair and the annotators.

    Both are index reads (pair_by_newest; the memberships of one project).
    """
    if kind != PROJECT_COUNTS:
        return None
    newest = Pair.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0
    annotators = project.memberships.filter(role=Role.ANNOTATOR).count()
    return f"{newest}:{annotators}"


def stored_counts(project: Project) -> Served:
    """The counts as a worker last stored them, and how fresh; never counts."""
    return serve(project, PROJECT_COUNTS)


def pair_id_span(project: Project) -> int:
    """More than or as many as the project's pairs: the span of their ids (two index probes)."""
    return _id_spans(Project.objects.filter(pk=project.pk)).get(project.pk, 0)


def current_counts(project: Project) -> Served:
    """A small project's counts taken now; a large one's as stored (never counted here)."""
    if pair_id_span(project) >= COUNT_NOW_BELOW:
        return stored_counts(project)
    payload = dict(project_counts(project))
    votes = payload["judgements"]
    fresh = Freshness(StatisticStatus.READY, timezone.now(), votes, votes, updating=False)
    return Served(payload, "", fresh)


def counts_of(served: Served) -> dict[str, int | None]:
    """Every count by name; None while the first count is running."""
    payload = served.payload or {}
    return {name: payload.get(name) for name in COUNT_NAMES}


def request_recount(project: Project) -> int:
    """Have a worker count again now (after an import or an overlap change)."""
    return refresh_kind(project, PROJECT_COUNTS)


def list_counts(projects: list[Project]) -> dict[int, dict[str, int | None]]:
    """The project list's counts by project id, in a few statements whatever the number of
    projects: the small projects' counted now (one statement), the others' as stored (one read).

    A large project never counted is served (so its first count is queued); the others only
    have their reading noted, so beat keeps them fresh.
    """
    now = timezone.now()
    spans = _id_spans(Project.objects.filter(pk__in=[p.pk for p in projects]))
    small = [pk for pk, span in spans.items() if span < COUNT_NOW_BELOW]
    counts: dict[int, dict[str, int | None]] = _exact_list_counts(small) if small else {}
    large = [p for p in projects if p.pk not in counts]
    snapshots = (
        {
            s.project_id: s
            for s in StatisticsSnapshot.objects.filter(
                project__in=[p.pk for p in large], kind=PROJECT_COUNTS, variant=""
            )
        }
        if large
        else {}
    )
    for project in large:
        snapshot = snapshots.get(project.pk)
        if snapshot is None or snapshot.computed_at is None:
            counts[project.pk] = counts_of(stored_counts(project))
        else:
            counts[project.pk] = {name: (snapshot.payload or {}).get(name) for name in COUNT_NAMES}
    _note_reading([s for s in snapshots.values() if s.computed_at is not None], now)
    return counts


def _count_of(rows: QuerySet[Any], project_field: str) -> Coalesce:
    counted = (
        rows.filter(**{project_field: OuterRef("pk")})
        .order_by()
        .values(project_field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _id_spans(projects: QuerySet[Project]) -> dict[int, int]:
    """Each project's pair id span (0 without pairs), in one statement of index probes."""
    ids = Pair.objects.filter(project=OuterRef("pk")).order_by()
    rows = projects.annotate(
        low=Subquery(ids.order_by("id").values("id")[:1]),
        high=Subquery(ids.order_by("-id").values("id")[:1]),
    ).values_list("pk", "low", "high")
    return {pk: 0 if low is None else high - low + 1 for pk, low, high in rows}


def _exact_list_counts(project_ids: list[int]) -> dict[int, dict[str, int | None]]:
    """The list's counts of these (small) projects, taken now in one statement."""
    rows = (
        Project.objects.filter(pk__in=project_ids)
        .annotate(
            n_pairs=_count_of(Pair.objects.all(), "project"),
            n_pending=_count_of(Pair.objects.filter(status=PairStatus.PENDING), "project"),
            n_judgements=_count_of(Judgement.objects.valid(), "pair__project"),
        )
        .values_list("pk", "n_pairs", "n_pending", "n_judgements")
    )
    return {pk: dict(zip(LIST_NAMES, values, strict=True)) for pk, *values in rows}


def _note_reading(snapshots: list[StatisticsSnapshot], now: datetime) -> None:
    """One UPDATE for the rows not read in the last minute (as `serve` does for one)."""
    since = now - timedelta(seconds=60)
    stale = [s.pk for s in snapshots if s.read_at is None or s.read_at < since]
    if stale:
        StatisticsSnapshot.objects.filter(pk__in=stale).update(read_at=now)


def counts_fields(served: Served) -> dict[str, Any]:
    """The API's fields: `counts` (None values while counting), `counts_status` ("ready" or
    "computing") and `counts_as_of` (when the counts were taken, ISO 8601, or None)."""
    computed_at = served.freshness.computed_at
    return {
        "counts": counts_of(served),
        "counts_status": served.freshness.status.value,
        "counts_as_of": computed_at.isoformat() if computed_at else None,
    }
