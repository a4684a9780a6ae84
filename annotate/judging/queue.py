"""Which pair an annotator gets next: leases with an expiry, overlap k, priority order."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from annotate.judging.gold import check_not_paused, pick_gold_pair
from annotate.judging.hot_sql import lock_candidate
from annotate.judging.overlap import target
from annotate.models import (
    Acquisition,
    Assignment,
    Comparison,
    Judgement,
    Membership,
    Pair,
    PairStatus,
    Project,
    RankedResponse,
)
from annotate.projects import counts

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
    for careful in (False, True):
        try:
            with transaction.atomic():
                held = _held_lease(annotator, project, now, exclude=after)
                return held or lease_new_pair(annotator, project, now, careful=careful)
        except LeaseContended:
            if not wait:
                raise
    raise AssertionError("the careful pass never raises LeaseContended")


def lease_new_pair(
    annotator: User, project: Project, now: datetime, *, careful: bool = False
) -> Assignment | None:
    """Lease a new slot (a gold check at the project's rate); None when no free pair is left.

    Caller is in a transaction and has checked that the annotator holds no other open lease.
    Without `careful` no row lock is waited for and nothing is written before LeaseContended
    is raised, so a caller may go on with its transaction (judge_and_lease_next does).
    """
    check_not_paused(annotator, project)
    gold = pick_gold_pair(annotator, project)
    random_slice = gold is None and draws_random_slice(project)
    if gold is not None:
        return _insert_lease(annotator, project, gold, now, random_slice=False, free_slots=None)
    lock = _lock_free_pair if careful else _lock_first_free_pair
    pair = lock(annotator, project, now, random_order=random_slice)
    if pair is None:
        return None
    lease = _insert_lease(
        annotator,
        project,
        pair,
        now,
        random_slice=random_slice,
        free_slots=target(pair, project) - pair.judgement_count,
    )
    if lease is None and not careful:
        raise LeaseContended
    return lease  # careful: the pair was counted under our lock, so None cannot happen here


# One statement that leases the slot only if it is still free. The candidate query counted the
# pair's leases in its own snapshot: an annotator who leased the pair and committed between
# that snapshot and our row lock is missed there (PostgreSQL, READ COMMITTED), but not by this
# statement, which starts after the lock is held. Plain SQL because the ORM has no INSERT ...
# SELECT; the text is the same on PostgreSQL and SQLite (>= 3.35 for RETURNING).
_INSERT_LEASE = """
    INSERT INTO {table} (pair_id, annotator_id, left_is_a, created_at, expires_at, closed_at,
                         outcome, random_slice)
    SELECT %s, %s, %s, %s, %s, NULL, '', %s
    WHERE %s OR (
        SELECT COUNT(*) FROM {table}
        WHERE pair_id = %s AND closed_at IS NULL AND expires_at > %s
    ) < %s
    RETURNING id
"""


def _insert_lease(
    annotator: User,
    project: Project,
    pair: Pair,
    now: datetime,
    *,
    random_slice: bool,
    free_slots: int | None,
) -> Assignment | None:
    """Lease a slot of the locked pair; None when its `free_slots` are taken (None: no limit,
    a gold check). A ranking item's lease records its responses in a shuffled display order."""
    left_is_a = secrets.randbelow(2) == 0
    shown_order = None
    if project.comparison == Comparison.RANKING:
        shown_order, left_is_a = _shuffled(pair)
    expires_at = now + timedelta(seconds=project.lease_seconds)
    connection = connections[Assignment.objects.db]
    stamp = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_LEASE.format(table=connection.ops.quote_name(Assignment._meta.db_table)),
            [
                pair.pk,
                annotator.pk,
                left_is_a,
                stamp(now),
                stamp(expires_at),
                random_slice,
                free_slots is None,
                pair.pk,
                stamp(now),
                free_slots or 0,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if shown_order is not None:
        Assignment.objects.filter(pk=row[0]).update(shown_order=shown_order)
    return Assignment(
        pk=row[0],
        pair=pair,
        annotator=annotator,
        left_is_a=left_is_a,
        created_at=now,
        expires_at=expires_at,
        random_slice=random_slice,
        shown_order=shown_order,
    )


def _shuffled(pair: Pair) -> tuple[list[int], bool]:
    """A ranking item's response ids in a random display order, and whether its response_a
    comes before its response_b there (the lease's `left_is_a`, for the position-bias checks
    that read it)."""
    ids = list(
        RankedResponse.objects.filter(pair=pair)
        .order_by("position")
        .values_list("response_id", flat=True)
    )
    if not ids:  # an item made before the project ranked: its two responses
        ids = [pair.response_a_id, pair.response_b_id]
    secrets.SystemRandom().shuffle(ids)
    return ids, ids.index(pair.response_a_id) < ids.index(pair.response_b_id)


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
    passed: list[int] = []
    for skip_locked in (True, False):
        for _ in range(MAX_CANDIDATES):
            # A savepoint per candidate: rolling it back releases the lock on a pair we pass
            # over, so two annotators never hold one pair each while waiting for the other's.
            savepoint = transaction.savepoint()
            pair = lock_candidate(
                annotator.pk,
                project,
                now,
                random_order=random_order,
                skip_locked=skip_locked,
                passed=passed,
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
) -> Pair | None:
    """The common case without a savepoint: SKIP LOCKED gets the best candidate, and it is free
    (the lease's insert checks that, `_insert_lease`).

    No candidate raises LeaseContended: other annotators may hold the last ones, and
    `_lock_free_pair` then waits for them.
    """
    pair = lock_candidate(annotator.pk, project, now, random_order=random_order)
    if pair is None:
        raise LeaseContended
    return pair


def _has_free_slot(pair: Pair, project: Project, now: datetime) -> bool:
    leases = Assignment.objects.filter(live_leases(now), pair=pair).count()
    return pair.judgement_count + leases < target(pair, project)


# The pairs an annotator is done with grow with their history, so what remains for them is
# worked out at most this often per annotator. In between, each judgement of theirs takes one
# off what they saw remaining (it completed the pair, or they are done with it), so the counter
# moves with every vote and is a few seconds behind only for what others did.
PROGRESS_SECONDS = 5
# Whether a project is large (its pending count is read from the stored counts, never taken in
# a request) is looked up at most this often.
SIZE_SECONDS = 60


def progress(annotator: User, project: Project, *, mine: int | None = None) -> dict[str, int]:
    """Judgements this annotator made here, and pending pairs they have not judged or skipped.

    `mine` is the annotator's judgement count when the caller read it already (with the lease
    it locked); otherwise it is read from the membership.
    """
    if mine is None:
        mine = judgement_count(annotator, project)
    key = f"progress:{project.pk}:{annotator.pk}"
    counted = cache.get(key)
    if counted is None:
        counted = (_remaining(annotator, project), mine)
        cache.set(key, counted, PROGRESS_SECONDS)
    remaining, mine_then = counted
    return {"mine": mine, "remaining": max(remaining - max(mine - mine_then, 0), 0)}


def judgement_count(annotator: User, project: Project) -> int:
    """The annotator's judgements in the project: their membership's count (kept by triggers),
    or a count for someone judging without one (a superuser)."""
    count = (
        Membership.objects.filter(project=project, user_id=annotator.pk)
        .values_list("judgement_count", flat=True)
        .first()
    )
    if count is not None:
        return count
    return Judgement.objects.filter(pair__project=project, annotator_id=annotator.pk).count()


def _remaining(annotator: User, project: Project) -> int:
    pending = _stored_pending(project)
    if pending is None:
        pending_pairs = Pair.objects.filter(project=project, status=PairStatus.PENDING)
        if project.judge_edits:  # nobody is served a pair of their own edit, or one found wanting
            pending_pairs = pending_pairs.exclude(response_b__author_id=annotator.pk).exclude(
                response_b__invalidated_at__isnull=False
            )
        pending = pending_pairs.count()
    done_pending = (
        Assignment.objects.filter(
            annotator=annotator, pair__project=project, pair__status=PairStatus.PENDING
        )
        .exclude(outcome="")
        .count()
    )
    return max(pending - done_pending, 0)


def _stored_pending(project: Project) -> int | None:
    """A large project's pending pairs as a worker last counted them (one indexed read, which
    also keeps beat recounting while people judge); None for a small project, counted exactly,
    or before the first count is in.

    Counting a million pending pairs takes a large part of a second; the stored count is as
    fresh as the project page's. On a project that judges edits it also counts the pairs of the
    annotator's own edits, which they are never served.
    """
    key = f"project-large:{project.pk}"
    large = cache.get(key)
    if large is None:
        large = counts.pair_id_span(project) >= counts.COUNT_NOW_BELOW
        cache.set(key, large, SIZE_SECONDS)
    if not large:
        return None
    pending = (counts.stored_counts(project).payload or {}).get("pending")
    return pending if isinstance(pending, int) else None
