from __future__ import annotations

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Celery workers"

    def ready(self) -> None:
        from workers import heartbeat

        heartbeat.connect_signals()
