"""Creating projects and managing their members."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from annotate.models import Judgement, Membership, Pair, PairStatus, Project, Role


class UnknownUser(Exception):
    """The named user does not exist."""


@transaction.atomic
def create_project(
    *, slug: str, name: str = "", admin: AbstractBaseUser | None = None, **options: Any
) -> Project:
    """Create a project; `admin` (if given) becomes its first admin."""
    project = Project.objects.create(slug=slug, name=name or slug, **options)
    if admin is not None:
        Membership.objects.create(project=project, user=admin, role=Role.ADMIN)
    return project


def set_member(project: Project, *, username: str, role: str) -> Membership:
    """Add a user to the project with `role`, or change their role."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise UnknownUser(f"no user named {username!r}")
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def pair_status_counts(project: Project) -> dict[str, int]:
    """Pending and complete pairs, in one query."""
    return Pair.objects.filter(project=project).aggregate(
        pending=Count("id", filter=Q(status=PairStatus.PENDING)),
        complete=Count("id", filter=Q(status=PairStatus.COMPLETE)),
    )


def project_counts(project: Project) -> dict[str, int]:
    """Counts shown on the project page: prompts, pairs by status, judgements, annotators."""
    pairs = pair_status_counts(project)
    judgements = Judgement.objects.filter(pair__project=project).aggregate(
        total=Count("id"),
        human=Count("id", filter=Q(source=Judgement.Source.HUMAN)),
    )
    return {
        "prompts": project.prompts.count(),
        "pairs": pairs["pending"] + pairs["complete"],
        "pending": pairs["pending"],
        "complete": pairs["complete"],
        "judgements": judgements["total"],
        "human_judgements": judgements["human"],
        "annotators": project.memberships.filter(role=Role.ANNOTATOR).count(),
    }


def _count_of(queryset: QuerySet[Any], project_field: str) -> Coalesce:
    counted = (
        queryset.filter(**{project_field: OuterRef("pk")})
        .order_by()
        .values(project_field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def with_list_counts(projects: QuerySet[Project]) -> QuerySet[Project]:
    """Annotate the project list's counts (pairs, pending, judgements) in the same query."""
    return projects.annotate(
        pair_count=_count_of(Pair.objects.all(), "project"),
        pending_count=_count_of(Pair.objects.filter(status=PairStatus.PENDING), "project"),
        judgement_count=_count_of(Judgement.objects.all(), "pair__project"),
    )
