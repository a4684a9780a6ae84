"""Liveness of Celery workers, so pages can say when no worker is running."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a worker (by its Celery hostname) said it was alive."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.CharField(max_length=255, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
