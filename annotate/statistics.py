"""Statistics computed by a worker and served as stored: no request runs a bootstrap.

The leaderboard, the quality report and the models page's random-slice tables cost seconds of
CPU on a large project. Each is a registered *kind* with a compute function; what a request
asked for (kind and canonical query, the *variant*) is one `StatisticsSnapshot` row. A request
reads the row (`serve`): a payload if one was ever computed, with how fresh it is; when nothing
was computed yet it marks the row requested (one conditional UPDATE, so many readers queue it
once) and a worker computes it (`compute_snapshot`). Beat (`refresh_snapshots`, every
STATISTICS_CHECK_SECONDS) counts the votes of the variants read lately and queues those whose
votes changed, so no request counts votes and readers mostly find the figures fresh.

A snapshot's *state* fingerprints what it was computed from: the project's valid votes (count
and latest id), its latest review action, and what other apps add through `statistics_state`
(rewards: the served model). Changes the fingerprint does not see (a pause, a gold label, an AI
judge's votes) are caught by STATISTICS_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, Max, Q
from django.dispatch import Signal
from django.http import QueryDict
from django.utils import timezone

from annotate.leaderboard.board import project_leaderboard
from annotate.models import Judgement, Project, ReviewEvent, StatisticsSnapshot
from annotate.quality.report import quality_report

LEADERBOARD = "leaderboard"
QUALITY = "quality"

# Sent to fingerprint a project's inputs to a kind beyond its votes; kwargs: project, kind. A
# receiver returns a short string (or None), e.g. the served model's id.
statistics_state = Signal()

# kind -> compute(project, options) -> JSON-ready payload. Options are the parsed variant.
Compute = Callable[[Project, dict[str, str]], dict[str, Any]]
_KINDS: dict[str, Compute] = {}


class StatisticStatus(models.TextChoices):
    """What a served statistic's body says of itself."""

    READY = "ready", "the figures are served"
    COMPUTING = "computing", "a worker is computing the first figures"
    UNAVAILABLE = "unavailable", "these votes give no such statistic"


class StatisticUnavailable(Exception):
    """The statistic cannot be computed from these votes; its message is shown as is."""


def register_statistic(kind: str, compute: Compute) -> None:
    """Make `kind` computable by workers (apps register theirs in `ready()`)."""
    _KINDS[kind] = compute


def variant_key(options: dict[str, Any]) -> str:
    """The canonical query string of `options` (sorted, booleans as 0/1): the cache's key."""
    query = QueryDict(mutable=True)
    for name in sorted(options):
        value = options[name]
        query[name] = str(int(value)) if isinstance(value, bool) else str(value)
    return query.urlencode()


def votes_state(project: Project, kind: str) -> tuple[int, str]:
    """(valid votes now, fingerprint of the inputs to `kind`): two aggregate queries."""
    votes = Judgement.objects.filter(pair__project=project).aggregate(
        n=Count("id", filter=Q(invalidated_at__isnull=True)), last=Max("id")
    )
    review = ReviewEvent.objects.filter(judgement__pair__project=project).aggregate(last=Max("id"))
    parts = [str(votes["n"]), str(votes["last"] or 0), str(review["last"] or 0)]
    for _, reply in statistics_state.send(sender=Project, project=project, kind=kind):
        if reply:
            parts.append(str(reply))
    return votes["n"], ":".join(parts)[:200]


@dataclass(frozen=True)
class Freshness:
    """How fresh a served statistic is, as the API and the pages say it."""

    status: StatisticStatus  # READY: a payload is served; COMPUTING: none yet, a worker is on it
    computed_at: datetime | None
    votes_reflected: int | None
    votes_now: int | None  # at beat's last look (None: not counted yet)
    updating: bool  # a newer computation is queued or running

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
            "votes_reflected": self.votes_reflected,
            "votes_now": self.votes_now,
            "updating": self.updating,
        }


