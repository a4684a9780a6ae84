"""A worker killed mid-import: beat queues the job again and another worker finishes it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.importing.jobs import recover_stale_imports
from annotate.importing.pipeline import start_import
from annotate.models import ImportJob, Pair, Project
from tests.conftest import _wait_for, dedicated_worker, tasks_routed_to
from tests.factories import pair_rows, write_jsonl

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
QUEUE = "import-recovery-test"
PAIRS = 30_000


def worker(tmp_path: Path, name: str) -> Any:
    return dedicated_worker(tmp_path, name, QUEUE, IMPORT_HEARTBEAT_SECONDS="1")


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
