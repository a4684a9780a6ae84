"""A worker killed mid-import: beat queues the job again and another worker finishes it."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotate.importing.jobs import recover_stale_imports, resend_waiting_imports
from annotate.importing.pipeline import start_import
from annotate.models import ImportJob, Pair, Project
from tests.conftest import _wait_for, dedicated_worker, tasks_routed_to
from tests.factories import pair_rows, write_jsonl

QUEUE = "import-recovery-test"
PAIRS = 30_000


def worker(tmp_path: Path, name: str) -> Any:
    # Its import's embed-ahead goes to its own queue too: on the shared test worker, embedding
    # the 60,000 responses would hold up later tests for minutes.
    return dedicated_worker(
        tmp_path, name, QUEUE, IMPORT_HEARTBEAT_SECONDS="1", REWARDS_QUEUE=QUEUE
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_is_killed_is_queued_again_and_finished(
    admin: Any, project: Project, tmp_path: Path, settings: Any
) -> None:
    # given: a large upload taken by a worker of its own
    settings.IMPORT_STALE_SECONDS = 3
    path = write_jsonl(tmp_path / "big.jsonl", pair_rows(PAIRS, labelled=False))
    upload = SimpleUploadedFile("big.jsonl", path.read_bytes())
    with tasks_routed_to("annotate.tasks.import_file_task", QUEUE):
        with worker(tmp_path, "doomed") as doomed:
            job = start_import(project, admin, file=upload)
            _wait_for(
                lambda: ImportJob.objects.get(pk=job.pk).status == "running",
                timeout=120,
                what="the import to start",
                log=tmp_path / "doomed.log",
            )
            # when: the worker dies mid-import
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        # then: the job stays running until its heartbeat is stale, then is queued again
        assert ImportJob.objects.get(pk=job.pk).status == "running"
        _wait_for(lambda: recover_stale_imports() == 1, timeout=30, what="the job to go stale")
        assert ImportJob.objects.get(pk=job.pk).status == "queued"
        # and another worker imports the whole file, once
        with worker(tmp_path, "fresh"):
            _wait_for(
                lambda: ImportJob.objects.get(pk=job.pk).status == "succeeded",
                timeout=300,
                what="the import to finish",
                log=tmp_path / "fresh.log",
            )
    assert Pair.objects.filter(project=project).count() == PAIRS
    assert ImportJob.objects.get(pk=job.pk).progress == 1.0
    assert recover_stale_imports() == 0


@pytest.mark.django_db
def test_an_import_queued_past_the_resend_time_is_sent_again_once(
    admin: Any, project: Project, monkeypatch: Any
) -> None:
    # given: a job whose task never reached a worker, and one just uploaded
    from annotate import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.import_file_task, "delay", sent.append)
    waiting = ImportJob.objects.create(project=project, created_by=admin, original_name="a")
    ImportJob.objects.create(project=project, created_by=admin, original_name="b")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ImportJob.objects.filter(pk=waiting.pk).update(created_at=an_hour_ago)
    # when / then: the beat sends the waiting one, and not again until another period passed
    assert resend_waiting_imports() == 1
    assert resend_waiting_imports() == 0
    assert sent == [waiting.pk]
    # and a running job is left to the heartbeat check
    ImportJob.objects.filter(pk=waiting.pk).update(status="running", heartbeat_at=an_hour_ago)
    assert resend_waiting_imports() == 0