@dataclass(frozen=True)
class Served:
    """A statistic as stored: its payload (None until first computed) and its freshness."""

    payload: dict[str, Any] | None
    error: str
    freshness: Freshness

    @property
    def ready(self) -> bool:
        return self.freshness.status == StatisticStatus.READY


def serve(project: Project, kind: str, options: dict[str, Any] | None = None) -> Served:
    """The stored statistic and how fresh it is; on a miss its computation is queued (once).

    Never computes and never counts votes: one indexed read (and, on a miss or now and then,
    one small write), whatever the project's size. Beat notices changed votes.
    """
    now = timezone.now()
    snapshot, _ = StatisticsSnapshot.objects.get_or_create(
        project=project, kind=kind, variant=variant_key(options or {})
    )
    if snapshot.read_at is None or snapshot.read_at < now - timedelta(seconds=60):
        StatisticsSnapshot.objects.filter(pk=snapshot.pk).update(read_at=now)
    computed = snapshot.computed_at is not None
    if (not computed or _too_old(snapshot, now)) and not _in_flight(snapshot, now):
        request_computation(snapshot, now=now)
    votes_now = snapshot.votes_seen
    if computed and (votes_now is None or votes_now < snapshot.votes_reflected):
        votes_now = snapshot.votes_reflected
    return Served(
        payload=snapshot.payload if computed else None,
        error=snapshot.error if computed else "",
        freshness=Freshness(
            status=StatisticStatus.READY if computed else StatisticStatus.COMPUTING,
            computed_at=snapshot.computed_at,
            votes_reflected=snapshot.votes_reflected if computed else None,
            votes_now=votes_now,
            updating=_in_flight(snapshot, now),
        ),
    )


def _in_flight(snapshot: StatisticsSnapshot, now: datetime) -> bool:
    """Queued or running, and not so long ago that its task must have been lost."""
    retry = timedelta(seconds=settings.STATISTICS_RETRY_SECONDS)
    return snapshot.requested_at is not None and snapshot.requested_at > now - retry


def _debounced(snapshot: StatisticsSnapshot, now: datetime, seconds: float) -> bool:
    """Computed so recently that a change waits for a later look (votes arrive in bursts)."""
    return snapshot.computed_at is not None and snapshot.computed_at > now - timedelta(
        seconds=seconds
    )


def _too_old(snapshot: StatisticsSnapshot, now: datetime) -> bool:
    max_age = timedelta(seconds=settings.STATISTICS_MAX_AGE_SECONDS)
    return snapshot.computed_at is not None and snapshot.computed_at < now - max_age


def request_computation(snapshot: StatisticsSnapshot, *, now: datetime | None = None) -> bool:
    """Mark the snapshot requested and queue its task; False when another caller just did."""
    from annotate.tasks import compute_statistics_task

    now = now or timezone.now()
    retry = timedelta(seconds=settings.STATISTICS_RETRY_SECONDS)
    claimed = (
        StatisticsSnapshot.objects.filter(pk=snapshot.pk)
        .filter(Q(requested_at__isnull=True) | Q(requested_at__lte=now - retry))
        .update(requested_at=now)
    )
    if claimed:
        snapshot.requested_at = now
        # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
        compute_statistics_task.delay_on_commit(snapshot.pk)  # type: ignore[attr-defined]
    return bool(claimed)


def refresh_kind(project: Project, kind: str) -> int:
    """Queue every stored `kind` of the project again (a change its fingerprint misses)."""
    snapshots = StatisticsSnapshot.objects.filter(project=project, kind=kind)
    # A computation already running may have read the old inputs: another one follows it.
    snapshots.update(requested_at=None)
    now = timezone.now()
    return sum(request_computation(snapshot, now=now) for snapshot in snapshots)


