"""Creating, configuring, archiving and deleting projects (their counts: projects/counts.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotate.judging.queue import live_leases
from annotate.models import Assignment, Membership, Pair, PairStatus, Project, Prompt, Role
from annotate.projects.counts import request_recount
from annotate.tasks import delete_project_task


class ProjectArchived(Exception):
    """The project is archived, so it takes no new data."""


def check_not_archived(project: Project) -> None:
    if project.is_archived:
        raise ProjectArchived(
            f"{project.name} is archived; make it active again to change its data"
        )


@transaction.atomic
def create_project(
    *, slug: str, name: str = "", admin: User | None = None, **options: Any
) -> Project:
    """Create a project; `admin` (if given) becomes its first admin."""
    project = Project.objects.create(slug=slug, name=name or slug, **options)
    if admin is not None:
        Membership.objects.create(project=project, user=admin, role=Role.ADMIN)
    return project


@transaction.atomic
def update_project(project: Project, **changes: Any) -> Project:
    """Change project settings.

    A new overlap re-derives which pairs are complete; leases already given out keep their
    slot, so overlap and acquisition changes show in the leases made from now on.
    """
    stored = Project.objects.select_for_update().get(pk=project.pk)
    overlap_before = stored.judgements_per_pair
    for field, value in changes.items():
        setattr(stored, field, value)
    stored.save()
    if stored.judgements_per_pair != overlap_before:
        _restatus_pairs(stored)
        request_recount(stored)  # pending and complete moved without a vote
    return stored


def _restatus_pairs(project: Project) -> None:
    target = project.judgements_per_pair
    pairs = Pair.objects.filter(project=project)
    pairs.filter(status=PairStatus.PENDING, judgement_count__gte=target).update(
        status=PairStatus.COMPLETE
    )
    pairs.filter(status=PairStatus.COMPLETE, judgement_count__lt=target).update(
        status=PairStatus.PENDING
    )


@transaction.atomic
def archive_project(project: Project) -> Project:
    """Hide the project from annotators and stop leases, judgements and imports; live leases end."""
    if project.archived_at is None:
        project.archived_at = timezone.now()
        project.save(update_fields=["archived_at"])
        Assignment.objects.filter(live_leases(timezone.now()), pair__project=project).update(
            closed_at=timezone.now()
        )
    return project


def unarchive_project(project: Project) -> Project:
    project.archived_at = None
    project.save(update_fields=["archived_at"])
    return project


@transaction.atomic
def delete_project(project: Project) -> None:
    """Hide the project now and have a worker delete it and everything in it.

    Django deletes cascades in Python, which takes minutes for a million pairs: too long for
    a web request, so the rows go in the background, a batch per transaction.
    """
    archive_project(project)
    Project.objects.filter(pk=project.pk).update(deleted_at=timezone.now(), retrain_every=0)
    # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
    delete_project_task.delay_on_commit(project.pk)  # type: ignore[attr-defined]


# Pairs or prompts per delete; each batch's cascade (judgements, leases, scores) is one
# transaction of a few thousand rows.
PURGE_BATCH = 2000


def purge_project(project_id: int) -> None:
    """Delete a project whose deletion was requested; safe to run again after a crash."""
    project = Project.objects.filter(pk=project_id, deleted_at__isnull=False).first()
    if project is None:
        return
    for model in (Pair, Prompt):
        rows = model.objects.filter(project=project).values_list("pk", flat=True)
        while batch := list(rows[:PURGE_BATCH]):
            model.objects.filter(pk__in=batch).delete()
    project.delete()
