"""The Celery app; configuration comes from Django settings (CELERY_* names).

Tasks are sent after the transaction that wrote their rows commits (`delay_on_commit`). A broker
that cannot be reached then must not fail the request: its rows are committed, so the request
answers and the failure is logged. Imports and training runs still queued a while later are sent
again by the recovery beats (`recover_imports_task`, `check_retrain_task`); claiming makes any
extra copy a no-op.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celery import Celery
from celery.contrib.django.task import DjangoTask
from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

import config.broker  # noqa: F401  (registers the hardened embedded broker)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)

# What sending raises when the broker is down: kombu wraps the transport's connection errors
# (redis, SQLAlchemy) in its OperationalError once its publish retries are spent; the redis ones
# are listed in case one escapes unwrapped. Anything else is a bug and propagates.
BROKER_UNREACHABLE = (OperationalError, RedisConnectionError, RedisTimeoutError)

# What a view tells its caller when the task it queued could not be sent yet.
WAITING_FOR_WORKERS = (
    "saved, but the task queue cannot be reached right now: it starts once workers can be "
    "reached again"
)

_unsent: ContextVar[list[str] | None] = ContextVar("unsent_tasks", default=None)


class Task(DjangoTask):
    """The app's task class: `delay_on_commit` (how our code queues work) never fails the caller."""

    # celery-types says it returns an AsyncResult; Celery's own returns None.
    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        transaction.on_commit(functools.partial(try_send, self, *args, **kwargs))


def try_send(task: Any, *args: Any, **kwargs: Any) -> bool:
    """`task.delay(...)` now; False, logged, when the broker cannot be reached (its row waits)."""
    try:
        task.delay(*args, **kwargs)
    except BROKER_UNREACHABLE as exc:
        logger.warning(
            "broker unreachable, %s%s not sent; its row stays queued: %s", task.name, args, exc
        )
        if (unsent := _unsent.get()) is not None:
            unsent.append(task.name)
        return False
    return True


@contextmanager
def unsent_tasks() -> Iterator[list[str]]:
    """Collect the names of the tasks that the body could not send (the broker was down).

    Views wrap the domain call in it to tell the caller its work starts once workers can be
    reached. Sends deferred past the body (an outer transaction still open) are not seen.
    """
    unsent: list[str] = []
    token = _unsent.set(unsent)
    try:
        yield unsent
    finally:
        _unsent.reset(token)


app = Celery("prefloop", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
