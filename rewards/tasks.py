"""Thin Celery tasks: ids in, one service call, idempotent by a database claim."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retrain_project_task(run_id: int) -> None:
    """Train a queued run; a redelivered message finds it claimed and does nothing."""
    from rewards.runs import beating, claim_run
    from rewards.worker.services import train_reward_model

    if claim_run(run_id):
        with beating(run_id):
            train_reward_model(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def rerank_project_task(project_id: int, attempt: int = 0) -> None:
    """Re-rank with the served version (safe to repeat); a failure is recorded and retried."""
    from rewards.worker.services import rerank_served

    rerank_served(project_id, attempt=attempt)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def embed_project_task(embedding_run_id: int) -> None:
    """Warm the embedding cache for a project's responses (cached texts are skipped)."""
    from rewards.worker.services import embed_project

    embed_project(embedding_run_id)


@shared_task
def score_request_task(request_id: int) -> None:
    """Answer a best-of-n scoring request."""
    from rewards.worker.services import answer_score_request

    answer_score_request(request_id)


@shared_task
def check_retrain_task() -> None:
    """Periodic: fail runs whose worker died; queue retrains where enough judgements are new."""
    from rewards.triggers import retrain_where_due

    retrain_where_due()


@shared_task
def purge_score_requests_task() -> None:
    """Periodic: delete score requests older than their time to live."""
    from rewards.scoring import purge_score_requests

    purge_score_requests()
