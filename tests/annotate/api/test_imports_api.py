from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.models import ImportJob, Judgement, Pair, Project
from tests.conftest import client_for, wait_until
from tests.factories import pair_rows


def _upload(rows: list[Any], name: str = "pairs.jsonl") -> SimpleUploadedFile:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return SimpleUploadedFile(name, body, content_type="application/x-ndjson")


def _finished(job_id: int) -> bool:
    return ImportJob.objects.get(pk=job_id).status in ("succeeded", "failed")


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_a_real_worker(
    celery_worker: Path, admin: Any, project: Project
) -> None:
    # given
    client = client_for(admin)
    # when
    response = client.post(
        f"/api/projects/{project.slug}/imports",
        {"file": _upload(pair_rows(25))},
        format="multipart",
    )
    # then
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    wait_until(lambda: _finished(job_id), timeout=60, what="import job")
    job = client.get(f"/api/imports/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert job["result"]["pairs_created"] == 25
    assert (Pair.objects.count(), Judgement.objects.count()) == (25, 25)


@pytest.mark.django_db(transaction=True)
def test_an_invalid_upload_fails_with_line_numbers_and_imports_nothing(
    celery_worker: Path, admin: Any, project: Project
) -> None:
    rows: list[Any] = pair_rows(3)
    rows[2] = {"prompt": "only a prompt"}
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/imports", {"file": _upload(rows)}, format="multipart"
    )
    job_id = response.json()["id"]
    wait_until(lambda: _finished(job_id), timeout=60, what="import job")
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == "failed"
    assert job.errors == ["line 3, field 'response_a': is missing"]
    assert Pair.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "expected"), [("annotator", 403), ("outsider", 404), ("anonymous", 401)]
)
def test_it_denies_imports_to_non_admins(
    request: pytest.FixtureRequest,
    project: Project,
    persona: str,
    expected: int,
    django_capture_on_commit_callbacks: Any,
) -> None:
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(user).post(
            f"/api/projects/{project.slug}/imports",
            {"file": _upload(pair_rows(2))},
            format="multipart",
        )
    assert response.status_code == expected
    assert callbacks == []
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_it_enqueues_the_import_only_after_commit(
    admin: Any, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin).post(
            f"/api/projects/{project.slug}/imports",
            {"file": _upload(pair_rows(2))},
            format="multipart",
        )
    assert response.status_code == 202
    assert len(callbacks) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "expected"), [("annotator", 403), ("outsider", 404)])
def test_import_status_is_for_admins_only(
    request: pytest.FixtureRequest, admin: Any, project: Project, persona: str, expected: int
) -> None:
    job = ImportJob.objects.create(project=project, created_by=admin, original_name="x.jsonl")
    response = client_for(request.getfixturevalue(persona)).get(f"/api/imports/{job.pk}")
    assert response.status_code == expected


@pytest.mark.django_db
def test_the_api_refuses_a_file_over_the_upload_limit(
    settings: Any, admin: Any, project: Project
) -> None:
    # given a limit smaller than the file
    settings.MAX_IMPORT_UPLOAD_BYTES = 100
    # when
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/imports",
        {"file": _upload(pair_rows(5))},
        format="multipart",
    )
    # then the same rule as the page: a 400 naming the limit, nothing queued
    assert response.status_code == 400
    assert "larger than 100 bytes" in response.json()["file"][0]
    assert not ImportJob.objects.exists()