def compute_snapshot(snapshot_id: int) -> bool:
    """Compute and store one snapshot (a worker's job); False when its row is gone."""
    snapshot = StatisticsSnapshot.objects.select_related("project").filter(pk=snapshot_id).first()
    if snapshot is None or snapshot.project.deleted_at is not None:
        return False
    project = snapshot.project
    # The state is read first: votes that arrive during the computation make it stale.
    votes, state = votes_state(project, snapshot.kind)
    options = {name: str(value) for name, value in QueryDict(snapshot.variant).items()}
    payload: dict[str, Any] | None
    try:
        payload, error = _KINDS[snapshot.kind](project, options), ""
    except StatisticUnavailable as exc:
        payload, error = None, str(exc)
    StatisticsSnapshot.objects.filter(pk=snapshot.pk).update(
        payload=payload,
        error=error,
        state=state,
        votes_reflected=votes,
        votes_seen=votes,
        computed_at=timezone.now(),
        computed_by=f"{socket.gethostname()}:{os.getpid()}",
        requested_at=None,
    )
    return True


def refresh_snapshots(*, debounce_seconds: float | None = None) -> int:
    """Beat's look: count the votes of every snapshot read lately (the "votes now" readers are
    told) and queue those whose inputs changed; how many were queued.

    A snapshot computed less than `debounce_seconds` ago (STATISTICS_DEBOUNCE_SECONDS) waits
    for a later look, so a burst of votes costs one computation, not one per look.
    """
    if debounce_seconds is None:
        debounce_seconds = settings.STATISTICS_DEBOUNCE_SECONDS
    now = timezone.now()
    recent = now - timedelta(seconds=settings.STATISTICS_KEEP_SECONDS)
    snapshots = (
        StatisticsSnapshot.objects.filter(read_at__gte=recent, project__deleted_at__isnull=True)
        .select_related("project")
        .order_by("project_id", "kind")
    )
    states: dict[tuple[int, str], tuple[int, str]] = {}
    queued = 0
    for snapshot in snapshots:
        key = (snapshot.project_id, snapshot.kind)
        if key not in states:
            states[key] = votes_state(snapshot.project, snapshot.kind)
            StatisticsSnapshot.objects.filter(project_id=key[0], kind=key[1]).update(
                votes_seen=states[key][0], seen_at=now
            )
        changed = snapshot.computed_at is None or snapshot.state != states[key][1]
        due = changed or _too_old(snapshot, now)
        waiting = _in_flight(snapshot, now) or _debounced(snapshot, now, debounce_seconds)
        if due and not waiting:
            queued += request_computation(snapshot, now=now)
    return queued


def _compute_leaderboard(project: Project, options: dict[str, str]) -> dict[str, Any]:
    board = project_leaderboard(
        project,
        length_control=options.get("length_control") == "1",
        criterion=options.get("criterion", ""),
    )
    return board.to_json()


def _compute_quality(project: Project, options: dict[str, str]) -> dict[str, Any]:
    return dict(quality_report(project))


register_statistic(LEADERBOARD, _compute_leaderboard)
register_statistic(QUALITY, _compute_quality)


# What a reader is told while the first computation runs, and when to ask again.
COMPUTING_DETAIL = "Being computed by a worker from the current votes; ask again in a few seconds."
RETRY_AFTER_SECONDS = 3


def served_body(served: Served) -> tuple[dict[str, Any], int]:
    """The API's body and status code: the payload's own fields plus `status` and `freshness`
    (200), or only those and a `detail` while the first computation runs (202)."""
    freshness = served.freshness.to_json()
    if served.payload is not None:
        status = StatisticStatus.READY.value
        return {**served.payload, "status": status, "freshness": freshness}, 200
    if served.ready:  # computed, but these votes give no such statistic
        body = {"status": StatisticStatus.UNAVAILABLE.value, "detail": served.error}
        return {**body, "freshness": freshness}, 200
    body = {"status": StatisticStatus.COMPUTING.value, "detail": COMPUTING_DETAIL}
    return {**body, "freshness": freshness}, 202
