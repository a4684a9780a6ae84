"""Celery tasks of the AI judges: thin wrappers that call generation/judges.py by id."""

from __future__ import annotations

from celery import Task, shared_task


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def run_judge_task(self: Task, run_id: int) -> None:
    """Work on a judge run for GENERATION_TASK_SECONDS, then send the continuation if needed
    (to the queue this copy came from).

    Verdicts are stored once per (judge, pair, order), so a redelivered copy asks nothing twice.
    """
    from generation.judges import run_judge

    if run_judge(run_id):
        queue = (self.request.delivery_info or {}).get("routing_key")
        if queue:
            run_judge_task.apply_async((run_id,), queue=queue)
        else:
            run_judge_task.delay(run_id)


@shared_task
def recover_judge_runs_task() -> int:
    """Send tasks again for running judge runs whose task stopped beating (beat)."""
    from generation.judges import recover_judge_runs

    return recover_judge_runs()
