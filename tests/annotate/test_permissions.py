"""Pages and API give the same answer: 404 to non-members, 403 to members without the role."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotate.models import Project
from annotate.projects.members import set_member
from rewards.models import RewardModel
from tests.conftest import client_for
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("p.jsonl", b'{"prompt": "q", "response_a": "x", "response_b": "y"}\n')


def _admin_actions(project: Project) -> dict[str, tuple[Any, Any]]:
    """Each admin action as (page request, API request), both taking a logged-in client."""
    slug = project.slug
    model = RewardModel.objects.create(project=project, version=1, mode="heads", backbone="x")
    return {
        "export": (
            lambda c: c.get(f"/projects/{slug}/export?format=trl"),
            lambda c: c.get(f"/api/projects/{slug}/export?format=trl"),
        ),
        "import": (
            lambda c: c.post(f"/projects/{slug}/import", {"file": _upload()}),
            lambda c: c.post(f"/api/projects/{slug}/imports", {"file": _upload()}),
        ),
        "models": (
            lambda c: c.get(f"/projects/{slug}/models"),
            lambda c: c.get(f"/api/projects/{slug}/models"),
        ),
        "retrain": (
            lambda c: c.post(f"/projects/{slug}/models/retrain", {"mode": "heads"}),
            lambda c: c.post(f"/api/projects/{slug}/retrain", {}, format="json"),
        ),
        "activate": (
            lambda c: c.post(f"/projects/{slug}/models/{model.pk}/activate"),
            lambda c: c.post(f"/api/models/{model.pk}/activate"),
        ),
    }


@pytest.mark.parametrize("action", ["export", "import", "models", "retrain", "activate"])
@pytest.mark.parametrize(("persona", "expected"), [("annotator", 403), ("outsider", 404)])
def test_it_answers_pages_and_api_alike(
    request: pytest.FixtureRequest,
    project: Project,
    django_capture_on_commit_callbacks: Any,
    action: str,
    persona: str,
    expected: int,
) -> None:
    # given a member without the admin role, or a user outside the project
    user = request.getfixturevalue(persona)
    page_call, api_call = _admin_actions(project)[action]
    # when each front end is asked for the same admin action
    with django_capture_on_commit_callbacks() as enqueued:
        page = page_call(_page(user))
        api = api_call(client_for(user))
    # then both refuse with the same code and nothing happens
    assert (page.status_code, api.status_code) == (expected, expected)
    assert enqueued == []


def test_it_lets_a_superuser_administer_any_project(
    django_user_model: Any, project: Project
) -> None:
    root = django_user_model.objects.create_superuser("root", password="root-pass")
    assert _page(root).get(f"/projects/{project.slug}/models").status_code == 200
    assert client_for(root).get(f"/api/projects/{project.slug}/models").status_code == 200


def _more_projects(admin: Any, annotator: Any, n: int) -> None:
    for i in range(n):
        extra = make_project(f"extra-{i}", admin=admin)
        set_member(extra, username=annotator.username, role="annotator")


@pytest.mark.parametrize("extra", [0, 4])
def test_the_project_list_page_takes_a_fixed_number_of_queries(
    annotator: Any, admin: Any, project: Project, django_assert_num_queries: Any, extra: int
) -> None:
    # given one or five projects the annotator is in
    _more_projects(admin, annotator, extra)
    client = _page(annotator)
    # when the list renders: session, user, the projects with role, the span of their pair ids
    # (small projects are counted now), their counts, and the user's and their groups'
    # permissions (for the "New project" button)
    with django_assert_num_queries(7):
        response = client.get("/")
    # then every project is listed with the annotator's role
    assert response.status_code == 200
    assert response.content.decode().count(">annotator</span>") == 1 + extra


@pytest.mark.parametrize("extra", [0, 4])
def test_the_project_list_api_takes_a_fixed_number_of_queries(
    annotator: Any, admin: Any, project: Project, django_assert_num_queries: Any, extra: int
) -> None:
    # given one or five projects the annotator is in
    _more_projects(admin, annotator, extra)
    client = client_for(annotator)
    # when listed: the page count and the page of projects with their roles
    with django_assert_num_queries(2):
        response = client.get("/api/projects/")
    # then
    assert [p["role"] for p in response.json()["results"]] == ["annotator"] * (1 + extra)
