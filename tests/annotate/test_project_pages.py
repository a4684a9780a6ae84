"""Creating, configuring, archiving and deleting a project in the browser's forms."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from django.contrib.auth.models import Permission

from annotate.judging.queue import lease_next_pair
from annotate.models import (
    Assignment,
    Judgement,
    Membership,
    Pair,
    PairStatus,
    Project,
    Prompt,
    Role,
)
from annotate.projects.lifecycle import purge_project
from tests.annotate.workspace_support import judge_next, logged_in
from tests.conftest import client_for, streamed
from tests.factories import make_pairs

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Proj",
    "guidelines": "",
    "judgements_per_pair": "1",
    "lease_seconds": "600",
    "ask_rationale": "off",
    "acquisition": "random",
    "retrain_every": "0",
    "allow_tie": "on",
}


@pytest.fixture
def creator(admin: Any) -> Any:
    admin.user_permissions.add(Permission.objects.get(codename="add_project"))
    return admin


def test_it_creates_a_project_with_a_slug_from_the_name_and_makes_the_creator_admin(
    creator: Any,
) -> None:
    # when a user who may create projects submits a name and settings, leaving the slug empty
    body = {**SETTINGS, "name": "Helpful answers (EN)", "slug": "", "judgements_per_pair": "3"}
    response = logged_in(creator).post("/projects/new", body)

    # then the project exists with the suggested slug, and they are its admin
    project = Project.objects.get(slug="helpful-answers-en")
    assert response["Location"] == "/projects/helpful-answers-en/"
    assert project.judgements_per_pair == 3
    assert Membership.objects.get(project=project, user=creator).role == Role.ADMIN


def test_it_shows_what_is_wrong_next_to_each_field(creator: Any, project: Project) -> None:
    # when the slug is taken and the overlap is out of range
    body = {**SETTINGS, "slug": project.slug, "judgements_per_pair": "0", "lease_seconds": "x"}
    response = logged_in(creator).post("/projects/new", body)

    # then nothing is created and each message sits in its field's group
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert Project.objects.count() == 1
    assert 'A project with the slug "proj" already exists.' in page
    assert page.index("id_judgements_per_pair_error") < page.index('name="judgements_per_pair"')
    assert "Ensure this value is greater than or equal to 1." in page
    assert "Enter a whole number." in page


def test_a_higher_overlap_reopens_complete_pairs_and_says_when_it_applies(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given a pair judged once and complete at overlap 1
    make_pairs(project, tmp_path, 2, labelled=False)
    judged = judge_next(annotator, project).pair
    assert judged.status == PairStatus.COMPLETE

    # when the admin raises the overlap to 2
    client = logged_in(admin)
    response = client.post(
        f"/projects/{project.slug}/settings", {**SETTINGS, "judgements_per_pair": "2"}
    )

    # then the pair waits for a second judgement, and the page says changes apply to new leases
    judged.refresh_from_db()
    assert judged.status == PairStatus.PENDING
    page = client.get(response["Location"]).content.decode()
    assert "apply to new leases" in page
    # and lowering it again completes the pair
    client.post(f"/projects/{project.slug}/settings", SETTINGS)
    judged.refresh_from_db()
    assert judged.status == PairStatus.COMPLETE


def test_an_archived_project_is_hidden_from_annotators_read_only_and_exportable(
    tmp_path: Path, admin: Any, annotator: Any, project: Project
) -> None:
    # given a project with three judged pairs and a pending one leased by an annotator
    make_pairs(project, tmp_path, 3)
    make_pairs(project, tmp_path, 1, labelled=False, prefix="p")
    lease = lease_next_pair(annotator, project)
    assert lease is not None

    # when the admin archives it
    logged_in(admin).post(f"/projects/{project.slug}/archive")

    # then annotators no longer see it, the lease ended, and nothing can be leased or judged
    assert "/projects/proj/" not in logged_in(annotator).get("/").content.decode()
    assert logged_in(annotator).get(f"/projects/{project.slug}/").status_code == 404
    lease.refresh_from_db()
    assert lease.closed_at is not None
    project.refresh_from_db()
    assert lease_next_pair(admin, project) is None
    judge = client_for(annotator).post(
        f"/api/assignments/{lease.pk}/judgement",
        {"choice": "left", "client_id": "x"},
        format="json",
    )
    assert judge.status_code == 409
    assert not Judgement.objects.filter(annotator=annotator).exists()
    # and imports are refused while the admin still sees it and can export it
    upload = io.BytesIO(b'{"prompt": "p", "response_a": "x", "response_b": "y"}\n')
    upload.name = "more.jsonl"
    api = client_for(admin).post(f"/api/projects/{project.slug}/imports", {"file": upload})
    assert api.status_code == 409
    home = logged_in(admin).get("/").content.decode()
    assert "/projects/proj/" in home and "archived" in home
    export = logged_in(admin).get(f"/projects/{project.slug}/export?format=trl&file=jsonl")
    assert len(streamed(export).splitlines()) == 3

    # when it is made active again, annotators see it
    logged_in(admin).post(f"/projects/{project.slug}/archive", {"archived": "no"})
    assert logged_in(annotator).get(f"/projects/{project.slug}/").status_code == 200


def test_delete_needs_the_typed_slug_and_then_removes_everything(
    tmp_path: Path,
    admin: Any,
    annotator: Any,
    project: Project,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_pairs(project, tmp_path, 2)
    make_pairs(project, tmp_path, 1, labelled=False, prefix="p")
    assert lease_next_pair(annotator, project) is not None
    client = logged_in(admin)

    # when the admin types the wrong slug
    response = client.post(f"/projects/{project.slug}/delete", {"confirm": "pro"})

    # then the page asks again and nothing is gone
    assert response.status_code == 400
    assert 'Type "proj" to delete this project.' in html.unescape(response.content.decode())
    assert Pair.objects.count() == 3

    # when they type it right, the project is gone for everyone at once
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(f"/projects/{project.slug}/delete", {"confirm": "proj"})
    assert response["Location"] == "/"
    assert client.get(f"/projects/{project.slug}/").status_code == 404
    assert "/projects/proj/" not in client.get("/").content.decode()
    assert len(queued) == 1

    # and the worker's purge (run here in batches of 2) removes its data; the users stay
    with patch("annotate.projects.lifecycle.PURGE_BATCH", 2):
        purge_project(project.pk)
    assert not Project.objects.exists()
    counts = (Pair.objects.count(), Judgement.objects.count(), Assignment.objects.count())
    assert counts == (0, 0, 0) and Prompt.objects.count() == 0
    assert annotator.__class__.objects.filter(pk=annotator.pk).exists()


def test_the_guidelines_preview_uses_the_server_sanitizer(admin: Any) -> None:
    body = {"text": "**bold** <script>alert(1)</script>"}
    html = logged_in(admin).post("/markdown-preview", body).json()["html"]
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
