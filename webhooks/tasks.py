"""Thin Celery tasks of the webhooks: ids in, one domain call, idempotent by a database claim."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_task(delivery_id: int) -> None:
    """Make one attempt at a due delivery; a copy that finds it claimed or done does nothing."""
    from webhooks.delivery import deliver

    deliver(delivery_id)


@shared_task
def resend_deliveries_task() -> int:
    """Periodic: send again the deliveries that are due and that no worker has (beat)."""
    from webhooks.delivery import purge_old_deliveries, resend_due_deliveries

    purge_old_deliveries()
    return resend_due_deliveries()
