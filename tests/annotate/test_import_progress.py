"""Long imports report progress while they run, and the job page can see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

from annotate.importing import bulk
from annotate.importing import pipeline as importing
from annotate.importing.jobs import run_import_job
from annotate.importing.pipeline import import_file
from annotate.models import ImportJob, Pair, Project
from tests.factories import make_project, pair_rows, write_jsonl


@pytest.mark.django_db
def test_it_reports_rising_progress_while_reading_and_ends_at_one(
    tmp_path: Path, monkeypatch: Any
) -> None:
    # given a report every 10 rows of a 60-row file
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 10)
    project = make_project()
    seen: list[float] = []
    # when
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(60)), progress=seen.append)
    # then
    reading = [f for f in seen if f <= importing.READ_SHARE]
    assert len(reading) == 6
    assert seen == sorted(seen)
    assert 0 < seen[0] < seen[-1] == 1.0


@pytest.mark.django_db(transaction=True)
def test_the_job_shows_progress_before_the_pairs_are_written(
    tmp_path: Path, monkeypatch: Any, project: Project
) -> None:
    # given a queued job for a 50-row file, and a look at the job row as the INSERTs start
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 10)
    path = write_jsonl(tmp_path / "p.jsonl", pair_rows(50))
    job = ImportJob(project=project, original_name="p.jsonl", status="running")
    job.file.save("p.jsonl", ContentFile(path.read_bytes()))
    shown: list[float] = []
    write = bulk.BulkImport.write

    def look_then_write(self: bulk.BulkImport, *args: Any) -> dict[str, int]:
        shown.append(ImportJob.objects.get(pk=job.pk).progress)
        return write(self, *args)

    monkeypatch.setattr(bulk.BulkImport, "write", look_then_write)
    # when
    run_import_job(job.pk)
    # then: the page would have shown the reading progress, and the job ends complete
    assert shown and 0.5 < shown[0] <= importing.READ_SHARE
    job.refresh_from_db()
    assert (job.status, job.progress) == ("succeeded", 1.0)
    assert Pair.objects.filter(project=project).count() == 50
