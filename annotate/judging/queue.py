"""Which pair an annotator gets next: leases with an expiry, overlap k, priority order."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.judging.gold import check_not_paused, pick_gold_pair
from annotate.judging.overlap import target
from annotate.models import Acquisition, Assignment, Judgement, Pair, PairStatus, Project

# Candidates tried when concurrent annotators fill the first ones between our read and lock.
MAX_CANDIDATES = 5


def live_leases(now: datetime) -> Q:
    return Q(closed_at__isnull=True, expires_at__gt=now)


class LeaseContended(Exception):
    """The fast path found no free pair it could lock at once; retry passing over candidates."""


def lease_next_pair(
    annotator: User, project: Project, *, after: int | None = None, wait: bool = True
) -> Assignment | None:
    """Return the annotator's open lease, or lease the highest-priority free pair; None if done.

    With `after` (the assignment being shown), another open lease or a new one is returned,
    so the page can prefetch the next pair; an annotator then holds at most two leases.
    At the project's gold rate the new lease is a hidden gold check instead. Raises
    AnnotatorPaused for an annotator paused in this project (leases they hold still count).
    An archived project leases nothing. With `wait=False` no row lock is waited for:
    LeaseContended is raised instead.
    """
    if project.is_archived:
        return None
    now = timezone.now()
    try:
        return _lease(annotator, project, now, after=after, careful=False)
    except LeaseContended:
        if not wait:
            raise
        return _lease(annotator, project, now, after=after, careful=True)


def _lease(
    annotator: User,
    project: Project,
    now: datetime,
    *,
    after: int | None,
    careful: bool,
) -> Assignment | None:
    with transaction.atomic():
        held = _held_lease(annotator, project, now, exclude=after)
        if held is not None:
            return held
        check_not_paused(annotator, project)
        gold = pick_gold_pair(annotator, project)
        random_slice = gold is None and draws_random_slice(project)
        lock = _lock_free_pair if careful else _lock_first_free_pair
        pair = gold or lock(annotator, project, now, random_order=random_slice)
        if pair is None:
            return None
        return Assignment.objects.create(
            pair=pair,
            annotator=annotator,
            left_is_a=secrets.randbelow(2) == 0,
            expires_at=now + timedelta(seconds=project.lease_seconds),
            random_slice=random_slice,
        )


def draws_random_slice(project: Project) -> bool:
    """Serve this lease in random order? A share of leases is, while a model orders the rest."""
    if project.acquisition == Acquisition.RANDOM or project.random_slice_share <= 0:
        return False
    return secrets.randbelow(1_000_000) < project.random_slice_share * 1_000_000


def _held_lease(
    annotator: User, project: Project, now: datetime, *, exclude: int | None
) -> Assignment | None:
    leases = Assignment.objects.filter(live_leases(now), annotator=annotator, pair__project=project)
    if exclude is not None:
        leases = leases.exclude(pk=exclude)
    return (
        leases.select_related("pair__prompt", "pair__response_a", "pair__response_b")
        .order_by("created_at")
        .first()
    )


def _lock_free_pair(
    annotator: User, project: Project, now: datetime, *, random_order: bool = False
) -> Pair | None:
    """Lock the best pair with a free slot that this annotator has not seen.

    SKIP LOCKED lets concurrent annotators pass each other's candidates. The lease count in the
    candidate query comes from the statement's snapshot, so after locking it is checked again:
    a lease committed in between would otherwise overfill the pair. When every candidate is
    locked by someone else, one blocking pass waits for them, so "nothing left" is only said
    when it is true.
    """
    candidates = _candidates(annotator, project, now, random_order=random_order)
    passed: list[int] = []
    for skip_locked in (True, False):
        for _ in range(MAX_CANDIDATES):
            # A savepoint per candidate: rolling it back releases the lock on a pair we pass
            # over, so two annotators never hold one pair each while waiting for the other's.
            savepoint = transaction.savepoint()
            pair = (
                candidates.exclude(pk__in=passed)
                .select_for_update(skip_locked=skip_locked, of=("self",))
                .first()
            )
            if pair is not None and _has_free_slot(pair, project, now):
                transaction.savepoint_commit(savepoint)
                return pair
            transaction.savepoint_rollback(savepoint)
            if pair is None:
                break
            passed.append(pair.pk)
    return None


def _lock_first_free_pair(
    annotator: User, project: Project, now: datetime, *, random_order: bool = False
) -> Pair:
    """The common case without a savepoint: SKIP LOCKED gets the best candidate, and it is free.

    Anything else raises LeaseContended: leaving the transaction releases the lock on a pair we
    would pass over, and `_lock_free_pair` then tries candidate by candidate.
    """
    candidates = _candidates(annotator, project, now, random_order=random_order)
    pair = candidates.select_for_update(skip_locked=True, of=("self",)).first()
    if pair is None or not _has_free_slot(pair, project, now):
        raise LeaseContended
    return pair


def _has_free_slot(pair: Pair, project: Project, now: datetime) -> bool:
    leases = Assignment.objects.filter(live_leases(now), pair=pair).count()
    return pair.judgement_count + leases < target(pair, project)


def _candidates(
    annotator: User, project: Project, now: datetime, *, random_order: bool = False
) -> QuerySet[Pair]:
    seen = Assignment.objects.filter(pair=OuterRef("pk"), annotator=annotator)
    judged = Judgement.objects.filter(pair=OuterRef("pk"), annotator=annotator)
    return (
        Pair.objects.filter(project=project, status=PairStatus.PENDING, gold_label="")
        .alias(leases=Coalesce(Subquery(_lease_count(now)), 0))
        .filter(
            leases__lt=Coalesce(F("min_votes"), project.judgements_per_pair)
            + F("extra_judgements")
            - F("judgement_count")
        )
        .exclude(Exists(seen))
        .exclude(Exists(judged))
        # A random-slice lease ignores the model: `tiebreak` is a pseudo-random rank fixed per
        # pair, independent of any model's scores.
        .order_by(*(("tiebreak", "pk") if random_order else ("-priority", "tiebreak")))
        .select_related("prompt", "response_a", "response_b")
    )


def _lease_count(now: datetime) -> QuerySet[Assignment, dict[str, Any]]:
    return (
        Assignment.objects.filter(live_leases(now), pair=OuterRef("pk"))
        .values("pair")
        .annotate(n=Count("id"))
        .values("n")
    )


# The pending count of a large project is the slowest query of a `next` call (a count over
# every pending pair); a progress bar is fine being a few seconds behind.
PENDING_COUNT_SECONDS = 5


def progress(annotator: User, project: Project) -> dict[str, int]:
    """Judgements this annotator made here, and pending pairs they have not judged or skipped."""
    mine = Judgement.objects.filter(pair__project=project, annotator=annotator).count()
    pending = cache.get_or_set(
        f"pending-pairs:{project.pk}",
        lambda: Pair.objects.filter(project=project, status=PairStatus.PENDING).count(),
        PENDING_COUNT_SECONDS,
    )
    assert pending is not None  # on a miss get_or_set returns what the default made
    done_pending = (
        Assignment.objects.filter(
            annotator=annotator, pair__project=project, pair__status=PairStatus.PENDING
        )
        .exclude(outcome="")
        .count()
    )
    return {"mine": mine, "remaining": max(pending - done_pending, 0)}
