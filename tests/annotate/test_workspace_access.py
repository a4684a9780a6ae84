"""Who may open every workspace page and submit every form; CSRF on every form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from annotate.models import Judgement, Pair, Project
from tests.annotate.workspace_support import judged_pair, logged_in

pytestmark = pytest.mark.django_db

# Members without the admin role are told no (403); outsiders learn nothing (404).
MEMBER_DENIED = 403


@pytest.fixture
def judged(tmp_path: Path, project: Project, annotator: Any) -> Pair:
    return judged_pair(project, tmp_path, annotator)


def _pages(pair: Pair) -> list[str]:
    base = f"/projects/{pair.project.slug}"
    return [
        f"{base}/settings",
        f"{base}/delete",
        f"{base}/members",
        f"{base}/pairs",
        f"{base}/pairs/{pair.pk}",
    ]


def _forms(pair: Pair, annotator: Any) -> list[tuple[str, dict[str, str]]]:
    """Every admin form with a valid body."""
    base = f"/projects/{pair.project.slug}"
    judgement = Judgement.objects.get(pair=pair)
    return [
        (
            f"{base}/settings",
            {
                "name": "Renamed",
                "judgements_per_pair": "1",
                "lease_seconds": "600",
                "ask_rationale": "off",
                "acquisition": "random",
                "retrain_every": "0",
            },
        ),
        (f"{base}/archive", {}),
        (f"{base}/members/add", {"user": annotator.username, "role": "annotator"}),
        (f"{base}/members/invite", {"emails": "dana@example.com", "role": "annotator"}),
        (f"{base}/members/{annotator.pk}/role", {"role": "admin"}),
        (f"{base}/members/{annotator.pk}/remove", {}),
        (f"{base}/pairs/{pair.pk}/gold", {"label": "a"}),
        (f"{base}/pairs/{pair.pk}/judgements/{judgement.pk}/invalidate", {"reason": "spam"}),
        (f"{base}/pairs/{pair.pk}/judgements/{judgement.pk}/restore", {}),
        (f"{base}/delete", {"confirm": pair.project.slug}),
    ]


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("admin", 200), ("annotator", MEMBER_DENIED), ("outsider", 404), (None, 302)],
)
def test_only_project_admins_open_the_workspace_pages(
    request: Any, judged: Pair, outsider: Any, persona: str | None, expected: int
) -> None:
    client = logged_in(request.getfixturevalue(persona) if persona else None)
    for url in _pages(judged):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 302:
            assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["annotator", "outsider", None])
def test_only_project_admins_submit_the_workspace_forms(
    request: Any, judged: Pair, annotator: Any, outsider: Any, persona: str | None
) -> None:
    client = logged_in(request.getfixturevalue(persona) if persona else None)
    for url, body in _forms(judged, annotator):
        response = client.post(url, body)
        expected = 302 if persona is None else (MEMBER_DENIED if persona == "annotator" else 404)
        assert response.status_code == expected, url
    assert Project.objects.filter(slug="proj", name="Proj", archived_at__isnull=True).exists()
    assert Judgement.objects.get(pair=judged).is_valid


def test_project_admins_submit_every_workspace_form(
    judged: Pair, admin: Any, annotator: Any, outsider: Any
) -> None:
    client = logged_in(admin)
    for url, body in _forms(judged, annotator):
        assert client.post(url, body).status_code == 302, url
    assert Project.objects.get(slug="proj").deleted_at is not None


@pytest.mark.parametrize(
    ("persona", "expected"), [("creator", 200), ("annotator", 403), (None, 302)]
)
def test_only_users_allowed_to_add_projects_open_the_new_project_page(
    request: Any, annotator: Any, persona: str | None, expected: int
) -> None:
    user: Any = request.getfixturevalue("admin") if persona == "creator" else None
    if persona == "creator":
        user.user_permissions.add(Permission.objects.get(codename="add_project"))
    elif persona:
        user = request.getfixturevalue(persona)
    client = logged_in(user)
    assert client.get("/projects/new").status_code == expected
    response = client.post("/projects/new", {"name": "X", "slug": "x"})
    assert response.status_code == (400 if expected == 200 else expected)


def test_every_form_needs_the_csrf_token(judged: Pair, admin: Any, annotator: Any) -> None:
    # given an admin whose client checks CSRF like a browser
    admin.user_permissions.add(Permission.objects.get(codename="add_project"))
    client = logged_in(admin, csrf=True)

    # then every POST form on every page carries the token
    for url in [*_pages(judged), "/projects/new", f"/projects/{judged.project.slug}/"]:
        page = client.get(url).content.decode()
        posts = len(re.findall(r'<form method="post"', page))
        assert posts and page.count('name="csrfmiddlewaretoken"') >= posts, url

    # and a POST without it is refused and changes nothing
    forms = [
        *_forms(judged, annotator),
        ("/projects/new", {"name": "X"}),
        ("/markdown-preview", {}),
    ]
    for url, body in forms:
        assert client.post(url, body).status_code == 403, url
    assert Project.objects.get(slug="proj").name == "Proj"
    assert Judgement.objects.get(pair=judged).is_valid
