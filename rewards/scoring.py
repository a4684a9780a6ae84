"""Best-of-n scoring requests: queued by the web process, answered by a worker, purged later."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotate.models import Project
from rewards.models import Mode, RewardModel, ScoreRequest
from rewards.tasks import score_request_task


class NotScorable(Exception):
    """The project serves no model that can score new responses."""


def score_with_served(project: Project, payload: dict[str, Any]) -> ScoreRequest:
    """Queue scoring of `payload` (a checked prompt and responses) by the served version.

    Raises NotScorable when no version is served, or the served one is external (it only has
    the scores uploaded for the project's own responses).
    """
    model = RewardModel.objects.served(project)
    if model is None:
        raise NotScorable("this project has no active reward model yet; retrain first")
    if model.mode == Mode.EXTERNAL:
        raise NotScorable("the served model is external: it scores only uploaded responses")
    return request_score(project, model, payload)


def request_score(project: Project, model: RewardModel, payload: dict[str, Any]) -> ScoreRequest:
    """Store the request and queue its scoring once the row is committed."""

    with transaction.atomic():
        score_request = ScoreRequest.objects.create(project=project, model=model, payload=payload)
        # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
        score_request_task.delay_on_commit(score_request.pk)  # type: ignore[attr-defined]
    return score_request


def purge_score_requests() -> int:
    """Delete requests older than REWARDS_SCORE_REQUEST_TTL_SECONDS; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.REWARDS_SCORE_REQUEST_TTL_SECONDS)
    deleted, _ = ScoreRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
