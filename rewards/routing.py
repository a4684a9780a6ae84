"""Which queue the model side's tasks go to (a Celery router, run where a task is sent).

Training, re-ranking, embedding and scoring go to REWARDS_QUEUE. With REWARDS_FINETUNE_QUEUE set
(`gpu`), fine-tune runs alone go there, so GPU workers take the runs that need them while heads
runs and score requests stay on the CPU workers.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

RETRAIN_TASK = "rewards.tasks.retrain_project_task"
REWARDS_TASKS = frozenset(
    {
        RETRAIN_TASK,
        "rewards.tasks.rerank_project_task",
        "rewards.tasks.embed_project_task",
        "rewards.tasks.score_request_task",
    }
)


def finetune_queue() -> str:
    """The queue fine-tune runs go to: REWARDS_FINETUNE_QUEUE, else REWARDS_QUEUE."""
    return str(settings.REWARDS_FINETUNE_QUEUE or settings.REWARDS_QUEUE)


def route_task(name: str, args: Any, kwargs: Any, options: Any, **_: Any) -> dict[str, str] | None:
    """The queue of a model-side task; None leaves other tasks to the other routes."""
    if name not in REWARDS_TASKS:
        return None
    if name == RETRAIN_TASK and settings.REWARDS_FINETUNE_QUEUE and args:
        from rewards.models import Mode, TrainingRun

        mode = TrainingRun.objects.filter(pk=args[0]).values_list("mode", flat=True).first()
        if mode == Mode.FINETUNE:
            return {"queue": finetune_queue()}
    return {"queue": str(settings.REWARDS_QUEUE)}
