from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from annotate.importing import import_file
from annotate.models import Project
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
    page = _client(admin).get(f"/projects/{project.slug}/").content.decode()
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
    assert _client(annotator).get(f"/projects/{project.slug}/export?format=trl").status_code == 404


def test_admins_download_a_streamed_export(tmp_path: Path, admin: Any, project: Project) -> None:
    import_file(project, write_jsonl(tmp_path / "p.jsonl", pair_rows(3)))
    response = _client(admin).get(f"/projects/{project.slug}/export?format=trl&file=jsonl")
    assert response.streaming
    assert len(b"".join(response.streaming_content).splitlines()) == 3
