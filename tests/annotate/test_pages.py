from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotate.importing.pipeline import import_file, refresh_pair_counts
from annotate.models import ImportJob, Judgement, Pair, Project
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for, streamed
from tests.factories import pair_rows, write_jsonl

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_login_page_renders_and_pages_need_login() -> None:
    assert "Log in" in Client().get("/login/").content.decode()
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_project_page_shows_counts_and_admin_tools(
    tmp_path: Path, admin: Any, project: Project
) -> None:
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(4, labelled=False)))
    # the counts as a worker stores them once the first read asked for them
    page = fetched(_client(admin), f"/projects/{project.slug}/").content.decode()
    assert 'data-count="pending">4<' in page
    assert 'data-count="annotators">2<' in page
    assert "Import" in page and "?format=trl&file=parquet" in page


def test_annotators_see_the_project_without_admin_tools(annotator: Any, project: Project) -> None:
    page = _client(annotator).get(f"/projects/{project.slug}/").content.decode()
    assert project.name in page
    assert 'enctype="multipart/form-data"' not in page


def test_outsiders_get_404_for_the_project_page_and_its_export(
    outsider: Any, project: Project
) -> None:
    client = _client(outsider)
    assert client.get(f"/projects/{project.slug}/").status_code == 404
    assert client.get(f"/projects/{project.slug}/export?format=trl").status_code == 404


def test_annotators_cannot_download_exports(annotator: Any, project: Project) -> None:
    assert _client(annotator).get(f"/projects/{project.slug}/export?format=trl").status_code == 403


def test_admins_download_a_streamed_export(tmp_path: Path, admin: Any, project: Project) -> None:
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3)))
    response = _client(admin).get(f"/projects/{project.slug}/export?format=trl&file=jsonl")
    assert len(streamed(response).splitlines()) == 3


def test_the_import_page_refuses_a_file_over_the_upload_limit(
    settings: Any, admin: Any, project: Project
) -> None:
    # given a limit smaller than the file
    settings.MAX_IMPORT_UPLOAD_BYTES = 100
    body = "".join(json.dumps(r) + "\n" for r in pair_rows(5)).encode()
    upload = SimpleUploadedFile("p.jsonl", body, content_type="application/x-ndjson")
    # when it is uploaded through the project page
    response = _client(admin).post(
        f"/projects/{project.slug}/import", {"file": upload}, follow=True
    )
    # then nothing is queued and the page says why
    assert not ImportJob.objects.exists()
    assert "larger than 100 bytes" in response.content.decode()


def test_the_page_export_honours_min_agreement(
    tmp_path: Path, admin: Any, annotator: Any, second_annotator: Any, project: Project
) -> None:
    # given one pair decided 2 to 1 and one decided unanimously
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(2, labelled=False)))
    split, unanimous = Pair.objects.order_by("external_id")
    users = [admin, annotator, second_annotator]
    for pair, choices in ((split, "bba"), (unanimous, "aaa")):
        for user, choice in zip(users, choices, strict=True):
            Judgement.objects.create(
                pair=pair, annotator=user, choice=choice, client_id=f"{pair.pk}-{user.pk}"
            )
    refresh_pair_counts(project, {split.pk, unanimous.pk})
    client = _client(admin)
    url = f"/projects/{project.slug}/export?format=trl&file=jsonl"
    # when exported with and without an agreement threshold
    every = streamed(client.get(url)).splitlines()
    strict = streamed(client.get(url + "&min_agreement=0.8")).splitlines()
    # then the threshold drops the split pair, as the API does
    assert len(every) == 2
    assert [json.loads(row)["prompt"] for row in strict] == ["q question 1?"]
    assert client.get(url + "&min_agreement=2").status_code == 400


def _page_messages(response: Any) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    "query",
    [
        "format=csv",
        "file=jsonl",
        "format=trl&file=xlsx",
        "format=trl&min_agreement=2",
        "format=trl&min_agreement=most",
        "format=trl&exclude_flagged=maybe",
    ],
)
def test_the_page_refuses_a_bad_export_query_as_the_api_does(
    admin: Any, project: Project, query: str
) -> None:
    # when the same query goes to the API and to the page
    api = client_for(admin).get(f"/api/projects/{project.slug}/export?{query}")
    page = _client(admin).get(f"/projects/{project.slug}/export?{query}")
    # then both refuse it, and the page says what the API says, as plain text
    assert api.status_code == page.status_code == 400
    assert page["Content-Type"].startswith("text/plain")
    text = page.content.decode()
    for field, errors in api.json().items():
        assert f"{field}: {' '.join(errors)}" in text


@pytest.mark.parametrize(
    ("fields", "field"), [({"format": "xml"}, "format"), ({"labels": "votes"}, "labels")]
)
def test_the_page_refuses_a_bad_import_format_as_the_api_does(
    admin: Any, project: Project, fields: dict[str, str], field: str
) -> None:
    # given the same upload with an option the serializer refuses
    def upload() -> SimpleUploadedFile:
        body = "".join(json.dumps(r) + "\n" for r in pair_rows(2)).encode()
        return SimpleUploadedFile("p.jsonl", body, content_type="application/x-ndjson")

    # when it is posted to the API and through the project page
    api = client_for(admin).post(
        f"/api/projects/{project.slug}/imports", {"file": upload(), **fields}, format="multipart"
    )
    page = _client(admin).post(f"/projects/{project.slug}/import", {"file": upload(), **fields})
    # then the API answers 400, the page flashes the same message, and nothing is queued
    assert api.status_code == 400
    assert page.status_code == 302 and page["Location"] == f"/projects/{project.slug}/"
    assert _page_messages(page) == [f"{field}: {api.json()[field][0]}"]
    assert not ImportJob.objects.exists()


def test_the_import_page_asks_for_a_file_with_the_api_message(admin: Any, project: Project) -> None:
    # when nothing is uploaded
    api = client_for(admin).post(f"/api/projects/{project.slug}/imports", {}, format="multipart")
    page = _client(admin).post(f"/projects/{project.slug}/import", {"format": "auto"})
    # then
    assert api.json() == {"file": ["Choose a file to import."]}
    assert _page_messages(page) == ["file: Choose a file to import."]
    assert not ImportJob.objects.exists()
