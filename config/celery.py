"""The Celery app; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery

import config.broker  # noqa: F401  (registers the hardened embedded broker)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("prefloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
