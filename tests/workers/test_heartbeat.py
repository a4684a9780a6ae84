"""Pages say when no worker has been seen; a running worker records itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from annotate.models import Project
from workers.heartbeat import record_heartbeat
from workers.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def _pages(admin: Any) -> list[str]:
    client = Client()
    client.force_login(admin)
    return [
        client.get(url).content.decode() for url in ("/projects/proj/", "/projects/proj/models")
    ]


def test_the_pages_say_when_no_worker_was_ever_seen(admin: Any, project: Project) -> None:
    assert all("No worker has been seen yet" in page for page in _pages(admin))


def test_the_pages_say_how_long_the_worker_has_been_silent(admin: Any, project: Project) -> None:
    WorkerHeartbeat.objects.create(
        hostname="celery@gone", seen_at=timezone.now() - timedelta(seconds=300)
    )
    for page in _pages(admin):
        assert "No worker seen for 300 s" in page or "No worker seen for 301 s" in page


def test_a_recent_heartbeat_shows_no_warning(admin: Any, project: Project) -> None:
    record_heartbeat("celery@here", queues="default")
    assert not any("worker-status" in page for page in _pages(admin))


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_running_worker_records_its_heartbeat(celery_worker: Path) -> None:
    from tests.conftest import wait_until

    wait_until(WorkerHeartbeat.objects.exists, timeout=60, what="a worker heartbeat")
    beat = WorkerHeartbeat.objects.get()
    assert "default" in beat.queues
    assert timezone.now() - beat.seen_at < timedelta(seconds=60)
