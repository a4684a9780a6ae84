from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from annotate.models import Membership, Project, Role
from annotate.projects.lifecycle import create_project
from tests.annotate.statistics_support import fetched
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "annotator", "outsider", "anonymous"]


def _user(request: pytest.FixtureRequest, persona: str) -> Any:
    return None if persona == "anonymous" else request.getfixturevalue(persona)


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("admin", 200), ("annotator", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_project_detail_role_matrix(
    request: pytest.FixtureRequest, project: Project, persona: str, expected: int
) -> None:
    # the counts as a worker stores them once the first read asked for them
    response = fetched(client_for(_user(request, persona)), f"/api/projects/{project.slug}/")
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["counts"]["pairs"] == 0
        assert response.json()["role"] == ("admin" if persona == "admin" else "annotator")


@pytest.mark.parametrize(
    ("persona", "visible"), [("admin", ["proj"]), ("annotator", ["proj"]), ("outsider", [])]
)
def test_project_list_shows_only_projects_of_the_user(
    request: pytest.FixtureRequest, project: Project, persona: str, visible: list[str]
) -> None:
    response = client_for(_user(request, persona)).get("/api/projects/")
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == visible


def test_it_denies_anonymous_to_list_projects(project: Project) -> None:
    assert client_for(None).get("/api/projects/").status_code == 401


def test_it_allows_a_user_with_the_add_permission_to_create_and_administer(outsider: Any) -> None:
    # given
    outsider.user_permissions.add(Permission.objects.get(codename="add_project"))
    # when
    response = client_for(outsider).post(
        "/api/projects/", {"name": "New", "slug": "new", "judgements_per_pair": 3}, format="json"
    )
    # then
    assert response.status_code == 201, response.json()
    assert Membership.objects.get(project__slug="new", user=outsider).role == Role.ADMIN
    assert Project.objects.get(slug="new").judgements_per_pair == 3


@pytest.mark.parametrize(("persona", "expected"), [("annotator", 403), ("anonymous", 401)])
def test_it_denies_creating_projects_without_permission(
    request: pytest.FixtureRequest, persona: str, expected: int
) -> None:
    response = client_for(_user(request, persona)).post(
        "/api/projects/", {"name": "X", "slug": "x"}, format="json"
    )
    assert response.status_code == expected
    assert not Project.objects.filter(slug="x").exists()


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("admin", 201), ("annotator", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_members_role_matrix(
    request: pytest.FixtureRequest,
    project: Project,
    django_user_model: Any,
    persona: str,
    expected: int,
) -> None:
    # dave is annotating another of alice's projects, so alice may name him
    dave = django_user_model.objects.create_user("dave")
    other = create_project(slug="other", admin=_user(request, "admin"))
    Membership.objects.create(project=other, user=dave, role=Role.ANNOTATOR)
    response = client_for(_user(request, persona)).post(
        f"/api/projects/{project.slug}/members",
        {"username": "dave", "role": "annotator"},
        format="json",
    )
    assert response.status_code == expected
    assert project.memberships.filter(user__username="dave").exists() == (expected == 201)


def test_adding_an_unknown_user_is_a_field_error(admin: Any, project: Project) -> None:
    response = client_for(admin).post(
        f"/api/projects/{project.slug}/members",
        {"username": "nobody", "role": "admin"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "username": [
            "no user named 'nobody' among the members of your projects; invite them by email"
        ]
    }


def test_an_admin_cannot_tell_an_unrelated_account_from_no_account(
    admin: Any, project: Project, django_user_model: Any
) -> None:
    # given an account that shares no project with the admin
    django_user_model.objects.create_user("erin", email="erin@example.com")
    answers = []
    for name in ("erin", "erin@example.com", "nobody", "nobody@example.com"):
        # when the admin names it, or someone who does not exist
        response = client_for(admin).post(
            f"/api/projects/{project.slug}/members", {"username": name, "role": "annotator"}
        )
        answers.append((response.status_code, response.json()["username"][0].replace(name, "X")))
    # then the answers are the same, and nobody was added
    assert len(set(answers)) == 1 and answers[0][0] == 400
    assert not project.memberships.filter(user__username="erin").exists()


def test_a_superuser_may_add_any_account(project: Project, django_user_model: Any) -> None:
    root = django_user_model.objects.create_superuser("root", password="root-pass")
    django_user_model.objects.create_user("erin")
    response = client_for(root).post(
        f"/api/projects/{project.slug}/members", {"username": "erin", "role": "annotator"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("admin", 200), ("annotator", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_export_role_matrix(
    request: pytest.FixtureRequest, project: Project, persona: str, expected: int
) -> None:
    response = client_for(_user(request, persona)).get(
        f"/api/projects/{project.slug}/export?format=judgements"
    )
    assert response.status_code == expected


def test_export_rejects_an_unknown_format(admin: Any, project: Project) -> None:
    response = client_for(admin).get(f"/api/projects/{project.slug}/export?format=csv")
    assert response.status_code == 400
    assert "format" in response.json()


def test_token_auth_works_and_schema_lists_the_endpoints(admin: Any, project: Project) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=admin)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(f"/api/projects/{project.slug}/").status_code == 200
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/projects/",
        "/api/projects/{slug}/members",
        "/api/imports/{id}",
        "/api/projects/{slug}/export",
        "/api/projects/{slug}/imports",
    ):
        assert any(p.rstrip("/") == path.rstrip("/") for p in schema["paths"]), path
