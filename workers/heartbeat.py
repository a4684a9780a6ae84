"""Worker heartbeats: a running worker records itself every few seconds; pages read the latest.

The beat runs in a thread of the worker's main process, so it stops when the worker stops or
hangs in its consumer loop's process, which is what "no worker seen" should mean.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Max
from django.utils import timezone

from workers.models import WorkerHeartbeat

logger = logging.getLogger(__name__)
_stop = threading.Event()


def record_heartbeat(hostname: str, *, queues: str = "") -> None:
    """Store that `hostname` is alive now."""
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:255], defaults={"seen_at": timezone.now(), "queues": queues[:255]}
    )


def seconds_since_worker_seen() -> float | None:
    """Seconds since any worker last beat; None when none ever has."""
    latest = WorkerHeartbeat.objects.aggregate(m=Max("seen_at"))["m"]
    return None if latest is None else (timezone.now() - latest).total_seconds()


def worker_silence() -> dict[str, Any] | None:
    """What the pages warn about: None while a worker beats, else how long it has been quiet."""
    seconds = seconds_since_worker_seen()
    if seconds is not None and seconds < settings.WORKER_SILENT_SECONDS:
        return None
    return {"seconds": None if seconds is None else int(seconds)}


@contextmanager
def beating(beat: Callable[[], object], *, every: float, name: str) -> Iterator[None]:
    """Call `beat` every `every` seconds from a thread while the body runs: a job's heartbeat.

    A job whose heartbeat is old lost its worker (killed, or its machine gone), so whoever
    watches can fail or requeue it. Missed beats are what staleness measures: they are logged.
    """
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            try:
                beat()
            except DatabaseError as exc:
                logger.warning("could not record the heartbeat of %s: %s", name, exc)
            finally:
                connection.close()

    thread = threading.Thread(target=loop, name=f"{name} heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _beat(hostname: str, queues: str) -> None:
    while not _stop.is_set():
        try:
            record_heartbeat(hostname, queues=queues)
        except DatabaseError as exc:  # the database is away: say so, try again next beat
            logger.warning("could not record the worker heartbeat: %s", exc)
        finally:
            # A thread's connection is its own; closing it keeps SQLite's write lock short.
            connection.close()
        _stop.wait(settings.WORKER_HEARTBEAT_SECONDS)


def _start(sender: Any, **kwargs: Any) -> None:
    close_old_connections()
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values()))
    _stop.clear()
    threading.Thread(
        target=_beat, args=(sender.hostname, queues), name="worker-heartbeat", daemon=True
    ).start()


def _stop_beating(**kwargs: Any) -> None:
    _stop.set()


def connect_signals() -> None:
    from celery.signals import worker_ready, worker_shutdown

    worker_ready.connect(_start, weak=False, dispatch_uid="workers.heartbeat.start")
    worker_shutdown.connect(_stop_beating, weak=False, dispatch_uid="workers.heartbeat.stop")
