"""Fine-tune runs alone go to REWARDS_FINETUNE_QUEUE; every other model-side task stays on
REWARDS_QUEUE (the queue Celery's own router picks when the task is sent)."""

from __future__ import annotations

from typing import Any

import pytest

from annotate.models import Project
from config.celery import app
from rewards.models import TrainingRun

pytestmark = pytest.mark.django_db


def _queue(name: str, *args: Any) -> str:
    """The queue Celery sends this task to, as configured."""
    return str(app.amqp.router.route({}, name, args=args, kwargs={})["queue"].name)


def test_with_a_finetune_queue_only_fine_tunes_go_there(settings: Any, project: Project) -> None:
    settings.REWARDS_FINETUNE_QUEUE = "gpu"
    # (one live run per project: the fine-tune has ended when the heads run is made)
    finetune = TrainingRun.objects.create(project=project, mode="finetune", status="succeeded")
    heads = TrainingRun.objects.create(project=project, mode="heads")
    assert _queue("rewards.tasks.retrain_project_task", finetune.pk) == "gpu"
    assert _queue("rewards.tasks.retrain_project_task", heads.pk) == "default"
    assert _queue("rewards.tasks.score_request_task", 1) == "default"
    assert _queue("rewards.tasks.rerank_project_task", project.pk) == "default"


def test_without_one_every_model_task_goes_to_the_rewards_queue(
    settings: Any, project: Project
) -> None:
    settings.REWARDS_QUEUE = "gpu"
    finetune = TrainingRun.objects.create(project=project, mode="finetune")
    assert _queue("rewards.tasks.retrain_project_task", finetune.pk) == "gpu"
    assert _queue("rewards.tasks.embed_project_task", project.pk) == "gpu"
    assert _queue("webhooks.tasks.deliver_task", 1) == settings.WEBHOOKS_QUEUE
