from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from annotate.signals import project_event
        from webhooks.delivery import on_project_event

        project_event.connect(on_project_event, dispatch_uid="webhooks-record-event")
