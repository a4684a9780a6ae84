"""What starts work on the model side: new judgements, new responses."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Max

from annotate.models import Judgement, Project
from rewards.models import EmbeddingRun, TrainingRun
from rewards.runs import fail_stale_runs, request_retrain, resend_waiting_runs
from rewards.tasks import embed_project_task

logger = logging.getLogger(__name__)


def judgements_since_last_run(project: Project) -> int:
    """Judgements newer than the ones the project's latest run saw (failed runs included)."""
    last = project.training_runs.aggregate(m=Max("last_judgement_id"))["m"] or 0
    return Judgement.objects.filter(pair__project=project, pk__gt=last).count()


def retrain_where_due() -> list[int]:
    """Queue a threshold retrain for every project with `retrain_every` new judgements."""
    if failed := fail_stale_runs():
        logger.warning("marked %s stale training run(s) failed", failed)
    if resent := resend_waiting_runs():
        logger.warning("sent %s waiting training run(s) again", resent)
    queued = []
    for project in Project.objects.filter(retrain_every__gt=0):
        if judgements_since_last_run(project) < project.retrain_every:
            continue
        run, created = request_retrain(project, trigger=TrainingRun.Trigger.THRESHOLD)
        if created:
            queued.append(run.pk)
    return queued


def start_embedding(project: Project) -> EmbeddingRun:
    """Queue embedding of the project's responses (after the current transaction commits).

    A run still queued reads every response when it starts, so it covers this import too.
    """

    queued = EmbeddingRun.objects.filter(project=project, status=TrainingRun.Status.QUEUED)
    if (waiting := queued.first()) is not None:
        return waiting
    with transaction.atomic():
        run = EmbeddingRun.objects.create(project=project)
        # celery-types' Task lacks delay_on_commit; our tasks are DjangoTasks (config.celery).
        embed_project_task.delay_on_commit(run.pk)  # type: ignore[attr-defined]
    return run


def on_responses_imported(sender: Any, project: Project, **kwargs: Any) -> None:
    start_embedding(project)
