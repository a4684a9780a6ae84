"""The people in a project: adding by name, changing roles, removing, the members list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from annotate.judging.queue import live_leases
from annotate.models import Assignment, Judgement, Membership, Project, Role


class UnknownUser(Exception):
    """The named user does not exist."""


class LastAdmin(Exception):
    """The change would leave the project without an admin."""


def find_user(identifier: str, *, known_to: User | None = None) -> User:
    """The user with this username, or else with this email address; raise UnknownUser.

    With `known_to`, only people who share a project with that user are found (superusers and
    holders of auth.view_user find anyone): a project admin cannot probe the site's accounts,
    since someone unrelated gets the same answer as no one.
    """
    users = get_user_model().objects.all()
    if known_to is not None and not known_to.has_perm("auth.view_user"):
        users = users.filter(memberships__project__memberships__user=known_to).distinct()
    user = users.filter(username=identifier).first()
    if user is None and "@" in identifier:
        matches = list(users.filter(email__iexact=identifier)[:2])
        user = matches[0] if len(matches) == 1 else None
    if user is None:
        where = " among the members of your projects; invite them by email" if known_to else ""
        raise UnknownUser(f"no user named {identifier!r}{where}")
    return user


@transaction.atomic
def set_member(project: Project, *, username: str, role: str, by: User | None = None) -> Membership:
    """Add a user (by username or email) with `role`, or change their role.

    `by` is who asks (pages and API pass it): they may only name people they can know of.
    """
    user = find_user(username, known_to=by)
    if role != Role.ADMIN:
        _check_other_admin(project, user)
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def remove_member(project: Project, user: User) -> None:
    """Remove a member: their live leases are released now, their judgements stay."""
    _check_other_admin(project, user)
    Assignment.objects.filter(
        live_leases(timezone.now()), annotator=user, pair__project=project
    ).update(closed_at=timezone.now())
    Membership.objects.filter(project=project, user=user).delete()


def _check_other_admin(project: Project, user: User) -> None:
    """Raise LastAdmin when `user` is the project's only admin. Caller is in a transaction."""
    admins = list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .values_list("user_id", flat=True)
    )
    if admins == [user.pk]:
        raise LastAdmin("a project needs at least one admin; make someone else admin first")


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    judgements: int
    last_active: datetime | None


def member_rows(project: Project) -> list[MemberRow]:
    """Members with their valid judgements here and when they last took a pair, in one query.

    The count is the membership's maintained `judgement_count` less the member's invalidated
    judgements (few: review marks them by hand), so no member's history is counted per request.
    """
    leased = (
        Assignment.objects.filter(pair__project=project, annotator=OuterRef("user"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    memberships = (
        project.memberships.select_related("user")
        .annotate(invalidated=_invalidated(project), leased=Subquery(leased))
        .order_by("role", "user__username")
    )
    return [MemberRow(m, _valid_count(m), m.leased) for m in memberships]


def judgement_counts(project: Project, only: User | None = None) -> list[tuple[str, int]]:
    """(username, valid judgements here) of each member who has judged (0 when review
    invalidated them all), by username; with `only`, that member alone. Read from the
    maintained counts, whatever the project's size."""
    memberships = project.memberships.filter(judgement_count__gt=0)
    if only is not None:
        memberships = memberships.filter(user=only)
    rows = memberships.select_related("user").annotate(invalidated=_invalidated(project))
    return [(m.user.get_username(), _valid_count(m)) for m in rows.order_by("user__username")]


def _invalidated(project: Project) -> Subquery:
    """Each membership's invalidated judgements here (few: review marks them by hand; read
    through the judgement_invalidated index)."""
    invalidated = (
        Judgement.objects.filter(
            pair__project=project, annotator=OuterRef("user"), invalidated_at__isnull=False
        )
        .values("annotator")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Subquery(invalidated)


def _valid_count(membership: Membership) -> int:
    return max(membership.judgement_count - (getattr(membership, "invalidated", 0) or 0), 0)
